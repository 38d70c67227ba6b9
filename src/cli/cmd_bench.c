/* cnn bench MODEL: images/s and ms per batch of inference or a training step, the
   planned arena and peak RSS; --layers adds per-layer layout, kernel, times, GFLOP/s,
   GB/s and % of the limit that binds the layer: the machine's FP32 peak (measured at
   start by an FMA loop, or --peak) or its memory bandwidth (a STREAM triad measured in
   the same run, or --stream). */
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BENCH_X86 1
#endif

#include "cli.h"

static double now_s(void) { return cnn_now_s(); } /* the library's clock (src/core/clock.c) */

/* ---------------------------------------------------------------- FP32 peak
 * Each kernel runs `reps` rounds of 12 independent FMA chains (12 accumulators cover
 * the 4-cycle latency of two FMA pipes) and returns a value that depends on all of
 * them so nothing is optimised away. acc = acc * a + b with a < 1 stays finite. */
#define PEAK_ACC 12
/* Twelve named accumulators (an array would live on the stack at -O2). */
#define PEAK_DECL(T, init) T c0 = init(0.f), c1 = init(1.f), c2 = init(2.f), c3 = init(3.f), \
    c4 = init(4.f), c5 = init(5.f), c6 = init(6.f), c7 = init(7.f), c8 = init(8.f),          \
    c9 = init(9.f), c10 = init(10.f), c11 = init(11.f)
#define PEAK_STEP(F)                                                                      \
    do {                                                                                  \
        c0 = F(c0, a, b), c1 = F(c1, a, b), c2 = F(c2, a, b), c3 = F(c3, a, b);           \
        c4 = F(c4, a, b), c5 = F(c5, a, b), c6 = F(c6, a, b), c7 = F(c7, a, b);           \
        c8 = F(c8, a, b), c9 = F(c9, a, b), c10 = F(c10, a, b), c11 = F(c11, a, b);       \
    } while (0)
#define PEAK_SUM(ADD) ADD(ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7))), \
                          ADD(ADD(c8, c9), ADD(c10, c11)))

#ifdef BENCH_X86
__attribute__((target("avx512f"))) static float fma_avx512(long reps)
{
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-6f);
    PEAK_DECL(__m512, _mm512_set1_ps);
    for (long r = 0; r < reps; r++) PEAK_STEP(_mm512_fmadd_ps);
    return _mm512_reduce_add_ps(PEAK_SUM(_mm512_add_ps));
}

__attribute__((target("avx2,fma"))) static float fma_avx2(long reps)
{
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-6f);
    PEAK_DECL(__m256, _mm256_set1_ps);
    for (long r = 0; r < reps; r++) PEAK_STEP(_mm256_fmadd_ps);
    float v[8];
    _mm256_storeu_ps(v, PEAK_SUM(_mm256_add_ps));
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#endif

/* Portable fallback: what plain C reaches (multiply + add counted as one FMA). */
static float scalar_fma(float c, float a, float b) { return c * a + b; }
static float scalar_add(float x, float y) { return x + y; }
static float scalar_set(float v) { return v; }
static float fma_scalar(long reps)
{
    const float a = 0.999999f, b = 1e-6f;
    PEAK_DECL(float, scalar_set);
    for (long r = 0; r < reps; r++) PEAK_STEP(scalar_fma);
    return PEAK_SUM(scalar_add);
}

/* GFLOP/s of `threads` threads each running the widest FMA kernel this CPU has; the
   best of 5 short rounds (about 20 ms each). *isa names the kernel. */
static double measure_peak(int threads, const char **isa)
{
    float (*kernel)(long) = fma_scalar;
    int lanes = 1;
    *isa = "scalar";
#ifdef BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        kernel = fma_avx512;
        lanes = 16;
        *isa = "avx512f";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        kernel = fma_avx2;
        lanes = 8;
        *isa = "avx2+fma";
    }
#endif
    /* calibrate reps to ~20 ms on one thread */
    long reps = 1 << 14;
    volatile float sink = 0.0f;
    for (;;) {
        double t0 = now_s();
        sink += kernel(reps);
        double dt = now_s() - t0;
        if (dt > 0.02 || reps > (1L << 30)) break;
        reps *= dt > 0.002 ? (long)(0.02 / dt) + 1 : 8;
    }
#ifndef _OPENMP
    threads = 1;
#endif
    double best = 0.0;
    for (int round = 0; round < 5; round++) {
        double t0 = now_s();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
        {
            float v = kernel(reps);
#ifdef _OPENMP
#pragma omp critical
#endif
            sink += v;
        }
        double dt = now_s() - t0;
        double gflops = 2.0 * PEAK_ACC * lanes * (double)reps * threads / dt / 1e9;
        if (gflops > best) best = gflops;
    }
    (void)sink;
    return best;
}

/* ---------------------------------------------------------------- STREAM triad
 * a = b + s * c over three arrays of STREAM_N floats (3 x 64 MiB: far past the L2 and
 * most of a shared L3), split over `threads` threads; GB/s counts 12 bytes per element
 * as STREAM does (no write-allocate); the best of 7 rounds after a first-touch pass. */
#define STREAM_N ((size_t)1 << 24)
static double measure_stream(int threads)
{
    float *a = malloc(STREAM_N * sizeof *a), *b = malloc(STREAM_N * sizeof *b),
          *c = malloc(STREAM_N * sizeof *c);
    double best = 0.0;
    if (!a || !b || !c) goto out;
#ifndef _OPENMP
    threads = 1;
#endif
    long n = (long)STREAM_N;
    for (int round = 0; round < 8; round++) {
        double t0 = now_s();
#ifdef _OPENMP
#pragma omp parallel for simd schedule(static) num_threads(threads)
#endif
        for (long i = 0; i < n; i++) {
            if (round == 0) b[i] = 1.0f, c[i] = 2.0f; /* first touch, on the thread that reads */
            a[i] = b[i] + 0.5f * c[i];
        }
        double dt = now_s() - t0, gbps = 12.0 * (double)n / dt / 1e9;
        if (round > 0 && gbps > best) best = gbps;
    }
    volatile float sink = a[n / 2];
    (void)sink;
out:
    free(a);
    free(b);
    free(c);
    return best;
}

/* ---------------------------------------------------------------- helpers */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Peak resident set of this process (VmHWM: unlike getrusage, it does not inherit the
   peak of the process that started us). */
static size_t peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    size_t kb = 0;
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %zu kB", &kb) == 1) break;
        fclose(f);
    }
    if (kb) return kb * 1024;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024; /* Linux: kilobytes */
}

/* Multiply-adds of a node's backward per example: the weight gradient when it has
   trainable parameters plus the input gradient when one is needed (each as many
   multiply-adds as the forward, as for convolution and linear layers). */
static double backward_macs(const cnn_node *n)
{
    int k = 0;
    for (int i = 0; i < cnn_node_num_params(n); i++) {
        const cnn_param *p = cnn_node_param_at(n, i);
        if (p->trainable && p->role == CNN_PARAM_WEIGHT) {
            k++;
            break;
        }
    }
    for (int j = 0; j < cnn_node_num_inputs(n); j++)
        if (cnn_node_grad(cnn_node_input(n, j)).data) {
            k++;
            break;
        }
    return (double)cnn_node_cost(n).macs * (k ? k : 1);
}

/* Elements of v's value at this batch. */
static double value_elems(const cnn_node *v, int batch)
{
    return (double)cnn_node_per_example(v) * (cnn_node_batched(v) ? batch : 1);
}

/* Bytes an eval forward of n moves at least once: its inputs, its output, its
   parameters and, fused into a convolution, the residual its epilogue adds. */
static double layer_bytes(const cnn_graph *g, const cnn_node *n, int batch)
{
    cnn_layer_profile lp;
    if (cnn_graph_profile(g, n, batch, &lp) != CNN_OK) return 0.0;
    if (strcmp(lp.kernel, "in place") == 0) return 0.0; /* a concat computed in place copies nothing */
    double b = 0.0;
    for (int j = 0; j < cnn_node_num_inputs(n); j++) b += value_elems(cnn_node_input(n, j), batch);
    b += value_elems(lp.n_chain ? lp.chain[lp.n_chain - 1] : n, batch); /* the chain's value */
    for (int j = 0; j < lp.n_chain; j++) /* values a stage adds */
        for (int k = 0; k < cnn_node_num_inputs(lp.chain[j]); k++)
            if (k != lp.chain_in[j])
                b += (double)cnn_node_per_example(cnn_node_input(lp.chain[j], k)) * batch;
    for (int i = 0; i < cnn_node_num_params(n); i++)
        b += (double)cnn_tensor_numel(&cnn_node_param_at(n, i)->value);
    return 4.0 * b;
}

/* How a node's value is stored between layers (NCHW and its kin, or nChw16c where
   the blocked layout pass keeps it blocked, docs/architecture.md "Blocked layout"),
   and who computes its forward (the kernel a convolution runs, the backend of a
   table entry, or "ops"): the executor's profile of the layer (cnn_graph_profile).
   Copied into buf. */
static const char *layer_layout(const cnn_graph *g, const cnn_node *n, char *buf, size_t size)
{
    cnn_layer_profile lp;
    snprintf(buf, size, "%s", cnn_graph_profile(g, n, 1, &lp) == CNN_OK ? lp.layout : "?");
    return buf;
}

static const char *layer_kernel(const cnn_graph *g, const cnn_node *n, int batch, char *buf, size_t size)
{
    cnn_layer_profile lp;
    snprintf(buf, size, "%s", cnn_graph_profile(g, n, batch, &lp) == CNN_OK ? lp.kernel : "?");
    return buf;
}

/* Roofline: a layer whose FLOPs per byte moved reach the machine's peak / bandwidth
   is bound by the FP32 peak, else by memory; *pct = its share of that limit. */
static const char *layer_limit(double gflops, double gbps, double flops_per_byte, double peak,
                               double stream, double *pct)
{
    if (peak > 0 && stream > 0 && flops_per_byte < peak / stream) {
        *pct = 100.0 * gbps / stream;
        return "STREAM";
    }
    *pct = peak > 0 ? 100.0 * gflops / peak : 0.0;
    return "peak";
}

/* Rows of the --layers table: nodes that ran and compute (not graph inputs). */
static bool layer_row(const cnn_node *n)
{
    const char *op = cnn_node_op(n);
    return cnn_node_profile_get(n).calls > 0 && strcmp(op, "input") && strcmp(op, "labels");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

/* Per-op-kind totals for --layers. */
typedef struct op_total {
    const char *op;
    int count;
    double macs, bmacs, fwd_s, bwd_s;
} op_total;

static const char USAGE[] =
    "usage: cnn bench MODEL|CHECKPOINT [--input CxHxW] [--batch B] [--train] [--iters N] [--warmup N]\n"
    "                 [--threads T] [--backend NAME] [--json] [--layers] [--peak GFLOPS]\n"
    "                 [--no-fusion] [--classes N] [--width A] [--set k=v] [--stream GBPS]\n"
    "Times inference (eval mode, forward to the logits) or, with --train, a training step\n"
    "(forward + cross-entropy + backward + SGD momentum) on random data; prints images/s,\n"
    "ms per batch (median and mean), the planned activation arena and peak RSS.\n"
    "--layers: per-layer layout, kernel (backend and which of its kernels), forward (and\n"
    "backward) ms, GFLOP/s = 2*MACs*batch/time, GB/s = bytes moved (inputs, output,\n"
    "parameters) / time, and % of the limit that binds the layer (roofline): the FP32 peak\n"
    "(an FMA loop measured at start unless --peak) or STREAM triad bandwidth (measured\n"
    "after the run unless --stream); totals per op kind.\n"
    "Backward FLOPs count the weight and input gradients, each as many MACs as forward.";

int cmd_bench(int argc, char **argv)
{
    bool train = false, json = false, layers = false, no_fusion = false;
    int iters = 10, warmup = 2, seed = 0;
    float peak_arg = 0.0f, stream_arg = 0.0f, lr = 0.01f, momentum = 0.9f;
    cli_model_args ma = {0};
    ma.batch = 1;
    const cli_opt opts[] = {
        CLI_OPT_BATCH(&ma.batch, "batch size (default 1)"),
        CLI_OPT_TRAIN(&train, "time a training step instead of inference"),
        {"iters", OPT_INT, &iters, "timed iterations (default 10)"},
        CLI_OPT_WARMUP(&warmup, "untimed iterations first (default 2)"),
        CLI_OPT_JSON(&json, "print one JSON object"),
        {"layers", OPT_BOOL, &layers, "per-layer times, GFLOP/s and % of peak"},
        {"peak", OPT_FLOAT, &peak_arg, "FP32 peak in GFLOP/s (default: measured)"},
        {"stream", OPT_FLOAT, &stream_arg, "memory bandwidth in GB/s for --layers (default: measured)"},
        CLI_OPT_LR(&lr, "SGD learning rate for --train (default 0.01)"),
        CLI_OPT_MOMENTUM(&momentum, "SGD momentum for --train (default 0.9)"),
        CLI_OPT_SEED(&seed, "seed of weights and random data (default 0)"),
        {"no-fusion", OPT_BOOL, &no_fusion,
         "inference without the graph passes (conv + BN + add + activation fusion)"},
        CLI_MODEL_OPTS(&ma),
    };
    const char *pos[1];
    int n_pos;
    int r = cli_parse(argc, argv, 2, opts, sizeof opts / sizeof opts[0], pos, 1, &n_pos, USAGE);
    if (r) return r == 1 ? 0 : 2;
    if (n_pos != 1) {
        fprintf(stderr, "%s\n", USAGE);
        return 2;
    }
    if (iters < 1 || warmup < 0 || ma.batch < 1 || peak_arg < 0 || stream_arg < 0) {
        fprintf(stderr, "cnn: bench: --iters and --batch must be >= 1, --warmup, --peak and --stream >= 0\n");
        return 2;
    }
    cnn_model_opts mo;
    if (!cli_model_opts(&ma, &mo)) return 2;
    int threads = cnn_get_threads();
    const char *isa = "given";
    double peak = peak_arg > 0 ? (double)peak_arg : measure_peak(threads, &isa);

    cnn_model m;
    struct stat st;
    if (stat(pos[0], &st) == 0) { /* a checkpoint (an int8 one runs its int8 kernels) */
        if (cnn_model_load(pos[0], mo.batch, &m) != CNN_OK) return cli_fail(pos[0]);
    } else if (cnn_model_new(pos[0], &mo, 0.0f, &m) != CNN_OK) {
        return cli_fail("bench");
    }
    int rc = 0, batch = mo.batch;
    cnn_optimizer *opt = NULL;
    float *x = NULL, *y = NULL;
    double *times = NULL;
    op_total *tot = NULL;
    if ((no_fusion && cnn_graph_set_fusion(m.g, false) != CNN_OK) ||
        cnn_graph_compile(m.g, (uint64_t)seed) != CNN_OK) {
        rc = cli_fail("bench");
        goto done;
    }
    size_t rss_compiled = peak_rss_bytes(); /* model built: what running adds comes after */
    cnn_memory_plan mp = cnn_graph_memory_plan(m.g);
    cnn_tensor in = cnn_node_value(m.input);
    size_t in_n = cnn_tensor_numel(&in); /* at the built (= run) batch */
    x = malloc(in_n * sizeof *x);
    y = malloc((size_t)batch * sizeof *y);
    times = malloc((size_t)iters * sizeof *times);
    tot = calloc((size_t)cnn_graph_num_nodes(m.g), sizeof *tot);
    if (!x || !y || !times || !tot) {
        fprintf(stderr, "cnn: bench: out of memory\n");
        rc = 1;
        goto done;
    }
    cnn_rng rng;
    cnn_rng_seed(&rng, (uint64_t)seed + 1);
    for (size_t i = 0; i < in_n; i++) x[i] = cnn_rng_normal(&rng);
    for (int i = 0; i < batch && m.classes > 0; i++) y[i] = (float)cnn_rng_below(&rng, (uint32_t)m.classes);
    if (train && !m.loss) {
        cnn_set_error(CNN_ERR_UNSUPPORTED, "model '%s' has no (N, classes) output to train", m.name);
        rc = cli_fail("bench");
        goto done;
    }
    cnn_graph_set_training(m.g, train);
    /* inference: the weights stay as compiled (packed once, as ONNX Runtime does) */
    if (!train) cnn_graph_set_const_weights(m.g, true);
    if (train) {
        cnn_optim_opts oo = {.kind = CNN_OPTIM_SGD, .lr = lr, .momentum = momentum};
        opt = cnn_optimizer_new(m.g, &oo);
        if (!opt) {
            rc = cli_fail("bench");
            goto done;
        }
    }
    if (cnn_graph_set_input(m.g, m.input, x, batch) != CNN_OK ||
        (m.labels && cnn_graph_set_input(m.g, m.labels, y, batch) != CNN_OK)) {
        rc = cli_fail("bench");
        goto done;
    }
    for (int it = 0; it < warmup + iters; it++) {
        if (it == warmup && layers) cnn_graph_set_profiling(m.g, true); /* resets counters */
        double t0 = now_s();
        cnn_status s;
        if (train) {
            s = cnn_graph_forward(m.g);
            if (s == CNN_OK) s = cnn_graph_backward(m.g, m.loss);
            if (s == CNN_OK) s = cnn_optimizer_step(opt);
        } else {
            s = cnn_graph_forward_until(m.g, m.logits);
        }
        if (s != CNN_OK) {
            rc = cli_fail("bench");
            goto done;
        }
        if (it >= warmup) times[it - warmup] = now_s() - t0;
    }

    /* ---- summary */
    double mean = 0.0;
    for (int i = 0; i < iters; i++) mean += times[i];
    mean /= iters;
    qsort(times, (size_t)iters, sizeof *times, cmp_double);
    /* a peak measured on a busy machine is too low: measure again after the run and
       keep the better of the two (still an estimate; --peak gives the machine's figure) */
    if (peak_arg <= 0) {
        double again = measure_peak(threads, &isa);
        if (again > peak) peak = again;
    }
    double median = iters % 2 ? times[iters / 2] : 0.5 * (times[iters / 2 - 1] + times[iters / 2]);
    double ips = median > 0 ? batch / median : 0.0;
    cnn_cost cost = cnn_graph_cost(m.g);
    /* training: forward + weight gradients + input gradients ~ 3x the forward MACs */
    double step_flops = 2.0 * (double)cost.macs * batch * (train ? 3.0 : 1.0);
    double gflops = median > 0 ? step_flops / median / 1e9 : 0.0;
    size_t arena = cnn_graph_arena_bytes(m.g, train), rss = peak_rss_bytes();
    /* the bandwidth only matters to the per-layer limits: measured after the run and after
       the RSS is read (its 192 MiB of arrays are not the model's) */
    double stream = !layers ? 0.0 : stream_arg > 0 ? (double)stream_arg : measure_stream(threads);
    char shape[96];
    /* CxHxW (CxDxHxW) as --input takes it */
    size_t len = 0;
    shape[0] = '\0';
    for (int d = 1; d < in.ndim && len < sizeof shape; d++)
        len += (size_t)snprintf(shape + len, sizeof shape - len, "%s%d", d > 1 ? "x" : "", in.dims[d]);

    /* ---- per layer (computed for both outputs) */
    int n_nodes = cnn_graph_num_nodes(m.g), n_ops = 0;
    double layer_sum = 0.0;
    if (layers)
        for (int i = 0; i < n_nodes; i++) {
            cnn_node *n = cnn_graph_node(m.g, i);
            cnn_node_profile p = cnn_node_profile_get(n);
            if (!layer_row(n)) continue;
            int k = 0;
            while (k < n_ops && strcmp(tot[k].op, cnn_node_op(n))) k++;
            if (k == n_ops) tot[n_ops++].op = cnn_node_op(n);
            tot[k].count++;
            tot[k].macs += (double)cnn_node_cost(n).macs;
            tot[k].bmacs += train ? backward_macs(n) : 0.0;
            tot[k].fwd_s += p.forward_s / (double)p.calls;
            tot[k].bwd_s += p.backward_s / (double)p.calls;
            layer_sum += (p.forward_s + p.backward_s) / (double)p.calls;
        }

    if (json) {
        printf("{\"model\": ");
        json_str(m.name);
        printf(", \"input\": \"%s\", \"batch\": %d, \"train\": %s, \"threads\": %d, \"backend\": ", shape,
               batch, train ? "true" : "false", threads);
        json_str(cnn_backend_name());
        printf(", \"iters\": %d, \"warmup\": %d, \"images_per_s\": %.3f, \"ms_per_batch\": %.4f, "
               "\"ms_per_batch_mean\": %.4f, \"ms_per_batch_min\": %.4f, \"params\": %lld, "
               "\"macs_per_example\": %lld, \"gflops\": %.3f, \"peak_gflops\": %.3f, "
               "\"arena_bytes\": %zu, \"scratch_bytes\": %zu, \"saved_bytes\": %zu, "
               "\"peak_rss_bytes\": %zu, \"rss_after_compile_bytes\": %zu",
               iters, warmup, ips, median * 1e3, mean * 1e3, times[0] * 1e3, (long long)cost.params,
               (long long)cost.macs, gflops, peak, arena, train ? mp.scratch_training : mp.scratch, mp.saved,
               rss, rss_compiled);
        if (layers) {
            printf(", \"stream_gbps\": %.3f, \"layers\": [", stream);
            int first = 1;
            for (int i = 0; i < n_nodes; i++) {
                cnn_node *n = cnn_graph_node(m.g, i);
                cnn_node_profile p = cnn_node_profile_get(n);
                if (!layer_row(n)) continue;
                cnn_tensor v = cnn_node_value(n);
                printf("%s\n  {\"name\": ", first ? "" : ",");
                first = 0;
                json_str(cnn_node_name(n));
                printf(", \"op\": \"%s\", \"shape\": [", cnn_node_op(n));
                for (int d = 0; d < v.ndim; d++) printf("%s%d", d ? ", " : "", v.dims[d]);
                double f = p.forward_s / (double)p.calls, b = p.backward_s / (double)p.calls;
                double macs = (double)cnn_node_cost(n).macs;
                double bytes = layer_bytes(m.g, n, batch), fg = f > 0 ? 2.0 * macs * batch / f / 1e9 : 0.0;
                double gbps = f > 0 ? bytes / f / 1e9 : 0.0, pct;
                const char *lim = layer_limit(fg, gbps, 2.0 * macs * batch / bytes, peak, stream, &pct);
                char kb[64], lb[32];
                printf("], \"layout\": \"%s\", \"kernel\": ", layer_layout(m.g, n, lb, sizeof lb));
                json_str(layer_kernel(m.g, n, batch, kb, sizeof kb));
                printf(", \"macs\": %.0f, \"bytes\": %.0f, \"forward_ms\": %.4f, \"backward_ms\": %.4f, "
                       "\"forward_gflops\": %.3f, \"forward_gbps\": %.3f, \"limit\": \"%s\", "
                       "\"limit_pct\": %.2f, \"backward_gflops\": %.3f}",
                       macs, bytes, f * 1e3, b * 1e3, fg, gbps, lim, pct,
                       train && b > 0 ? 2.0 * backward_macs(n) * batch / b / 1e9 : 0.0);
            }
            printf("\n]");
        }
        printf("}\n");
        goto done;
    }

    printf("cnn bench %s%s: input %s, batch %d, %s, backend %s, %d thread%s\n", m.name,
           cnn_graph_num_int8(m.g) ? " (int8)" : "", shape, batch,
           train ? "training (forward + backward + SGD momentum)" : "inference (eval mode, to the logits)",
           cnn_backend_name(), threads, threads == 1 ? "" : "s");
    printf("  %lld parameters, %.4f GMACs per example; %d warm-up + %d timed iterations\n",
           (long long)cost.params, (double)cost.macs / 1e9, warmup, iters);
    printf("  ms per batch: median %.3f, mean %.3f, min %.3f, max %.3f\n", median * 1e3, mean * 1e3,
           times[0] * 1e3, times[iters - 1] * 1e3);
    printf("  images/s: %.1f (median)\n", ips);
    printf("  arithmetic: %.2f GFLOP/s = %.1f%% of FP32 peak %.1f GFLOP/s (%s%s)\n", gflops,
           peak > 0 ? 100.0 * gflops / peak : 0.0, peak, isa,
           peak_arg > 0 ? "" : ", an estimate: best FMA loop before and after the run; --peak sets it");
    printf("  memory: activation arena %.2f MiB (planned, %s), kernel scratch %.2f MiB, saved "
           "state %.2f MiB; peak RSS %.2f MiB (%.2f MiB after compile)\n",
           (double)arena / 1048576.0, train ? "training" : "inference",
           (double)(train ? mp.scratch_training : mp.scratch) / 1048576.0,
           (double)mp.saved / 1048576.0, (double)rss / 1048576.0, (double)rss_compiled / 1048576.0);
    if (!layers) goto done;

    double max_pct = 0.0;
    printf("  limits: FP32 peak %.1f GFLOP/s, memory %.1f GB/s (%s); a layer below %.1f FLOP/byte "
           "is bound by memory\n",
           peak, stream, stream_arg > 0 ? "given" : "STREAM triad measured after the run",
           stream > 0 ? peak / stream : 0.0);
    printf("\n%-32s %-14s %-18s %-7s %-20s %10s %9s", "layer", "op", "output shape", "layout", "kernel",
           "MMACs", "fwd ms");
    if (train) printf(" %9s", "bwd ms");
    printf(" %6s %9s %6s %8s %7s %-6s", "time%", "fwd GF/s", "peak%", "GB/s", "limit%", "of");
    if (train) printf(" %9s %6s", "bwd GF/s", "peak%");
    printf("\n");
    for (int i = 0; i < n_nodes; i++) {
        cnn_node *n = cnn_graph_node(m.g, i);
        cnn_node_profile p = cnn_node_profile_get(n);
        if (!layer_row(n)) continue;
        cnn_tensor v = cnn_node_value(n);
        double f = p.forward_s / (double)p.calls, b = p.backward_s / (double)p.calls;
        double macs = (double)cnn_node_cost(n).macs;
        double fg = f > 0 ? 2.0 * macs * batch / f / 1e9 : 0.0;
        cnn_shape_str(v.ndim, v.dims, shape, sizeof shape);
        char kb[64], lb[32];
        double bytes = layer_bytes(m.g, n, batch), gbps = f > 0 ? bytes / f / 1e9 : 0.0, pct;
        const char *lim = layer_limit(fg, gbps, 2.0 * macs * batch / bytes, peak, stream, &pct);
        printf("%-32.32s %-14.14s %-18.18s %-7.7s %-20.20s %10.3f %9.3f", cnn_node_name(n), cnn_node_op(n),
               shape, layer_layout(m.g, n, lb, sizeof lb), layer_kernel(m.g, n, batch, kb, sizeof kb), macs / 1e6,
               f * 1e3);
        if (train) printf(" %9.3f", b * 1e3);
        printf(" %6.1f %9.2f %6.1f %8.2f %7.1f %-6s", layer_sum > 0 ? 100.0 * (f + b) / layer_sum : 0.0,
               fg, peak > 0 ? 100.0 * fg / peak : 0.0, gbps, pct, lim);
        if (peak > 0 && 100.0 * fg / peak > max_pct) max_pct = 100.0 * fg / peak;
        if (train) {
            double bg = b > 0 ? 2.0 * backward_macs(n) * batch / b / 1e9 : 0.0;
            printf(" %9.2f %6.1f", bg, peak > 0 ? 100.0 * bg / peak : 0.0);
            if (peak > 0 && 100.0 * bg / peak > max_pct) max_pct = 100.0 * bg / peak;
        }
        printf("\n");
    }
    if (max_pct > 100.0)
        printf("(peak%% above 100: %s peak of %.1f GFLOP/s is below what a kernel reached: %s, or a "
               "direct / Winograd kernel skips multiply-adds the count includes)\n",
               peak_arg > 0 ? "the given" : "the estimated", peak,
               peak_arg > 0 ? "a --peak lower than the machine's" : "the machine was busy while it was measured");
    int fused = 0;
    for (int i = 0; i < n_nodes; i++) {
        cnn_node *n = cnn_graph_node(m.g, i);
        const char *op = cnn_node_op(n);
        if (cnn_node_profile_get(n).calls == 0 && strcmp(op, "input") && strcmp(op, "labels"))
            fused++;
    }
    if (fused)
        printf("(%d more layers ran inside the rows above: batch norm, residual add and activation "
               "fused into the convolution before them, SE gates into the 1x1 convolution after them "
               "(+gate); --no-fusion lists them)\n",
               fused);
    printf("\nper op kind:\n%-18s %6s %10s %9s", "op", "count", "MMACs", "fwd ms");
    if (train) printf(" %9s", "bwd ms");
    printf(" %6s %9s %6s\n", "time%", "GF/s", "peak%");
    for (int k = 0; k < n_ops; k++) {
        double t = tot[k].fwd_s + tot[k].bwd_s;
        double g = t > 0 ? 2.0 * (tot[k].macs + tot[k].bmacs) * batch / t / 1e9 : 0.0;
        printf("%-18.18s %6d %10.3f %9.3f", tot[k].op, tot[k].count, tot[k].macs / 1e6, tot[k].fwd_s * 1e3);
        if (train) printf(" %9.3f", tot[k].bwd_s * 1e3);
        printf(" %6.1f %9.2f %6.1f\n", layer_sum > 0 ? 100.0 * t / layer_sum : 0.0, g,
               peak > 0 ? 100.0 * g / peak : 0.0);
    }
    printf("sum of layers %.3f ms of %.3f ms mean per batch (the rest: %s)\n", layer_sum * 1e3, mean * 1e3,
           train ? "gradient zeroing, optimizer step, timers" : "timers, dispatch");
done:
    free(x);
    free(y);
    free(times);
    free(tot);
    cnn_optimizer_free(opt);
    cnn_model_free(&m);
    return rc;
}
