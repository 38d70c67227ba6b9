/* Fused epilogue (docs/architecture.md, "Fusion"): one pass over each output plane,
   while it is in cache, running the stages in order with the cpu backend's own
   standalone arithmetic (batch norm's eval affine y * scale + shift, add, the
   activation loops of act_cpu.c), so fused and unfused inference give the same bits.
   Planes are shared among threads. */
#include "../../ops/ops_common.h"
#include "cpu_internal.h"

void cnn_cpu_epilogue(const cnn_epilogue *e, float *y)
{
    const int C = e->c;
    const size_t S = e->s;
    long planes = (long)e->n * C;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads((size_t)planes * S))
    for (long p = 0; p < planes; p++) {
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
}
