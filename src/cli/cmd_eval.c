/* TEMPORARY placeholder: replaced by the real command. */
#include "cli.h"
#include "llmpi/util.h"
int cmd_eval(int argc, char **argv) { (void)argc; (void)argv; ll_error("eval: not built yet"); return 1; }
