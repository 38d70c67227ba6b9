/* End to end, hyperspectral: a synthetic scene written as .mat files (hsi-synth's
   library core) is read through the "hsi:" data spec (PCA, patches, stratified split),
   HybridSN trains on it with the normal trainer and classifies held-out pixels at
   > 95% overall accuracy (chance: ~1/6). Then the CLI: eval (PCA / patch from the
   checkpoint), hsi-map (PNG of the right size, OA printed) and train with the --gt /
   --pca / --patch / --test-ratio flags. */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../data/datatest.h"

static char g_dir[512];

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/cnn_hybridsn_XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dt_rmtree(g_dir);
    return 0;
}

/* Runs a shell command; its output (stdout + stderr) into out. Returns the exit status. */
static int run(char *out, size_t size, const char *cmd)
{
    return tu_run(out, size, NULL, "%s", cmd);
}

static void test_hybridsn_learns_synthetic_scene(void **state)
{
    (void)state;
    TU_NEEDS(TU_HAVE_MATIO, "matio"); /* the scene is written as .mat files */
    /* Full: 40x40 pixels, 30 bands, 6 classes, PCA 15, patch 11 (~1000 labelled pixels,
       30% for training). Quick (sanitizers): the smallest input HybridSN takes (PCA 13,
       patch 9) on a smaller scene, half of it for training, a higher rate, fewer epochs. */
    bool quick = tu_quick();
    int H = quick ? 24 : 40, W = H, B = quick ? 20 : 30, C = quick ? 4 : 6, K = quick ? 13 : 15,
        S = quick ? 9 : 11, epochs = quick ? 6 : 8, batch = quick ? 16 : 32;
    float lr = quick ? 3e-3f : 1e-3f, test = quick ? 0.5f : 0.7f;
    cnn_hsi_synth_opts so = {.height = H, .width = W, .bands = B, .classes = C, .seed = 1};
    TU_OK(cnn_hsi_synth_write(g_dir, &so));
    char spec[1024], ckpt[600];
    snprintf(spec, sizeof spec, "hsi:%s/synthetic.mat?pca=%d&patch=%d&test=%g&seed=0", g_dir, K, S,
             (double)test);
    snprintf(ckpt, sizeof ckpt, "%s/hybridsn.safetensors", g_dir);
    cnn_dataset tr, te;
    TU_OK(cnn_dataset_open(spec, true, &tr));
    TU_OK(cnn_dataset_open(spec, false, &te));
    printf("%s\n%s\n", tr.source, te.source);
    assert_int_equal(tr.classes, C);

    cnn_model m;
    cnn_model_opts mo = {.batch = batch, .channels = 1, .depth = K, .height = S, .width = S, .classes = C};
    TU_OK(cnn_model_new("hybridsn", &mo, 0.0f, &m));
    cnn_train_config c = {.epochs = epochs, .batch = batch, .seed = 0, .checkpoint = ckpt};
    c.optim.kind = CNN_OPTIM_ADAM;
    c.optim.lr = lr;
    cnn_epoch_stats last;
    TU_OK(cnn_train(&m, &tr, &te, &c, &last));
    cnn_metrics mt;
    TU_OK(cnn_evaluate(&m, &te, 0, &mt));
    printf("after %d epochs (%.1f s the last): OA %.4f AA %.4f kappa %.4f on %lld held-out pixels\n", epochs,
           last.seconds, mt.overall_acc, mt.average_acc, mt.kappa, (long long)mt.total);
    assert_int_equal(mt.total, te.n);
    /* chance is 1/C; the scene is built to be separable from spectrum and context */
    assert_true(mt.overall_acc > (quick ? 0.8 : 0.95));
    if (!quick) assert_true(mt.kappa > 0.93);
    double oa = mt.overall_acc;
    cnn_metrics_free(&mt);
    cnn_model_free(&m);
    cnn_dataset_free(&tr);
    cnn_dataset_free(&te);

    const char *bin = getenv("CNN_BIN");
    if (!bin) {
        tu_skip("CNN_BIN not set: the CLI part did not run");
    }
    static char out[1 << 16];
    char cmd[3072];
    /* eval: the spec names no PCA / patch; they come from the checkpoint */
    snprintf(cmd, sizeof cmd, "%s eval %s --data hsi:%s/synthetic.mat --test-ratio %g --json", bin, ckpt, g_dir,
             (double)test);
    int rc = run(out, sizeof out, cmd);
    if (rc != 0) fail_msg("%s -> %d:\n%s", cmd, rc, out);
    const char *p = strstr(out, "\"overall_acc\": ");
    assert_non_null(p);
    assert_true(fabs(atof(p + 15) - oa) < 1e-6);

    /* hsi-map: every pixel classified, predicted | ground truth side by side */
    snprintf(cmd, sizeof cmd, "%s hsi-map %s --data hsi:%s/synthetic.mat --gt %s/synthetic_gt.mat --out %s/map.png "
             "--test-ratio %g --scale 2", bin, ckpt, g_dir, g_dir, g_dir, (double)test);
    rc = run(out, sizeof out, cmd);
    if (rc != 0) fail_msg("%s -> %d:\n%s", cmd, rc, out);
    printf("%s", out);
    p = strstr(out, "test-split pixels");
    assert_non_null(p);
    p = strstr(p, "): ");
    assert_non_null(p);
    assert_true(fabs(atof(p + 3) - oa) < 5e-3); /* the test set's pixels (a near-tie may flip) */
    int ch, ih, iw;
    TU_OK(cnn_image_info(dt_path(g_dir, "map.png"), &ch, &ih, &iw));
    assert_int_equal(ch, 3);
    assert_int_equal(ih, 2 * H);
    assert_int_equal(iw, 2 * 2 * W + 4);

    /* train with the hsi flags: they become the spec's options */
    snprintf(cmd, sizeof cmd,
             "%s train hybridsn --data hsi:%s/synthetic.mat --gt %s/synthetic_gt.mat --pca 13 --patch 9 "
             "--test-ratio 0.8 --epochs 1 --batch 64 --optimizer adam --lr 0.001 --quiet",
             bin, g_dir, g_dir);
    rc = run(out, sizeof out, cmd);
    if (rc != 0) fail_msg("%s -> %d:\n%s", cmd, rc, out);
    assert_non_null(strstr(out, "PCA 13"));
    assert_non_null(strstr(out, "patch 9, train"));
    /* flags on other data are refused */
    snprintf(cmd, sizeof cmd, "%s train lenet --data mnist:%s --pca 3", bin, g_dir);
    rc = run(out, sizeof out, cmd);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "apply to hsi: data only"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hybridsn_learns_synthetic_scene)};
    return tu_exit_status(cmocka_run_group_tests(tests, setup, teardown));
}
