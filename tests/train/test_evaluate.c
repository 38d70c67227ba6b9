/* cnn_evaluate runs in eval mode and leaves the model as it found it: called twice in
   the middle of training (from the trainer's batch callback) it returns the same
   metrics both times, changes no parameter and no batch-norm running statistic, does
   not move the dropout generator, and hands the graph back in training mode. A model
   with batch norm and dropout (MobileNetV2, 0.25 width, 1x16x16, 3 classes) makes
   each of those observable: in training mode BN would normalise by the batch and
   update its running statistics from the test data, and dropout would draw masks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SIDE 16

static void make_data(cnn_dataset *d, int n, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->n = n;
    d->c = 1;
    d->h = d->w = SIDE;
    d->classes = 3;
    d->u8 = malloc((size_t)n * SIDE * SIDE);
    d->labels = malloc((size_t)n * sizeof *d->labels);
    assert_non_null(d->u8);
    assert_non_null(d->labels);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int k = (int)cnn_rng_below(&r, 3);
        d->labels[i] = k;
        uint8_t *p = d->u8 + (size_t)i * SIDE * SIDE;
        for (int j = 0; j < SIDE * SIDE; j++) p[j] = (uint8_t)cnn_rng_below(&r, 100);
        for (int y = 0; y < SIDE; y++) p[y * SIDE + 5 * k + 1] = 255; /* a class's column */
    }
}

/* A copy of every parameter and buffer (running statistics included). */
static float *snapshot(cnn_graph *g, size_t *total)
{
    size_t n = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) n += cnn_tensor_numel(&cnn_graph_param(g, i)->value);
    float *s = malloc(n * sizeof *s);
    assert_non_null(s);
    size_t k = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        size_t m = cnn_tensor_numel(&p->value);
        memcpy(s + k, p->value.data, m * sizeof *s);
        k += m;
    }
    *total = n;
    return s;
}

static int count_changed(cnn_graph *g, const float *s, int *buffers_changed)
{
    int changed = 0;
    size_t k = 0;
    *buffers_changed = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        size_t m = cnn_tensor_numel(&p->value);
        if (memcmp(s + k, p->value.data, m * sizeof *s) != 0) {
            if (changed++ < 3) fprintf(stderr, "  evaluate changed %s\n", p->name);
            if (!p->trainable) (*buffers_changed)++;
        }
        k += m;
    }
    return changed;
}

typedef struct probe {
    cnn_model *m;
    const cnn_dataset *test;
    int calls, buffers_seen;
} probe;

static void assert_same_metrics(const cnn_metrics *a, const cnn_metrics *b)
{
    assert_int_equal(a->total, b->total);
    assert_int_equal(a->correct, b->correct);
    assert_memory_equal(a->confusion, b->confusion, (size_t)a->classes * a->classes * sizeof *a->confusion);
    if (memcmp(&a->loss, &b->loss, sizeof a->loss) != 0)
        fail_msg("evaluation loss differs between two runs: %.9g vs %.9g", a->loss, b->loss);
}

/* Evaluates twice between two training steps. */
static void on_batch(void *user, int epoch, int b, int batches, double loss, double acc, double ips)
{
    (void)loss, (void)acc, (void)ips, (void)batches;
    probe *p = user;
    if (!(epoch == 1 && (b == 2 || b == 5))) return;
    cnn_graph *g = p->m->g;
    assert_true(cnn_graph_training(g));
    size_t n;
    float *before = snapshot(g, &n);
    cnn_rng rng_before = *cnn_graph_rng(g);
    cnn_metrics m1, m2;
    TU_OK(cnn_evaluate(p->m, p->test, 0, &m1));
    assert_true(cnn_graph_training(g)); /* handed back in training mode */
    TU_OK(cnn_evaluate(p->m, p->test, 0, &m2));
    int bufs;
    assert_int_equal(count_changed(g, before, &bufs), 0);
    assert_memory_equal(&rng_before, cnn_graph_rng(g), sizeof rng_before);
    assert_same_metrics(&m1, &m2);
    assert_int_equal(m1.total, p->test->n);

    /* The same numbers as evaluating a graph already in eval mode. */
    cnn_graph_set_training(g, false);
    cnn_metrics m3;
    TU_OK(cnn_evaluate(p->m, p->test, 0, &m3));
    assert_false(cnn_graph_training(g));
    assert_same_metrics(&m1, &m3);
    cnn_graph_set_training(g, true);
    assert_int_equal(count_changed(g, before, &bufs), 0);
    printf("  epoch %d batch %d: eval loss %.6f, accuracy %.3f (x3, identical)\n", epoch, b, m1.loss,
           m1.overall_acc);
    cnn_metrics_free(&m1);
    cnn_metrics_free(&m2);
    cnn_metrics_free(&m3);
    free(before);
    p->calls++;
}

static void test_evaluate_mid_training(void **state)
{
    (void)state;
    cnn_dataset tr, te;
    make_data(&tr, 96, 11);
    make_data(&te, 40, 12);
    cnn_model m;
    TU_OK(cnn_model_new("mobilenet_v2",
                        &(cnn_model_opts){.batch = 8, .channels = 1, .height = SIDE, .width = SIDE,
                                          .classes = 3, .width_mult = 0.25f},
                        0.0f, &m));
    /* the model really has running statistics and a dropout to disturb */
    int buffers = 0;
    for (int i = 0; i < cnn_graph_num_params(m.g); i++) buffers += !cnn_graph_param(m.g, i)->trainable;
    assert_true(buffers >= 10);
    probe p = {.m = &m, .test = &te};
    cnn_train_config c = {.epochs = 1, .batch = 8, .seed = 3, .on_batch = on_batch, .user = &p};
    c.optim = (cnn_optim_opts){.kind = CNN_OPTIM_SGD, .lr = 0.05f, .momentum = 0.9f};
    c.schedule = (cnn_schedule){.kind = CNN_SCHED_CONSTANT};
    TU_OK(cnn_train(&m, &tr, NULL, &c, NULL));
    assert_int_equal(p.calls, 2);

    /* After training the running statistics are not the initial ones (so a change
       by evaluation would have been visible). */
    int moved = 0;
    for (int i = 0; i < cnn_graph_num_params(m.g); i++) {
        cnn_param *q = cnn_graph_param(m.g, i);
        if (q->trainable || !strstr(q->name, "running_mean")) continue;
        for (size_t k = 0; k < cnn_tensor_numel(&q->value); k++) moved += q->value.data[k] != 0.0f;
    }
    assert_true(moved > 0);
    cnn_model_free(&m);
    free(tr.u8);
    free(tr.labels);
    free(te.u8);
    free(te.labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_mid_training),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
