/* metrics.h: RUNDIR/metrics.jsonl, the loss log of a training run, written
 * by the trainer and read by `llmpi plot` (and by anyone with a JSON parser).
 *
 * One JSON object per line, keys in this order:
 *   {"kind":"train","step":S,"tokens":N,"loss":L,"grad_norm":G,"lr":LR,"ms":MS,
 *    "tokens_per_s":TPS,"mfu":MFU,"comm_wait_ms":W}
 *   {"kind":"val","step":S,"tokens":N,"val_loss":L,"val_tokens":NT,"val_bpb":BPB}
 * val_bpb (bits per byte: val_loss / ln 2 x val_tokens / the UTF-8 bytes the
 * target tokens decode to; comparable across tokenizers) is left out when
 * the run's tokenizer is not known (a store without one).
 * step and tokens are integers; reals carry 8 significant digits; a value
 * that is not finite is written as null (JSON has no NaN). "tokens" counts
 * the target tokens trained on before the line's evaluation or after its step.
 *
 * The file is an append-only log, not a committed file: a resumed run appends
 * to it and logs again the steps after its checkpoint, so for each (kind,
 * step) the line appearing last is the one the surviving run followed.
 * Readers ignore keys they do not know, so lines may gain fields.
 */
#ifndef LLMPI_METRICS_H
#define LLMPI_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* One logged optimizer step. */
typedef struct {
    uint64_t step, tokens;
    double loss, grad_norm, lr;
    double ms, tokens_per_s, mfu, comm_wait_ms;  /* timing of the step */
} metrics_train;

/* One evaluation on the val split. */
typedef struct {
    uint64_t step, tokens;
    double val_loss;
    uint64_t val_tokens;
    double val_bpb;          /* 0: unknown, not written */
} metrics_val;

/* ---- writer ---- */

typedef struct metrics_log metrics_log;

/* Opens path for appending (creates it). NULL with one line on failure. */
metrics_log *metrics_open(const char *path);
/* Append one line and flush it, so the log is current while the run goes.
 * 0, or -1 when the line could not be written: the first such failure
 * prints one line, later ones print nothing (a full disk would otherwise
 * print a line per step). */
int metrics_append_train(metrics_log *log, const metrics_train *rec);
int metrics_append_val(metrics_log *log, const metrics_val *rec);
/* Closes the file; safe on NULL. */
void metrics_close(metrics_log *log);

/* ---- reader ---- */

/* A point of a loss curve. */
typedef struct {
    uint64_t step;
    double tokens, loss;
} metrics_point;

typedef struct {
    metrics_point *points;   /* sorted by step, one per step (malloc'ed) */
    size_t n;
} metrics_curve;

typedef struct {
    metrics_curve train, val;   /* "loss" of the train lines, "val_loss" of the val lines */
    long n_skipped;             /* malformed lines skipped */
} metrics_curves;

/* Reads the train and val loss curves of a metrics.jsonl; for each (kind,
 * step) the last line wins. A line that is not a JSON object with kind
 * "train" or "val", a non-negative integer step, a non-negative tokens and
 * a finite loss is skipped with one warning naming path:line, and counted;
 * blank lines are skipped silently. 0, or -1 with one line when the file
 * cannot be read (out is then empty). Free with metrics_curves_free. */
int metrics_read(const char *path, metrics_curves *out);
void metrics_curves_free(metrics_curves *c);

#endif
