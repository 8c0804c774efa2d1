/* TEMPORARY placeholder: replaced by the real command. */
#include "cli.h"
#include "llmpi/util.h"
int cmd_info(int argc, char **argv) { (void)argc; (void)argv; ll_error("info: not built yet"); return 1; }
