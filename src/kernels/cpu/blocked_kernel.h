/* The common head of the blocked layout's own kernels (blocked_conv.c, blocked_dw.c,
   blocked_pw.c, blocked_stem.c; docs/architecture.md, "Blocked layout"): multiply-adds
   contracted into FMAs, the 16-float vector type with its unaligned loads and stores, the
   pool, the activations applied in registers (blocked_act.h), the convolutions' work items.
   Include it first: the pragma holds for the rest of the including file. */
#ifndef CNN_CPU_BLOCKED_KERNEL_H
#define CNN_CPU_BLOCKED_KERNEL_H
/* multiply-adds as FMAs (ISO C mode leaves them apart): these files' sums are their
   own, compared with the reference within float rounding, never bit for bit */
#pragma GCC optimize("fp-contract=fast")
#include <stddef.h>
#include <stdint.h>

#include "../../core/pool.h"
#include "blocked_act.h"
#include "cpu_internal.h"

/* 16 floats; the unaligned alias of it reads and writes any float address */
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));
#define ld(p) (*(const v16u *)(p))
#define st(p, v) (*(v16u *)(p) = (v))

/* The work items of the dense and 1x1 convolutions (blocked_conv.c, blocked_pw.c):
   item i of images x groups x ranges is image n, output group g (of up to four 16-channel
   blocks), pixels [p0, p1) of the S per image in ranges of `range` pixels. The ranges are
   about equal, at least 24 pixels (four 6-pixel tiles), and at least 8 items per thread
   where the call is large enough: at batch 1 the output groups and the pixel ranges share
   out the work. Each output is computed the same way whatever the ranges (one pixel's sum
   never depends on its tile), so results do not depend on them. */
/* The fields the two convolutions' jobs open with: the layer, its tensors, the packed
   weights wp, the epilogue and the items' split */
#define CNN_BK_CONV_JOB                                                          \
    const cnn_conv_desc *c;                                                      \
    const float *x, *w, *b;                                                      \
    float *y, *wp;                                                               \
    const cnn_blocked_epi *epi;                                                  \
    int act;    /* CNN_BACT_*: the activation applied in registers, or CALL */   \
    long S;     /* output pixels per image */                                    \
    int groups; /* output groups (of up to four 16-channel blocks) */            \
    int ranges; /* pixel ranges per (image, group) */                            \
    long range; /* pixels per range */

typedef struct cnn_bk_item {
    long n, p0, p1;
    int g;
} cnn_bk_item;

/* the pixels per range; *ranges: the ranges per (image, group) */
static inline long cnn_bk_plan_ranges(long images, int groups, long S, int *ranges)
{
    long per = images * groups, want = 8L * cnn_pool_threads();
    long nr = 1;
    while ((S + nr) / (nr + 1) >= 24 && per * nr < want) nr++;
    long range = (S + nr - 1) / nr;
    *ranges = (int)((S + range - 1) / range);
    return range;
}

static inline cnn_bk_item cnn_bk_item_at(long i, int groups, int ranges, long range, long S)
{
    long r = i % ranges, ng = i / ranges;
    cnn_bk_item t = {.n = ng / groups, .g = (int)(ng % groups), .p0 = r * range};
    t.p1 = t.p0 + range < S ? t.p0 + range : S;
    return t;
}
#endif
