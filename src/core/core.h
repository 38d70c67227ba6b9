/* Internal core helpers: allocation with fault injection, error helpers. */
#ifndef CNN_CORE_H
#define CNN_CORE_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "cnn.h"

/* All library allocations go through these (cnn_alloc_fail_after can fail them). */
void *cnn_malloc(size_t n);
void *cnn_calloc(size_t n, size_t size);
void *cnn_realloc(void *p, size_t n);
/* 64-byte aligned, for tensor data; free with cnn_free_aligned. */
void *cnn_malloc_aligned(size_t n);
void cnn_free_aligned(void *p);
char *cnn_strdup(const char *s);
void cnn_free(void *p);
/* Frees each of the n pointers p[i] with cnn_free (cnn_free_aligned), in order. A
   destructor names what it frees in one list: CNN_FREE_ALL(f->e, f->meta, f). */
static inline void cnn_free_each(void *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++) cnn_free(p[i]);
}
static inline void cnn_free_aligned_each(void *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++) cnn_free_aligned(p[i]);
}
#define CNN_PTR_LIST(...) \
    (void *const[]){__VA_ARGS__}, sizeof((void *[]){__VA_ARGS__}) / sizeof(void *)
#define CNN_FREE_ALL(...) cnn_free_each(CNN_PTR_LIST(__VA_ARGS__))
#define CNN_FREE_ALIGNED_ALL(...) cnn_free_aligned_each(CNN_PTR_LIST(__VA_ARGS__))

/* Atomic writes (src/core/fileio.c): fsync of path's directory after a rename;
   removal of "<path>.tmp.<pid>" files whose process is gone (returns how many);
   a check that path can be created (directory exists and is writable). */
void cnn_fsync_dir(const char *path);
int cnn_remove_stale_tmp(const char *path);
cnn_status cnn_check_output_path(const char *what, const char *path);
/* A text file written atomically: write(f, ctx) into "<path>.tmp.<pid>", renamed over
   path, then cnn_fsync_dir and cnn_remove_stale_tmp. When the temporary cannot be
   opened, closed or renamed, it is removed, path is left as it was and the error is
   CNN_ERR_IO with the message err_fmt (its one %s: path). */
typedef void cnn_text_writer(FILE *f, const void *ctx);
cnn_status cnn_write_text_atomic(const char *path, cnn_text_writer *write, const void *ctx,
                                 const char *err_fmt);

/* IEEE half -> float, including subnormals, inf and NaN (the float16 tensors of
   safetensors and ONNX files). */
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

#define CNN_CHECK(expr)                    \
    do {                                   \
        cnn_status cnn__s = (expr);        \
        if (cnn__s != CNN_OK) return cnn__s; \
    } while (0)

#define CNN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CNN_MAX(a, b) ((a) > (b) ? (a) : (b))
#endif
