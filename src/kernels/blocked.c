/* The blocked layout's kernel entry points (docs/architecture.md, "Blocked layout"):
   the cpu backend runs it where it was built with oneDNN on an AVX-512 machine (oneDNN's
   16-channel blocks); every other backend keeps every tensor plain. */
#include <string.h>

#include "kernels.h"

void cnn_blocked_zero_tail(int n, int c, size_t spatial, float *y)
{
    typedef int v16i __attribute__((vector_size(64)));
    typedef int v16iu __attribute__((vector_size(64), aligned(4), may_alias));
    const int B = 16, CB = (c + B - 1) / B, lo = c % B;
    if (!lo) return;
    v16i keep;
    for (int l = 0; l < B; l++) keep[l] = l < lo ? -1 : 0;
    for (int i = 0; i < n; i++) {
        float *p = y + ((size_t)i * CB + (size_t)(CB - 1)) * spatial * B;
        for (size_t s = 0; s < spatial; s++) *(v16iu *)(p + s * B) &= keep;
    }
}

#ifdef CNN_HAVE_CPU_BACKEND
#include "cpu/cpu_internal.h"

static bool cpu_in_use(void) { return cnn_backend_get()->conv_forward == cnn_backend_cpu.conv_forward; }

int cnn_blocked_width(void)
{
    if (!cpu_in_use()) return 0;
    /* a 16-channel dense layer oneDNN takes blocked says whether this build and CPU can */
    cnn_conv_desc d = {1, 16, 16, 1, {1, 8, 8}, {1, 8, 8}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}};
    return cnn_dnnl_conv_blocked_ok(&d) ? 16 : 0;
}

bool cnn_conv_blocked_ok(const cnn_conv_desc *c, bool *depthwise)
{
    *depthwise = false;
    if (!cnn_blocked_width()) return false;
    if (cnn_blocked_dw_ok(c)) {
        *depthwise = true;
        return true;
    }
    /* oneDNN's blocked primitive (channels padded to whole blocks); the scratch of the
       cpu backend's forward covers it (cnn_dnnl_conv_scratch_blocked) */
    return !cnn_cpu_is_depthwise(c) && !cnn_tap_conv_use(c) && cnn_dnnl_conv_blocked_ok(c);
}

bool cnn_conv_blocked_gate_use(const cnn_conv_desc *c) { return cpu_in_use() && cnn_blocked_pw_gate_use(c); }

bool cnn_conv_forward_blocked(const cnn_conv_desc *c, const float *x, bool x_blocked,
                              const float *w, const float *b, float *y, bool y_blocked,
                              const cnn_blocked_epi *epi, void *scratch, uint64_t wgen)
{
    if (!cpu_in_use()) return false;
    if (epi && epi->gate) { /* an SE gate on x: only the own 1x1 kernel reads it */
        if (!x_blocked || !y_blocked || !cnn_blocked_pw_gate_ok(c)) return false;
        cnn_blocked_pw_forward(c, x, x_blocked, w, b, y, epi, scratch, wgen);
        return true;
    }
    if (cnn_cpu_is_depthwise(c)) {
        if (!x_blocked || !y_blocked || !cnn_blocked_dw_ok(c)) return false;
        cnn_blocked_dw_forward(c, x, w, b, y, epi);
        return true;
    }
    if (y_blocked && !x_blocked && cnn_blocked_stem_use(c)) { /* a first layer, epilogue fused */
        cnn_blocked_stem_forward(c, x, w, b, y, epi, scratch);
        return true;
    }
    if (y_blocked && cnn_blocked_pw_use(c, x_blocked, wgen)) { /* the own 1x1 kernel, epilogue fused */
        cnn_blocked_pw_forward(c, x, x_blocked, w, b, y, epi, scratch, wgen);
        return true;
    }
    if (y_blocked && cnn_blocked_conv_use(c, x_blocked)) { /* own dense kernel, epilogue fused */
        cnn_blocked_conv_forward(c, x, x_blocked, w, b, y, epi, scratch, wgen);
        return true;
    }
    if (epi && y_blocked && cnn_dnnl_conv_forward_blocked_epi(c, x, x_blocked, w, b, y, epi, scratch, wgen))
        return true; /* epilogue inside oneDNN's call (constant weights) */
    if (!cnn_dnnl_conv_forward_blocked(c, x, x_blocked, w, b, y, y_blocked, scratch, wgen)) return false;
    if (epi && y_blocked)
        cnn_blocked_epilogue(epi, c->n, c->c_out, (size_t)c->out[0] * c->out[1] * c->out[2], y);
    return true;
}

const char *cnn_conv_blocked_kernel(const cnn_conv_desc *c)
{
    return cnn_conv_blocked_kernel_io(c, true, true, 0);
}

void cnn_conv_forget_kept(const void *lo, size_t bytes)
{
    cnn_cpu_kept_forget(lo, bytes);
}

const char *cnn_conv_blocked_kernel_io(const cnn_conv_desc *c, bool x_blocked, bool y_blocked, uint64_t wgen)
{
    if (cnn_cpu_is_depthwise(c)) return "cpu dw";
    if (y_blocked && !x_blocked && cnn_blocked_stem_use(c)) return "cpu stem";
    if (y_blocked && cnn_blocked_pw_use(c, x_blocked, wgen)) return "cpu pw";
    if (y_blocked && cnn_blocked_conv_use(c, x_blocked)) return "cpu conv";
    return strncmp(cnn_dnnl_conv_kernel(c), "dnnl wino", 9) == 0 ? "dnnl wino" : "dnnl";
}
#else
int cnn_blocked_width(void) { return 0; }
void cnn_conv_forget_kept(const void *lo, size_t bytes) { (void)lo, (void)bytes; }
const char *cnn_conv_blocked_kernel(const cnn_conv_desc *c) { return (void)c, "ref"; }
bool cnn_conv_blocked_gate_use(const cnn_conv_desc *c) { return (void)c, false; }
const char *cnn_conv_blocked_kernel_io(const cnn_conv_desc *c, bool x_blocked, bool y_blocked, uint64_t wgen)
{
    (void)c, (void)x_blocked, (void)y_blocked, (void)wgen;
    return "ref";
}
bool cnn_conv_blocked_ok(const cnn_conv_desc *c, bool *depthwise)
{
    (void)c;
    *depthwise = false;
    return false;
}
bool cnn_conv_forward_blocked(const cnn_conv_desc *c, const float *x, bool x_blocked,
                              const float *w, const float *b, float *y, bool y_blocked,
                              const cnn_blocked_epi *epi, void *scratch, uint64_t wgen)
{
    (void)c, (void)x, (void)x_blocked, (void)w, (void)b, (void)y, (void)y_blocked, (void)epi, (void)scratch;
    (void)wgen;
    return false;
}
#endif
