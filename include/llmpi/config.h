/* config.h: run configuration (INI file + --set overrides).
 *
 * Keys are "section.key"; unknown keys are an error naming the file and line,
 * so a typo never silently trains the wrong model. The vocabulary size is not
 * a config key: it comes from the token store (or checkpoint).
 */
#ifndef LLMPI_CONFIG_H
#define LLMPI_CONFIG_H

/* Bytes of a text key's value, its NUL included. */
#define CFG_TEXT_MAX 256

typedef struct {
    /* [model] */
    int n_layer, n_head, n_embd, block_size;
    int vocab_size;          /* filled from the store / checkpoint */
    /* [train] */
    int batch_size;          /* sequences per rank per micro-step */
    int seq_len;             /* tokens per sequence, <= block_size */
    int grad_accum;          /* micro-steps per optimizer step */
    int max_steps;
    float lr, min_lr_frac;
    int warmup_steps;
    float weight_decay, beta1, beta2, grad_clip;
    unsigned long long seed;
    int ckpt_every, eval_every, eval_windows;
    int keep_checkpoints;    /* keep the newest K (0: all) */
    int log_every;
    int threads;             /* 0: cores available / ranks on the node */
    int zero;                /* 1: ZeRO-1, AdamW state sharded over ranks */
    float bucket_mb;         /* gradient reduction bucket size, MiB */
    int max_bad_steps;       /* consecutive non-finite steps skipped before stopping */
    int sample_every;        /* rank 0 samples from the model every K steps (0: never) */
    int sample_tokens;       /* new tokens per sample */
    char sample_prompt[CFG_TEXT_MAX]; /* its prompt ("": a new document; SFT: a user message) */
} cfg_config;

/* Defaults: the tiny test model. */
void cfg_defaults(cfg_config *c);
/* Reads an INI file over c ([model]/[train] sections, or full "section.key"
 * names before any section, as cfg_to_string writes). -1 (one line
 * "FILE:LINE: problem" printed, c unchanged) on unreadable file, syntax
 * error, unknown key, key set twice or bad value. */
int cfg_load_ini(cfg_config *c, const char *path);
/* Applies one "section.key=value" override. */
int cfg_set(cfg_config *c, const char *assignment);
/* Applies "section.key=value" lines (cfg_to_string's format, e.g. the config
 * stored in a checkpoint); '#'/';' lines and blank lines are skipped. origin
 * names the text in errors. c is unchanged on failure. */
int cfg_load_string(cfg_config *c, const char *text, const char *origin);
/* Checks cross-key constraints (heads divide embd, seq_len <= block_size...). */
int cfg_validate(const cfg_config *c);
/* Prints the config as a two-column table (on rank 0). */
void cfg_print(const cfg_config *c);
/* Serialises to "section.key=value\n..." (for checkpoints); malloc'ed.
 * Keys that do not shape the run (train.sample_*) are written only when they
 * differ from their default, so runs that leave them alone keep the config
 * text (and checkpoints) they had before the keys existed. */
char *cfg_to_string(const cfg_config *c);

#endif
