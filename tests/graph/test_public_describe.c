/* The public read-only view of a graph (include/cnn/describe.h), the per-layer profile
   (cnn_graph_profile), the executor's observer and the int8 state setters: what the
   exporters, `cnn bench --layers` and calibration are written against
   (docs/architecture.md, "Describing a graph"). Public API only: this file includes
   no internal header, as the layers above the graph. */
#include <math.h>
#include <string.h>

#include "cnn.h"
#include "testutil.h"

typedef struct net {
    cnn_graph *g;
    cnn_node *x, *c, *bn, *r, *fc, *k;
} net;

/* x (2, 3, 8, 8) -> conv 3x3 (4) -> batch norm -> relu -> flatten -> linear (5); a constant k. */
static net make_net(void)
{
    net m;
    m.g = cnn_graph_new();
    m.x = cnn_input(m.g, "x", 4, (int[]){2, 3, 8, 8});
    m.c = cnn_conv2d(m.g, m.x, 4, .kernel = 3, .padding = 1, .name = "c");
    m.bn = cnn_batchnorm2d(m.g, m.c, .name = "bn");
    m.r = cnn_relu(m.g, m.bn);
    m.fc = cnn_linear(m.g, cnn_flatten(m.g, m.r), 5, .name = "fc");
    m.k = cnn_constant(m.g, "k", 1, (int[]){3}, (const float[]){1.5f, -2.0f, 0.25f});
    if (cnn_graph_status(m.g) != CNN_OK) fail_msg("%s", cnn_graph_error(m.g));
    if (cnn_graph_compile(m.g, 7) != CNN_OK) fail_msg("%s", cnn_error_message());
    /* running statistics away from their defaults, so the affine form is not trivial */
    cnn_rng rng;
    cnn_rng_seed(&rng, 11);
    for (int i = 0; i < 4; i++) {
        cnn_param *p = cnn_node_param_at(m.bn, i);
        tu_fill(p->value.data, cnn_tensor_numel(&p->value), i == 3 ? 0.5f : -1.0f, 2.0f, &rng);
    }
    return m;
}

static void run(net *m)
{
    float in[2 * 3 * 8 * 8];
    cnn_rng rng;
    cnn_rng_seed(&rng, 3);
    tu_fill(in, sizeof in / sizeof *in, -1.0f, 1.0f, &rng);
    assert_int_equal(cnn_graph_set_input(m->g, m->x, in, 2), CNN_OK);
    assert_int_equal(cnn_graph_forward_until(m->g, m->fc), CNN_OK);
}

static void test_nodes(void **state)
{
    (void)state;
    net m = make_net();
    int n = cnn_graph_num_nodes(m.g);
    for (int i = 0; i < n; i++) {
        cnn_node *v = cnn_graph_node(m.g, i);
        assert_int_equal(cnn_node_index(v), i);
        for (int j = 0; j < cnn_node_num_inputs(v); j++) /* producers first */
            assert_true(cnn_node_index(cnn_node_input(v, j)) < i);
    }
    assert_int_equal(cnn_node_index(NULL), -1);
    assert_int_equal(cnn_node_per_example(m.c), 4 * 8 * 8);
    assert_int_equal(cnn_node_per_example(m.k), 3);
    assert_string_equal(cnn_node_shape_str(m.c), "(2, 4, 8, 8)");

    cnn_op_desc d;
    cnn_node_describe(m.c, &d);
    const cnn_desc_attr *a = cnn_desc_find(&d, "kernel");
    assert_non_null(a);
    assert_false(a->is_float);
    assert_int_equal(a->n, 2);
    assert_int_equal(a->i[0], 3);
    assert_int_equal(cnn_desc_find(&d, "padding")->i[1], 1);
    assert_null(cnn_desc_find(&d, "no such key"));
    cnn_node_describe(m.r, &d);
    assert_int_equal(cnn_desc_find(&d, "act")->i[0], CNN_ACT_RELU);
    cnn_node_describe(m.x, &d); /* an input lists nothing; d is cleared first */
    assert_int_equal(d.n_attrs, 0);

    cnn_conv_desc cd;
    assert_true(cnn_node_conv(m.c, &cd));
    assert_int_equal(cd.c_in, 3);
    assert_int_equal(cd.c_out, 4);
    assert_int_equal(cd.groups, 1);
    assert_int_equal(cd.k[1], 3);
    assert_int_equal(cd.k[2], 3);
    assert_int_equal(cd.p[2], 1);
    assert_int_equal(cd.out[1], 8);
    assert_true(cnn_node_conv(m.fc, &cd)); /* linear: a 1x1 convolution */
    assert_int_equal(cd.c_in * cd.in[0] * cd.in[1] * cd.in[2], 4 * 8 * 8);
    assert_int_equal(cd.c_out, 5);
    assert_false(cnn_node_conv(m.bn, &cd));
    assert_false(cnn_node_conv(m.r, &cd));

    /* batch norm's eval affine: y = x * w / sqrt(var + eps) + (b - mean * that) */
    float sc[4], sh[4];
    assert_false(cnn_node_eval_affine(m.c, sc, sh));
    assert_true(cnn_node_eval_affine(m.bn, NULL, NULL));
    assert_true(cnn_node_eval_affine(m.bn, sc, sh));
    const float *w = cnn_node_param_at(m.bn, 0)->value.data, *b = cnn_node_param_at(m.bn, 1)->value.data;
    const float *mu = cnn_node_param_at(m.bn, 2)->value.data, *var = cnn_node_param_at(m.bn, 3)->value.data;
    float want_sc[4], want_sh[4];
    for (int c = 0; c < 4; c++) {
        want_sc[c] = (float)(w[c] / sqrt((double)var[c] + 1e-5));
        want_sh[c] = (float)(b[c] - (double)mu[c] * want_sc[c]);
    }
    assert_true(tu_close(sc, want_sc, 4, 1e-6f, 1e-5f, "bn scale"));
    assert_true(tu_close(sh, want_sh, 4, 1e-6f, 1e-5f, "bn shift"));

    float kv[3] = {0};
    assert_int_equal(cnn_node_data(m.k, kv), CNN_OK);
    assert_true(kv[0] == 1.5f && kv[1] == -2.0f && kv[2] == 0.25f);
    assert_int_equal(cnn_node_data(m.c, kv), CNN_ERR_INVALID_ARG);
    assert_non_null(strstr(cnn_error_message(), "conv2d 'c'"));
    assert_int_equal(cnn_node_data(m.k, NULL), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_node_error(m.fc, CNN_ERR_SHAPE, "bad %d", 7), CNN_ERR_SHAPE);
    assert_string_equal(cnn_error_message(), "linear 'fc': bad 7");
    cnn_graph_free(m.g);
}

static void test_profile(void **state)
{
    (void)state;
    net m = make_net();
    cnn_graph_set_training(m.g, false);
    cnn_graph_set_profiling(m.g, true);
    run(&m);
    assert_true(cnn_graph_fusion(m.g));
    cnn_layer_profile p;
    assert_int_equal(cnn_graph_profile(m.g, m.c, 2, &p), CNN_OK);
    assert_int_equal(p.time.calls, 1);
    assert_int_equal(p.n_chain, 2); /* batch norm and relu run in the conv's epilogue */
    assert_ptr_equal(p.chain[0], m.bn);
    assert_ptr_equal(p.chain[1], m.r);
    assert_int_equal(p.chain_in[0], 0);
    assert_null(p.fused_into);
    assert_non_null(p.layout);
    assert_non_null(p.kernel);
    assert_string_not_equal(p.kernel, "ops"); /* the backend's convolution */
    assert_int_equal(cnn_graph_profile(m.g, m.bn, 2, &p), CNN_OK);
    assert_ptr_equal(p.fused_into, m.c);
    assert_int_equal(p.time.calls, 0);
    assert_int_equal(cnn_graph_profile(m.g, m.fc, 2, &p), CNN_OK);
    assert_string_equal(p.kernel, cnn_backend_name()); /* the backend's gemm (both provide it) */
    assert_int_equal(cnn_graph_profile(m.g, m.k, 2, &p), CNN_OK);
    assert_string_equal(p.kernel, "ops");

    assert_int_equal(cnn_graph_set_fusion(m.g, false), CNN_OK);
    assert_false(cnn_graph_fusion(m.g));
    assert_int_equal(cnn_graph_profile(m.g, m.c, 2, &p), CNN_OK);
    assert_int_equal(p.n_chain, 0);
    assert_int_equal(cnn_graph_profile(m.g, m.bn, 2, &p), CNN_OK);
    assert_null(p.fused_into);

    net o = make_net();
    assert_int_equal(cnn_graph_profile(m.g, o.c, 2, &p), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_graph_profile(m.g, m.c, 2, NULL), CNN_ERR_INVALID_ARG);
    cnn_graph_free(o.g);
    cnn_graph_free(m.g);
}

typedef struct seen {
    int order[16];
    int n;
    bool relu_ok; /* fc's input was computed (relu: no negative value) when fc was seen */
    const cnn_node *fc;
} seen;

static void observer(void *arg, const cnn_node *v)
{
    seen *s = arg;
    if (s->n < 16) s->order[s->n] = cnn_node_index(v);
    s->n++;
    if (v == s->fc) {
        cnn_tensor in = cnn_node_value(cnn_node_input(v, 0));
        s->relu_ok = in.data != NULL;
        for (size_t i = 0; in.data && i < cnn_tensor_numel(&in); i++)
            if (in.data[i] < 0.0f) s->relu_ok = false;
    }
}

static void test_observer(void **state)
{
    (void)state;
    net m = make_net();
    cnn_graph_set_training(m.g, false);
    assert_int_equal(cnn_graph_set_fusion(m.g, false), CNN_OK);
    seen s = {.fc = m.fc};
    cnn_graph_set_observer(m.g, observer, &s);
    run(&m);
    assert_true(s.n >= 4 && s.n <= 16); /* every node up to fc: c, bn, relu, fc at least */
    for (int i = 1; i < s.n; i++) assert_true(s.order[i] > s.order[i - 1]);
    assert_int_equal(s.order[s.n - 1], cnn_node_index(m.fc));
    assert_true(s.relu_ok);
    cnn_graph_set_observer(m.g, NULL, &s);
    int before = s.n;
    run(&m);
    assert_int_equal(s.n, before);
    cnn_graph_free(m.g);
}

static void test_int8_state(void **state)
{
    (void)state;
    net m = make_net();
    cnn_node_quant q = cnn_node_quant_info(m.c);
    assert_true(q.capable);
    assert_false(q.int8);
    assert_null(q.weight);
    assert_false(cnn_node_quant_info(m.bn).capable);
    assert_int_equal(cnn_node_set_int8(m.bn, 0.1f, NULL, NULL), CNN_ERR_UNSUPPORTED);
    assert_int_equal(cnn_node_set_int8(m.c, 0.0f, NULL, NULL), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_node_set_int8(NULL, 0.1f, NULL, NULL), CNN_ERR_INVALID_ARG);
    float ints[108] = {0};
    assert_int_equal(cnn_node_set_int8(m.c, 0.1f, ints, NULL), CNN_ERR_INVALID_ARG);
    assert_int_equal(cnn_graph_num_int8(m.g), 0);

    assert_int_equal(cnn_node_set_int8(m.c, 0.05f, NULL, NULL), CNN_OK);
    q = cnn_node_quant_info(m.c);
    assert_true(q.int8);
    assert_int_equal(q.channels, 4);
    assert_int_equal(q.weight_elems, 4 * 3 * 3 * 3);
    assert_non_null(q.weight);
    assert_null(q.bias);
    assert_non_null(q.float_bias); /* the conv has a bias, added after the multiplier */
    const float *w = cnn_node_param_at(m.c, 0)->value.data;
    for (int o = 0; o < 4; o++) {
        assert_true(q.multiplier[o] == q.input_scale * q.weight_scale[o]);
        for (int k = 0; k < 27; k++) {
            assert_in_range(q.weight[o * 27 + k] + 127, 0, 254);
            /* the float weight holds the dequantized value */
            assert_true(w[o * 27 + k] == (float)q.weight[o * 27 + k] * q.weight_scale[o]);
        }
    }
    assert_int_equal(cnn_graph_num_int8(m.g), 1);
    cnn_node_clear_int8(m.c);
    assert_false(cnn_node_quant_info(m.c).int8);
    assert_int_equal(cnn_graph_num_int8(m.g), 0);
    cnn_node_clear_int8(NULL);
    cnn_graph_free(m.g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodes),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_observer),
        cmocka_unit_test(test_int8_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
