/* A CPU stand-in for libragdflat (csrc/ragdflat.h), built by the tests of
 * the gpu tag with the system C compiler: it checks the Go side's binding
 * of the ABI (argument passing, results, errors) where no GPU is present.
 * Brute force in double precision; fp16 is ignored. FAKE_DEVICES sets the
 * number of devices it reports. */
#include "../csrc/ragdflat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FAKE_DEVICES
#define FAKE_DEVICES 1
#endif

struct rf_index {
  int dim, metric;
  int64_t n, cap;
  float *v;
  unsigned char *del;
};

static int32_t fail(char *err, int32_t errlen, int32_t code, const char *msg) {
  if (err && errlen > 0) snprintf(err, (size_t)errlen, "%s", msg);
  return code;
}

int32_t rf_abi_version(void) { return RF_ABI_VERSION; }

int32_t rf_device_count(int32_t *n, char *err, int32_t errlen) {
  (void)err;
  (void)errlen;
  *n = FAKE_DEVICES;
  return RF_OK;
}

int32_t rf_create(int32_t device, int32_t dim, int32_t metric, int32_t fp16, int64_t capacity, rf_index **out,
                  char *err, int32_t errlen) {
  (void)fp16;
  if (device >= FAKE_DEVICES) return fail(err, errlen, RF_ERR_NODEV, "no such device");
  if (dim < 1 || capacity < 0 || metric < 1 || metric > 3) return fail(err, errlen, RF_ERR_ARG, "bad argument");
  rf_index *ix = calloc(1, sizeof *ix);
  ix->dim = dim;
  ix->metric = metric;
  *out = ix;
  return RF_OK;
}

int32_t rf_add(rf_index *ix, const float *vecs, int64_t n, char *err, int32_t errlen) {
  if (n < 0) return fail(err, errlen, RF_ERR_ARG, "negative count");
  if (ix->n + n > ix->cap) {
    int64_t cap = ix->cap * 2 > ix->n + n ? ix->cap * 2 : ix->n + n;
    ix->v = realloc(ix->v, (size_t)cap * ix->dim * sizeof(float));
    ix->del = realloc(ix->del, (size_t)cap);
    ix->cap = cap;
  }
  memcpy(ix->v + ix->n * ix->dim, vecs, (size_t)n * ix->dim * sizeof(float));
  memset(ix->del + ix->n, 0, (size_t)n);
  ix->n += n;
  return RF_OK;
}

int32_t rf_delete(rf_index *ix, int64_t id, char *err, int32_t errlen) {
  if (id < 0 || id >= ix->n) return fail(err, errlen, RF_ERR_ARG, "id out of range");
  ix->del[id] = 1;
  return RF_OK;
}

typedef struct {
  float d;
  int64_t id;
} hit;

static int cmp(const void *a, const void *b) {
  const hit *x = a, *y = b;
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

int32_t rf_search(rf_index *ix, const float *queries, int64_t nq, int32_t k, const uint64_t *allow, float *dist,
                  int64_t *ids, char *err, int32_t errlen) {
  if (k < 1 || k > RF_MAX_K) return fail(err, errlen, RF_ERR_ARG, "k out of range");
  hit *all = malloc((size_t)(ix->n > 0 ? ix->n : 1) * sizeof(hit));
  for (int64_t i = 0; i < nq; i++) {
    const float *q = queries + i * ix->dim;
    int64_t m = 0;
    for (int64_t r = 0; r < ix->n; r++) {
      if (ix->del[r] || (allow && !((allow[r / 64] >> (r % 64)) & 1))) continue;
      const float *v = ix->v + r * ix->dim;
      double s = 0;
      for (int j = 0; j < ix->dim; j++) {
        if (ix->metric == RF_L2) {
          double t = (double)q[j] - v[j];
          s += t * t;
        } else {
          s += (double)q[j] * v[j];
        }
      }
      all[m].d = (float)(ix->metric == RF_L2 ? s : ix->metric == RF_COSINE ? 1 - s : -s);
      all[m].id = r;
      m++;
    }
    qsort(all, (size_t)m, sizeof(hit), cmp);
    for (int j = 0; j < k; j++) {
      dist[i * k + j] = j < m ? all[j].d : INFINITY;
      ids[i * k + j] = j < m ? all[j].id : -1;
    }
  }
  free(all);
  return RF_OK;
}

void rf_destroy(rf_index *ix) {
  if (!ix) return;
  free(ix->v);
  free(ix->del);
  free(ix);
}
