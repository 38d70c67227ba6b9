/* libFuzzer target: hyperspectral cubes and labels from .mat files (matio), rank 3 or
   2 from the first byte. Findings inside Debian's matio are reported, not patched. */
#include "fuzz.h"

int cnn_fuzz_mat(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = cnn_fuzz_file(0, "in.mat", data + 1, size - 1);
    cnn_tensor t = {0};
    if (cnn_hsi_read(p, NULL, (data[0] & 1) ? 3 : 2, &t) == CNN_OK) cnn_tensor_free(&t);
    return 0;
}
CNN_FUZZ_ENTRY(cnn_fuzz_mat)
