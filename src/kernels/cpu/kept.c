/* Packed weights kept between calls under constant weights (cnn_graph_set_const_weights;
   docs/architecture.md, "Blocked layout"): the cpu backend's one keeper, for its own
   blocked kernels and for oneDNN's forwards (conv_dnnl.c, wpack_get). An entry is keyed
   by the caller's weights address and a tag naming the packed layout, holds the weights
   generation it was packed under, and is filled again when a call brings another
   generation (the weights were written, or another graph now lives at that address:
   generations are unique). At most the cap (CNN_CPU_WCACHE_MB, 512 MiB by default, 0
   turns it off; least recently used entries go first). cnn_conv_forget_kept frees the
   entries of a graph's parameters when the graph is freed. */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../core/core.h"
#include "cpu_internal.h"

typedef struct kept {
    const void *src;    /* the caller's weights */
    int tag;            /* the packed layout (the kernel's own key) */
    uint64_t gen;       /* the generation they were packed under */
    void *packed;       /* bytes, 64-byte aligned */
    size_t bytes;
    unsigned long used; /* last use, for eviction */
    struct kept *next;
} kept;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static kept *g_kept;
static size_t g_bytes;
static unsigned long g_clock;

static size_t cap(void)
{
    static size_t c = (size_t)512 << 20;
    static int env_read;
    if (!env_read) {
        const char *v = getenv("CNN_CPU_WCACHE_MB");
        if (v && v[0]) c = (size_t)atol(v) << 20;
        env_read = 1;
    }
    return c;
}

static void release(void);

static void drop(kept *p)
{
    g_bytes -= p->bytes;
    cnn_free_aligned(p->packed);
    cnn_free(p);
}

bool cnn_cpu_kept_on(void) { return cap() > 0; }

void cnn_cpu_kept_lock(void) { pthread_mutex_lock(&g_lock); }
void cnn_cpu_kept_unlock(void) { pthread_mutex_unlock(&g_lock); }

void *cnn_cpu_kept_get(const void *src, int tag, size_t bytes, uint64_t gen, bool *fill)
{
    *fill = false;
    if (!gen || !src || bytes == 0 || bytes > cap()) return NULL;
    kept *p = g_kept;
    while (p && !(p->src == src && p->tag == tag && p->bytes == bytes)) p = p->next;
    if (p) {
        p->used = ++g_clock;
        if (p->gen != gen) {
            p->gen = gen;
            *fill = true;
        }
        return p->packed;
    }
    while (g_kept && g_bytes + bytes > cap()) { /* evict the least recently used */
        kept **o = &g_kept;
        for (kept **q = &g_kept; *q; q = &(*q)->next)
            if ((*q)->used < (*o)->used) o = q;
        kept *d = *o;
        *o = d->next;
        drop(d);
    }
    static bool registered;
    if (!registered) /* everything kept is freed at exit (leak checkers see no kept block) */
        registered = atexit(release) == 0;
    p = cnn_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->packed = cnn_malloc_aligned(bytes);
    if (!p->packed) {
        cnn_free(p);
        return NULL;
    }
    p->src = src;
    p->tag = tag;
    p->gen = gen;
    p->bytes = bytes;
    p->used = ++g_clock;
    g_bytes += bytes;
    p->next = g_kept;
    g_kept = p;
    *fill = true;
    return p->packed;
}

/* Frees the entries of weights in [lo, hi) whose tag is tag_lo or above. */
static void forget(uintptr_t lo, uintptr_t hi, int tag_lo)
{
    pthread_mutex_lock(&g_lock);
    for (kept **q = &g_kept; *q;) {
        kept *p = *q;
        if ((uintptr_t)p->src >= lo && (uintptr_t)p->src < hi && p->tag >= tag_lo) {
            *q = p->next;
            drop(p);
        } else {
            q = &p->next;
        }
    }
    pthread_mutex_unlock(&g_lock);
}

void cnn_cpu_kept_forget(const void *lo, size_t bytes)
{
    forget((uintptr_t)lo, (uintptr_t)lo + bytes, INT_MIN);
}

void cnn_cpu_kept_forget_tags(int tag_lo) { forget(0, UINTPTR_MAX, tag_lo); }

size_t cnn_cpu_kept_bytes_tags(int tag_lo)
{
    pthread_mutex_lock(&g_lock);
    size_t b = 0;
    for (kept *p = g_kept; p; p = p->next)
        if (p->tag >= tag_lo) b += p->bytes;
    pthread_mutex_unlock(&g_lock);
    return b;
}

size_t cnn_cpu_kept_bytes(void) { return cnn_cpu_kept_bytes_tags(INT_MIN); }

static void release(void)
{
    pthread_mutex_lock(&g_lock);
    while (g_kept) {
        kept *p = g_kept;
        g_kept = p->next;
        drop(p);
    }
    pthread_mutex_unlock(&g_lock);
}
