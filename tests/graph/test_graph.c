/* graph builder, planner and executor: PyTorch parameter names from scopes and
   duplicate-name errors; gradients of a tensor used twice are summed (residual block,
   diamond, concat([a, a])); the eval plan reuses memory and computes the same values
   as the training plan; a smaller batch than built gives the same per-example
   outputs and gradients; no allocation in a training step; fault injection on every
   allocation (ncnn-style); error propagation and call-order errors; cost totals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static float *random_data(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc(n * sizeof *x);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    tu_fill(x, n, lo, hi, &r);
    return x;
}

/* ---------------------------------------------------------------- (a) names */
static void test_scope_names(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_scope_push(g, "layer1");
    /* inputs are named outside any scope */
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 8, 8});
    assert_string_equal(cnn_node_name(x), "x");
    cnn_scope_push(g, "0");
    cnn_node *c1 = cnn_conv2d(g, x, 4, .kernel = 3, .padding = 1, .name = "conv1");
    cnn_scope_pop(g);
    cnn_scope_pushf(g, "%d", 1);
    cnn_node *c2 = cnn_conv2d(g, c1, 4, .kernel = 3, .padding = 1, .name = "conv1", .no_bias = true);
    cnn_scope_pop(g);
    cnn_scope_pop(g);
    cnn_node *fc = cnn_linear(g, cnn_flatten(g, c2), 10, .name = "fc");
    cnn_scope_pop(g); /* popping an empty stack is harmless */
    TU_OK(cnn_graph_status(g));
    assert_string_equal(cnn_node_name(c1), "layer1.0.conv1");
    assert_string_equal(cnn_node_name(c2), "layer1.1.conv1");
    assert_string_equal(cnn_node_name(fc), "fc");
    assert_ptr_equal(cnn_graph_find(g, "layer1.1.conv1"), c2);
    assert_null(cnn_graph_find(g, "layer1.2.conv1"));
    /* state_dict keys in creation order */
    static const char *keys[] = {"layer1.0.conv1.weight", "layer1.0.conv1.bias",
                                 "layer1.1.conv1.weight", "fc.weight", "fc.bias"};
    assert_int_equal(cnn_graph_num_params(g), 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(cnn_graph_param(g, i)->name, keys[i]);
        assert_ptr_equal(cnn_graph_find_param(g, keys[i]), cnn_graph_param(g, i));
    }
    assert_null(cnn_graph_find_param(g, "layer1.1.conv1.bias"));
    assert_int_equal(cnn_graph_find_param(g, "fc.weight")->value.dims[1], 4 * 8 * 8);
    /* default names are "<op><k>" within the scope */
    cnn_scope_push(g, "head");
    cnn_node *a0 = cnn_add(g, fc, fc), *a1 = cnn_add(g, a0, fc);
    assert_string_equal(cnn_node_name(a0), "head.add0");
    assert_string_equal(cnn_node_name(a1), "head.add1");
    cnn_graph_free(g);
}

static void test_duplicate_param_names(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 3, 8, 8});
    cnn_scope_push(g, "layer1");
    cnn_scope_push(g, "0");
    cnn_node *c1 = cnn_conv2d(g, x, 4, .kernel = 3, .name = "conv1");
    assert_non_null(c1);
    int before = cnn_graph_num_params(g), nodes = cnn_graph_num_nodes(g);
    assert_null(cnn_conv2d(g, c1, 4, .kernel = 3, .name = "conv1"));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_graph_error(g), "'layer1.0.conv1.weight' is already used"));
    /* the failed node left nothing behind */
    assert_int_equal(cnn_graph_num_params(g), before);
    assert_int_equal(cnn_graph_num_nodes(g), nodes);
    cnn_graph_free(g);
}

/* ---------------------------------------------------------------- (b) fan-out */
static void test_residual_block_gradcheck(void **state)
{
    (void)state;
    /* y = relu(conv(x)) + x: x's gradient is the sum over both paths */
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 5, 5});
    cnn_input_requires_grad(x);
    cnn_node *branch = cnn_relu(g, cnn_conv2d(g, x, 3, .kernel = 3, .padding = 1, .name = "conv"));
    cnn_node *y = cnn_add(g, branch, x);
    TU_OK(cnn_graph_compile(g, 11));
    cnn_graph_set_training(g, true);
    /* relu is piecewise linear: a step of eps = 1e-3 moves a pre-activation by at
       most 1e-3 (|x| <= 1 for a weight, |w| < 0.2 for an input), so pick the first
       data seed whose pre-activations all keep 1.5e-3 away from the kink */
    float *xv = NULL;
    for (uint64_t seed = 1;; seed++) {
        free(xv);
        xv = random_data(2 * 3 * 5 * 5, seed, -1, 1);
        TU_OK(cnn_graph_set_input(g, x, xv, 2));
        TU_OK(cnn_graph_forward(g));
        cnn_tensor pre = cnn_node_value(cnn_graph_find(g, "conv"));
        float lo = 1.0f;
        for (size_t i = 0; i < cnn_tensor_numel(&pre); i++) lo = fminf(lo, fabsf(pre.data[i]));
        if (lo > 1.5e-3f) break;
        assert_true(seed < 50);
    }
    /* away from kinks the loss is linear in each probed value: float rounding of the
       loss / 2e-3 (~1e-4) is the only error */
    assert_int_equal(tu_gradcheck(g, y, &x, 1, 1e-3, 2e-3, 150), 0);

    /* the x gradient is exactly identity-path + conv-path: compare with the graph
       without the skip (relu(conv(x)) alone) plus r */
    cnn_rng rr;
    cnn_rng_seed(&rr, 77);
    float r[50 * 3];
    tu_fill(r, 150, -1, 1, &rr);
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward_from(g, y, r));
    float with_skip[150];
    memcpy(with_skip, cnn_node_grad(x).data, sizeof with_skip);
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward_from(g, branch, r));
    float want[150];
    for (int i = 0; i < 150; i++) want[i] = cnn_node_grad(x).data[i] + r[i];
    TU_ASSERT_CLOSE(with_skip, want, 150, 1e-6f, 1e-5f, "residual: dx = dconv + r");
    free(xv);
    cnn_graph_free(g);
}

static void test_diamond_gradcheck(void **state)
{
    (void)state;
    /* h = conv0(x); s = tanh(h) + conv1(h); out = concat([s, s, h]): h has three
       consumers, s two (through one concat) */
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 2, 4, 4});
    cnn_input_requires_grad(x);
    cnn_node *h = cnn_conv2d(g, x, 3, .kernel = 3, .padding = 1, .name = "c0");
    cnn_node *s = cnn_add(g, cnn_tanh(g, h), cnn_conv2d(g, h, 3, .kernel = 1, .name = "c1"));
    cnn_node *out = cnn_concat(g, 3, (cnn_node *[]){s, s, h});
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 5));
    cnn_graph_set_training(g, true);
    float *xv = random_data(2 * 2 * 4 * 4, 2, -1, 1);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    /* smooth (tanh) with linear parts: eps 1e-3 makes truncation ~1e-7; float
       rounding of the loss / 2e-3 stays ~1e-4, under 2e-3 */
    assert_int_equal(tu_gradcheck(g, out, &x, 1, 1e-3, 2e-3, 100), 0);
    free(xv);
    cnn_graph_free(g);
}

static void test_concat_same_node_twice(void **state)
{
    (void)state;
    /* a = conv(x); out = concat([a, a]): d/dW gets both halves of the upstream grad */
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 2, 3, 3});
    cnn_input_requires_grad(x);
    cnn_node *a = cnn_conv2d(g, x, 2, .kernel = 1, .name = "c");
    cnn_node *out = cnn_concat(g, 2, (cnn_node *[]){a, a});
    TU_OK(cnn_graph_compile(g, 3));
    cnn_graph_set_training(g, true);
    float *xv = random_data(36, 3, -1, 1);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    /* linear: exact up to rounding */
    assert_int_equal(tu_gradcheck(g, out, &x, 1, 1e-2, 1e-3, 100), 0);
    free(xv);
    cnn_graph_free(g);
}

/* ---------------------------------------------------------------- (c) plans */
static cnn_node *chain6(cnn_graph *g, cnn_node **x, int batch)
{
    *x = cnn_input(g, "x", 4, (int[]){batch, 3, 8, 8});
    cnn_input_requires_grad(*x);
    cnn_node *h = *x;
    for (int i = 0; i < 3; i++) {
        cnn_scope_pushf(g, "%d", i);
        h = cnn_conv2d(g, h, 4, .kernel = 3, .padding = 1, .name = "conv");
        h = cnn_tanh(g, h);
        cnn_scope_pop(g);
    }
    return h;
}

static void test_eval_plan_reuses_memory(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x, *y = chain6(g, &x, 2);
    TU_OK(cnn_graph_compile(g, 9));
    size_t eval = cnn_graph_arena_bytes(g, false), train = cnn_graph_arena_bytes(g, true);
    /* values: input 768 B, six layers of 2*4*8*8 floats (2048 B): eval keeps the
       input and at most ~3 values alive; training keeps all 7 plus gradients */
    assert_true(eval > 0);
    assert_true(eval < train);
    assert_true(eval <= 768 + 3 * 2048);
    assert_true(train >= 768 + 6 * 2048);
    float *xv = random_data(2 * 3 * 64, 4, -1, 1);
    tu_forward(g, x, xv, 2);
    size_t n = 2 * 4 * 64;
    float *ev = malloc(n * sizeof *ev);
    memcpy(ev, cnn_node_value(y).data, n * sizeof *ev);
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    TU_OK(cnn_graph_forward(g));
    /* same ops on the same data, only placed elsewhere: identical */
    TU_ASSERT_CLOSE(cnn_node_value(y).data, ev, n, 1e-30f, 0.0f, "eval plan vs training plan");
    /* and back to eval after training: still identical */
    cnn_graph_set_training(g, false);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    TU_OK(cnn_graph_forward(g));
    TU_ASSERT_CLOSE(cnn_node_value(y).data, ev, n, 1e-30f, 0.0f, "eval plan again");
    free(ev);
    free(xv);
    cnn_graph_free(g);
}

/* ---------------------------------------------------------------- (d) batch */
static void test_smaller_batch(void **state)
{
    (void)state;
    const int B = 4, K = 5, per = 3 * 6 * 6;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){B, 3, 6, 6});
    cnn_node *h = cnn_relu(g, cnn_conv2d(g, x, 4, .kernel = 3, .padding = 1, .name = "conv"));
    h = cnn_channel_shuffle(g, cnn_concat(g, 2, (cnn_node *[]){h, cnn_channel_max(g, h)}), 1);
    cnn_node *y = cnn_linear(g, cnn_flatten(g, h), K, .name = "fc");
    TU_OK(cnn_graph_status(g));
    float *xv = random_data((size_t)B * per, 5, -1, 1);
    for (int training = 0; training < 2; training++) {
        cnn_graph_set_training(g, training);
        tu_forward(g, x, xv, B);
        float full[4 * 5];
        memcpy(full, cnn_node_value(y).data, sizeof full);
        /* batch 2 with examples 0, 1; batch 1 with example 3 */
        tu_forward(g, x, xv, 2);
        assert_int_equal(cnn_node_value(y).dims[0], 2);
        /* a fast backend may block the GEMM differently per batch size: float
           rounding differences only (1e-6 relative), no cross-example mixing */
        TU_ASSERT_CLOSE(cnn_node_value(y).data, full, 2 * K, 1e-6f, 1e-5f, "batch 2 of 4");
        TU_OK(cnn_graph_set_input(g, x, xv + 3 * per, 1));
        TU_OK(cnn_graph_forward(g));
        TU_ASSERT_CLOSE(cnn_node_value(y).data, full + 3 * K, K, 1e-6f, 1e-5f, "batch 1 (example 3)");
    }
    /* gradients: batch 2 equals batch 4 with zero upstream rows for examples 2, 3 */
    float dout[4 * 5] = {0};
    cnn_rng r;
    cnn_rng_seed(&r, 6);
    tu_fill(dout, 2 * K, -1, 1, &r);
    int np = cnn_graph_num_params(g);
    float *g4[4];
    tu_forward(g, x, xv, B);
    TU_OK(cnn_graph_backward_from(g, y, dout));
    for (int i = 0; i < np; i++) {
        cnn_param *p = cnn_graph_param(g, i);
        size_t n = cnn_tensor_numel(&p->grad);
        g4[i] = malloc(n * sizeof(float));
        memcpy(g4[i], p->grad.data, n * sizeof(float));
    }
    tu_forward(g, x, xv, 2);
    TU_OK(cnn_graph_backward_from(g, y, dout));
    for (int i = 0; i < np; i++) {
        cnn_param *p = cnn_graph_param(g, i);
        TU_ASSERT_CLOSE(p->grad.data, g4[i], cnn_tensor_numel(&p->grad), 1e-6f, 1e-5f, p->name);
        free(g4[i]);
    }
    free(xv);
    cnn_graph_free(g);
}

/* ---------------------------------------------------------------- (e) no alloc */
/* One step; inputs are set after the mode is chosen (each plan places them anew). */
static void step(cnn_graph *g, cnn_node *x, cnn_node *lab, const float *xv, const float *labels,
                 int batch, bool training, cnn_node *loss)
{
    cnn_graph_set_training(g, training);
    TU_OK(cnn_graph_set_input(g, x, xv, batch));
    TU_OK(cnn_graph_set_input(g, lab, labels, batch));
    TU_OK(cnn_graph_forward(g));
    if (training) TU_OK(cnn_graph_backward(g, loss));
}

static void test_training_step_allocates_nothing(void **state)
{
    (void)state;
    const int B = 3;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){B, 2, 6, 6});
    cnn_node *lab = cnn_labels(g, "y", B);
    cnn_node *h = cnn_relu(g, cnn_conv2d(g, x, 4, .kernel = 3, .padding = 1, .name = "c0"));
    cnn_node *s = cnn_channel_slice(g, h, 0, 2);
    h = cnn_add(g, cnn_concat(g, 2, (cnn_node *[]){s, s}), h);
    h = cnn_mul_spatial(g, h, cnn_sigmoid(g, cnn_channel_mean(g, h)));
    cnn_node *loss = cnn_cross_entropy(g, cnn_linear(g, cnn_flatten(g, h), 3, .name = "fc"), lab);
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 1));
    float *xv = random_data((size_t)B * 72, 7, -1, 1);
    const float labels[3] = {0, 2, 1};
    /* warm-up: both plans applied once, the arena at its largest */
    step(g, x, lab, xv, labels, B, true, loss);
    step(g, x, lab, xv, labels, B, false, loss);
    long before = cnn_alloc_count();
    for (int i = 0; i < 3; i++) {
        int batch = i == 1 ? 2 : B;
        step(g, x, lab, xv, labels, batch, true, loss);
        step(g, x, lab, xv, labels, batch, false, loss);
    }
    assert_int_equal(cnn_alloc_count(), before);
    free(xv);
    cnn_graph_free(g);
}

/* ---------------------------------------------------------------- (f) faults */
static int is_ok_or_nomem(cnn_status s) { return s == CNN_OK || s == CNN_ERR_NOMEM; }

/* Builds, compiles, runs eval forward, training forward + backward. Returns how
   many calls ended in CNN_ERR_NOMEM; fails the test on any other error. */
static int faulty_run(void)
{
    int nomem = 0;
    cnn_graph *g = cnn_graph_new();
    if (!g) {
        assert_non_null(strstr(cnn_error_message(), "out of memory"));
        return 1;
    }
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 6, 6});
    cnn_node *lab = cnn_labels(g, "y", 2);
    cnn_scope_push(g, "layer1");
    cnn_node *h = cnn_relu(g, cnn_conv2d(g, x, 4, .kernel = 3, .padding = 1, .name = "conv1"));
    h = cnn_concat(g, 2, (cnn_node *[]){h, cnn_channel_max(g, h)});
    h = cnn_add(g, h, cnn_channel_shuffle(g, h, 5));
    cnn_scope_pop(g);
    cnn_node *logits = cnn_linear(g, cnn_flatten(g, h), 3, .name = "fc");
    cnn_node *loss = cnn_cross_entropy(g, logits, lab);
    cnn_status s = cnn_graph_status(g);
    assert_true(is_ok_or_nomem(s));
    if (s != CNN_OK) {
        assert_null(loss);
        assert_non_null(strstr(cnn_graph_error(g), "out of memory"));
        nomem++;
    }
    float xv[2 * 3 * 36] = {0};
    const float labels[2] = {1, 2};
    for (int i = 0; i < 2 * 3 * 36; i++) xv[i] = (float)(i % 7) * 0.1f - 0.3f;
    cnn_status calls[10];
    int k = 0;
    /* inputs are set again after a change of mode: each plan has its own places */
    calls[k++] = cnn_graph_compile(g, 1);
    calls[k++] = cnn_graph_set_input(g, x, xv, 2);
    calls[k++] = cnn_graph_set_input(g, lab, labels, 2);
    calls[k++] = cnn_graph_forward(g);
    cnn_graph_set_training(g, true);
    calls[k++] = cnn_graph_set_input(g, x, xv, 2);
    calls[k++] = cnn_graph_set_input(g, lab, labels, 2);
    calls[k++] = cnn_graph_forward(g);
    cnn_status fwd = calls[k - 1];
    /* backward needs a finished training forward: only call it then */
    calls[k++] = fwd == CNN_OK ? cnn_graph_backward(g, loss) : CNN_ERR_NOMEM;
    for (int i = 0; i < k; i++) {
        if (!is_ok_or_nomem(calls[i]))
            fail_msg("call %d returned %s: %s", i, cnn_status_name(calls[i]), cnn_error_message());
        nomem += calls[i] == CNN_ERR_NOMEM;
    }
    cnn_graph_free(g);
    return nomem;
}

static void test_fault_injection(void **state)
{
    (void)state;
    /* count the allocations of a clean run */
    cnn_alloc_fail_after(0);
    assert_int_equal(faulty_run(), 0);
    long total = cnn_alloc_count();
    assert_true(total > 10);
    for (long k = 1; k <= total + 1; k++) {
        cnn_alloc_fail_after(k);
        int nomem = faulty_run();
        cnn_alloc_fail_after(0);
        /* the k-th allocation happens and fails within the run, and is reported */
        if (k <= total && nomem == 0) fail_msg("allocation %ld of %ld failed silently", k, total);
        if (k == total + 1) assert_int_equal(nomem, 0);
    }
}

/* ---------------------------------------------------------------- (g) errors */
static void test_error_propagation(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 6, 8, 8});
    cnn_node *bad = cnn_conv2d(g, x, 8, .kernel = 3, .groups = 4, .name = "conv1");
    assert_null(bad);
    char first[1024];
    snprintf(first, sizeof first, "%s", cnn_graph_error(g));
    assert_non_null(strstr(first, "conv2d 'conv1': groups 4 does not divide 6 input channels"));
    cnn_node *h = cnn_relu(g, bad);
    h = cnn_linear(g, cnn_flatten(g, h), 10);
    assert_null(h);
    /* an independent later error does not replace the first either */
    assert_null(cnn_channel_slice(g, x, 5, 5));
    assert_null(cnn_input(g, "other", 4, (int[]){3, 1, 2, 2}));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
    assert_string_equal(cnn_graph_error(g), first);
    assert_string_equal(cnn_error_message(), first);
    assert_int_equal(cnn_graph_compile(g, 0), CNN_ERR_INVALID_ARG);
    assert_string_equal(cnn_error_message(), first);
    assert_int_equal(cnn_graph_forward(g), CNN_ERR_INVALID_ARG);
    cnn_graph_free(g);
}

static void test_call_order_errors(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 4, 4});
    cnn_node *y = cnn_conv2d(g, x, 2, .kernel = 3, .name = "c");
    cnn_node *lab = cnn_labels(g, "y", 2);
    cnn_node *loss = cnn_cross_entropy(g, cnn_flatten(g, y), lab);
    TU_OK(cnn_graph_compile(g, 1));
    float xv[2 * 3 * 16] = {0}, dout[2 * 2 * 2 * 2] = {0};
    const float labels[2] = {0, 1};
    /* building after compile */
    assert_null(cnn_relu(g, y));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_STATE);
    assert_non_null(strstr(cnn_error_message(), "already compiled"));
    /* backward before any forward, in training mode */
    cnn_graph_set_training(g, true);
    assert_int_equal(cnn_graph_backward(g, loss), CNN_ERR_STATE);
    assert_int_equal(cnn_graph_backward_from(g, y, dout), CNN_ERR_STATE);
    /* backward after an eval forward */
    cnn_graph_set_training(g, false);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    TU_OK(cnn_graph_set_input(g, lab, labels, 2));
    TU_OK(cnn_graph_forward(g));
    assert_int_equal(cnn_graph_backward(g, loss), CNN_ERR_STATE);
    assert_non_null(strstr(cnn_error_message(), "training mode"));
    /* after a training forward it works; a non-scalar "loss" is a shape error */
    cnn_graph_set_training(g, true);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    TU_OK(cnn_graph_set_input(g, lab, labels, 2));
    TU_OK(cnn_graph_forward(g));
    TU_OK(cnn_graph_backward(g, loss));
    assert_int_equal(cnn_graph_backward(g, y), CNN_ERR_SHAPE);
    assert_int_equal(cnn_graph_backward(g, NULL), CNN_ERR_INVALID_ARG);
    /* nothing trainable leads to the input */
    assert_int_equal(cnn_graph_backward_from(g, x, xv), CNN_ERR_STATE);
    /* inputs: batch outside 1..max, NULL data, a non-input node */
    assert_int_equal(cnn_graph_set_input(g, x, xv, 3), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_error_message(), "batch 3 outside 1..2"));
    assert_int_equal(cnn_graph_set_input(g, x, xv, 0), CNN_ERR_SHAPE);
    assert_int_equal(cnn_graph_set_input(g, x, NULL, 2), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_graph_set_input(g, y, xv, 2), CNN_ERR_INVALID_ARG);
    cnn_graph_free(g);

    /* an empty graph cannot compile; NULL graphs are errors, not crashes */
    g = cnn_graph_new();
    assert_int_equal(cnn_graph_compile(g, 0), CNN_ERR_STATE);
    cnn_graph_free(g);
    assert_int_equal(cnn_graph_compile(NULL, 0), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_graph_forward(NULL), CNN_ERR_INVALID_ARG);
    assert_null(cnn_input(NULL, "x", 1, (int[]){1}));
    cnn_graph_free(NULL);
    /* input validation */
    g = cnn_graph_new();
    assert_null(cnn_input(g, "x", 2, (int[]){0, 3}));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_graph_error(g), "input 'x': dimension 0 of (0, 3)"));
    cnn_graph_free(g);
    g = cnn_graph_new();
    cnn_input(g, "a", 2, (int[]){4, 3});
    assert_null(cnn_input(g, "b", 2, (int[]){5, 3}));
    assert_int_equal(cnn_graph_status(g), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_graph_error(g), "batch 5 differs from the graph's batch 4"));
    cnn_graph_free(g);
}

/* ---------------------------------------------------------------- (h) cost */
static void test_cost_totals(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 8, 8});
    cnn_node *c = cnn_conv2d(g, x, 4, .kernel = 3, .padding = 1, .name = "conv");
    cnn_node *h = cnn_add(g, cnn_relu(g, c), c);
    h = cnn_concat(g, 2, (cnn_node *[]){h, cnn_channel_mean(g, h)});
    cnn_node *fc = cnn_linear(g, cnn_flatten(g, cnn_channel_slice(g, h, 1, 4)), 10, .name = "fc");
    TU_OK(cnn_graph_status(g));
    /* conv: 4 * 8 * 8 outputs * 3 * 9 MACs, 4*3*9 + 4 params; fc: 256 * 10 + 10 */
    cnn_cost cc = cnn_node_cost(c), cf = cnn_node_cost(fc);
    assert_int_equal(cc.macs, 4 * 64 * 27);
    assert_int_equal(cc.params, 112);
    assert_int_equal(cf.macs, 2560);
    assert_int_equal(cf.params, 2570);
    cnn_cost total = cnn_graph_cost(g), sum = {0, 0};
    for (int i = 0; i < cnn_graph_num_nodes(g); i++) {
        cnn_cost ci = cnn_node_cost(cnn_graph_node(g, i));
        sum.params += ci.params;
        sum.macs += ci.macs;
    }
    assert_int_equal(total.macs, sum.macs);
    assert_int_equal(total.params, sum.params);
    assert_int_equal(total.macs, 4 * 64 * 27 + 2560);
    assert_int_equal(total.params, 112 + 2570);
    assert_int_equal(cnn_graph_param_count(g), 112 + 2570);
    /* per example: the same at any built batch */
    cnn_graph *g1 = cnn_graph_new();
    cnn_node *x1 = cnn_input(g1, "x", 4, (int[]){7, 3, 8, 8});
    cnn_conv2d(g1, x1, 4, .kernel = 3, .padding = 1, .name = "conv");
    assert_int_equal(cnn_graph_cost(g1).macs, 4 * 64 * 27);
    cnn_graph_free(g1);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_names),
        cmocka_unit_test(test_duplicate_param_names),
        cmocka_unit_test(test_residual_block_gradcheck),
        cmocka_unit_test(test_diamond_gradcheck),
        cmocka_unit_test(test_concat_same_node_twice),
        cmocka_unit_test(test_eval_plan_reuses_memory),
        cmocka_unit_test(test_smaller_batch),
        cmocka_unit_test(test_training_step_allocates_nothing),
        cmocka_unit_test(test_fault_injection),
        cmocka_unit_test(test_error_propagation),
        cmocka_unit_test(test_call_order_errors),
        cmocka_unit_test(test_cost_totals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
