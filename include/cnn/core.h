/* cnn/core.h: part of the public API of cnn.c (include it through cnn.h).
   Errors, memory, tensors, the random generator, threads, the clock and the
   backend choice: what every other part uses. */
#ifndef CNN_API_CORE_H
#define CNN_API_CORE_H

#include <stdarg.h>
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

/* ---------------------------------------------------------------- helpers for extensions */
/* What the layers above the graph (models, training, files, data, the CLI) build on;
   see docs/architecture.md, "Layers and who includes what". */
/* Allocation through the fault-injection hook above (cnn_alloc_fail_after). */
void *cnn_malloc(size_t n);
/* Zeroed allocation of n elements of size bytes, through the hook. */
void *cnn_calloc(size_t n, size_t size);
/* Resizes p to n bytes, through the hook (NULL on failure, p untouched). */
void *cnn_realloc(void *p, size_t n);
/* 64-byte aligned allocation, for tensor data; free with cnn_free_aligned. */
void *cnn_malloc_aligned(size_t n);
/* Frees what cnn_malloc_aligned returned (NULL is fine). */
void cnn_free_aligned(void *p);
/* A copy of s from cnn_malloc (NULL when the allocation fails). */
char *cnn_strdup(const char *s);
/* Frees what cnn_malloc / cnn_calloc / cnn_realloc / cnn_strdup returned. */
void cnn_free(void *p);
/* Frees each of the n pointers p[i] with cnn_free, in order. */
void cnn_free_each(void *const *p, size_t n);
/* Frees each of the n pointers p[i] with cnn_free_aligned, in order. */
void cnn_free_aligned_each(void *const *p, size_t n);
/* A destructor names what it frees in one list: CNN_FREE_ALL(f->e, f->meta, f). */
#define CNN_PTR_LIST(...) \
    (void *const[]){__VA_ARGS__}, sizeof((void *[]){__VA_ARGS__}) / sizeof(void *)
#define CNN_FREE_ALL(...) cnn_free_each(CNN_PTR_LIST(__VA_ARGS__))
#define CNN_FREE_ALIGNED_ALL(...) cnn_free_aligned_each(CNN_PTR_LIST(__VA_ARGS__))

/* Atomic files. fsync of path's directory, after a rename into it. */
void cnn_fsync_dir(const char *path);
/* Removes "<path>.tmp.<pid>" files whose process is gone; returns how many. */
int cnn_remove_stale_tmp(const char *path);
/* CNN_ERR_IO naming `what` unless path can be created (directory exists, writable). */
cnn_status cnn_check_output_path(const char *what, const char *path);
/* Writes the text of a file: called with the open temporary file and the caller's ctx. */
typedef void (*cnn_text_writer)(FILE *f, const void *ctx);
/* A text file written atomically: write(f, ctx) into "<path>.tmp.<pid>", renamed over
   path, then cnn_fsync_dir and cnn_remove_stale_tmp; on failure the temporary is
   removed, path is left as it was and the error is CNN_ERR_IO with the message err_fmt
   (its one %s: path). */
cnn_status cnn_write_text_atomic(const char *path, cnn_text_writer write, const void *ctx,
                                 const char *err_fmt);

/* IEEE half -> float, including subnormals, inf and NaN (float16 tensors in files). */
float cnn_half_to_float(uint16_t h);

/* Formats the variadic arguments of the enclosing function (declared "..., fmt, ...")
   into the char array buf, truncating (the message helpers' first step). */
#define CNN_VFORMAT(buf, fmt)                      \
    do {                                           \
        va_list cnn__ap;                           \
        va_start(cnn__ap, fmt);                    \
        vsnprintf(buf, sizeof(buf), fmt, cnn__ap); \
        va_end(cnn__ap);                           \
    } while (0)
/* Returns the status of expr from the enclosing function unless it is CNN_OK. */
#define CNN_CHECK(expr)                    \
    do {                                   \
        cnn_status cnn__s = (expr);        \
        if (cnn__s != CNN_OK) return cnn__s; \
    } while (0)
#define CNN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CNN_MAX(a, b) ((a) > (b) ? (a) : (b))

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* CNN_API_CORE_H */
