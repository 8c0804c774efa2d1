/* prepare.c: books -> cleanup -> tokens -> HDF5 token store, every rank
 * taking a share of the books (prep_run, see prepare.h).
 *
 * Phases (all ranks):
 *   1. rank 0 lists the inputs (walk.h: argument order; inside a folder the
 *      byte-wise sorted paths of its *.txt files, hidden ones skipped; any
 *      unreadable entry fails the run) and broadcasts the list with the sizes;
 *   2. books go to ranks by size (largest first, each to the least loaded
 *      rank): a rank cleans and tokenizes its books one at a time and spills
 *      the ids (+ eot) to an unlinked scratch file beside out, so memory
 *      holds one book, never the corpus;
 *   3. every rank learns every book's verdict, token count and body hash
 *      (one all-reduce) and computes the same layout: duplicates dropped
 *      (the first in list order stays), the kept books in a seeded shuffle
 *      of the list, the val documents chosen by a second seeded shuffle;
 *   4. the store is written with parallel HDF5: each rank copies its spilled
 *      documents to their final offsets, rank 0 writes doc_offsets.
 * Invariants:
 *   - the datasets depend only on the inputs, the tokenizer, the cleanup
 *     options and the seed: not on the rank count, the assignment or timing;
 *   - each document is a cleaned book followed by the tokenizer's eot; both
 *     splits are non-empty: with D >= 2 documents round(D*F), clamped to
 *     [1, D-1], go to val; a single document gives its last round(n*F)
 *     tokens (at least 1) to val, each part ending with eot;
 *   - cleanup (the default): a Project Gutenberg book (START marker or legacy
 *     small print) is cleaned by clean_book(); a file with no Gutenberg
 *     header at all is plain text and kept byte for byte; empty, binary,
 *     license-tainted and non-English books are dropped with a warning
 *     naming the file; no_clean keeps every non-empty file as is;
 *   - on any error every rank stops, nothing is left at out (an earlier file
 *     there is kept) and no scratch file remains;
 *   - MPI only through comm.h; the rank comes from MPI, not from ll_rank().
 */
#include "llmpi/prepare.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpi/comm.h"
#include "llmpi/tokenizer.h"
#include "llmpi/util.h"
#include "llmpi/walk.h"

#define PREP_SPLIT_STREAM 0x5052455053504c54ULL /* "PREPSPLT": RNG stream of the split */
#define PREP_ORDER_STREAM 0x505245504f524452ULL /* "PREPORDR": RNG stream of the order */
#define PREP_COPY_BLOCK ((size_t)1 << 20)       /* tokens per spill -> store copy */
#define PREP_SPILL_BUFFER ((size_t)1 << 20)     /* bytes buffered before a spill write */
#define PREP_OFFSET_BLOCK ((size_t)1 << 16)     /* doc_offsets per write */
#define PREP_TAG_PROGRESS 0x5052                /* MPI tag of progress messages */
#define PREP_PROGRESS_TTY_S 0.2                 /* bar refresh on a terminal */
#define PREP_PROGRESS_LOG_S 10.0                /* progress line interval otherwise */

/* Per-book fields exchanged by the all-reduce (each book filled by its owner
 * only); the verdict is stored +1 (0 = unset). */
enum { M_VERDICT, M_BYTES_IN, M_BYTES_TEXT, M_TOKENS, M_HASH, M_SPILL_AT, M_FIELDS };

void prep_options_default(prep_options *o) {
    memset(o, 0, sizeof *o);
    o->val_fraction = PREP_DEFAULT_VAL_FRACTION;
    o->seed = PREP_DEFAULT_SEED;
}

/* ---- tokenizer: "bytes" or a tokenizer.json ----
 * The one seam between prepare and the tokenizers: open, encode, close. */
typedef struct {
    tokenizer *tok;          /* a BPE or the byte tokenizer (tok_load) */
    char identity[TOK_IDENTITY_MAX];
    uint32_t vocab_size, eot_id;
} prep_tokenizer;

/* Loads the tokenizer named by --tokenizer (TOK_BYTES_NAME or a
 * tokenizer.json). 0 / -1 (one line). */
static int prep_tokenizer_open(prep_tokenizer *t, const char *spec) {
    memset(t, 0, sizeof *t);
    t->tok = tok_load(spec);
    if (!t->tok) return -1;
    const char *id = tok_identity(t->tok);
    if (strlen(id) >= sizeof t->identity) {
        ll_error("prepare: %s: tokenizer identity longer than %d bytes", spec, TOK_IDENTITY_MAX - 1);
        tok_free(t->tok);
        t->tok = NULL;
        return -1;
    }
    snprintf(t->identity, sizeof t->identity, "%s", id);
    t->vocab_size = (uint32_t)tok_vocab_size(t->tok);
    t->eot_id = (uint32_t)tok_eot_id(t->tok);
    return 0;
}

/* Replaces ids->ids[0..n) with the ids of text (specials are plain text). 0 / -1. */
static int prep_encode(const prep_tokenizer *t, const char *text, size_t n, tok_ids *ids) {
    ids->n = 0;
    return tok_encode(t->tok, text, n, 0, ids);
}

/* Releases what prep_tokenizer_open loaded; safe on a zeroed or closed t. */
static void prep_tokenizer_close(prep_tokenizer *t) {
    if (t->tok) tok_free(t->tok);
    t->tok = NULL;
}

/* ---- input listing (rank 0) ---- */

typedef struct {
    char **paths;
    uint64_t *sizes;
    size_t n;
} path_list;

static void path_list_free(path_list *l) {
    for (size_t i = 0; l->paths && i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    free(l->sizes);
    memset(l, 0, sizeof *l);
}

/* Rank 0: the files of the inputs (walk.h, *.txt inside folders, strict). 0 / -1. */
static int list_inputs(const prep_options *o, path_list *files) {
    walk_options wo;
    walk_options_default(&wo);
    wo.filter = WALK_TXT;
    wo.strict = 1;
    walk_list wl = {0};
    /* before anything is read or written: --out must not replace an input */
    if (walk_check_output(o->inputs, (size_t)o->n_inputs, o->out, "prepare") != 0) return -1;
    int rc = walk_inputs(o->inputs, (size_t)o->n_inputs, &wo, &wl);
    if (rc == 0) {
        files->paths = ll_calloc(wl.n ? wl.n : 1, sizeof *files->paths);
        files->sizes = ll_malloc((wl.n ? wl.n : 1) * sizeof *files->sizes);
        if (!files->paths || !files->sizes) rc = -1;
    }
    if (rc == 0) {
        for (size_t i = 0; i < wl.n; i++) {
            files->paths[i] = wl.v[i].path;   /* taken over */
            files->sizes[i] = wl.v[i].size;
            wl.v[i].path = NULL;
        }
        files->n = wl.n;
    }
    walk_list_free(&wl);
    return rc;
}

/* Rank 0 lists the inputs, then every rank gets the list. 0 on every rank,
 * or -1 on every rank (rank 0 printed the line). */
static int share_inputs(const prep_options *o, int rank, path_list *files) {
    int ok = 1;
    uint64_t head[2] = {0, 0};   /* books, bytes of the path blob */
    char *blob = NULL;
    if (rank == 0) {
        ok = list_inputs(o, files) == 0;
        for (size_t i = 0; ok && i < files->n; i++) head[1] += strlen(files->paths[i]) + 1;
        head[0] = ok ? files->n : 0;
        if (ok && (blob = ll_malloc(head[1] + 1)) == NULL) ok = 0;
        for (size_t i = 0, at = 0; ok && i < files->n; i++) {
            size_t len = strlen(files->paths[i]) + 1;
            memcpy(blob + at, files->paths[i], len);
            at += len;
        }
    }
    if (comm_bcast(&ok, sizeof ok, 0) != 0 || !ok) { free(blob); return -1; }
    if (comm_bcast(head, sizeof head, 0) != 0) { free(blob); return -1; }
    if (rank != 0) {
        blob = ll_malloc(head[1] + 1);
        files->sizes = ll_malloc((head[0] ? head[0] : 1) * sizeof *files->sizes);
        files->paths = ll_calloc(head[0] ? head[0] : 1, sizeof *files->paths);
        ok = blob && files->sizes && files->paths;
    }
    if (!comm_all(ok)) { if (rank == 0) ll_error("prepare: out of memory sharing the input list"); free(blob); return -1; }
    if (comm_bcast(blob, head[1], 0) != 0 || comm_bcast(files->sizes, head[0] * sizeof *files->sizes, 0) != 0) {
        free(blob);
        return -1;
    }
    if (rank != 0) {
        files->n = head[0];
        for (size_t i = 0, at = 0; i < files->n; i++) {
            size_t len = strlen(blob + at) + 1;
            files->paths[i] = ll_malloc(len);
            if (files->paths[i]) memcpy(files->paths[i], blob + at, len);
            else ok = 0;
            at += len;
        }
    }
    free(blob);
    int all = comm_all(ok);
    if (!all && rank == 0) ll_error("prepare: out of memory sharing the input list");
    return all ? 0 : -1;
}

/* owner[i] = the rank that processes book i: largest first, each to the
 * least loaded rank (lowest rank on a tie). Depends only on the sizes. */
static int assign_books(const path_list *files, int nranks, int *owner) {
    size_t n = files->n;
    size_t *order = ll_malloc((n ? n : 1) * sizeof *order);
    uint64_t *load = ll_calloc((size_t)nranks, sizeof *load);
    if (!order || !load) { free(order); free(load); return -1; }
    for (size_t i = 0; i < n; i++) order[i] = i;
    /* insertion sort by (size desc, index asc): n is the number of books */
    for (size_t i = 1; i < n; i++) {
        size_t v = order[i], j = i;
        while (j > 0 && (files->sizes[order[j - 1]] < files->sizes[v] ||
                         (files->sizes[order[j - 1]] == files->sizes[v] && order[j - 1] > v))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    for (size_t k = 0; k < n; k++) {
        int best = 0;
        for (int r = 1; r < nranks; r++) if (load[r] < load[best]) best = r;
        owner[order[k]] = best;
        load[best] += files->sizes[order[k]] + 1;   /* +1: empty books still cost a visit */
    }
    free(order);
    free(load);
    return 0;
}


/* ---- progress (rank 0 shows the sum over ranks) ---- */

typedef struct {
    int rank, nranks, tty, quiet;
    uint64_t total_books, total_bytes;
    uint64_t *books, *bytes;   /* per rank (rank 0 only) */
    int *finished;             /* per rank (rank 0 only) */
    double t0, last;
    comm_notes *notes;         /* ranks > 0: to rank 0 */
} progress;

static int progress_init(progress *p, int rank, int nranks, const path_list *files, int quiet) {
    memset(p, 0, sizeof *p);
    p->rank = rank;
    p->nranks = nranks;
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = p->last = ll_now();
    p->total_books = files->n;
    for (size_t i = 0; i < files->n; i++) p->total_bytes += files->sizes[i];
    if (rank != 0) return (p->notes = comm_notes_new(PREP_TAG_PROGRESS)) ? 0 : -1;
    p->books = ll_calloc((size_t)nranks, sizeof *p->books);
    p->bytes = ll_calloc((size_t)nranks, sizeof *p->bytes);
    p->finished = ll_calloc((size_t)nranks, sizeof *p->finished);
    return p->books && p->bytes && p->finished ? 0 : -1;
}

static void progress_free(progress *p) {
    free(p->books);
    free(p->bytes);
    free(p->finished);
    comm_notes_free(p->notes);
    p->notes = NULL;
}

/* Rank 0: draws the bar (terminal) or a line every PREP_PROGRESS_LOG_S. */
static void progress_draw(progress *p, int final) {
    double now = ll_now();
    if (p->quiet || (!final && now - p->last < (p->tty ? PREP_PROGRESS_TTY_S : PREP_PROGRESS_LOG_S))) return;
    if (final && !p->tty) return;   /* the summary follows */
    p->last = now;
    uint64_t books = 0, bytes = 0;
    for (int r = 0; r < p->nranks; r++) { books += p->books[r]; bytes += p->bytes[r]; }
    double el = now - p->t0, rate = el > 0 ? bytes / 1e6 / el : 0;
    double eta = rate > 0 ? (p->total_bytes - (bytes < p->total_bytes ? bytes : p->total_bytes)) / 1e6 / rate : 0;
    double frac = p->total_bytes ? (double)bytes / (double)p->total_bytes : 1.0;
    if (frac > 1) frac = 1;
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    char line[256];
    snprintf(line, sizeof line, "prepare [%s] %llu/%llu books  %.1f/%.1f MB  %.1f MB/s  ETA %d:%02d", bar,
             (unsigned long long)books, (unsigned long long)p->total_books, bytes / 1e6, p->total_bytes / 1e6,
             rate, (int)eta / 60, (int)eta % 60);
    if (p->tty) fprintf(stderr, "\r%s%s", line, final ? "\n" : "");
    else ll_log("%s\n", line);
    fflush(stderr);
}


/* Rank 0: takes every progress message already arrived (or, with wait,
 * blocks until every rank said it finished). */
static void progress_poll(progress *p, int wait) {
    for (;;) {
        int all = 1;
        for (int r = 1; r < p->nranks; r++) all &= p->finished[r];
        if (wait && all) break;
        uint64_t m[3];
        int source = -1;
        if (!comm_notes_receive(PREP_TAG_PROGRESS, wait, m, 3, &source)) break;
        if (source > 0 && source < p->nranks) {
            p->books[source] = m[0];
            p->bytes[source] = m[1];
            p->finished[source] = m[2] != 0;
        }
        progress_draw(p, 0);
    }
}

/* Reports this rank's totals so far; finished = 1 exactly once, last. */
static void progress_report(progress *p, uint64_t books, uint64_t bytes, int finished) {
    if (p->rank == 0) {
        p->books[0] = books;
        p->bytes[0] = bytes;
        progress_poll(p, 0);
        progress_draw(p, 0);
        if (finished) { progress_poll(p, 1); progress_draw(p, 1); }
        return;
    }
    uint64_t m[3] = {books, bytes, (uint64_t)finished};
    comm_notes_send(p->notes, m, 3);
    if (finished) { comm_notes_free(p->notes); p->notes = NULL; }
}


/* ---- the spill file: this rank's ids, in the store's token width ---- */

typedef struct {
    int fd;
    size_t width;                 /* 2 or 4 */
    unsigned char *buf;
    size_t used;
    uint64_t written;             /* elements in the file + buffer */
} spill;

/* Creates an unlinked scratch file beside out: gone with the process,
 * whatever happens. 0 / -1 (one line). */
static int spill_open(spill *s, const char *out, size_t width) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->width = width;
    char path[1200];
    if (ll_tmp_path(path, sizeof path - 16, out) != 0) { ll_error("prepare: %s: path too long", out); return -1; }
    strcat(path, ".spill");
    s->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (s->fd < 0) { ll_error("prepare: %s: cannot create scratch file: %s", path, strerror(errno)); return -1; }
    unlink(path);
    s->buf = ll_malloc(PREP_SPILL_BUFFER);
    return s->buf ? 0 : -1;
}

static int spill_flush(spill *s) {
    if (s->used && ll_write_all(s->fd, s->buf, s->used) != 0) {
        ll_error("prepare: scratch file beside --out: write failed (disk full?): %s", strerror(errno));
        return -1;
    }
    s->used = 0;
    return 0;
}

/* Appends ids[0..n) and then eot. 0 / -1. */
static int spill_append(spill *s, const int32_t *ids, size_t n, uint32_t eot) {
    for (size_t i = 0; i <= n; i++) {
        if (s->used + s->width > PREP_SPILL_BUFFER && spill_flush(s) != 0) return -1;
        uint32_t v = i < n ? (uint32_t)ids[i] : eot;
        if (s->width == 2) { uint16_t h = (uint16_t)v; memcpy(s->buf + s->used, &h, 2); }
        else memcpy(s->buf + s->used, &v, 4);
        s->used += s->width;
    }
    s->written += n + 1;
    return 0;
}

/* Reads elements [at, at+n) back into out. 0 / -1. */
static int spill_read(const spill *s, uint64_t at, size_t n, void *out) {
    size_t bytes = n * s->width, got = 0;
    while (got < bytes) {
        ssize_t r = pread(s->fd, (char *)out + got, bytes - got, (off_t)(at * s->width + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { ll_error("prepare: scratch file beside --out: read back failed"); return -1; }
        got += (size_t)r;
    }
    return 0;
}

static void spill_close(spill *s) {
    if (s->fd >= 0) close(s->fd);
    free(s->buf);
    s->fd = -1;
    s->buf = NULL;
}

/* ---- phase 2: this rank's books ---- */

/* Cleans, tokenizes and spills the books this rank owns; fills their rows
 * of meta. 0 / -1 (one line naming the book). */
static int process_books(const path_list *files, const int *owner, int rank, const prep_options *o,
                         const prep_tokenizer *tok, const clean_ctx *cctx, spill *sp, uint64_t *meta,
                         progress *pg, prep_timing *tm) {
    tok_ids ids = {0};
    uint64_t books_done = 0, bytes_done = 0;
    int rc = 0;
    /* largest first, as assigned: the small books fill the gaps at the end */
    size_t n = files->n;
    size_t *mine = ll_malloc((n ? n : 1) * sizeof *mine);
    size_t n_mine = 0;
    if (!mine) return -1;
    for (size_t i = 0; i < n; i++) if (owner[i] == rank) mine[n_mine++] = i;
    for (size_t a = 1; a < n_mine; a++) {   /* by size desc, index asc (stable insertion) */
        size_t v = mine[a], j = a;
        while (j > 0 && files->sizes[mine[j - 1]] < files->sizes[v]) { mine[j] = mine[j - 1]; j--; }
        mine[j] = v;
    }
    for (size_t k = 0; k < n_mine && rc == 0; k++) {
        size_t i = mine[k];
        const char *path = files->paths[i];
        uint64_t *m = meta + i * M_FIELDS;
        double t = ll_now();
        char *raw = NULL;
        size_t n_raw = 0;
        if (ll_read_file(path, &raw, &n_raw) != 0) { rc = -1; break; }
        tm->t[PREP_T_READ] += ll_now() - t;
        tm->bytes_in += (double)n_raw;

        t = ll_now();
        clean_result r;
        memset(&r, 0, sizeof r);
        int verdict;
        const char *text = NULL;
        size_t n_text = 0;
        if (n_raw == 0) {
            verdict = CLEAN_DROP_EMPTY;
            snprintf(r.reason, sizeof r.reason, "empty file");
        } else if (o->no_clean) {
            verdict = PREP_PLAIN;
        } else {
            if (clean_book(cctx, raw, n_raw, &r) != 0) { free(raw); rc = -1; break; }
            verdict = (int)r.verdict;
            if (r.verdict == CLEAN_DROP_NO_BODY && r.header == CLEAN_HEADER_NONE) verdict = PREP_PLAIN;
        }
        if (verdict == PREP_PLAIN) { text = raw; n_text = n_raw; }
        else if (verdict == CLEAN_KEPT) { text = r.text; n_text = r.text_len; }
        tm->t[PREP_T_CLEAN] += ll_now() - t;
        if (!text && !o->quiet && verdict != CLEAN_DROP_LANGUAGE)
            ll_warn("%s: dropped: %s", path, r.reason[0] ? r.reason : clean_verdict_name((clean_verdict)verdict));

        m[M_VERDICT] = (uint64_t)verdict + 1;
        m[M_BYTES_IN] = n_raw;
        if (text) {
            t = ll_now();
            tok_set_error_place(path);
            int encoded = prep_encode(tok, text, n_text, &ids);
            tok_set_error_place(NULL);
            if (encoded != 0) { clean_result_free(&r); free(raw); rc = -1; break; }
            tm->t[PREP_T_TOKENIZE] += ll_now() - t;
            tm->bytes_text += (double)n_text;
            m[M_BYTES_TEXT] = n_text;
            m[M_TOKENS] = ids.n;
            m[M_HASH] = clean_body_hash(text, n_text);
            m[M_SPILL_AT] = sp->written;
            t = ll_now();
            if (spill_append(sp, ids.ids, ids.n, tok->eot_id) != 0) { clean_result_free(&r); free(raw); rc = -1; break; }
            tm->t[PREP_T_SPILL] += ll_now() - t;
        }
        clean_result_free(&r);
        free(raw);
        books_done++;
        bytes_done += n_raw;
        progress_report(pg, books_done, bytes_done, 0);
    }
    if (rc == 0) {
        double t = ll_now();
        rc = spill_flush(sp);
        tm->t[PREP_T_SPILL] += ll_now() - t;
    }
    progress_report(pg, books_done, bytes_done, 1);
    free(mine);
    tok_ids_free(&ids);
    return rc;
}

/* ---- phase 3: the layout, the same on every rank ---- */

typedef struct {
    size_t n_docs;
    size_t *book;             /* (n_docs) book index of each document, in store order */
    unsigned char *split;     /* (n_docs) STORE_TRAIN / STORE_VAL */
    uint64_t *start;          /* (n_docs) first token in its split */
    uint64_t n_tokens[2], n_docs_split[2];
    uint64_t single_cut;      /* one document: tokens [0, cut) train, [cut, n) val */
    size_t counts[PREP_VERDICTS];
} prep_layout;

static void layout_free(prep_layout *l) {
    free(l->book);
    free(l->split);
    free(l->start);
}

/* Works out the documents, their order, split and offsets from meta.
 * 0 / -1 (rank 0 printed the line; every rank returns the same). */
static int make_layout(const path_list *files, uint64_t *meta, int rank, const prep_options *o, prep_layout *l) {
    memset(l, 0, sizeof *l);
    size_t n = files->n;
    ll_hashset seen;
    int have_seen = ll_hashset_init(&seen, n) == 0, failed = 0;
    uint64_t *order = ll_malloc((n ? n : 1) * sizeof *order);
    l->book = ll_malloc((n ? n : 1) * sizeof *l->book);
    l->split = ll_malloc(n ? n : 1);
    l->start = ll_malloc((n ? n : 1) * sizeof *l->start);
    int rc = -1;
    if (!have_seen || !order || !l->book || !l->split || !l->start) goto done;
    /* duplicates: the first in list order stays */
    for (size_t i = 0; i < n; i++) {
        uint64_t *m = meta + i * M_FIELDS;
        int v = (int)m[M_VERDICT] - 1;
        if (v < 0 || v > PREP_PLAIN) { if (rank == 0) ll_error("prepare: %s: no verdict (internal)", files->paths[i]); goto done; }
        if ((v == CLEAN_KEPT || v == PREP_PLAIN) &&
            ll_hashset_first(&seen, m[M_HASH], i, &failed) != LL_HASHSET_NEW) {
            m[M_VERDICT] = CLEAN_DROP_DUPLICATE + 1;
            v = CLEAN_DROP_DUPLICATE;
        }
        l->counts[v]++;
    }
    if (failed) goto done;
    ll_permutation(order, n, o->seed, PREP_ORDER_STREAM);
    for (size_t k = 0; k < n; k++) {
        int v = (int)meta[order[k] * M_FIELDS + M_VERDICT] - 1;
        if (v == CLEAN_KEPT || v == PREP_PLAIN) l->book[l->n_docs++] = (size_t)order[k];
    }
    size_t D = l->n_docs;
    if (D == 0) {
        if (rank == 0)
            ll_error("prepare: no text left: all %zu input files were empty or dropped (see the warnings; "
                     "folders are searched for *.txt)", n);
        goto done;
    }
    if (D == 1) {
        uint64_t nt = meta[l->book[0] * M_FIELDS + M_TOKENS];
        if (nt < 2) {
            if (rank == 0)
                ll_error("prepare: %s: a single document of %llu tokens cannot be split into train and val",
                         files->paths[l->book[0]], (unsigned long long)nt);
            goto done;
        }
        uint64_t n_val = (uint64_t)llround((double)nt * o->val_fraction);
        if (n_val < 1) n_val = 1;
        if (n_val > nt - 1) n_val = nt - 1;
        l->single_cut = nt - n_val;
        l->n_tokens[STORE_TRAIN] = l->single_cut + 1;
        l->n_tokens[STORE_VAL] = n_val + 1;
        l->n_docs_split[STORE_TRAIN] = l->n_docs_split[STORE_VAL] = 1;
        l->split[0] = STORE_TRAIN;
        l->start[0] = 0;
        rc = 0;
        goto done;
    }
    /* val: round(D*F) documents, clamped to [1, D-1], by a seeded shuffle of positions */
    size_t n_val = (size_t)llround((double)D * o->val_fraction);
    if (n_val < 1) n_val = 1;
    if (n_val > D - 1) n_val = D - 1;
    ll_permutation(order, D, o->seed, PREP_SPLIT_STREAM);
    memset(l->split, STORE_TRAIN, D);
    for (size_t k = 0; k < n_val; k++) l->split[order[k]] = STORE_VAL;
    for (size_t k = 0; k < D; k++) {
        int s = l->split[k];
        l->start[k] = l->n_tokens[s];
        l->n_tokens[s] += meta[l->book[k] * M_FIELDS + M_TOKENS] + 1;
        l->n_docs_split[s]++;
    }
    rc = 0;
done:
    /* out of memory: ll_malloc and the hash set printed the line */
    if (have_seen) ll_hashset_free(&seen);
    free(order);
    return rc;
}

/* ---- phase 4: writing ---- */

/* Copies spill elements [at, at+n) to split at dst. 0 / -1. */
static int copy_tokens(store_pwriter *w, const spill *sp, store_split split, uint64_t at, uint64_t n,
                       uint64_t dst, void *buf) {
    for (uint64_t done = 0; done < n;) {
        size_t take = n - done < PREP_COPY_BLOCK ? (size_t)(n - done) : PREP_COPY_BLOCK;
        if (spill_read(sp, at + done, take, buf) != 0) return -1;
        if (store_pwriter_write_tokens(w, split, dst + done, buf, take) != 0) return -1;
        done += take;
    }
    return 0;
}

/* This rank's documents, and on rank 0 every doc_offsets. 0 / -1. */
static int write_store(store_pwriter *w, const prep_layout *l, const uint64_t *meta, const int *owner, int rank,
                       const spill *sp, const prep_tokenizer *tok, prep_timing *tm) {
    void *buf = ll_malloc(PREP_COPY_BLOCK * sp->width);
    if (!buf) return -1;
    int rc = 0;
    for (size_t k = 0; k < l->n_docs && rc == 0; k++) {
        size_t b = l->book[k];
        if (owner[b] != rank) continue;
        const uint64_t *m = meta + b * M_FIELDS;
        if (l->n_docs == 1) {   /* head + eot to train, tail (with its spilled eot) to val */
            uint32_t eot32 = tok->eot_id;
            uint16_t eot16 = (uint16_t)tok->eot_id;
            rc = copy_tokens(w, sp, STORE_TRAIN, m[M_SPILL_AT], l->single_cut, 0, buf);
            if (rc == 0)
                rc = store_pwriter_write_tokens(w, STORE_TRAIN, l->single_cut,
                                                sp->width == 2 ? (const void *)&eot16 : (const void *)&eot32, 1);
            if (rc == 0)
                rc = copy_tokens(w, sp, STORE_VAL, m[M_SPILL_AT] + l->single_cut,
                                 m[M_TOKENS] + 1 - l->single_cut, 0, buf);
        } else {
            rc = copy_tokens(w, sp, (store_split)l->split[k], m[M_SPILL_AT], m[M_TOKENS] + 1, l->start[k], buf);
        }
        if (rc == 0) tm->tokens_written += (double)(m[M_TOKENS] + 1);
    }
    free(buf);
    if (rank != 0 || rc != 0) return rc;
    uint64_t *offs = ll_malloc(PREP_OFFSET_BLOCK * sizeof *offs);
    if (!offs) return -1;
    for (int s = 0; s < 2 && rc == 0; s++) {
        if (l->n_docs == 1) { offs[0] = 0; rc = store_pwriter_write_offsets(w, (store_split)s, 0, offs, 1); continue; }
        size_t used = 0;
        uint64_t written = 0;
        for (size_t k = 0; k < l->n_docs && rc == 0; k++) {
            if (l->split[k] != s) continue;
            offs[used++] = l->start[k];
            if (used == PREP_OFFSET_BLOCK) {
                rc = store_pwriter_write_offsets(w, (store_split)s, written, offs, used);
                written += used;
                used = 0;
            }
        }
        if (rc == 0 && used) rc = store_pwriter_write_offsets(w, (store_split)s, written, offs, used);
    }
    free(offs);
    return rc;
}


/* ---- the run ---- */

int prep_run(const prep_options *o, prep_report *rep) {
    double t_start = ll_now();
    prep_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    comm_world world;
    if (comm_init(&world) != 0) return -1;
    int rank = world.rank, nranks = world.size;
    rep->nranks = nranks;
    /* Every rank checks the options the same way: the same verdict everywhere. */
    if (!o->tokenizer || !o->out || !o->inputs || o->n_inputs <= 0 ||
        !(o->val_fraction > 0.0 && o->val_fraction < 1.0)) {
        if (rank == 0)
            ll_error("prepare: the options need a tokenizer, inputs, out and 0 < val_fraction < 1");
        return -1;
    }
    /* Rank 0 loads the tokenizer first so that a bad one is named once;
     * then the others load it too (each rank encodes). */
    prep_tokenizer tok;
    memset(&tok, 0, sizeof tok);
    int ok = rank == 0 ? prep_tokenizer_open(&tok, o->tokenizer) == 0 : 1;
    if (comm_bcast(&ok, sizeof ok, 0) != 0) ok = 0;
    if (ok && rank != 0) ok = prep_tokenizer_open(&tok, o->tokenizer) == 0;
    if (!comm_all(ok)) {
        if (ok) prep_tokenizer_close(&tok);
        return -1;
    }
    snprintf(rep->tokenizer_identity, sizeof rep->tokenizer_identity, "%s", tok.identity);
    rep->vocab_size = tok.vocab_size;
    rep->eot_id = tok.eot_id;
    clean_options copts;
    clean_options_default(&copts);
    copts.keep_all_languages = o->keep_all_languages;

    int rc = -1;
    path_list files = {0};
    int *owner = NULL;
    uint64_t *meta = NULL;
    clean_ctx *cctx = NULL;
    store_pwriter *w = NULL;
    spill sp = {.fd = -1};
    progress pg;
    memset(&pg, 0, sizeof pg);
    prep_layout layout;
    memset(&layout, 0, sizeof layout);
    prep_timing tm;
    memset(&tm, 0, sizeof tm);

    if (share_inputs(o, rank, &files) != 0) goto done;
    rep->n_books = files.n;
    if (files.n == 0) {
        if (rank == 0) ll_error("prepare: no *.txt files found in the inputs");
        goto done;
    }
    /* The output is created first, so a bad out fails before any work. */
    w = store_pwriter_create(o->out, tok.vocab_size, tok.eot_id, tok.identity);
    if (!w) goto done;
    /* the store carries its tokenizer.json, so checkpoints can carry it on */
    int ok_json = 1;
    if (rank == 0 && !tok_is_bytes(tok.tok)) {
        size_t json_len;
        char *json = tok_to_json(tok.tok, o->tokenizer, &json_len);
        if (!json || store_pwriter_set_tokenizer_json(w, json, json_len) != 0) ok_json = 0;
        free(json);
    }
    if (!comm_all(ok_json)) goto done;
    owner = ll_malloc(files.n * sizeof *owner);
    meta = ll_calloc(files.n * M_FIELDS, sizeof *meta);
    ok = owner && meta && assign_books(&files, nranks, owner) == 0 &&
         progress_init(&pg, rank, nranks, &files, o->quiet) == 0 &&
         spill_open(&sp, o->out, store_pwriter_token_bytes(w)) == 0 &&
         (o->no_clean || (cctx = clean_ctx_new(&copts)) != NULL);
    if (!comm_all(ok)) goto done;

    ok = process_books(&files, owner, rank, o, &tok, cctx, &sp, meta, &pg, &tm) == 0;
    if (!comm_all(ok)) goto done;
    if (comm_allreduce_u64(meta, files.n * M_FIELDS) != 0) goto done;
    if (make_layout(&files, meta, rank, o, &layout) != 0) goto done;

    double t = ll_now();
    ok = store_pwriter_define(w, layout.n_tokens, layout.n_docs_split) == 0;
    if (comm_all(ok)) ok = write_store(w, &layout, meta, owner, rank, &sp, &tok, &tm) == 0;
    tm.t[PREP_T_WRITE] += ll_now() - t;
    t = ll_now();
    int committed = store_pwriter_finish(w, ok) == 0;   /* collective: includes the fsync and rename */
    tm.t[PREP_T_WRITE] += ll_now() - t;
    w = NULL;
    if (!committed) goto done;

    double vals[PREP_T_FIELDS + 3] = {0}, vsum[PREP_T_FIELDS + 3] = {0}, vmax[PREP_T_FIELDS + 3] = {0};
    for (int i = 0; i < PREP_T_FIELDS; i++) vals[i] = tm.t[i];
    vals[PREP_T_FIELDS] = tm.bytes_in;
    vals[PREP_T_FIELDS + 1] = tm.bytes_text;
    vals[PREP_T_FIELDS + 2] = tm.tokens_written;
    if (comm_reduce_sum_max_doubles(vals, vsum, vmax, PREP_T_FIELDS + 3) != 0) goto done;
    for (int i = 0; i < PREP_T_FIELDS; i++) { rep->sum.t[i] = vsum[i]; rep->max.t[i] = vmax[i]; }
    rep->sum.bytes_in = vsum[PREP_T_FIELDS];
    rep->sum.bytes_text = vsum[PREP_T_FIELDS + 1];
    rep->sum.tokens_written = vsum[PREP_T_FIELDS + 2];
    memcpy(rep->counts, layout.counts, sizeof rep->counts);
    rep->n_docs = layout.n_docs;
    memcpy(rep->n_tokens, layout.n_tokens, sizeof rep->n_tokens);
    memcpy(rep->n_docs_split, layout.n_docs_split, sizeof rep->n_docs_split);
    rep->wall = ll_now() - t_start;
    rc = 0;
done:
    /* the scratch file first: on a full disk its space is what lets the
     * store's close flush (a failed HDF5 close crashes at MPI_Finalize) */
    spill_close(&sp);
    if (w) store_pwriter_finish(w, 0);
    layout_free(&layout);
    progress_free(&pg);
    clean_ctx_free(cctx);
    free(owner);
    free(meta);
    path_list_free(&files);
    prep_tokenizer_close(&tok);
    return rc;
}
