/* Post-training int8 quantization of models (docs/architecture.md, "int8
   precision"): int8 outputs follow the float ones; ref and cpu give the same bits on a
   whole quantized network, with int8 activations between int8 layers and without; a quantized checkpoint reloads to the same bits with I8
   weights; --keep-float keeps a layer float; bad input is refused with the model left
   float; on Fashion-MNIST (when installed) a trained LeNet keeps its accuracy within
   one point with entropy and percentile calibration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph/graph_internal.h"
#include "testutil.h"

/* n examples of c x h x w bytes: class k = a bright square in quadrant k over noise */
static void make_data(cnn_dataset *d, int n, int c, int h, int w, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->n = n, d->c = c, d->h = h, d->w = w, d->classes = 4;
    d->u8 = malloc((size_t)n * c * h * w);
    d->labels = malloc((size_t)n * sizeof *d->labels);
    assert_true(d->u8 && d->labels);
    snprintf(d->source, sizeof d->source, "synthetic %dx%dx%d", c, h, w);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = (int)cnn_rng_below(&r, 4);
        uint8_t *img = d->u8 + (size_t)i * c * h * w;
        for (int j = 0; j < c * h * w; j++) img[j] = (uint8_t)cnn_rng_below(&r, 80);
        int y0 = (k / 2) * h / 2, x0 = (k % 2) * w / 2;
        for (int ch = 0; ch < c; ch++)
            for (int y = y0; y < y0 + h / 2; y++)
                for (int x = x0; x < x0 + w / 2; x++) img[((size_t)ch * h + y) * w + x] = 230;
        d->labels[i] = k;
    }
}

static void free_data(cnn_dataset *d)
{
    free(d->u8);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

static void new_model(cnn_model *m, const char *name, int c, int hw, int batch, float wm)
{
    cnn_model_opts o = {.batch = batch, .channels = c, .height = hw, .width = hw, .classes = 4,
                        .width_mult = wm};
    TU_OK(cnn_model_new(name, &o, 0.0f, m));
    TU_OK(cnn_graph_compile(m->g, 5));
    cnn_graph_set_training(m->g, false);
}

/* logits of the first `batch` examples of d, as the model's loader would feed them */
static float *logits(cnn_model *m, const cnn_dataset *d, int batch)
{
    size_t per = (size_t)d->c * d->h * d->w;
    float *x = malloc((size_t)batch * per * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < (size_t)batch * per; i++) x[i] = d->u8[i] / 255.0f;
    TU_OK(cnn_graph_set_input(m->g, m->input, x, batch));
    TU_OK(cnn_graph_forward_until(m->g, m->logits));
    free(x);
    size_t n = (size_t)batch * m->classes;
    float *y = malloc(n * sizeof *y);
    assert_non_null(y);
    memcpy(y, cnn_node_value(m->logits).data, n * sizeof *y);
    return y;
}

static double rel_err(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* MobileNet V2 (depthwise, pointwise, BN + ReLU6 epilogues, residual adds) and LeNet:
   every conv / linear becomes int8; the int8 logits stay near the float ones; the ref
   and cpu backends agree to the bit. */
static void check_model(const char *name, int c, int hw, float wm, int method)
{
    cnn_dataset d;
    make_data(&d, 48, c, hw, hw, 3);
    cnn_model m;
    new_model(&m, name, c, hw, 8, wm);
    /* batch-norm statistics of the data (training-mode forwards), so activations keep
       their size through the random layers as in a trained network */
    cnn_graph_set_training(m.g, true);
    for (int i = 0; i < 30; i++) free(logits(&m, &d, 8));
    cnn_graph_set_training(m.g, false);
    float *yf = logits(&m, &d, 8);
    cnn_quant_opts o = {.method = (cnn_calib_method)method};
    TU_OK(cnn_model_quantize(&m, &d, 48, &o));
    int n_q = 0, n_cap = 0, n_fb = 0;
    for (int i = 0; i < cnn_graph_num_nodes(m.g); i++) {
        cnn_node_quant q = cnn_node_quant_info(cnn_graph_node(m.g, i));
        n_q += q.int8;
        n_cap += q.capable;
        n_fb += q.float_bias != NULL;
        if (q.float_bias) assert_null(q.bias);
    }
    assert_true(n_q > 0);
    /* every capable layer is int8; biases are float (added after the multiplier) */
    assert_int_equal(n_q, n_cap);
    if (n_fb) fprintf(stderr, "%s: %d int8 layers with a bias\n", name, n_fb);
    assert_int_equal(cnn_graph_num_int8(m.g), n_q);
    TU_OK(cnn_set_backend("ref"));
    float *yr = logits(&m, &d, 8);
    TU_OK(cnn_set_backend("cpu"));
    float *yc = logits(&m, &d, 8);
    assert_memory_equal(yr, yc, 8 * 4 * sizeof *yr);
    /* int8 activations between int8 layers: this forward's producers that stored int8
       for their int8 readers (the direct store: clamp(round(acc * M / s + B / s)));
       without that (each reader quantizing the float value itself, cnn_q8 of
       acc * M + B) both backends give the same bits again, and logits within a few
       requantisation roundings of those */
    int chained = 0;
    for (int i = 0; i < cnn_graph_num_nodes(m.g); i++) {
        const cnn_node *v = cnn_graph_node(m.g, i);
        chained += v->q && v->q->q_out > 0.0f;
    }
    cnn_int8_chain_enable(false);
    float *yc0 = logits(&m, &d, 8);
    TU_OK(cnn_set_backend("ref"));
    float *yr0 = logits(&m, &d, 8);
    TU_OK(cnn_set_backend("cpu"));
    cnn_int8_chain_enable(true);
    for (int i = 0; i < cnn_graph_num_nodes(m.g); i++) {
        const cnn_node *v = cnn_graph_node(m.g, i);
        assert_false(v->q && v->q->q_out > 0.0f);
    }
    assert_memory_equal(yr0, yc0, 8 * 4 * sizeof *yc);
    double ec = rel_err(yc0, yc, 8 * 4);
    fprintf(stderr, "%s: int8 store vs float store + reader quantisation: relative logit difference %.2g\n",
            name, ec);
    assert_true(ec < 0.05);
    free(yc0), free(yr0);
    fprintf(stderr, "%s: %d of %d int8 layers store int8 for their int8 readers\n", name, chained, n_q);
    if (strcmp(name, "mobilenet_v2") == 0) assert_true(chained >= 2 * n_q / 3 - 2);
    double e = rel_err(yc, yf, 8 * 4);
    fprintf(stderr, "%s method %d: %d int8 layers, relative logit error %.4f\n", name, method, n_q, e);
    assert_true(e < 0.1);
    free(yf), free(yr), free(yc);
    cnn_model_free(&m);
    free_data(&d);
}

static void test_models(void **state)
{
    (void)state;
    check_model("lenet_relu", 1, 32, 0.0f, CNN_CALIB_MINMAX);
    check_model("lenet_relu", 1, 32, 0.0f, CNN_CALIB_ENTROPY);
    check_model("mobilenet_v2", 3, 32, 0.5f, CNN_CALIB_PERCENTILE);
}

/* save -> load: the same bits, weights stored as I8, scales present; --keep-float */
static void test_checkpoint_roundtrip(void **state)
{
    (void)state;
    cnn_dataset d;
    make_data(&d, 32, 1, 32, 32, 4);
    cnn_model m;
    new_model(&m, "lenet_relu", 1, 32, 4, 0.0f);
    char fp[] = "/tmp/cnn_quant_f32_XXXXXX", qp[] = "/tmp/cnn_quant_int8_XXXXXX";
    int f1 = mkstemp(fp), f2 = mkstemp(qp);
    assert_true(f1 >= 0 && f2 >= 0);
    close(f1), close(f2);
    TU_OK(cnn_checkpoint_save(&m, NULL, 0, fp));
    cnn_quant_opts o = {.method = CNN_CALIB_ENTROPY, .keep_float = "out.0"};
    TU_OK(cnn_model_quantize(&m, &d, 32, &o));
    assert_false(cnn_node_quant_info(cnn_graph_find(m.g, "out.0")).int8);
    assert_true(cnn_node_quant_info(cnn_graph_find(m.g, "C1.0")).int8);
    float *y1 = logits(&m, &d, 4);
    TU_OK(cnn_model_save_quantized(&m, qp));
    cnn_model r;
    TU_OK(cnn_model_load(qp, 4, &r));
    cnn_graph_set_training(r.g, false);
    assert_int_equal(cnn_graph_num_int8(r.g), cnn_graph_num_int8(m.g));
    assert_false(cnn_node_quant_info(cnn_graph_find(r.g, "out.0")).int8);
    cnn_node_quant a = cnn_node_quant_info(cnn_graph_find(m.g, "C3.0"));
    cnn_node_quant b = cnn_node_quant_info(cnn_graph_find(r.g, "C3.0"));
    assert_true(b.int8);
    assert_true(a.input_scale == b.input_scale);
    assert_memory_equal(a.weight_scale, b.weight_scale, (size_t)a.channels * sizeof(float));
    float *y2 = logits(&r, &d, 4);
    assert_memory_equal(y1, y2, 4 * 4 * sizeof *y1);
    /* stored as I8: the int8 layers' weights take a quarter of their float bytes */
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(qp, &f));
    assert_string_equal(cnn_tensor_file_meta(f, "cnn.quant"), "int8");
    cnn_tensor t;
    TU_OK(cnn_tensor_file_get(f, "C3.0.weight", &t));
    for (size_t i = 0; i < cnn_tensor_numel(&t); i++) assert_true(t.data[i] == (float)(int)t.data[i]);
    TU_OK(cnn_tensor_file_get(f, "C3.0.input_scale", &t));
    assert_int_equal(cnn_tensor_file_get(f, "out.0.input_scale", &t), CNN_ERR_NOT_FOUND);
    cnn_tensor_file_free(f);
    struct stat sf, sq;
    assert_int_equal(stat(fp, &sf), 0);
    assert_int_equal(stat(qp, &sq), 0);
    fprintf(stderr, "checkpoint %lld bytes float, %lld int8\n", (long long)sf.st_size, (long long)sq.st_size);
    assert_true(sq.st_size < sf.st_size / 2);
    free(y1), free(y2);
    cnn_model_free(&r);
    cnn_model_free(&m);
    free_data(&d);
    unlink(fp);
    unlink(qp);
}

/* an ONNX model (PyTorch's export of the fixture network) quantizes like a zoo model:
   ref and cpu the same bits, logits near the float ones, and its quantized checkpoint
   reloads to the same bits */
static void test_onnx(void **state)
{
    (void)state;
#ifndef CNN_HAVE_ONNX
    skip(); /* a build without ONNX: cnn_model_load's message is checked in tests/cli */
#endif
    const char *src = getenv("CNN_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/onnx/lenet.eval11.onnx", src ? src : ".");
    cnn_model m;
    TU_OK(cnn_model_load(path, 8, &m));
    cnn_graph_set_training(m.g, false);
    cnn_dataset d;
    make_data(&d, 40, 1, 28, 28, 9);
    d.classes = m.classes;
    float *yf = logits(&m, &d, 8);
    /* minmax: this untrained sigmoid network's activations crowd near one value, where
       entropy calibration clips (0.6 relative error here) */
    cnn_quant_opts o = {.method = CNN_CALIB_MINMAX};
    TU_OK(cnn_model_quantize(&m, &d, 40, &o));
    assert_int_equal(cnn_graph_num_int8(m.g), 5); /* 2 conv + 3 linear (Gemm) */
    TU_OK(cnn_set_backend("ref"));
    float *yr = logits(&m, &d, 8);
    TU_OK(cnn_set_backend("cpu"));
    float *yc = logits(&m, &d, 8);
    size_t n = 8 * (size_t)m.classes;
    assert_memory_equal(yr, yc, n * sizeof *yr);
    double e = rel_err(yc, yf, n);
    fprintf(stderr, "lenet.eval11.onnx: relative logit error int8 vs float %.4f\n", e);
    assert_true(e < 0.1);
    char qp[] = "/tmp/cnn_quant_onnx_XXXXXX";
    int fd = mkstemp(qp);
    assert_true(fd >= 0);
    close(fd);
    TU_OK(cnn_model_save_quantized(&m, qp));
    cnn_model r;
    TU_OK(cnn_model_load(qp, 8, &r));
    cnn_graph_set_training(r.g, false);
    assert_int_equal(cnn_graph_num_int8(r.g), 5);
    float *y2 = logits(&r, &d, 8);
    assert_memory_equal(yc, y2, n * sizeof *yc);
    free(yf), free(yr), free(yc), free(y2);
    cnn_model_free(&r);
    cnn_model_free(&m);
    free_data(&d);
    unlink(qp);
}


/* The direct store (docs/architecture.md, "int8 precision"): conv -> batch norm ->
   ReLU6 -> int8 conv. The first conv folds the batch norm and ReLU6 into its one
   multiply-add and stores int8 for its reader: cnn_node_int8_output says so, with M,
   B, lo, hi as the definition folds them, and the reader's output on both backends is
   the definition computed here from the integers. */
static void test_direct_store(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "input", 4, (int[]){2, 3, 7, 7});
    cnn_node *c = cnn_conv2d(g, x, 6, .kernel = 3, .padding = 1, .name = "c1");
    cnn_node *bn = cnn_batchnorm2d(g, c);
    cnn_node *r = cnn_relu6(g, bn);
    cnn_node *d = cnn_conv2d(g, r, 4, .kernel = 1, .name = "c2");
    TU_OK(cnn_graph_compile(g, 5));
    cnn_rng rng;
    cnn_rng_seed(&rng, 21);
    float xv[2 * 3 * 7 * 7];
    cnn_graph_set_training(g, true);
    for (int i = 0; i < 3; i++) {
        tu_fill(xv, 2 * 3 * 49, -2.0f, 2.0f, &rng);
        TU_OK(cnn_graph_set_input(g, x, xv, 2));
        TU_OK(cnn_graph_forward_until(g, d));
    }
    cnn_graph_set_training(g, false);
    /* batch norm's weight 4: values reach past ReLU6's 6 */
    char bw[96];
    snprintf(bw, sizeof bw, "%s.weight", cnn_node_name(bn));
    cnn_param *gw = cnn_graph_find_param(g, bw);
    assert_non_null(gw);
    for (int o = 0; o < 6; o++) gw->value.data[o] = 4.0f;
    tu_fill(xv, 2 * 3 * 49, -2.0f, 2.0f, &rng);
    TU_OK(cnn_graph_set_input(g, x, xv, 2));
    float ax = 0.0f;
    for (size_t i = 0; i < 2 * 3 * 49; i++) ax = fmaxf(ax, fabsf(xv[i]));
    float sx = ax / 127.0f, sr = 0.0517f; /* ReLU6 clamps at round(6 / sr) = 116 */
    TU_OK(cnn_node_set_int8(c, sx, NULL, NULL));
    TU_OK(cnn_node_set_int8(d, sr, NULL, NULL));
    float m[6], b[6], m2[4], b2[4], sc[6], sh[6];
    cnn_int8_output io, io2;
    TU_OK(cnn_node_int8_output(c, d, m, b, &io));
    TU_OK(cnn_node_int8_output(d, d, m2, b2, &io2));
    assert_true(io.direct && !io2.direct);
    assert_int_equal(io.n_folded, 2);
    assert_ptr_equal(io.folded[0], bn);
    assert_ptr_equal(io.folded[1], r);
    assert_true(io.out_scale == sr);
    assert_true(io.lo == 0.0f && io.hi == 116.0f);
    assert_true(cnn_node_eval_affine(bn, sc, sh));
    cnn_node_quant qc = cnn_node_quant_info(c), qd = cnn_node_quant_info(d);
    for (int o = 0; o < 6; o++) { /* the fold, one rounding per operation */
        volatile float mo = qc.multiplier[o], bo = qc.float_bias[o];
        mo = mo * sc[o], bo = bo * sc[o], bo = bo + sh[o];
        mo = mo / sr, bo = bo / sr;
        assert_true(m[o] == mo && b[o] == bo);
    }
    for (int o = 0; o < 4; o++) assert_true(m2[o] == qd.multiplier[o] && b2[o] == qd.float_bias[o]);
    /* the definition: c's integers, then d's multiply-add */
    int8_t q1[2 * 6 * 49];
    int n_hi = 0;
    for (int n = 0; n < 2; n++)
        for (int o = 0; o < 6; o++)
            for (int i = 0; i < 7; i++)
                for (int j = 0; j < 7; j++) {
                    int32_t acc = 0;
                    for (int ci = 0; ci < 3; ci++)
                        for (int ki = 0; ki < 3; ki++)
                            for (int kj = 0; kj < 3; kj++) {
                                int ii = i + ki - 1, jj = j + kj - 1;
                                if (ii < 0 || ii > 6 || jj < 0 || jj > 6) continue;
                                acc += cnn_q8(xv[((n * 3 + ci) * 7 + ii) * 7 + jj], sx) *
                                       qc.weight[((o * 3 + ci) * 3 + ki) * 3 + kj];
                            }
                    volatile float t = (float)acc * m[o];
                    t = t + b[o];
                    float v = t < io.lo ? io.lo : t > io.hi ? io.hi : t;
                    n_hi += v == io.hi;
                    q1[((n * 6 + o) * 7 + i) * 7 + j] = (int8_t)lrintf(v);
                }
    assert_true(n_hi > 0); /* ReLU6's clamp is exercised */
    const char *be[2] = {"ref", "cpu"};
    for (int k = 0; k < 2; k++) {
        TU_OK(cnn_set_backend(be[k]));
        TU_OK(cnn_graph_forward_until(g, d));
        assert_true(c->q->q_out == sr); /* stored as int8 for d */
        const float *y = cnn_node_value(d).data;
        for (int n = 0; n < 2; n++)
            for (int o = 0; o < 4; o++)
                for (int p = 0; p < 49; p++) {
                    int32_t acc = 0;
                    for (int ci = 0; ci < 6; ci++) acc += q1[(n * 6 + ci) * 49 + p] * qd.weight[o * 6 + ci];
                    volatile float want = (float)acc * m2[o];
                    want = want + b2[o];
                    float got = y[(n * 4 + o) * 49 + p];
                    if (memcmp((const void *)&want, &got, sizeof got) != 0)
                        fail_msg("%s c2[%d,%d,%d]: %.9g, by definition %.9g", be[k], n, o, p, (double)got,
                                 (double)want);
                }
    }
    TU_OK(cnn_set_backend("cpu"));
    cnn_graph_free(g);
}

/* A bias far beyond the accumulator's range at its input scale (MobileNet V2's
   classifier with random weights) is added in float after the multiplier like any
   other: a conv (with batch norm + ReLU fused after it) and a linear, on both
   backends the same bits, the linear equal to the definition computed here. */
static void test_float_bias(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "input", 4, (int[]){3, 4, 6, 6});
    cnn_node *c = cnn_conv2d(g, x, 8, .kernel = 3, .padding = 1, .name = "conv");
    cnn_node *r = cnn_relu(g, cnn_batchnorm2d(g, c));
    cnn_node *f = cnn_flatten(g, r);
    cnn_node *l = cnn_linear(g, f, 5, .name = "fc");
    TU_OK(cnn_graph_compile(g, 5));
    cnn_graph_set_training(g, false);
    cnn_param *cb = cnn_graph_find_param(g, "conv.bias"), *lb = cnn_graph_find_param(g, "fc.bias");
    assert_true(cb && lb);
    for (int o = 0; o < 8; o++) cb->value.data[o] = 2.0e4f * (float)(o - 3);
    for (int o = 0; o < 5; o++) lb->value.data[o] = 3.0e8f * (float)(o - 2) + 12345.0f;
    cnn_rng rng;
    cnn_rng_seed(&rng, 3);
    size_t xn = 3 * 4 * 6 * 6, fn = 3 * 8 * 6 * 6, K = 8 * 6 * 6;
    float *xv = malloc(xn * sizeof *xv);
    assert_non_null(xv);
    tu_fill(xv, xn, -1.0f, 1.0f, &rng);
    TU_OK(cnn_graph_set_input(g, x, xv, 3));
    TU_OK(cnn_graph_forward_until(g, f));
    float amax = 0.0f;
    const float *fv = cnn_node_value(f).data;
    for (size_t i = 0; i < fn; i++) amax = fmaxf(amax, fabsf(fv[i]));
    TU_OK(cnn_node_set_int8(c, 1.0f / 127.0f, NULL, NULL));
    TU_OK(cnn_node_set_int8(l, amax / 127.0f, NULL, NULL));
    cnn_node_quant qc = cnn_node_quant_info(c), ql = cnn_node_quant_info(l);
    assert_true(qc.int8 && ql.int8);
    assert_true(qc.float_bias && !qc.bias && ql.float_bias && !ql.bias);
    float *yf[2], *yl[2];
    const char *be[2] = {"ref", "cpu"};
    for (int k = 0; k < 2; k++) {
        TU_OK(cnn_set_backend(be[k]));
        TU_OK(cnn_graph_forward_until(g, f)); /* f's value is read: stays float */
        yf[k] = malloc(fn * sizeof *yf[k]);
        assert_non_null(yf[k]);
        memcpy(yf[k], cnn_node_value(f).data, fn * sizeof *yf[k]);
        TU_OK(cnn_graph_forward_until(g, l));
        yl[k] = malloc(15 * sizeof *yl[k]);
        assert_non_null(yl[k]);
        memcpy(yl[k], cnn_node_value(l).data, 15 * sizeof *yl[k]);
    }
    TU_OK(cnn_set_backend("cpu"));
    assert_memory_equal(yf[0], yf[1], fn * sizeof *yf[0]);
    assert_memory_equal(yl[0], yl[1], 15 * sizeof *yl[0]);
    /* the linear by its definition from its float input */
    for (int n = 0; n < 3; n++)
        for (int o = 0; o < 5; o++) {
            int32_t acc = 0;
            for (size_t k = 0; k < K; k++)
                acc += (int32_t)cnn_q8(yf[0][n * K + k], ql.input_scale) * ql.weight[o * K + k];
            volatile float want = (float)acc * ql.multiplier[o];
            want = want + ql.float_bias[o];
            float got = yl[0][n * 5 + o];
            if (memcmp((const void *)&want, &got, sizeof got) != 0)
                fail_msg("fc[%d,%d]: %.9g, by definition %.9g", n, o, (double)got, (double)want);
        }
    for (int k = 0; k < 2; k++) free(yf[k]), free(yl[k]);
    free(xv);
    cnn_graph_free(g);
}

static void expect_fail(cnn_model *m, const cnn_dataset *d, int n, const cnn_quant_opts *o,
                        cnn_status want, const char *needle)
{
    cnn_status s = cnn_model_quantize(m, d, n, o);
    if (s != want || !strstr(cnn_error_message(), needle))
        fail_msg("expected %s with '%s', got %s: %s", cnn_status_name(want), needle,
                 cnn_status_name(s), cnn_error_message());
    assert_int_equal(cnn_graph_num_int8(m->g), 0); /* left float */
}

static void test_bad_input(void **state)
{
    (void)state;
    cnn_dataset d, wrong;
    make_data(&d, 16, 1, 32, 32, 5);
    make_data(&wrong, 16, 3, 8, 8, 5);
    cnn_model m;
    new_model(&m, "lenet_relu", 1, 32, 4, 0.0f);
    cnn_quant_opts o = {.method = CNN_CALIB_ENTROPY};
    expect_fail(&m, &d, 17, &o, CNN_ERR_INVALID_ARG, "has 16");
    expect_fail(&m, &d, 0, &o, CNN_ERR_INVALID_ARG, "calibration examples");
    expect_fail(&m, &wrong, 8, &o, CNN_ERR_SHAPE, "takes 1x32x32 inputs but the data gives 3x8x8");
    cnn_quant_opts k = {.keep_float = "C1.0,nosuch.layer"};
    expect_fail(&m, &d, 8, &k, CNN_ERR_NOT_FOUND, "no layer 'nosuch.layer'");
    cnn_quant_opts p = {.method = CNN_CALIB_PERCENTILE, .percentile = 120.0f};
    expect_fail(&m, &d, 8, &p, CNN_ERR_INVALID_ARG, "percentile");
    cnn_param *w = cnn_graph_find_param(m.g, "FC1.0.weight");
    assert_non_null(w);
    float keep = w->value.data[7];
    w->value.data[7] = NAN;
    expect_fail(&m, &d, 8, &o, CNN_ERR_INVALID_ARG, "'FC1.0.weight' element 7 is nan");
    w->value.data[7] = INFINITY;
    expect_fail(&m, &d, 8, &o, CNN_ERR_INVALID_ARG, "NaN/Inf weights");
    w->value.data[7] = keep;
    /* after all that the model still quantizes, once */
    TU_OK(cnn_model_quantize(&m, &d, 8, &o));
    assert_int_equal(cnn_model_quantize(&m, &d, 8, &o), CNN_ERR_STATE);
    cnn_model_free(&m);
    free_data(&d);
    free_data(&wrong);
}

/* A LeNet trained on real Fashion-MNIST keeps its test accuracy within one point in
   int8 (entropy and percentile calibration on 256 training examples). */
static void test_fashion_mnist(void **state)
{
    (void)state;
    struct stat st;
    if (stat("/usr/share/datasets/fashion-mnist", &st) != 0 || tu_quick()) {
        skip(); /* Debian's dataset-fashion-mnist is not installed (or quick run) */
    }
    cnn_dataset tr, te;
    TU_OK(cnn_dataset_open("fashion-mnist", true, &tr));
    TU_OK(cnn_dataset_open("fashion-mnist", false, &te));
    cnn_model m;
    cnn_model_opts mo = {.batch = 128, .channels = 1, .height = 28, .width = 28};
    TU_OK(cnn_model_new("lenet_relu", &mo, 0.0f, &m));
    cnn_train_config c = {.epochs = 1, .batch = 128, .seed = 1, .limit_train = 12000,
                          .optim = {.kind = CNN_OPTIM_ADAM, .lr = 0.003f}};
    TU_OK(cnn_train(&m, &tr, NULL, &c, NULL));
    cnn_metrics f32;
    TU_OK(cnn_evaluate(&m, &te, 2000, &f32));
    double acc_f = f32.overall_acc;
    cnn_metrics_free(&f32);
    const cnn_calib_method methods[] = {CNN_CALIB_ENTROPY, CNN_CALIB_PERCENTILE};
    for (int k = 0; k < 2; k++) {
        cnn_model q;
        char path[] = "/tmp/cnn_quant_fm_XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        TU_OK(cnn_checkpoint_save(&m, NULL, 2, path));
        TU_OK(cnn_model_load(path, 128, &q));
        unlink(path);
        cnn_quant_opts o = {.method = methods[k]};
        TU_OK(cnn_model_quantize(&q, &tr, 256, &o));
        cnn_metrics mi;
        TU_OK(cnn_evaluate(&q, &te, 2000, &mi));
        fprintf(stderr, "Fashion-MNIST LeNet: fp32 %.4f, int8 (%s) %.4f\n", acc_f,
                k == 0 ? "entropy" : "percentile", mi.overall_acc);
        assert_true(acc_f > 0.7);
        assert_true(fabs(mi.overall_acc - acc_f) <= 0.01);
        cnn_metrics_free(&mi);
        cnn_model_free(&q);
    }
    cnn_model_free(&m);
    cnn_dataset_free(&tr);
    cnn_dataset_free(&te);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_checkpoint_roundtrip),
        cmocka_unit_test(test_float_bias),
        cmocka_unit_test(test_direct_store),
        cmocka_unit_test(test_onnx),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_fashion_mnist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
