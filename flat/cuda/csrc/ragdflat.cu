// ragdflat: exact k-nearest-neighbour search on a GPU, the CUDA side of
// package flat/cuda. The ABI and its conventions are in ragdflat.h.
//
// Build: make cuda (nvcc -O3 -shared -Xcompiler -fPIC ... -lcublas).

#include "ragdflat.h"

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <vector>

namespace {

// Selection: one block of kSelThreads threads per query keeps that query's
// k best (key, id) pairs in shared memory. A candidate enters the buffer
// only if it beats the current k-th best; when the buffer could overflow in
// the next round it is sorted (bitonic) and cut back to k.
constexpr int kSelThreads = 256;
constexpr int kSelCap = 4096;  // power of two, >= RF_MAX_K + kSelThreads
static_assert(kSelCap >= RF_MAX_K + kSelThreads, "selection buffer too small");

// Device memory for the products of one GEMM: queries per block times rows
// per block, at most this many floats.
constexpr size_t kDotsFloats = size_t(64) << 20;  // 256 MiB
constexpr int64_t kMaxQueryBlock = 4096;
// Staging for fp16 uploads, in floats.
constexpr int64_t kStageFloats = int64_t(16) << 20;

constexpr uint32_t kNoID = 0xffffffffu;

}  // namespace

struct rf_index {
  int device = 0;
  int dim = 0;
  int metric = 0;
  bool fp16 = false;
  int64_t n = 0;
  int64_t cap = 0;
  void *vecs = nullptr;      // cap*dim floats or halves
  float *norms = nullptr;    // cap squared norms (of the stored values)
  uint32_t *del = nullptr;   // cap bits, 1 = deleted
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;

  // Search scratch, grown as needed and kept.
  float *q = nullptr;        // query block, fp32
  __half *qh = nullptr;      // query block, fp16
  float *qnorm = nullptr;    // squared norms of the query block
  float *dots = nullptr;     // GEMM output
  float *best = nullptr;     // k best keys per query of the block
  uint32_t *bestid = nullptr;
  uint32_t *allow = nullptr; // admitted rows, 1 bit each
  float *stage = nullptr;    // fp16 upload staging
  size_t qCap = 0, qhCap = 0, qnCap = 0, dotsCap = 0, bestCap = 0, bestidCap = 0, allowCap = 0;
};

namespace {

int fail(char *err, int32_t errlen, int32_t code, const char *fmt, ...) {
  if (err != nullptr && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size_t(errlen), fmt, ap);
    va_end(ap);
  }
  return code;
}

int32_t cudaCode(cudaError_t e) {
  switch (e) {
    case cudaErrorMemoryAllocation:
      return RF_ERR_NOMEM;
    case cudaErrorInvalidDevice:
    case cudaErrorNoDevice:
      return RF_ERR_NODEV;
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError:
      return RF_ERR_NOCUDA;
    default:
      return RF_ERR_CUDA;
  }
}

#define CK(call)                                                                               \
  do {                                                                                         \
    cudaError_t e_ = (call);                                                                   \
    if (e_ != cudaSuccess) {                                                                   \
      return fail(err, errlen, cudaCode(e_), "%s: %s", #call, cudaGetErrorString(e_));         \
    }                                                                                          \
  } while (0)

#define CKB(call)                                                                              \
  do {                                                                                         \
    cublasStatus_t s_ = (call);                                                                \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
      return fail(err, errlen, s_ == CUBLAS_STATUS_ALLOC_FAILED ? RF_ERR_NOMEM : RF_ERR_CUDA,  \
                  "%s: cuBLAS status %d", #call, int(s_));                                      \
    }                                                                                          \
  } while (0)

// ---- kernels ------------------------------------------------------------

__global__ void toHalf(const float *__restrict__ in, __half *__restrict__ out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    out[i] = __float2half_rn(in[i]);
  }
}

__device__ __forceinline__ float load(const float *v, int64_t i) { return v[i]; }
__device__ __forceinline__ float load(const __half *v, int64_t i) { return __half2float(v[i]); }

// rowNorms sets out[r] to the squared norm of row r: one warp per row,
// the warps of the grid striding over the rows.
template <typename T>
__global__ void rowNorms(const T *__restrict__ v, int dim, int64_t rows, float *__restrict__ out) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < rows; r += warps) {
    const T *row = v + r * dim;
    float s = 0;
    for (int i = lane; i < dim; i += 32) {
      float x = load(row, i);
      s = fmaf(x, x, s);
    }
    for (int o = 16; o > 0; o /= 2) s += __shfl_down_sync(0xffffffffu, s, o);
    if (lane == 0) out[r] = s;
  }
}

__global__ void setBit(uint32_t *bits, int64_t id) { atomicOr(&bits[id >> 5], 1u << (id & 31)); }

__global__ void fillBest(float *best, uint32_t *ids, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    best[i] = INFINITY;
    ids[i] = kNoID;
  }
}

__device__ __forceinline__ bool candLess(float ka, uint32_t ia, float kb, uint32_t ib) {
  return ka < kb || (ka == kb && ia < ib);
}

// sortShared sorts the first count pairs ascending by (key, id), padding
// up to the next power of two with (+Inf, kNoID). All threads call it.
__device__ void sortShared(float *key, uint32_t *id, int count) {
  int n = 2;
  while (n < count) n <<= 1;
  for (int i = count + threadIdx.x; i < n; i += blockDim.x) {
    key[i] = INFINITY;
    id[i] = kNoID;
  }
  __syncthreads();
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int i = threadIdx.x; i < n; i += blockDim.x) {
        int j = i ^ stride;
        if (j > i) {
          bool up = (i & size) == 0;
          bool swap = up ? candLess(key[j], id[j], key[i], id[i]) : candLess(key[i], id[i], key[j], id[j]);
          if (swap) {
            float tk = key[i];
            key[i] = key[j];
            key[j] = tk;
            uint32_t ti = id[i];
            id[i] = id[j];
            id[j] = ti;
          }
        }
      }
      __syncthreads();
    }
  }
}

// selectTopK merges rows c0 .. c0+nc-1 into each query's k best. Block q
// handles query q: its products are dots[q*ld .. q*ld+nc-1]; its k best so
// far (sorted, padded with +Inf) are best[q*k ..] and bestid[q*k ..].
__global__ void __launch_bounds__(kSelThreads) selectTopK(const float *__restrict__ dots, int64_t ld, int nc, int64_t c0,
                                                      const float *__restrict__ norms, int metric,
                                                      const uint32_t *__restrict__ del,
                                                      const uint32_t *__restrict__ allow, int k,
                                                      float *__restrict__ best, uint32_t *__restrict__ bestid) {
  __shared__ float skey[kSelCap];
  __shared__ uint32_t sid[kSelCap];
  __shared__ int count;
  __shared__ float kthKey;
  __shared__ uint32_t kthID;

  const int64_t q = blockIdx.x;
  const float *row = dots + q * ld;
  float *bk = best + q * k;
  uint32_t *bi = bestid + q * k;
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    skey[i] = bk[i];
    sid[i] = bi[i];
  }
  if (threadIdx.x == 0) {
    count = k;
    kthKey = bk[k - 1];
    kthID = bi[k - 1];
  }
  __syncthreads();

  for (int base = 0; base < nc; base += blockDim.x) {
    int j = base + threadIdx.x;
    if (j < nc) {
      int64_t id = c0 + j;
      bool ok = ((del[id >> 5] >> (id & 31)) & 1u) == 0;
      if (allow != nullptr) ok = ok && ((allow[id >> 5] >> (id & 31)) & 1u) != 0;
      if (ok) {
        float d = row[j];
        float key = metric == RF_L2 ? fmaf(-2.0f, d, norms[id]) : -d;
        // NaN never enters; ties go to the lower id, as on the CPU.
        if (key == key && candLess(key, uint32_t(id), kthKey, kthID)) {
          int pos = atomicAdd(&count, 1);
          skey[pos] = key;
          sid[pos] = uint32_t(id);
        }
      }
    }
    __syncthreads();
    int c = count;
    __syncthreads();  // every thread has read count before it changes
    if (c > kSelCap - kSelThreads) {
      sortShared(skey, sid, c);
      if (threadIdx.x == 0) {
        count = k;
        kthKey = skey[k - 1];
        kthID = sid[k - 1];
      }
      __syncthreads();
    }
  }
  sortShared(skey, sid, count);
  for (int i = threadIdx.x; i < k; i += blockDim.x) {
    bk[i] = skey[i];
    bi[i] = sid[i];
  }
}

int blocksFor(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return int(b < 65535 ? (b > 0 ? b : 1) : 65535);
}

// reserve grows the index to hold need rows.
int reserve(rf_index *ix, int64_t need, char *err, int32_t errlen) {
  if (need <= ix->cap) return RF_OK;
  int64_t cap = ix->cap * 2 > need ? ix->cap * 2 : need;
  size_t elem = ix->fp16 ? sizeof(__half) : sizeof(float);
  void *vecs = nullptr;
  float *norms = nullptr;
  uint32_t *del = nullptr;
  size_t words = size_t((cap + 31) / 32);
  cudaError_t e = cudaMalloc(&vecs, size_t(cap) * ix->dim * elem);
  if (e == cudaSuccess) e = cudaMalloc(&norms, size_t(cap) * sizeof(float));
  if (e == cudaSuccess) e = cudaMalloc(&del, words * sizeof(uint32_t));
  if (e == cudaSuccess) e = cudaMemsetAsync(del, 0, words * sizeof(uint32_t), ix->stream);
  if (e == cudaSuccess && ix->n > 0) {
    e = cudaMemcpyAsync(vecs, ix->vecs, size_t(ix->n) * ix->dim * elem, cudaMemcpyDeviceToDevice, ix->stream);
    if (e == cudaSuccess) e = cudaMemcpyAsync(norms, ix->norms, size_t(ix->n) * sizeof(float), cudaMemcpyDeviceToDevice, ix->stream);
    if (e == cudaSuccess)
      e = cudaMemcpyAsync(del, ix->del, size_t((ix->n + 31) / 32) * sizeof(uint32_t), cudaMemcpyDeviceToDevice, ix->stream);
  }
  if (e == cudaSuccess) e = cudaStreamSynchronize(ix->stream);
  if (e != cudaSuccess) {
    cudaFree(vecs);
    cudaFree(norms);
    cudaFree(del);
    return fail(err, errlen, cudaCode(e), "grow to %lld vectors: %s", (long long)cap, cudaGetErrorString(e));
  }
  cudaFree(ix->vecs);
  cudaFree(ix->norms);
  cudaFree(ix->del);
  ix->vecs = vecs;
  ix->norms = norms;
  ix->del = del;
  ix->cap = cap;
  return RF_OK;
}

// grow makes *p hold at least n elements of T (contents not kept).
template <typename T>
cudaError_t grow(T **p, size_t *cap, size_t n) {
  if (n <= *cap) return cudaSuccess;
  cudaFree(*p);
  *p = nullptr;
  *cap = 0;
  cudaError_t e = cudaMalloc(reinterpret_cast<void **>(p), n * sizeof(T));
  if (e == cudaSuccess) *cap = n;
  return e;
}

}  // namespace

extern "C" {

int32_t rf_abi_version(void) { return RF_ABI_VERSION; }

int32_t rf_device_count(int32_t *n, char *err, int32_t errlen) {
  int c = 0;
  cudaError_t e = cudaGetDeviceCount(&c);
  if (e == cudaErrorNoDevice) {
    *n = 0;
    return RF_OK;
  }
  CK(e);
  *n = c;
  return RF_OK;
}

int32_t rf_create(int32_t device, int32_t dim, int32_t metric, int32_t fp16, int64_t capacity, rf_index **out,
                  char *err, int32_t errlen) {
  if (dim < 1 || capacity < 0 || (metric != RF_L2 && metric != RF_COSINE && metric != RF_DOT) || out == nullptr) {
    return fail(err, errlen, RF_ERR_ARG, "bad argument: dim %d, metric %d, capacity %lld", dim, metric,
                (long long)capacity);
  }
  CK(cudaSetDevice(device));
  rf_index *ix = new rf_index;
  ix->device = device;
  ix->dim = dim;
  ix->metric = metric;
  ix->fp16 = fp16 != 0;
  cudaError_t e = cudaStreamCreateWithFlags(&ix->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    delete ix;
    return fail(err, errlen, cudaCode(e), "cudaStreamCreate: %s", cudaGetErrorString(e));
  }
  if (cublasCreate(&ix->blas) != CUBLAS_STATUS_SUCCESS || cublasSetStream(ix->blas, ix->stream) != CUBLAS_STATUS_SUCCESS) {
    rf_destroy(ix);
    return fail(err, errlen, RF_ERR_CUDA, "cublasCreate failed");
  }
  // fp32 products stay fp32 (no TF32), so that they match the CPU engine.
  cublasSetMathMode(ix->blas, CUBLAS_DEFAULT_MATH);
  int32_t rc = reserve(ix, capacity > 0 ? capacity : 1, err, errlen);
  if (rc != RF_OK) {
    rf_destroy(ix);
    return rc;
  }
  *out = ix;
  return RF_OK;
}

int32_t rf_add(rf_index *ix, const float *vecs, int64_t n, char *err, int32_t errlen) {
  if (ix == nullptr || n < 0 || (n > 0 && vecs == nullptr)) return fail(err, errlen, RF_ERR_ARG, "bad argument");
  if (n == 0) return RF_OK;
  CK(cudaSetDevice(ix->device));
  int32_t rc = reserve(ix, ix->n + n, err, errlen);
  if (rc != RF_OK) return rc;
  const int dim = ix->dim;
  if (!ix->fp16) {
    float *dst = static_cast<float *>(ix->vecs) + ix->n * dim;
    CK(cudaMemcpyAsync(dst, vecs, size_t(n) * dim * sizeof(float), cudaMemcpyHostToDevice, ix->stream));
    rowNorms<float><<<blocksFor(n * 32, 256), 256, 0, ix->stream>>>(dst, dim, n, ix->norms + ix->n);
    CK(cudaGetLastError());
  } else {
    if (ix->stage == nullptr) CK(cudaMalloc(&ix->stage, size_t(kStageFloats) * sizeof(float)));
    int64_t per = kStageFloats / dim > 0 ? kStageFloats / dim : 1;
    if (per * dim > kStageFloats) {  // one row longer than the staging buffer
      CK(cudaFree(ix->stage));
      ix->stage = nullptr;
      CK(cudaMalloc(&ix->stage, size_t(dim) * sizeof(float)));
      per = 1;
    }
    for (int64_t r = 0; r < n; r += per) {
      int64_t m = n - r < per ? n - r : per;
      __half *dst = static_cast<__half *>(ix->vecs) + (ix->n + r) * dim;
      CK(cudaMemcpyAsync(ix->stage, vecs + r * dim, size_t(m) * dim * sizeof(float), cudaMemcpyHostToDevice, ix->stream));
      toHalf<<<blocksFor(m * dim, 256), 256, 0, ix->stream>>>(ix->stage, dst, m * dim);
      rowNorms<__half><<<blocksFor(m * 32, 256), 256, 0, ix->stream>>>(dst, dim, m, ix->norms + ix->n + r);
      CK(cudaGetLastError());
      CK(cudaStreamSynchronize(ix->stream));  // the staging buffer is reused
    }
  }
  CK(cudaStreamSynchronize(ix->stream));
  ix->n += n;
  return RF_OK;
}

int32_t rf_delete(rf_index *ix, int64_t id, char *err, int32_t errlen) {
  if (ix == nullptr || id < 0 || id >= ix->n) return fail(err, errlen, RF_ERR_ARG, "id %lld out of range", (long long)id);
  CK(cudaSetDevice(ix->device));
  setBit<<<1, 1, 0, ix->stream>>>(ix->del, id);
  CK(cudaGetLastError());
  CK(cudaStreamSynchronize(ix->stream));
  return RF_OK;
}

int32_t rf_search(rf_index *ix, const float *queries, int64_t nq, int32_t k, const uint64_t *allow, float *dist,
                  int64_t *ids, char *err, int32_t errlen) {
  if (ix == nullptr || nq < 0 || k < 1 || k > RF_MAX_K || (nq > 0 && (queries == nullptr || dist == nullptr || ids == nullptr))) {
    return fail(err, errlen, RF_ERR_ARG, "bad argument: nq %lld, k %d", (long long)nq, k);
  }
  if (nq == 0) return RF_OK;
  const int64_t n = ix->n;
  if (n == 0) {
    for (int64_t i = 0; i < nq * k; i++) {
      dist[i] = INFINITY;
      ids[i] = -1;
    }
    return RF_OK;
  }
  CK(cudaSetDevice(ix->device));
  const int dim = ix->dim;
  const int64_t qb = nq < kMaxQueryBlock ? nq : kMaxQueryBlock;
  int64_t nb = int64_t(kDotsFloats / size_t(qb));
  if (nb > n) nb = n;
  if (nb < 1) nb = 1;
  CK(grow(&ix->q, &ix->qCap, size_t(qb) * dim));
  if (ix->fp16) CK(grow(&ix->qh, &ix->qhCap, size_t(qb) * dim));
  CK(grow(&ix->qnorm, &ix->qnCap, size_t(qb)));
  CK(grow(&ix->dots, &ix->dotsCap, size_t(qb) * size_t(nb)));
  CK(grow(&ix->best, &ix->bestCap, size_t(qb) * k));
  CK(grow(&ix->bestid, &ix->bestidCap, size_t(qb) * k));
  const uint32_t *dallow = nullptr;
  if (allow != nullptr) {
    size_t words = size_t((n + 63) / 64) * 2;
    CK(grow(&ix->allow, &ix->allowCap, words));
    CK(cudaMemcpyAsync(ix->allow, allow, words * sizeof(uint32_t), cudaMemcpyHostToDevice, ix->stream));
    dallow = ix->allow;
  }

  std::vector<float> hbest(static_cast<size_t>(qb) * k);
  std::vector<float> hqn(static_cast<size_t>(qb));
  std::vector<uint32_t> hid(static_cast<size_t>(qb) * k);
  const float one = 1.0f, zero = 0.0f;
  for (int64_t q0 = 0; q0 < nq; q0 += qb) {
    const int64_t m = nq - q0 < qb ? nq - q0 : qb;
    CK(cudaMemcpyAsync(ix->q, queries + q0 * dim, size_t(m) * dim * sizeof(float), cudaMemcpyHostToDevice, ix->stream));
    if (ix->fp16) {
      toHalf<<<blocksFor(m * dim, 256), 256, 0, ix->stream>>>(ix->q, ix->qh, m * dim);
      rowNorms<__half><<<blocksFor(m * 32, 256), 256, 0, ix->stream>>>(ix->qh, dim, m, ix->qnorm);
    } else {
      rowNorms<float><<<blocksFor(m * 32, 256), 256, 0, ix->stream>>>(ix->q, dim, m, ix->qnorm);
    }
    fillBest<<<blocksFor(m * k, 256), 256, 0, ix->stream>>>(ix->best, ix->bestid, m * k);
    CK(cudaGetLastError());
    for (int64_t c0 = 0; c0 < n; c0 += nb) {
      const int64_t c = n - c0 < nb ? n - c0 : nb;
      // dots (c × m, column-major, ld c) = rowsᵀ · queries: column j holds
      // query j's products with the c rows, contiguous.
      if (ix->fp16) {
        const __half *rows = static_cast<const __half *>(ix->vecs) + c0 * dim;
        CKB(cublasGemmEx(ix->blas, CUBLAS_OP_T, CUBLAS_OP_N, int(c), int(m), dim, &one, rows, CUDA_R_16F, dim, ix->qh,
                         CUDA_R_16F, dim, &zero, ix->dots, CUDA_R_32F, int(c), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      } else {
        const float *rows = static_cast<const float *>(ix->vecs) + c0 * dim;
        CKB(cublasSgemm(ix->blas, CUBLAS_OP_T, CUBLAS_OP_N, int(c), int(m), dim, &one, rows, dim, ix->q, dim, &zero,
                        ix->dots, int(c)));
      }
      selectTopK<<<unsigned(m), kSelThreads, 0, ix->stream>>>(ix->dots, c, int(c), c0, ix->norms, ix->metric, ix->del,
                                                            dallow, k, ix->best, ix->bestid);
      CK(cudaGetLastError());
    }
    CK(cudaMemcpyAsync(hbest.data(), ix->best, size_t(m) * k * sizeof(float), cudaMemcpyDeviceToHost, ix->stream));
    CK(cudaMemcpyAsync(hid.data(), ix->bestid, size_t(m) * k * sizeof(uint32_t), cudaMemcpyDeviceToHost, ix->stream));
    CK(cudaMemcpyAsync(hqn.data(), ix->qnorm, size_t(m) * sizeof(float), cudaMemcpyDeviceToHost, ix->stream));
    CK(cudaStreamSynchronize(ix->stream));
    for (int64_t i = 0; i < m; i++) {
      for (int j = 0; j < k; j++) {
        size_t s = size_t(i) * k + j, d = size_t(q0 + i) * k + j;
        uint32_t id = hid[s];
        if (id == kNoID) {
          dist[d] = INFINITY;
          ids[d] = -1;
          continue;
        }
        float key = hbest[s];
        float v = key;
        if (ix->metric == RF_L2) {
          v = key + hqn[i];
          if (v < 0) v = 0;
        } else if (ix->metric == RF_COSINE) {
          v = 1.0f + key;
        }
        dist[d] = v;
        ids[d] = int64_t(id);
      }
    }
  }
  return RF_OK;
}

void rf_destroy(rf_index *ix) {
  if (ix == nullptr) return;
  cudaSetDevice(ix->device);
  if (ix->stream != nullptr) cudaStreamSynchronize(ix->stream);
  cudaFree(ix->vecs);
  cudaFree(ix->norms);
  cudaFree(ix->del);
  cudaFree(ix->q);
  cudaFree(ix->qh);
  cudaFree(ix->qnorm);
  cudaFree(ix->dots);
  cudaFree(ix->best);
  cudaFree(ix->bestid);
  cudaFree(ix->allow);
  cudaFree(ix->stage);
  if (ix->blas != nullptr) cublasDestroy(ix->blas);
  if (ix->stream != nullptr) cudaStreamDestroy(ix->stream);
  delete ix;
}

}  // extern "C"
