/* Fused epilogue (docs/architecture.md, "Fusion"): one pass over each output plane,
   while it is in cache, running the stages in order with the cpu backend's own
   standalone arithmetic (batch norm's eval affine y * scale + shift, add, the
   activation loops of act_cpu.c), so fused and unfused inference give the same bits.
   Planes are shared among threads (the pool, one plane a chunk). */
#include "../../core/pool.h"
#include "../../ops/ops_common.h"
#include "cpu_internal.h"

static void epi_plane(void *ctx, long p, int slot)
{
    (void)slot;
    const cnn_epilogue *e = ((void **)ctx)[0];
    float *y = ((void **)ctx)[1];
    const int C = e->c;
    const size_t S = e->s;
    float *yp = y + (size_t)p * S;
    for (int k = 0; k < e->n_stages; k++) {
        const cnn_epi_stage *st = &e->st[k];
        if (st->kind == CNN_EPI_AFFINE) {
            const float sc = st->scale[p % C], sh = st->shift[p % C];
#pragma omp simd
            for (size_t i = 0; i < S; i++) yp[i] = yp[i] * sc + sh;
        } else if (st->kind == CNN_EPI_ADD) {
            const float *rp = st->other + (size_t)p * S;
#pragma omp simd
            for (size_t i = 0; i < S; i++) yp[i] = yp[i] + rp[i];
        } else if (st->kind == CNN_EPI_ACT) {
            cnn_cpu_act_apply(&st->act, yp, yp, S);
        }
    }
}

void cnn_cpu_epilogue(const cnn_epilogue *e, float *y)
{
    long planes = (long)e->n * e->c;
    void *ctx[2] = {(void *)e, y};
    cnn_parallel_for_n(planes, cnn_threads_for((double)(size_t)planes * e->s), epi_plane, ctx);
}
