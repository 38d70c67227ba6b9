/* Thread count for kernels (DESIGN decision 10): --threads N / CNN_THREADS. */
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cnn.h"
#include "pool.h"

static int g_threads;

void cnn_set_threads(int n)
{
    if (n <= 0) {
        /* a malformed or out-of-range CNN_THREADS is ignored here (all cores); the CLI
           refuses it with a message (docs/architecture.md, "Strict options") */
        const char *e = getenv("CNN_THREADS");
        char *end = NULL;
        long v = e && *e ? strtol(e, &end, 10) : 0;
        n = e && *e && !*end && v >= 1 && v <= 4096 ? (int)v : 0;
    }
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
#else
    n = 1;
#endif
    g_threads = n;
    cnn_pool_reset_load(); /* quiet until the pool finds the machine busy again */
}

int cnn_get_threads(void)
{
    if (g_threads == 0) cnn_set_threads(0);
    return g_threads;
}

int cnn_threads_max(void)
{
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

int cnn_threads_capped(void)
{
    int t = cnn_get_threads(), m = cnn_threads_max();
    return t < 1 ? 1 : (t > m ? m : t);
}
