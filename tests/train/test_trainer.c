/* The trainer: resuming reproduces an uninterrupted run bit for bit (after whole
   epochs and after a stop mid-epoch), logs and plots are written, the metrics are
   right (the short run on real Fashion-MNIST is
   tests/train/test_fashion_mnist.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* 28x28 synthetic digits-like data: class k is a bright square at one of 4 corners,
   plus noise. */
static void make_data(cnn_dataset *d, int n, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = 1;
    d->h = d->w = 28;
    d->classes = 4;
    d->u8 = malloc((size_t)n * 28 * 28);
    d->labels = malloc((size_t)n * sizeof *d->labels);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = (int)cnn_rng_below(&r, 4);
        d->labels[i] = k;
        uint8_t *p = d->u8 + (size_t)i * 784;
        for (int j = 0; j < 784; j++) p[j] = (uint8_t)cnn_rng_below(&r, 80);
        int y0 = (k / 2) * 14 + 3, x0 = (k % 2) * 14 + 3;
        for (int y = y0; y < y0 + 8; y++)
            for (int x = x0; x < x0 + 8; x++) p[y * 28 + x] = 255;
    }
}

static void free_data(cnn_dataset *d)
{
    free(d->u8);
    free(d->labels);
}

typedef struct stopper {
    int epoch, batch;
    volatile int *flag;
} stopper;

static void stop_at(void *user, int epoch, int b, int batches, double loss, double acc, double ips)
{
    (void)batches, (void)loss, (void)acc, (void)ips;
    stopper *s = user;
    if (epoch == s->epoch && b == s->batch) *s->flag = 1;
}

static cnn_train_config config(int epochs, const char *ckpt, const char *resume)
{
    cnn_train_config c = {
        .epochs = epochs,
        .batch = 32,
        .seed = 5,
        .checkpoint = ckpt,
        .resume = resume,
    };
    c.optim = (cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.02f, .momentum = 0.9f, .weight_decay = 1e-4f};
    c.schedule = (cnn_schedule){.kind = CNN_SCHED_COSINE, .total = epochs};
    c.init = (cnn_init){.kind = CNN_INIT_XAVIER_UNIFORM};
    return c;
}

static void train_run(const cnn_dataset *tr, const cnn_dataset *te, cnn_train_config *c, cnn_status want,
                      cnn_model *out)
{
    TU_OK(cnn_model_new("lenet_relu", &(cnn_model_opts){.batch = 32, .height = 28, .width = 28, .classes = 4}, 0.0f, out));
    cnn_status s = cnn_train(out, tr, te, c, NULL);
    if (s != want) fail_msg("train: %s (%s)", cnn_status_name(s), cnn_error_message());
}

static void assert_same_weights(cnn_model *a, cnn_model *b)
{
    assert_int_equal(cnn_graph_num_params(a->g), cnn_graph_num_params(b->g));
    for (int i = 0; i < cnn_graph_num_params(a->g); i++) {
        cnn_param *p = cnn_graph_param(a->g, i), *q = cnn_graph_param(b->g, i);
        size_t n = cnn_tensor_numel(&p->value);
        if (memcmp(p->value.data, q->value.data, n * sizeof(float)) != 0)
            fail_msg("parameter %s differs after resume", p->name);
    }
}

static char g_dir[64];

static void path(char *buf, const char *name) { snprintf(buf, 128, "%s/%s", g_dir, name); }

static void test_resume_is_bit_identical(void **state)
{
    (void)state;
    cnn_dataset tr, te;
    make_data(&tr, tu_quick() ? 160 : 480, 1);
    make_data(&te, 96, 2);
    char full[128], half[128], stop[128];
    path(full, "full.safetensors");
    path(half, "half.safetensors");
    path(stop, "stop.safetensors");

    cnn_model a, b, b2, c, c2;
    cnn_train_config cf = config(4, full, NULL);
    train_run(&tr, &te, &cf, CNN_OK, &a);

    /* 2 epochs, then resume for 2 more */
    cnn_train_config ch = config(4, half, NULL);
    ch.epochs = 2;
    ch.schedule.total = 4; /* same schedule as the full run */
    train_run(&tr, &te, &ch, CNN_OK, &b);
    cnn_train_config cr = config(4, half, half);
    train_run(&tr, &te, &cr, CNN_OK, &b2);
    assert_same_weights(&a, &b2);

    /* a stop in the middle of epoch 3 (as Ctrl-C), then resume */
    volatile int flag = 0;
    stopper st = {.epoch = 3, .batch = 2, .flag = &flag};
    cnn_train_config cs = config(4, stop, NULL);
    cs.stop = &flag;
    cs.on_batch = stop_at;
    cs.user = &st;
    train_run(&tr, &te, &cs, CNN_ERR_INTERRUPTED, &c);
    cnn_train_config cr2 = config(4, stop, stop);
    train_run(&tr, &te, &cr2, CNN_OK, &c2);
    assert_same_weights(&a, &c2);

    /* the checkpoint reloads as a model and evaluates like the trained one */
    cnn_model r;
    TU_OK(cnn_model_load(full, 32, &r));
    cnn_metrics m1, m2;
    TU_OK(cnn_evaluate(&a, &te, 0, &m1));
    TU_OK(cnn_evaluate(&r, &te, 0, &m2));
    assert_int_equal(m1.correct, m2.correct);
    printf("synthetic: test accuracy %.3f after 4 epochs\n", m1.overall_acc);
    assert_true(m1.overall_acc > 0.9);
    cnn_metrics_free(&m1);
    cnn_metrics_free(&m2);
    cnn_model_free(&r);
    cnn_model *all[] = {&a, &b, &b2, &c, &c2};
    for (int i = 0; i < 5; i++) cnn_model_free(all[i]);
    free_data(&tr);
    free_data(&te);
}

static void test_logs_and_plots(void **state)
{
    (void)state;
    cnn_dataset tr;
    make_data(&tr, 96, 3);
    char csv[128], svg[128], png[128];
    path(csv, "log.csv");
    path(svg, "curves.svg");
    path(png, "curves.png");
    cnn_train_config c = config(2, NULL, NULL);
    c.log_csv = csv;
    c.plot = svg;
    cnn_model m;
    train_run(&tr, &tr, &c, CNN_OK, &m);
    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "epoch,train_loss,train_acc,test_acc,images_per_s,seconds\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        int e;
        double l, a, t, ips, s;
        assert_int_equal(sscanf(line, "%d,%lf,%lf,%lf,%lf,%lf", &e, &l, &a, &t, &ips, &s), 6);
        assert_int_equal(e, ++rows);
        assert_true(l > 0 && a >= 0 && a <= 1 && t >= 0 && t <= 1 && ips > 0 && s > 0);
    }
    fclose(f);
    assert_int_equal(rows, 2);
    f = fopen(svg, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "<svg"));
    fclose(f);
    cnn_epoch_stats s[3] = {{1, 2.0, 0.3, 0.4, 100, 1, 0.1f}, {2, 1.0, 0.6, 0.7, 100, 1, 0.1f},
                            {3, 0.5, 0.8, 0.75, 100, 1, 0.1f}};
    if (TU_HAVE_PNG) {
        TU_OK(cnn_plot_curves(png, s, 3));
        f = fopen(png, "rb");
        assert_non_null(f);
        unsigned char sig[8];
        assert_int_equal(fread(sig, 1, 8, f), 8);
        assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
        fclose(f);
    } else {
        tu_expect_not_built(cnn_plot_curves(png, s, 3), "libpng");
        assert_null(fopen(png, "rb"));
        tu_skipped_feature("libpng (.png plots)");
    }
    assert_int_equal(cnn_plot_curves("curves.txt", s, 3), CNN_ERR_INVALID_ARG);
    cnn_model_free(&m);
    free_data(&tr);
}

static void test_metrics(void **state)
{
    (void)state;
    /* 3 classes; truth/pred pairs chosen so OA = 6/9, per-class recall 1, 1/3, 2/3 */
    int pairs[9][2] = {{0, 0}, {0, 0}, {0, 0}, {1, 1}, {1, 0}, {1, 2}, {2, 2}, {2, 2}, {2, 1}};
    cnn_metrics m;
    TU_OK(cnn_metrics_init(&m, 3));
    for (int i = 0; i < 9; i++) cnn_metrics_add(&m, pairs[i][0], pairs[i][1]);
    cnn_metrics_finish(&m);
    assert_true(fabs(m.overall_acc - 6.0 / 9) < 1e-12);
    assert_true(fabs(m.average_acc - (1 + 1.0 / 3 + 2.0 / 3) / 3) < 1e-12);
    /* p_e = (3*4 + 3*2 + 3*3) / 81 = 27/81; kappa = (6/9 - 1/3) / (1 - 1/3) = 0.5 */
    assert_true(fabs(m.kappa - 0.5) < 1e-12);
    assert_int_equal(m.confusion[1 * 3 + 2], 1);
    cnn_metrics_free(&m);
}

static void test_errors(void **state)
{
    (void)state;
    cnn_model m;
    assert_int_equal(cnn_model_new("no_such_model", NULL, 0, &m), CNN_ERR_NOT_FOUND);
    assert_non_null(strstr(cnn_error_message(), "no_such_model"));
    assert_int_equal(cnn_model_load("/nonexistent/x.safetensors", 1, &m), CNN_ERR_IO);
    /* data of the wrong size for the model */
    cnn_dataset tr;
    make_data(&tr, 64, 4);
    TU_OK(cnn_model_new("lenet", &(cnn_model_opts){.batch = 16, .height = 32, .width = 32, .classes = 4}, 0, &m));
    cnn_train_config c = config(1, NULL, NULL);
    assert_int_equal(cnn_train(&m, &tr, NULL, &c, NULL), CNN_ERR_SHAPE);
    assert_non_null(strstr(cnn_error_message(), "28x28"));
    cnn_model_free(&m);
    free_data(&tr);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn-trainer-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_resume_is_bit_identical),
        cmocka_unit_test(test_logs_and_plots),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}
