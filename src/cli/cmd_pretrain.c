/* cmd_pretrain.c: `llmpi pretrain`: config + overrides -> trainer_run. */
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
            "usage: llmpi pretrain --config FILE [--set section.key=value ...] --data STORE.h5 --out RUNDIR\n"
            "                      [--init CKPT.h5] [--resume auto|CKPT.h5 | --force] [--stop-after N]\n\n"
            "Trains a GPT on the train split of a token store. Works as a plain process or\n"
            "under mpirun (each rank trains on its shard; gradients are summed over ranks).\n\n"
            "  --config FILE     INI file (configs/*.ini)\n"
            "  --set K=V         override one key, e.g. --set train.max_steps=100 (repeatable)\n"
            "  --data STORE.h5   token store from `llmpi prepare`\n"
            "  --out RUNDIR      run directory: checkpoints/, metrics.jsonl, config.ini\n"
            "  --init CKPT       start from CKPT's weights (e.g. `llmpi import`), fresh\n"
            "                    optimizer, step 0; the model shape is CKPT's, and the\n"
            "                    store must use its tokenizer\n"
            "  --resume auto     continue from the newest checkpoint in RUNDIR (fresh if none;\n"
            "                    with --init: from CKPT)\n"
            "  --resume CKPT     continue from a given checkpoint\n"
            "  --force           RUNDIR holds an earlier run: start over, deleting its\n"
            "                    checkpoints and metrics.jsonl (without --resume or\n"
            "                    --force, an existing run is never touched)\n"
            "  --no-verify       skip the checksum pass over the store and the checkpoint\n"
            "                    resumed from (faster; values are still checked)\n"
            "  --stop-after N    end after step N with a checkpoint (the schedule still\n"
            "                    follows train.max_steps)\n"
            "  --max-time S      checkpoint and stop before S seconds of wall time\n"
            "  --check-sync K    every K steps verify that all ranks hold identical parameters\n\n"
            "SIGTERM or SIGUSR1 (as Slurm sends before a time limit) stops the run at the\n"
            "next step boundary with a checkpoint; `--resume auto` continues it.\n");
}

/* An empty path is refused: "" + "/metrics.jsonl" would write into the
 * root folder. 0 / -1 (one line naming the option). */
static int require_path(const char *opt, const char *value) {
    if (value && value[0] != '\0') return 0;
    ll_error("pretrain: %s: empty path", opt);
    return -1;
}

/* --init: the model section is the checkpoint's (its weights fix the
 * shape); a config that said otherwise is told once. 0 / -1 (one line). */
static int take_model_shape(cfg_config *c, const char *ckpt) {
    gpt_config mc;
    ckpt_meta meta;
    if (ckpt_peek(ckpt, &mc, &meta) != 0) return -1;
    if (c->n_layer != mc.n_layer || c->n_head != mc.n_head || c->n_embd != mc.n_embd ||
        c->block_size != mc.block_size)
        ll_log("pretrain: --init: the model is %s's: n_layer %d, n_head %d, n_embd %d, block_size %d "
               "(the config said %d, %d, %d, %d)\n",
               ckpt, mc.n_layer, mc.n_head, mc.n_embd, mc.block_size, c->n_layer, c->n_head, c->n_embd,
               c->block_size);
    c->n_layer = mc.n_layer;
    c->n_head = mc.n_head;
    c->n_embd = mc.n_embd;
    c->block_size = mc.block_size;
    if (c->seq_len > c->block_size) {
        ll_error("pretrain: train.seq_len %d exceeds %s's block_size %d", c->seq_len, ckpt, c->block_size);
        return -1;
    }
    return 0;
}

int cmd_pretrain(int argc, char **argv) {
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"set", required_argument, 0, 's'},
        {"data", required_argument, 0, 'd'},   {"out", required_argument, 0, 'o'},
        {"resume", required_argument, 0, 'r'}, {"stop-after", required_argument, 0, 'S'},
        {"max-time", required_argument, 0, 'M'}, {"check-sync", required_argument, 0, 'K'},
        {"force", no_argument, 0, 'F'},        {"no-verify", no_argument, 0, 'V'},
        {"init", required_argument, 0, 'i'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    trainer_options t;
    memset(&t, 0, sizeof t);
    cfg_defaults(&t.cfg);
    const char *sets[256];
    int n_sets = 0, have_config = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (require_path("--config", optarg) != 0) return 2;
            if (cfg_load_ini(&t.cfg, optarg) != 0) return 1;
            have_config = 1;
            break;
        case 's':
            if (n_sets == 256) { ll_error("pretrain: too many --set options"); return 2; }
            sets[n_sets++] = optarg;
            break;
        case 'i': t.init = optarg; break;
        case 'h': usage(stdout); return 0;
        default: {
            int run = cli_run_option(c, optarg, &t);
            if (run < 0) return 2;
            if (run == 0) return cli_getopt_error("pretrain", c, argv);
        }
        }
    }
    if (optind < argc) { ll_error("pretrain: unexpected argument '%s'", argv[optind]); return 2; }
    if (!have_config || !t.data_path || !t.out_dir) {
        ll_error("pretrain: --config, --data and --out are required (see llmpi pretrain --help)");
        return 2;
    }
    if (require_path("--data", t.data_path) != 0 || require_path("--out", t.out_dir) != 0 ||
        (t.resume && require_path("--resume", t.resume) != 0))
        return 2;
    if (t.force && t.resume) {
        ll_error("pretrain: --force starts over and --resume continues: give one of them");
        return 2;
    }
    if (t.init && require_path("--init", t.init) != 0) return 2;
    /* overrides apply after the file, whatever their position on the line */
    for (int i = 0; i < n_sets; i++)
        if (cfg_set(&t.cfg, sets[i]) != 0) return 2;
    if (t.init && take_model_shape(&t.cfg, t.init) != 0) return 1;
    return trainer_run(&t) == 0 ? 0 : 1;
}
