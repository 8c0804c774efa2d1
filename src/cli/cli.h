/* cli.h: the llmpi subcommands. Each takes argv after the command name
 * (argv[0] is the command), returns a process exit status, and prints its
 * own --help. MPI is already initialised when they run. */
#ifndef LLMPI_CLI_H
#define LLMPI_CLI_H

#include "llmpi/trainer.h"

int cmd_prepare(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_clean(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_mix(int argc, char **argv);
int cmd_sft(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* Shared option helpers: strict number parsing with the option named. */
int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *opt, const char *s, double *out);
/* Option errors, one style for every command:
 *   llmpi: <command>: unknown option '--x' (see llmpi <command> --help)
 *   llmpi: <command>: option '--out' needs a value (see llmpi <command> --help)
 * Both return 2. cli_bad_option is for hand-parsed commands (takes_value: the
 * options that need a value, NULL-terminated); cli_getopt_error for
 * getopt_long users (optstring starting with ':', opterr = 0), given c. */
int cli_bad_option(const char *command, const char *opt, const char *const *takes_value);
int cli_getopt_error(const char *command, int c, char **argv);

/* The run options pretrain and sft share (getopt letters F V d o r S M K:
 * --force --no-verify --data --out --resume --stop-after --max-time
 * --check-sync) into t. 1 when c is one of them and arg is good, 0 when c
 * is not one of them, -1 with one line on a bad value. */
int cli_run_option(int c, const char *arg, trainer_options *t);
/* main.c's last word on a command: flushes stdout and turns rc 0 into 1
 * (one line) when what the command printed could not be written. */
int cli_finish_stdout(const char *command, int rc);

#endif
