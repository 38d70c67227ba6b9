/* Which of the cpu backend's convolution kernels a forward runs, by name, for
   `cnn bench --layers` (docs/architecture.md, "Benchmarks"). Follows the dispatch of
   backend_cpu.c's cpu_conv_forward; keep the two in step. */
#include "cpu_internal.h"

const char *cnn_cpu_conv_kernel(const cnn_conv_desc *c)
{
    if (cnn_cpu_is_depthwise(c)) return "cpu dw";
    if (cnn_tap_conv_use(c)) return "cpu tap";
    if (cnn_thin_conv_use(c)) return "cpu thin";
    return cnn_dnnl_conv_kernel(c);
}
