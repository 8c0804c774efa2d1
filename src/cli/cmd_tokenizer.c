/* TEMPORARY placeholder: replaced by the real command. */
#include "cli.h"
#include "llmpi/util.h"
int cmd_tokenizer(int argc, char **argv) { (void)argc; (void)argv; ll_error("tokenizer: not built yet"); return 1; }
