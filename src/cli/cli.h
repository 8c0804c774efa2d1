/* cli.h: the llmpi subcommands. Each takes argv after the command name
 * (argv[0] is the command), returns a process exit status, and prints its
 * own --help. MPI is already initialised when they run. */
#ifndef LLMPI_CLI_H
#define LLMPI_CLI_H

int cmd_prepare(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* Shared option helpers: strict number parsing with the option named. */
int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *opt, const char *s, double *out);

#endif
