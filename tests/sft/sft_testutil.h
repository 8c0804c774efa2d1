/* sft_testutil.h: helpers shared by the SFT tests: fixture paths, a
 * conversation collector that flattens each conversation into one string,
 * stderr capture, and a small tokenizer trained on the fixtures. */
#ifndef LLMPI_SFT_TESTUTIL_H
#define LLMPI_SFT_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpi/sft.h"
#include "llmpi/tokenizer.h"
#include "llmpi/util.h"

/* tests/sft/fixtures/<name> under the source tree. */
static inline const char *fixture(const char *name) {
    static char path[16][1024];
    static int k;
    k = (k + 1) % 16;
    const char *src = getenv("LLMPI_SOURCE_DIR");
    snprintf(path[k], sizeof path[k], "%s/tests/sft/fixtures/%s", src ? src : "..", name);
    return path[k];
}

/* Conversations flattened as "S=..|U=..|A=..|U=..|A=..", with file:line. */
typedef struct {
    char **conv;
    long *line;
    long *instance;
    int n;
} collected;

static inline int collect_conv(void *ctx, const sft_conv *c) {
    collected *col = ctx;
    size_t cap = 64 + (c->system.len);
    for (int i = 0; i < c->n_turns; i++) cap += c->user[i].len + c->assistant[i].len + 8;
    char *s = malloc(cap), *p = s;
    if (c->system.len) p += sprintf(p, "S=%.*s|", (int)c->system.len, c->system.text);
    for (int i = 0; i < c->n_turns; i++)
        p += sprintf(p, "%sU=%.*s|A=%.*s", i ? "|" : "", (int)c->user[i].len, c->user[i].text,
                     (int)c->assistant[i].len, c->assistant[i].text);
    col->conv = realloc(col->conv, (size_t)(col->n + 1) * sizeof *col->conv);
    col->line = realloc(col->line, (size_t)(col->n + 1) * sizeof *col->line);
    col->instance = realloc(col->instance, (size_t)(col->n + 1) * sizeof *col->instance);
    col->conv[col->n] = s;
    col->line[col->n] = c->line;
    col->instance[col->n] = c->instance;
    col->n++;
    return 0;
}

static inline void collected_free(collected *c) {
    for (int i = 0; i < c->n; i++) free(c->conv[i]);
    free(c->conv);
    free(c->line);
    free(c->instance);
    memset(c, 0, sizeof *c);
}

/* Runs fn(arg) with stderr captured; returns the text (malloc'ed). */
static inline char *capture_stderr(int (*fn)(void *), void *arg, int *rc) {
    char path[] = "/tmp/sft_test_stderr_XXXXXX";
    int fd = mkstemp(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    *rc = fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    char *text = NULL;
    size_t n;
    if (ll_read_file(path, &text, &n)) text = NULL;
    unlink(path);
    return text;
}

static inline int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

/* A small tokenizer trained on every fixture's bytes (vocab 600). */
static inline tokenizer *fixture_tokenizer(void) {
    static const char *const names[] = {"alpaca.json", "gpteacher.jsonl", "lima.json", "gsm8k.jsonl",
                                        "hh.jsonl", "sharegpt.json", "openai.jsonl", "oasst_flat.jsonl"};
    const char *texts[8];
    size_t lens[8];
    char *bufs[8];
    for (int i = 0; i < 8; i++) {
        if (ll_read_file(fixture(names[i]), &bufs[i], &lens[i])) return NULL;
        texts[i] = bufs[i];
    }
    tok_train_options o;
    tok_train_options_default(&o);
    o.vocab_size = 600;
    o.threads = 1;
    tokenizer *t = tok_train_texts(texts, lens, 8, &o);
    for (int i = 0; i < 8; i++) free(bufs[i]);
    return t;
}

#endif
