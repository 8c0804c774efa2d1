/* walk.h: the one way llmpi turns --input arguments into a list of files.
 *
 * Order: arguments in the order given; the files under one folder argument
 * sorted byte-wise by full path (so the "first of two duplicates" is the same
 * for every stage and every run). Entries whose name starts with '.' inside
 * a folder are skipped; symbolic links are followed.
 * Guards: folders nested deeper than max_depth are an error; a folder link
 * back to one of its own ancestors (same device and inode) is skipped with a
 * warning, so a link loop ends at once instead of at the depth limit.
 * Errors: an argument that does not exist or cannot be read, or that is
 * neither a regular file nor a folder (a FIFO, /dev/zero), is an error (one
 * line, -1); so is a file larger than max_file_bytes (the callers read a
 * whole file into memory). Inside a folder only regular files are taken. Inside a folder, an entry that cannot be examined (a dangling
 * link, a folder that cannot be listed, a file that cannot be opened) gets one
 * warning line and is counted in n_unreadable; with strict, the walk then
 * fails with one summary line after naming them all.
 */
#ifndef LLMPI_WALK_H
#define LLMPI_WALK_H

#include <stddef.h>
#include <stdint.h>

#define WALK_DEFAULT_MAX_DEPTH 64
/* Largest file the whole-file readers (clean, prepare, tokenizer info) take. */
#define WALK_DEFAULT_MAX_FILE_BYTES ((uint64_t)1 << 32)

/* Which files inside folders are taken (a file named as an argument always is). */
typedef enum {
    WALK_TXT,   /* regular files named *.txt */
    WALK_ALL    /* every regular file */
} walk_filter;

typedef struct {
    walk_filter filter;
    int max_depth;         /* folder levels below an argument; 0: WALK_DEFAULT_MAX_DEPTH */
    int strict;            /* 1: any unreadable entry fails the walk (after all are named) */
    int list_unreadable;   /* 1: unreadable entries also appear in the list, flagged */
    uint64_t max_file_bytes; /* larger files are an error; 0: no limit */
} walk_options;

/* Refuses (-1, one line naming both) an output that is one of the inputs, or
 * lies inside an input folder, or that holds an input (an input inside the
 * output folder): paths are compared after resolving links and "..", the
 * output's missing tail lexically. what names the command in the line. */
int walk_check_output(const char *const *inputs, size_t n_inputs, const char *out, const char *what);

typedef struct {
    char *path;        /* argument, or argument + "/" + path below it */
    size_t rel;        /* offset in path of the part below the argument (a file argument: its base name) */
    size_t arg;        /* index of the argument it came from */
    uint64_t size;     /* bytes (stat), 0 for an unreadable entry */
    int unreadable;    /* 0, or 1 (file) / 2 (folder) with list_unreadable */
} walk_entry;

#define WALK_UNREADABLE_FILE 1
#define WALK_UNREADABLE_FOLDER 2

typedef struct {
    walk_entry *v;
    size_t n, cap;
    size_t n_unreadable;   /* entries inside folders that could not be read */
    size_t n_loops;        /* folder links back to an ancestor, skipped */
} walk_list;

/* Options: WALK_TXT, default depth, not strict, unreadable entries not listed,
 * files up to WALK_DEFAULT_MAX_FILE_BYTES. */
void walk_options_default(walk_options *o);
/* Appends the files of args[0..n_args) to out (zeroed, or from an earlier
 * walk). 0, or -1 (one line; out keeps what was found and must be freed). */
int walk_inputs(const char *const *args, size_t n_args, const walk_options *o, walk_list *out);
void walk_list_free(walk_list *l);

#endif
