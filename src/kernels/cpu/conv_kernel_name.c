/* Which of the cpu backend's convolution kernels a forward runs, by name, for
   `cnn bench --layers` (docs/architecture.md, "Benchmarks"): the path the table's
   entries take (cnn_cpu_conv_path_of). */
#include "cpu_internal.h"

const char *cnn_cpu_conv_kernel(const cnn_conv_desc *c)
{
    static const char *const names[] = {[CNN_CPU_CONV_DW] = "cpu dw",
                                        [CNN_CPU_CONV_TAP] = "cpu tap",
                                        [CNN_CPU_CONV_THIN] = "cpu thin"};
    cnn_cpu_conv_path p = cnn_cpu_conv_path_of(c);
    return p == CNN_CPU_CONV_DNNL ? cnn_dnnl_conv_kernel(c) : names[p];
}
