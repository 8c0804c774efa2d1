/* cli_util.c: strict option parsing shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

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
