/* Fused epilogue, plain scalar C (the oracle): each stage over the whole output, with
   the arithmetic of ref's standalone kernels (the affine of batch norm's eval, add,
   act_forward), so a chain fused on ref gives the bits of the chain unfused on ref
   (docs/architecture.md, "Fusion"). */
#include "ref.h"

void cnn_ref_epilogue(const cnn_epilogue *e, float *y)
{
    size_t len = (size_t)e->n * (size_t)e->c * e->s;
    for (int k = 0; k < e->n_stages; k++) {
        const cnn_epi_stage *st = &e->st[k];
        switch (st->kind) {
        case CNN_EPI_AFFINE: /* plane p of the (n, c) planes has channel p % c */
            for (size_t p = 0; p < (size_t)e->n * (size_t)e->c; p++)
                for (size_t i = 0; i < e->s; i++) {
                    float *v = &y[p * e->s + i];
                    *v = *v * st->scale[p % (size_t)e->c] + st->shift[p % (size_t)e->c];
                }
            break;
        case CNN_EPI_ADD: cnn_ref_add_forward(y, st->other, y, len); break;
        case CNN_EPI_ACT: cnn_ref_act_forward(&st->act, y, y, len); break;
        default: break;
        }
    }
}
