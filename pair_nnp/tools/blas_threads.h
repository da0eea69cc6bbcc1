/* The process settings a pair_nnp program makes at start, where it owns the process (nnp.h, "Threads"). */
#ifndef NNP_TOOLS_BLAS_THREADS_H
#define NNP_TOOLS_BLAS_THREADS_H

/* BLAS single-threaded: the core calls BLAS from its own OpenMP threads, and BLAS threads of their own would compete
 * for the same cores. Acts on OpenBLAS; other BLAS libraries are left as they are. */
void tools_blas_single_threaded(void);

#endif
