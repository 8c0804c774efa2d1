/* sft_render.c: the `llmpi-chat-1` chat template, rendered straight to token
 * ids and a loss mask.
 *
 *   [<|system|> S <|end|>] (<|user|> U <|end|> <|assistant|> A <|end|>)+ <|endoftext|>
 *
 * Invariants:
 * - Every text is normalised (sft_text_normalise) and encoded on its own with
 *   allow_special = 0, so "<|end|>" typed in data is ordinary text and a
 *   token never spans two texts or a text and a control token.
 * - mask[i] = 1 exactly for the tokens of an assistant text and the <|end|>
 *   right after it; everything else (system, user, role tokens, the final
 *   <|endoftext|>) is 0. ids and mask always have the same length.
 */
#include <stdlib.h>
#include <string.h>

#include "llmpi/sft.h"
#include "llmpi/util.h"
#include "sft_internal.h"

/* The template as Jinja, for other runtimes (GGUF tokenizer.chat_template,
 * HF tokenizer_config.json): renders what sft_render encodes, texts
 * normalised as sft_text_normalise does for CRLF and surrounding blanks, a
 * blank system text giving no system block; <|assistant|> closes the prompt
 * with add_generation_prompt, else <|endoftext|> closes the document. */
static const char template_jinja[] =
    "{%- for message in messages -%}"
    "{%- set content = message['content'] | replace('\\r\\n', '\\n') | trim -%}"
    "{%- if message['role'] == 'system' -%}"
    "{%- if content -%}<|system|>{{ content }}<|end|>{%- endif -%}"
    "{%- elif message['role'] == 'user' -%}<|user|>{{ content }}<|end|>"
    "{%- elif message['role'] == 'assistant' -%}<|assistant|>{{ content }}<|end|>"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- else -%}<|endoftext|>{%- endif -%}";

const char *sft_template_jinja(void) { return template_jinja; }

/* Looks the five specials up; one error line naming what is missing. */
int sft_template_init(sft_template *t, const tokenizer *tok) {
    static const char *const names[5] = {TOK_SYSTEM, TOK_USER, TOK_ASSISTANT, TOK_END, TOK_EOT};
    int32_t ids[5];
    char missing[128] = "";
    for (int i = 0; i < 5; i++) {
        ids[i] = tok_special_id(tok, names[i]);
        if (ids[i] < 0) {
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof missing - used, "%s%s", used ? " " : "", names[i]);
        }
    }
    if (missing[0]) {
        ll_error("tokenizer %s: lacks the chat special token(s) %s that template %s needs",
                 tok_identity(tok), missing, SFT_TEMPLATE);
        return -1;
    }
    *t = (sft_template){tok, ids[0], ids[1], ids[2], ids[3], ids[4]};
    return 0;
}

void sft_rendered_free(sft_rendered *r) {
    tok_ids_free(&r->ids);
    free(r->mask);
    memset(r, 0, sizeof *r);
}

/* Appends one control token. */
static int put_id(sft_rendered *r, int32_t id) {
    if (r->ids.n == r->ids.cap) {
        size_t cap = r->ids.cap ? 2 * r->ids.cap : 256;
        int32_t *g = ll_realloc(r->ids.ids, cap * sizeof *g);
        if (!g) return -1;
        r->ids.ids = g;
        r->ids.cap = cap;
    }
    r->ids.ids[r->ids.n++] = id;
    return 0;
}

/* Makes the mask as long as the ids, the new part set to value. */
static int mask_to(sft_rendered *r, size_t from, uint8_t value) {
    if (r->mask_cap < r->ids.n) {
        size_t cap = r->mask_cap ? r->mask_cap : 256;
        while (cap < r->ids.n) cap *= 2;
        uint8_t *g = ll_realloc(r->mask, cap);
        if (!g) return -1;
        r->mask = g;
        r->mask_cap = cap;
    }
    memset(r->mask + from, value, r->ids.n - from);
    return 0;
}

/* Normalises and encodes one text (no specials); mask value for its tokens. */
static int put_text(const sft_template *t, sft_buf *norm, const char *text, size_t len, sft_rendered *r,
                    uint8_t value) {
    norm->n = 0;
    if (sft_buf_reserve(norm, len)) return -1;
    size_t n = sft_text_normalise(text, len, norm->data);
    size_t from = r->ids.n;
    if (n && tok_encode(t->tok, norm->data, n, 0, &r->ids)) return -1;
    return mask_to(r, from, value);
}

/* Appends one control token with its mask value. */
static int put_special(sft_rendered *r, int32_t id, uint8_t value) {
    size_t from = r->ids.n;
    if (put_id(r, id)) return -1;
    return mask_to(r, from, value);
}

/* Renders c; see sft.h. */
int sft_render(const sft_template *t, const sft_conv *c, const char *default_system, sft_rendered *r) {
    r->ids.n = 0;
    sft_buf norm = {0};
    int rc = -1;
    const char *sys = c->system.text;
    size_t sys_len = c->system.len;
    if (!sys || sft_text_blank(sys, sys_len)) {
        sys = default_system;
        sys_len = sys ? strlen(sys) : 0;
    }
    if (sys && !sft_text_blank(sys, sys_len)) {
        if (put_special(r, t->id_system, 0) || put_text(t, &norm, sys, sys_len, r, 0) ||
            put_special(r, t->id_end, 0))
            goto done;
    }
    for (int i = 0; i < c->n_turns; i++) {
        if (put_special(r, t->id_user, 0) || put_text(t, &norm, c->user[i].text, c->user[i].len, r, 0) ||
            put_special(r, t->id_end, 0) || put_special(r, t->id_assistant, 0) ||
            put_text(t, &norm, c->assistant[i].text, c->assistant[i].len, r, 1) ||
            put_special(r, t->id_end, 1))
            goto done;
    }
    if (put_special(r, t->id_eot, 0)) goto done;
    rc = 0;
done:
    sft_buf_free(&norm);
    return rc;
}
