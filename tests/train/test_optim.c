/* Optimizers: parity with torch.optim (SGD plain / momentum / nesterov / weight decay,
   Adam with and without L2, AdamW) over 5 steps from tests/fixtures/optim.safetensors
   (regenerate: /usr/bin/python3 tools/make_fixtures.py optim), state names and
   resume from exported state, no allocation in step, invalid options; the chunked,
   multithreaded step against a scalar reference on parameters of several chunks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define FIXTURE "tests/fixtures/optim.safetensors"
#define STEPS 5

/* Keep in step with CONFIGS in tools/fixtures/optim.py. */
static const struct {
    const char *name;
    cnn_optim_opts o;
} configs[] = {
    {"sgd", {.kind = CNN_OPTIM_SGD, .lr = 0.1f}},
    {"sgd_momentum", {.kind = CNN_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f}},
    {"sgd_nesterov", {.kind = CNN_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = true}},
    {"sgd_wd", {.kind = CNN_OPTIM_SGD, .lr = 0.05f, .momentum = 0.8f, .weight_decay = 0.1f}},
    {"adam", {.kind = CNN_OPTIM_ADAM, .lr = 0.01f}},
    {"adam_wd",
     {.kind = CNN_OPTIM_ADAM,
      .lr = 0.02f,
      .beta1 = 0.8f,
      .beta2 = 0.99f,
      .eps = 1e-6f,
      .weight_decay = 0.1f}},
    {"adamw", {.kind = CNN_OPTIM_ADAMW, .lr = 0.01f, .weight_decay = 0.1f}},
};
#define N_CONFIGS ((int)(sizeof configs / sizeof configs[0]))

/* x (1, 3) -> fc: weight (2, 3), bias (2), compiled. */
static cnn_graph *tiny_graph(void)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 2, (int[]){1, 3});
    cnn_linear(g, x, 2, .name = "fc");
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 7));
    return g;
}

static cnn_tensor get(const cnn_tensor_file *f, const char *fmt, const char *a)
{
    char name[128];
    snprintf(name, sizeof name, fmt, a);
    cnn_tensor t;
    TU_OK(cnn_tensor_file_get(f, name, &t));
    return t;
}

static void set_params(cnn_graph *g, const cnn_tensor_file *f)
{
    cnn_tensor w = get(f, "init.%s", "weight"), b = get(f, "init.%s", "bias");
    memcpy(cnn_graph_find_param(g, "fc.weight")->value.data, w.data, 6 * sizeof(float));
    memcpy(cnn_graph_find_param(g, "fc.bias")->value.data, b.data, 2 * sizeof(float));
}

static void set_grads(cnn_graph *g, const cnn_tensor_file *f, int t)
{
    cnn_tensor gw = get(f, "grad.%s", "weight"), gb = get(f, "grad.%s", "bias");
    memcpy(cnn_graph_find_param(g, "fc.weight")->grad.data, gw.data + 6 * t, 6 * sizeof(float));
    memcpy(cnn_graph_find_param(g, "fc.bias")->grad.data, gb.data + 2 * t, 2 * sizeof(float));
}

/* Float32 updates in a slightly different order than torch's kernels differ by a few
   ulps after 5 steps: 1e-6 relative (+1e-7 absolute for values near 0). */
static void test_parity(void **state)
{
    (void)state;
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(FIXTURE, &f));
    for (int c = 0; c < N_CONFIGS; c++) {
        cnn_graph *g = tiny_graph();
        set_params(g, f);
        cnn_optimizer *opt = cnn_optimizer_new(g, &configs[c].o);
        if (!opt) fail_msg("%s: %s", configs[c].name, cnn_error_message());
        cnn_tensor ew = get(f, "%s.weight", configs[c].name),
                   eb = get(f, "%s.bias", configs[c].name);
        for (int t = 0; t < STEPS; t++) {
            set_grads(g, f, t);
            TU_OK(cnn_optimizer_step(opt));
            char what[64];
            snprintf(what, sizeof what, "%s step %d weight", configs[c].name, t + 1);
            TU_ASSERT_CLOSE(cnn_graph_find_param(g, "fc.weight")->value.data, ew.data + 6 * t, 6,
                            1e-7f, 1e-6f, what);
            snprintf(what, sizeof what, "%s step %d bias", configs[c].name, t + 1);
            TU_ASSERT_CLOSE(cnn_graph_find_param(g, "fc.bias")->value.data, eb.data + 2 * t, 2,
                            1e-7f, 1e-6f, what);
        }
        assert_int_equal(cnn_optimizer_steps(opt), STEPS);
        /* every exported state matches torch's optimizer.state under the same name */
        int want_states = configs[c].o.kind != CNN_OPTIM_SGD ? 4
                          : configs[c].o.momentum > 0        ? 2
                                                             : 0;
        assert_int_equal(cnn_optimizer_num_states(opt), want_states);
        for (int i = 0; i < cnn_optimizer_num_states(opt); i++) {
            const char *name = NULL;
            cnn_tensor *st = cnn_optimizer_state(opt, i, &name);
            assert_non_null(st);
            assert_non_null(name);
            cnn_tensor e;
            char key[128];
            snprintf(key, sizeof key, "%s.%s", configs[c].name, name);
            TU_OK(cnn_tensor_file_get(f, key, &e));
            assert_int_equal(cnn_tensor_numel(&e), cnn_tensor_numel(st));
            TU_ASSERT_CLOSE(st->data, e.data, cnn_tensor_numel(st), 1e-7f, 1e-6f, key);
        }
        assert_null(cnn_optimizer_state(opt, want_states, NULL));
        cnn_optimizer_free(opt);
        cnn_graph_free(g);
    }
    cnn_tensor_file_free(f);
}

/* A checkpoint round trip: 3 steps, copy state and step count into a fresh optimizer,
   2 more steps == 5 uninterrupted steps, bit for bit. */
static void test_resume(void **state)
{
    (void)state;
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(FIXTURE, &f));
    for (int c = 0; c < N_CONFIGS; c++) {
        cnn_graph *g = tiny_graph();
        set_params(g, f);
        cnn_optimizer *a = cnn_optimizer_new(g, &configs[c].o);
        assert_non_null(a);
        for (int t = 0; t < 3; t++) {
            set_grads(g, f, t);
            TU_OK(cnn_optimizer_step(a));
        }
        cnn_optimizer *b = cnn_optimizer_new(g, &configs[c].o);
        assert_non_null(b);
        assert_int_equal(cnn_optimizer_num_states(a), cnn_optimizer_num_states(b));
        for (int i = 0; i < cnn_optimizer_num_states(a); i++) {
            const char *na, *nb;
            cnn_tensor *sa = cnn_optimizer_state(a, i, &na), *sb = cnn_optimizer_state(b, i, &nb);
            assert_string_equal(na, nb);
            memcpy(sb->data, sa->data, cnn_tensor_numel(sa) * sizeof(float));
        }
        cnn_optimizer_set_steps(b, cnn_optimizer_steps(a));
        cnn_optimizer_free(a);
        for (int t = 3; t < STEPS; t++) {
            set_grads(g, f, t);
            TU_OK(cnn_optimizer_step(b));
        }
        cnn_tensor ew = get(f, "%s.weight", configs[c].name);
        TU_ASSERT_CLOSE(cnn_graph_find_param(g, "fc.weight")->value.data, ew.data + 6 * (STEPS - 1),
                        6, 1e-7f, 1e-6f, configs[c].name);
        cnn_optimizer_free(b);
        cnn_graph_free(g);
    }
    cnn_tensor_file_free(f);
}

static void test_names_and_lr(void **state)
{
    (void)state;
    cnn_graph *g = tiny_graph();
    cnn_optimizer *opt =
        cnn_optimizer_new(g, &(cnn_optim_opts){.kind = CNN_OPTIM_ADAM, .lr = 1e-3f});
    assert_non_null(opt);
    const char *want[] = {"exp_avg.fc.weight", "exp_avg_sq.fc.weight", "exp_avg.fc.bias",
                          "exp_avg_sq.fc.bias"};
    for (int i = 0; i < 4; i++) {
        const char *name;
        cnn_tensor *t = cnn_optimizer_state(opt, i, &name);
        assert_string_equal(name, want[i]);
        assert_int_equal(t->ndim, i < 2 ? 2 : 1);
        for (size_t k = 0; k < cnn_tensor_numel(t); k++) assert_true(t->data[k] == 0.0f);
    }
    assert_true(cnn_optimizer_lr(opt) == 1e-3f);
    cnn_optimizer_set_lr(opt, 0.5f);
    assert_true(cnn_optimizer_lr(opt) == 0.5f);
    cnn_optimizer_set_steps(opt, 42);
    assert_int_equal(cnn_optimizer_steps(opt), 42);
    cnn_optimizer_free(opt);

    opt = cnn_optimizer_new(g,
                            &(cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f});
    const char *name;
    cnn_optimizer_state(opt, 1, &name);
    assert_string_equal(name, "momentum_buffer.fc.bias");
    cnn_optimizer_free(opt);
    cnn_graph_free(g);
}

/* The step loop allocates nothing (DESIGN decision 6). */
static void test_step_allocates_nothing(void **state)
{
    (void)state;
    for (int c = 0; c < N_CONFIGS; c++) {
        cnn_graph *g = tiny_graph();
        cnn_optimizer *opt = cnn_optimizer_new(g, &configs[c].o);
        assert_non_null(opt);
        cnn_alloc_fail_after(0);
        for (int t = 0; t < 3; t++) TU_OK(cnn_optimizer_step(opt));
        assert_int_equal(cnn_alloc_count(), 0);
        cnn_optimizer_free(opt);
        cnn_graph_free(g);
    }
}

/* Each failing allocation in cnn_optimizer_new gives NULL + NOMEM and leaks nothing. */
static void test_alloc_failures(void **state)
{
    (void)state;
    cnn_graph *g = tiny_graph();
    const cnn_optim_opts o = {.kind = CNN_OPTIM_ADAMW, .lr = 0.1f};
    int k = 1;
    for (;; k++) {
        cnn_alloc_fail_after(k);
        cnn_optimizer *opt = cnn_optimizer_new(g, &o);
        long used = cnn_alloc_count();
        cnn_alloc_fail_after(0);
        if (opt) {
            assert_true(used < k);
            cnn_optimizer_free(opt);
            break;
        }
        assert_non_null(strstr(cnn_error_message(), "out of memory"));
    }
    assert_true(k > 1);
    cnn_graph_free(g);
}

static void expect_invalid(cnn_graph *g, cnn_optim_opts o, const char *word)
{
    cnn_clear_error();
    cnn_optimizer *opt = cnn_optimizer_new(g, &o);
    if (opt) {
        cnn_optimizer_free(opt);
        fail_msg("accepted options that should name '%s'", word);
    }
    if (!strstr(cnn_error_message(), word))
        fail_msg("message '%s' does not name '%s'", cnn_error_message(), word);
}

static void test_invalid(void **state)
{
    (void)state;
    cnn_graph *g = tiny_graph();
    expect_invalid(g, (cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.0f}, "lr");
    expect_invalid(g, (cnn_optim_opts){.kind = CNN_OPTIM_ADAM, .lr = -1.0f}, "lr");
    expect_invalid(g, (cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.1f, .momentum = -0.5f},
                   "momentum");
    expect_invalid(g, (cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.1f, .nesterov = true},
                   "nesterov");
    expect_invalid(g, (cnn_optim_opts){.kind = CNN_OPTIM_ADAM, .lr = 0.1f, .beta1 = 1.0f}, "beta1");
    expect_invalid(g, (cnn_optim_opts){.kind = CNN_OPTIM_ADAMW, .lr = 0.1f, .beta1 = -0.1f},
                   "beta1");
    expect_invalid(g, (cnn_optim_opts){.kind = CNN_OPTIM_ADAM, .lr = 0.1f, .beta2 = 1.5f}, "beta2");
    expect_invalid(g, (cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.1f, .weight_decay = -1.0f},
                   "weight_decay");
    expect_invalid(NULL, (cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.1f}, "NULL");
    cnn_graph_free(g);
}

/* The step runs in chunks of 16384 elements shared among threads: a big odd-sized
   weight (several chunks and a partial one), a small bias, and a batch norm whose
   running statistics (not trainable) sit between them in the parameter list. Every
   config, 4 steps of random gradients, must equal a scalar loop of the header's
   formulas bit for bit, with 1 and 2 threads. */
static cnn_graph *big_graph(void)
{
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 3, 2, 2});
    cnn_batchnorm2d(g, x, .name = "bn");
    cnn_node *z = cnn_input(g, "z", 2, (int[]){2, 300});
    cnn_linear(g, z, 229, .name = "fc"); /* 68700 + 229: past the 65536 that go parallel */
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 3));
    return g;
}

static void ref_step(const cnn_optim_opts *o, int64_t t, float *w, const float *gr, float *s0,
                     float *s1, size_t n)
{
    const float lr = o->lr, wd = o->weight_decay;
    if (o->kind == CNN_OPTIM_SGD) {
        for (size_t i = 0; i < n; i++) {
            float d = gr[i];
            if (wd != 0.0f) d += wd * w[i];
            if (o->momentum > 0.0f) {
                s0[i] = t == 0 ? d : o->momentum * s0[i] + d;
                d = o->nesterov ? d + o->momentum * s0[i] : s0[i];
            }
            w[i] -= lr * d;
        }
        return;
    }
    float b1 = o->beta1 != 0.0f ? o->beta1 : 0.9f, b2 = o->beta2 != 0.0f ? o->beta2 : 0.999f;
    float eps = o->eps != 0.0f ? o->eps : 1e-8f;
    double bc1 = 1.0 - pow((double)b1, (double)(t + 1)), bc2 = 1.0 - pow((double)b2, (double)(t + 1));
    float step_size = (float)((double)lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * (double)wd);
    for (size_t i = 0; i < n; i++) {
        float gi = gr[i];
        if (o->kind == CNN_OPTIM_ADAMW) {
            if (wd != 0.0f) w[i] *= decay;
        } else if (wd != 0.0f) {
            gi += wd * w[i];
        }
        s0[i] = s0[i] * b1 + (1.0f - b1) * gi;
        s1[i] = s1[i] * b2 + (1.0f - b2) * gi * gi;
        w[i] -= step_size * (s0[i] / (sqrtf(s1[i]) / bc2_sqrt + eps));
    }
}

static void test_chunked_step_matches_reference(void **state)
{
    (void)state;
    const char *names[] = {"bn.weight", "bn.bias", "fc.weight", "fc.bias"};
    for (int threads = 1; threads <= 2; threads++) {
        cnn_set_threads(threads);
        for (int c = 0; c < N_CONFIGS; c++) {
            cnn_graph *g = big_graph();
            cnn_optimizer *opt = cnn_optimizer_new(g, &configs[c].o);
            assert_non_null(opt);
            cnn_rng rng;
            cnn_rng_seed(&rng, 11);
            float *ref[4], *st[4][2];
            size_t n[4];
            for (int k = 0; k < 4; k++) {
                cnn_param *p = cnn_graph_find_param(g, names[k]);
                assert_non_null(p);
                n[k] = cnn_tensor_numel(&p->value);
                tu_fill(p->value.data, n[k], -1.0f, 1.0f, &rng);
                ref[k] = malloc(n[k] * sizeof(float));
                st[k][0] = calloc(n[k], sizeof(float));
                st[k][1] = calloc(n[k], sizeof(float));
                assert_true(ref[k] && st[k][0] && st[k][1]);
                memcpy(ref[k], p->value.data, n[k] * sizeof(float));
            }
            for (int t = 0; t < 4; t++) {
                for (int k = 0; k < 4; k++) {
                    cnn_param *p = cnn_graph_find_param(g, names[k]);
                    tu_fill(p->grad.data, n[k], -0.5f, 0.5f, &rng);
                    ref_step(&configs[c].o, t, ref[k], p->grad.data, st[k][0], st[k][1], n[k]);
                }
                TU_OK(cnn_optimizer_step(opt));
                for (int k = 0; k < 4; k++)
                    if (memcmp(cnn_graph_find_param(g, names[k])->value.data, ref[k],
                               n[k] * sizeof(float)))
                        fail_msg("%s, %d threads, step %d: %s differs from the reference",
                                 configs[c].name, threads, t + 1, names[k]);
            }
            for (int k = 0; k < 4; k++) {
                free(ref[k]);
                free(st[k][0]);
                free(st[k][1]);
            }
            cnn_optimizer_free(opt);
            cnn_graph_free(g);
        }
    }
    cnn_set_threads(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),         cmocka_unit_test(test_resume),
        cmocka_unit_test(test_names_and_lr),   cmocka_unit_test(test_step_allocates_nothing),
        cmocka_unit_test(test_alloc_failures), cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_chunked_step_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
