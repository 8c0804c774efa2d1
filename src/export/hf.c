/* hf.c: an llmpi checkpoint as a Hugging Face GPT-2 model directory, and
 * back (see hf.h).
 *
 * Invariants:
 * - Tensor mapping: ours "X" <-> HF "transformer.X" ("wte"/"wpe" gain
 *   ".weight"); the four Conv1D weights per block (c_attn, attn.c_proj,
 *   c_fc, mlp.c_proj) are stored transposed, [in, out]; everything else as
 *   is. Export then import gives the same float bits (F32 both ways).
 * - Export: the directory is built as "<out>.tmp.<pid>", each file fsynced,
 *   then renamed into place; a --force replacement moves the old directory
 *   aside first and removes it (only files an export writes) after.
 * - Import trusts nothing: config.json's fields are checked and bounded
 *   before the model is allocated, the safetensors header by st_open, and
 *   every tensor by name, dtype, shape and finiteness; the checkpoint is
 *   written by ckpt_save (temporary name, rename), so a refusal leaves no
 *   file.
 */
#include "llmpi/hf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpi/ckpt.h"
#include "llmpi/config.h"
#include "llmpi/safetensors.h"
#include "llmpi/tokenizer.h"
#include "llmpi/sft.h"
#include "llmpi/util.h"

/* What an export writes (and all a --force replacement may remove). */
static const char *const hf_files[] = {"model.safetensors", "config.json", "generation_config.json",
                                       "tokenizer.json", "tokenizer_config.json"};
#define N_HF_FILES (sizeof hf_files / sizeof hf_files[0])

/* 1 for our tensors HF stores as Conv1D ([in, out]). */
static int is_conv1d(const char *name) {
    static const char *const suffixes[] = {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight",
                                           ".mlp.c_proj.weight"};
    size_t n = strlen(name);
    for (size_t i = 0; i < 4; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && !strcmp(name + n - k, suffixes[i])) return 1;
    }
    return 0;
}

/* The HF name of our tensor name (prefix "transformer." or ""). */
static void hf_name(char *out, size_t cap, const char *prefix, const char *ours) {
    int emb = !strcmp(ours, "wte") || !strcmp(ours, "wpe");
    snprintf(out, cap, "%s%s%s", prefix, ours, emb ? ".weight" : "");
}

/* ---- export ---- */

/* Writes j (sorted, indented) to path atomically; consumes j. */
static int write_json(const char *path, json_t *j) {
    if (!j) { ll_error("%s: out of memory building JSON", path); return -1; }
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(j);
    if (!s) { ll_error("%s: cannot format JSON", path); return -1; }
    size_t n = strlen(s);
    char *t = ll_malloc(n + 2);
    if (!t) { free(s); return -1; }
    memcpy(t, s, n);
    t[n] = '\n';
    free(s);
    int rc = ll_write_file_atomic(path, t, n + 1);
    free(t);
    return rc;
}

/* config.json: GPT2Config of shape c (eot < 0: no bos/eos). */
static json_t *config_json(const gpt_config *c, int eot) {
    json_t *j = json_pack("{s:s, s:[s], s:f, s:f, s:f, s:f, s:s, s:i, s:i, s:i, s:n, s:i, s:i, s:b, s:f, s:b, "
                          "s:b, s:b, s:s, s:b, s:i}",
                          "activation_function", "gelu_new", "architectures", "GPT2LMHeadModel", "attn_pdrop", 0.0,
                          "embd_pdrop", 0.0, "initializer_range", 0.02, "layer_norm_epsilon", 1e-5, "model_type",
                          "gpt2", "n_ctx", c->block_size, "n_embd", c->n_embd, "n_head", c->n_head, "n_inner",
                          "n_layer", c->n_layer, "n_positions", c->block_size, "reorder_and_upcast_attn", 0,
                          "resid_pdrop", 0.0, "scale_attn_by_inverse_layer_idx", 0, "scale_attn_weights", 1,
                          "tie_word_embeddings", 1, "torch_dtype", "float32", "use_cache", 1, "vocab_size",
                          c->vocab_size);
    if (j && eot >= 0) {
        json_object_set_new(j, "bos_token_id", json_integer(eot));
        json_object_set_new(j, "eos_token_id", json_integer(eot));
    }
    return j;
}

/* generation_config.json: llmpi sample's defaults; generation stops at
 * <|endoftext|> and (chat models) <|end|>. */
static json_t *generation_json(const gpt_config *c, const tokenizer *tok) {
    json_t *j = json_pack("{s:b, s:f, s:i, s:i}", "do_sample", 1, "temperature", 0.8, "top_k", 40, "max_length",
                          c->block_size);
    if (j && tok) {
        int eot = tok_eot_id(tok), end = tok_special_id(tok, TOK_END);
        json_object_set_new(j, "bos_token_id", json_integer(eot));
        json_object_set_new(j, "pad_token_id", json_integer(eot));
        json_object_set_new(j, "eos_token_id", end >= 0 ? json_pack("[i,i]", eot, end) : json_integer(eot));
    }
    return j;
}

/* tokenizer_config.json: every special token, the chat template. */
static json_t *tokenizer_config_json(const gpt_config *c, const tokenizer *tok) {
    json_t *decoder = json_object(), *extra = json_array();
    for (int i = 0; i < tok_n_specials(tok); i++) {
        int32_t id;
        const char *s = tok_special(tok, i, &id);
        char key[16];
        snprintf(key, sizeof key, "%d", id);
        json_object_set_new(decoder, key, json_pack("{s:s, s:b, s:b, s:b, s:b, s:b}", "content", s, "lstrip", 0,
                                                    "normalized", 0, "rstrip", 0, "single_word", 0, "special", 1));
        if (strcmp(s, TOK_EOT) != 0) json_array_append_new(extra, json_string(s));
    }
    json_t *j = json_pack("{s:b, s:b, s:o, s:o, s:s, s:s, s:b, s:s, s:i, s:s, s:s, s:s}", "add_bos_token", 0,
                          "add_prefix_space", 0, "added_tokens_decoder", decoder, "additional_special_tokens", extra,
                          "bos_token", TOK_EOT, "chat_template", sft_template_jinja(), "clean_up_tokenization_spaces", 0,
                          "eos_token", TOK_EOT, "model_max_length", c->block_size, "pad_token", TOK_EOT,
                          "tokenizer_class", "PreTrainedTokenizerFast", "unk_token", TOK_EOT);
    return j;
}

/* Writes model.safetensors of m into dir. */
static int write_model(const char *dir, const gpt_model *m, const char *identity) {
    char path[8300];
    int n = m->num_tensors;
    st_tensor_out *t = ll_calloc((size_t)n, sizeof *t);
    char(*nm)[ST_NAME_MAX] = ll_malloc((size_t)n * sizeof *nm);
    if (!t || !nm) { free(t); free(nm); return -1; }
    for (int i = 0; i < n; i++) {
        const gpt_tensor_info *x = &m->tensors[i];
        hf_name(nm[i], sizeof nm[i], "transformer.", x->name);
        t[i].name = nm[i];
        t[i].data = m->params + x->offset;
        t[i].ndim = x->ndim;
        t[i].transpose = is_conv1d(x->name);
        t[i].shape[0] = t[i].transpose ? x->shape[1] : x->shape[0];
        t[i].shape[1] = t[i].transpose ? x->shape[0] : x->shape[1];
    }
    const char *meta[] = {"format", "pt", "llmpi_tokenizer", identity};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = st_write(path, t, n, meta, 2);
    free(t);
    free(nm);
    return rc;
}

/* 0 if dir holds only files an export writes (so --force may replace it);
 * -1 with one line otherwise. */
static int only_export_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) { ll_error("%s: exists and is not a directory an export wrote: not replaced", dir); return -1; }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int known = 0;
        for (size_t i = 0; i < N_HF_FILES; i++) known |= !strcmp(e->d_name, hf_files[i]);
        if (!known) {
            ll_error("%s: holds %s, which an export does not write: not replaced (remove it yourself)", dir,
                     e->d_name);
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

/* Removes the export files in dir, then dir. */
static void remove_export_dir(const char *dir) {
    char path[8300];
    for (size_t i = 0; i < N_HF_FILES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, hf_files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* fsyncs the directory holding path (a rename there is durable then). */
static int fsync_parent(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) { ll_error("%s: cannot open to sync: %s", dir, strerror(errno)); return -1; }
    int rc = ll_fsync(fd) == 0 || errno == EINVAL ? 0 : -1;
    if (rc != 0) ll_error("%s: fsync failed: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

/* See hf.h. */
int hf_export(const char *ckpt_path, const char *out_arg, int force, hf_export_report *rep) {
    double t_start = ll_now();
    if (rep) memset(rep, 0, sizeof *rep);
    /* "DIR/" names DIR: its temporary is then a sibling, not a child */
    char out_dir[4096];
    if (snprintf(out_dir, sizeof out_dir, "%s", out_arg) >= (int)sizeof out_dir) {
        ll_error("%s: path too long", out_arg);
        return -1;
    }
    for (size_t n = strlen(out_dir); n > 1 && out_dir[n - 1] == '/'; n--) out_dir[n - 1] = '\0';
    struct stat st;
    int exists = stat(out_dir, &st) == 0;
    if (exists && !force) { ll_error("%s: exists (give --force to replace it)", out_dir); return -1; }
    if (exists && only_export_files(out_dir) != 0) return -1;

    gpt_config cfg;
    ckpt_meta meta;
    gpt_model m = {0};
    tokenizer *tok = NULL;
    char *json = NULL;
    size_t json_len = 0;
    char tmp[4096], old[4096], path[4200];
    int rc = -1, made_tmp = 0;
    if (ckpt_peek(ckpt_path, &cfg, &meta) != 0 || gpt_create(&m, &cfg) != 0 ||
        ckpt_load(ckpt_path, &m, NULL, NULL, &meta) != 0 || ckpt_read_tokenizer_json(ckpt_path, &json, &json_len) != 0)
        goto done;
    if (json) {
        snprintf(path, sizeof path, "%s: /tokenizer_json", ckpt_path);
        if (!(tok = tok_load_buffer(path, json, json_len))) goto done;
    } else if (strcmp(meta.tokenizer, TOK_BYTES_IDENTITY) == 0) {
        ll_warn("%s: byte tokenizer (no tokenizer.json exists for it): exporting the model without one", ckpt_path);
    } else if (strcmp(meta.tokenizer, HF_NO_TOKENIZER) != 0) {
        ll_warn("%s: carries no copy of tokenizer %s: exporting the model without tokenizer.json", ckpt_path,
                meta.tokenizer);
    }
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out_dir, (long)getpid()) >= (int)sizeof tmp ||
        snprintf(old, sizeof old, "%s.old.%ld", out_dir, (long)getpid()) >= (int)sizeof old) {
        ll_error("%s: path too long", out_dir);
        goto done;
    }
    if (mkdir(tmp, 0755) != 0) { ll_error("%s: cannot create: %s", tmp, strerror(errno)); goto done; }
    made_tmp = 1;
    double t_write = ll_now();
    if (write_model(tmp, &m, meta.tokenizer) != 0) goto done;
    if (rep) {
        rep->write_seconds = ll_now() - t_write;
        rep->n_tensors = m.num_tensors;
        snprintf(path, sizeof path, "%s/model.safetensors", tmp);
        rep->bytes = stat(path, &st) == 0 ? (unsigned long long)st.st_size : 0;
    }
    snprintf(path, sizeof path, "%s/config.json", tmp);
    if (write_json(path, config_json(&cfg, tok ? tok_eot_id(tok) : -1)) != 0) goto done;
    snprintf(path, sizeof path, "%s/generation_config.json", tmp);
    if (write_json(path, generation_json(&cfg, tok)) != 0) goto done;
    if (tok) {
        snprintf(path, sizeof path, "%s/tokenizer.json", tmp);
        if (ll_write_file_atomic(path, json, json_len) != 0) goto done;
        snprintf(path, sizeof path, "%s/tokenizer_config.json", tmp);
        if (write_json(path, tokenizer_config_json(&cfg, tok)) != 0) goto done;
    }
    if (exists && rename(out_dir, old) != 0) {
        ll_error("%s: cannot move the old export aside: %s", out_dir, strerror(errno));
        goto done;
    }
    if (rename(tmp, out_dir) != 0) {
        ll_error("%s: cannot rename %s into place: %s", out_dir, tmp, strerror(errno));
        if (exists && rename(old, out_dir) != 0) ll_error("%s: the old export is left at %s", out_dir, old);
        goto done;
    }
    made_tmp = 0;
    if (exists) remove_export_dir(old);
    rc = fsync_parent(out_dir);
    if (rep) rep->seconds = ll_now() - t_start;
done:
    if (made_tmp) remove_export_dir(tmp);
    tok_free(tok);
    free(json);
    gpt_free(&m);
    return rc;
}

/* ---- import ---- */

/* Reads integer field key of config.json into *out within [lo, hi]; absent
 * is an error unless alt names a field to use instead. */
static int config_int(const char *path, json_t *root, const char *key, const char *alt, long lo, long hi, int *out) {
    json_t *v = json_object_get(root, key);
    if (!v && alt) v = json_object_get(root, alt);
    if (!v) { ll_error("%s: missing field '%s'", path, key); return -1; }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        ll_error("%s: field '%s' must be an integer in [%ld, %ld]", path, key, lo, hi);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/* Checks config.json's fields that change the model llmpi computes: they
 * must be GPT-2's (or absent). */
static int config_matches_ours(const char *path, json_t *root, const gpt_config *c) {
    json_t *v;
    if ((v = json_object_get(root, "model_type")) && (!json_is_string(v) || strcmp(json_string_value(v), "gpt2"))) {
        ll_error("%s: model_type is not \"gpt2\"", path);
        return -1;
    }
    if ((v = json_object_get(root, "activation_function")) &&
        (!json_is_string(v) ||
         (strcmp(json_string_value(v), "gelu_new") && strcmp(json_string_value(v), "gelu_pytorch_tanh")))) {
        ll_error("%s: activation_function must be gelu_new (GPT-2's tanh GELU, what llmpi computes)", path);
        return -1;
    }
    if ((v = json_object_get(root, "layer_norm_epsilon")) &&
        (!json_is_number(v) || fabs(json_number_value(v) - 1e-5) > 1e-12)) {
        ll_error("%s: layer_norm_epsilon must be 1e-05 (what llmpi computes)", path);
        return -1;
    }
    if ((v = json_object_get(root, "n_inner")) && !json_is_null(v) &&
        (!json_is_integer(v) || json_integer_value(v) != 4 * (json_int_t)c->n_embd)) {
        ll_error("%s: n_inner must be null or 4 * n_embd = %d", path, 4 * c->n_embd);
        return -1;
    }
    static const char *const must_be_false[] = {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"};
    for (int i = 0; i < 2; i++)
        if ((v = json_object_get(root, must_be_false[i])) && !json_is_false(v)) {
            ll_error("%s: %s must be false (llmpi does not compute it)", path, must_be_false[i]);
            return -1;
        }
    if ((v = json_object_get(root, "scale_attn_weights")) && !json_is_true(v)) {
        ll_error("%s: scale_attn_weights must be true", path);
        return -1;
    }
    if ((v = json_object_get(root, "tie_word_embeddings")) && !json_is_true(v)) {
        ll_error("%s: tie_word_embeddings must be true (llmpi's LM head is the token embedding)", path);
        return -1;
    }
    if ((v = json_object_get(root, "n_ctx")) && json_object_get(root, "n_positions") &&
        (!json_is_integer(v) || json_integer_value(v) != c->block_size)) {
        ll_error("%s: n_ctx differs from n_positions (%d)", path, c->block_size);
        return -1;
    }
    if (c->n_embd % c->n_head != 0) {
        ll_error("%s: n_embd %d is not a multiple of n_head %d", path, c->n_embd, c->n_head);
        return -1;
    }
    return 0;
}

/* Reads in_dir/config.json into c. */
static int read_config(const char *in_dir, gpt_config *c) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", in_dir);
    char *text = NULL;
    size_t n = 0;
    if (ll_read_file(path, &text, &n) != 0) return -1;
    json_error_t err;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!root || !json_is_object(root)) {
        ll_error("%s: not a JSON object: %s (line %d)", path, root ? "" : err.text, root ? 0 : err.line);
        json_decref(root);
        return -1;
    }
    int rc = config_int(path, root, "vocab_size", NULL, 1, TOK_MAX_VOCAB, &c->vocab_size) ||
             config_int(path, root, "n_layer", NULL, 1, 1024, &c->n_layer) ||
             config_int(path, root, "n_head", NULL, 1, 1024, &c->n_head) ||
             config_int(path, root, "n_embd", NULL, 1, 1 << 16, &c->n_embd) ||
             config_int(path, root, "n_positions", "n_ctx", 1, 1 << 20, &c->block_size) ||
             config_matches_ours(path, root, c) ? -1 : 0;
    if (rc == 0 && gpt_count_params(c) > GPT_MAX_PARAMS) {
        ll_error("%s: a model of this shape has more than %llu parameters", path, (unsigned long long)GPT_MAX_PARAMS);
        rc = -1;
    }
    json_decref(root);
    return rc;
}

/* 1 if name is a buffer GPT-2 checkpoints carry that is not a parameter
 * (h.N.attn.bias, h.N.attn.masked_bias: the causal mask). */
static int is_mask_buffer(const char *name, const char *prefix) {
    size_t p = strlen(prefix);
    if (strncmp(name, prefix, p) != 0 || strncmp(name + p, "h.", 2) != 0) return 0;
    const char *s = name + p + 2;
    if (*s < '0' || *s > '9') return 0;
    while (*s >= '0' && *s <= '9') s++;
    return !strcmp(s, ".attn.bias") || !strcmp(s, ".attn.masked_bias");
}

/* Fills m's parameters from f, checking every tensor. */
static int read_tensors(const st_file *f, gpt_model *m) {
    /* transformers' GPT2LMHeadModel names ("transformer.h.0...") or
     * GPT2Model's, as the published gpt2 file has them ("h.0...") */
    const char *prefix = "";
    for (int i = 0; i < f->n; i++)
        if (!strncmp(f->entries[i].name, "transformer.", 12)) prefix = "transformer.";
    char name[ST_NAME_MAX];
    int used = 0;
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *x = &m->tensors[i];
        hf_name(name, sizeof name, prefix, x->name);
        const st_entry *e = st_find(f, name);
        if (!e) { ll_error("%s: missing tensor %s", f->path, name); return -1; }
        int tr = is_conv1d(x->name);
        uint64_t want[2] = {tr ? x->shape[1] : x->shape[0], tr ? x->shape[0] : x->shape[1]};
        if (e->ndim != x->ndim || e->shape[0] != want[0] || (x->ndim == 2 && e->shape[1] != want[1])) {
            char got[96] = "", need[64];
            for (int d = 0; d < e->ndim && d < 4; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", d ? ", " : "",
                         (unsigned long long)e->shape[d]);
            if (x->ndim == 2) snprintf(need, sizeof need, "%llu, %llu", (unsigned long long)want[0], (unsigned long long)want[1]);
            else snprintf(need, sizeof need, "%llu", (unsigned long long)want[0]);
            ll_error("%s: tensor %s: shape [%s], config.json needs [%s]", f->path, name, got, need);
            return -1;
        }
        if (st_read_f32(f, e, m->params + x->offset, tr) != 0) return -1;
        for (size_t k = 0; k < x->numel; k++)
            if (!isfinite(m->params[x->offset + k])) {
                ll_error("%s: tensor %s: non-finite value at element %zu", f->path, name, k);
                return -1;
            }
        used++;
    }
    /* what is left must be the tied head or mask buffers */
    for (int i = 0; i < f->n; i++) {
        const st_entry *e = &f->entries[i];
        if (is_mask_buffer(e->name, prefix)) continue;
        if (!strcmp(e->name, "lm_head.weight")) {
            const gpt_tensor_info *wte = &m->tensors[0];
            if (e->ndim != 2 || e->shape[0] != wte->shape[0] || e->shape[1] != wte->shape[1]) {
                ll_error("%s: tensor lm_head.weight: shape differs from the token embedding's", f->path);
                return -1;
            }
            float *head = ll_malloc(wte->numel * sizeof(float));
            if (!head) return -1;
            int rc = st_read_f32(f, e, head, 0);
            if (rc == 0 && memcmp(head, m->params + wte->offset, wte->numel * sizeof(float)) != 0) {
                ll_error("%s: lm_head.weight differs from wte.weight: an untied LM head, which llmpi's GPT does not "
                         "have", f->path);
                rc = -1;
            }
            free(head);
            if (rc != 0) return -1;
            continue;
        }
        int ours = 0;
        for (int k = 0; k < m->num_tensors && !ours; k++) {
            hf_name(name, sizeof name, prefix, m->tensors[k].name);
            ours = !strcmp(name, e->name);
        }
        if (!ours) {
            ll_error("%s: unexpected tensor %s (not part of a GPT-2 of this config.json)", f->path, e->name);
            return -1;
        }
    }
    (void)used;
    return 0;
}

/* See hf.h. */
int hf_import(const char *in_dir, const char *out_path, int force, int no_tokenizer) {
    struct stat st;
    if (!force && stat(out_path, &st) == 0) { ll_error("%s: exists (give --force to replace it)", out_path); return -1; }
    gpt_config c;
    if (read_config(in_dir, &c) != 0) return -1;
    char path[4200];
    char *json = NULL, *cfg_text = NULL;
    size_t json_len = 0;
    tokenizer *tok = NULL;
    gpt_model m = {0};
    st_file f = {0};
    f.fd = -1;
    int rc = -1;
    snprintf(path, sizeof path, "%s/tokenizer.json", in_dir);
    if (!no_tokenizer && stat(path, &st) == 0) {
        /* one line from the reader or the tokenizer (a tokenizer.json that is
         * not llmpi's, e.g. GPT-2's own: --no-tokenizer skips it) */
        if (ll_read_file(path, &json, &json_len) != 0 || !(tok = tok_load_buffer(path, json, json_len))) goto done;
        if (tok_vocab_size(tok) != c.vocab_size) {
            ll_error("%s: vocabulary of %d tokens, config.json says vocab_size %d", path, tok_vocab_size(tok),
                     c.vocab_size);
            goto done;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", in_dir);
    if (gpt_create(&m, &c) != 0 || st_open(&f, path) != 0 || read_tensors(&f, &m) != 0) goto done;

    cfg_config rc_cfg;
    cfg_defaults(&rc_cfg);
    rc_cfg.n_layer = c.n_layer;
    rc_cfg.n_head = c.n_head;
    rc_cfg.n_embd = c.n_embd;
    rc_cfg.block_size = c.block_size;
    rc_cfg.vocab_size = c.vocab_size;
    rc_cfg.seq_len = c.block_size;
    if (!(cfg_text = cfg_to_string(&rc_cfg))) goto done;
    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.tokenizer, sizeof meta.tokenizer, "%s", tok ? tok_identity(tok) : HF_NO_TOKENIZER);
    if (strlen(cfg_text) >= sizeof meta.config) { ll_error("%s: config too long", out_path); goto done; }
    snprintf(meta.config, sizeof meta.config, "%s", cfg_text);
    meta.tokenizer_json = tok ? json : NULL;
    meta.tokenizer_json_len = tok ? json_len : 0;
    rc = ckpt_save(out_path, &m, NULL, NULL, &meta);
done:
    st_close(&f);
    gpt_free(&m);
    tok_free(tok);
    free(json);
    free(cfg_text);
    return rc;
}
