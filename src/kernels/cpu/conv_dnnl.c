/* Dense convolutions (1-3 spatial dims, any stride/padding/dilation/groups) through
   oneDNN's C API (dnnl.h), the library PyTorch's CPU convolutions use.

   Each (kind, descriptor incl. batch, layout) gets one cache entry holding the
   primitive, the reorders around it and the memory objects; it is built on first use
   and reused, so a training step creates no primitive after its first iteration.
   Per call only data handles are set. Public tensors stay NC(D)HW / (G)OI(D)HW:
     PLAIN    oneDNN works on the caller's layout (its gemm-based kernels);
     BLOCKED  activations are reordered to nC(d)hw16c (8c without AVX-512) and the
              weights to oneDNN's choice, in the caller's scratch, around its direct
              JIT kernels.
   Outputs that the interface accumulates (dx, dw) are computed into scratch and
   added by a reorder with a sum post-op (oneDNN overwrites diff tensors).
   Anything oneDNN refuses falls back to the reference kernels. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>

#include "../../core/core.h"
#include "../../core/pool.h"
#include "../ref/ref.h"
#include "cpu_internal.h"

enum { KIND_FWD, KIND_BWD_DATA, KIND_BWD_WEIGHTS };
/* kept.c tag offset of weights packed with a fold (wpack_get), past any md_tag */
enum { CNN_KEPT_FOLD = 1 << 20 };
#define ALIGN 64

/* One tensor argument of the primitive. */
typedef struct slot {
    int arg;                  /* DNNL_ARG_* */
    bool out, accumulate;     /* written by the primitive; user tensor gets += */
    dnnl_memory_t user;       /* caller's plain layout */
    dnnl_memory_t prim;       /* what the primitive sees; NULL: same as user */
    dnnl_primitive_t reorder; /* user->prim (inputs) or prim->user (outputs) */
    size_t off, bytes;        /* prim's buffer in scratch */
} slot;

typedef struct entry {
    cnn_conv_desc d;
    int kind, layout;
    int io;        /* forward, blocked layout: bit 0 x, bit 1 y already nChw16c (no reorder) */
    bool winograd; /* oneDNN's Winograd F(4,3) instead of direct */
    bool kept;     /* a forward whose weights are kept packed (lookup) */
    bool infer;    /* ... as forward_inference (Winograd weights transformed once, by
                      the packing reorder) */
    bool has_bias; /* forward adds a bias / backward-weights computes db */
    bool relu;     /* a kept forward with ReLU as oneDNN's eltwise post-op
                      (cnn_dnnl_conv_forward_blocked_epi) */
    bool failed; /* oneDNN refused: use the reference kernel */
    dnnl_memory_desc_t wmd; /* forward: the weights' layout the primitive reads */
    int wtag;               /* kept.c's tag of wmd (md_tag), 0 until a kept call */
    dnnl_primitive_t prim;
    slot s[3];
    dnnl_memory_t bias; /* forward bias, or backward-weights diff_bias in scratch */
    size_t bias_off;
    dnnl_memory_t pad;  /* oneDNN's own working memory (Winograd tiles...), in scratch */
    size_t pad_off;
    size_t need; /* scratch bytes */
    struct entry *next;
} entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static entry *g_cache;
static int g_layout = CNN_CPU_LAYOUT_AUTO;
static bool g_atexit;

static void free_chunks(void);
static void wpack_free_all(void);

/* Chunk sizes and scratch needs depend on the layout: forget them. */
void cnn_cpu_set_layout(int layout)
{
    pthread_mutex_lock(&g_lock);
    g_layout = layout;
    free_chunks();
    pthread_mutex_unlock(&g_lock);
}

static int block_c(void) { return __builtin_cpu_supports("avx512f") ? 16 : 8; }
static size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }
static size_t spatial_in_all(const cnn_conv_desc *c)
{
    return (size_t)c->in[0] * (size_t)c->in[1] * (size_t)c->in[2];
}
static size_t spatial_out(const cnn_conv_desc *c)
{
    return (size_t)c->out[0] * (size_t)c->out[1] * (size_t)c->out[2];
}
static bool is_3d(const cnn_conv_desc *c) { return c->in[0] != 1 || c->k[0] != 1 || c->out[0] != 1; }

/* Blocked layouts pay off where channels fill the 16-wide blocks (measured in
   bench/RESULTS.md); thin layers (first layer, C % 16 != 0) stay plain. */
static int pick_layout(const cnn_conv_desc *c)
{
    if (g_layout != CNN_CPU_LAYOUT_AUTO) return g_layout;
    int cg = c->c_in / c->groups, og = c->c_out / c->groups;
    return (cg % 16 == 0 && og % 16 == 0) ? CNN_CPU_LAYOUT_BLOCKED : CNN_CPU_LAYOUT_PLAIN;
}

static void free_entry(entry *e)
{
    for (int i = 0; i < 3; i++) {
        if (e->s[i].reorder) dnnl_primitive_destroy(e->s[i].reorder);
        if (e->s[i].prim) dnnl_memory_destroy(e->s[i].prim);
        if (e->s[i].user) dnnl_memory_destroy(e->s[i].user);
    }
    if (e->bias) dnnl_memory_destroy(e->bias);
    if (e->pad) dnnl_memory_destroy(e->pad);
    if (e->prim) dnnl_primitive_destroy(e->prim);
    cnn_free(e);
}

static int chunk_of(int kind, const cnn_conv_desc *c, bool has_bias, size_t *need);

void cnn_dnnl_release(void)
{
    pthread_mutex_lock(&g_lock);
    while (g_cache) {
        entry *e = g_cache;
        g_cache = e->next;
        free_entry(e);
    }
    free_chunks();
    wpack_free_all();
    if (g_stream) dnnl_stream_destroy(g_stream);
    if (g_engine) dnnl_engine_destroy(g_engine);
    g_stream = NULL;
    g_engine = NULL;
    pthread_mutex_unlock(&g_lock);
}

/* md of an activation (N, C, [D,] H, W) in the plain or blocked layout. */
static dnnl_status_t act_md(dnnl_memory_desc_t *md, const cnn_conv_desc *c, int ch, const int *sp,
                            bool blocked)
{
    dnnl_dims_t dims = {c->n, ch};
    int nd = 2;
    if (is_3d(c)) dims[nd++] = sp[0];
    dims[nd++] = sp[1];
    dims[nd++] = sp[2];
    dnnl_format_tag_t tag;
    if (nd == 5)
        tag = blocked ? (block_c() == 16 ? dnnl_nCdhw16c : dnnl_nCdhw8c) : dnnl_ncdhw;
    else
        tag = blocked ? (block_c() == 16 ? dnnl_nChw16c : dnnl_nChw8c) : dnnl_nchw;
    return dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag);
}

/* md of the weights (C_out, C_in/g, [kD,] kH, kW), as (G, C_out/g, C_in/g, ...) when
   grouped; `any` lets oneDNN choose. */
static dnnl_status_t wei_md(dnnl_memory_desc_t *md, const cnn_conv_desc *c, bool any)
{
    dnnl_dims_t dims;
    int nd = 0;
    if (c->groups > 1) dims[nd++] = c->groups;
    dims[nd++] = c->c_out / c->groups;
    dims[nd++] = c->c_in / c->groups;
    if (is_3d(c)) dims[nd++] = c->k[0];
    dims[nd++] = c->k[1];
    dims[nd++] = c->k[2];
    static const dnnl_format_tag_t plain[7] = {0, 0, 0, 0, dnnl_oihw, dnnl_oidhw, dnnl_goidhw};
    dnnl_format_tag_t tag = any ? dnnl_format_tag_any : plain[nd];
    if (!any && nd == 5 && c->groups > 1) tag = dnnl_goihw;
    return dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag);
}

#define CHECK(x)                                \
    do {                                        \
        if ((x) != dnnl_success) goto fail;     \
    } while (0)

/* Sets up slot s: the user memory on `user_md`, and when the primitive wants a
   different layout (or the output accumulates), a buffer in scratch plus a reorder. */
static dnnl_status_t make_slot(slot *s, int arg, bool out, bool accumulate,
                               const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                               size_t *need, bool size_only)
{
    s->arg = arg;
    s->out = out;
    s->accumulate = accumulate;
    bool same = dnnl_memory_desc_equal(user_md, prim_md);
    if (size_only) {
        if (!same || accumulate) *need += round_up(dnnl_memory_desc_get_size(prim_md), ALIGN);
        return dnnl_success;
    }
    dnnl_status_t st = dnnl_memory_create(&s->user, user_md, g_engine, DNNL_MEMORY_NONE);
    if (st != dnnl_success) return st;
    if (same && !accumulate) return dnnl_success;
    st = dnnl_memory_create(&s->prim, prim_md, g_engine, DNNL_MEMORY_NONE);
    if (st != dnnl_success) return st;
    s->off = *need;
    s->bytes = dnnl_memory_desc_get_size(prim_md);
    *need += round_up(s->bytes, ALIGN);
    /* same layout: run() adds with an OpenMP loop (oneDNN's plain->plain reorder with
       a sum post-op is its slow generic one) */
    if (same) return dnnl_success;

    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t rpd = NULL;
    if (accumulate) {
        if ((st = dnnl_primitive_attr_create(&attr)) != dnnl_success) return st;
        if ((st = dnnl_post_ops_create(&po)) == dnnl_success &&
            (st = dnnl_post_ops_append_sum(po, 1.0f)) == dnnl_success)
            st = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (st == dnnl_success)
        st = out ? dnnl_reorder_primitive_desc_create(&rpd, prim_md, g_engine, user_md, g_engine, attr)
                 : dnnl_reorder_primitive_desc_create(&rpd, user_md, g_engine, prim_md, g_engine, attr);
    if (st == dnnl_success) st = dnnl_primitive_create(&s->reorder, rpd);
    if (rpd) dnnl_primitive_desc_destroy(rpd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Whether a kept Winograd forward of c takes oneDNN's F(4,3) kernel rather than the
   F(2,3) one oneDNN 2.6 picks first for small calls (batch 1). Layer by layer, with its
   weights and working memory hot in cache, F(4,3) measured 1.5-2.7x faster than F(2,3) at
   batch 1 on ResNet's, GoogLeNet's, AlexNet's and VGG's 3x3 layers up to 1000 weights
   (C_in x C_out) per output pixel (bench/dense_layers.c); inside whole networks at batch 1
   it was not (ResNet-18 even, GoogLeNet 9% slower with it on its layers of up to 4
   weights per pixel: its transformed weights are 4x the direct ones, F(2,3)'s 1.8x, and
   come from memory each inference; bench/RESULTS.md). So only CNN_CPU_WINO43=1 takes it
   (benchmarks); 0 or unset keeps oneDNN's choice. */
static int wino43_env(void)
{
    static int env = -2;
    if (env == -2) {
        const char *v = getenv("CNN_CPU_WINO43");
        env = v && v[0] ? atoi(v) != 0 : -1;
    }
    return env;
}

static bool skip_wino_2x3(const cnn_conv_desc *c)
{
    (void)c;
    return wino43_env() == 1;
}

/* ... and whether it takes F(2,3) where oneDNN would take F(4,3) (batch 16) */
static bool want_wino_2x3(const cnn_conv_desc *c)
{
    (void)c;
    return wino43_env() == 0;
}

/* The forward primitive descriptor of fd: oneDNN's first choice, or with skip_2x3 the
   first implementation that is not its Winograd F(2,3) kernel, with want_2x3 that one. */
static dnnl_status_t create_fwd_pd(dnnl_primitive_desc_t *pd, const dnnl_convolution_desc_t *fd,
                                   const_dnnl_primitive_attr_t attr, bool skip_2x3, bool want_2x3)
{
    if (!skip_2x3 && !want_2x3) return dnnl_primitive_desc_create(pd, fd, attr, g_engine, NULL);
    dnnl_primitive_desc_iterator_t it;
    dnnl_status_t st = dnnl_primitive_desc_iterator_create(&it, fd, attr, g_engine, NULL);
    if (st != dnnl_success) return st;
    *pd = NULL;
    do {
        dnnl_primitive_desc_t p = dnnl_primitive_desc_iterator_fetch(it);
        if (!p) break;
        const char *name = NULL;
        dnnl_primitive_desc_query(p, dnnl_query_impl_info_str, 0, &name);
        if (name && (strstr(name, "wino_2x3") != NULL) == want_2x3) {
            *pd = p;
            break;
        }
        dnnl_primitive_desc_destroy(p);
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    return *pd ? dnnl_success : dnnl_primitive_desc_create(pd, fd, attr, g_engine, NULL);
}

/* Creates e's primitive (or with size_only, only works out the scratch it needs into
   e->need). oneDNN's own working memory is in user mode: it lives in the caller's
   scratch like everything else, so it is planned, shared and reported. */
static bool build(entry *e, dnnl_alg_kind_t alg, bool size_only)
{
    const cnn_conv_desc *c = &e->d;
    bool blocked = e->layout == CNN_CPU_LAYOUT_BLOCKED;
    dnnl_memory_desc_t xu, yu, wu, xc, yc, wc, bmd;
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = NULL, pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    bool ok = false;
    int sd = is_3d(c) ? 0 : 1, ns = 3 - sd;
    dnnl_dims_t strides, dil, pl, pr;
    for (int i = 0; i < ns; i++) {
        strides[i] = c->s[sd + i];
        dil[i] = c->d[sd + i] - 1;
        pl[i] = c->p[sd + i];
        /* right padding that reproduces floor((in + 2p - ext) / s) + 1 exactly */
        pr[i] = (dnnl_dim_t)(c->out[sd + i] - 1) * c->s[sd + i] +
                (dnnl_dim_t)(c->k[sd + i] - 1) * c->d[sd + i] + 1 - c->in[sd + i] - c->p[sd + i];
        if (pr[i] < 0) pr[i] = c->p[sd + i]; /* trailing rows never reached: keep symmetric */
    }
    dnnl_dims_t bdims = {c->c_out};
    CHECK(act_md(&xu, c, c->c_in, c->in, blocked && (e->io & 1)));
    CHECK(act_md(&yu, c, c->c_out, c->out, blocked && (e->io & 2)));
    CHECK(wei_md(&wu, c, false));
    /* a plain 1-3 channel input (a stem) stays plain: oneDNN's first-layer kernel */
    CHECK(act_md(&xc, c, c->c_in, c->in, blocked && !(e->io == 2 && c->c_in < 4)));
    CHECK(act_md(&yc, c, c->c_out, c->out, blocked));
    CHECK(wei_md(&wc, c, blocked));
    CHECK(dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_a));

    const dnnl_memory_desc_t *bp = e->has_bias ? &bmd : NULL;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    if (e->relu) {
        dnnl_post_ops_t po = NULL;
        dnnl_status_t pst = dnnl_post_ops_create(&po);
        if (pst == dnnl_success) pst = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
        if (pst == dnnl_success) pst = dnnl_primitive_attr_set_post_ops(attr, po);
        if (po) dnnl_post_ops_destroy(po);
        CHECK(pst);
    }
    /* forward_training for every kind but constant weights: with forward_inference
       oneDNN 2.6's Winograd takes its weights transformed (a reorder into its wino
       format), which per call was up to 6x slower on ResNet-18's 28x28 layers at
       batch 1; kept packed (wpack_get) the transform runs once */
    CHECK(dnnl_dilated_convolution_forward_desc_init(&fd, e->infer ? dnnl_forward_inference
                                                                   : dnnl_forward_training,
                                                     alg, &xc, &wc, bp, &yc,
                                                     strides, dil, pl, pr));
    bool kept_wino = alg == dnnl_convolution_winograd && e->infer;
    CHECK(create_fwd_pd(&fpd, &fd, attr, kept_wino && skip_wino_2x3(c), kept_wino && want_wino_2x3(c)));
    size_t need = 0;
    if (e->kind == KIND_FWD) {
        pd = fpd;
        fpd = NULL;
        CHECK(make_slot(&e->s[0], DNNL_ARG_SRC, false, false, &xu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &need, size_only));
        CHECK(make_slot(&e->s[1], DNNL_ARG_WEIGHTS, false, false, &wu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &need, size_only));
        e->wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        CHECK(make_slot(&e->s[2], DNNL_ARG_DST, true, false, &yu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), &need, size_only));
        if (e->has_bias && !size_only)
            CHECK(dnnl_memory_create(&e->bias, &bmd, g_engine, DNNL_MEMORY_NONE));
    } else if (e->kind == KIND_BWD_DATA) {
        CHECK(dnnl_dilated_convolution_backward_data_desc_init(&bd, alg, &xc, &wc,
                                                               &yc, strides, dil, pl, pr));
        CHECK(dnnl_primitive_desc_create(&pd, &bd, attr, g_engine, fpd));
        CHECK(make_slot(&e->s[0], DNNL_ARG_DIFF_DST, false, false, &yu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), &need, size_only));
        CHECK(make_slot(&e->s[1], DNNL_ARG_WEIGHTS, false, false, &wu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &need, size_only));
        CHECK(make_slot(&e->s[2], DNNL_ARG_DIFF_SRC, true, true, &xu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0), &need, size_only));
    } else {
        CHECK(dnnl_dilated_convolution_backward_weights_desc_init(
            &bd, alg, &xc, &wc, bp, &yc, strides, dil, pl, pr));
        CHECK(dnnl_primitive_desc_create(&pd, &bd, attr, g_engine, fpd));
        CHECK(make_slot(&e->s[0], DNNL_ARG_SRC, false, false, &xu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &need, size_only));
        CHECK(make_slot(&e->s[1], DNNL_ARG_DIFF_DST, false, false, &yu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), &need, size_only));
        CHECK(make_slot(&e->s[2], DNNL_ARG_DIFF_WEIGHTS, true, true, &wu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0), &need, size_only));
        if (e->has_bias) {
            if (!size_only) CHECK(dnnl_memory_create(&e->bias, &bmd, g_engine, DNNL_MEMORY_NONE));
            e->bias_off = need;
            need += round_up(dnnl_memory_desc_get_size(&bmd), ALIGN);
        }
    }
    const dnnl_memory_desc_t *pmd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t pad = pmd ? dnnl_memory_desc_get_size(pmd) : 0;
    if (pad) {
        if (!size_only) CHECK(dnnl_memory_create(&e->pad, pmd, g_engine, DNNL_MEMORY_NONE));
        e->pad_off = need;
        need += round_up(pad, ALIGN);
    }
    if (!size_only) CHECK(dnnl_primitive_create(&e->prim, pd));
    e->need = need;
    ok = true;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (fpd) dnnl_primitive_desc_destroy(fpd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return ok;
}

/* Winograd F(4,3) (oneDNN's, AVX-512 only) for 3x3 stride-1 undilated dense 2D
   convolutions in the blocked layout: about 2x the direct kernel's throughput on
   ResNet's 3x3 layers (PERF-NOTES). Its rounding differs from direct summation by a
   few ulps of the output scale (the zoo parity tests' 1e-4 x scale holds). Its
   weight transform runs on every call, so it pays only with enough output pixels:
   measured on ResNet-18 at batch 1, 28x28 ran 2x faster, 14x14 even, 7x7 3x slower;
   at batch 16 every stage ran 1.6-2.4x faster.
   With constant weights (kept: transformed once, wpack_get) it was measured per shape
   on ResNet-18's and GoogLeNet's layers at batch 1 and 16 (bench/dense_layers.c,
   bench/RESULTS.md): 1.3-2.3x faster on planes of 14x14 and more, except with an odd
   number of output channel blocks on a small call (GoogLeNet's 96->208 at 14x14: 0.82x
   at batch 1, 1.6x at batch 16); on 7x7 planes the
   transformed weights (4x the direct ones) dominate: even at batch 1 and ResNet's
   512->512 at batch 16 (0.92x), faster with fewer weights per output pixel
   (GoogLeNet's 160->320 at batch 16: 1.6x, 48->128 at batch 1: 1.3x).
   CNN_CPU_WINOGRAD=0 turns it off, 2 takes it wherever oneDNN has it (benchmarks). */
static int g_wino = -1; /* -1: CNN_CPU_WINOGRAD decides when first asked */

/* Kept Winograd on a small call (under 512 output pixels: oneDNN's F(2,3)) with more
   than 256 input channels not a multiple of 512 ran 1.1-2.2x slower than direct
   (bench/dense_layers.c, bench/RESULTS.md: AlexNet's 384->256 at 13x13 0.63x, 320 / 384
   / 448 inputs at 13x13 and 14x14 0.46-0.90x; 512->256 at 13x13 1.53x faster). */
static bool kept_wino_slow_ic(const cnn_conv_desc *c)
{
    return (size_t)c->n * spatial_out(c) < 512 && c->c_in > 256 && c->c_in % 512 != 0;
}

static bool use_winograd_kept(const cnn_conv_desc *c, int layout, bool kept)
{
    int env = g_wino;
    if (env < 0) {
        const char *v = getenv("CNN_CPU_WINOGRAD");
        env = g_wino = v && v[0] == '0' ? 0 : v && v[0] == '2' ? 2 : 1;
    }
    return env && layout == CNN_CPU_LAYOUT_BLOCKED && !is_3d(c) && c->groups == 1 &&
           c->k[1] == 3 && c->k[2] == 3 && c->s[1] == 1 && c->s[2] == 1 && c->d[1] == 1 &&
           c->d[2] == 1 && c->out[1] >= 4 && c->out[2] >= 4 &&
           (env == 2 ||
            (!kept && (size_t)c->n * spatial_out(c) >= 512) ||
            (kept && skip_wino_2x3(c)) || /* F(4,3) */
            (kept && ((c->c_out + 15) / 16 % 2 == 0 || (size_t)c->n * spatial_out(c) >= 512) &&
             !kept_wino_slow_ic(c) &&
             ((c->out[1] >= 12 && c->out[2] >= 12) ||
              (double)c->c_in * (double)c->c_out <= 200.0 * (double)c->n * (double)spatial_out(c))));
}

static bool use_winograd(const cnn_conv_desc *c, int layout) { return use_winograd_kept(c, layout, false); }

/* Forgets every cached primitive and packed weights: their algorithm was chosen
   under the old setting. For benchmarks. */
void cnn_cpu_set_winograd(int mode)
{
    pthread_mutex_lock(&g_lock);
    while (g_cache) {
        entry *e = g_cache;
        g_cache = e->next;
        free_entry(e);
    }
    free_chunks();
    wpack_free_all();
    g_wino = mode;
    pthread_mutex_unlock(&g_lock);
}

static dnnl_alg_kind_t alg_direct(void) { return dnnl_convolution_direct; }

/* Called with g_lock held. */
static bool ensure_engine(void)
{
    if (g_engine) return true;
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) return false;
    if (dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(g_engine);
        g_engine = NULL;
        return false;
    }
    if (!g_atexit) atexit(cnn_dnnl_release);
    g_atexit = true;
    return true;
}

/* Scratch an entry of this kind needs: the larger of its Winograd and direct forms
   (lookup falls back from one to the other), 0 if oneDNN refuses both. */
static size_t entry_need_layout(int kind, const cnn_conv_desc *c, bool has_bias, int layout)
{
    entry e = {.d = *c, .kind = kind, .layout = layout, .has_bias = has_bias};
    size_t m = 0;
    if (use_winograd(c, e.layout) && build(&e, dnnl_convolution_winograd, true)) m = e.need;
    e.need = 0;
    e.infer = kind == KIND_FWD; /* constant weights' Winograd */
    if (e.infer && use_winograd_kept(c, e.layout, true) && build(&e, dnnl_convolution_winograd, true) &&
        e.need > m)
        m = e.need;
    e.infer = false;
    e.need = 0;
    if (build(&e, alg_direct(), true) && e.need > m) m = e.need;
    return m;
}
static size_t entry_need(int kind, const cnn_conv_desc *c, bool has_bias)
{
    return entry_need_layout(kind, c, has_bias, pick_layout(c));
}

/* Exact scratch of the kinds in `kinds` (bit k: kind k; primitive descriptors only:
   no code is generated); also enough for the reference kernels this falls back to. */
size_t cnn_dnnl_conv_scratch_kinds(const cnn_conv_desc *c, int kinds)
{
    size_t m = kinds == 1 ? cnn_ref_conv_scratch_forward(c) : cnn_ref_conv_scratch(c);
    pthread_mutex_lock(&g_lock);
    if (ensure_engine())
        for (int k = 0; k < 3; k++) {
            if (!(kinds & (1 << k))) continue;
            size_t b;
            chunk_of(k, c, k != KIND_BWD_DATA, &b); /* bias only ever adds */
            if (b > m) m = b;
        }
    pthread_mutex_unlock(&g_lock);
    return m;
}

size_t cnn_dnnl_conv_scratch(const cnn_conv_desc *c) { return cnn_dnnl_conv_scratch_kinds(c, 7); }

/* Cache entry for (kind, c); NULL when oneDNN cannot do it. kept: a forward whose
   weights are kept packed (wpack_get), which chooses Winograd by its own measurements
   and runs it as forward_inference (weights transformed once). Called with g_lock
   held. */
static entry *lookup_post(int kind, const cnn_conv_desc *c, bool has_bias, int io, bool kept, bool relu)
{
    int layout = io ? CNN_CPU_LAYOUT_BLOCKED : pick_layout(c);
    kept = kept && kind == KIND_FWD && cnn_cpu_kept_on();
    bool wino = kept ? use_winograd_kept(c, layout, true) : use_winograd(c, layout);
    for (entry *e = g_cache; e; e = e->next)
        if (e->kind == kind && e->layout == layout && e->has_bias == has_bias && e->io == io &&
            e->kept == kept && e->relu == relu && memcmp(&e->d, c, sizeof *c) == 0)
            return e->failed ? NULL : e;
    if (!ensure_engine()) return NULL;
    entry init = {.d = *c, .kind = kind, .layout = layout, .io = io, .has_bias = has_bias, .kept = kept,
                  .infer = kept && wino, .relu = relu};
    /* cnn_calloc: the allocator's fault injection reaches this cache; a failed
       allocation takes the reference kernels (docs/architecture.md, "Strict options") */
    entry *e = cnn_calloc(1, sizeof *e);
    if (!e) return NULL;
    *e = init;
    bool ok = false;
    if (wino) {
        ok = build(e, dnnl_convolution_winograd, false);
        if (!ok && relu) goto done; /* with the post-op: no direct fallback (..._blocked_epi) */
        if (!ok) { /* refused (ISA, shape): start again, direct */
            free_entry(e);
            e = cnn_calloc(1, sizeof *e);
            if (!e) return NULL;
            *e = init;
        }
        e->winograd = ok;
    }
    if (!ok) ok = build(e, alg_direct(), false);
done:
    if (!ok) {
        /* keep only the verdict, so a refused layer costs no rebuild next time */
        entry f = init;
        f.failed = true;
        free_entry(e);
        e = cnn_calloc(1, sizeof *e);
        if (!e) return NULL;
        *e = f;
    }
    e->next = g_cache;
    g_cache = e;
    return e->failed ? NULL : e;
}

static entry *lookup(int kind, const cnn_conv_desc *c, bool has_bias, int io, bool kept)
{
    return lookup_post(kind, c, has_bias, io, kept, false);
}

/* Scratch off the 64-byte contract (kernels.h) takes the reference path, not a crash. */
static bool aligned(const void *scratch) { return ((uintptr_t)scratch & 63) == 0; }

static void set(dnnl_memory_t m, const void *p) { dnnl_memory_set_data_handle(m, (void *)p); }

typedef struct add_args {
    float *dst;
    const float *src;
} add_args;

static void add_range(void *arg, long i0, long i1, int thread)
{
    const add_args *a = arg;
#pragma omp simd
    for (long i = i0; i < i1; i++) a->dst[i] += a->src[i];
}

/* Packed weights of the blocked layout's forwards under constant weights
   (cnn_graph_set_const_weights; docs/architecture.md, "Blocked layout"): packing
   (OIhw -> OIhw16i16o, or the Winograd transform) on every call cost up to a third of
   ResNet-18's batch-1 time. They are kept by kept.c, the cpu backend's one keeper (keyed
   by the weights' address and a tag, packed again under another generation, one cap,
   least recently used first; not kept: packed into the scratch), the tag naming the
   packed layout: CNN_KEPT_DNNL + the index of its memory descriptor among those met
   (g_mds). Checking the values instead (memcmp against a copy) cost more than packing. */
static dnnl_memory_desc_t *g_mds;
static int g_nmds, g_mds_cap;

/* kept.c's tag of the packed layout md, 0 when out of memory. Called with g_lock held. */
static int md_tag(const dnnl_memory_desc_t *md)
{
    for (int i = 0; i < g_nmds; i++)
        if (dnnl_memory_desc_equal(&g_mds[i], md)) return CNN_KEPT_DNNL + i;
    if (g_nmds == g_mds_cap) {
        int n = g_mds_cap ? 2 * g_mds_cap : 16;
        dnnl_memory_desc_t *p = cnn_realloc(g_mds, (size_t)n * sizeof *p);
        if (!p) return 0;
        g_mds = p;
        g_mds_cap = n;
    }
    g_mds[g_nmds] = *md;
    return CNN_KEPT_DNNL + g_nmds++;
}

/* With the cache's entries freed: their tags go too. */
static void wpack_free_all(void)
{
    cnn_cpu_kept_forget_tags(CNN_KEPT_DNNL);
    cnn_free(g_mds);
    g_mds = NULL;
    g_nmds = g_mds_cap = 0;
}

/* A per-output-channel scale and shift folded into a kept forward's weights and bias
   (cnn_dnnl_conv_forward_blocked_epi): packed = w[o] * scale[o], bias = b[o] * scale[o]
   + shift[o]. */
typedef struct fold {
    const float *scale, *shift, *b;
    int n;
} fold;

/* Whether coef (copies of scale, shift and bias, n each) holds f's current values (they
   are compared: n floats each against the weights' thousands, so batch-norm statistics
   written without a new generation are still followed). */
static bool fold_same(const float *coef, const fold *f)
{
    size_t n = (size_t)f->n;
    if (memcmp(coef, f->scale, n * sizeof(float)) || memcmp(coef + n, f->shift, n * sizeof(float))) return false;
    for (size_t o = 0; o < n; o++)
        if (coef[2 * n + o] != (f->b ? f->b[o] : 0.0f)) return false;
    return true;
}

/* Packs w (times f's scale with a fold) into p through e's weight reorder; false when
   out of memory. */
static bool wpack_fill(entry *e, const float *w, const fold *f, void *p)
{
    slot *s = &e->s[1];
    float *ws = NULL;
    if (f) { /* the scaled weights, made once per packing and freed: the caller's w and
                the scale are there at every call, to pack again from (oneDNN 2.6's
                Winograd weight reorder mishandles per-channel output scales) */
        size_t n = (size_t)f->n, per = (size_t)e->d.c_in / (size_t)e->d.groups * (size_t)e->d.k[0] *
                                          (size_t)e->d.k[1] * (size_t)e->d.k[2];
        if (!(ws = cnn_malloc(n * per * sizeof(float)))) return false;
        for (size_t o = 0; o < n; o++)
            for (size_t i = 0; i < per; i++) ws[o * per + i] = w[o * per + i] * f->scale[o];
    }
    set(s->user, ws ? ws : w);
    set(s->prim, p);
    dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, s->user}, {DNNL_ARG_TO, s->prim}};
    dnnl_primitive_execute(s->reorder, g_stream, 2, ra);
    if (ws) {
        dnnl_stream_wait(g_stream);
        set(s->user, w);
        cnn_free(ws);
    }
    return true;
}

/* The packed weights of forward entry e for the caller's w under generation gen
   (packing them when they are new or of another generation), or NULL: pack into the
   scratch. With a fold f (NULL: none) the weights are packed times the scale, under a
   tag of their own, with copies of scale, shift and bias and the folded bias after them
   (*bias); values changed since are packed again. Called with g_lock and kept.c's lock
   held. */
static void *wpack_get(entry *e, const float *w, uint64_t gen, const fold *f, const float **bias)
{
    if (!e->wtag) e->wtag = md_tag(&e->wmd);
    if (!e->wtag) return NULL;
    bool fill;
    size_t wb = round_up(dnnl_memory_desc_get_size(&e->wmd), ALIGN), n = f ? (size_t)f->n : 0;
    void *p = cnn_cpu_kept_get(w, f ? e->wtag + CNN_KEPT_FOLD : e->wtag, wb + 4 * n * sizeof(float), gen, &fill);
    if (!p) return NULL;
    float *coef = f ? (float *)((char *)p + wb) : NULL;
    if (f && !fill) fill = !fold_same(coef, f);
    if (fill && !wpack_fill(e, w, f, p)) {
        for (size_t i = 0; i < 4 * n; i++) coef[i] = NAN; /* compares unequal: packed again */
        return NULL;
    }
    if (f && fill) {
        memcpy(coef, f->scale, n * sizeof(float));
        memcpy(coef + n, f->shift, n * sizeof(float));
        for (size_t o = 0; o < n; o++) {
            float bo = f->b ? f->b[o] : 0.0f;
            coef[2 * n + o] = bo;
            coef[3 * n + o] = bo * f->scale[o] + f->shift[o];
        }
    }
    if (f) *bias = coef + 3 * n;
    return p;
}

/* Runs entry e on the caller's tensors t[0..2] (roles as in build()); wgen: a
   forward's constant weights generation (wpack_get), 0 none; f: the fold of a kept
   forward (the call runs only where its weights are kept: false, nothing run, else). */
static bool run_fold(entry *e, const void *t0, const void *t1, void *t2, char *scratch, uint64_t wgen,
                     const fold *f)
{
    const void *t[3] = {t0, t1, t2};
    dnnl_exec_arg_t args[6];
    int na = 0;
    /* kept.c's lock covers the kept weights' use: no other call repacks them meanwhile */
    const bool keep = wgen && e->kind == KIND_FWD && e->s[1].reorder;
    if (keep) cnn_cpu_kept_lock();
    const float *bias = NULL;
    void *kept1 = keep ? wpack_get(e, t1, wgen, f, &bias) : NULL;
    if (f && !kept1) {
        if (keep) cnn_cpu_kept_unlock();
        return false;
    }
    if (bias && e->bias) set(e->bias, bias);
    for (int i = 0; i < 3; i++) {
        slot *s = &e->s[i];
        set(s->user, t[i]);
        void *kept = i == 1 ? kept1 : NULL;
        if (kept) {
            set(s->prim, kept);
            args[na++] = (dnnl_exec_arg_t){s->arg, s->prim};
            continue;
        }
        if (s->prim) set(s->prim, scratch + s->off);
        args[na++] = (dnnl_exec_arg_t){s->arg, s->prim ? s->prim : s->user};
        if (s->prim && !s->out) {
            dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, s->user}, {DNNL_ARG_TO, s->prim}};
            dnnl_primitive_execute(s->reorder, g_stream, 2, ra);
        }
    }
    if (e->bias) args[na++] = (dnnl_exec_arg_t){e->kind == KIND_FWD ? DNNL_ARG_BIAS : DNNL_ARG_DIFF_BIAS,
                                                 e->bias};
    if (e->pad) {
        set(e->pad, scratch + e->pad_off);
        args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, e->pad};
    }
    dnnl_primitive_execute(e->prim, g_stream, na, args);
    slot *o = &e->s[2];
    if (o->reorder) {
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, o->prim}, {DNNL_ARG_TO, o->user}};
        dnnl_primitive_execute(o->reorder, g_stream, 2, ra);
    }
    dnnl_stream_wait(g_stream);
    if (keep) cnn_cpu_kept_unlock();
    if (o->prim && !o->reorder) {
        float *dst = t2;
        const float *src = (const float *)(scratch + o->off);
        add_args a = {dst, src};
        cnn_parallel_range((long)(o->bytes / sizeof(float)), 16384, 0, add_range, &a);
    }
    return true;
}

static void run(entry *e, const void *t0, const void *t1, void *t2, char *scratch, uint64_t wgen)
{
    run_fold(e, t0, t1, t2, scratch, wgen, NULL);
}

/* Per-call memory cap of forwards: a batch whose forward scratch (blocked copies,
   Winograd tiles) would pass it runs in chunks of images, each one oneDNN call with its
   own cached primitive, so inference scratch stays bounded whatever the batch (NCHW:
   an image's tensors are contiguous). Measured (bench/RESULTS.md): at 16 MiB ResNet-18
   inference at batch 16 ran 62 instead of 76 img/s and chunked backward kinds halved
   resnet18_d2l training; at 64 MiB, forwards only, ResNet-18 runs whole and GoogLeNet
   at batch 16 keeps its speed with 60 instead of 167 MiB of scratch. Training (whose
   arena dwarfs the scratch) runs its backward kinds whole. CNN_CPU_CHUNK_MB sets it. */
static size_t g_chunk_cap = (size_t)64 << 20;

void cnn_cpu_set_chunk_cap(size_t bytes)
{
    pthread_mutex_lock(&g_lock);
    g_chunk_cap = bytes ? bytes : (size_t)64 << 20;
    free_chunks();
    pthread_mutex_unlock(&g_lock);
}

typedef struct chunk_rec {
    int kind;
    bool has_bias;
    cnn_conv_desc d;
    int nb;
    size_t need; /* scratch of a call of nb images; SIZE_MAX until asked for */
    struct chunk_rec *next;
} chunk_rec;
static chunk_rec *g_chunks;

/* Images per oneDNN call for (kind, c), and with need != NULL the scratch such a call
   takes (both remembered per descriptor: primitive descriptors are built once). Called
   with g_lock held. */
static int chunk_of(int kind, const cnn_conv_desc *c, bool has_bias, size_t *need)
{
    static int env_read;
    if (!env_read) {
        const char *v = getenv("CNN_CPU_CHUNK_MB");
        if (v && atoi(v) > 0) g_chunk_cap = (size_t)atoi(v) << 20;
        env_read = 1;
    }
    chunk_rec *r = g_chunks;
    while (r && !(r->kind == kind && r->has_bias == has_bias && memcmp(&r->d, c, sizeof *c) == 0))
        r = r->next;
    chunk_rec tmp; /* stands in when no record can be allocated */
    if (!r) {
        int nb = c->n;
        size_t full = SIZE_MAX;
        if (kind == KIND_FWD && c->n > 1 && (full = entry_need(kind, c, has_bias)) > g_chunk_cap) {
            cnn_conv_desc one = *c;
            one.n = 1;
            size_t per = entry_need(kind, &one, has_bias);
            nb = per ? (int)(g_chunk_cap / per) : c->n;
            if (nb < 1) nb = 1;
            if (nb > c->n) nb = c->n;
            full = SIZE_MAX;
        }
        r = cnn_calloc(1, sizeof *r);
        if (r) {
            *r = (chunk_rec){kind, has_bias, *c, nb, full, g_chunks};
            g_chunks = r;
        } else {
            tmp = (chunk_rec){kind, has_bias, *c, nb, full, NULL};
            r = &tmp;
        }
    }
    if (need) {
        if (r->need == SIZE_MAX) {
            cnn_conv_desc d = *c;
            d.n = r->nb;
            r->need = entry_need(kind, &d, has_bias);
        }
        *need = r->need;
    }
    return r->nb;
}

static void free_chunks(void)
{
    while (g_chunks) {
        chunk_rec *r = g_chunks;
        g_chunks = r->next;
        cnn_free(r);
    }
}

/* Runs kind on t0, t1 -> t2 (forward: x, w -> y with bias b; backward-data: dy, w ->
   dx; backward-weights: x, dy -> dw and db) chunk by chunk; oneDNN's refusals and a
   scratch off the alignment contract take the reference kernels. */
static bool conv_chunks(int kind, const cnn_conv_desc *c, const float *t0, const float *t1,
                        float *t2, const float *b, float *db, char *scratch, int io, uint64_t wgen)
{
    /* a blocked side's channels are padded to whole blocks */
    size_t ci = io & 1 ? ((size_t)c->c_in + 15) / 16 * 16 : (size_t)c->c_in;
    size_t co = io & 2 ? ((size_t)c->c_out + 15) / 16 * 16 : (size_t)c->c_out;
    size_t xs = ci * spatial_in_all(c), ys = co * spatial_out(c);
    /* per-image strides of t0, t1, t2 */
    size_t s0 = kind == KIND_BWD_DATA ? ys : xs;
    size_t s1 = kind == KIND_BWD_WEIGHTS ? ys : 0;
    size_t s2 = kind == KIND_FWD ? ys : kind == KIND_BWD_DATA ? xs : 0;
    bool has_bias = kind == KIND_FWD ? b != NULL : kind == KIND_BWD_WEIGHTS ? db != NULL : false;
    pthread_mutex_lock(&g_lock);
    int nb = aligned(scratch) && ensure_engine() ? chunk_of(kind, c, has_bias, NULL) : c->n;
    for (int n0 = 0; n0 < c->n; n0 += nb) {
        cnn_conv_desc d = *c;
        d.n = c->n - n0 < nb ? c->n - n0 : nb;
        const float *a0 = t0 + (size_t)n0 * s0, *a1 = t1 + (size_t)n0 * s1;
        float *a2 = t2 + (size_t)n0 * s2;
        entry *e = aligned(scratch) ? lookup(kind, &d, has_bias, io, wgen != 0) : NULL;
        if (!e && io) { /* blocked tensors: the reference kernels read plain ones */
            pthread_mutex_unlock(&g_lock);
            return false;
        }
        if (!e) {
            if (kind == KIND_FWD) cnn_ref_conv_forward(&d, a0, a1, b, a2, scratch);
            else if (kind == KIND_BWD_DATA) cnn_ref_conv_backward_data(&d, a0, a1, a2, scratch);
            else cnn_ref_conv_backward_weights(&d, a0, a1, a2, db, scratch);
            continue;
        }
        float *tdb = (float *)(scratch + e->bias_off);
        if (e->bias) set(e->bias, kind == KIND_FWD ? (void *)b : (void *)tdb);
        run(e, a0, a1, a2, scratch, wgen);
        if (kind == KIND_BWD_WEIGHTS && db)
            for (int o = 0; o < c->c_out; o++) db[o] += tdb[o];
    }
    pthread_mutex_unlock(&g_lock);
    return true;
}

void cnn_dnnl_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                           float *y, void *scratch)
{
    conv_chunks(KIND_FWD, c, x, w, y, b, NULL, scratch, 0, 0);
}

/* The blocked layout of the planned graph (docs/architecture.md, "Blocked layout"):
   oneDNN's blocked primitive with x and/or y already in nChw16c, so the reorders on
   those sides vanish. Only where cnn_dnnl_conv_blocked_ok(c) holds; false when oneDNN
   refuses or no entry can be made (the caller reports it). */
bool cnn_dnnl_conv_blocked_ok(const cnn_conv_desc *c)
{
    /* channels off the 16 grid too: nChw16c pads them with zeros (blocked entries
       always take the blocked primitive, see lookup) */
    return block_c() == 16 && !is_3d(c) && c->groups == 1;
}

/* Forward scratch of the blocked primitive with both sides reordered (the most any
   blocked-layout call of c takes), where c's plain forward would not be blocked. */
size_t cnn_dnnl_conv_scratch_blocked(const cnn_conv_desc *c)
{
    if (!cnn_dnnl_conv_blocked_ok(c) || pick_layout(c) == CNN_CPU_LAYOUT_BLOCKED) return 0;
    size_t m = 0; /* Winograd or direct, as lookup may take either */
    pthread_mutex_lock(&g_lock);
    if (ensure_engine()) m = entry_need_layout(KIND_FWD, c, true, CNN_CPU_LAYOUT_BLOCKED);
    pthread_mutex_unlock(&g_lock);
    return m;
}

bool cnn_dnnl_conv_forward_blocked(const cnn_conv_desc *c, const float *x, bool x_blocked,
                                   const float *w, const float *b, float *y, bool y_blocked,
                                   void *scratch, uint64_t wgen)
{
    int io = (x_blocked ? 1 : 0) | (y_blocked ? 2 : 0);
    if (io && !cnn_dnnl_conv_blocked_ok(c)) return false;
    return conv_chunks(KIND_FWD, c, x, w, y, b, NULL, scratch, io, wgen);
}

/* The blocked forward with its epilogue inside oneDNN's call, under constant weights
   (docs/architecture.md, "Blocked layout"): a batch-norm scale and shift folded into
   the kept weights and bias (the packing reorder multiplies each output channel's
   weights by its scale; the bias becomes b * scale + shift) and ReLU as oneDNN's
   eltwise post-op, instead of a second pass over y (cnn_blocked_epilogue). Only where
   it changes nothing else: the same Winograd / direct choice as the unfused call, no
   more scratch, one call for the batch, no residual, ReLU or no activation; false
   otherwise (the caller runs the unfused path). CNN_CPU_DNNL_FOLD=0 turns it off. */
static bool fold_on(void)
{
    static int env = -1;
    if (env < 0) {
        const char *v = getenv("CNN_CPU_DNNL_FOLD");
        env = !(v && v[0] == '0');
    }
    return env == 1;
}

bool cnn_dnnl_conv_forward_blocked_epi(const cnn_conv_desc *c, const float *x, bool x_blocked, const float *w,
                                       const float *b, float *y, const cnn_blocked_epi *epi, void *scratch,
                                       uint64_t wgen)
{
    if (!epi || !wgen || epi->res || !cnn_dnnl_conv_blocked_ok(c) || !fold_on()) return false;
    bool relu = epi->act != NULL;
    if (relu && !(epi->act_desc && epi->act_desc->act == CNN_ACT_RELU)) return false;
    if (!epi->scale != !epi->shift || (!epi->scale && !relu)) return false;
    int io = (x_blocked ? 1 : 0) | 2;
    fold f = {epi->scale, epi->shift, b, c->c_out};
    const fold *fp = epi->scale ? &f : NULL;
    bool has_bias = fp || b;
    pthread_mutex_lock(&g_lock);
    bool ok = false;
    if (aligned(scratch) && ensure_engine() && cnn_cpu_kept_on() && chunk_of(KIND_FWD, c, b != NULL, NULL) >= c->n) {
        entry *plain = lookup(KIND_FWD, c, b != NULL, io, true);
        entry *e = plain ? lookup_post(KIND_FWD, c, has_bias, io, true, relu) : NULL;
        if (e && e->need <= plain->need && e->winograd == plain->winograd && e->s[1].reorder) {
            if (e->bias && !fp) set(e->bias, b);
            ok = run_fold(e, x, w, y, scratch, wgen, fp);
        }
    }
    pthread_mutex_unlock(&g_lock);
    return ok;
}

void cnn_dnnl_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w,
                                 float *dx, void *scratch)
{
    conv_chunks(KIND_BWD_DATA, c, dy, w, dx, NULL, NULL, scratch, 0, 0);
}

void cnn_dnnl_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                    float *dw, float *db, void *scratch)
{
    conv_chunks(KIND_BWD_WEIGHTS, c, x, dy, dw, NULL, db, scratch, 0, 0);
}

/* Which oneDNN path cnn_dnnl_conv_forward takes for c, for `cnn bench --layers`: the
   verdict cached by a forward already run on this descriptor (any batch), else the one
   pick_layout / use_winograd would make. "/16c": activations reordered to and from
   nChw16c (8c) around the call; "/nchw": oneDNN on the caller's layout. */
const char *cnn_dnnl_conv_kernel(const cnn_conv_desc *c)
{
    int layout = pick_layout(c);
    bool blocked = layout == CNN_CPU_LAYOUT_BLOCKED, wino = use_winograd(c, layout);
    bool c8 = block_c() == 8;
    pthread_mutex_lock(&g_lock);
    /* the plain call's entry, else one of the blocked layout (cnn_conv_blocked_kernel_io
       asks here too: with constant weights its Winograd choice differs) */
    entry *hit = NULL;
    for (entry *e = g_cache; e && !(hit && !hit->io); e = e->next) {
        cnn_conv_desc d = e->d;
        d.n = c->n;
        if (e->kind != KIND_FWD || memcmp(&d, c, sizeof d)) continue;
        if (!e->io && e->layout == layout) hit = e;
        else if (e->io && !hit) hit = e;
    }
    if (hit && hit->io) {
        blocked = true;
        layout = CNN_CPU_LAYOUT_BLOCKED;
    }
    if (hit && hit->failed) {
        pthread_mutex_unlock(&g_lock);
        return "ref (dnnl refused)";
    }
    if (hit) wino = hit->winograd;
    pthread_mutex_unlock(&g_lock);
    if (!blocked) return "dnnl/nchw";
    if (wino) return c8 ? "dnnl wino/8c" : "dnnl wino/16c";
    return c8 ? "dnnl/8c" : "dnnl/16c";
}
