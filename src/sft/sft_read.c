/* sft_read.c: readers for the eleven instruction/chat dataset shapes (JSON
 * arrays and JSONL alike), parsed with Jansson.
 *
 * Invariants:
 * - A bad record never stops a read: it is skipped, counted by reason in
 *   sft_read_stats and (the first SFT_REPORT_FIRST) reported "file:line:
 *   reason". Errors (-1) are only: unreadable path, an array file that is not
 *   valid JSON (file:line:column), an undetectable format, a failed callback.
 * - Line numbers: JSONL records are their line; array elements are the line
 *   their first byte is on (found by a scan of the already validated text,
 *   element k of the scan is element k of the parsed array).
 * - Conversations are emitted in file order (OASST flat: in the order of the
 *   root messages; self-instruct: instances in order).
 * - OASST path rule (flat rows and nested trees alike, through one walker):
 *   from the root follow, at each level, the non-deleted child with the
 *   smallest integer rank (null/absent rank last, ties: first in file order);
 *   end on an assistant message (a trailing prompter message is dropped).
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "llmpi/sft.h"
#include "llmpi/util.h"
#include "sft_internal.h"

/* memmem without _GNU_SOURCE: the first needle in hay[0..n), or NULL. */
static const char *find(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || n < m) return NULL;
    for (const char *p = hay, *end = hay + n - m + 1; p < end;) {
        const char *q = memchr(p, needle[0], (size_t)(end - p));
        if (!q) return NULL;
        if (!memcmp(q, needle, m)) return q;
        p = q + 1;
    }
    return NULL;
}

/* One OASST message (a flat row or a node of a nested tree). */
typedef struct {
    json_t *obj;            /* borrowed reference (kept alive by rows_json) */
    const char *id;         /* message_id (flat rows), else NULL */
    long line;
    int parent;             /* row index, -1: root / unresolved */
    int first_child, next_sibling; /* children in file order */
    int last_child;
    int is_assistant, deleted;
    long long rank;         /* LLONG_MAX when null or absent */
} oa_row;

typedef struct {
    const sft_read_options *o;
    sft_emit_fn emit;
    void *ctx;
    sft_read_stats *st;
    const char *file;
    const char *file_bytes;
    size_t file_len;
    sft_format fmt;         /* of the current file (AUTO until detected) */
    sft_conv conv;
    sft_buf scratch[3];
    /* OASST */
    oa_row *rows;
    int n_rows, cap_rows;
    json_t **held;          /* records whose rows are referenced */
    int n_held, cap_held;
} reader;

/* Counts a skip and reports the first few malformed ones (records left out
 * by a rule, a status filter or a deletion, are counted only). */
static void skip(reader *r, sft_skip_reason why, long line, const char *detail) {
    sft_read_stats *st = r->st;
    st->skipped[why]++;
    if (why < SFT_SKIP_STATUS && st->n_reported < SFT_REPORT_FIRST) {
        snprintf(st->first[st->n_reported], sizeof st->first[0], "%s:%ld: %s%s%s", r->file, line,
                 sft_skip_name(why), detail && *detail ? ": " : "", detail ? detail : "");
        if (!r->o->quiet) ll_warn("%s", st->first[st->n_reported]);
        st->n_reported++;
    }
}

/* ---- field access ---- */

/* A string field. Returns 1 and the text when present; 0 when absent or
 * null and optional (text ""); -1 after counting a skip otherwise. */
static int get_str(reader *r, json_t *obj, const char *key, int required, long line,
                   const char **s, size_t *len) {
    json_t *v = json_object_get(obj, key);
    *s = "";
    *len = 0;
    char detail[96];
    if (!v || (json_is_null(v) && !required)) {
        if (!required) return 0;
        snprintf(detail, sizeof detail, "\"%s\"", key);
        skip(r, SFT_SKIP_MISSING_FIELD, line, detail);
        return -1;
    }
    if (!json_is_string(v)) {
        snprintf(detail, sizeof detail, "\"%s\" is not a string", key);
        skip(r, SFT_SKIP_WRONG_TYPE, line, detail);
        return -1;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 1;
}

/* Emits the conversation being built after the checks every shape shares:
 * non-blank user and assistant texts, at least one pair. */
static int emit_conv(reader *r, long line) {
    sft_conv *c = &r->conv;
    if (c->n_turns == 0) { skip(r, SFT_SKIP_NO_PAIR, line, NULL); return 0; }
    for (int i = 0; i < c->n_turns; i++) {
        if (sft_text_blank(c->user[i].text, c->user[i].len)) {
            skip(r, SFT_SKIP_EMPTY_USER, line, NULL);
            return 0;
        }
        if (sft_text_blank(c->assistant[i].text, c->assistant[i].len)) {
            skip(r, SFT_SKIP_EMPTY_ASSISTANT, line, NULL);
            return 0;
        }
    }
    c->file = r->file;
    c->line = line;
    r->st->examples++;
    return r->emit(r->ctx, c);
}

/* Replaces every occurrence of each pattern pats[i] by reps[i] in s into b. */
static int substitute(sft_buf *b, const char *s, size_t len, const char *const *pats,
                      const char *const *reps, int n) {
    b->n = 0;
    if (sft_buf_reserve(b, len)) return -1;
    size_t i = 0;
    while (i < len) {
        int hit = -1;
        if (s[i] == '{')
            for (int k = 0; k < n; k++) {
                size_t pl = strlen(pats[k]);
                if (i + pl <= len && !memcmp(s + i, pats[k], pl)) { hit = k; break; }
            }
        if (hit >= 0) {
            if (sft_buf_add(b, reps[hit], strlen(reps[hit]))) return -1;
            i += strlen(pats[hit]);
        } else {
            size_t j = i + 1;
            while (j < len && s[j] != '{') j++;
            if (sft_buf_add(b, s + i, j - i)) return -1;
            i = j;
        }
    }
    return 0;
}

/* U = instruction, or instruction + "\n\n" + input when input is not blank. */
static int join_user(sft_buf *b, const char *ins, size_t ins_len, const char *in, size_t in_len) {
    b->n = 0;
    if (sft_buf_add(b, ins, ins_len)) return -1;
    if (!sft_text_blank(in, in_len) && (sft_buf_add(b, "\n\n", 2) || sft_buf_add(b, in, in_len)))
        return -1;
    return 0;
}

/* ---- alpaca family ---- */

static int read_alpaca(reader *r, json_t *rec, long line) {
    const char *ins, *in, *out, *sys;
    size_t ins_len, in_len, out_len, sys_len;
    const char *out_key = r->fmt == SFT_FORMAT_GPTEACHER ? "response" : "output";
    if (get_str(r, rec, "instruction", 1, line, &ins, &ins_len) < 0) return 0;
    if (get_str(r, rec, "input", 0, line, &in, &in_len) < 0) return 0;
    if (get_str(r, rec, out_key, 1, line, &out, &out_len) < 0) return 0;
    if (get_str(r, rec, "system", 0, line, &sys, &sys_len) < 0) return 0;
    json_t *hist = NULL;
    if (r->fmt == SFT_FORMAT_LIMA) {
        hist = json_object_get(rec, "history");
        if (hist && !json_is_null(hist) && !json_is_array(hist)) {
            skip(r, SFT_SKIP_WRONG_TYPE, line, "\"history\" is not an array");
            return 0;
        }
        size_t k;
        json_t *pair;
        json_array_foreach(hist, k, pair) {
            if (!json_is_array(pair) || json_array_size(pair) != 2 ||
                !json_is_string(json_array_get(pair, 0)) || !json_is_string(json_array_get(pair, 1))) {
                skip(r, SFT_SKIP_WRONG_TYPE, line, "\"history\" item is not [user, assistant] strings");
                return 0;
            }
        }
    }
    if (r->fmt == SFT_FORMAT_ALPACA_LIBRE) {
        const char *status;
        size_t status_len;
        if (get_str(r, rec, "status", 1, line, &status, &status_len) < 0) return 0;
        const char *keep = r->o->keep_status ? r->o->keep_status : "ok";
        if (strcmp(keep, "*") && (status_len != strlen(keep) || memcmp(status, keep, status_len))) {
            skip(r, SFT_SKIP_STATUS, line, status);
            return 0;
        }
    }
    sft_conv *c = &r->conv;
    sft_conv_reset(c);
    if (sys_len && sft_conv_set_system(c, sys, sys_len)) return -1;
    size_t k;
    json_t *pair;
    json_array_foreach(hist, k, pair) {
        json_t *u = json_array_get(pair, 0), *a = json_array_get(pair, 1);
        if (sft_conv_add_turn(c, json_string_value(u), json_string_length(u), json_string_value(a),
                              json_string_length(a)))
            return -1;
    }
    if (r->fmt == SFT_FORMAT_IDENTITY) {
        static const char *const pats[2] = {"{{name}}", "{{author}}"};
        const char *reps[2] = {r->o->name ? r->o->name : "llmpi",
                               r->o->author ? r->o->author : "the llmpi authors"};
        sft_buf *bi = &r->scratch[0], *bn = &r->scratch[1], *bo = &r->scratch[2];
        if (substitute(bi, ins, ins_len, pats, reps, 2)) return -1;
        if (substitute(bo, out, out_len, pats, reps, 2)) return -1;
        /* scratch[1] first holds the filled input, then the joined user text */
        sft_buf tmp = {0};
        if (substitute(&tmp, in, in_len, pats, reps, 2)) { sft_buf_free(&tmp); return -1; }
        int rc = join_user(bn, bi->data, bi->n, tmp.data, tmp.n);
        sft_buf_free(&tmp);
        if (rc || sft_conv_add_turn(c, bn->data, bn->n, bo->data, bo->n)) return -1;
    } else {
        sft_buf *b = &r->scratch[0];
        if (join_user(b, ins, ins_len, in, in_len) || sft_conv_add_turn(c, b->data, b->n, out, out_len))
            return -1;
    }
    return emit_conv(r, line);
}

/* self-instruct: one example per instance. */
static int read_self_instruct(reader *r, json_t *rec, long line) {
    const char *ins;
    size_t ins_len;
    if (get_str(r, rec, "instruction", 1, line, &ins, &ins_len) < 0) return 0;
    json_t *inst = json_object_get(rec, "instances");
    if (!inst) { skip(r, SFT_SKIP_MISSING_FIELD, line, "\"instances\""); return 0; }
    if (!json_is_array(inst)) { skip(r, SFT_SKIP_WRONG_TYPE, line, "\"instances\" is not an array"); return 0; }
    if (json_array_size(inst) == 0) { skip(r, SFT_SKIP_NO_PAIR, line, "no instances"); return 0; }
    size_t k;
    json_t *one;
    json_array_foreach(inst, k, one) {
        const char *in, *out;
        size_t in_len, out_len;
        if (!json_is_object(one)) { skip(r, SFT_SKIP_NOT_OBJECT, line, "instance"); continue; }
        if (get_str(r, one, "input", 0, line, &in, &in_len) < 0) continue;
        if (get_str(r, one, "output", 1, line, &out, &out_len) < 0) continue;
        sft_conv_reset(&r->conv);
        sft_buf *b = &r->scratch[0];
        if (join_user(b, ins, ins_len, in, in_len) || sft_conv_add_turn(&r->conv, b->data, b->n, out, out_len))
            return -1;
        r->conv.instance = (long)k;
        if (emit_conv(r, line)) return -1;
    }
    return 0;
}

/* GSM8K: A = answer without its <<...>> calculator notes. */
static int read_gsm8k(reader *r, json_t *rec, long line) {
    const char *q, *a;
    size_t q_len, a_len;
    if (get_str(r, rec, "question", 1, line, &q, &q_len) < 0) return 0;
    if (get_str(r, rec, "answer", 1, line, &a, &a_len) < 0) return 0;
    sft_buf *b = &r->scratch[0];
    b->n = 0;
    if (sft_buf_reserve(b, a_len)) return -1;
    size_t i = 0;
    while (i < a_len) {
        const char *open = i + 1 < a_len ? find(a + i, a_len - i, "<<", 2) : NULL;
        const char *close = open ? find(open + 2, a_len - (size_t)(open + 2 - a), ">>", 2) : NULL;
        if (!close) { sft_buf_add(b, a + i, a_len - i); break; }
        sft_buf_add(b, a + i, (size_t)(open - (a + i)));
        i = (size_t)(close + 2 - a);
    }
    sft_conv_reset(&r->conv);
    if (sft_conv_add_turn(&r->conv, q, q_len, b->data ? b->data : "", b->n)) return -1;
    return emit_conv(r, line);
}

/* ---- role sequences (HH, ShareGPT, OpenAI) ---- */

enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT };

typedef struct {
    int role;
    const char *text;
    size_t len;
} msg;

/* Turns [system] user assistant user assistant ... into the conversation;
 * counts a skip and returns 1 if the roles do not fit that pattern. */
static int msgs_to_conv(reader *r, const msg *m, int n, long line) {
    sft_conv *c = &r->conv;
    sft_conv_reset(c);
    int i = 0;
    if (n > 0 && m[0].role == ROLE_SYSTEM) {
        if (sft_conv_set_system(c, m[0].text, m[0].len)) return -1;
        i = 1;
    }
    if (i == n) { skip(r, SFT_SKIP_NO_PAIR, line, NULL); return 1; }
    if ((n - i) % 2 == 1 && (n - i) == 1 && m[i].role == ROLE_USER) {
        skip(r, SFT_SKIP_NO_PAIR, line, "a user message without reply");
        return 1;
    }
    for (; i < n; i += 2) {
        if (m[i].role != ROLE_USER || i + 1 == n || m[i + 1].role != ROLE_ASSISTANT) {
            skip(r, SFT_SKIP_NOT_ALTERNATING, line,
                 i + 1 == n && m[i].role == ROLE_USER ? "last message is not the assistant's" : NULL);
            return 1;
        }
        if (sft_conv_add_turn(c, m[i].text, m[i].len, m[i + 1].text, m[i + 1].len)) return -1;
    }
    return 0;
}

/* A growable msg array (kept in scratch[2] as raw bytes). */
static msg *msgs_grow(sft_buf *b, int n) {
    size_t need = (size_t)(n + 1) * sizeof(msg);
    if (need > b->cap && sft_buf_reserve(b, need - b->n)) return NULL;
    return (msg *)b->data;
}

/* HH-RLHF: `chosen` split at "\n\nHuman: " / "\n\nAssistant: ". */
static int read_hh(reader *r, json_t *rec, long line) {
    const char *s;
    size_t len;
    if (get_str(r, rec, "chosen", 1, line, &s, &len) < 0) return 0;
    static const char H[] = "\n\nHuman: ", A[] = "\n\nAssistant: ";
    const size_t hl = sizeof H - 1, al = sizeof A - 1;
    if (len < hl || memcmp(s, H, hl)) {
        skip(r, SFT_SKIP_NOT_ALTERNATING, line, "transcript does not start with \"\\n\\nHuman: \"");
        return 0;
    }
    sft_buf *mb = &r->scratch[2];
    mb->n = 0;
    int n = 0;
    size_t i = 0;
    while (i < len) {
        int role = !memcmp(s + i, H, hl) ? ROLE_USER : ROLE_ASSISTANT;
        size_t start = i + (role == ROLE_USER ? hl : al), j = start;
        /* the next marker of either kind ends this text */
        for (;;) {
            const char *p = j < len ? find(s + j, len - j, "\n\n", 2) : NULL;
            if (!p) { j = len; break; }
            size_t at = (size_t)(p - s);
            if ((at + hl <= len && !memcmp(p, H, hl)) || (at + al <= len && !memcmp(p, A, al))) { j = at; break; }
            j = at + 1;
        }
        msg *m = msgs_grow(mb, n);
        if (!m) return -1;
        m[n++] = (msg){role, s + start, j - start};
        i = j;
    }
    msg *m = (msg *)mb->data;
    for (int k = 0; k < n; k++)
        if (m[k].role != (k % 2 == 0 ? ROLE_USER : ROLE_ASSISTANT)) {
            skip(r, SFT_SKIP_NOT_ALTERNATING, line, NULL);
            return 0;
        }
    if (n % 2) { skip(r, SFT_SKIP_NOT_ALTERNATING, line, "does not end with the Assistant"); return 0; }
    int rc = msgs_to_conv(r, m, n, line);
    return rc < 0 ? -1 : rc ? 0 : emit_conv(r, line);
}

/* OpenAI content: a string, or a list of {type: "text", text} parts joined
 * with "\n". 0 ok, 1 skipped. Texts of joined parts go to scratch. */
static int openai_content(reader *r, json_t *v, long line, sft_buf *b, const char **s, size_t *len) {
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *len = json_string_length(v);
        return 0;
    }
    if (!json_is_array(v)) {
        skip(r, v ? SFT_SKIP_WRONG_TYPE : SFT_SKIP_MISSING_FIELD, line, "\"content\"");
        return 1;
    }
    size_t start = b->n, k;
    json_t *part;
    json_array_foreach(v, k, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") || !json_is_string(text)) {
            skip(r, SFT_SKIP_WRONG_TYPE, line, "a content part that is not {type: \"text\", text}");
            return 1;
        }
        if ((k && sft_buf_add(b, "\n", 1)) || sft_buf_add(b, json_string_value(text), json_string_length(text)))
            return -1;
    }
    /* offsets, fixed into pointers once the buffer stops growing */
    *s = (const char *)(uintptr_t)start;
    *len = b->n - start;
    return 2;
}

/* ShareGPT {conversations: [{from, value}]} and OpenAI {messages: [{role, content}]}. */
static int read_chat(reader *r, json_t *rec, long line) {
    int openai = r->fmt == SFT_FORMAT_OPENAI;
    const char *key = openai ? "messages" : "conversations";
    json_t *list = json_object_get(rec, key);
    char detail[64];
    snprintf(detail, sizeof detail, "\"%s\"", key);
    if (!list) { skip(r, SFT_SKIP_MISSING_FIELD, line, detail); return 0; }
    if (!json_is_array(list)) { skip(r, SFT_SKIP_WRONG_TYPE, line, detail); return 0; }
    sft_buf *mb = &r->scratch[2], *parts = &r->scratch[1];
    mb->n = 0;
    parts->n = 0;
    int n = 0;
    char *is_offset = NULL;
    size_t nlist = json_array_size(list);
    int extra = 0;
    const char *sys;
    size_t sys_len;
    if (!openai && get_str(r, rec, "system", 0, line, &sys, &sys_len) < 0) return 0;
    if (!openai && sys_len) extra = 1;
    if (nlist + (size_t)extra > 0 && !(is_offset = ll_calloc(nlist + (size_t)extra, 1))) {
        return -1;
    }
    int rc = 0;
    if (extra) {
        msg *m = msgs_grow(mb, n);
        if (!m) { rc = -1; goto done; }
        m[n++] = (msg){ROLE_SYSTEM, sys, sys_len};
    }
    for (size_t k = 0; k < nlist; k++) {
        json_t *e = json_array_get(list, k);
        if (!json_is_object(e)) { skip(r, SFT_SKIP_NOT_OBJECT, line, "message"); goto done; }
        const char *who, *text = NULL;
        size_t who_len, text_len = 0;
        if (get_str(r, e, openai ? "role" : "from", 1, line, &who, &who_len) < 0) goto done;
        int role;
        if (!strcmp(who, "system")) role = ROLE_SYSTEM;
        else if (!strcmp(who, "user") || (!openai && !strcmp(who, "human"))) role = ROLE_USER;
        else if (!strcmp(who, "assistant") || (!openai && (!strcmp(who, "gpt") || !strcmp(who, "chatgpt"))))
            role = ROLE_ASSISTANT;
        else { skip(r, SFT_SKIP_UNKNOWN_ROLE, line, who); goto done; }
        if (openai) {
            int c = openai_content(r, json_object_get(e, "content"), line, parts, &text, &text_len);
            if (c < 0) { rc = -1; goto done; }
            if (c == 1) goto done;
            if (c == 2) is_offset[n] = 1;
        } else if (get_str(r, e, "value", 1, line, &text, &text_len) < 0) {
            goto done;
        }
        if (role == ROLE_SYSTEM && n != 0) {
            skip(r, SFT_SKIP_NOT_ALTERNATING, line, "a system message after the first");
            goto done;
        }
        msg *m = msgs_grow(mb, n);
        if (!m) { rc = -1; goto done; }
        m[n++] = (msg){role, text, text_len};
    }
    msg *m = (msg *)mb->data;
    for (int k = 0; k < n; k++)
        if (is_offset[k]) m[k].text = parts->data + (uintptr_t)m[k].text;
    int c = n ? msgs_to_conv(r, m, n, line) : (skip(r, SFT_SKIP_NO_PAIR, line, NULL), 1);
    if (c < 0) rc = -1;
    else if (c == 0) rc = emit_conv(r, line);
done:
    free(is_offset);
    return rc;
}

/* ---- OASST ---- */

static int oa_add_row(reader *r, json_t *obj, const char *id, long line, int parent) {
    if (r->n_rows == r->cap_rows) {
        int cap = r->cap_rows ? 2 * r->cap_rows : 1024;
        oa_row *g = ll_realloc(r->rows, (size_t)cap * sizeof *g);
        if (!g) return -1;
        r->rows = g;
        r->cap_rows = cap;
    }
    json_t *rank = json_object_get(obj, "rank");
    json_t *del = json_object_get(obj, "deleted");
    const char *role = json_string_value(json_object_get(obj, "role"));
    r->rows[r->n_rows] = (oa_row){.obj = obj, .id = id, .line = line, .parent = parent,
                                  .first_child = -1, .next_sibling = -1, .last_child = -1,
                                  .is_assistant = role && !strcmp(role, "assistant"),
                                  .deleted = json_is_true(del),
                                  .rank = json_is_integer(rank) ? json_integer_value(rank) : LLONG_MAX};
    return r->n_rows++;
}

static void oa_link(reader *r, int child) {
    oa_row *c = &r->rows[child], *p = &r->rows[c->parent];
    if (p->last_child < 0) p->first_child = child;
    else r->rows[p->last_child].next_sibling = child;
    p->last_child = child;
}

/* Checks the fields of one message; 0 ok, 1 skipped (counted). */
static int oa_check(reader *r, json_t *obj, long line, int flat) {
    const char *s;
    size_t n;
    if (!json_is_object(obj)) { skip(r, SFT_SKIP_NOT_OBJECT, line, "message"); return 1; }
    if (get_str(r, obj, "text", 1, line, &s, &n) < 0) return 1;
    if (get_str(r, obj, "role", 1, line, &s, &n) < 0) return 1;
    if (strcmp(s, "prompter") && strcmp(s, "assistant")) { skip(r, SFT_SKIP_UNKNOWN_ROLE, line, s); return 1; }
    json_t *rank = json_object_get(obj, "rank"), *del = json_object_get(obj, "deleted");
    if (rank && !json_is_null(rank) && !json_is_integer(rank)) {
        skip(r, SFT_SKIP_WRONG_TYPE, line, "\"rank\" is not an integer");
        return 1;
    }
    if (del && !json_is_boolean(del)) { skip(r, SFT_SKIP_WRONG_TYPE, line, "\"deleted\" is not a boolean"); return 1; }
    if (flat) {
        if (get_str(r, obj, "message_id", 1, line, &s, &n) < 0) return 1;
        json_t *p = json_object_get(obj, "parent_id");
        if (!p) { skip(r, SFT_SKIP_MISSING_FIELD, line, "\"parent_id\""); return 1; }
        if (!json_is_null(p) && !json_is_string(p)) {
            skip(r, SFT_SKIP_WRONG_TYPE, line, "\"parent_id\" is not a string or null");
            return 1;
        }
    }
    return 0;
}

/* Keeps rec alive while rows point into it. */
static int oa_hold(reader *r, json_t *rec) {
    if (r->n_held == r->cap_held) {
        int cap = r->cap_held ? 2 * r->cap_held : 1024;
        json_t **g = ll_realloc(r->held, (size_t)cap * sizeof *g);
        if (!g) return -1;
        r->held = g;
        r->cap_held = cap;
    }
    r->held[r->n_held++] = json_incref(rec);
    return 0;
}

/* Follows the path rule from root and emits the conversation. */
static int oa_walk(reader *r, int root) {
    long line = r->rows[root].line;
    if (r->rows[root].deleted) return 0; /* counted when the row was read */
    if (r->rows[root].is_assistant) { skip(r, SFT_SKIP_NOT_ALTERNATING, line, "the root is an assistant message"); return 0; }
    sft_buf *mb = &r->scratch[2];
    mb->n = 0;
    int n = 0;
    for (int cur = root; cur >= 0;) {
        oa_row *row = &r->rows[cur];
        json_t *t = json_object_get(row->obj, "text");
        msg *m = msgs_grow(mb, n);
        if (!m) return -1;
        m[n++] = (msg){row->is_assistant ? ROLE_ASSISTANT : ROLE_USER, json_string_value(t), json_string_length(t)};
        int best = -1;
        for (int ch = row->first_child; ch >= 0; ch = r->rows[ch].next_sibling)
            if (!r->rows[ch].deleted && (best < 0 || r->rows[ch].rank < r->rows[best].rank)) best = ch;
        cur = best;
    }
    msg *m = (msg *)mb->data;
    if (n > 0 && m[n - 1].role == ROLE_USER) n--; /* end on an assistant message */
    int c = n ? msgs_to_conv(r, m, n, line) : (skip(r, SFT_SKIP_NO_PAIR, line, NULL), 1);
    return c < 0 ? -1 : c ? 0 : emit_conv(r, line);
}

/* Nested tree: adds node and its replies as rows; counts deleted nodes. */
static int oa_add_tree(reader *r, json_t *node, long line, int parent, int *bad) {
    if (oa_check(r, node, line, 0)) { *bad = 1; return 0; }
    int me = oa_add_row(r, node, NULL, line, parent);
    if (me < 0) return -1;
    if (parent >= 0) oa_link(r, me);
    if (r->rows[me].deleted) skip(r, SFT_SKIP_DELETED, line, NULL);
    json_t *rep = json_object_get(node, "replies");
    if (rep && !json_is_null(rep) && !json_is_array(rep)) {
        skip(r, SFT_SKIP_WRONG_TYPE, line, "\"replies\" is not an array");
        *bad = 1;
        return 0;
    }
    size_t k;
    json_t *child;
    json_array_foreach(rep, k, child) {
        if (oa_add_tree(r, child, line, me, bad)) return -1;
        if (*bad) return 0;
    }
    return 0;
}

static int read_oasst_tree(reader *r, json_t *rec, long line) {
    json_t *prompt = json_object_get(rec, "prompt");
    if (!prompt) { skip(r, SFT_SKIP_MISSING_FIELD, line, "\"prompt\""); return 0; }
    r->n_rows = 0;
    int bad = 0;
    if (oa_add_tree(r, prompt, line, -1, &bad)) return -1;
    if (bad) return 0;
    if (r->rows[0].deleted) return 0;
    return oa_walk(r, 0);
}

/* Flat rows are collected per file and walked at its end (oa_flat_finish). */
static int read_oasst_flat(reader *r, json_t *rec, long line) {
    if (oa_check(r, rec, line, 1)) return 0;
    if (oa_hold(r, rec)) return -1;
    if (oa_add_row(r, rec, json_string_value(json_object_get(rec, "message_id")), line, -1) < 0) return -1;
    return 0;
}

static uint64_t str_hash(const char *s) { return ll_fnv1a(LL_FNV_INIT, s, strlen(s)); }

static int oa_flat_finish(reader *r) {
    int n = r->n_rows, rc = 0;
    if (n == 0) return 0;
    size_t cap = 1;
    while (cap < 2 * (size_t)n) cap *= 2;
    int *slot = ll_malloc(cap * sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (int i = 0; i < n; i++) {
        size_t h = str_hash(r->rows[i].id) & (cap - 1);
        while (slot[h] >= 0 && strcmp(r->rows[slot[h]].id, r->rows[i].id)) h = (h + 1) & (cap - 1);
        if (slot[h] < 0) slot[h] = i; /* a repeated id: the first row wins */
    }
    for (int i = 0; i < n; i++) {
        oa_row *row = &r->rows[i];
        if (row->deleted) skip(r, SFT_SKIP_DELETED, row->line, NULL);
        const char *pid = json_string_value(json_object_get(row->obj, "parent_id"));
        if (!pid) continue;
        size_t h = str_hash(pid) & (cap - 1);
        while (slot[h] >= 0 && strcmp(r->rows[slot[h]].id, pid)) h = (h + 1) & (cap - 1);
        if (slot[h] < 0 || slot[h] == i) { skip(r, SFT_SKIP_ORPHAN, row->line, pid); continue; }
        row->parent = slot[h];
        oa_link(r, i);
    }
    free(slot);
    for (int i = 0; i < n && rc == 0; i++) {
        if (json_is_null(json_object_get(r->rows[i].obj, "parent_id"))) rc = oa_walk(r, i);
    }
    return rc;
}

static void oa_release(reader *r) {
    for (int i = 0; i < r->n_held; i++) json_decref(r->held[i]);
    r->n_held = 0;
    r->n_rows = 0;
}

/* ---- detection and dispatch ---- */

static int has(json_t *o, const char *k) { return json_object_get(o, k) != NULL; }

/* The format of a record's keys; AUTO if none fits. */
static sft_format detect(json_t *o, const char *bytes, size_t n) {
    if (has(o, "conversations")) return SFT_FORMAT_SHAREGPT;
    if (has(o, "messages")) return SFT_FORMAT_OPENAI;
    if (has(o, "chosen")) return SFT_FORMAT_HH_RLHF;
    if (has(o, "prompt") && json_is_object(json_object_get(o, "prompt"))) return SFT_FORMAT_OASST_TREE;
    if (has(o, "message_id") && has(o, "parent_id")) return SFT_FORMAT_OASST_FLAT;
    if (has(o, "question") && has(o, "answer")) return SFT_FORMAT_GSM8K;
    if (has(o, "instruction") && has(o, "instances")) return SFT_FORMAT_SELF_INSTRUCT;
    if (has(o, "instruction") && has(o, "response")) return SFT_FORMAT_GPTEACHER;
    if (has(o, "instruction") && has(o, "history")) return SFT_FORMAT_LIMA;
    if (has(o, "instruction") && has(o, "status")) return SFT_FORMAT_ALPACA_LIBRE;
    if (has(o, "instruction") && has(o, "output")) {
        if (find(bytes, n, "{{name}}", 8) || find(bytes, n, "{{author}}", 10)) return SFT_FORMAT_IDENTITY;
        return SFT_FORMAT_ALPACA;
    }
    return SFT_FORMAT_AUTO;
}

/* One record (array element or JSONL line). */
static int record(reader *r, json_t *rec, long line) {
    r->st->records++;
    if (!json_is_object(rec)) { skip(r, SFT_SKIP_NOT_OBJECT, line, NULL); return 0; }
    if (r->fmt == SFT_FORMAT_AUTO) {
        r->fmt = detect(rec, r->file_bytes, r->file_len);
        if (r->fmt == SFT_FORMAT_AUTO) {
            char keys[160] = "";
            const char *k;
            json_t *v;
            json_object_foreach(rec, k, v) {
                size_t used = strlen(keys);
                snprintf(keys + used, sizeof keys - used, "%s%s", used ? ", " : "", k);
            }
            ll_error("%s:%ld: cannot detect the dataset format from the keys {%s}; set format = in the mix",
                     r->file, line, keys);
            return -1;
        }
        r->st->detected = r->fmt;
    }
    switch (r->fmt) {
    case SFT_FORMAT_ALPACA: case SFT_FORMAT_GPTEACHER: case SFT_FORMAT_LIMA:
    case SFT_FORMAT_IDENTITY: case SFT_FORMAT_ALPACA_LIBRE:
        return read_alpaca(r, rec, line);
    case SFT_FORMAT_SELF_INSTRUCT: return read_self_instruct(r, rec, line);
    case SFT_FORMAT_GSM8K: return read_gsm8k(r, rec, line);
    case SFT_FORMAT_OASST_FLAT: return read_oasst_flat(r, rec, line);
    case SFT_FORMAT_OASST_TREE: return read_oasst_tree(r, rec, line);
    case SFT_FORMAT_HH_RLHF: return read_hh(r, rec, line);
    case SFT_FORMAT_SHAREGPT: case SFT_FORMAT_OPENAI: return read_chat(r, rec, line);
    default: return -1;
    }
}

/* Start offsets of the top-level elements of a valid JSON array text. */
static int array_element_lines(const char *s, size_t n, long **lines, size_t *count) {
    size_t cap = 1024, k = 0;
    long *out = ll_malloc(cap * sizeof *out);
    if (!out) return -1;
    long line = 1;
    int depth = 0, in_str = 0, want = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\n') line++;
        if (in_str) {
            if (ch == '\\') { if (i + 1 < n && s[i + 1] == '\n') line++; i++; }
            else if (ch == '"') in_str = 0;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') continue;
        if (depth == 1 && want && ch != ']') {
            if (k == cap) {
                long *g = ll_realloc(out, 2 * cap * sizeof *g);
                if (!g) { free(out); return -1; }
                out = g;
                cap *= 2;
            }
            out[k++] = line;
            want = 0;
        }
        if (ch == '"') in_str = 1;
        else if (ch == '[' || ch == '{') { depth++; if (depth == 1) want = 1; }
        else if (ch == ']' || ch == '}') depth--;
        else if (ch == ',' && depth == 1) want = 1;
    }
    *lines = out;
    *count = k;
    return 0;
}

static int read_file(reader *r, const char *path) {
    char *bytes = NULL;
    size_t n = 0;
    if (ll_read_file(path, &bytes, &n)) return -1;
    r->file = path;
    r->file_bytes = bytes;
    r->file_len = n;
    r->fmt = r->o->format;
    if (r->fmt != SFT_FORMAT_AUTO) r->st->detected = r->fmt;
    r->st->files++;
    int rc = 0;
    size_t first = 0;
    while (first < n && (bytes[first] == ' ' || bytes[first] == '\t' || bytes[first] == '\r' || bytes[first] == '\n'))
        first++;
    if (first < n && bytes[first] == '[') {
        json_error_t err;
        json_t *arr = json_loadb(bytes, n, JSON_ALLOW_NUL, &err);
        if (!arr) {
            ll_error("%s:%d:%d: not valid JSON: %s", path, err.line, err.column, err.text);
            free(bytes);
            return -1;
        }
        long *lines = NULL;
        size_t nl = 0;
        if (array_element_lines(bytes, n, &lines, &nl)) { json_decref(arr); free(bytes); return -1; }
        size_t k;
        json_t *rec;
        json_array_foreach(arr, k, rec) {
            if ((rc = record(r, rec, k < nl ? lines[k] : 0))) break;
        }
        if (rc == 0 && r->fmt == SFT_FORMAT_OASST_FLAT) rc = oa_flat_finish(r);
        oa_release(r);
        free(lines);
        json_decref(arr);
    } else {
        long line = 0;
        for (size_t i = 0; i < n && rc == 0;) {
            const char *nl = memchr(bytes + i, '\n', n - i);
            size_t end = nl ? (size_t)(nl - bytes) : n;
            line++;
            size_t b = i;
            while (b < end && (bytes[b] == ' ' || bytes[b] == '\t' || bytes[b] == '\r')) b++;
            if (b < end) {
                json_error_t err;
                json_t *rec = json_loadb(bytes + i, end - i, JSON_ALLOW_NUL, &err);
                if (!rec) {
                    r->st->records++;
                    char detail[200];
                    snprintf(detail, sizeof detail, "column %d: %s", err.column, err.text);
                    skip(r, SFT_SKIP_INVALID_JSON, line, detail);
                } else {
                    rc = record(r, rec, line);
                    json_decref(rec);
                }
            }
            i = end + 1;
        }
        if (rc == 0 && r->fmt == SFT_FORMAT_OASST_FLAT) rc = oa_flat_finish(r);
        oa_release(r);
    }
    free(bytes);
    return rc;
}

/* ---- paths ---- */

typedef struct {
    char **v;
    int n, cap;
} path_list;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

/* Collects data files under dir (recursively). */
static int collect(const char *dir, path_list *pl) {
    DIR *d = opendir(dir);
    if (!d) { ll_error("%s: cannot open folder: %s", dir, strerror(errno)); return -1; }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = ll_malloc(len);
        if (!p) { rc = -1; break; }
        snprintf(p, len, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb)) { ll_error("%s: %s", p, strerror(errno)); free(p); rc = -1; break; }
        if (S_ISDIR(sb.st_mode)) {
            rc = collect(p, pl);
            free(p);
        } else if (ends_with(p, ".json") || ends_with(p, ".jsonl")) {
            if (pl->n == pl->cap) {
                int cap = pl->cap ? 2 * pl->cap : 16;
                char **g = ll_realloc(pl->v, (size_t)cap * sizeof *g);
                if (!g) { free(p); rc = -1; break; }
                pl->v = g;
                pl->cap = cap;
            }
            pl->v[pl->n++] = p;
        } else {
            free(p);
        }
    }
    closedir(d);
    return rc;
}

/* Reads a file or folder; see sft.h. */
int sft_read_path(const char *path, const sft_read_options *o, sft_emit_fn emit, void *ctx,
                  sft_read_stats *stats) {
    struct stat sb;
    if (stat(path, &sb)) { ll_error("%s: cannot read: %s", path, strerror(errno)); return -1; }
    reader r = {.o = o, .emit = emit, .ctx = ctx, .st = stats};
    sft_conv_init(&r.conv);
    int rc = 0;
    if (S_ISDIR(sb.st_mode)) {
        path_list pl = {0};
        rc = collect(path, &pl);
        if (rc == 0 && pl.n == 0) {
            ll_error("%s: no *.json or *.jsonl files in this folder", path);
            rc = -1;
        }
        if (rc == 0) qsort(pl.v, (size_t)pl.n, sizeof *pl.v, cmp_str);
        for (int i = 0; i < pl.n && rc == 0; i++) rc = read_file(&r, pl.v[i]);
        for (int i = 0; i < pl.n; i++) free(pl.v[i]);
        free(pl.v);
    } else {
        rc = read_file(&r, path);
    }
    sft_conv_free(&r.conv);
    for (int i = 0; i < 3; i++) sft_buf_free(&r.scratch[i]);
    free(r.rows);
    free(r.held);
    return rc;
}
