/* dist.h: the few places MPI appears in training.
 *
 * A plain process (no launcher) is an MPI singleton: rank 0 of 1, and every
 * call here degenerates to a no-op copy. The model and optimizer never see MPI.
 */
#ifndef LLMPI_DIST_H
#define LLMPI_DIST_H

#include <stddef.h>

typedef struct {
    int rank, size;            /* in MPI_COMM_WORLD */
    int local_rank, local_size; /* among the ranks on this node */
} dist_world;

/* Fills w from MPI_COMM_WORLD (MPI must be initialised). */
int dist_init(dist_world *w);
/* In-place sum of n floats over all ranks (fixed order: rank count fixed). */
int dist_allreduce_floats(float *buf, size_t n);
/* In-place sum of doubles / longs. */
int dist_allreduce_doubles(double *buf, int n);
int dist_allreduce_longs(long *buf, int n);
/* 1 if any rank passes a non-zero flag. */
int dist_any(int flag);
/* Threads per rank: the cores of this rank's node divided by its ranks there
 * (at least 1), bounded by the cores this process may use. */
int dist_default_threads(const dist_world *w);

#endif
