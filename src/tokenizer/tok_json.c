/* tok_json.c: tokenizer.json, the Hugging Face `tokenizers` format.
 *
 * Written: model BPE (vocab through GPT-2's byte-to-unicode map, merges in
 * id order as "left right" strings, which every tokenizers version reads),
 * pre-tokenizer Sequence[Split(Regex, Isolated), ByteLevel(no prefix space,
 * no regex)], decoder ByteLevel, the specials as added_tokens (special: true,
 * and also in the vocab so HF gives them the same ids). Nothing else: HF's
 * deserializer refuses any top-level key it does not know, so the file
 * carries no llmpi metadata; its identity is recomputed from the content
 * (pattern, merges, specials: tok_core.c) on every load.
 * Read: a file is ours when it has exactly that shape (version "1.0", no
 * normalizer or post-processor, that pre-tokenizer, a ByteLevel decoder, a
 * BPE model whose ids 0..255 are the byte-level strings of the bytes, merge
 * i builds id 256+i, the specials follow the merges); every id, string and
 * count is checked against the rest, so a damaged, edited or foreign file is
 * refused with one line. Files written before (llmpi 0.x, with a top-level
 * "llmpi" object: format, version, vocab_size, identity) still load, and
 * their stored identity must equal the recomputed one.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "llmpi/util.h"
#include "tok_internal.h"

/* ---- writing ---- */

/* Appends the UTF-8 encoding of code point cp (< 0x800 here) to s. */
static size_t put_utf8(char *s, uint32_t cp) {
    if (cp < 0x80) { s[0] = (char)cp; return 1; }
    s[0] = (char)(0xc0 | (cp >> 6));
    s[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

/* The vocab string of token bytes: each byte through byte_to_unicode. */
static char *vocab_string(const uint32_t map[256], const char *bytes, size_t len) {
    char *s = ll_malloc(2 * len + 1);
    if (!s) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += put_utf8(s + n, map[(uint8_t)bytes[i]]);
    s[n] = '\0';
    return s;
}

/* json_object_set_new that reports failure (Jansson returns -1 on OOM or a
 * key that is not UTF-8). */
static int set(json_t *obj, const char *key, json_t *val) {
    if (!val || json_object_set_new(obj, key, val) != 0) return -1;
    return 0;
}

/* The ByteLevel step, shared by the pre-tokenizer and the decoder. */
static json_t *byte_level(void) {
    json_t *o = json_object();
    if (!o) return NULL;
    if (set(o, "type", json_string("ByteLevel")) || set(o, "add_prefix_space", json_false()) ||
        set(o, "trim_offsets", json_true()) || set(o, "use_regex", json_false())) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Builds the whole document; NULL with one line on failure. */
static json_t *to_json(const tokenizer *t, const char *path) {
    uint32_t map[256];
    tok_byte_to_unicode(map);
    json_t *root = json_object(), *added = json_array(), *pre = json_object(), *seq = json_array(),
           *split = json_object(), *pat = json_object(), *model = json_object(), *vocab = json_object(),
           *merges = json_array();
    int ok = root && added && pre && seq && split && pat && model && vocab && merges;
    char **strings = ll_calloc((size_t)t->vocab_size, sizeof *strings);
    if (!strings) goto fail;   /* ll_calloc printed the line */

    for (int id = 0; ok && id < t->vocab_size; id++) {
        size_t len;
        const char *b = tok_token_bytes(t, id, &len);
        /* specials are added tokens: HF looks them up by their raw content */
        strings[id] = id < 256 + t->n_merges ? vocab_string(map, b, len) : ll_strdup(t->specials[id - 256 - t->n_merges]);
        if (!strings[id]) goto fail;   /* printed */
        if (json_object_get(vocab, strings[id])) {
            ll_error("%s: tokens %lld and %d have the same vocabulary string '%s'", path,
                     json_integer_value(json_object_get(vocab, strings[id])), id, strings[id]);
            goto fail;
        }
        ok = set(vocab, strings[id], json_integer(id)) == 0;
    }
    for (int i = 0; ok && i < t->n_merges; i++) {
        const char *l = strings[t->merges[2 * i]], *r = strings[t->merges[2 * i + 1]];
        char *m = ll_malloc(strlen(l) + strlen(r) + 2);
        if (!m) goto fail;   /* printed */
        sprintf(m, "%s %s", l, r);
        ok = json_array_append_new(merges, json_string(m)) == 0;
        free(m);
    }
    for (int k = 0; ok && k < t->n_specials; k++) {
        json_t *a = json_object();
        ok = a && !set(a, "id", json_integer(256 + t->n_merges + k)) &&
             !set(a, "content", json_string(t->specials[k])) && !set(a, "single_word", json_false()) &&
             !set(a, "lstrip", json_false()) && !set(a, "rstrip", json_false()) &&
             !set(a, "normalized", json_false()) && !set(a, "special", json_true()) &&
             json_array_append_new(added, a) == 0;
        if (!ok && a) json_decref(a);
    }
    ok = ok && !set(pat, "Regex", json_string(t->pattern)) && !set(split, "type", json_string("Split")) &&
         !json_object_set(split, "pattern", pat) && !set(split, "behavior", json_string("Isolated")) &&
         !set(split, "invert", json_false()) && !json_array_append(seq, split) &&
         !json_array_append_new(seq, byte_level()) && !set(pre, "type", json_string("Sequence")) &&
         !json_object_set(pre, "pretokenizers", seq);
    ok = ok && !set(model, "type", json_string("BPE")) && !set(model, "dropout", json_null()) &&
         !set(model, "unk_token", json_null()) && !set(model, "continuing_subword_prefix", json_null()) &&
         !set(model, "end_of_word_suffix", json_null()) && !set(model, "fuse_unk", json_false()) &&
         !set(model, "byte_fallback", json_false()) && !set(model, "ignore_merges", json_false()) &&
         !json_object_set(model, "vocab", vocab) && !json_object_set(model, "merges", merges);
    ok = ok && !set(root, "version", json_string("1.0")) && !set(root, "truncation", json_null()) &&
         !set(root, "padding", json_null()) && !json_object_set(root, "added_tokens", added) &&
         !set(root, "normalizer", json_null()) && !json_object_set(root, "pre_tokenizer", pre) &&
         !set(root, "post_processor", json_null()) && !set(root, "decoder", byte_level()) &&
         !json_object_set(root, "model", model);
    if (!ok) { ll_error("%s: cannot build the JSON document (out of memory or a special token that is not UTF-8)", path); goto fail; }
    for (int id = 0; id < t->vocab_size; id++) free(strings[id]);
    free(strings);
    json_decref(added); json_decref(pre); json_decref(seq); json_decref(split); json_decref(pat);
    json_decref(model); json_decref(vocab); json_decref(merges);
    return root;
fail:
    if (strings)
        for (int id = 0; id < t->vocab_size; id++) free(strings[id]);
    free(strings);
    json_decref(root); json_decref(added); json_decref(pre); json_decref(seq); json_decref(split);
    json_decref(pat); json_decref(model); json_decref(vocab); json_decref(merges);
    return NULL;
}

/* See tokenizer.h. */
char *tok_to_json(const tokenizer *t, const char *what, size_t *len) {
    if (t->is_bytes) {
        ll_error("%s: the byte tokenizer has no file (name it as \"%s\")", what, TOK_BYTES_NAME);
        return NULL;
    }
    json_t *root = to_json(t, what);
    if (!root) return NULL;
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!text) { ll_error("%s: cannot serialise the tokenizer (out of memory)", what); return NULL; }
    size_t n = strlen(text);
    text[n] = '\n';   /* json_dumps leaves no final newline; the NUL goes one further */
    char *out = ll_realloc(text, n + 2);
    if (!out) { free(text); return NULL; }
    out[n + 1] = '\0';
    *len = n + 1;
    return out;
}

int tok_save(const tokenizer *t, const char *path) {
    size_t n;
    char *text = tok_to_json(t, path, &n);
    if (!text) return -1;
    int rc = ll_write_file_atomic(path, text, n);
    free(text);
    return rc;
}

/* ---- reading ---- */

typedef struct {
    const char *path;
    uint8_t unicode_to_byte[512];   /* the map's image is below U+0144 */
    uint8_t in_image[512];
} reader;

/* One line naming the file and the JSON place. */
#define FAIL(r, ...) do { char msg_[512]; snprintf(msg_, sizeof msg_, __VA_ARGS__); \
    ll_error("%s: %s", (r)->path, msg_); goto fail; } while (0)

/* Decodes a vocab string back to bytes; -1 if a character is outside the
 * byte-level alphabet. out must hold strlen(s) bytes. */
static long vocab_bytes(const reader *r, const char *s, uint8_t *out) {
    size_t n = 0;
    for (const uint8_t *p = (const uint8_t *)s; *p;) {
        uint32_t cp;
        if (p[0] < 0x80) { cp = p[0]; p += 1; }
        else if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) { cp = ((uint32_t)(p[0] & 0x1f) << 6) | (p[1] & 0x3f); p += 2; }
        else return -1;
        if (cp >= 512 || !r->in_image[cp]) return -1;
        out[n++] = r->unicode_to_byte[cp];
    }
    return (long)n;
}

/* A string member, or NULL. */
static const char *str_of(json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

/* Whether obj[key] is JSON false (absent counts as false when allow_absent). */
static int is_false(json_t *obj, const char *key, int allow_absent) {
    json_t *v = json_object_get(obj, key);
    return v ? json_is_false(v) : allow_absent;
}

/* Whether obj[key] is null or absent. */
static int is_null(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return !v || json_is_null(v);
}

/* See tokenizer.h. */
static tokenizer *load(const char *path, const char *data, size_t len);

tokenizer *tok_load(const char *path_in) {
    char path[4096];
    struct stat st;
    if (stat(path_in, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (snprintf(path, sizeof path, "%s/tokenizer.json", path_in) >= (int)sizeof path) {
            ll_error("%s: path too long", path_in);
            return NULL;
        }
    } else if (snprintf(path, sizeof path, "%s", path_in) >= (int)sizeof path) {
        ll_error("%s: path too long", path_in);
        return NULL;
    }
    if (strcmp(path_in, TOK_BYTES_NAME) == 0) return tok_bytes_new();
    return load(path, NULL, 0);
}

tokenizer *tok_load_buffer(const char *name, const char *data, size_t len) { return load(name, data, len); }

/* Parses a tokenizer.json from data[0..len) when data is non-NULL, else
 * from the file at path; path names it in every error line. */
static tokenizer *load(const char *path, const char *data, size_t len) {
    reader rd = {.path = path};
    reader *r = &rd;
    uint32_t map[256];
    tok_byte_to_unicode(map);
    for (int b = 0; b < 256; b++) { r->unicode_to_byte[map[b]] = (uint8_t)b; r->in_image[map[b]] = 1; }

    json_t *root = NULL;
    int32_t *merges = NULL;
    const char **specials = NULL;
    char *joined = NULL;
    tokenizer *t = NULL;
    char **id_string = NULL;
    int vocab_size = 0;

    json_error_t jerr;
    if (data) {
        root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) { ll_error("%s: cannot open tokenizer: %s", path, strerror(errno)); return NULL; }
        root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
        fclose(f);
    }
    if (!root) FAIL(r, "line %d: not valid JSON: %s", jerr.line, jerr.text);
    if (!json_is_object(root)) FAIL(r, "not a tokenizer.json (the top level is not an object)");
    /* files written before HF compatibility carry an "llmpi" object */
    json_t *meta = json_object_get(root, "llmpi");
    if (meta) {
        if (!json_is_object(meta) || !str_of(meta, "format") || strcmp(str_of(meta, "format"), TOK_FORMAT))
            FAIL(r, "llmpi: expected an object with format \"%s\"", TOK_FORMAT);
        if (json_integer_value(json_object_get(meta, "version")) != TOK_VERSION)
            FAIL(r, "llmpi.version is not %d (written by another llmpi version)", TOK_VERSION);
    }
    if (!str_of(root, "version") || strcmp(str_of(root, "version"), "1.0"))
        FAIL(r, "version: expected \"1.0\"");
    if (!is_null(root, "normalizer") || !is_null(root, "post_processor"))
        FAIL(r, "normalizer/post_processor: expected null (this file was changed after llmpi wrote it)");

    json_t *pre = json_object_get(root, "pre_tokenizer");
    json_t *seq = json_object_get(pre, "pretokenizers");
    if (!str_of(pre, "type") || strcmp(str_of(pre, "type"), "Sequence") || !json_is_array(seq) ||
        json_array_size(seq) != 2)
        FAIL(r, "pre_tokenizer: expected a Sequence of Split and ByteLevel");
    json_t *split = json_array_get(seq, 0), *bl = json_array_get(seq, 1);
    const char *pattern = str_of(json_object_get(split, "pattern"), "Regex");
    if (!str_of(split, "type") || strcmp(str_of(split, "type"), "Split") || !pattern ||
        !str_of(split, "behavior") || strcmp(str_of(split, "behavior"), "Isolated") || !is_false(split, "invert", 1))
        FAIL(r, "pre_tokenizer.pretokenizers[0]: expected Split with a Regex pattern, behavior Isolated");
    if (!str_of(bl, "type") || strcmp(str_of(bl, "type"), "ByteLevel") || !is_false(bl, "add_prefix_space", 0) ||
        !is_false(bl, "use_regex", 0))
        FAIL(r, "pre_tokenizer.pretokenizers[1]: expected ByteLevel without prefix space or regex");
    json_t *decoder = json_object_get(root, "decoder");
    if (!str_of(decoder, "type") || strcmp(str_of(decoder, "type"), "ByteLevel"))
        FAIL(r, "decoder: expected ByteLevel");

    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab"), *jmerges = json_object_get(model, "merges");
    if (!str_of(model, "type") || strcmp(str_of(model, "type"), "BPE") || !json_is_object(vocab) ||
        !json_is_array(jmerges))
        FAIL(r, "model: expected type BPE with a vocab object and a merges array");
    if (!is_null(model, "continuing_subword_prefix") || !is_null(model, "end_of_word_suffix") ||
        !is_null(model, "dropout") || !is_false(model, "byte_fallback", 1) || !is_false(model, "ignore_merges", 1))
        FAIL(r, "model: dropout, prefixes, suffixes, byte_fallback and ignore_merges must be off");
    json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_array(added) || json_array_size(added) < 1 || json_array_size(added) > TOK_MAX_SPECIALS)
        FAIL(r, "added_tokens: expected 1 to %d special tokens", TOK_MAX_SPECIALS);

    size_t n_vocab = json_object_size(vocab), n_merges = json_array_size(jmerges), n_specials = json_array_size(added);
    if (n_vocab > TOK_MAX_VOCAB || n_vocab != 256 + n_merges + n_specials)
        FAIL(r, "model.vocab has %zu entries, expected 256 + %zu merges + %zu specials", n_vocab, n_merges, n_specials);
    vocab_size = (int)n_vocab;
    if (meta && json_integer_value(json_object_get(meta, "vocab_size")) != vocab_size)
        FAIL(r, "llmpi.vocab_size disagrees with model.vocab (%d entries)", vocab_size);

    /* id -> vocab string, every id exactly once */
    id_string = ll_calloc(n_vocab, sizeof *id_string);
    if (!id_string) goto fail;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= vocab_size)
            FAIL(r, "model.vocab[\"%.40s\"]: id is not an integer in [0, %d)", key, vocab_size);
        int id = (int)json_integer_value(val);
        if (id_string[id]) FAIL(r, "model.vocab: id %d appears twice", id);
        id_string[id] = (char *)key;
    }
    /* A byte's string is one character of the byte-level alphabet, at most 2
     * UTF-8 bytes: anything longer is refused before vocab_bytes, whose
     * output must hold strlen(s) bytes. */
    for (int b = 0; b < 256; b++) {
        uint8_t got[2];
        size_t len = strlen(id_string[b]);
        if (len < 1 || len > sizeof got || vocab_bytes(r, id_string[b], got) != 1 || got[0] != b) {
            char shown[41];   /* the key's start, control bytes as '?': the error stays one line */
            size_t n = len < sizeof shown - 1 ? len : sizeof shown - 1;
            for (size_t i = 0; i < n; i++)
                shown[i] = (unsigned char)id_string[b][i] < 0x20 || id_string[b][i] == 0x7f ? '?' : id_string[b][i];
            shown[n] = '\0';
            FAIL(r, "model.vocab[\"%s\"%s] (%zu bytes): id %d is not the byte-level string of byte %d", shown,
                 len > n ? "..." : "", len, b, b);
        }
    }

    merges = ll_malloc((2 * n_merges + 1) * sizeof *merges);
    if (!merges) goto fail;
    for (size_t i = 0; i < n_merges; i++) {
        json_t *m = json_array_get(jmerges, i);
        const char *left, *right;
        size_t left_len;
        if (json_is_string(m)) {
            /* byte-level strings hold no space: the one space separates */
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) FAIL(r, "model.merges[%zu]: expected \"left right\"", i);
            left = s;
            left_len = (size_t)(sp - s);
            right = sp + 1;
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            left = json_string_value(json_array_get(m, 0));
            left_len = strlen(left);
            right = json_string_value(json_array_get(m, 1));
        } else {
            FAIL(r, "model.merges[%zu]: expected \"left right\" or [left, right]", i);
        }
        size_t right_len = strlen(right);
        joined = ll_malloc(left_len + right_len + 1);
        if (!joined) goto fail;
        memcpy(joined, left, left_len);
        joined[left_len] = '\0';
        json_t *jl = json_object_get(vocab, joined), *jr = json_object_get(vocab, right);
        if (!jl || !jr) FAIL(r, "model.merges[%zu]: '%.40s' or '%.40s' is not in the vocab", i, joined, right);
        int64_t l = json_integer_value(jl), rr = json_integer_value(jr);
        if (l >= 256 + (int64_t)i || rr >= 256 + (int64_t)i)
            FAIL(r, "model.merges[%zu]: uses a token made by a later merge", i);
        memcpy(joined + left_len, right, right_len + 1);
        json_t *jm = json_object_get(vocab, joined);
        if (!jm || json_integer_value(jm) != 256 + (int64_t)i)
            FAIL(r, "model.merges[%zu]: '%.40s' must have id %zu in the vocab", i, joined, 256 + i);
        free(joined);
        joined = NULL;
        merges[2 * i] = (int32_t)l;
        merges[2 * i + 1] = (int32_t)rr;
    }

    specials = ll_calloc(n_specials, sizeof *specials);
    if (!specials) goto fail;
    for (size_t k = 0; k < n_specials; k++) {
        json_t *a = json_array_get(added, k);
        const char *content = str_of(a, "content");
        int64_t id = json_integer_value(json_object_get(a, "id"));
        if (!content || id != 256 + (int64_t)(n_merges + k) || !json_is_true(json_object_get(a, "special")))
            FAIL(r, "added_tokens[%zu]: expected a special token with id %zu", k, 256 + n_merges + k);
        if (!id_string[id] || strcmp(id_string[id], content))
            FAIL(r, "added_tokens[%zu]: '%s' is not model.vocab entry %lld", k, content, (long long)id);
        specials[k] = content;
    }
    /* the merged strings were checked above; their ids now decode to bytes
     * only through the merges, so tok_build recomputes them */
    t = tok_build(pattern, merges, (int)n_merges, specials, (int)n_specials, path);
    if (!t) goto fail;
    const char *stored = meta ? str_of(meta, "identity") : t->identity;
    if (!stored || strcmp(stored, t->identity))
        FAIL(r, "llmpi.identity '%s' does not match the content (%s): the file was changed or damaged",
             stored ? stored : "(missing)", t->identity);
    free(merges); free(specials); free(joined); free(id_string);
    json_decref(root);
    return t;
fail:
    tok_free(t);
    free(merges); free(specials); free(joined); free(id_string);
    json_decref(root);
    return NULL;
}
