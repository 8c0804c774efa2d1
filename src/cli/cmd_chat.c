/* cmd_chat.c: `llmpi chat`: talk to a model in the terminal.
 *
 * Only I/O lives here; the conversation (template, cache, turn dropping) is
 * infer_chat (src/infer/chat.c). On a terminal (stdin a tty): GNU readline
 * with history in ~/.llmpi_history (rewritten atomically after each line),
 * answers streamed as they are drawn, commands /reset /system /set /stats
 * /help /quit; Ctrl-C stops the current answer (or clears the line being
 * typed), Ctrl-D quits. Without a terminal: one user message per input line,
 * one answer per output line (line breaks inside an answer become spaces;
 * --json: one JSON object per answer with the exact text), command lines
 * answered on stderr; a line that is not UTF-8 text stops with one error
 * line and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli.h"
#include "llmpi/infer.h"
#include "llmpi/util.h"

#define HISTORY_MAX 1000

static volatile sig_atomic_t g_interrupted;
/* self-pipe: SIGINT may be delivered to any thread (OpenMP, MPI progress),
 * and then the main thread's select() is not interrupted; the byte written
 * here wakes it wherever the handler ran */
static int g_wake[2] = {-1, -1};

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
    if (g_wake[1] >= 0) {
        int saved = errno;
        ssize_t w = write(g_wake[1], "", 1);
        (void)w;   /* a full pipe already wakes the reader */
        errno = saved;
    }
}

/* Empties the wake-up pipe (non-blocking). */
static void drain_wake(void) {
    char buf[64];
    while (g_wake[0] >= 0 && read(g_wake[0], buf, sizeof buf) > 0) {}
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi chat --checkpoint CKPT.h5 [--tokenizer tokenizer.json] [--system TEXT] [--json]\n"
            "                  [--max-tokens N] [--temperature X] [--top-k K] [--top-p P] [--min-p P]\n"
            "                  [--repeat-penalty X] [--seed S]\n\n"
            "Talks to a model trained in the llmpi-chat-1 template. On a terminal: type a message,\n"
            "the answer streams; /help lists the commands; Ctrl-C stops an answer, Ctrl-D quits.\n"
            "From a pipe: one message per line in, one answer per line out (--json: JSON lines).\n"
            "Defaults: 512 tokens per answer, temperature 0.8, top-k 40, seed 1337.\n");
}

static void help(FILE *f) {
    fprintf(f,
            "  /reset              forget the conversation (keeps the system text)\n"
            "  /system [TEXT]      set (or clear) the system text; starts a new conversation\n"
            "  /set NAME VALUE     temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n,\n"
            "                      seed, max_tokens\n"
            "  /stats              tokens, prefill/decode tok/s, context used\n"
            "  /help               this list\n"
            "  /quit               leave (or Ctrl-D)\n");
}

typedef struct {
    int json, flatten, interactive;
    tok_bytes text;          /* --json: the answer */
} sink;

static int on_text(void *ctx, int32_t id, const char *text, size_t len) {
    (void)id;
    sink *s = ctx;
    if (s->json) {
        if (tok_bytes_append(&s->text, text, len) != 0) return 1;
    } else {
        for (size_t i = 0; i < len; i++) {
            char c = text[i];
            if (s->flatten && (c == '\n' || c == '\r')) c = ' ';
            fputc(c, stdout);
        }
        fflush(stdout);
    }
    return s->interactive && g_interrupted;
}

static double rate(size_t n, double s) { return s > 0 ? (double)n / s : 0.0; }

static void print_stats(FILE *f, const infer_chat *ch) {
    infer_chat_stats st;
    infer_chat_get_stats(ch, &st);
    fprintf(f,
            "turns %ld (%ld dropped for room), context %zu/%zu tokens\n"
            "tokens: %zu prompt, %zu generated; prefill %.1f tok/s, decode %.1f tok/s\n"
            "last answer: %zu tokens, %s, prefill %.1f tok/s, decode %.1f tok/s\n",
            st.turns, st.turns_dropped, st.context_used, st.context_size, st.prompt_tokens, st.generated_tokens,
            st.prefill_tok_s, st.decode_tok_s, st.last.n_generated, infer_finish_name(st.last.finish),
            rate(st.last.n_prefill, st.last.prefill_s), rate(st.last.n_decode, st.last.decode_s));
}

/* Runs a /command line; 1 to quit, 0 otherwise (errors are printed). */
static int command(infer_chat *ch, char *line, FILE *out) {
    char *arg = line + strcspn(line, " \t");
    if (*arg) *arg++ = '\0';
    arg += strspn(arg, " \t");
    if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) return 1;
    if (!strcmp(line, "/help")) { help(out); return 0; }
    if (!strcmp(line, "/reset")) { infer_chat_reset(ch); fprintf(out, "(conversation reset)\n"); return 0; }
    if (!strcmp(line, "/stats")) { print_stats(out, ch); return 0; }
    if (!strcmp(line, "/system")) {
        if (infer_chat_set_system(ch, *arg ? arg : NULL) == 0)
            fprintf(out, *arg ? "(system text set; new conversation)\n" : "(no system text; new conversation)\n");
        return 0;
    }
    if (!strcmp(line, "/set")) {
        char *name = arg, *value = arg + strcspn(arg, " \t");
        if (*value) *value++ = '\0';
        value += strspn(value, " \t");
        for (char *p = name; *p; p++) if (*p == '-') *p = '_';
        if (!*name || !*value) { ll_error("chat: /set NAME VALUE (see /help)"); return 0; }
        if (infer_options_set(infer_chat_options(ch), name, value) == 0) fprintf(out, "(%s = %s)\n", name, value);
        return 0;
    }
    ll_error("chat: unknown command '%s' (see /help)", line);
    return 0;
}

/* 1 if s[0..n) is UTF-8 text: well-formed, no NUL or other control bytes
 * than tab. */
static int is_text(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) return 0;
    tok_bytes clean = {0};
    int ok = infer_utf8_sanitize(s, n, &clean) == 0 && clean.n == n && memcmp(clean.data, s, n) == 0;
    tok_bytes_free(&clean);
    return ok;
}

/* Answers one message; prints the result line(s). -1 on failure. */
static int answer(infer_chat *ch, const char *msg, size_t len, sink *s) {
    infer_result r;
    s->text.n = 0;
    g_interrupted = 0;
    int rc = infer_chat_send(ch, msg, len, on_text, s, &r);
    if (rc != 0) return -1;
    if (s->json) {
        tok_bytes clean = {0};
        size_t n = 0;
        infer_chat_context(ch, &n);
        if (infer_utf8_sanitize(s->text.data ? s->text.data : "", s->text.n, &clean) != 0) return -1;
        json_t *o = json_pack("{s:s%, s:I, s:I, s:s, s:f, s:f, s:I}", "text", clean.data, clean.n, "prompt_tokens",
                              (json_int_t)r.n_prompt, "tokens", (json_int_t)r.n_generated, "finish_reason",
                              infer_finish_name(r.finish), "prefill_tok_s", rate(r.n_prefill, r.prefill_s),
                              "decode_tok_s", rate(r.n_decode, r.decode_s), "context_used", (json_int_t)n);
        tok_bytes_free(&clean);
        if (!o) { ll_error("chat: could not build the JSON output"); return -1; }
        json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        fputc('\n', stdout);
    } else {
        fputc('\n', stdout);
        if (s->interactive && r.finish == INFER_FINISH_CANCEL) fputs("(answer stopped)\n", stdout);
    }
    fflush(stdout);
    return 0;
}

/* ---- the terminal ---- */

static char g_history_path[4096];

/* Rewrites the history file atomically from readline's list. */
static void save_history(void) {
    if (!g_history_path[0]) return;
    HIST_ENTRY **list = history_list();
    size_t n = 0, cap = 4096;
    char *buf = ll_malloc(cap);
    if (!buf) return;
    for (int i = 0; list && list[i]; i++) {
        size_t len = strlen(list[i]->line);
        if (n + len + 2 > cap) {
            while (n + len + 2 > cap) cap *= 2;
            char *g = ll_realloc(buf, cap);
            if (!g) { free(buf); return; }
            buf = g;
        }
        memcpy(buf + n, list[i]->line, len);
        n += len;
        buf[n++] = '\n';
    }
    if (ll_write_file_atomic(g_history_path, buf, n) != 0) g_history_path[0] = '\0';   /* warn once */
    free(buf);
}

/* readline's alternate (callback) interface: the loop below waits in
 * select() on the terminal and the wake-up pipe, so a Ctrl-C drops the line
 * being typed at once, whichever thread took the signal; readline's own
 * handlers stay off. */
static char *g_line;
static int g_line_done, g_eof;

static void on_line(char *line) {
    g_line = line;
    g_eof = line == NULL;
    g_line_done = 1;
    rl_callback_handler_remove();   /* no second prompt until the next install */
}

/* Reads one line at "> "; NULL on Ctrl-D. Ctrl-C drops the line being
 * typed ("^C") and starts a new one. */
static char *read_line(void) {
    g_line = NULL;
    g_line_done = g_eof = 0;
    g_interrupted = 0;
    drain_wake();   /* a Ctrl-C that stopped the last answer is spent */
    rl_callback_handler_install("> ", on_line);
    while (!g_line_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(STDIN_FILENO, &fds);
        int nfds = STDIN_FILENO + 1;
        if (g_wake[0] >= 0) {
            FD_SET(g_wake[0], &fds);
            if (g_wake[0] + 1 > nfds) nfds = g_wake[0] + 1;
        }
        int r = g_interrupted ? 0 : select(nfds, &fds, NULL, NULL, NULL);
        if (g_interrupted || (r < 0 && errno == EINTR)) {
            drain_wake();
            if (g_interrupted) {
                g_interrupted = 0;
                rl_free_line_state();
                rl_callback_sigcleanup();
                rl_replace_line("", 0);
                rl_point = rl_end = rl_mark = 0;
                fputs("^C\n", stdout);
                fflush(stdout);
                rl_on_new_line();
                rl_redisplay();
            }
            continue;
        }
        if (r < 0) { rl_callback_handler_remove(); return NULL; }
        if (g_wake[0] >= 0 && FD_ISSET(g_wake[0], &fds)) drain_wake();
        if (!FD_ISSET(STDIN_FILENO, &fds)) continue;
        rl_callback_read_char();
    }
    return g_eof ? NULL : g_line;
}

static int repl(infer_chat *ch, const char *ckpt, sink *s) {
    const char *home = getenv("HOME");
    if (home && *home) snprintf(g_history_path, sizeof g_history_path, "%s/.llmpi_history", home);
    using_history();
    stifle_history(HISTORY_MAX);
    if (g_history_path[0] && access(g_history_path, R_OK) == 0) read_history(g_history_path);
    rl_catch_signals = 0;
    infer_chat_stats st;
    infer_chat_get_stats(ch, &st);
    printf("llmpi chat: %s (context %zu tokens). /help for commands, Ctrl-C stops an answer, Ctrl-D quits.\n",
           ckpt, st.context_size);
    fflush(stdout);
    for (;;) {
        char *line = read_line();
        if (!line) { fputc('\n', stdout); break; }
        size_t len = strlen(line);
        if (len == 0 || strspn(line, " \t") == len) { free(line); continue; }
        add_history(line);
        save_history();
        if (line[0] == '/') {
            int quit = command(ch, line, stdout);
            free(line);
            if (quit) break;
            continue;
        }
        answer(ch, line, len, s);   /* an error is one line; the conversation goes on */
        free(line);
    }
    return 0;
}

/* ---- a pipe ---- */

static int pipe_loop(infer_chat *ch, sink *s) {
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        if (!is_text(line, len)) {
            ll_error("chat: stdin line %ld is not UTF-8 text (binary input?)", lineno);
            rc = 1;
            break;
        }
        line[len] = '\0';
        if (len == 0 || strspn(line, " \t") == len) continue;
        if (line[0] == '/') {
            if (command(ch, line, stderr)) break;
            continue;
        }
        if (answer(ch, line, len, s) != 0) { rc = 1; break; }
    }
    if (rc == 0 && ferror(stdin)) { ll_error("chat: reading stdin: %s", strerror(errno)); rc = 1; }
    free(line);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'},  {"tokenizer", required_argument, 0, 'T'},
        {"system", required_argument, 0, 'S'},      {"json", no_argument, 0, 'j'},
        {"max-tokens", required_argument, 0, 'n'},  {"temperature", required_argument, 0, 't'},
        {"top-k", required_argument, 0, 'k'},       {"top-p", required_argument, 0, 'P'},
        {"min-p", required_argument, 0, 'm'},       {"repeat-penalty", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 's'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *ckpt = NULL, *tok_path = NULL, *system = NULL;
    const char *set_name[16], *set_value[16];
    int n_sets = 0, json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *name = NULL;
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'T': tok_path = optarg; break;
        case 'S': system = optarg; break;
        case 'j': json = 1; break;
        case 'n': name = "max_tokens"; break;
        case 't': name = "temperature"; break;
        case 'k': name = "top_k"; break;
        case 'P': name = "top_p"; break;
        case 'm': name = "min_p"; break;
        case 'r': name = "repeat_penalty"; break;
        case 's': name = "seed"; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (name && n_sets < 16) { set_name[n_sets] = name; set_value[n_sets++] = optarg; }
    }
    if (optind < argc) { ll_error("chat: unexpected argument '%s'", argv[optind]); return 2; }
    if (!ckpt) { ll_error("chat: --checkpoint is required (see llmpi chat --help)"); return 2; }
    /* the sampler options are checked before the model is loaded */
    infer_options probe;
    memset(&probe, 0, sizeof probe);
    probe.sampling = (infer_sampling){0.8f, 40, 1.0f, 0.0f, 1.0f, 64};
    for (int i = 0; i < n_sets; i++)
        if (infer_options_set(&probe, set_name[i], set_value[i]) != 0) return 2;
    if (ll_rank() != 0) return 0;
    ll_set_threads(ll_cores_available());

    infer_model im;
    if (infer_open(&im, ckpt, tok_path) != 0) return 1;
    int rc = 1;
    infer_chat *ch = infer_chat_new(&im, system);
    sink s = {.json = json};
    if (!ch) goto done;
    for (int i = 0; i < n_sets; i++) infer_options_set(infer_chat_options(ch), set_name[i], set_value[i]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);   /* no SA_RESTART: a read is interrupted */
    if (isatty(STDIN_FILENO)) {
        s.interactive = 1;
        if (pipe(g_wake) != 0) g_wake[0] = g_wake[1] = -1;
        for (int i = 0; i < 2 && g_wake[i] >= 0; i++) {
            fcntl(g_wake[i], F_SETFL, O_NONBLOCK);
            fcntl(g_wake[i], F_SETFD, FD_CLOEXEC);
        }
        rc = repl(ch, ckpt, &s);
        if (g_wake[0] >= 0) { close(g_wake[0]); close(g_wake[1]); g_wake[0] = g_wake[1] = -1; }
    } else {
        s.flatten = !json;
        rc = pipe_loop(ch, &s);
    }
done:
    fflush(stdout);
    tok_bytes_free(&s.text);
    infer_chat_free(ch);
    infer_close(&im);
    return rc;
}
