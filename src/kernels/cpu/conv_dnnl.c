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
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>

#include "../../core/core.h"
#include "cpu_internal.h"

size_t cnn_ref_conv_scratch(const cnn_conv_desc *c);
void cnn_ref_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                          float *y, void *scratch);
void cnn_ref_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w, float *dx,
                                void *scratch);
void cnn_ref_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                   float *dw, float *db, void *scratch);

enum { KIND_FWD, KIND_BWD_DATA, KIND_BWD_WEIGHTS };
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
    bool winograd; /* oneDNN's Winograd F(4,3) instead of direct */
    bool has_bias; /* forward adds a bias / backward-weights computes db */
    bool failed; /* oneDNN refused: use the reference kernel */
    dnnl_primitive_t prim;
    slot s[3];
    dnnl_memory_t bias; /* forward bias, or backward-weights diff_bias in scratch */
    size_t bias_off;
    size_t need; /* scratch bytes */
    struct entry *next;
} entry;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static entry *g_cache;
static int g_layout = CNN_CPU_LAYOUT_AUTO;
static bool g_atexit;

void cnn_cpu_set_layout(int layout) { g_layout = layout; }

static int block_c(void) { return __builtin_cpu_supports("avx512f") ? 16 : 8; }
static size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }
static size_t spatial_in(const cnn_conv_desc *c)
{
    return (size_t)c->in[0] * (size_t)c->in[1] * (size_t)c->in[2];
}
static size_t spatial_out(const cnn_conv_desc *c)
{
    return (size_t)c->out[0] * (size_t)c->out[1] * (size_t)c->out[2];
}
static size_t kvol(const cnn_conv_desc *c) { return (size_t)c->k[0] * (size_t)c->k[1] * (size_t)c->k[2]; }
static bool is_3d(const cnn_conv_desc *c) { return c->in[0] != 1 || c->k[0] != 1 || c->out[0] != 1; }

/* Blocked layouts pay off where channels fill the 16-wide blocks (measured in
   bench/RESULTS.md); thin layers (first layer, C % 16 != 0) stay plain. */
static int pick_layout(const cnn_conv_desc *c)
{
    if (g_layout != CNN_CPU_LAYOUT_AUTO) return g_layout;
    int cg = c->c_in / c->groups, og = c->c_out / c->groups;
    return (cg % 16 == 0 && og % 16 == 0) ? CNN_CPU_LAYOUT_BLOCKED : CNN_CPU_LAYOUT_PLAIN;
}

/* Upper bound of the scratch an entry of this kind and layout uses at batch c->n:
   blocked activations pad C to 16, oneDNN's weight formats pad both channel dims. */
static size_t scratch_bound(const cnn_conv_desc *c, int kind, int layout)
{
    size_t f = sizeof(float);
    size_t xs = (size_t)c->n * spatial_in(c), ys = (size_t)c->n * spatial_out(c);
    size_t G = (size_t)c->groups;
    size_t wb = G * round_up((size_t)(c->c_out / c->groups), 16) *
                round_up((size_t)(c->c_in / c->groups), 16) * kvol(c) * f + ALIGN;
    size_t wp = (size_t)c->c_out * (size_t)(c->c_in / c->groups) * kvol(c) * f + ALIGN;
    size_t xb = xs * round_up((size_t)c->c_in, 16) * f + ALIGN;
    size_t yb = ys * round_up((size_t)c->c_out, 16) * f + ALIGN;
    size_t xp = xs * (size_t)c->c_in * f + ALIGN;
    size_t bias = (size_t)c->c_out * f + ALIGN;
    if (layout == CNN_CPU_LAYOUT_PLAIN) {
        if (kind == KIND_FWD) return 0;
        if (kind == KIND_BWD_DATA) return xp;
        return wp + bias;
    }
    if (kind == KIND_FWD) return xb + wb + yb;
    if (kind == KIND_BWD_DATA) return yb + wb + xb;
    return xb + yb + wb + bias;
}

/* Also enough for the reference kernels this falls back to. */
size_t cnn_dnnl_conv_scratch(const cnn_conv_desc *c)
{
    size_t m = cnn_ref_conv_scratch(c);
    for (int k = 0; k < 3; k++) {
        size_t b = scratch_bound(c, k, pick_layout(c));
        if (b > m) m = b;
    }
    return m;
}

static void free_entry(entry *e)
{
    for (int i = 0; i < 3; i++) {
        if (e->s[i].reorder) dnnl_primitive_destroy(e->s[i].reorder);
        if (e->s[i].prim) dnnl_memory_destroy(e->s[i].prim);
        if (e->s[i].user) dnnl_memory_destroy(e->s[i].user);
    }
    if (e->bias) dnnl_memory_destroy(e->bias);
    if (e->prim) dnnl_primitive_destroy(e->prim);
    free(e);
}

void cnn_dnnl_release(void)
{
    pthread_mutex_lock(&g_lock);
    while (g_cache) {
        entry *e = g_cache;
        g_cache = e->next;
        free_entry(e);
    }
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
                               size_t *need)
{
    s->arg = arg;
    s->out = out;
    s->accumulate = accumulate;
    dnnl_status_t st = dnnl_memory_create(&s->user, user_md, g_engine, DNNL_MEMORY_NONE);
    if (st != dnnl_success) return st;
    bool same = dnnl_memory_desc_equal(user_md, prim_md);
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

static bool build(entry *e, dnnl_alg_kind_t alg)
{
    const cnn_conv_desc *c = &e->d;
    bool blocked = e->layout == CNN_CPU_LAYOUT_BLOCKED;
    dnnl_memory_desc_t xu, yu, wu, xc, yc, wc, bmd;
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_desc_t fpd = NULL, pd = NULL;
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
    CHECK(act_md(&xu, c, c->c_in, c->in, false));
    CHECK(act_md(&yu, c, c->c_out, c->out, false));
    CHECK(wei_md(&wu, c, false));
    CHECK(act_md(&xc, c, c->c_in, c->in, blocked));
    CHECK(act_md(&yc, c, c->c_out, c->out, blocked));
    CHECK(wei_md(&wc, c, blocked));
    CHECK(dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_a));

    const dnnl_memory_desc_t *bp = e->has_bias ? &bmd : NULL;
    CHECK(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                     alg, &xc, &wc, bp, &yc,
                                                     strides, dil, pl, pr));
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, g_engine, NULL));
    size_t need = 0;
    if (e->kind == KIND_FWD) {
        pd = fpd;
        fpd = NULL;
        CHECK(make_slot(&e->s[0], DNNL_ARG_SRC, false, false, &xu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &need));
        CHECK(make_slot(&e->s[1], DNNL_ARG_WEIGHTS, false, false, &wu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &need));
        CHECK(make_slot(&e->s[2], DNNL_ARG_DST, true, false, &yu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), &need));
        if (e->has_bias)
            CHECK(dnnl_memory_create(&e->bias, &bmd, g_engine, DNNL_MEMORY_NONE));
    } else if (e->kind == KIND_BWD_DATA) {
        CHECK(dnnl_dilated_convolution_backward_data_desc_init(&bd, alg, &xc, &wc,
                                                               &yc, strides, dil, pl, pr));
        CHECK(dnnl_primitive_desc_create(&pd, &bd, NULL, g_engine, fpd));
        CHECK(make_slot(&e->s[0], DNNL_ARG_DIFF_DST, false, false, &yu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), &need));
        CHECK(make_slot(&e->s[1], DNNL_ARG_WEIGHTS, false, false, &wu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &need));
        CHECK(make_slot(&e->s[2], DNNL_ARG_DIFF_SRC, true, true, &xu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0), &need));
    } else {
        CHECK(dnnl_dilated_convolution_backward_weights_desc_init(
            &bd, alg, &xc, &wc, bp, &yc, strides, dil, pl, pr));
        CHECK(dnnl_primitive_desc_create(&pd, &bd, NULL, g_engine, fpd));
        CHECK(make_slot(&e->s[0], DNNL_ARG_SRC, false, false, &xu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), &need));
        CHECK(make_slot(&e->s[1], DNNL_ARG_DIFF_DST, false, false, &yu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), &need));
        CHECK(make_slot(&e->s[2], DNNL_ARG_DIFF_WEIGHTS, true, true, &wu,
                        dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0), &need));
        if (e->has_bias) {
            CHECK(dnnl_memory_create(&e->bias, &bmd, g_engine, DNNL_MEMORY_NONE));
            e->bias_off = need;
            need += round_up(dnnl_memory_desc_get_size(&bmd), ALIGN);
        }
    }
    CHECK(dnnl_primitive_create(&e->prim, pd));
    e->need = need;
    /* the caller sized scratch by scratch_bound(); never write past it */
    ok = need <= scratch_bound(c, e->kind, e->layout);
fail:
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
   CNN_CPU_WINOGRAD=0 turns it off (for benchmarks). */
static bool use_winograd(const cnn_conv_desc *c, int layout)
{
    static int env = -1;
    if (env < 0) {
        const char *v = getenv("CNN_CPU_WINOGRAD");
        env = !(v && v[0] == '0');
    }
    return env && layout == CNN_CPU_LAYOUT_BLOCKED && !is_3d(c) && c->groups == 1 &&
           c->k[1] == 3 && c->k[2] == 3 && c->s[1] == 1 && c->s[2] == 1 && c->d[1] == 1 &&
           c->d[2] == 1 && (size_t)c->n * spatial_out(c) >= 512;
}

static dnnl_alg_kind_t alg_direct(void) { return dnnl_convolution_direct; }

/* Cache entry for (kind, c); NULL when oneDNN cannot do it. Called with g_lock held. */
static entry *lookup(int kind, const cnn_conv_desc *c, bool has_bias)
{
    int layout = pick_layout(c);
    for (entry *e = g_cache; e; e = e->next)
        if (e->kind == kind && e->layout == layout && e->has_bias == has_bias &&
            memcmp(&e->d, c, sizeof *c) == 0)
            return e->failed ? NULL : e;
    if (!g_engine) {
        if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) return NULL;
        if (dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags) != dnnl_success) {
            dnnl_engine_destroy(g_engine);
            g_engine = NULL;
            return NULL;
        }
        if (!g_atexit) atexit(cnn_dnnl_release);
        g_atexit = true;
    }
    entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->d = *c;
    e->kind = kind;
    e->layout = layout;
    e->has_bias = has_bias;
    bool ok = false;
    if (use_winograd(c, layout)) {
        ok = build(e, dnnl_convolution_winograd);
        if (!ok) { /* refused (ISA, shape) or over the scratch bound: start again, direct */
            free_entry(e);
            e = calloc(1, sizeof *e);
            if (!e) return NULL;
            e->d = *c;
            e->kind = kind;
            e->layout = layout;
            e->has_bias = has_bias;
        }
        e->winograd = ok;
    }
    if (!ok) ok = build(e, alg_direct());
    if (!ok) {
        /* keep only the verdict, so a refused layer costs no rebuild next time */
        entry f = {.d = *c, .kind = kind, .layout = layout, .has_bias = has_bias, .failed = true};
        free_entry(e);
        e = calloc(1, sizeof *e);
        if (!e) return NULL;
        *e = f;
    }
    e->next = g_cache;
    g_cache = e;
    return e->failed ? NULL : e;
}

/* Scratch off the 64-byte contract (kernels.h) takes the reference path, not a crash. */
static bool aligned(const void *scratch) { return ((uintptr_t)scratch & 63) == 0; }

static void set(dnnl_memory_t m, const void *p) { dnnl_memory_set_data_handle(m, (void *)p); }

/* Runs entry e on the caller's tensors t[0..2] (roles as in build()). */
static void run(entry *e, const void *t0, const void *t1, void *t2, char *scratch)
{
    const void *t[3] = {t0, t1, t2};
    dnnl_exec_arg_t args[5];
    int na = 0;
    for (int i = 0; i < 3; i++) {
        slot *s = &e->s[i];
        set(s->user, t[i]);
        if (s->prim) set(s->prim, scratch + s->off);
        args[na++] = (dnnl_exec_arg_t){s->arg, s->prim ? s->prim : s->user};
        if (s->prim && !s->out) {
            dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, s->user}, {DNNL_ARG_TO, s->prim}};
            dnnl_primitive_execute(s->reorder, g_stream, 2, ra);
        }
    }
    if (e->bias) args[na++] = (dnnl_exec_arg_t){e->kind == KIND_FWD ? DNNL_ARG_BIAS : DNNL_ARG_DIFF_BIAS,
                                                 e->bias};
    dnnl_primitive_execute(e->prim, g_stream, na, args);
    slot *o = &e->s[2];
    if (o->reorder) {
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, o->prim}, {DNNL_ARG_TO, o->user}};
        dnnl_primitive_execute(o->reorder, g_stream, 2, ra);
    }
    dnnl_stream_wait(g_stream);
    if (o->prim && !o->reorder) {
        float *dst = t2;
        const float *src = (const float *)(scratch + o->off);
        long n = (long)(o->bytes / sizeof(float));
#pragma omp parallel for simd schedule(static)
        for (long i = 0; i < n; i++) dst[i] += src[i];
    }
}

void cnn_dnnl_conv_forward(const cnn_conv_desc *c, const float *x, const float *w, const float *b,
                           float *y, void *scratch)
{
    pthread_mutex_lock(&g_lock);
    entry *e = aligned(scratch) ? lookup(KIND_FWD, c, b != NULL) : NULL;
    if (e) {
        if (b) set(e->bias, b);
        run(e, x, w, y, scratch);
    }
    pthread_mutex_unlock(&g_lock);
    if (!e) cnn_ref_conv_forward(c, x, w, b, y, scratch);
}

void cnn_dnnl_conv_backward_data(const cnn_conv_desc *c, const float *dy, const float *w,
                                 float *dx, void *scratch)
{
    pthread_mutex_lock(&g_lock);
    entry *e = aligned(scratch) ? lookup(KIND_BWD_DATA, c, false) : NULL;
    if (e) run(e, dy, w, dx, scratch);
    pthread_mutex_unlock(&g_lock);
    if (!e) cnn_ref_conv_backward_data(c, dy, w, dx, scratch);
}

void cnn_dnnl_conv_backward_weights(const cnn_conv_desc *c, const float *x, const float *dy,
                                    float *dw, float *db, void *scratch)
{
    pthread_mutex_lock(&g_lock);
    entry *e = aligned(scratch) ? lookup(KIND_BWD_WEIGHTS, c, db != NULL) : NULL;
    if (e) {
        float *tdb = (float *)((char *)scratch + e->bias_off);
        if (db) set(e->bias, tdb);
        run(e, x, dy, dw, scratch);
        if (db)
            for (int o = 0; o < c->c_out; o++) db[o] += tdb[o];
    }
    pthread_mutex_unlock(&g_lock);
    if (!e) cnn_ref_conv_backward_weights(c, x, dy, dw, db, scratch);
}
