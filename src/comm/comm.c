/* comm.c: MPI world, node topology and the gradient reduction.
 *
 * Invariant: every collective is called by all ranks in the same order; a
 * single process without a launcher is a world of one and pays nothing.
 */
#include "llmpi/comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpi/util.h"

int comm_init(comm_world *w) {
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w->rank, MPI_INFO_NULL, &node) != MPI_SUCCESS) {
        ll_error("mpi: cannot determine the ranks of this node");
        return -1;
    }
    MPI_Comm_rank(node, &w->local_rank);
    MPI_Comm_size(node, &w->local_size);
    MPI_Comm_free(&node);
    return 0;
}

int comm_allreduce_floats(float *buf, size_t n) {
    /* MPI counts are int: reduce in slices */
    for (size_t off = 0; off < n;) {
        int count = n - off > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)(n - off);
        if (MPI_Allreduce(MPI_IN_PLACE, buf + off, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
            ll_error("mpi: gradient all-reduce failed");
            return -1;
        }
        off += (size_t)count;
    }
    return 0;
}

int comm_allreduce_doubles(double *buf, int n) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

int comm_allreduce_longs(long *buf, int n) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_LONG, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

int comm_any(int flag) {
    int any = 0;
    MPI_Allreduce(&flag, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    return any;
}

int comm_allgather_u64(uint64_t value, uint64_t *all) {
    if (MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD) != MPI_SUCCESS) {
        ll_error("mpi: all-gather failed");
        return -1;
    }
    return 0;
}

int comm_default_threads(const comm_world *w) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int per_rank = (int)((online > 0 ? online : 1) / (w->local_size > 0 ? w->local_size : 1));
    int mine = ll_cores_available();
    /* a launcher that binds each rank to one core leaves it only that core */
    if (mine < per_rank) per_rank = mine;
    return per_rank < 1 ? 1 : per_rank;
}

/* ---- small collectives and messages for the data stages ---- */

int comm_rank(void) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

int comm_all(int flag) {
    int in = flag != 0, all = 0;
    if (MPI_Allreduce(&in, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) return 0;
    return all;
}

int comm_bcast(void *buf, size_t bytes, int root) {
    for (size_t off = 0; off < bytes;) {
        int count = bytes - off > (size_t)INT_MAX ? INT_MAX : (int)(bytes - off);
        if (MPI_Bcast((char *)buf + off, count, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS) {
            ll_error("mpi: broadcast failed");
            return -1;
        }
        off += (size_t)count;
    }
    return 0;
}

int comm_allreduce_u64(uint64_t *buf, size_t n) {
    for (size_t off = 0; off < n;) {
        int count = n - off > (size_t)(INT_MAX / 8) ? INT_MAX / 8 : (int)(n - off);
        if (MPI_Allreduce(MPI_IN_PLACE, buf + off, count, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
            ll_error("mpi: all-reduce failed");
            return -1;
        }
        off += (size_t)count;
    }
    return 0;
}

int comm_reduce_sum_max_doubles(const double *in, double *sum, double *max, int n) {
    if (MPI_Reduce(in, sum, n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Reduce(in, max, n, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        ll_error("mpi: reduce failed");
        return -1;
    }
    return 0;
}

/* Two message slots: one may be in flight while the next is filled. */
struct comm_notes {
    int tag, slot;
    MPI_Request req;
    uint64_t msg[2][COMM_NOTE_MAX];
};

comm_notes *comm_notes_new(int tag) {
    comm_notes *s = ll_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->tag = tag;
    s->req = MPI_REQUEST_NULL;
    return s;
}

int comm_notes_send(comm_notes *s, const uint64_t *msg, int n) {
    if (n < 0 || n > COMM_NOTE_MAX) { ll_error("mpi: a note of %d values (at most %d)", n, COMM_NOTE_MAX); return -1; }
    MPI_Wait(&s->req, MPI_STATUS_IGNORE);   /* the previous message left: its slot is free */
    s->slot ^= 1;
    memcpy(s->msg[s->slot], msg, (size_t)n * sizeof *msg);
    if (MPI_Isend(s->msg[s->slot], n, MPI_UINT64_T, 0, s->tag, MPI_COMM_WORLD, &s->req) != MPI_SUCCESS) {
        ll_error("mpi: sending a note to rank 0 failed");
        return -1;
    }
    return 0;
}

void comm_notes_free(comm_notes *s) {
    if (!s) return;
    MPI_Wait(&s->req, MPI_STATUS_IGNORE);
    free(s);
}

int comm_notes_receive(int tag, int wait, uint64_t *msg, int n, int *source) {
    int flag = 1;
    MPI_Status st;
    if (!wait) MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &st);
    if (!flag) return 0;
    MPI_Recv(msg, n, MPI_UINT64_T, MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &st);
    *source = st.MPI_SOURCE;
    return 1;
}
