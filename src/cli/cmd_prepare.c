/* TEMPORARY placeholder: replaced by the real command. */
#include "cli.h"
#include "llmpi/util.h"
int cmd_prepare(int argc, char **argv) { (void)argc; (void)argv; ll_error("prepare: not built yet"); return 1; }
