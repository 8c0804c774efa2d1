/* chat.c: a conversation with the model in the `llmpi-chat-1` template.
 *
 *   [<|system|> S <|end|>] (<|user|> U <|end|> <|assistant|> A <|end|>)*
 *
 * Invariants:
 * - conv holds the conversation's ids: the system segment (sys_len ids, the
 *   template's rendering of the system text), then whole turns, turn i
 *   starting at turn_start[i]. A user segment is rendered by sft_render (the
 *   training template), so the model sees what SFT showed it; an answer is
 *   kept as the ids the model drew (never re-tokenised), closed by <|end|>,
 *   also when it was cut or cancelled.
 * - The system segment is never dropped. When the context would not leave
 *   room for an answer, or fills up during one, the oldest whole turns go
 *   (until a quarter of the context is free, or none is left) and the rest is
 *   prefilled again; the turn being answered is never cut, so a full context
 *   with no older turn ends the answer (finish "length").
 * - The cache is synchronised with conv + the new user segment by their
 *   common prefix (infer_ctx_sync): a plain next turn prefills only the new
 *   ids; /reset keeps the system segment cached.
 * - Answer k (0-based, counted since the chat was made) draws with seed
 *   opt.seed + k: the same messages and options give the same answers.
 */
#include <stdlib.h>
#include <string.h>

#include "llmpi/infer.h"
#include "llmpi/sft.h"

struct infer_chat {
    infer_model *im;
    sft_template tpl;
    infer_ctx ctx;
    infer_options opt;
    tok_ids conv;            /* system segment, then whole turns */
    size_t sys_len;
    size_t *turn_start;      /* n_turns entries */
    int n_turns, cap_turns;
    size_t cur_start;        /* during an answer: where its turn starts in ctx.ids */
    long answers, turns, turns_dropped;
    infer_chat_stats totals; /* prompt/generated tokens and times summed */
    double prefill_s, decode_s;
    size_t n_prefill, n_decode;
};

/* Appends ids[0..n) to v. */
static int ids_append(tok_ids *v, const int32_t *ids, size_t n) {
    if (v->n + n > v->cap) {
        size_t cap = v->cap ? v->cap : 256;
        while (cap < v->n + n) cap *= 2;
        int32_t *g = ll_realloc(v->ids, cap * sizeof *g);
        if (!g) return -1;
        v->ids = g;
        v->cap = cap;
    }
    if (n) memcpy(v->ids + v->n, ids, n * sizeof *ids);
    v->n += n;
    return 0;
}

/* The template's segment for a system text (system != NULL) or a user
 * message (user != NULL) into out: sft_render of a conversation holding
 * just that, without what closes the conversation (the <|endoftext|>, and
 * for a user message the empty answer's <|end|>), so a user segment ends
 * with the <|assistant|> that opens the answer. */
static int render_segment(const infer_chat *ch, const char *system, const char *user, size_t user_len,
                          tok_ids *out) {
    sft_conv conv;
    sft_conv_init(&conv);
    sft_rendered r = {0};
    int rc = -1;
    if (system && sft_conv_set_system(&conv, system, strlen(system)) != 0) goto done;
    if (user && sft_conv_add_turn(&conv, user, user_len, "", 0) != 0) goto done;
    if (sft_render(&ch->tpl, &conv, NULL, &r) != 0) goto done;
    size_t tail = user ? 2 : 1;
    out->n = 0;
    rc = ids_append(out, r.ids.ids, r.ids.n - tail);
done:
    sft_rendered_free(&r);
    sft_conv_free(&conv);
    return rc;
}

/* Drops turns [0, k) from ids[0..*n) (whose turn starts are ch->turn_start,
 * then the turn being answered at ch->cur_start), moving what follows. */
static void drop_turns(infer_chat *ch, int32_t *ids, size_t *n, int k) {
    size_t from = ch->turn_start[0], to = k < ch->n_turns ? ch->turn_start[k] : ch->cur_start, gap = to - from;
    memmove(ids + from, ids + to, (*n - to) * sizeof *ids);
    *n -= gap;
    for (int i = k; i < ch->n_turns; i++) ch->turn_start[i - k] = ch->turn_start[i] - gap;
    ch->n_turns -= k;
    ch->cur_start -= gap;
    ch->turns_dropped += k;
}

/* How many oldest turns must go so that ids[0..n) leaves `room` free. */
static int turns_to_drop(const infer_chat *ch, size_t n, size_t room) {
    size_t cap = (size_t)ch->ctx.kv.cap;
    int k = 0;
    while (k < ch->n_turns && n + room > cap) {
        size_t end = k + 1 < ch->n_turns ? ch->turn_start[k + 1] : ch->cur_start;
        n -= end - ch->turn_start[k];
        k++;
    }
    return k;
}

/* The chat's shift (infer_shift_fn) during an answer: drop the oldest whole
 * turns until a quarter of the context is free. */
static int chat_shift(void *ctx, int32_t *ids, size_t *n) {
    infer_chat *ch = ctx;
    if (ch->n_turns == 0) return 1;
    size_t room = (size_t)ch->ctx.kv.cap / 4;
    int k = turns_to_drop(ch, *n, room ? room : 1);
    drop_turns(ch, ids, n, k ? k : 1);
    return 0;
}

/* See infer.h. */
infer_chat *infer_chat_new(infer_model *im, const char *system) {
    infer_chat *ch = ll_calloc(1, sizeof *ch);
    if (!ch) return NULL;
    ch->im = im;
    if (sft_template_init(&ch->tpl, im->tok) != 0 || infer_ctx_init(&ch->ctx, im) != 0) {
        infer_chat_free(ch);
        return NULL;
    }
    infer_options_default(&ch->opt, im);
    ch->opt.max_tokens = 512;
    if (infer_chat_set_system(ch, system) != 0) { infer_chat_free(ch); return NULL; }
    return ch;
}

/* See infer.h. */
void infer_chat_free(infer_chat *ch) {
    if (!ch) return;
    infer_ctx_free(&ch->ctx);
    tok_ids_free(&ch->conv);
    free(ch->turn_start);
    free(ch);
}

/* See infer.h. */
infer_options *infer_chat_options(infer_chat *ch) { return &ch->opt; }

/* See infer.h. */
void infer_chat_reset(infer_chat *ch) {
    ch->conv.n = ch->sys_len;
    ch->n_turns = 0;
    ch->turns = 0;
    ch->turns_dropped = 0;
}

/* See infer.h. */
int infer_chat_set_system(infer_chat *ch, const char *system) {
    tok_ids seg = {0};
    int blank = !system || sft_text_blank(system, strlen(system));
    if (!blank && render_segment(ch, system, NULL, 0, &seg) != 0) { tok_ids_free(&seg); return -1; }
    size_t cap = (size_t)ch->ctx.kv.cap;
    if (seg.n > cap / 2) {
        ll_error("chat: the system text is %zu tokens; at most %zu (half the context of %zu) are allowed", seg.n,
                 cap / 2, cap);
        tok_ids_free(&seg);
        return -1;
    }
    ch->conv.n = 0;
    int rc = ids_append(&ch->conv, seg.ids, seg.n);
    tok_ids_free(&seg);
    ch->sys_len = ch->conv.n;
    infer_chat_reset(ch);
    return rc;
}

/* See infer.h. */
int infer_chat_send(infer_chat *ch, const char *user, size_t len, infer_token_fn on_text, void *ctx,
                    infer_result *res) {
    infer_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    if (!user || sft_text_blank(user, len)) { ll_error("chat: empty message"); return -1; }
    size_t cap = (size_t)ch->ctx.kv.cap;
    tok_ids seg = {0}, answer = {0};
    int rc = -1;
    if (render_segment(ch, NULL, user, len, &seg) != 0) goto done;
    if (ch->sys_len + seg.n + 1 > cap) {
        ll_error("chat: the message is %zu tokens; with the system text (%zu) the context of %zu leaves no room "
                 "for an answer", seg.n, ch->sys_len, cap);
        goto done;
    }
    if (ch->turn_start == NULL || ch->n_turns == ch->cap_turns) {
        int c2 = ch->cap_turns ? 2 * ch->cap_turns : 16;
        size_t *g = ll_realloc(ch->turn_start, (size_t)c2 * sizeof *g);
        if (!g) goto done;
        ch->turn_start = g;
        ch->cap_turns = c2;
    }
    /* room for the answer: what it may use, at most a quarter of the context */
    size_t room = (size_t)(ch->opt.max_tokens < (long)cap / 4 ? ch->opt.max_tokens : (long)cap / 4);
    ch->cur_start = ch->conv.n;
    int k = turns_to_drop(ch, ch->conv.n + seg.n, room ? room : 1);
    if (k) drop_turns(ch, ch->conv.ids, &ch->conv.n, k);
    size_t start = ch->conv.n;
    if (ids_append(&ch->conv, seg.ids, seg.n) != 0) goto done;
    ch->ctx.res = res;
    rc = infer_ctx_sync(&ch->ctx, ch->conv.ids, ch->conv.n);
    ch->ctx.res = NULL;
    res->n_prompt = ch->conv.n;   /* the context the answer continues (only new ids were fed) */
    ch->conv.n = start;           /* the turn joins conv once answered */
    if (rc != 0) goto done;
    rc = -1;
    infer_options o = ch->opt;
    o.seed = ch->opt.seed + (uint64_t)ch->answers;
    ch->cur_start = start;
    if (infer_ctx_generate(&ch->ctx, &o, chat_shift, ch, on_text, ctx, &answer, res) != 0) {
        infer_chat_reset(ch);   /* a shift may have moved turns: start over rather than keep a bad state */
        goto done;
    }
    /* the conversation: what the cache kept before this turn, the turn, the answer, <|end|> */
    ch->conv.n = 0;
    int32_t end = ch->tpl.id_end;
    if (ids_append(&ch->conv, ch->ctx.ids, ch->cur_start) != 0 || ids_append(&ch->conv, seg.ids, seg.n) != 0 ||
        ids_append(&ch->conv, answer.ids, answer.n) != 0 || ids_append(&ch->conv, &end, 1) != 0)
        goto done;
    ch->turn_start[ch->n_turns++] = ch->cur_start;
    ch->answers++;
    ch->turns++;
    ch->totals.prompt_tokens += res->n_prompt;
    ch->totals.generated_tokens += res->n_generated;
    ch->prefill_s += res->prefill_s;
    ch->decode_s += res->decode_s;
    ch->n_prefill += res->n_prefill;
    ch->n_decode += res->n_decode;
    ch->totals.last = *res;
    rc = 0;
done:
    tok_ids_free(&seg);
    tok_ids_free(&answer);
    return rc;
}

/* See infer.h. */
void infer_chat_get_stats(const infer_chat *ch, infer_chat_stats *st) {
    *st = ch->totals;
    st->turns = ch->turns;
    st->turns_dropped = ch->turns_dropped;
    st->context_used = ch->conv.n;
    st->context_size = (size_t)ch->ctx.kv.cap;
    st->prefill_tok_s = ch->prefill_s > 0 ? (double)ch->n_prefill / ch->prefill_s : 0.0;
    st->decode_tok_s = ch->decode_s > 0 ? (double)ch->n_decode / ch->decode_s : 0.0;
}

/* See infer.h. */
const int32_t *infer_chat_context(const infer_chat *ch, size_t *n) {
    *n = ch->conv.n;
    return ch->conv.ids;
}
