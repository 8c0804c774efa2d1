/* cmd_plot.c: `llmpi plot RUNDIR [--out FILE]`: loss curves of a run, drawn by gnuplot.
 *
 * Reads the loss curves of RUNDIR/metrics.jsonl (metrics_read: format,
 * malformed lines and resumed runs are its business), writes the train and val points to data files in a private
 * temporary directory, and pipes a gnuplot script that renders two panels:
 * loss against step and loss against tokens seen.
 *
 * Invariants:
 * - The PNG is written under a temporary name and renamed over the output
 *   only after gnuplot exited 0 and left a non-empty file, so a failed plot
 *   never replaces an earlier good one.
 * - A file with no usable loss at all is an error (exit 1); malformed
 *   lines are skipped by the reader with one warning each.
 * - No byte of a path can become a gnuplot command: paths reach gnuplot as
 *   single-quoted strings (a quote doubled) and the shell as single-quoted
 *   words, and a path with a control character (a newline would end
 *   gnuplot's command line inside the string) is refused before gnuplot
 *   starts, with one line.
 * - Only rank 0 plots; other ranks (if any) return 0 at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "llmpi/metrics.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi plot RUNDIR [--out FILE]\n\n"
            "Renders the loss curves of a pretraining run with gnuplot: train and val loss\n"
            "against step (left) and against tokens seen (right), from RUNDIR/metrics.jsonl.\n\n"
            "  --out FILE   output PNG (default RUNDIR/loss.png)\n\n"
            "Needs gnuplot in PATH (Debian: apt-get install gnuplot-nox); LLMPI_GNUPLOT\n"
            "names another binary.\n");
}

/* Writes "step tokens loss" rows, a line per ll_write_all (so failure
 * injection reaches this file); 0 / -1 with one line. */
static int write_series(const char *path, const metrics_curve *s) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) { ll_error("plot: %s: cannot create: %s", path, strerror(errno)); return -1; }
    int rc = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        char line[128];
        int n = snprintf(line, sizeof line, "%llu %.17g %.9g\n", (unsigned long long)s->points[i].step,
                         s->points[i].tokens, s->points[i].loss);
        rc = ll_write_all(fd, line, (size_t)n);
    }
    if (close(fd) != 0) rc = -1;
    if (rc != 0) { ll_error("plot: %s: write failed: %s", path, strerror(errno)); return -1; }
    return 0;
}

/* 0 if s can be a gnuplot string: no control character (bytes < 0x20 and
 * 0x7f; a newline or carriage return would end the command there), else -1
 * with one line naming what (the option) and the path. */
static int gp_safe(const char *what, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            ll_error("plot: %s: the path contains a control character (byte %d at %zu): rename it", what, *p,
                     (size_t)(p - (const unsigned char *)s));
            return -1;
        }
    return 0;
}

/* Prints s as a gnuplot single-quoted string (a quote is written twice;
 * gp_safe has refused control characters). */
static void gp_quote(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

/* Appends s to buf as one shell word in single quotes. 0, or -1 if it does not fit. */
static int sh_quote(char *buf, size_t cap, const char *s) {
    size_t n = strlen(buf);
    if (n + 1 >= cap) return -1;
    buf[n++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : NULL;
        size_t len = piece ? 4 : 1;
        if (n + len + 1 >= cap) return -1;
        if (piece) memcpy(buf + n, piece, len);
        else buf[n] = *s;
        n += len;
    }
    if (n + 2 > cap) return -1;
    buf[n++] = '\'';
    buf[n] = '\0';
    return 0;
}

/* Finds the gnuplot executable: $LLMPI_GNUPLOT if set, else "gnuplot" in
 * PATH. 0 with its path in out, or -1 (one line printed). */
static int find_gnuplot(char *out, size_t cap) {
    const char *env = getenv("LLMPI_GNUPLOT");
    if (env && *env) {
        if (access(env, X_OK) != 0) {
            ll_error("plot: LLMPI_GNUPLOT=%s: not an executable file: %s", env, strerror(errno));
            return -1;
        }
        snprintf(out, cap, "%s", env);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    const char *p = path;
    while (*p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int n = snprintf(out, cap, "%.*s/gnuplot", (int)len, len ? p : ".");
        struct stat st;
        if (n > 0 && (size_t)n < cap && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        if (!end) break;
        p = end + 1;
    }
    ll_error("plot: gnuplot not found in PATH (install it: apt-get install gnuplot-nox, or set LLMPI_GNUPLOT)");
    return -1;
}

/* The last non-blank line of a file, trimmed, into out ("" when none). */
static void last_line(const char *path, char *out, size_t cap) {
    out[0] = '\0';
    char *text = NULL;
    FILE *probe = fopen(path, "r");
    if (!probe) return;
    fclose(probe);
    if (ll_read_file(path, &text, NULL) != 0) return;
    char *save = NULL;
    for (char *tok = strtok_r(text, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
        while (*tok == ' ' || *tok == '\t') tok++;
        if (*tok) snprintf(out, cap, "%s", tok);
    }
    free(text);
}

/* Writes the gnuplot program: pngcairo when this gnuplot has it, else png. */
static void write_script(FILE *gp, const char *png_tmp, const char *train_dat, const char *val_dat,
                         const metrics_curve *train, const metrics_curve *val, const char *title) {
    fprintf(gp,
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
            "  set terminal pngcairo size 1400,560 enhanced font 'sans,10'\n"
            "} else {\n"
            "  set terminal png size 1400,560\n"
            "}\n");
    fputs("set output ", gp);
    gp_quote(gp, png_tmp);
    fputs("\nset encoding utf8\nset grid\nset key top right\nset ylabel 'loss (nats/token)'\n", gp);
    fputs("set multiplot layout 1,2 title ", gp);
    char heading[4200];
    snprintf(heading, sizeof heading, "llmpi pretraining: %s", title);
    gp_quote(gp, heading);
    fputs(" noenhanced\n", gp);
    /* panels: x is column 1 (step), then column 2 (tokens) */
    for (int panel = 0; panel < 2; panel++) {
        fprintf(gp, "set xlabel '%s'\n", panel == 0 ? "step" : "tokens");
        fputs(panel == 0 ? "set format x '%g'\n" : "set format x '%.1s%c'\n", gp);
        fprintf(gp, "set title 'loss against %s'\n", panel == 0 ? "optimizer steps" : "tokens seen");
        fputs("plot ", gp);
        int any = 0;
        if (train->n > 0) {
            gp_quote(gp, train_dat);
            fprintf(gp, " using %d:3 with %s lw 1.2 lc rgb '#1f77b4' title 'train'", panel + 1,
                    train->n > 1 ? "lines" : "points pt 7");
            any = 1;
        }
        if (val->n > 0) {
            if (any) fputs(", ", gp);
            gp_quote(gp, val_dat);
            fprintf(gp, " using %d:3 with linespoints pt 7 ps 0.8 lw 2 lc rgb '#d62728' title 'val'", panel + 1);
        }
        fputc('\n', gp);
    }
    fputs("unset multiplot\nset output\n", gp);
}

/* Runs gnuplot over the two series, leaving the image at png_tmp.
 * 0, or -1 (one line printed, quoting gnuplot's last error line). */
static int render(const char *gnuplot, const char *dir, const char *png_tmp, const metrics_curve *train,
                  const metrics_curve *val, const char *title) {
    char train_dat[4096], val_dat[4096], err_path[4096], cmd[16384];
    snprintf(train_dat, sizeof train_dat, "%s/train.dat", dir);
    snprintf(val_dat, sizeof val_dat, "%s/val.dat", dir);
    snprintf(err_path, sizeof err_path, "%s/gnuplot.err", dir);
    if (write_series(train_dat, train) != 0 || write_series(val_dat, val) != 0) return -1;
    cmd[0] = '\0';
    if (sh_quote(cmd, sizeof cmd, gnuplot) != 0 || strlen(cmd) + 32 >= sizeof cmd) goto too_long;
    /* gnuplot writes the image to stdout when it cannot open the output: keep it off ours */
    strcat(cmd, " >/dev/null 2>");
    if (sh_quote(cmd, sizeof cmd, err_path) != 0) goto too_long;
    /* an output gnuplot could not create is our error to report, not gnuplot's */
    FILE *probe = fopen(png_tmp, "wb");
    if (!probe) { ll_error("plot: %s: cannot create: %s", png_tmp, strerror(errno)); return -1; }
    fclose(probe);
    fflush(NULL);
    /* a gnuplot that exits before reading its script must not kill us with
     * SIGPIPE: its exit status is reported below instead */
    struct sigaction ignore, saved;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &saved);
    FILE *gp = popen(cmd, "w");
    if (!gp) {
        sigaction(SIGPIPE, &saved, NULL);
        ll_error("plot: cannot start %s: %s", gnuplot, strerror(errno));
        return -1;
    }
    write_script(gp, png_tmp, train_dat, val_dat, train, val, title);
    int status = pclose(gp);
    sigaction(SIGPIPE, &saved, NULL);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char why[512];
        last_line(err_path, why, sizeof why);
        ll_error("plot: gnuplot failed (%s%d)%s%s",
                 status != -1 && WIFEXITED(status) ? "exit status " : "status ",
                 status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : status, why[0] ? ": " : "", why);
        return -1;
    }
    struct stat st;
    if (stat(png_tmp, &st) != 0 || st.st_size == 0) {
        ll_error("plot: gnuplot exited 0 but wrote no image to %s", png_tmp);
        return -1;
    }
    return 0;
too_long:
    ll_error("plot: gnuplot command line too long");
    return -1;
}

/* Removes the scratch files and directory made by cmd_plot. */
static void remove_scratch(const char *dir) {
    static const char *const names[] = {"train.dat", "val.dat", "gnuplot.err"};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

int cmd_plot(int argc, char **argv) {
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("plot", c, argv);
        }
    }
    if (optind != argc - 1) {
        ll_error("plot: expected exactly one RUNDIR (see llmpi plot --help)");
        return 2;
    }
    if (ll_rank() != 0) return 0;
    const char *rundir = argv[optind];
    char metrics[4096], out_default[4096];
    if (snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", rundir) >= (int)sizeof metrics ||
        snprintf(out_default, sizeof out_default, "%s/loss.png", rundir) >= (int)sizeof out_default) {
        ll_error("plot: %s: path too long", rundir);
        return 1;
    }
    if (!out) out = out_default;
    if (gp_safe("RUNDIR", rundir) != 0 || gp_safe("--out", out) != 0) return 1;

    metrics_curves curves;
    int rc = 1;
    char gnuplot[4096], png_tmp[4096], dir[4096] = "";
    if (metrics_read(metrics, &curves) != 0) goto done;
    const metrics_curve *train = &curves.train, *val = &curves.val;
    if (train->n == 0 && val->n == 0) {
        ll_error("plot: %s: no train or val loss to plot%s", metrics,
                 curves.n_skipped ? " (every line was skipped)" : "");
        goto done;
    }
    if (find_gnuplot(gnuplot, sizeof gnuplot) != 0) goto done;
    if (ll_tmp_path(png_tmp, sizeof png_tmp, out) != 0) goto done;
    const char *tmpdir = getenv("TMPDIR");
    if (!tmpdir || !*tmpdir) tmpdir = "/tmp";
    if (snprintf(dir, sizeof dir, "%s/llmpi-plot.XXXXXX", tmpdir) >= (int)sizeof dir) {
        ll_error("plot: TMPDIR path too long");
        dir[0] = '\0';
        goto done;
    }
    if (gp_safe("TMPDIR", tmpdir) != 0) { dir[0] = '\0'; goto done; }
    if (!mkdtemp(dir)) {
        ll_error("plot: %s: cannot create a scratch directory: %s", dir, strerror(errno));
        dir[0] = '\0';
        goto done;
    }
    if (render(gnuplot, dir, png_tmp, train, val, rundir) != 0 || ll_commit_file(png_tmp, out) != 0) {
        unlink(png_tmp);
        goto done;
    }
    printf("plot: %s (%zu train, %zu val points%s)\n", out, train->n, val->n,
           curves.n_skipped ? ", some lines skipped" : "");
    rc = 0;
done:
    if (dir[0]) remove_scratch(dir);
    metrics_curves_free(&curves);
    return rc;
}
