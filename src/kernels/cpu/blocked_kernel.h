/* The common head of the blocked layout's own kernels (blocked_dw.c, blocked_pw.c,
   blocked_stem.c; docs/architecture.md, "Blocked layout"): multiply-adds contracted
   into FMAs, the 16-float vector type with its unaligned loads and stores, the pool,
   the activations applied in registers (blocked_act.h). Include it first: the pragma
   holds for the rest of the including file. */
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
#endif
