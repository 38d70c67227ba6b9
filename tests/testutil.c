#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

void tu_fill(float *x, size_t n, float lo, float hi, cnn_rng *rng)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * cnn_rng_uniform(rng);
}

int tu_close(const float *a, const float *b, size_t n, float atol, float rtol, const char *what)
{
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / ((double)atol + (double)rtol * fabs((double)b[i]));
        if (!(r <= worst)) { /* catches NaN */
            worst = isnan(r) ? INFINITY : r;
            wi = i;
            if (isnan(r)) break;
        }
    }
    if (worst > 1.0) {
        fprintf(stderr, "  %s: mismatch at %zu of %zu: got %.7g, want %.7g (atol %g, rtol %g)\n",
                what, wi, n, (double)a[wi], (double)b[wi], (double)atol, (double)rtol);
        return 0;
    }
    return 1;
}

int tu_quick(void) { return getenv("CNN_TEST_QUICK") != NULL; }

void tu_forward(cnn_graph *g, cnn_node *in, const float *data, int batch)
{
    TU_OK(cnn_graph_status(g));
    TU_OK(cnn_graph_compile(g, 1));
    TU_OK(cnn_graph_set_input(g, in, data, batch));
    TU_OK(cnn_graph_forward(g));
}

static double loss_of(cnn_graph *g, cnn_node *out, const float *r, const cnn_rng *rng0)
{
    *cnn_graph_rng(g) = *rng0;
    if (cnn_graph_forward(g) != CNN_OK) fail_msg("forward: %s", cnn_error_message());
    if (!r) return 0.0; /* forward only */
    cnn_tensor v = cnn_node_value(out);
    size_t n = cnn_tensor_numel(&v);
    double L = 0.0;
    for (size_t i = 0; i < n; i++) L += (double)r[i] * (double)v.data[i];
    return L;
}

static int check_tensor(cnn_graph *g, cnn_node *out, const float *r, const cnn_rng *rng0,
                        float *val, const float *ana, size_t n, double eps, double tol,
                        int max_checks, const char *what)
{
    int bad = 0;
    size_t step = n > (size_t)max_checks ? n / (size_t)max_checks : 1;
    for (size_t i = 0; i < n; i += step) {
        float saved = val[i];
        val[i] = (float)((double)saved + eps);
        double lp = loss_of(g, out, r, rng0);
        val[i] = (float)((double)saved - eps);
        double lm = loss_of(g, out, r, rng0);
        val[i] = saved;
        double num = (lp - lm) / (2.0 * eps);
        double err = fabs(num - (double)ana[i]);
        if (!(err <= tol * (1.0 + fabs(num)))) {
            if (bad < 5)
                fprintf(stderr, "  gradcheck %s[%zu]: analytic %.7g, numeric %.7g\n", what, i,
                        (double)ana[i], num);
            bad++;
        }
    }
    return bad;
}

int tu_gradcheck(cnn_graph *g, cnn_node *out, cnn_node **inputs, int n_inputs, double eps,
                 double tol, int max_checks)
{
    cnn_graph_set_training(g, true);
    cnn_tensor v = cnn_node_value(out);
    const cnn_rng rng0 = *cnn_graph_rng(g);
    /* first pass to learn the output size at the current batch */
    loss_of(g, out, NULL, &rng0);
    v = cnn_node_value(out);
    size_t n_out = cnn_tensor_numel(&v);
    float *r = malloc(n_out * sizeof *r);
    cnn_rng rr;
    cnn_rng_seed(&rr, 12345);
    tu_fill(r, n_out, -1.0f, 1.0f, &rr);
    loss_of(g, out, r, &rng0);
    if (cnn_graph_backward_from(g, out, r) != CNN_OK) fail_msg("backward: %s", cnn_error_message());

    /* copy analytic gradients before probing (probing re-runs forward only) */
    int bad = 0;
    for (int k = 0; k < n_inputs; k++) {
        cnn_tensor gi = cnn_node_grad(inputs[k]), xi = cnn_node_value(inputs[k]);
        if (!gi.data) fail_msg("input '%s' has no gradient: call cnn_input_requires_grad",
                               cnn_node_name(inputs[k]));
        size_t n = cnn_tensor_numel(&xi);
        float *ana = malloc(n * sizeof *ana);
        memcpy(ana, gi.data, n * sizeof *ana);
        char what[256];
        snprintf(what, sizeof what, "d/d %s", cnn_node_name(inputs[k]));
        bad += check_tensor(g, out, r, &rng0, xi.data, ana, n, eps, tol, max_checks, what);
        free(ana);
    }
    for (int p = 0; p < cnn_graph_num_params(g); p++) {
        cnn_param *pp = cnn_graph_param(g, p);
        if (!pp->trainable) continue;
        size_t n = cnn_tensor_numel(&pp->value);
        float *ana = malloc(n * sizeof *ana);
        memcpy(ana, pp->grad.data, n * sizeof *ana);
        char what[256];
        snprintf(what, sizeof what, "d/d %s", pp->name);
        bad += check_tensor(g, out, r, &rng0, pp->value.data, ana, n, eps, tol, max_checks, what);
        free(ana);
    }
    free(r);
    return bad;
}

/* ---------------------------------------------------------------- fixtures */
static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001B3ULL;
    }
    return h;
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

void tu_formula_fill(const char *name, cnn_tensor *t)
{
    size_t n = cnn_tensor_numel(t);
    uint64_t h = fnv1a64(name);
    /* v = a + b * u by the name's rule (decided once: big models have 1e8 values) */
    double a = 0.0, b = 0.1;
    if (ends_with(name, "running_var")) a = 0.75, b = 0.25;
    else if (ends_with(name, "running_mean")) b = 0.1;
    else if (t->ndim >= 2) b = sqrt(6.0 / (double)(n / (size_t)t->dims[0]));
    else if (ends_with(name, "weight")) a = 1.0;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = mix64(h ^ ((uint64_t)i * 0x9E3779B97F4A7C15ULL));
        double u = (double)(z >> 40) / 8388608.0 - 1.0;
        t->data[i] = (float)(a + b * u);
    }
}

void tu_formula_weights(cnn_graph *g)
{
    TU_OK(cnn_graph_compile(g, 0));
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        tu_formula_fill(p->name, &p->value);
    }
}

int tu_skipped;

int tu_exit_status(int failures) { return failures ? failures : (tu_skipped ? TU_SKIP_CODE : 0); }

void tu_expect_error(cnn_graph *g, cnn_node *n, cnn_status s, const char *needle)
{
    assert_null(n);
    assert_int_equal(cnn_graph_status(g), s);
    if (!strstr(cnn_graph_error(g), needle))
        fail_msg("error '%s' does not mention '%s'", cnn_graph_error(g), needle);
    cnn_graph_free(g);
}

void tu_skipped_feature(const char *feature)
{
    tu_skipped++;
    printf("skipped: this build has no %s (docs/architecture.md, \"Build options\")\n", feature);
}


void tu_expect_not_built(cnn_status s, const char *lib)
{
    char want[96];
    snprintf(want, sizeof want, "not built with %s", lib);
    assert_int_equal(s, CNN_ERR_UNSUPPORTED);
    if (!strstr(cnn_error_message(), want))
        fail_msg("error '%s' does not say '%s'", cnn_error_message(), want);
}

static void be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    fwrite(b, 1, 4, f);
}

void tu_write_idx(const char *dir, const char *prefix, int n, uint64_t seed)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *fi = fopen(p, "wb");
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, prefix);
    FILE *fl = fopen(p, "wb");
    assert_true(fi && fl);
    be32(fi, 0x803), be32(fi, (uint32_t)n), be32(fi, 28), be32(fi, 28);
    be32(fl, 0x801), be32(fl, (uint32_t)n);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    unsigned char img[784];
    for (int i = 0; i < n; i++) {
        int k = (int)cnn_rng_below(&r, 4);
        for (int j = 0; j < 784; j++) img[j] = (unsigned char)cnn_rng_below(&r, 60);
        int y0 = (k / 2) * 14 + 3, x0 = (k % 2) * 14 + 3;
        for (int y = y0; y < y0 + 8; y++)
            for (int x = x0; x < x0 + 8; x++) img[y * 28 + x] = 250;
        fwrite(img, 1, 784, fi);
        unsigned char lab = (unsigned char)k;
        fwrite(&lab, 1, 1, fl);
    }
    fclose(fi);
    fclose(fl);
}

int tu_vrun(char *out, size_t size, const char *dir, int quiet_err, const char *fmt, va_list ap)
{
    char cmd[4096], full[4608];
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    if (dir)
        snprintf(full, sizeof full, "cd %s && %s %s", dir, cmd, quiet_err ? "2>/dev/null" : "2>&1");
    else
        snprintf(full, sizeof full, "%s %s", cmd, quiet_err ? "2>/dev/null" : "2>&1");
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tu_run(char *out, size_t size, const char *dir, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tu_vrun(out, size, dir, 0, fmt, ap);
    va_end(ap);
    return rc;
}
