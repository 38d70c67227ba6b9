/* ONNX conformance: the backend node tests ONNX ships (Debian libonnx-testdata,
 * /usr/include/onnx/backend/test/data/node/<case>/{model.onnx, test_data_set_0/}), run
 * through the importer on the current backend (the suite runs on both).
 *
 * Each case runs in a child process (a crash or a hang fails that case only, after
 * 30 s): import model.onnx at the batch of input_0.pb, feed every input_<i>.pb to the
 * graph input of the same position, run an eval forward and compare every output with
 * output_<i>.pb as ONNX's own backend tests do (numpy assert_allclose, rtol 1e-3,
 * atol 1e-7: |got - want| <= 1e-7 + 1e-3 |want|, NaN equal to NaN; shapes must match).
 * A case the importer declines (CNN_ERR_UNSUPPORTED: an operator, attribute, data type
 * or rank it does not take) is a skip, never a pass; any other error is a failure.
 *
 * The report (pass / fail / skip per operator, every failure and skip with its reason)
 * is printed and written to <build>/onnx_conformance.txt (and _<backend>.txt). The test
 * FAILS when a case of tests/io/onnx_conformance_expected.txt does not pass, so the
 * count cannot silently fall; new passes are listed to be added. Set
 * CNN_ONNX_CONFORMANCE_WRITE=FILE to write this run's passes (regenerating the list),
 * CNN_ONNX_TESTDATA=DIR to read the cases from elsewhere. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#ifdef CNN_HAVE_ONNX
#include "graph/graph_internal.h"
#include "onnx/onnx.pb-c.h"

#define DEFAULT_DIR "/usr/include/onnx/backend/test/data/node"
#define RTOL 1e-3
#define ATOL 1e-7
#define CASE_SECONDS 30

typedef struct tcase {
    char name[128];
    char op[96];     /* the operator it tests: its one node's type, "<Op> (expanded)" */
    char result;     /* 'P', 'F', 'S' */
    char reason[400];
} tcase;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = n >= 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static Onnx__ModelProto *read_model(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf) return NULL;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, (const uint8_t *)buf);
    free(buf);
    return m;
}

/* The operator a case tests: its node's op type; for a function's expanded body, the
   op of the case without "_expanded". */
static void case_op(const char *dir, tcase *t)
{
    Onnx__ModelProto *m = read_model(dir, t->name);
    if (!m || !m->graph) {
        snprintf(t->op, sizeof t->op, "(unreadable)");
    } else if (m->graph->n_node == 1) {
        snprintf(t->op, sizeof t->op, "%s", m->graph->node[0]->op_type);
    } else {
        size_t n = strlen(t->name);
        const char *suf = "_expanded";
        snprintf(t->op, sizeof t->op, "(multi-node)");
        if (n > strlen(suf) && !strcmp(t->name + n - strlen(suf), suf)) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(n - strlen(suf)), t->name);
            Onnx__ModelProto *b = read_model(dir, base);
            if (b && b->graph && b->graph->n_node == 1)
                snprintf(t->op, sizeof t->op, "%s (expanded)", b->graph->node[0]->op_type);
            if (b) onnx__model_proto__free_unpacked(b, NULL);
        }
    }
    if (m) onnx__model_proto__free_unpacked(m, NULL);
}

/* A float TensorProto as a cnn_tensor (malloc'd data); NULL reason on success. */
static const char *read_tensor(const char *path, cnn_tensor *t)
{
    static char why[256];
    memset(t, 0, sizeof *t);
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf) return "cannot read a .pb file";
    Onnx__TensorProto *p = onnx__tensor_proto__unpack(NULL, len, (const uint8_t *)buf);
    free(buf);
    if (!p) return "a .pb file is not a TensorProto";
    const char *r = NULL;
    size_t numel = 1;
    if (p->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        snprintf(why, sizeof why, "tensor '%s' has data type %d (float32 only)", p->name ? p->name : "",
                 p->data_type);
        r = why;
        goto done;
    }
    if (p->n_dims > CNN_MAX_DIMS) {
        r = "tensor of rank above 6";
        goto done;
    }
    t->ndim = (int)p->n_dims;
    for (size_t i = 0; i < p->n_dims; i++) {
        if (p->dims[i] < 0 || p->dims[i] > (1 << 28) || numel * (size_t)p->dims[i] > ((size_t)1 << 28)) {
            r = "a .pb file that is not a float tensor of a sane size (a sequence or optional?)";
            goto done;
        }
        t->dims[i] = (int)p->dims[i];
        numel *= (size_t)p->dims[i];
    }
    t->data = malloc((numel ? numel : 1) * sizeof(float));
    if (!t->data)
        r = "out of memory";
    else if (numel == 0) /* an empty tensor: nothing to copy (the source may be NULL) */
        ;
    else if (p->has_raw_data && p->raw_data.len == numel * sizeof(float))
        memcpy(t->data, p->raw_data.data, numel * sizeof(float));
    else if (p->n_float_data == numel)
        memcpy(t->data, p->float_data, numel * sizeof(float));
    else
        r = "tensor data size does not match its shape";
done:
    onnx__tensor_proto__free_unpacked(p, NULL);
    return r;
}

static char shape_buf[2][96];
static const char *shp(int k, int nd, const int *d)
{
    return cnn_shape_str(nd, d, shape_buf[k], sizeof shape_buf[k]);
}

/* The importer's message without the "<dir>/<case>/model.onnx: " every one starts with. */
static const char *short_msg(const char *msg, const char *model)
{
    size_t n = strlen(model);
    if (!strncmp(msg, model, n) && msg[n] == ':') msg += n + 1;
    while (*msg == ' ') msg++;
    return msg;
}

/* Runs one case (in the child); writes "<P|F|S><reason>" into out. */
static void run_case(const char *dir, const char *name, char *out, size_t size)
{
    char path[1024];
    cnn_tensor in[16] = {{0}}, want[16] = {{0}};
    int n_in = 0, n_out = 0;
    cnn_graph *g = NULL;
    Onnx__ModelProto *m = read_model(dir, name);
    if (!m || !m->graph) {
        snprintf(out, size, "Fmodel.onnx does not parse");
        return;
    }
    for (; n_in < 16; n_in++) {
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/input_%d.pb", dir, name, n_in);
        if (access(path, R_OK) != 0) break;
        const char *r = read_tensor(path, &in[n_in]);
        if (r) {
            snprintf(out, size, "Sinput %d: %s", n_in, r);
            goto done;
        }
    }
    for (; n_out < 16; n_out++) {
        snprintf(path, sizeof path, "%s/%s/test_data_set_0/output_%d.pb", dir, name, n_out);
        if (access(path, R_OK) != 0) break;
        const char *r = read_tensor(path, &want[n_out]);
        if (r) {
            snprintf(out, size, "Soutput %d: %s", n_out, r);
            goto done;
        }
    }
    if (n_out == 0) {
        snprintf(out, size, "Fno output_0.pb");
        goto done;
    }
    int batch = n_in > 0 && in[0].ndim > 0 ? in[0].dims[0] : 1;
    g = cnn_graph_new();
    cnn_node *x0, *y0;
    snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    cnn_status s = cnn_onnx_import(g, path, &(cnn_onnx_import_opts){.batch = batch}, &x0, &y0);
    if (s == CNN_ERR_UNSUPPORTED) {
        snprintf(out, size, "S%s", short_msg(cnn_error_message(), path));
        goto done;
    }
    if (s != CNN_OK) {
        snprintf(out, size, "Fimport: %s", short_msg(cnn_error_message(), path));
        goto done;
    }
    if ((s = cnn_graph_compile(g, 0)) != CNN_OK) {
        snprintf(out, size, "Fcompile: %s", cnn_error_message());
        goto done;
    }
    cnn_graph_set_training(g, false);
    /* the graph inputs in file order, initializers (IR < 4 lists them) left out */
    int k = 0;
    for (size_t i = 0; i < m->graph->n_input && k <= n_in; i++) {
        const char *iname = m->graph->input[i]->name;
        bool init = false;
        for (size_t j = 0; j < m->graph->n_initializer && !init; j++)
            init = !strcmp(m->graph->initializer[j]->name, iname);
        if (init) continue;
        if (k == n_in) {
            snprintf(out, size, "Fgraph input '%s' has no input_%d.pb", iname, k);
            goto done;
        }
        cnn_node *node = k == 0 ? x0 : cnn_graph_find(g, iname);
        if (!node) {
            snprintf(out, size, "Fgraph input '%s' not found after import", iname);
            goto done;
        }
        cnn_tensor v = cnn_node_value(node);
        bool same = v.ndim == in[k].ndim;
        for (int d = 0; same && d < v.ndim; d++) same = v.dims[d] == in[k].dims[d];
        if (!same) {
            snprintf(out, size, "Finput '%s' imported as %s, the case feeds %s", iname,
                     shp(0, v.ndim, v.dims), shp(1, in[k].ndim, in[k].dims));
            goto done;
        }
        if ((s = cnn_graph_set_input(g, node, in[k].data, batch)) != CNN_OK) {
            snprintf(out, size, "Fset_input '%s': %s", iname, cnn_error_message());
            goto done;
        }
        k++;
    }
    if ((s = cnn_graph_forward(g)) != CNN_OK) {
        snprintf(out, size, "Fforward: %s", cnn_error_message());
        goto done;
    }
    for (int j = 0; j < n_out && j < (int)m->graph->n_output; j++) {
        const char *oname = m->graph->output[j]->name;
        cnn_node *node = j == 0 ? y0 : cnn_graph_find(g, oname);
        if (!node) { /* the j-th marked output */
            int seen = 0;
            for (int i = 0; i < g->n_nodes && !node; i++)
                if (g->nodes[i]->is_output && seen++ == j) node = g->nodes[i];
        }
        if (!node) {
            snprintf(out, size, "Foutput '%s' not found after import", oname);
            goto done;
        }
        cnn_tensor v = cnn_node_value(node);
        bool same = v.ndim == want[j].ndim;
        for (int d = 0; same && d < v.ndim; d++) same = v.dims[d] == want[j].dims[d];
        if (!same) {
            snprintf(out, size, "Foutput '%s' has shape %s, expected %s", oname, shp(0, v.ndim, v.dims),
                     shp(1, want[j].ndim, want[j].dims));
            goto done;
        }
        size_t n = cnn_tensor_numel(&v), bad = 0, worst = 0;
        double worst_r = 0;
        for (size_t i = 0; i < n; i++) {
            double a = v.data[i], b = want[j].data[i];
            if (isnan(a) && isnan(b)) continue;
            double err = fabs(a - b), tol = ATOL + RTOL * fabs(b);
            if (!(err <= tol)) {
                if (!bad || err / tol > worst_r) {
                    worst_r = err / tol;
                    worst = i;
                }
                bad++;
            }
        }
        if (bad) {
            snprintf(out, size, "Foutput '%s': %zu of %zu values outside rtol 1e-3 / atol 1e-7 (e.g. [%zu] %.7g, expected %.7g)",
                     oname, bad, n, worst, (double)v.data[worst], (double)want[j].data[worst]);
            goto done;
        }
    }
    snprintf(out, size, "P");
done:
    cnn_graph_free(g);
    for (int i = 0; i < 16; i++) {
        free(in[i].data);
        free(want[i].data);
    }
    onnx__model_proto__free_unpacked(m, NULL);
}

/* The case in a child process: crashes and hangs fail that case only. */
static void run_isolated(const char *dir, tcase *t)
{
    int fd[2];
    if (pipe(fd) != 0) {
        t->result = 'F';
        snprintf(t->reason, sizeof t->reason, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        alarm(CASE_SECONDS);
        char out[sizeof t->reason + 1];
        run_case(dir, t->name, out, sizeof out);
        size_t len = strlen(out);
        _exit(write(fd[1], out, len) == (ssize_t)len ? 0 : 1);
    }
    close(fd[1]);
    char out[sizeof t->reason + 1] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof out - 1 && (r = read(fd[0], out + got, sizeof out - 1 - got)) > 0) got += (size_t)r;
    out[got] = 0;
    close(fd[0]);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) {
        t->result = 'F';
        snprintf(t->reason, sizeof t->reason, "fork/wait failed");
    } else if (WIFSIGNALED(st)) {
        t->result = 'F';
        snprintf(t->reason, sizeof t->reason, "%s (signal %d)",
                 WTERMSIG(st) == SIGALRM ? "timed out" : "crashed", WTERMSIG(st));
    } else if (!got) {
        t->result = 'F';
        snprintf(t->reason, sizeof t->reason, "no result (exit status %d)", WEXITSTATUS(st));
    } else {
        t->result = out[0];
        snprintf(t->reason, sizeof t->reason, "%s", out + 1);
    }
}

static int cmp_case(const void *a, const void *b)
{
    return strcmp(((const tcase *)a)->name, ((const tcase *)b)->name);
}
static int cmp_op(const void *a, const void *b)
{
    const tcase *x = *(const tcase *const *)a, *y = *(const tcase *const *)b;
    int c = strcmp(x->op, y->op);
    return c ? c : strcmp(x->name, y->name);
}

static void report(FILE *f, tcase *cases, int n, const char *dir)
{
    tcase **by = malloc((size_t)n * sizeof *by);
    for (int i = 0; i < n; i++) by[i] = &cases[i];
    qsort(by, (size_t)n, sizeof *by, cmp_op);
    int tp = 0, tf = 0, ts = 0;
    for (int i = 0; i < n; i++) {
        tp += by[i]->result == 'P';
        tf += by[i]->result == 'F';
        ts += by[i]->result == 'S';
    }
    fprintf(f, "ONNX backend node tests (%s), backend %s, tolerance rtol %g atol %g\n", dir,
            cnn_backend_name(), RTOL, ATOL);
    fprintf(f, "cases %d: pass %d, fail %d, skip %d (the importer declines the case)\n\n", n, tp, tf, ts);
    fprintf(f, "%-34s %5s %5s %5s\n", "operator", "pass", "fail", "skip");
    for (int i = 0; i < n;) {
        int j = i, p = 0, fl = 0, s = 0;
        for (; j < n && !strcmp(by[j]->op, by[i]->op); j++) {
            p += by[j]->result == 'P';
            fl += by[j]->result == 'F';
            s += by[j]->result == 'S';
        }
        fprintf(f, "%-34s %5d %5d %5d\n", by[i]->op, p, fl, s);
        i = j;
    }
    fprintf(f, "\nfailures:\n");
    for (int i = 0; i < n; i++)
        if (by[i]->result == 'F') fprintf(f, "FAIL %-44s %-20s %s\n", by[i]->name, by[i]->op, by[i]->reason);
    fprintf(f, "\nskips:\n");
    for (int i = 0; i < n; i++)
        if (by[i]->result == 'S') fprintf(f, "SKIP %-44s %-20s %s\n", by[i]->name, by[i]->op, by[i]->reason);
    free(by);
}

/* <build>/name next to the cnn binary, or NULL. */
static const char *build_path(const char *name, char *buf, size_t size)
{
    const char *bin = getenv("CNN_BIN");
    if (!bin) return NULL;
    snprintf(buf, size, "%s", bin);
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    snprintf(slash + 1, size - (size_t)(slash + 1 - buf), "%s", name);
    return buf;
}

static void test_conformance(void **state)
{
    (void)state;
    const char *dir = getenv("CNN_ONNX_TESTDATA") ? getenv("CNN_ONNX_TESTDATA") : DEFAULT_DIR;
    DIR *d = opendir(dir);
    if (!d) fail_msg("%s: %s (install Debian's libonnx-testdata: make deps)", dir, strerror(errno));
    int cap = 1024, n = 0;
    tcase *cases = calloc((size_t)cap, sizeof *cases);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_", 5) != 0) continue;
        if (n == cap) {
            cap *= 2;
            cases = realloc(cases, (size_t)cap * sizeof *cases);
            assert_non_null(cases);
        }
        memset(&cases[n], 0, sizeof cases[n]);
        snprintf(cases[n].name, sizeof cases[n].name, "%s", e->d_name);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
    qsort(cases, (size_t)n, sizeof *cases, cmp_case);
    for (int i = 0; i < n; i++) {
        case_op(dir, &cases[i]);
        run_isolated(dir, &cases[i]);
    }

    report(stdout, cases, n, dir);
    char buf[4096], name[64];
    const char *paths[2] = {build_path("onnx_conformance.txt", buf, sizeof buf), NULL};
    for (int w = 0; w < 2; w++) {
        if (w == 1) {
            snprintf(name, sizeof name, "onnx_conformance_%s.txt", cnn_backend_name());
            paths[1] = build_path(name, buf, sizeof buf);
        }
        if (!paths[w]) continue;
        FILE *f = fopen(paths[w], "w");
        if (f) {
            report(f, cases, n, dir);
            fclose(f);
            printf("report written to %s\n", paths[w]);
        }
    }
    const char *wpath = getenv("CNN_ONNX_CONFORMANCE_WRITE");
    if (wpath) {
        FILE *f = fopen(wpath, "w");
        assert_non_null(f);
        fprintf(f, "# ONNX backend node tests that pass (tests/io/test_onnx_conformance.c);\n"
                   "# a case listed here that stops passing fails the test.\n");
        for (int i = 0; i < n; i++)
            if (cases[i].result == 'P') fprintf(f, "%s\n", cases[i].name);
        fclose(f);
    }

    /* regressions against the committed list */
    const char *src = getenv("CNN_SOURCE_DIR") ? getenv("CNN_SOURCE_DIR") : ".";
    char lpath[1024], line[256];
    snprintf(lpath, sizeof lpath, "%s/tests/io/onnx_conformance_expected.txt", src);
    FILE *lf = fopen(lpath, "r");
    if (!lf) fail_msg("%s: %s", lpath, strerror(errno));
    int regress = 0, listed = 0;
    bool *in_list = calloc((size_t)n, sizeof *in_list);
    while (fgets(line, sizeof line, lf)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        listed++;
        tcase key;
        snprintf(key.name, sizeof key.name, "%s", line);
        tcase *t = bsearch(&key, cases, (size_t)n, sizeof *cases, cmp_case);
        if (!t) {
            printf("REGRESSION %s: listed as passing, but no such case in %s\n", line, dir);
            regress++;
        } else {
            in_list[t - cases] = true;
            if (t->result != 'P') {
                printf("REGRESSION %s (%s): %s\n", t->name, t->op, t->reason);
                regress++;
            }
        }
    }
    fclose(lf);
    int fresh = 0;
    for (int i = 0; i < n; i++)
        if (cases[i].result == 'P' && !in_list[i]) {
            printf("new pass (add it to tests/io/onnx_conformance_expected.txt): %s\n", cases[i].name);
            fresh++;
        }
    printf("expected-pass list: %d cases, %d regressions, %d new passes\n", listed, regress, fresh);
    free(in_list);
    free(cases);
    assert_int_equal(regress, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_conformance)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void)
{
    printf("SKIP: not built with ONNX\n");
    return 0;
}
#endif
