/* Flag parsing: --name value, --name=value, --flag; positional arguments in order. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.h"

/* Strict numbers (docs/architecture.md, "Strict options"): the whole string is the
   number, no leading blanks, no overflow, finite floats. */
bool cli_parse_int(const char *v, long lo, long hi, int *out)
{
    if (!v || !*v || v[0] == ' ' || v[0] == '\t' || v[0] == '\n') return false;
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi || x < INT_MIN || x > INT_MAX) return false;
    *out = (int)x;
    return true;
}

static bool parse_float(const char *v, float *out)
{
    if (!v || !*v || v[0] == ' ' || v[0] == '\t' || v[0] == '\n') return false;
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (*end || !isfinite(x) || fabs(x) > FLT_MAX) return false;
    *out = (float)x;
    return true;
}

/* Per-option ranges, by name and type: every numeric option of every command. An
   option not listed only has to be a finite number. */
static const struct {
    const char *name;
    cli_opt_type type;
    double lo, hi;
    bool lo_open; /* lo itself excluded */
    const char *what;
} RANGES[] = {
    {"batch", OPT_INT, 1, 1 << 24, false, "an integer in 1..16777216"},
    {"epochs", OPT_INT, 1, 1000000, false, "an integer in 1..1000000"},
    {"iters", OPT_INT, 1, 100000000, false, "an integer >= 1"},
    {"classes", OPT_INT, 1, 1 << 20, false, "an integer in 1..1048576"},
    {"height", OPT_INT, 1, 1 << 16, false, "an integer in 1..65536"},
    {"width", OPT_INT, 1, 1 << 16, false, "an integer in 1..65536"},
    {"bands", OPT_INT, 1, 1 << 16, false, "an integer in 1..65536"},
    {"pca", OPT_INT, 1, 1 << 16, false, "an integer in 1..65536"},
    {"patch", OPT_INT, 1, 4095, false, "an integer in 1..4095"},
    {"scale", OPT_INT, 1, 64, false, "an integer in 1..64"},
    {"top", OPT_INT, 1, 1 << 20, false, "an integer >= 1"},
    {"limit", OPT_INT, 1, INT_MAX, false, "an integer >= 1"},
    {"limit-train", OPT_INT, 1, INT_MAX, false, "an integer >= 1"},
    {"limit-test", OPT_INT, 1, INT_MAX, false, "an integer >= 1"},
    {"warmup", OPT_INT, 0, 1000000, false, "an integer >= 0"},
    {"crop", OPT_INT, 0, 4096, false, "an integer in 0..4096"},
    {"seed", OPT_INT, 0, INT_MAX, false, "an integer in 0..2147483647"},
    {"width", OPT_FLOAT, 0, 64, true, "a number in (0, 64]"},
    {"lr", OPT_FLOAT, 0, 1e6, false, "a number in [0, 1e6]"},
    {"momentum", OPT_FLOAT, 0, 1, false, "a number in [0, 1]"},
    {"weight-decay", OPT_FLOAT, 0, 1e6, false, "a number >= 0"},
    {"label-smoothing", OPT_FLOAT, 0, 1, false, "a number in [0, 1]"},
    {"test-ratio", OPT_FLOAT, 0, 1, true, "a number in (0, 1)"},
    {"peak", OPT_FLOAT, 0, 1e9, false, "a number >= 0"},
};

static bool in_range(const cli_opt *o, double x)
{
    for (size_t i = 0; i < sizeof RANGES / sizeof RANGES[0]; i++)
        if (RANGES[i].type == o->type && strcmp(RANGES[i].name, o->name) == 0) {
            bool ok = (RANGES[i].lo_open ? x > RANGES[i].lo : x >= RANGES[i].lo) && x <= RANGES[i].hi;
            if (ok && !strcmp(o->name, "test-ratio")) ok = x < 1;
            if (!ok)
                fprintf(stderr, "cnn: --%s: %g is out of range (%s)\n", o->name, x, RANGES[i].what);
            return ok;
        }
    return true;
}

void cli_print_help(const char *usage, const cli_opt *opts, int n_opts)
{
    printf("%s\noptions:\n", usage);
    for (int i = 0; i < n_opts; i++) {
        const char *arg = opts[i].type == OPT_BOOL ? "" : opts[i].type == OPT_INT ? " N"
                          : opts[i].type == OPT_FLOAT ? " X" : " VALUE";
        char left[64];
        snprintf(left, sizeof left, "--%s%s", opts[i].name, arg);
        printf("  %-24s %s\n", left, opts[i].help);
    }
    printf("  %-24s %s\n", "--threads N", "threads (default: CNN_THREADS or all cores)");
    printf("  %-24s %s\n", "--backend NAME", "kernels: ref (default: fastest compiled in)");
    printf("  %-24s %s\n", "--help", "this text");
}

static int set_value(const cli_opt *o, const char *v)
{
    switch (o->type) {
    case OPT_STR: *(const char **)o->dst = v; return 0;
    case OPT_INT: {
        int x;
        if (!cli_parse_int(v, INT_MIN, INT_MAX, &x)) {
            fprintf(stderr, "cnn: --%s: '%s' is not an integer (or out of range)\n", o->name, v);
            return 2;
        }
        if (!in_range(o, x)) return 2;
        *(int *)o->dst = x;
        return 0;
    }
    case OPT_FLOAT: {
        float x;
        if (!parse_float(v, &x)) {
            fprintf(stderr, "cnn: --%s: '%s' is not a finite number\n", o->name, v);
            return 2;
        }
        if (!in_range(o, x)) return 2;
        *(float *)o->dst = x;
        return 0;
    }
    case OPT_LIST: {
        char *buf = o->dst;
        size_t len = strlen(buf);
        if (len + strlen(v) + 2 > 512) break;
        snprintf(buf + len, 512 - len, "%s%s", len ? "," : "", v);
        return 0;
    }
    case OPT_BOOL: *(bool *)o->dst = true; return 0;
    }
    fprintf(stderr, "cnn: --%s: '%s' is not a valid value\n", o->name, v);
    return 2;
}

int cli_parse(int argc, char **argv, int first, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos, int *n_pos, const char *usage)
{
    *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(usage, opts, n_opts);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || strlen(a) == 2) {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "cnn: unexpected argument '%s'\n%s\n", a, usage);
                return 2;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if ((nl == 7 && strncmp(name, "threads", 7) == 0) || (nl == 7 && strncmp(name, "backend", 7) == 0)) {
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "cnn: --%.*s needs a value\n", (int)nl, name);
                return 2;
            }
            if (name[0] == 't') {
                int t;
                if (!cli_threads_value("--threads", v, &t)) return 2;
                cnn_set_threads(t);
            } else if (cnn_set_backend(v) != CNN_OK) {
                fprintf(stderr, "cnn: %s\n", cnn_error_message());
                return 2;
            }
            continue;
        }
        const cli_opt *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == nl && strncmp(opts[k].name, name, nl) == 0) o = &opts[k];
        if (!o) {
            fprintf(stderr, "cnn: unknown option '--%.*s' (see --help)\n", (int)nl, name);
            return 2;
        }
        if (o->type == OPT_BOOL) {
            if (eq) {
                fprintf(stderr, "cnn: --%s takes no value\n", o->name);
                return 2;
            }
            *(bool *)o->dst = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "cnn: --%s needs a value\n", o->name);
            return 2;
        }
        if (set_value(o, v)) return 2;
    }
    return 0;
}

/* Threads: 1..CLI_MAX_THREADS accepted; more than the cores available is capped to
   the cores with a note (oversubscribing our own run only slows it down). */
#define CLI_MAX_THREADS 4096
bool cli_threads_value(const char *what, const char *v, int *out)
{
    int t;
    if (!cli_parse_int(v, 1, CLI_MAX_THREADS, &t)) {
        fprintf(stderr, "cnn: %s: '%s' is not an integer in 1..%d\n", what, v, CLI_MAX_THREADS);
        return false;
    }
#ifdef _OPENMP
    int procs = omp_get_num_procs();
    if (procs > 0 && t > procs) {
        fprintf(stderr, "cnn: %s %d: capped to the %d cores available\n", what, t, procs);
        t = procs;
    }
#endif
    *out = t;
    return true;
}

bool cli_check_env(void)
{
    const char *t = getenv("CNN_THREADS"), *b = getenv("CNN_BACKEND");
    if (t && *t) {
        int n;
        if (!cli_threads_value("CNN_THREADS", t, &n)) return false;
        cnn_set_threads(n);
    }
    if (b && *b && cnn_set_backend(b) != CNN_OK) {
        fprintf(stderr, "cnn: CNN_BACKEND: %s\n", cnn_error_message());
        return false;
    }
    return true;
}

bool cli_model_opts(const cli_model_args *m, cnn_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = m->batch > 0 ? m->batch : 1;
    o->classes = m->classes;
    o->width_mult = m->width;
    o->set = m->set;
    if (m->input) {
        /* CxHxW or CxDxHxW, each a strict integer in 1..1048576 */
        int v[4], k = 0;
        const char *p = m->input;
        bool ok = true;
        while (ok && *p && k < 4) {
            const char *x = strchr(p, 'x');
            size_t len = x ? (size_t)(x - p) : strlen(p);
            char part[32];
            ok = len > 0 && len < sizeof part;
            if (ok) {
                memcpy(part, p, len);
                part[len] = '\0';
                ok = cli_parse_int(part, 1, 1 << 20, &v[k++]);
            }
            p = x ? x + 1 : p + len;
            if (ok && x && !*p) ok = false;
        }
        if (!ok || *p || (k != 3 && k != 4)) {
            fprintf(stderr, "cnn: --input '%s': expected CxHxW or CxDxHxW, each in 1..1048576 "
                            "(e.g. 1x28x28)\n", m->input);
            return false;
        }
        if (k == 3) {
            o->channels = v[0];
            o->height = v[1];
            o->width = v[2];
        } else {
            o->channels = v[0];
            o->depth = v[1];
            o->height = v[2];
            o->width = v[3];
        }
    }
    return true;
}

int cli_model_open(const char *path, int batch, cli_model_args *ma, int seed, cnn_model *m)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (cnn_model_load(path, batch, m) != CNN_OK) return cli_fail(path);
        return -1;
    }
    cnn_model_opts mo;
    ma->batch = batch;
    if (!cli_model_opts(ma, &mo)) return 2;
    if (cnn_model_new(path, &mo, 0.0f, m) != CNN_OK ||
        cnn_graph_compile(m->g, (uint64_t)seed) != CNN_OK)
        return cli_fail(path);
    return -1;
}

int cli_model_data(const char **data, cli_hsi_args *a, cnn_model *m, bool train, cnn_dataset *d)
{
    cnn_tensor in = cnn_node_value(m->input);
    if (!(*data = cli_hsi_spec(*data, a, in.ndim == 5 ? in.dims[2] : 0, in.ndim == 5 ? in.dims[3] : 0))) {
        cnn_model_free(m);
        return 2;
    }
    if (cnn_dataset_open(*data, train, d) != CNN_OK) {
        cnn_model_free(m);
        return cli_fail("data");
    }
    return -1;
}

int cli_parse_args(int argc, char **argv, const cli_opt *opts, int n_opts, const char **pos,
                   int max_pos, int *n_pos, const char *usage)
{
    int r = cli_parse(argc, argv, 2, opts, n_opts, pos, max_pos, n_pos, usage);
    return r == 0 ? -1 : r == 1 ? 0 : 2;
}

int cli_usage(const char *usage)
{
    fprintf(stderr, "%s\n", usage);
    return 2;
}

int cli_fail(const char *what)
{
    const char *msg = cnn_error_message();
    /* library messages often start with the path or model already ("X: ..."): do not
       print it twice */
    size_t wl = what ? strlen(what) : 0;
    if (wl && strncmp(msg, what, wl) == 0 && (msg[wl] == ':' || msg[wl] == ' ' || !msg[wl]))
        what = NULL;
    fprintf(stderr, "cnn: %s%s%s\n", what ? what : "", what && *what ? ": " : "", msg);
    return 1;
}
