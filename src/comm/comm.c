/* comm.c: MPI world, node topology and the gradient reduction.
 *
 * Invariant: every collective is called by all ranks in the same order; a
 * single process without a launcher is a world of one and pays nothing.
 */
#include "llmpi/comm.h"

#include <limits.h>
#include <mpi.h>
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
