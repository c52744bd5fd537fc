/*
 * ragdflat — the optional GPU engine of ragd's exact search (package
 * flat/cuda). A small C ABI over CUDA and cuBLAS, loaded at run time by the
 * Go binary (purego, build tag gpu); the Go build never needs this file.
 *
 * An index holds n vectors of dim floats in device memory (fp32, or fp16
 * with fp32 accumulation), their squared norms, and a delete mask. Ids are
 * consecutive from 0 in the order of rf_add. A search computes the dot
 * products of a block of queries with a block of rows as one GEMM
 * (cublasSgemm, or cublasGemmEx with fp16 inputs and fp32 compute), turns
 * them into keys that rank like the distance, and keeps each query's k best
 * with a block-wide selection in shared memory.
 *
 * Metrics and distances (as package flat and hnsw):
 *   RF_L2      squared Euclidean: |q|^2 + |r|^2 - 2 q.r (clamped at 0)
 *   RF_COSINE  1 - q.r; the caller stores unit vectors and sends unit queries
 *   RF_DOT     -q.r
 * Results are sorted by (distance, id) ascending.
 *
 * Errors: every function but rf_abi_version and rf_destroy returns RF_OK (0)
 * or a negative RF_ERR_* code, and then writes a NUL-terminated message of
 * at most errlen bytes (errlen > 0) to err. Nothing is kept in thread-local
 * state, so the caller may call from any thread.
 *
 * Concurrency: one index must not be used by two calls at once (the Go side
 * holds a lock); different indexes may. Each call selects the index's
 * device on the calling thread first.
 *
 * Memory passed in is only read (or, for results, written) during the call
 * and never kept.
 */
#ifndef RAGDFLAT_H
#define RAGDFLAT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version: bumped on any change of the functions below. */
#define RF_ABI_VERSION 1

/* The largest k of rf_search. */
#define RF_MAX_K 1024

/* Return codes. */
#define RF_OK 0
#define RF_ERR_ARG (-1)    /* bad argument */
#define RF_ERR_CUDA (-2)   /* CUDA runtime or cuBLAS failure */
#define RF_ERR_NOMEM (-3)  /* device out of memory */
#define RF_ERR_NODEV (-4)  /* no such device */
#define RF_ERR_NOCUDA (-5) /* no usable CUDA driver */

/* Metrics: the values of flat.Metric. */
#define RF_L2 1
#define RF_COSINE 2
#define RF_DOT 3

typedef struct rf_index rf_index;

/* rf_abi_version returns RF_ABI_VERSION of the built library. */
int32_t rf_abi_version(void);

/* rf_device_count sets *n to the number of CUDA devices (0 when there is
 * none, which is not an error). */
int32_t rf_device_count(int32_t *n, char *err, int32_t errlen);

/* rf_create makes an empty index on device for vectors of dim floats,
 * reserving room for capacity of them (grown by doubling later), and sets
 * *out. fp16 != 0 stores the vectors in half precision. */
int32_t rf_create(int32_t device, int32_t dim, int32_t metric, int32_t fp16, int64_t capacity,
                  rf_index **out, char *err, int32_t errlen);

/* rf_add appends n vectors (n*dim floats, back to back); they get the ids
 * that follow the last one. */
int32_t rf_add(rf_index *ix, const float *vecs, int64_t n, char *err, int32_t errlen);

/* rf_delete masks vector id out of later searches. */
int32_t rf_delete(rf_index *ix, int64_t id, char *err, int32_t errlen);

/* rf_search finds the k (1 to RF_MAX_K) nearest non-deleted vectors of each
 * of nq queries (nq*dim floats) and writes query i's results to
 * dist[i*k .. i*k+k-1] and ids[i*k .. i*k+k-1], nearest first; when fewer
 * than k vectors are admitted the remaining ids are -1. allow, if not NULL,
 * is a bitmap of the rows admitted: bit (id % 64) of word id / 64, covering
 * every row added so far. */
int32_t rf_search(rf_index *ix, const float *queries, int64_t nq, int32_t k, const uint64_t *allow,
                  float *dist, int64_t *ids, char *err, int32_t errlen);

/* rf_destroy frees the index and its device memory. */
void rf_destroy(rf_index *ix);

#ifdef __cplusplus
}
#endif

#endif /* RAGDFLAT_H */
