/* The allocator every part of the library uses, with a fault-injection hook in the
   manner of ncnn's tests: the k-th allocation from now fails. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

static long g_fail_at;   /* 0: never fail */
static long g_count;     /* allocations since the hook was set */

void cnn_alloc_fail_after(long k)
{
    g_fail_at = k;
    g_count = 0;
}

long cnn_alloc_count(void) { return g_count; }

static int should_fail(void)
{
    g_count++;
    return g_fail_at > 0 && g_count == g_fail_at;
}

void *cnn_malloc(size_t n)
{
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *cnn_calloc(size_t n, size_t size)
{
    if (should_fail()) return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *cnn_realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void *cnn_malloc_aligned(size_t n)
{
    if (should_fail()) return NULL;
    size_t sz = (n + 63) & ~(size_t)63;
    return aligned_alloc(64, sz ? sz : 64);
}

void cnn_free_aligned(void *p) { free(p); }

void cnn_free(void *p) { free(p); }

void cnn_free_each(void *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++) cnn_free(p[i]);
}

void cnn_free_aligned_each(void *const *p, size_t n)
{
    for (size_t i = 0; i < n; i++) cnn_free_aligned(p[i]);
}

char *cnn_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = cnn_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}
