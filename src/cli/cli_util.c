/* cli_util.c: what the subcommands share: strict number parsing, the one
 * style of option errors, and the final check that stdout was written. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "llmpi/util.h"

int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        ll_error("%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_float(const char *opt, const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) {
        ll_error("%s: expected a number, got '%s'", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Prints the one line for an option the command does not know, or one that
 * needs a value and got none (takes_value, NULL-terminated, lists those).
 * Returns 2, the exit status of a usage error. */
int cli_bad_option(const char *command, const char *opt, const char *const *takes_value) {
    if (opt[0] != '-') {
        ll_error("%s: unexpected argument '%s' (see llmpi %s --help)", command, opt, command);
        return 2;
    }
    for (size_t i = 0; takes_value && takes_value[i]; i++)
        if (!strcmp(opt, takes_value[i])) {
            ll_error("%s: option '%s' needs a value (see llmpi %s --help)", command, opt, command);
            return 2;
        }
    ll_error("%s: unknown option '%s' (see llmpi %s --help)", command, opt, command);
    return 2;
}

/* getopt_long returned '?' or ':' (the optstring starts with ':' and opterr
 * is 0): names the option from argv and optopt in the one style. Returns 2. */
int cli_getopt_error(const char *command, int c, char **argv) {
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    char shortopt[3] = {'-', (char)optopt, '\0'};
    /* a long option is named as typed (without any "=value"); a short one by optopt */
    char name[64];
    if (!strncmp(arg, "--", 2)) {
        size_t n = strcspn(arg, "=");
        snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name - 1 ? n : sizeof name - 1), arg);
    } else {
        snprintf(name, sizeof name, "%s", optopt ? shortopt : arg);
    }
    if (c == ':') {
        ll_error("%s: option '%s' needs a value (see llmpi %s --help)", command, name, command);
        return 2;
    }
    ll_error("%s: unknown option '%s' (see llmpi %s --help)", command, name, command);
    return 2;
}

/* Flushes stdout and checks that everything printed reached it (a full disk,
 * a closed pipe, /dev/full). rc, or 1 with one line when rc was 0 and the
 * output was lost. */
int cli_finish_stdout(const char *command, int rc) {
    errno = 0;
    int flush_failed = fflush(stdout) != 0, err = errno;
    if ((flush_failed || ferror(stdout)) && rc == 0) {
        ll_error("%s: cannot write to stdout: %s", command, flush_failed && err ? strerror(err) : "write error");
        return 1;
    }
    return rc;
}

int cli_run_option(int c, const char *arg, trainer_options *t) {
    long v;
    switch (c) {
    case 'F': t->force = 1; return 1;
    case 'V': t->no_verify = 1; return 1;
    case 'd': t->data_path = arg; return 1;
    case 'o': t->out_dir = arg; return 1;
    case 'r': t->resume = arg; return 1;
    case 'S':
        if (cli_parse_int("--stop-after", arg, 1, 1L << 40, &v) != 0) return -1;
        t->stop_after = v;
        return 1;
    case 'M':
        if (cli_parse_float("--max-time", arg, &t->max_time) != 0 || t->max_time <= 0) {
            ll_error("--max-time: expected a positive number of seconds, got '%s'", arg);
            return -1;
        }
        return 1;
    case 'K':
        if (cli_parse_int("--check-sync", arg, 1, 1L << 30, &v) != 0) return -1;
        t->check_sync = (int)v;
        return 1;
    default: return 0;
    }
}
