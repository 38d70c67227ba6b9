/* The activation of a blocked kernel's epilogue applied to a 16-lane register before
   its store (docs/architecture.md, "Blocked layout"): ReLU, ReLU6, hard-swish and the
   default hard-sigmoid, with the element-wise arithmetic of the cpu backend's
   activation loop (comparisons, so a NaN passes through ReLU6 as there; the division
   by 6 is a multiplication by 1/6, within one rounding of it). Any other activation
   stays with the epilogue's act function, called on the stored values. */
#ifndef CNN_CPU_BLOCKED_ACT_H
#define CNN_CPU_BLOCKED_ACT_H
#include "../kernels.h"

enum { CNN_BACT_NONE, CNN_BACT_RELU, CNN_BACT_RELU6, CNN_BACT_HSWISH, CNN_BACT_HSIG, CNN_BACT_CALL };

/* Which of the above applies e's activation (CALL: e->act on the stored values). */
static inline int cnn_bact_kind(const cnn_blocked_epi *e)
{
    if (!e || !e->act) return CNN_BACT_NONE;
    const cnn_act_desc *a = e->act_desc;
    if (!a) return CNN_BACT_CALL;
    switch (a->act) {
    case CNN_ACT_NONE: return CNN_BACT_NONE;
    case CNN_ACT_RELU: return CNN_BACT_RELU;
    case CNN_ACT_RELU6: return CNN_BACT_RELU6;
    case CNN_ACT_HARDSWISH: return CNN_BACT_HSWISH;
    case CNN_ACT_HARDSIGMOID:
        return a->alpha == 1.0f / 6.0f && a->beta == 0.5f ? CNN_BACT_HSIG : CNN_BACT_CALL;
    default: return CNN_BACT_CALL;
    }
}

typedef float cnn_bact_v16 __attribute__((vector_size(64)));
typedef int cnn_bact_v16i __attribute__((vector_size(64)));

/* clamp06's v < 0 ? 0 : v, then v > 6 ? 6 : v, with lane masks (a NaN compares false
   and comes through, as in the plain loop). Vectors by pointer: no vector in the
   signature, whatever the ISA of the function it is inlined into. */
static inline __attribute__((always_inline)) void cnn_bact_clamp06(cnn_bact_v16 *p)
{
    const cnn_bact_v16 z = {0}, six = z + 6.0f;
    cnn_bact_v16 v = *p;
    cnn_bact_v16i lo = v < z, hi;
    v = (cnn_bact_v16)((cnn_bact_v16i)v & ~lo);
    hi = v > six;
    *p = (cnn_bact_v16)(((cnn_bact_v16i)v & ~hi) | ((cnn_bact_v16i)six & hi));
}

/* *p = act(*p). Generic vector code: it compiles in AVX-512 functions and in
   CNN_CLONES ones. */
static inline __attribute__((always_inline)) void cnn_bact_apply(cnn_bact_v16 *p, int kind)
{
    const cnn_bact_v16 z = {0};
    cnn_bact_v16 v = *p, t = v + 3.0f;
    switch (kind) {
    case CNN_BACT_RELU: *p = (cnn_bact_v16)((cnn_bact_v16i)v & (v > z)); break; /* v > 0 ? v : 0 */
    case CNN_BACT_RELU6: cnn_bact_clamp06(p); break;
    case CNN_BACT_HSWISH:
        cnn_bact_clamp06(&t);
        *p = v * t * (1.0f / 6.0f);
        break;
    case CNN_BACT_HSIG:
        cnn_bact_clamp06(&t);
        *p = t * (1.0f / 6.0f);
        break;
    default: break;
    }
}
#endif
