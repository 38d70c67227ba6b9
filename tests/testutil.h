/* Shared test helpers: cmocka, random fills, a naive-reference comparison and the
   finite-difference gradient check every operator test uses. */
#ifndef CNN_TESTUTIL_H
#define CNN_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cnn.h"

/* Uniform in [lo, hi). */
void tu_fill(float *x, size_t n, float lo, float hi, cnn_rng *rng);
/* Max |a - b| / (atol + rtol |b|) over n values; <= 1 means all within tolerance.
   On failure prints the worst index and both values with `what`. */
int tu_close(const float *a, const float *b, size_t n, float atol, float rtol, const char *what);
/* Asserts tu_close passes. */
#define TU_ASSERT_CLOSE(a, b, n, atol, rtol, what) \
    assert_true(tu_close((a), (b), (n), (atol), (rtol), (what)))

/* Gradient check of `out` with respect to every input in `inputs` (marked with
   cnn_input_requires_grad) and every trainable parameter, by central differences.
   L = sum(r * out) with fixed random r. Forward runs in training mode with the graph
   RNG restored before each pass (dropout masks stay fixed). Inputs are filled by the
   caller (cnn_graph_set_input) before the call.
   eps: step; tol: |analytic - numeric| <= tol * (1 + |numeric|) per element.
   At most max_checks elements per tensor are probed (evenly spread).
   Returns the number of mismatches (0 = pass) and prints each. */
int tu_gradcheck(cnn_graph *g, cnn_node *out, cnn_node **inputs, int n_inputs, double eps,
                 double tol, int max_checks);

/* Builds the compile + input + forward boilerplate: copies data into `in` (batch
   from its shape) and runs forward; fails the test on error. */
void tu_forward(cnn_graph *g, cnn_node *in, const float *data, int batch);

/* Fails the test (with the library's message) unless s == CNN_OK. */
#define TU_OK(expr)                                                                  \
    do {                                                                             \
        cnn_status tu__s = (expr);                                                   \
        if (tu__s != CNN_OK) fail_msg("%s -> %s: %s", #expr, cnn_status_name(tu__s), \
                                      cnn_error_message());                          \
    } while (0)

/* Skips the running cmocka test, printing why, and remembers the skip: a test
   program ends with `return tu_exit_status(cmocka_run_group_tests(...))`, which turns
   a run with no failure but a skip into TU_SKIP_CODE, reported by CTest as "Skipped"
   (SKIP_RETURN_CODE in CMakeLists.txt), never as a pass. */
#define TU_SKIP_CODE 77
extern int tu_skipped;
#define tu_skip(...)                  \
    do {                              \
        print_message("skipped: ");   \
        print_message(__VA_ARGS__);   \
        print_message("\n");          \
        tu_skipped++;                 \
        skip();                       \
    } while (0)
int tu_exit_status(int failures);

/* True when CNN_TEST_QUICK is set (the sanitizer run): tests may shrink their work. */
int tu_quick(void);

/* A builder call that must fail: n is NULL, the graph holds status s and a message
   containing needle. Frees g. */
void tu_expect_error(cnn_graph *g, cnn_node *n, cnn_status s, const char *needle);

/* Fill a tensor / every parameter of a graph by the fixture formula shared with
   tools/fixturelib.py (formula_value): big models' parity fixtures need no weights. */
void tu_formula_fill(const char *name, cnn_tensor *t);
void tu_formula_weights(cnn_graph *g);

/* A small IDX dataset in dir: DIR/PREFIX-images-idx3-ubyte and -labels-idx1-ubyte, n
   28x28 images of 4 classes (a bright 8x8 square in one quadrant on noise), from seed:
   what the CLI tests train and evaluate on (--data idx:DIR). */
void tu_write_idx(const char *dir, const char *prefix, int n, uint64_t seed);

/* Runs a shell command (printf-style, e.g. the CLI: "%s train ...") inside dir (NULL:
   the current directory), with stderr into the output too unless quiet_err (then it
   is discarded); its output, truncated to size - 1 bytes, into out. Returns the exit
   status, or -1 if the command did not exit (a signal). What the CLI tests share. */
int tu_vrun(char *out, size_t size, const char *dir, int quiet_err, const char *fmt, va_list ap);
int tu_run(char *out, size_t size, const char *dir, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Optional features of this build (docs/architecture.md, "Build options"). */
#ifdef CNN_HAVE_PNG
#define TU_HAVE_PNG 1
#else
#define TU_HAVE_PNG 0
#endif
#ifdef CNN_HAVE_JPEG
#define TU_HAVE_JPEG 1
#else
#define TU_HAVE_JPEG 0
#endif
#ifdef CNN_HAVE_MATIO
#define TU_HAVE_MATIO 1
#else
#define TU_HAVE_MATIO 0
#endif
#ifdef CNN_HAVE_DNNL
#define TU_HAVE_DNNL 1
#else
#define TU_HAVE_DNNL 0
#endif
/* Skips the current test unless `have` (a TU_HAVE_ flag): cmocka reports it skipped
   and tu_exit_status makes the executable exit TU_SKIP_CODE, which CTest reports as a
   skip. */
#define TU_NEEDS(have, feature)          \
    do {                                 \
        if (!(have)) {                   \
            tu_skipped_feature(feature); \
            skip();                      \
        }                                \
    } while (0)
void tu_skipped_feature(const char *feature);
/* Asserts s is CNN_ERR_UNSUPPORTED with a message naming `lib` ("not built with
   <lib>"): what a build without the feature answers. */
void tu_expect_not_built(cnn_status s, const char *lib);
#endif
