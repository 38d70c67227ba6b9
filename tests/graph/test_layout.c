/* The blocked layout pass (graph/layout.c): on a backend with a 16-channel blocked path
   (the cpu backend with oneDNN on AVX-512) runs of convolutions with their fused batch
   norm, residual add and activation keep nChw16c between them, and everything else
   stays NCHW: outputs, values forward_until stops at, convolutions whose channels do not
   fill 16-wide blocks, pooling and linear layers. Checked against the same graph with
   the pass off (CNN_LAYOUT=0): the same numbers within float rounding at every output,
   at the maximum batch and below it, and through forward_until. Elsewhere (ref) every
   value is plain. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "testutil.h"

typedef struct net {
    cnn_graph *g;
    cnn_node *x, *a, *b, *c, *d, *e, *h, *f, *side, *out;
} net;

/* x (N, 16, 12, 12) -> A conv3x3 16->32 bn relu6 -> B depthwise 3x3 bn relu6 -> C conv1x1
   32->32 bn + A -> D depthwise 5x5 stride 2 bn relu6 -> E conv3x3 32->40 bn relu -> H
   depthwise 3x3 40 bn hardsigmoid -> F conv1x1 40->24 -> global average pool -> linear
   10; a side output conv1x1 C -> 16. E and H: 40 channels, padded to 48 when blocked
   (hardsigmoid(0) != 0: the padded lanes are cleared again). */
static net build(int max_batch, bool layout)
{
    setenv("CNN_LAYOUT", layout ? "1" : "0", 1); /* read when the graph is planned */
    net m;
    cnn_graph *g = m.g = cnn_graph_new();
    m.x = cnn_input(g, "x", 4, (int[]){max_batch, 16, 12, 12});
    m.a = cnn_relu6(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.x, 32, .kernel = 3, .padding = 1, .no_bias = true,
                                                      .name = "A"),
                                        .name = "bnA"));
    m.b = cnn_relu6(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.a, 32, .kernel = 3, .padding = 1, .groups = 32,
                                                      .name = "B"),
                                        .name = "bnB"));
    m.c = cnn_add(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.b, 32, .kernel = 1, .name = "C"), .name = "bnC"), m.a);
    m.d = cnn_relu6(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.c, 32, .kernel = 5, .stride = 2, .padding = 2,
                                                      .groups = 32, .no_bias = true, .name = "D"),
                                        .name = "bnD"));
    m.e = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.d, 40, .kernel = 3, .padding = 1, .name = "E"),
                                       .name = "bnE"));
    m.h = cnn_hardsigmoid(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.e, 40, .kernel = 3, .padding = 1, .groups = 40,
                                                            .name = "H"),
                                              .name = "bnH"));
    m.f = cnn_conv2d(g, m.h, 24, .kernel = 1, .name = "F");
    m.side = cnn_conv2d(g, m.c, 16, .kernel = 1, .name = "side");
    cnn_graph_mark_output(g, m.side);
    m.out = cnn_linear(g, cnn_flatten(g, cnn_global_avgpool(g, m.f)), 10, .name = "fc");
    cnn_graph_mark_output(g, m.out);
    TU_OK(cnn_graph_compile(g, 3));
    cnn_rng r;
    cnn_rng_seed(&r, 11);
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *prm = cnn_graph_param(g, i);
        size_t n = cnn_tensor_numel(&prm->value);
        if (strstr(prm->name, "running_var"))
            tu_fill(prm->value.data, n, 0.5f, 2.0f, &r);
        else if (strstr(prm->name, "bn") || strstr(prm->name, "running_mean"))
            tu_fill(prm->value.data, n, -0.5f, 0.5f, &r);
    }
    cnn_graph_set_training(g, false);
    unsetenv("CNN_LAYOUT");
    return m;
}

static const char *lay(const cnn_node *n) { return cnn_layout_name(n); }

static void close_nodes(const cnn_node *a, const cnn_node *b, const char *what)
{
    cnn_tensor ta = cnn_node_value(a), tb = cnn_node_value(b);
    assert_int_equal(cnn_tensor_numel(&ta), cnn_tensor_numel(&tb));
    assert_true(tu_close(ta.data, tb.data, cnn_tensor_numel(&ta), 1e-5f, 1e-5f, what));
}

/* Both graphs forward up to their node a / b, whose values must agree. */
static void until_both(cnn_graph *ga, cnn_node *a, cnn_graph *gb, cnn_node *b, const char *what)
{
    TU_OK(cnn_graph_forward_until(ga, a));
    TU_OK(cnn_graph_forward_until(gb, b));
    close_nodes(a, b, what);
}

static void check(int max_batch, int batch)
{
    net on = build(max_batch, true), off = build(max_batch, false);
    bool blocked = cnn_blocked_width() == 16;
    /* the plan: blocked runs where the backend has them, plain at every edge */
    const cnn_node *want_blocked[] = {on.a, on.b, on.c, on.d, on.e, on.h, on.f};
    for (int i = 0; i < 7; i++) assert_string_equal(lay(want_blocked[i]), blocked ? "nChw16c" : "NCHW");
    const cnn_node *plain[] = {on.x, on.side, on.out, off.a, off.b, off.c, off.d, off.e, off.f};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        assert_string_not_equal(lay(plain[i]), "nChw16c");

    size_t n = (size_t)batch * 16 * 12 * 12;
    float *xs = malloc(n * sizeof *xs);
    cnn_rng r;
    cnn_rng_seed(&r, 5);
    tu_fill(xs, n, -2, 2, &r);
    TU_OK(cnn_graph_set_input(on.g, on.x, xs, batch));
    TU_OK(cnn_graph_set_input(off.g, off.x, xs, batch));
    TU_OK(cnn_graph_forward(on.g));
    TU_OK(cnn_graph_forward(off.g));
    close_nodes(on.out, off.out, "logits, blocked vs plain");
    close_nodes(on.side, off.side, "side output, blocked vs plain");
    /* a value inside a blocked run, asked for: the run to it stays plain */
    until_both(on.g, on.c, off.g, off.c, "forward_until a blocked value");
    until_both(on.g, on.b, off.g, off.b, "forward_until a depthwise value");
    /* and a full forward after it is blocked again, with the same numbers */
    TU_OK(cnn_graph_forward(on.g));
    TU_OK(cnn_graph_forward(off.g));
    close_nodes(on.out, off.out, "logits after forward_until");
    free(xs);
    cnn_graph_free(on.g);
    cnn_graph_free(off.g);
}

static void test_batch1(void **state)
{
    (void)state;
    check(1, 1);
}

static void test_batched(void **state)
{
    (void)state;
    check(4, 4);
    check(4, 3);
}

/* Training mode never sees blocked values: forward and backward as with the pass off. */
static void test_training_plain(void **state)
{
    (void)state;
    net on = build(2, true), off = build(2, false);
    size_t n = (size_t)2 * 16 * 12 * 12;
    float *xs = malloc(n * sizeof *xs);
    cnn_rng r;
    cnn_rng_seed(&r, 6);
    tu_fill(xs, n, -2, 2, &r);
    cnn_graph_set_training(on.g, true);
    cnn_graph_set_training(off.g, true);
    TU_OK(cnn_graph_set_input(on.g, on.x, xs, 2));
    TU_OK(cnn_graph_set_input(off.g, off.x, xs, 2));
    TU_OK(cnn_graph_forward(on.g));
    TU_OK(cnn_graph_forward(off.g));
    cnn_tensor a = cnn_node_value(on.out), b = cnn_node_value(off.out);
    assert_memory_equal(a.data, b.data, cnn_tensor_numel(&a) * sizeof(float));
    free(xs);
    cnn_graph_free(on.g);
    cnn_graph_free(off.g);
}

/* A graph planned blocked and then run on a backend without the blocked path runs
   plain: same numbers, no error. */
static void test_backend_switch(void **state)
{
    (void)state;
    net on = build(1, true), off = build(1, false);
    char prev[32];
    snprintf(prev, sizeof prev, "%s", cnn_backend_name());
    TU_OK(cnn_set_backend("ref"));
    size_t n = (size_t)16 * 12 * 12;
    float *xs = malloc(n * sizeof *xs);
    cnn_rng r;
    cnn_rng_seed(&r, 7);
    tu_fill(xs, n, -2, 2, &r);
    TU_OK(cnn_graph_set_input(on.g, on.x, xs, 1));
    TU_OK(cnn_graph_set_input(off.g, off.x, xs, 1));
    TU_OK(cnn_graph_forward(on.g));
    TU_OK(cnn_graph_forward(off.g));
    TU_OK(cnn_set_backend(prev));
    close_nodes(on.out, off.out, "logits after a backend switch");
    free(xs);
    cnn_graph_free(on.g);
    cnn_graph_free(off.g);
}

/* The ops that read and write blocked values besides convolutions: x (N, 16, 10, 10)
   -> A conv3x3 16->24 bn relu -> P maxpool 3x3/2 -> R hardswish -> M = R * gate, the
   gate hardsigmoid(conv1x1 24(relu(conv1x1 8(global average pool R)))) -> Bc conv1x1
   24->32 of M -> K concat(M, Bc) (in place at batch 1: undone for the blocked copy) ->
   S channel shuffle 2 -> L channel slice 8..48 -> V avgpool 2x2/1 -> F conv1x1 40->48
   -> adaptive average pool 1x1 -> linear 10. */
typedef struct opsnet {
    cnn_graph *g;
    cnn_node *x, *a, *p, *r, *gap, *gate, *m, *bc, *k, *s, *l, *v, *f, *q, *out;
} opsnet;

static opsnet build_ops(int max_batch, bool layout)
{
    setenv("CNN_LAYOUT", layout ? "1" : "0", 1);
    opsnet m;
    cnn_graph *g = m.g = cnn_graph_new();
    m.x = cnn_input(g, "x", 4, (int[]){max_batch, 16, 10, 10});
    m.a = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.x, 24, .kernel = 3, .padding = 1, .name = "A"),
                                       .name = "bnA"));
    m.p = cnn_maxpool2d(g, m.a, .kernel = 3, .stride = 2, .padding = 1);
    m.r = cnn_activation(g, m.p, CNN_ACT_HARDSWISH);
    m.gap = cnn_global_avgpool(g, m.r);
    m.gate = cnn_hardsigmoid(g, cnn_conv2d(g, cnn_relu(g, cnn_conv2d(g, m.gap, 8, .kernel = 1, .name = "fc1")),
                                             24, .kernel = 1, .name = "fc2"));
    m.m = cnn_mul_channel(g, m.r, m.gate);
    m.bc = cnn_conv2d(g, m.m, 32, .kernel = 1, .name = "Bc");
    m.k = cnn_concat(g, 2, (cnn_node *[]){m.m, m.bc});
    m.s = cnn_channel_shuffle(g, m.k, 2);
    m.l = cnn_channel_slice(g, m.s, 8, 40);
    m.v = cnn_avgpool2d(g, m.l, .kernel = 2, .stride = 1);
    m.f = cnn_conv2d(g, m.v, 48, .kernel = 1, .name = "F");
    m.q = cnn_adaptive_avgpool2d(g, m.f, 1, 1);
    m.out = cnn_linear(g, cnn_flatten(g, m.q), 10, .name = "fc");
    TU_OK(cnn_graph_compile(g, 4));
    cnn_rng r;
    cnn_rng_seed(&r, 12);
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *prm = cnn_graph_param(g, i);
        size_t n = cnn_tensor_numel(&prm->value);
        if (strstr(prm->name, "running_var")) tu_fill(prm->value.data, n, 0.5f, 2.0f, &r);
        else if (strstr(prm->name, "bn")) tu_fill(prm->value.data, n, -0.5f, 0.5f, &r);
    }
    cnn_graph_set_training(g, false);
    unsetenv("CNN_LAYOUT");
    return m;
}

static void check_ops(int max_batch, int batch)
{
    opsnet on = build_ops(max_batch, true), off = build_ops(max_batch, false);
    bool blocked = cnn_blocked_width() == 16;
    const cnn_node *want_blocked[] = {on.a, on.p, on.r, on.m, on.bc, on.k, on.s, on.l, on.v, on.f};
    for (size_t i = 0; i < sizeof want_blocked / sizeof want_blocked[0]; i++)
        assert_string_equal(lay(want_blocked[i]), blocked ? "nChw16c" : "NCHW");
    /* global pooling writes plain; the gate stays plain; the edges are plain */
    const cnn_node *plain[] = {on.x, on.gap, on.gate, on.q, on.out};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) assert_string_not_equal(lay(plain[i]), "nChw16c");
    size_t n = (size_t)batch * 16 * 10 * 10;
    float *xs = malloc(n * sizeof *xs);
    cnn_rng r;
    cnn_rng_seed(&r, 8);
    tu_fill(xs, n, -3, 3, &r);
    TU_OK(cnn_graph_set_input(on.g, on.x, xs, batch));
    TU_OK(cnn_graph_set_input(off.g, off.x, xs, batch));
    TU_OK(cnn_graph_forward(on.g));
    TU_OK(cnn_graph_forward(off.g));
    close_nodes(on.out, off.out, "ops net: logits, blocked vs plain");
    /* values inside the blocked run, asked for: plain runs to them */
    cnn_node *mid_on[] = {on.k, on.s, on.m}, *mid_off[] = {off.k, off.s, off.m};
    for (int i = 0; i < 3; i++) {
        TU_OK(cnn_graph_forward_until(on.g, mid_on[i]));
        TU_OK(cnn_graph_forward_until(off.g, mid_off[i]));
        close_nodes(mid_on[i], mid_off[i], "ops net: forward_until");
    }
    TU_OK(cnn_graph_forward(on.g));
    TU_OK(cnn_graph_forward(off.g));
    close_nodes(on.out, off.out, "ops net: logits after forward_until");
    free(xs);
    cnn_graph_free(on.g);
    cnn_graph_free(off.g);
}

static void test_ops_batch1(void **state)
{
    (void)state;
    check_ops(1, 1);
}

static void test_ops_batched(void **state)
{
    (void)state;
    check_ops(3, 3);
    check_ops(3, 2);
}

/* An Inception block (graph/layout.c, blocked_slice): x (N, 32, 8, 8) -> four branches
   P 1x1 -> 32 bn relu | Q 1x1 -> 16, 3x3 -> 16 | R maxpool 3x3/1 -> 1x1 -> 16 | T 1x1 ->
   24 -> K concat (88 channels, padded to 96) -> 1x1 -> 16 -> global average pool.
   At batch 1 the branches whose channels are whole 16-blocks at a block boundary (P, Q,
   R) are computed blocked inside K's buffer and K copies only T; with `tfirst` T (24
   channels) comes first, so no other branch starts on a block boundary and every one
   is copied. Checked against the plan with the pass off, at batch 1 and at 3. */
typedef struct incnet {
    cnn_graph *g;
    cnn_node *x, *p, *q, *r, *t, *k, *out;
} incnet;

static incnet build_inc(int max_batch, bool layout, bool tfirst)
{
    setenv("CNN_LAYOUT", layout ? "1" : "0", 1);
    incnet m;
    cnn_graph *g = m.g = cnn_graph_new();
    m.x = cnn_input(g, "x", 4, (int[]){max_batch, 32, 8, 8});
    m.p = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.x, 32, .kernel = 1, .no_bias = true, .name = "P"),
                                       .name = "bnP"));
    m.q = cnn_relu(g, cnn_conv2d(g, cnn_relu(g, cnn_conv2d(g, m.x, 16, .kernel = 1, .name = "Q0")), 16,
                                 .kernel = 3, .padding = 1, .name = "Q1"));
    m.r = cnn_conv2d(g, cnn_maxpool2d(g, m.x, .kernel = 3, .stride = 1, .padding = 1), 16, .kernel = 1,
                     .name = "R");
    m.t = cnn_relu(g, cnn_conv2d(g, m.x, 24, .kernel = 1, .name = "T"));
    cnn_node *in4[] = {m.p, m.q, m.r, m.t}, *t4[] = {m.t, m.p, m.q, m.r};
    m.k = cnn_concat(g, 4, tfirst ? t4 : in4);
    m.out = cnn_global_avgpool(g, cnn_conv2d(g, m.k, 16, .kernel = 1, .name = "F"));
    TU_OK(cnn_graph_compile(g, 6));
    cnn_rng r;
    cnn_rng_seed(&r, 13);
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *prm = cnn_graph_param(g, i);
        size_t n = cnn_tensor_numel(&prm->value);
        if (strstr(prm->name, "running_var")) tu_fill(prm->value.data, n, 0.5f, 2.0f, &r);
        else if (strstr(prm->name, "bn")) tu_fill(prm->value.data, n, -0.5f, 0.5f, &r);
    }
    cnn_graph_set_training(g, false);
    unsetenv("CNN_LAYOUT");
    return m;
}

/* Whether value v lies inside k's buffer (computed in place). */
static bool inside(const cnn_node *v, const cnn_node *k)
{
    return v->out.data >= k->out.data && v->out.data < k->out.data + cnn_node_numel_max(k);
}

static void check_inc(int max_batch, int batch, bool tfirst)
{
    incnet on = build_inc(max_batch, true, tfirst), off = build_inc(max_batch, false, tfirst);
    bool blocked = cnn_blocked_width() == 16;
    const cnn_node *br[] = {on.p, on.q, on.r, on.t};
    for (int i = 0; i < 4; i++) assert_string_equal(lay(br[i]), blocked ? "nChw16c" : "NCHW");
    assert_string_equal(lay(on.k), blocked ? "nChw16c" : "NCHW");
    size_t n = (size_t)batch * 32 * 8 * 8;
    float *xs = malloc(n * sizeof *xs);
    cnn_rng r;
    cnn_rng_seed(&r, 14);
    tu_fill(xs, n, -2, 2, &r);
    TU_OK(cnn_graph_set_input(on.g, on.x, xs, batch));
    TU_OK(cnn_graph_set_input(off.g, off.x, xs, batch));
    TU_OK(cnn_graph_forward(on.g));
    TU_OK(cnn_graph_forward(off.g));
    /* in place: the whole-block branches at batch 1 when blocked (and, plain, every
       branch at batch 1: the plain plan); never the 24-channel one when blocked */
    for (int i = 0; i < 3; i++) assert_int_equal(inside(br[i], on.k), max_batch == 1 && !(blocked && tfirst));
    assert_int_equal(inside(on.t, on.k), max_batch == 1 && !blocked);
    /* and profilers are told so (cnn bench --layers) */
    cnn_layer_profile lp;
    TU_OK(cnn_graph_profile(on.g, on.k, batch, &lp));
    assert_string_equal(lp.kernel, max_batch > 1       ? "ops"
                                   : !blocked          ? "in place"
                                   : tfirst            ? "ops"
                                                       : "ops, 3 of 4 in place");
    close_nodes(on.out, off.out, "inception: pooled, blocked vs plain");
    /* forward_until the concat runs plain (in place the plain way), then blocked again */
    until_both(on.g, on.k, off.g, off.k, "inception: forward_until the concat");
    until_both(on.g, on.q, off.g, off.q, "inception: forward_until a branch");
    TU_OK(cnn_graph_forward(on.g));
    TU_OK(cnn_graph_forward(off.g));
    close_nodes(on.out, off.out, "inception: pooled after forward_until");
    free(xs);
    cnn_graph_free(on.g);
    cnn_graph_free(off.g);
}

static void test_inception(void **state)
{
    (void)state;
    check_inc(1, 1, false);
    check_inc(1, 1, true);
    check_inc(3, 3, false);
    check_inc(3, 1, false);
}

/* A 3x3 convolution whose plain forward is the own thin kernel (8 input channels) but
   which the blocked layout runs with oneDNN (here its Winograd form, N H W >= 512, whose
   scratch the plan must cover: tests/e2e/test_learn.c crashed when it did not). */
static void test_blocked_scratch(void **state)
{
    (void)state;
    float out[2][8 * 10];
    for (int on = 0; on < 2; on++) {
        setenv("CNN_LAYOUT", on ? "1" : "0", 1);
        cnn_graph *g = cnn_graph_new();
        cnn_node *x = cnn_input(g, "x", 4, (int[]){8, 8, 8, 8});
        cnn_node *h = cnn_relu(g, cnn_conv2d(g, x, 16, .kernel = 3, .padding = 1, .name = "c"));
        cnn_node *y = cnn_linear(g, cnn_flatten(g, cnn_global_avgpool(g, h)), 10, .name = "fc");
        TU_OK(cnn_graph_compile(g, 5));
        cnn_graph_set_training(g, false);
        unsetenv("CNN_LAYOUT");
        assert_string_equal(lay(h), on && cnn_blocked_width() == 16 ? "nChw16c" : "NCHW");
        float xs[8 * 8 * 8 * 8];
        cnn_rng r;
        cnn_rng_seed(&r, 9);
        tu_fill(xs, sizeof xs / sizeof xs[0], -1, 1, &r);
        TU_OK(cnn_graph_set_input(g, x, xs, 8));
        TU_OK(cnn_graph_forward(g));
        memcpy(out[on], cnn_node_value(y).data, sizeof out[on]);
        cnn_graph_free(g);
    }
    assert_true(tu_close(out[1], out[0], 8 * 10, 1e-5f, 1e-5f, "thin conv run blocked"));
}

/* A squeeze-and-excitation block (MobileNet V3's): x (N, 16, HW, HW) -> A conv1x1 16->C
   bn hardswish -> D depthwise 3x3 bn relu -> global average pool -> fc1 8 relu -> fc2
   C hardsigmoid -> M = D * gate -> P conv1x1 C->C bn + A relu -> global average pool
   -> linear 10. Blocked, M is applied by P as it reads D (layout.c, plan_gates): M is
   reported fused into P and never runs; the same bits as with the gate on its own
   (CNN_LAYOUT_GATE=0), the plain run's numbers within rounding, at the maximum batch
   and below it, and through forward_until (M itself, P: plain runs). C = 288 at 7x7:
   gated at batch 16 only (cnn_conv_blocked_gate_use), so at batch 1 P runs the skipped
   gate itself first. */
typedef struct senet {
    cnn_graph *g;
    cnn_node *x, *a, *d, *m, *p, *out;
} senet;

static senet build_se(int max_batch, const char *layout, const char *gate, int C, int HW)
{
    setenv("CNN_LAYOUT", layout, 1);
    setenv("CNN_LAYOUT_GATE", gate, 1);
    senet m;
    cnn_graph *g = m.g = cnn_graph_new();
    m.x = cnn_input(g, "x", 4, (int[]){max_batch, 16, HW, HW});
    m.a = cnn_hardswish(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.x, C, .kernel = 1, .name = "A"), .name = "bnA"));
    m.d = cnn_relu(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.a, C, .kernel = 3, .padding = 1, .groups = C,
                                                     .no_bias = true, .name = "D"),
                                       .name = "bnD"));
    cnn_node *s = cnn_global_avgpool(g, m.d);
    s = cnn_relu(g, cnn_conv2d(g, s, 8, .kernel = 1, .name = "fc1"));
    s = cnn_hardsigmoid(g, cnn_conv2d(g, s, C, .kernel = 1, .name = "fc2"));
    m.m = cnn_mul_channel(g, m.d, s);
    m.p = cnn_relu(g, cnn_add(g, cnn_batchnorm2d(g, cnn_conv2d(g, m.m, C, .kernel = 1, .no_bias = true,
                                                               .name = "P"),
                                                 .name = "bnP"),
                              m.a));
    m.out = cnn_linear(g, cnn_flatten(g, cnn_global_avgpool(g, m.p)), 10, .name = "fc");
    TU_OK(cnn_graph_compile(g, max_batch));
    cnn_rng r;
    cnn_rng_seed(&r, 13);
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *prm = cnn_graph_param(g, i);
        size_t n = cnn_tensor_numel(&prm->value);
        if (strstr(prm->name, "running_var")) tu_fill(prm->value.data, n, 0.5f, 2.0f, &r);
        else if (strstr(prm->name, "bn")) tu_fill(prm->value.data, n, -0.5f, 0.5f, &r);
    }
    cnn_graph_set_training(g, false);
    /* weights kept: the 1x1 convolutions run the own kernel with or without a gate
       (cnn_blocked_pw_use), so gated and ungated compare bit for bit */
    cnn_graph_set_const_weights(g, true);
    unsetenv("CNN_LAYOUT");
    unsetenv("CNN_LAYOUT_GATE");
    return m;
}

/* planned: M is planned into P (at the maximum batch); gated: P reads it at this batch */
static void check_se(int max_batch, int batch, int C, int HW, bool planned, bool gated)
{
    senet on = build_se(max_batch, "1", "1", C, HW), sep = build_se(max_batch, "1", "0", C, HW),
          off = build_se(max_batch, "0", "1", C, HW);
    bool blocked = cnn_blocked_width() == 16;
    cnn_node *pconv = on.p->in[0]->in[0]->in[0]; /* relu <- add <- bn <- P */
    assert_string_equal(cnn_node_name(pconv), "P");
    cnn_layer_profile lp;
    TU_OK(cnn_graph_profile(on.g, on.m, batch, &lp));
    assert_ptr_equal(lp.fused_into, blocked && planned ? pconv : NULL);
    TU_OK(cnn_graph_profile(sep.g, sep.m, batch, &lp));
    assert_null(lp.fused_into);
    TU_OK(cnn_graph_profile(on.g, pconv, batch, &lp));
    assert_true((strstr(lp.kernel, "+gate") != NULL) == (blocked && gated));
    assert_string_equal(lay(on.m), blocked ? "nChw16c" : "NCHW");
    size_t n = (size_t)batch * 16 * HW * HW;
    float *xs = malloc(n * sizeof *xs);
    cnn_rng r;
    cnn_rng_seed(&r, 14);
    tu_fill(xs, n, -3, 3, &r);
    senet *all[] = {&on, &sep, &off};
    for (int i = 0; i < 3; i++) {
        TU_OK(cnn_graph_set_input(all[i]->g, all[i]->x, xs, batch));
        cnn_graph_set_profiling(all[i]->g, true);
        TU_OK(cnn_graph_forward(all[i]->g));
    }
    assert_int_equal(cnn_node_profile_get(on.m).calls, blocked && planned ? 0 : 1);
    assert_int_equal(cnn_node_profile_get(sep.m).calls, 1);
    for (int i = 0; i < 3; i++) cnn_graph_set_profiling(all[i]->g, false);
    cnn_tensor t_on = cnn_node_value(on.out), t_sep = cnn_node_value(sep.out);
    assert_int_equal(memcmp(t_on.data, t_sep.data, cnn_tensor_numel(&t_on) * sizeof(float)), 0);
    close_nodes(on.out, off.out, "SE net: logits, gate read by the 1x1 conv vs plain");
    /* forward_until the gate and the conv reading it: plain runs, the gate computed */
    until_both(on.g, on.m, off.g, off.m, "SE net: forward_until the gate");
    until_both(on.g, on.p, off.g, off.p, "SE net: forward_until the gated conv's chain");
    TU_OK(cnn_graph_forward(on.g));
    t_on = cnn_node_value(on.out);
    assert_int_equal(memcmp(t_on.data, t_sep.data, cnn_tensor_numel(&t_on) * sizeof(float)), 0);
    free(xs);
    for (int i = 0; i < 3; i++) cnn_graph_free(all[i]->g);
}

static void test_se_gate(void **state)
{
    (void)state;
    check_se(1, 1, 40, 14, true, true);
    check_se(3, 3, 40, 14, true, true);
    check_se(3, 2, 40, 14, true, true);
    check_se(16, 16, 288, 7, true, true);
    check_se(16, 1, 288, 7, true, false);
    check_se(1, 1, 288, 7, false, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch1),
        cmocka_unit_test(test_batched),
        cmocka_unit_test(test_training_plain),
        cmocka_unit_test(test_backend_switch),
        cmocka_unit_test(test_ops_batch1),
        cmocka_unit_test(test_ops_batched),
        cmocka_unit_test(test_blocked_scratch),
        cmocka_unit_test(test_se_gate),
        cmocka_unit_test(test_inception),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
