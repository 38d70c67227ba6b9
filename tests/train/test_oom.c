/* Out of memory everywhere (docs/architecture.md, "Strict options"): every allocation
   of cnn_train (model compile, optimizer state, loader, checkpoint) failing in turn
   gives CNN_ERR_NOMEM — never another status, a crash or a leak — and the backend's
   own caches, reached by the same fault injection, fall back to correct results. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/cpu_internal.h"
#include "testutil.h"

static void make_data(cnn_dataset *d, int n)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = 1;
    d->h = d->w = 28;
    d->classes = 4;
    d->u8 = malloc((size_t)n * 28 * 28);
    d->labels = malloc((size_t)n * sizeof *d->labels);
    cnn_rng r;
    cnn_rng_seed(&r, 9);
    for (int i = 0; i < n; i++) {
        d->labels[i] = (int)cnn_rng_below(&r, 4);
        for (int j = 0; j < 784; j++) d->u8[(size_t)i * 784 + j] = (uint8_t)cnn_rng_below(&r, 256);
    }
}

static void test_train_oom_is_nomem(void **state)
{
    (void)state;
    cnn_dataset tr;
    make_data(&tr, 32);
    char dir[64] = "/tmp/cnn-oom-XXXXXX", ckpt[128];
    assert_non_null(mkdtemp(dir));
    snprintf(ckpt, sizeof ckpt, "%s/m.safetensors", dir);
    cnn_train_config c = {.epochs = 1, .batch = 16, .seed = 1, .checkpoint = ckpt};
    c.optim = (cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.01f, .momentum = 0.9f};
    int failures = 0;
    for (long k = 1;; k++) {
        cnn_model m;
        TU_OK(cnn_model_new("lenet", &(cnn_model_opts){.batch = 16, .classes = 4}, 0.0f, &m));
        long before = cnn_alloc_count();
        (void)before;
        cnn_alloc_fail_after(k);
        cnn_clear_error();
        cnn_status s = cnn_train(&m, &tr, NULL, &c, NULL);
        long used = cnn_alloc_count();
        cnn_alloc_fail_after(0);
        cnn_model_free(&m);
        if (s == CNN_OK && used < k) break; /* no allocation left to fail */
        if (s != CNN_OK) {
            failures++;
            if (s != CNN_ERR_NOMEM)
                fail_msg("allocation %ld failing: %s (%s), want out of memory", k, cnn_status_name(s),
                         cnn_error_message());
        }
        if (k > 5000) fail_msg("more than 5000 allocations in a 2-step training run");
    }
    print_message("%d allocations failed in turn, each gave out of memory\n", failures);
    assert_true(failures > 3);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(tr.u8);
    free(tr.labels);
}

/* The cpu backend's convolution cache allocates through cnn_calloc: each failure
   there leaves the forward pass correct (reference kernels) or reports NOMEM. */
static void test_backend_cache_oom(void **state)
{
    (void)state;
    cnn_rng r;
    cnn_rng_seed(&r, 3);
    float x[2 * 16 * 12 * 12];
    tu_fill(x, sizeof x / sizeof x[0], -1, 1, &r);
    float want[2 * 32 * 12 * 12];
    int n_out = 0;
    for (long k = 0;; k++) {
        cnn_graph *g = cnn_graph_new();
        assert_non_null(g);
        cnn_node *in = cnn_input(g, "x", 4, (int[]){2, 16, 12, 12});
        cnn_node *y = cnn_conv2d(g, in, 32, .kernel = 3, .padding = 1);
        assert_non_null(y);
        TU_OK(cnn_graph_compile(g, 7));
        cnn_graph_set_training(g, false);
        TU_OK(cnn_graph_set_input(g, in, x, 2));
#ifdef CNN_HAVE_DNNL
        cnn_dnnl_release(); /* the cache is built again inside the failing window */
#endif
        cnn_alloc_fail_after(k);
        long start = cnn_alloc_count();
        cnn_status s = cnn_graph_forward(g);
        long used = cnn_alloc_count();
        cnn_alloc_fail_after(0);
        cnn_tensor v = cnn_node_value(y);
        n_out = (int)cnn_tensor_numel(&v);
        if (k == 0) {
            TU_OK(s);
            print_message("forward: %ld allocations (backend %s)\n", used - start, cnn_backend_name());
            memcpy(want, v.data, sizeof want);
        } else if (s == CNN_OK) {
            TU_ASSERT_CLOSE(v.data, want, (size_t)n_out, 1e-4f, 1e-4f, "conv with a failed cache allocation");
        } else {
            assert_int_equal(s, CNN_ERR_NOMEM);
        }
        cnn_graph_free(g);
        if (k > 0 && used < k) break;
        if (k > 200) fail_msg("more than 200 allocations in one forward pass");
    }
    assert_int_equal(n_out, 2 * 32 * 12 * 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_oom_is_nomem),
        cmocka_unit_test(test_backend_cache_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
