/* walk.c: --input arguments -> files (see walk.h for the order and policy).
 *
 * Invariants:
 *   - the list depends only on the file system and the arguments: entries of
 *     one argument are sorted by full path after the walk, never in readdir
 *     order;
 *   - recursion is bounded by max_depth (each level holds one open folder
 *     and heap-allocated names only), and a folder whose (device, inode) is
 *     already on the path from the argument is never entered again;
 *   - every unreadable entry is named exactly once, by a warning here.
 */
#include "llmpi/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpi/util.h"

typedef struct {
    const walk_options *o;
    walk_list *out;
    size_t arg, rel;          /* current argument and the offset of paths below it */
    dev_t *dev;               /* (max_depth + 1) devices and inodes of the open folders */
    ino_t *ino;
} walker;

void walk_options_default(walk_options *o) {
    memset(o, 0, sizeof *o);
    o->filter = WALK_TXT;
    o->max_depth = WALK_DEFAULT_MAX_DEPTH;
    o->max_file_bytes = WALK_DEFAULT_MAX_FILE_BYTES;
}

/* Appends a copy of path. 0 / -1 (one line). */
static int list_add(walk_list *l, const char *path, size_t rel, size_t arg, uint64_t size, int unreadable) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        walk_entry *v = ll_realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    char *copy = ll_strdup(path);
    if (!copy) return -1;
    l->v[l->n++] = (walk_entry){.path = copy, .rel = rel, .arg = arg, .size = size, .unreadable = unreadable};
    return 0;
}

void walk_list_free(walk_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* An entry inside a folder that cannot be read: one warning, counted, and
 * listed when asked. 0 / -1 (out of memory). */
static int unreadable(walker *w, const char *path, const char *what, int err, int kind) {
    ll_warn("%s: %s: %s", path, what, strerror(err));
    w->out->n_unreadable++;
    return w->o->list_unreadable ? list_add(w->out, path, w->rel, w->arg, 0, kind) : 0;
}

/* 1 if the regular file at path can be opened for reading (errno set otherwise). */
static int can_open(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

/* 1 if a regular file called name inside a folder passes the filter. */
static int takes(const walk_options *o, const char *name) {
    if (o->filter == WALK_ALL) return 1;
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".txt") == 0;
}

/* qsort orders: byte-wise, locale-free. */
static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_entries(const void *a, const void *b) {
    return strcmp(((const walk_entry *)a)->path, ((const walk_entry *)b)->path);
}

/* Adds the files under folder dir (already stat'ed into *st), which is depth
 * levels below the argument. 0 / -1 (one line). */
static int walk_folder(walker *w, const char *dir, const struct stat *st, int depth) {
    int max_depth = w->o->max_depth > 0 ? w->o->max_depth : WALK_DEFAULT_MAX_DEPTH;
    if (depth > max_depth) {
        ll_error("%s: folders nested deeper than %d levels below the input", dir, max_depth);
        return -1;
    }
    for (int d = 0; d < depth; d++)
        if (w->dev[d] == st->st_dev && w->ino[d] == st->st_ino) {
            ll_warn("%s: skipped: a link back to a folder above it", dir);
            w->out->n_loops++;
            return 0;
        }
    w->dev[depth] = st->st_dev;
    w->ino[depth] = st->st_ino;
    DIR *d = opendir(dir);
    if (!d) return unreadable(w, dir, "cannot read folder", errno, WALK_UNREADABLE_FOLDER);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = ll_realloc(names, cap * sizeof *grown);
            if (!grown) { rc = -1; break; }
            names = grown;
        }
        if (!(names[n] = ll_strdup(e->d_name))) { rc = -1; break; }
        n++;
        errno = 0;
    }
    int read_err = rc == 0 ? errno : 0;
    closedir(d);
    if (read_err)   /* on out of memory (rc -1) ll_realloc / ll_strdup printed the line */ rc = unreadable(w, dir, "cannot read folder", read_err, WALK_UNREADABLE_FOLDER);
    /* any fixed order will do (the caller's sort decides); sorting here keeps warnings ordered */
    if (rc == 0 && n > 1) qsort(names, n, sizeof *names, cmp_names);
    size_t dir_len = strlen(dir);
    int slash = dir_len > 0 && dir[dir_len - 1] == '/' ? 0 : 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t len = dir_len + (size_t)slash + strlen(names[i]) + 1;
        char *path = ll_malloc(len);
        if (!path) { rc = -1; break; }
        snprintf(path, len, "%s%s%s", dir, slash ? "/" : "", names[i]);
        struct stat cs;
        if (stat(path, &cs) != 0) rc = unreadable(w, path, "cannot read", errno, WALK_UNREADABLE_FILE);
        else if (S_ISDIR(cs.st_mode)) rc = walk_folder(w, path, &cs, depth + 1);
        else if (S_ISREG(cs.st_mode) && takes(w->o, names[i])) {
            if (!can_open(path)) rc = unreadable(w, path, "cannot read", errno, WALK_UNREADABLE_FILE);
            else if (w->o->max_file_bytes && (uint64_t)cs.st_size > w->o->max_file_bytes) {
                ll_error("%s: %llu bytes, more than the %llu a single input may have", path,
                         (unsigned long long)cs.st_size, (unsigned long long)w->o->max_file_bytes);
                rc = -1;
            } else rc = list_add(w->out, path, w->rel, w->arg, (uint64_t)cs.st_size, 0);
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

/* Adds one argument: a file (any name) or a folder. 0 / -1 (one line). */
static int walk_arg(walker *w, const char *arg) {
    struct stat st;
    if (stat(arg, &st) != 0) { ll_error("%s: cannot read input: %s", arg, strerror(errno)); return -1; }
    if (!S_ISDIR(st.st_mode)) {
        /* a FIFO, a device (/dev/zero) or a socket would be read forever or block */
        if (!S_ISREG(st.st_mode)) {
            ll_error("%s: cannot read input: not a regular file or folder", arg);
            return -1;
        }
        if (!can_open(arg)) {
            ll_error("%s: cannot read input: %s", arg, strerror(errno));
            return -1;
        }
        if (w->o->max_file_bytes && (uint64_t)st.st_size > w->o->max_file_bytes) {
            ll_error("%s: %llu bytes, more than the %llu a single input may have", arg,
                     (unsigned long long)st.st_size, (unsigned long long)w->o->max_file_bytes);
            return -1;
        }
        const char *base = strrchr(arg, '/');
        return list_add(w->out, arg, base ? (size_t)(base + 1 - arg) : 0, w->arg, (uint64_t)st.st_size, 0);
    }
    if (access(arg, R_OK | X_OK) != 0) { ll_error("%s: cannot read folder: %s", arg, strerror(errno)); return -1; }
    size_t len = strlen(arg);
    w->rel = len > 0 && arg[len - 1] == '/' ? len : len + 1;
    size_t first = w->out->n;
    if (walk_folder(w, arg, &st, 0) != 0) return -1;
    if (w->out->n - first > 1) qsort(w->out->v + first, w->out->n - first, sizeof *w->out->v, cmp_entries);
    return 0;
}

int walk_inputs(const char *const *args, size_t n_args, const walk_options *o, walk_list *out) {
    walk_options def;
    if (!o) { walk_options_default(&def); o = &def; }
    int max_depth = o->max_depth > 0 ? o->max_depth : WALK_DEFAULT_MAX_DEPTH;
    walker w = {.o = o, .out = out};
    w.dev = ll_malloc(((size_t)max_depth + 1) * sizeof *w.dev);
    w.ino = ll_malloc(((size_t)max_depth + 1) * sizeof *w.ino);
    size_t before = out->n_unreadable;
    int rc = w.dev && w.ino ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n_args; i++) {
        w.arg = i;
        rc = walk_arg(&w, args[i]);
    }
    if (rc == 0 && o->strict && out->n_unreadable > before) {
        ll_error("walk: %zu entr%s under the inputs could not be read (named above)", out->n_unreadable - before,
                 out->n_unreadable - before == 1 ? "y" : "ies");
        rc = -1;
    }
    free(w.dev);
    free(w.ino);
    return rc;
}

/* The absolute path of path with links and ".." resolved: realpath of the
 * longest part that exists, then the missing tail lexically. 0 / -1 (errno). */
static int resolve_path(const char *path, char *out, size_t cap) {
    char head[PATH_MAX], resolved[PATH_MAX];
    size_t tail = strlen(path);   /* path[0..tail) is tried; path + tail is resolved lexically */
    if (tail >= sizeof head) { errno = ENAMETOOLONG; return -1; }
    memcpy(head, path, tail + 1);
    for (;;) {
        head[tail] = '\0';
        if (realpath(tail ? head : ".", resolved)) break;
        if ((errno != ENOENT && errno != ENOTDIR) || tail == 0) return -1;
        size_t i = tail;                        /* drop the last component */
        while (i > 0 && head[i - 1] != '/') i--;
        while (i > 1 && head[i - 1] == '/') i--;   /* and its slashes, keeping a leading "/" */
        tail = i;
    }
    size_t n = strlen(resolved);
    if (n >= cap) { errno = ENAMETOOLONG; return -1; }
    memcpy(out, resolved, n + 1);
    /* the missing components after buf[0..tail) */
    const char *rest = path + tail;
    while (*rest) {
        while (*rest == '/') rest++;
        size_t len = strcspn(rest, "/");
        if (len == 0) break;
        if (len == 1 && rest[0] == '.') { /* nothing */ }
        else if (len == 2 && rest[0] == '.' && rest[1] == '.') {
            char *slash = strrchr(out, '/');
            if (slash && slash != out) *slash = '\0';
            else { out[0] = '/'; out[1] = '\0'; }
        } else {
            size_t have = strlen(out);
            int sep = have > 0 && out[have - 1] != '/';
            if (have + (size_t)sep + len + 1 > cap) { errno = ENAMETOOLONG; return -1; }
            if (sep) out[have++] = '/';
            memcpy(out + have, rest, len);
            out[have + len] = '\0';
        }
        rest += len;
    }
    return 0;
}

/* 1 if resolved path inner lies strictly inside resolved folder outer. */
static int is_inside(const char *inner, const char *outer) {
    size_t n = strlen(outer);
    if (strncmp(inner, outer, n) != 0) return 0;
    return (n > 0 && outer[n - 1] == '/') ? inner[n] != '\0' : inner[n] == '/';
}

int walk_check_output(const char *const *inputs, size_t n_inputs, const char *out, const char *what) {
    char out_r[PATH_MAX], in_r[PATH_MAX];
    if (resolve_path(out, out_r, sizeof out_r) != 0) {
        ll_error("%s: %s: cannot resolve the output path: %s", what, out, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n_inputs; i++) {
        if (resolve_path(inputs[i], in_r, sizeof in_r) != 0) continue;   /* the walk names it */
        const char *problem = !strcmp(out_r, in_r)       ? "is the input"
                              : is_inside(out_r, in_r)   ? "is inside the input folder"
                              : is_inside(in_r, out_r)   ? "holds the input"
                                                         : NULL;
        if (problem) {
            ll_error("%s: output %s %s %s: refusing to write over the input", what, out, problem, inputs[i]);
            return -1;
        }
    }
    return 0;
}
