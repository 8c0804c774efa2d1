/* TEMPORARY placeholder: replaced by the real command. */
#include "cli.h"
#include "llmpi/util.h"
int cmd_pretrain(int argc, char **argv) { (void)argc; (void)argv; ll_error("pretrain: not built yet"); return 1; }
