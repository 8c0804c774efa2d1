/* main.c: `llmpi <command> [options]`, git-style dispatch.
 *
 * MPI is initialised here for every command (a plain process becomes a
 * singleton world of one rank), so commands can always ask for rank and size.
 */
#include <getopt.h>
#include <ftw.h>
#include <mpi.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmpi/h5.h"
#include "llmpi/util.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

/* in pipeline order: text -> tokens -> model -> outputs */
static const command commands[] = {
    {"clean", cmd_clean, "strip Project Gutenberg boilerplate and normalise books"},
    {"tokenizer", cmd_tokenizer, "train, inspect and apply a byte-level BPE tokenizer"},
    {"prepare", cmd_prepare, "clean and tokenize text into an HDF5 token store (MPI-parallel)"},
    {"mix", cmd_mix, "build an SFT store from a mix of instruction datasets (llmpi-sft)"},
    {"pretrain", cmd_pretrain, "train a GPT on a token store (data-parallel under mpirun)"},
    {"sft", cmd_sft, "fine-tune a checkpoint on an SFT mix (loss on assistant tokens; MPI like pretrain)"},
    {"eval", cmd_eval, "mean cross-entropy of a checkpoint on a store split"},
    {"sample", cmd_sample, "generate text from a checkpoint"},
    {"chat", cmd_chat, "talk to a chat model in the terminal (readline) or through a pipe"},
    {"serve", cmd_serve, "serve a model over an OpenAI-compatible HTTP API"},
    {"info", cmd_info, "describe a token store, SFT store or checkpoint"},
    {"export", cmd_export, "write a checkpoint for other tools: GGUF (llama.cpp, Ollama) or Hugging Face"},
    {"import", cmd_import, "read GPT-2-shaped Hugging Face weights into a checkpoint"},
    {"plot", cmd_plot, "render a run's loss curves (metrics.jsonl) to loss.png with gnuplot"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: llmpi <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'llmpi <command> --help' describes one command.\n");
}

/* A plain process (no mpirun, no srun) is an Open MPI singleton, and every
 * singleton of a user shares one session directory (<tmp>/ompi.<host>.<uid>/
 * jf.0): two starting and ending at once remove it under each other and
 * MPI_Init fails ("A call to mkdir was unable to create the desired
 * directory"). Such a process gets a private session base instead, removed
 * after MPI_Finalize. Launched ranks and a user's own setting are left alone. */
static char g_session_dir[4096];

static void private_session_dir(void) {
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("OMPI_MCA_orte_tmpdir_base")) return;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    if (snprintf(g_session_dir, sizeof g_session_dir, "%s/llmpi-mpi-XXXXXX", tmp) >= (int)sizeof g_session_dir ||
        !mkdtemp(g_session_dir)) {
        g_session_dir[0] = '\0';   /* Open MPI's default then */
        return;
    }
    setenv("OMPI_MCA_orte_tmpdir_base", g_session_dir, 1);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    remove(path);
    return 0;
}

int main(int argc, char **argv) {
    ll_blas_select_core(argv);
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("llmpi 0.1.0\nblas: %s (kernels: %s)\n", ll_blas_config(), ll_blas_core());
        return 0;
    }
    const command *cmd = NULL;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) cmd = &commands[i];
    if (!cmd) {
        ll_error("unknown command '%s' (see llmpi --help)", argv[1]);
        return 2;
    }
    int provided = 0;
    /* llmpi never uses MPI-IO shared file pointers. Open MPI's "sm" sharedfp
     * component keeps a file under the session directory, which two plain
     * processes started at once share and remove under each other: the file
     * open then prints a stray error line (and falls back). Without it the
     * open goes straight to the components that need no shared state. A
     * user's own setting wins (overwrite = 0). */
    setenv("OMPI_MCA_sharedfp", "^sm", 0);
    private_session_dir();
    MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    ll_set_rank(rank);
    h5u_quiet();
    /* getopt prints nothing: each command names a bad option in the one
     * style of cli_getopt_error */
    opterr = 0;
    int rc = cli_finish_stdout(cmd->name, cmd->run(argc - 1, argv + 1));
    if (rc != 0) {
        /* One failing rank must end the job, not leave the others waiting. */
        int size = 1;
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        if (size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
    if (g_session_dir[0]) nftw(g_session_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
