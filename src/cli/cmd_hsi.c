/* Hyperspectral commands: cnn hsi-map (the seed's classification map: every pixel,
   labelled or not, classified from its patch; predicted and ground-truth maps side by
   side) and cnn hsi-synth (a synthetic Indian-Pines-like scene); and the --gt / --pca
   / ... flags shared with train and eval. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* key=... in the query part of an hsi spec */
static bool has_key(const char *data, const char *key)
{
    const char *q = strchr(data, '?');
    size_t kl = strlen(key);
    while (q) {
        q++;
        if (!strncmp(q, key, kl) && q[kl] == '=') return true;
        q = strchr(q, '&');
    }
    return false;
}

const char *cli_hsi_spec(const char *data, cli_hsi_args *a, int pca_default, int patch_default)
{
    bool any = a->gt || a->cube_var || a->gt_var || a->pca || a->patch || a->test_ratio != 0.0f;
    if (!data || strncmp(data, "hsi:", 4) != 0) {
        if (!any) return data;
        fprintf(stderr, "cnn: --gt, --cube-var, --gt-var, --pca, --patch and --test-ratio apply to "
                        "hsi: data only\n");
        return NULL;
    }
    size_t size = sizeof a->spec, len = (size_t)snprintf(a->spec, size, "%s", data);
    char sep = strchr(data, '?') ? '&' : '?';
#define APPEND(...)                                                                           \
    do {                                                                                      \
        if (len < size) len += (size_t)snprintf(a->spec + len, size - len, "%c", sep);        \
        if (len < size) len += (size_t)snprintf(a->spec + len, size - len, __VA_ARGS__);      \
        sep = '&';                                                                            \
    } while (0)
    if (a->gt) APPEND("gt=%s", a->gt);
    if (a->cube_var) APPEND("cube-var=%s", a->cube_var);
    if (a->gt_var) APPEND("gt-var=%s", a->gt_var);
    if (a->pca) APPEND("pca=%d", a->pca);
    else if (pca_default > 0 && !has_key(data, "pca")) APPEND("pca=%d", pca_default);
    if (a->patch) APPEND("patch=%d", a->patch);
    else if (patch_default > 0 && !has_key(data, "patch")) APPEND("patch=%d", patch_default);
    if (a->test_ratio != 0.0f) APPEND("test=%g", (double)a->test_ratio);
#undef APPEND
    if (len >= size) {
        fprintf(stderr, "cnn: --data with the hsi flags is too long\n");
        return NULL;
    }
    return a->spec;
}

static const char MAP_USAGE[] =
    "usage: cnn hsi-map CHECKPOINT --data hsi:CUBE.mat [--gt GT.mat] --out map.png [options]\n"
    "Classifies every pixel of the scene (labelled or not) from its patch, in batches, and\n"
    "writes the predicted map and the ground truth side by side (0 = unlabelled, black).\n"
    "Prints the overall accuracy on the labelled pixels (all, and the test split's).\n"
    "PCA components and patch size default to the checkpoint's input. --mask-unlabelled\n"
    "blacks out the prediction where the ground truth is unlabelled, as the ground truth\n"
    "map shows them.";

int cmd_hsi_map(int argc, char **argv)
{
    const char *data = NULL, *out = NULL;
    int batch = 128, scale = 1, seed = -1;
    bool mask = false;
    cli_hsi_args ha = {0};
    const cli_opt opts[] = {
        CLI_OPT_DATA(&data, "hsi:CUBE[?gt=..&pca=..] (required)"),
        CLI_OPT_OUT(&out, "map PNG (required)"),
        CLI_OPT_BATCH(&batch, "pixels per forward pass (default 128)"),
        {"scale", OPT_INT, &scale, "each pixel as scale x scale (default 1)"},
        CLI_OPT_SEED(&seed, "split seed, for the test-split accuracy (default the spec's, 0)"),
        {"mask-unlabelled", OPT_BOOL, &mask, "map only the labelled pixels (the rest black, as the ground truth)"},
        CLI_HSI_OPTS(&ha),
    };
    CLI_PARSE(opts, pos, 1, n_pos, MAP_USAGE);
    if (n_pos != 1 || !data || !out || batch < 1 || scale < 1) return cli_usage(MAP_USAGE);
    if (strncmp(data, "hsi:", 4) != 0) {
        fprintf(stderr, "cnn: hsi-map needs hsi: data (got '%s')\n", data);
        return 2;
    }
    cnn_model m;
    if (cnn_model_load(pos[0], batch, &m) != CNN_OK) return cli_fail(pos[0]);
    cnn_tensor in = cnn_node_value(m.input);
    if (in.ndim != 5 || in.dims[1] != 1 || in.dims[3] != in.dims[4]) {
        char s[96];
        fprintf(stderr, "cnn: %s takes %s inputs, not hyperspectral patches (N, 1, K, S, S)\n", m.name,
                cnn_shape_str(in.ndim, in.dims, s, sizeof s));
        cnn_model_free(&m);
        return 1;
    }
    int K = in.dims[2], S = in.dims[3], rc = 0;
    const char *spec = cli_hsi_spec(data, &ha, K, S);
    cnn_hsi_opts o;
    char buf[4096];
    cnn_hsi_scene sc = {0};
    float *x = NULL;
    int32_t *pred = NULL;
    uint8_t *split = NULL;
    if (!spec) {
        rc = 2;
        goto done;
    }
    if (cnn_hsi_parse_spec(spec, &o, buf, sizeof buf) != CNN_OK) {
        rc = cli_fail("data");
        goto done;
    }
    if (seed >= 0) o.seed = (uint64_t)seed;
    if (o.patch != S) {
        fprintf(stderr, "cnn: %s takes %dx%d patches, not patch %d\n", pos[0], S, S, o.patch);
        rc = 1;
        goto done;
    }
    double t0 = cnn_now_s();
    if (cnn_hsi_scene_load(&o, &sc) != CNN_OK) {
        rc = cli_fail("data");
        goto done;
    }
    if (sc.k != K || sc.classes > m.classes) {
        fprintf(stderr, "cnn: %s takes %d PCA components and %d classes; %s gives %d and %d\n", pos[0], K,
                m.classes, sc.source, sc.k, sc.classes);
        rc = 1;
        goto done;
    }
    double var = 0.0;
    for (int j = 0; j < sc.k; j++) var += sc.explained[j];
    printf("scene %s: %dx%d pixels, %d bands -> PCA %d (%.2f%% of the variance), %d classes, %d labelled "
           "(%.1f s)\n",
           sc.source, sc.h, sc.w, sc.bands, sc.k, 100.0 * var, sc.classes, sc.labelled, cnn_now_s() - t0);
    size_t npx = (size_t)sc.h * (size_t)sc.w, ex = (size_t)K * (size_t)S * (size_t)S;
    x = malloc((size_t)batch * ex * sizeof *x);
    pred = malloc(npx * sizeof *pred);
    split = malloc(npx);
    if (!x || !pred || !split) {
        fprintf(stderr, "cnn: out of memory\n");
        rc = 1;
        goto done;
    }
    cnn_graph_set_training(m.g, false);
    /* inference only: the weights stay as loaded, so packed copies are kept (docs/architecture.md, "Kernels") */
    cnn_graph_set_const_weights(m.g, true);
    t0 = cnn_now_s();
    int last_pct = -1;
    /* patches of one batch of pixels at a time: the whole scene's would not fit */
    for (size_t p0 = 0; p0 < npx; p0 += (size_t)batch) {
        int n = (int)(npx - p0 < (size_t)batch ? npx - p0 : (size_t)batch);
        for (int i = 0; i < n; i++) {
            size_t p = p0 + (size_t)i;
            float *xi = x + (size_t)i * ex;
            cnn_hsi_patch(sc.pcs, sc.h, sc.w, sc.k, S, (int)(p / (size_t)sc.w), (int)(p % (size_t)sc.w), xi);
            if (m.transform.normalize)
                for (size_t k = 0; k < ex; k++) xi[k] = (xi[k] - m.transform.mean[0]) / m.transform.std[0];
        }
        if (cnn_graph_set_input(m.g, m.input, x, n) != CNN_OK || cnn_graph_forward_until(m.g, m.logits) != CNN_OK) {
            rc = cli_fail("forward");
            goto done;
        }
        const float *z = cnn_node_value(m.logits).data;
        for (int i = 0; i < n; i++) pred[p0 + (size_t)i] = 1 + cnn_argmax(z + (size_t)i * m.classes, m.classes);
        int pct = (int)((p0 + (size_t)n) * 100 / npx);
        if (pct / 10 != last_pct / 10 && npx > 20000) {
            fprintf(stderr, "  %3d%% (%zu / %zu pixels)\n", pct, p0 + (size_t)n, npx);
            last_pct = pct;
        }
    }
    double secs = cnn_now_s() - t0;
    float ratio = o.test_ratio != 0.0f ? o.test_ratio : 0.7f;
    if (cnn_hsi_split(sc.gt, (int)npx, ratio, o.seed, split) != CNN_OK) {
        rc = cli_fail("split");
        goto done;
    }
    long all = 0, all_ok = 0, test = 0, test_ok = 0;
    for (size_t i = 0; i < npx; i++) {
        if (!sc.gt[i]) continue;
        all++;
        all_ok += pred[i] == sc.gt[i];
        if (split[i] == 2) {
            test++;
            test_ok += pred[i] == sc.gt[i];
        }
    }
    printf("classified %zu pixels in %.1f s (%.0f pixels/s)\n", npx, secs, (double)npx / (secs > 0 ? secs : 1e-9));
    printf("OA on all %ld labelled pixels: %.4f\n", all, all ? (double)all_ok / (double)all : 0.0);
    printf("OA on the %ld test-split pixels (test %g, seed %llu): %.4f\n", test, (double)ratio,
           (unsigned long long)o.seed, test ? (double)test_ok / (double)test : 0.0);
    if (mask) {
        for (size_t i = 0; i < npx; i++)
            if (!sc.gt[i]) pred[i] = 0;
        printf("map: %ld labelled pixels shown, %zu unlabelled masked (--mask-unlabelled)\n", all,
               npx - (size_t)all);
    }
    if (cnn_hsi_map_png(out, sc.h, sc.w, pred, sc.gt, scale) != CNN_OK) {
        rc = cli_fail(out);
        goto done;
    }
    printf("wrote %s (%dx%d: predicted | ground truth)\n", out, 2 * sc.w * scale + 4, sc.h * scale);
done:
    free(x);
    free(pred);
    free(split);
    cnn_hsi_scene_free(&sc);
    cnn_model_free(&m);
    return rc;
}

static const char SYNTH_USAGE[] =
    "usage: cnn hsi-synth --out DIR [--height 145] [--width 145] [--bands 200] [--classes 16]\n"
    "                     [--seed 0] [--v73]\n"
    "Writes a synthetic hyperspectral scene like Indian Pines: DIR/synthetic.mat (variable\n"
    "'synthetic', H x W x bands single) and DIR/synthetic_gt.mat ('synthetic_gt', uint8,\n"
    "0 = unlabelled). Train on it with: cnn train hybridsn --data hsi:DIR/synthetic.mat";

int cmd_hsi_synth(int argc, char **argv)
{
    const char *out = NULL;
    int height = 145, width = 145, bands = 200, classes = 16, seed = 0;
    bool v73 = false;
    const cli_opt opts[] = {
        CLI_OPT_OUT(&out, "output folder (required; created if missing)"),
        {"height", OPT_INT, &height, "rows (default 145)"},
        {"width", OPT_INT, &width, "columns (default 145)"},
        {"bands", OPT_INT, &bands, "spectral bands (default 200)"},
        {"classes", OPT_INT, &classes, "classes (default 16)"},
        CLI_OPT_SEED(&seed, "seed (default 0)"),
        {"v73", OPT_BOOL, &v73, "write MATLAB v7.3 (HDF5) files instead of v5"},
    };
    CLI_PARSE(opts, pos, 0, n_pos, SYNTH_USAGE);
    if (!out || height < 1 || width < 1 || bands < 1 || classes < 1 || seed < 0) return cli_usage(SYNTH_USAGE);
    cnn_hsi_synth_opts o = {.height = height, .width = width, .bands = bands, .classes = classes,
                            .seed = (uint64_t)seed, .v73 = v73};
    if (cnn_hsi_synth_write(out, &o) != CNN_OK) return cli_fail("hsi-synth");
    printf("wrote %s/synthetic.mat (%dx%dx%d, MATLAB %s) and %s/synthetic_gt.mat (%d classes)\n", out, height,
           width, bands, v73 ? "v7.3" : "v5", out, classes);
    return 0;
}
