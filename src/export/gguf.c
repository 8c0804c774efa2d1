/* gguf.c: a checkpoint as a GGUF file (version 3) that llama.cpp's "gpt2"
 * architecture loads.
 *
 * File: "GGUF", version 3, tensor count, key-value count (little-endian,
 * u32/u64); the key-values; the tensor infos (name, dims in ggml order:
 * ne[0] the innermost, so a row-major PyTorch [out, in] weight is {in, out}
 * and its bytes go out unchanged, type, offset from the data start); zero
 * padding to general.alignment (32); the tensor data, each tensor starting
 * at a multiple of 32 (zero padding between).
 *
 * Invariants:
 * - Tensor names and shapes are llama.cpp's for gpt2 (token_embd,
 *   position_embd, blk.N.{attn_norm,attn_qkv,attn_output,ffn_norm,ffn_up,
 *   ffn_down}, output_norm, weight and bias); the LM head is tied, so no
 *   "output.weight" (llama.cpp then uses token_embd).
 * - 1-D tensors (norms, biases) are always f32; 2-D weights take the chosen
 *   type; q8_0 needs rows (ne[0]) in multiples of 32, else that weight is f16.
 * - The tokenizer inside gives llama.cpp the ids tok_encode gives: token i's
 *   string is its bytes through GPT-2's byte-to-unicode map (what llama.cpp's
 *   gpt2 BPE decodes), merge k (id 256 + k) is merge rank k, specials are
 *   CONTROL tokens with their plain text, pre-tokenizer "llama-bpe" (whose
 *   regex is our GPT-4 split pattern, TOK_DEFAULT_PATTERN; any other
 *   pattern is refused), no BOS/EOS added.
 * - Output: temporary name, fsync, rename (ll_commit_file); on any failure
 *   the temporary file is removed and out_path is untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpi/gguf.h"
#include "llmpi/infer.h"
#include "llmpi/tokenizer.h"
#include "llmpi/sft.h"
#include "llmpi/util.h"
#include "../model/gpt_kernels.h"   /* GPT_LN_EPS */

#define GGUF_ALIGN 32
#define GGUF_VERSION 3
/* gguf_type of metadata values */
enum { KV_UINT32 = 4, KV_INT32 = 5, KV_FLOAT32 = 6, KV_BOOL = 7, KV_STRING = 8, KV_ARRAY = 9 };
/* ggml_type of tensors */
enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q8_0 = 8 };
/* llama_token_type */
enum { TOKEN_NORMAL = 1, TOKEN_CONTROL = 3 };
#define Q8_BLOCK 32
#define Q8_BYTES 34                 /* fp16 scale + 32 int8 */

/* See gguf.h. */
int gguf_parse_type(const char *s, gguf_out_type *out) {
    if (!strcmp(s, "f32")) *out = GGUF_OUT_F32;
    else if (!strcmp(s, "f16")) *out = GGUF_OUT_F16;
    else if (!strcmp(s, "q8_0")) *out = GGUF_OUT_Q8_0;
    else { ll_error("export: --type '%s': expected f32, f16 or q8_0", s); return -1; }
    return 0;
}

/* See gguf.h. */
const char *gguf_type_name(gguf_out_type t) {
    return t == GGUF_OUT_F16 ? "f16" : t == GGUF_OUT_Q8_0 ? "q8_0" : "f32";
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* See gguf.h. The branch-free conversion of the FP16 library that ggml's
 * scalar fallback uses: the same bits as F16C's round-to-nearest-even. */
uint16_t gguf_fp32_to_fp16(float f) {
    const float scale_to_inf = 0x1.0p+112f, scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = f32_bits(f), shl1_w = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = f32_from_bits((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = f32_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u, mantissa_bits = bits & 0x00000FFFu;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : exp_bits + mantissa_bits));
}

/* See gguf.h. ggml's quantize_row_q8_0_ref, value for value. */
void gguf_quantize_q8_0(const float *x, size_t n, uint8_t *out) {
    for (size_t b = 0; b < n / Q8_BLOCK; b++, x += Q8_BLOCK, out += Q8_BYTES) {
        float amax = 0.0f;
        for (int j = 0; j < Q8_BLOCK; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        uint16_t h = gguf_fp32_to_fp16(d);
        out[0] = (uint8_t)(h & 0xFF);
        out[1] = (uint8_t)(h >> 8);
        for (int j = 0; j < Q8_BLOCK; j++) out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

/* ---- the key-value section, built in memory ---- */

typedef struct {
    tok_bytes b;
    int n_kv;
    int failed;
} kvbuf;

static void put(kvbuf *k, const void *p, size_t n) {
    if (!k->failed && tok_bytes_append(&k->b, p, n) != 0) k->failed = 1;
}
static void put_u32(kvbuf *k, uint32_t v) {
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(k, le, 4);
}
static void put_u64(kvbuf *k, uint64_t v) {
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
    put(k, le, 8);
}
static void put_str(kvbuf *k, const char *s, size_t n) { put_u64(k, n); put(k, s, n); }
static void key(kvbuf *k, const char *name, uint32_t type) {
    put_str(k, name, strlen(name));
    put_u32(k, type);
    k->n_kv++;
}
static void kv_u32(kvbuf *k, const char *name, uint32_t v) { key(k, name, KV_UINT32); put_u32(k, v); }
static void kv_f32(kvbuf *k, const char *name, float v) { key(k, name, KV_FLOAT32); put_u32(k, f32_bits(v)); }
static void kv_bool(kvbuf *k, const char *name, int v) { key(k, name, KV_BOOL); uint8_t b = !!v; put(k, &b, 1); }
static void kv_str(kvbuf *k, const char *name, const char *s) { key(k, name, KV_STRING); put_str(k, s, strlen(s)); }
static void kv_array(kvbuf *k, const char *name, uint32_t elem_type, uint64_t n) {
    key(k, name, KV_ARRAY);
    put_u32(k, elem_type);
    put_u64(k, n);
}

/* GPT-2's byte-to-unicode map: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes for U+0100.. in byte order; here as the
 * UTF-8 of each byte's code point. */
typedef struct {
    char utf8[256][2];
    uint8_t len[256];
} byte_map;

static void byte_map_init(byte_map *bm) {
    int extra = 0;
    for (int i = 0; i < 256; i++) {
        int printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
        int c = printable ? i : 256 + extra++;
        if (c < 0x80) {
            bm->utf8[i][0] = (char)c;
            bm->len[i] = 1;
        } else {
            bm->utf8[i][0] = (char)(0xC0 | (c >> 6));
            bm->utf8[i][1] = (char)(0x80 | (c & 0x3F));
            bm->len[i] = 2;
        }
    }
}

/* Token id's GGUF string into s (mapped bytes; a special's own text). */
static int token_string(const tokenizer *t, const byte_map *bm, int32_t id, int special, tok_bytes *s) {
    size_t n = 0;
    const char *bytes = tok_token_bytes(t, id, &n);
    if (!bytes) { ll_error("export: token %d has no bytes", (int)id); return -1; }
    s->n = 0;
    if (special) return tok_bytes_append(s, bytes, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)bytes[i];
        if (tok_bytes_append(s, bm->utf8[b], bm->len[b]) != 0) return -1;
    }
    return 0;
}

/* The tokenizer keys. -1 with one line (a pattern llama.cpp has no name for). */
static int put_tokenizer(kvbuf *k, const tokenizer *t) {
    if (strcmp(tok_pattern(t), TOK_DEFAULT_PATTERN) != 0) {
        ll_error("export: the tokenizer's split pattern is not the GPT-4 one llama.cpp knows as \"llama-bpe\"; "
                 "llama.cpp would split text differently");
        return -1;
    }
    const int V = tok_vocab_size(t), n_merges = tok_n_merges(t), n_special = tok_n_specials(t);
    uint8_t *is_special = ll_calloc((size_t)V, 1);
    if (!is_special) return -1;
    for (int i = 0; i < n_special; i++) {
        int32_t id = -1;
        tok_special(t, i, &id);
        if (id >= 0 && id < V) is_special[id] = 1;
    }
    byte_map bm;
    byte_map_init(&bm);
    tok_bytes s = {0}, r = {0};
    int rc = -1;
    kv_str(k, "tokenizer.ggml.model", "gpt2");
    kv_str(k, "tokenizer.ggml.pre", "llama-bpe");
    kv_array(k, "tokenizer.ggml.tokens", KV_STRING, (uint64_t)V);
    for (int32_t id = 0; id < V; id++) {
        if (token_string(t, &bm, id, is_special[id], &s) != 0) goto done;
        put_str(k, s.data, s.n);
    }
    kv_array(k, "tokenizer.ggml.token_type", KV_INT32, (uint64_t)V);
    for (int32_t id = 0; id < V; id++) put_u32(k, is_special[id] ? TOKEN_CONTROL : TOKEN_NORMAL);
    kv_array(k, "tokenizer.ggml.merges", KV_STRING, (uint64_t)n_merges);
    for (int32_t id = 256; id < 256 + n_merges; id++) {
        int32_t left, right;
        if (tok_merge_pair(t, id, &left, &right) != 0 || token_string(t, &bm, left, 0, &s) != 0 ||
            token_string(t, &bm, right, 0, &r) != 0 || tok_bytes_append(&s, " ", 1) != 0 ||
            tok_bytes_append(&s, r.data, r.n) != 0) {
            ll_error("export: merge %d of the tokenizer cannot be written", (int)(id - 256));
            goto done;
        }
        put_str(k, s.data, s.n);
    }
    const int32_t eot = tok_eot_id(t), end = tok_special_id(t, TOK_END);
    kv_u32(k, "tokenizer.ggml.bos_token_id", (uint32_t)eot);
    kv_u32(k, "tokenizer.ggml.eos_token_id", (uint32_t)eot);
    kv_u32(k, "tokenizer.ggml.padding_token_id", (uint32_t)eot);
    if (end >= 0) kv_u32(k, "tokenizer.ggml.eot_token_id", (uint32_t)end);
    kv_bool(k, "tokenizer.ggml.add_bos_token", 0);
    kv_bool(k, "tokenizer.ggml.add_eos_token", 0);
    if (tok_special_id(t, TOK_SYSTEM) >= 0 && tok_special_id(t, TOK_USER) >= 0 &&
        tok_special_id(t, TOK_ASSISTANT) >= 0 && end >= 0)
        kv_str(k, "tokenizer.chat_template", sft_template_jinja());
    rc = 0;
done:
    tok_bytes_free(&s);
    tok_bytes_free(&r);
    free(is_special);
    return rc;
}

/* ---- tensors ---- */

typedef struct {
    char name[64];
    int ndim;
    uint64_t ne[2];          /* ggml order: ne[0] innermost */
    int type;                /* ggml_type */
    const float *data;
    uint64_t numel, offset, nbytes;
} gtensor;

static uint64_t align_up(uint64_t x) { return (x + GGUF_ALIGN - 1) / GGUF_ALIGN * GGUF_ALIGN; }

static void add_tensor(gtensor *ts, int *n, const char *name, const float *data, uint64_t ne0, uint64_t ne1,
                       gguf_out_type want, int *n_fallback) {
    gtensor *g = &ts[(*n)++];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->ndim = ne1 ? 2 : 1;
    g->ne[0] = ne0;
    g->ne[1] = ne1 ? ne1 : 1;
    g->numel = g->ne[0] * g->ne[1];
    g->data = data;
    g->type = GGML_F32;
    if (g->ndim == 2 && want == GGUF_OUT_F16) g->type = GGML_F16;
    if (g->ndim == 2 && want == GGUF_OUT_Q8_0) {
        g->type = ne0 % Q8_BLOCK == 0 ? GGML_Q8_0 : GGML_F16;
        if (g->type == GGML_F16) (*n_fallback)++;
    }
    g->nbytes = g->type == GGML_F32 ? g->numel * 4 : g->type == GGML_F16 ? g->numel * 2 : g->numel / Q8_BLOCK * Q8_BYTES;
}

/* The tensor table of model m in llama.cpp's names; returns the count. */
static int tensor_table(const gpt_model *m, gguf_out_type want, gtensor *ts, int *n_fallback) {
    const gpt_config *c = &m->cfg;
    const uint64_t C = (uint64_t)c->n_embd, F = 4 * C;
    int n = 0;
    char nm[64];
    add_tensor(ts, &n, "token_embd.weight", m->p.wte, C, (uint64_t)c->vocab_size, want, n_fallback);
    add_tensor(ts, &n, "position_embd.weight", m->p.wpe, C, (uint64_t)c->block_size, want, n_fallback);
    for (int l = 0; l < c->n_layer; l++) {
        const gpt_layer_tensors *L = &m->p.layer[l];
#define T(suffix, ptr, ne0, ne1)                                 \
    snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix);             \
    add_tensor(ts, &n, nm, ptr, ne0, ne1, want, n_fallback);
        T("attn_norm.weight", L->ln1w, C, 0)
        T("attn_norm.bias", L->ln1b, C, 0)
        T("attn_qkv.weight", L->qkvw, C, 3 * C)
        T("attn_qkv.bias", L->qkvb, 3 * C, 0)
        T("attn_output.weight", L->attprojw, C, C)
        T("attn_output.bias", L->attprojb, C, 0)
        T("ffn_norm.weight", L->ln2w, C, 0)
        T("ffn_norm.bias", L->ln2b, C, 0)
        T("ffn_up.weight", L->fcw, C, F)
        T("ffn_up.bias", L->fcb, F, 0)
        T("ffn_down.weight", L->fcprojw, F, C)
        T("ffn_down.bias", L->fcprojb, C, 0)
#undef T
    }
    add_tensor(ts, &n, "output_norm.weight", m->p.lnfw, C, 0, want, n_fallback);
    add_tensor(ts, &n, "output_norm.bias", m->p.lnfb, C, 0, want, n_fallback);
    return n;
}

/* ---- buffered output ---- */

typedef struct {
    int fd;
    const char *path;        /* the temporary file, for error lines */
    uint8_t *buf;
    size_t n, cap;
    uint64_t written;
} gwriter;

static int gw_flush(gwriter *w) {
    if (w->n && ll_write_all_streaming(w->fd, w->buf, w->n) != 0) {
        ll_error("%s: write failed: %s", w->path, strerror(errno));
        return -1;
    }
    w->n = 0;
    return 0;
}

/* Appends n bytes; large writes go straight to the file (no copy). */
static int gw_write(gwriter *w, const void *p, size_t n) {
    w->written += n;
    if (n >= w->cap) {
        if (gw_flush(w) != 0) return -1;
        if (ll_write_all_streaming(w->fd, p, n) != 0) { ll_error("%s: write failed: %s", w->path, strerror(errno)); return -1; }
        return 0;
    }
    if (w->n + n > w->cap && gw_flush(w) != 0) return -1;
    memcpy(w->buf + w->n, p, n);
    w->n += n;
    return 0;
}

static int gw_pad(gwriter *w) {
    static const uint8_t zeros[GGUF_ALIGN];
    uint64_t pad = align_up(w->written) - w->written;
    return pad ? gw_write(w, zeros, (size_t)pad) : 0;
}

/* One tensor's data in its type (converted a slice at a time). */
static int write_tensor(gwriter *w, const gtensor *g, uint8_t *scratch, size_t slice) {
    if (g->type == GGML_F32) return gw_write(w, g->data, (size_t)g->nbytes);
    for (uint64_t at = 0; at < g->numel; at += slice) {
        size_t n = (size_t)(g->numel - at < slice ? g->numel - at : slice), bytes;
        if (g->type == GGML_F16) {
            for (size_t i = 0; i < n; i++) {
                uint16_t h = gguf_fp32_to_fp16(g->data[at + i]);
                scratch[2 * i] = (uint8_t)(h & 0xFF);
                scratch[2 * i + 1] = (uint8_t)(h >> 8);
            }
            bytes = 2 * n;
        } else {
            gguf_quantize_q8_0(g->data + at, n, scratch);
            bytes = n / Q8_BLOCK * Q8_BYTES;
        }
        if (gw_write(w, scratch, bytes) != 0) return -1;
    }
    return 0;
}

/* Header, key-values, tensor infos, padding, data into w. */
static int write_file(gwriter *w, const kvbuf *k, const gtensor *ts, int n_tensors) {
    kvbuf h = {0};
    put(&h, "GGUF", 4);
    put_u32(&h, GGUF_VERSION);
    put_u64(&h, (uint64_t)n_tensors);
    put_u64(&h, (uint64_t)k->n_kv);
    put(&h, k->b.data, k->b.n);
    for (int i = 0; i < n_tensors; i++) {
        put_str(&h, ts[i].name, strlen(ts[i].name));
        put_u32(&h, (uint32_t)ts[i].ndim);
        for (int d = 0; d < ts[i].ndim; d++) put_u64(&h, ts[i].ne[d]);
        put_u32(&h, (uint32_t)ts[i].type);
        put_u64(&h, ts[i].offset);
    }
    int rc = -1;
    const size_t slice = 1 << 16;   /* values converted at once: a multiple of Q8_BLOCK */
    uint8_t *scratch = NULL;
    if (h.failed || gw_write(w, h.b.data, h.b.n) != 0 || gw_pad(w) != 0) goto done;
    if (!(scratch = ll_malloc(slice * 2))) goto done;
    for (int i = 0; i < n_tensors; i++)
        if (write_tensor(w, &ts[i], scratch, slice) != 0 || gw_pad(w) != 0) goto done;
    rc = gw_flush(w);
done:
    free(scratch);
    tok_bytes_free(&h.b);
    return rc;
}

/* See gguf.h. */
int gguf_export(const char *ckpt_path, const char *out_path, const gguf_export_options *o, gguf_export_report *rep) {
    struct stat st;
    if (!o->force && lstat(out_path, &st) == 0) {
        ll_error("%s: exists (use --force to replace it)", out_path);
        return -1;
    }
    infer_model im;
    if (infer_open(&im, ckpt_path, o->tokenizer) != 0) return -1;
    const gpt_config *c = &im.model.cfg;
    int rc = -1, fd = -1, n_fallback = 0;
    char tmp[4096] = "";
    kvbuf k = {0};
    gwriter w = {0};
    gtensor *ts = ll_calloc((size_t)(4 + 12 * c->n_layer), sizeof *ts);
    if (!ts) goto done;
    const double t0 = ll_now();
    const int n_tensors = tensor_table(&im.model, o->type, ts, &n_fallback);
    uint64_t off = 0;
    for (int i = 0; i < n_tensors; i++) {
        ts[i].offset = off;
        off = align_up(off + ts[i].nbytes);
    }

    kv_str(&k, "general.architecture", "gpt2");
    kv_str(&k, "general.name", o->name ? o->name : "llmpi");
    kv_u32(&k, "general.file_type", o->type == GGUF_OUT_F16 ? 1 : o->type == GGUF_OUT_Q8_0 ? 7 : 0);
    kv_u32(&k, "general.alignment", GGUF_ALIGN);
    if (o->type == GGUF_OUT_Q8_0) kv_u32(&k, "general.quantization_version", 2);
    kv_u32(&k, "gpt2.context_length", (uint32_t)c->block_size);
    kv_u32(&k, "gpt2.embedding_length", (uint32_t)c->n_embd);
    kv_u32(&k, "gpt2.feed_forward_length", (uint32_t)(4 * c->n_embd));
    kv_u32(&k, "gpt2.block_count", (uint32_t)c->n_layer);
    kv_u32(&k, "gpt2.attention.head_count", (uint32_t)c->n_head);
    kv_f32(&k, "gpt2.attention.layer_norm_epsilon", GPT_LN_EPS);
    if (put_tokenizer(&k, im.tok) != 0) goto done;
    if (k.failed) goto done;

    if (ll_tmp_path(tmp, sizeof tmp, out_path) != 0) { ll_error("%s: path too long", out_path); tmp[0] = '\0'; goto done; }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) { ll_error("%s: cannot create: %s", tmp, strerror(errno)); tmp[0] = '\0'; goto done; }
    w.fd = fd;
    w.path = tmp;
    w.cap = (size_t)4 << 20;
    if (!(w.buf = ll_malloc(w.cap))) goto done;
    if (write_file(&w, &k, ts, n_tensors) != 0) goto done;
    int cerr = close(fd);
    fd = -1;
    if (cerr != 0) { ll_error("%s: close failed: %s", tmp, strerror(errno)); goto done; }
    if (ll_commit_file(tmp, out_path) != 0) goto done;
    tmp[0] = '\0';
    if (rep) {
        rep->bytes = w.written;
        rep->n_tensors = n_tensors;
        rep->n_kv = k.n_kv;
        rep->n_fallback = n_fallback;
        rep->seconds = ll_now() - t0;
    }
    rc = 0;
done:
    if (fd >= 0) close(fd);
    if (tmp[0]) unlink(tmp);
    free(w.buf);
    tok_bytes_free(&k.b);
    free(ts);
    infer_close(&im);
    return rc;
}
