/* describe(): every operator lists its builder options under the documented keys
   (docs/architecture.md, "Operators"), with the values the builder was given (defaults
   resolved, per-axis options kept apart); ops without options list nothing. */
#include <math.h>
#include <string.h>

#include "testutil.h"

/* the public view (include/cnn/describe.h), what the exporters read */
static cnn_op_desc describe(const cnn_node *n)
{
    cnn_op_desc d;
    cnn_node_describe(n, &d);
    return d;
}

/* key holds exactly the n ints v */
static void expect_ints(const cnn_node *n, const char *key, int cnt, const int64_t *v)
{
    cnn_op_desc d = describe(n);
    const cnn_desc_attr *a = cnn_desc_find(&d, key);
    if (!a) fail_msg("%s '%s': no key \"%s\"", cnn_node_op(n), cnn_node_name(n), key);
    assert_false(a->is_float);
    if (a->n != cnt) fail_msg("%s '%s': \"%s\" has %d values, want %d", cnn_node_op(n), cnn_node_name(n), key, a->n, cnt);
    for (int i = 0; i < cnt; i++)
        if (a->i[i] != v[i])
            fail_msg("%s '%s': \"%s\"[%d] = %lld, want %lld", cnn_node_op(n), cnn_node_name(n), key, i,
                     (long long)a->i[i], (long long)v[i]);
}
#define EXPECT_INTS(n, key, ...)                                             \
    expect_ints(n, key, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                (int64_t[]){__VA_ARGS__})

static void expect_float(const cnn_node *n, const char *key, float v)
{
    cnn_op_desc d = describe(n);
    const cnn_desc_attr *a = cnn_desc_find(&d, key);
    if (!a) fail_msg("%s '%s': no key \"%s\"", cnn_node_op(n), cnn_node_name(n), key);
    assert_true(a->is_float);
    assert_int_equal(a->n, 1);
    if (a->f[0] != v) fail_msg("%s '%s': \"%s\" = %g, want %g", cnn_node_op(n), cnn_node_name(n), key, a->f[0], v);
}

static void expect_none(const cnn_node *n)
{
    cnn_op_desc d = describe(n);
    if (d.n_attrs) fail_msg("%s '%s': %d attributes, want none", cnn_node_op(n), cnn_node_name(n), d.n_attrs);
}

static void test_describe_every_op(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){2, 4, 12, 10});
    cnn_node *c = cnn_conv2d(g, x, 8, .kernel_h = 3, .kernel_w = 1, .stride = 2, .padding_w = 1,
                             .dilation_h = 2, .groups = 2, .no_bias = true, .name = "c");
    cnn_node *cd = cnn_conv2d(g, x, 4, .kernel = 3, .name = "cd");
    cnn_node *ct = cnn_conv_transpose2d(g, c, 4, .kernel = 3, .stride = 2, .padding = 1,
                                        .output_padding_h = 1, .name = "ct");
    cnn_node *bn = cnn_batchnorm2d(g, ct, .eps = 1e-3f, .name = "bn");
    cnn_node *mp = cnn_maxpool2d(g, bn, .kernel = 3, .stride_w = 1, .padding = 1, .dilation = 2,
                                 .ceil_mode = true, .name = "mp");
    cnn_node *ap = cnn_avgpool2d(g, bn, .kernel_h = 2, .kernel_w = 3, .exclude_pad = true,
                                 .padding_w = 1, .name = "ap");
    cnn_node *ad = cnn_adaptive_avgpool2d(g, bn, 3, 2);
    cnn_node *gp = cnn_global_avgpool(g, bn);
    cnn_node *lr = cnn_lrn(g, bn, .size = 5, .alpha = 2e-4f, .name = "lrn");
    cnn_node *re = cnn_relu(g, lr);
    cnn_node *hs = cnn_hardsigmoid(g, lr);
    cnn_node *sh = cnn_channel_shuffle(g, re, 2);
    cnn_node *sl = cnn_channel_slice(g, sh, 1, 2);
    cnn_node *cat = cnn_concat(g, 2, (cnn_node *[]){sl, sl});
    cnn_node *add = cnn_add(g, cat, cat);
    cnn_node *mc = cnn_mul_channel(g, add, gp);
    cnn_node *cm = cnn_channel_mean(g, mc);
    cnn_node *ms = cnn_mul_spatial(g, mc, cm);
    cnn_node *dr = cnn_dropout(g, ms, 0.25f, .name = "drop");
    cnn_node *rs = cnn_reshape(g, dr, 2, (int[]){-1, 4});
    cnn_node *fl = cnn_flatten(g, rs);
    cnn_node *li = cnn_linear(g, fl, 5, .name = "fc");
    cnn_node *sm = cnn_softmax(g, li);
    cnn_node *ce = cnn_cross_entropy(g, li, cnn_labels(g, "y", 2), .label_smoothing = 0.1f);
    cnn_node *x3 = cnn_input(g, "x3", 5, (int[]){2, 2, 7, 6, 6});
    cnn_node *c3 = cnn_conv3d(g, x3, 3, .kernel_d = 3, .kernel = 2, .padding_d = 1, .name = "c3");
    cnn_node *b3 = cnn_batchnorm3d(g, c3, .momentum = 0.05f, .name = "b3");
    cnn_node *m3 = cnn_maxpool3d(g, b3, .kernel = 2, .stride_d = 1, .name = "m3");
    TU_OK(cnn_graph_status(g));

    EXPECT_INTS(c, "out_channels", 8);
    EXPECT_INTS(c, "kernel", 3, 1);
    EXPECT_INTS(c, "stride", 2, 2);
    EXPECT_INTS(c, "padding", 0, 1);
    EXPECT_INTS(c, "dilation", 2, 1);
    EXPECT_INTS(c, "groups", 2);
    EXPECT_INTS(c, "bias", 0);
    EXPECT_INTS(cd, "bias", 1);
    EXPECT_INTS(cd, "groups", 1);
    EXPECT_INTS(ct, "out_channels", 4);
    EXPECT_INTS(ct, "kernel", 3, 3);
    EXPECT_INTS(ct, "stride", 2, 2);
    EXPECT_INTS(ct, "padding", 1, 1);
    EXPECT_INTS(ct, "output_padding", 1, 0);
    EXPECT_INTS(ct, "dilation", 1, 1);
    EXPECT_INTS(ct, "groups", 1);
    EXPECT_INTS(ct, "bias", 1);
    expect_float(bn, "eps", 1e-3f);
    expect_float(bn, "momentum", 0.1f);
    expect_float(b3, "eps", 1e-5f);
    expect_float(b3, "momentum", 0.05f);
    EXPECT_INTS(mp, "kernel", 3, 3);
    EXPECT_INTS(mp, "stride", 3, 1);
    EXPECT_INTS(mp, "padding", 1, 1);
    EXPECT_INTS(mp, "dilation", 2, 2);
    EXPECT_INTS(mp, "ceil_mode", 1);
    EXPECT_INTS(mp, "exclude_pad", 0);
    EXPECT_INTS(ap, "kernel", 2, 3);
    EXPECT_INTS(ap, "stride", 2, 3);
    EXPECT_INTS(ap, "padding", 0, 1);
    EXPECT_INTS(ap, "dilation", 1, 1);
    EXPECT_INTS(ap, "ceil_mode", 0);
    EXPECT_INTS(ap, "exclude_pad", 1);
    EXPECT_INTS(m3, "kernel", 2, 2, 2);
    EXPECT_INTS(m3, "stride", 1, 2, 2);
    EXPECT_INTS(m3, "padding", 0, 0, 0);
    EXPECT_INTS(m3, "dilation", 1, 1, 1);
    EXPECT_INTS(c3, "kernel", 3, 2, 2);
    EXPECT_INTS(c3, "padding", 1, 0, 0);
    EXPECT_INTS(c3, "stride", 1, 1, 1);
    EXPECT_INTS(ad, "output", 3, 2);
    EXPECT_INTS(lr, "size", 5);
    expect_float(lr, "alpha", 2e-4f);
    expect_float(lr, "beta", 0.75f);
    expect_float(lr, "k", 1.0f);
    EXPECT_INTS(re, "act", CNN_ACT_RELU);
    EXPECT_INTS(hs, "act", CNN_ACT_HARDSIGMOID);
    EXPECT_INTS(sh, "groups", 2);
    EXPECT_INTS(sl, "start", 1);
    EXPECT_INTS(sl, "count", 2);
    expect_float(dr, "p", 0.25f);
    int64_t per = (int64_t)cnn_node_per_example(dr);
    EXPECT_INTS(rs, "dims", per / 4, 4); /* the -1 resolved */
    EXPECT_INTS(fl, "dims", per);
    EXPECT_INTS(li, "out_features", 5);
    EXPECT_INTS(li, "bias", 1);
    expect_float(ce, "label_smoothing", 0.1f);
    expect_none(gp);
    expect_none(cat);
    expect_none(add);
    expect_none(mc);
    expect_none(cm);
    expect_none(ms);
    expect_none(sm);
    expect_none(x);
    cnn_graph_free(g);
}

/* Every attribute a describe() fills is well formed: a static key, 1..max values. */
static void test_describe_well_formed(void **state)
{
    (void)state;
    const char *models[] = {"lenet", "resnet18_d2l", "googlenet_d2l", "shufflenet_v2_x0_5",
                            "mobilenet_v3_small", "hybridsn", "alexnet_d2l", "cbam_resnet18"};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        cnn_graph *g = cnn_graph_new();
        cnn_node *in = NULL, *out = NULL;
        TU_OK(cnn_model_build(g, models[m], &(cnn_model_opts){.batch = 1}, &in, &out));
        for (int i = 0; i < cnn_graph_num_nodes(g); i++) {
            cnn_op_desc d = describe(cnn_graph_node(g, i));
            assert_in_range(d.n_attrs, 0, CNN_DESC_MAX_ATTRS);
            for (int k = 0; k < d.n_attrs; k++) {
                assert_non_null(d.attrs[k].key);
                assert_in_range(d.attrs[k].n, 1, CNN_DESC_MAX_VALUES);
                for (int j = 0; j < k; j++) assert_string_not_equal(d.attrs[j].key, d.attrs[k].key);
            }
        }
        cnn_graph_free(g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_every_op),
        cmocka_unit_test(test_describe_well_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
