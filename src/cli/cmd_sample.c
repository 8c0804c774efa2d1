/* TEMPORARY placeholder: replaced by the real command. */
#include "cli.h"
#include "llmpi/util.h"
int cmd_sample(int argc, char **argv) { (void)argc; (void)argv; ll_error("sample: not built yet"); return 1; }
