/* cnn/core.h: part of the public API of cnn.c (include it through cnn.h).
   Errors, memory, tensors, the random generator, threads, the clock and the
   backend choice: what every other part uses. */
#ifndef CNN_API_CORE_H
#define CNN_API_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Declarations here are the shared library's interface; it is built with
   -fvisibility=hidden, so nothing else leaves it (docs/architecture.md). */
#pragma GCC visibility push(default)

#define CNN_VERSION "0.1.0"
#define CNN_MAX_DIMS 6

/* ---------------------------------------------------------------- errors */
typedef enum cnn_status {
    CNN_OK = 0,
    CNN_ERR_INVALID_ARG, /* an option out of range, a NULL where a value is needed */
    CNN_ERR_SHAPE,       /* shapes that do not fit together */
    CNN_ERR_NOMEM,       /* an allocation failed */
    CNN_ERR_IO,          /* a file could not be opened, read or written */
    CNN_ERR_FORMAT,      /* a file's content is not what its format says */
    CNN_ERR_NOT_FOUND,   /* a name (model, parameter, layer, key) is unknown */
    CNN_ERR_UNSUPPORTED, /* valid, but not implemented by this build */
    CNN_ERR_STATE,       /* call out of order (e.g. backward before forward) */
    CNN_ERR_INTERRUPTED, /* stopped on request (Ctrl-C) */
} cnn_status;

/* The message of the last error set on this thread ("" if none). */
const char *cnn_error_message(void);
const char *cnn_status_name(cnn_status s);
/* Sets the thread's last error (used by the library; available to extensions). */
cnn_status cnn_set_error(cnn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void cnn_clear_error(void);
/* The status of the last error set on this thread (CNN_OK after cnn_clear_error):
   for calls that return a pointer (NULL on failure), e.g. cnn_optimizer_new. */
cnn_status cnn_error_status(void);

/* ---------------------------------------------------------------- memory */
/* Fault injection for tests: the k-th allocation from now (1-based) fails; 0 turns
   it off. Every allocation of the library goes through this hook. */
void cnn_alloc_fail_after(long k);
long cnn_alloc_count(void);

/* ---------------------------------------------------------------- tensors */
typedef struct cnn_tensor {
    int ndim;
    int dims[CNN_MAX_DIMS];
    float *data; /* dense, row-major; owned by whoever made it */
} cnn_tensor;

size_t cnn_tensor_numel(const cnn_tensor *t);
/* "(2, 3, 28, 28)" into buf. */
const char *cnn_shape_str(int ndim, const int *dims, char *buf, size_t size);
/* A tensor that owns its data (zeroed). Free with cnn_tensor_free. */
cnn_status cnn_tensor_alloc(cnn_tensor *t, int ndim, const int *dims);
void cnn_tensor_free(cnn_tensor *t);

/* ---------------------------------------------------------------- RNG */
/* One generator drives init, shuffling, dropout and augmentation. */
typedef struct cnn_rng {
    uint64_t s[4];
} cnn_rng;
void cnn_rng_seed(cnn_rng *r, uint64_t seed);
uint64_t cnn_rng_u64(cnn_rng *r);
uint32_t cnn_rng_below(cnn_rng *r, uint32_t n); /* uniform in [0, n) */
float cnn_rng_uniform(cnn_rng *r);              /* [0, 1) */
float cnn_rng_normal(cnn_rng *r);               /* N(0, 1) */

/* ---------------------------------------------------------------- threads */
/* Threads used by kernels (OpenMP). 0 = CNN_THREADS env var, else all cores. */
void cnn_set_threads(int n);
int cnn_get_threads(void);

/* ---------------------------------------------------------------- clock */
/* Seconds on the monotonic clock (differences are elapsed time): what the library's
   timings (profiling, epoch times, collectives) and the CLI's reports use. */
double cnn_now_s(void);

/* ---------------------------------------------------------------- backends */
/* "ref" (portable C, the oracle) or "cpu" (fast) when compiled in; the default is
   the fastest compiled in, or the CNN_BACKEND environment variable. */
cnn_status cnn_set_backend(const char *name);
const char *cnn_backend_name(void);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_CORE_H */
