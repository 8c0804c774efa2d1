/* cmd_sft.c: `llmpi sft`: supervised fine-tuning with the pretraining
 * trainer (trainer_run in SFT mode).
 *
 * The config is composed in this order: the model (and every other key) as
 * the --init checkpoint's run stored it, then --config (configs/sft.ini:
 * the [train] keys of fine-tuning), then --set. train.max_steps not set by
 * --config or --set means one pass over the packed train rows. With --mix,
 * rank 0 builds OUT/sft.h5 (or reuses it when it records the same mix and
 * tokenizer); --data trains on a store built before.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "llmpi/ckpt.h"
#include "llmpi/config.h"
#include "llmpi/trainer.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi sft --init CKPT.h5 (--mix MIX.ini [--tokenizer TOK] | --data SFT.h5) --config FILE\n"
            "                 [--set section.key=value ...] --out RUNDIR [--resume auto|CKPT.h5 | --force]\n"
            "                 [--stop-after N] [--max-time S] [--check-sync K] [--no-verify]\n\n"
            "Fine-tunes the model of CKPT on an SFT store (llmpi-sft): examples rendered in the\n"
            "llmpi-chat-1 template, packed into rows of train.seq_len, loss on assistant tokens only.\n"
            "Works as a plain process or under mpirun, like pretrain.\n\n"
            "  --init CKPT       checkpoint whose model (shape and parameters) is fine-tuned\n"
            "  --mix MIX.ini     build RUNDIR/sft.h5 from this mix on rank 0 (reused when it\n"
            "                    records the same mix file text and tokenizer)\n"
            "  --tokenizer TOK   with --mix: the tokenizer of CKPT (default: the copy CKPT carries)\n"
            "  --data SFT.h5     an SFT store from `llmpi mix` instead of --mix\n"
            "  --config FILE     fine-tuning keys (configs/sft.ini); train.max_steps unset: one\n"
            "                    pass over the packed rows\n"
            "  other options as for llmpi pretrain (see llmpi pretrain --help)\n");
}

static int require_path(const char *opt, const char *value) {
    if (value && value[0] != '\0') return 0;
    ll_error("sft: %s: empty path", opt);
    return -1;
}

int cmd_sft(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
        {"data", required_argument, 0, 'd'},   {"out", required_argument, 0, 'o'},
        {"mix", required_argument, 0, 'm'},    {"tokenizer", required_argument, 0, 't'},
        {"init", required_argument, 0, 'i'},   {"resume", required_argument, 0, 'r'},
        {"stop-after", required_argument, 0, 'S'}, {"max-time", required_argument, 0, 'M'},
        {"check-sync", required_argument, 0, 'K'}, {"force", no_argument, 0, 'F'},
        {"no-verify", no_argument, 0, 'V'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    trainer_options t;
    memset(&t, 0, sizeof t);
    t.sft = 1;
    const char *sets[256], *config = NULL;
    int n_sets = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 's':
            if (n_sets == 256) { ll_error("sft: too many --set options"); return 2; }
            sets[n_sets++] = optarg;
            break;
        case 'm': t.mix_path = optarg; break;
        case 't': t.tokenizer_path = optarg; break;
        case 'i': t.init = optarg; break;
        case 'h': usage(stdout); return 0;
        default: {
            int run = cli_run_option(c, optarg, &t);
            if (run < 0) return 2;
            if (run == 0) return cli_getopt_error("sft", c, argv);
        }
        }
    }
    if (optind < argc) { ll_error("sft: unexpected argument '%s'", argv[optind]); return 2; }
    if (!t.init || !config || !t.out_dir || (!t.mix_path == !t.data_path)) {
        ll_error("sft: --init, --config, --out and one of --mix or --data are required (see llmpi sft --help)");
        return 2;
    }
    if (require_path("--init", t.init) != 0 || require_path("--config", config) != 0 ||
        require_path("--out", t.out_dir) != 0 || (t.data_path && require_path("--data", t.data_path) != 0) ||
        (t.mix_path && require_path("--mix", t.mix_path) != 0) || (t.resume && require_path("--resume", t.resume) != 0))
        return 2;
    if (t.force && t.resume) {
        ll_error("sft: --force starts over and --resume continues: give one of them");
        return 2;
    }
    char store_path[4200];
    if (t.mix_path) {
        if (snprintf(store_path, sizeof store_path, "%s/sft.h5", t.out_dir) >= (int)sizeof store_path) {
            ll_error("sft: --out: path too long");
            return 2;
        }
        t.data_path = store_path;
    }
    /* the model and the run as the checkpoint stored them, then the SFT keys */
    gpt_config mc;
    ckpt_meta meta;
    if (ckpt_peek(t.init, &mc, &meta) != 0) return 1;
    cfg_defaults(&t.cfg);
    if (cfg_load_string(&t.cfg, meta.config, t.init) != 0) return 1;
    t.cfg.max_steps = 0;   /* 0 until set: one pass */
    if (cfg_load_ini(&t.cfg, config) != 0) return 1;
    for (int i = 0; i < n_sets; i++)
        if (cfg_set(&t.cfg, sets[i]) != 0) return 2;
    t.steps_one_pass = t.cfg.max_steps == 0;
    return trainer_run(&t) == 0 ? 0 : 1;
}
