/* libFuzzer target: the .npy reader. */
#include "fuzz.h"

int cnn_fuzz_npy(const uint8_t *data, size_t size)
{
    const char *p = cnn_fuzz_file(0, "in.npy", data, size);
    cnn_tensor t = {0};
    if (cnn_npy_load(p, &t) == CNN_OK) {
        volatile float s = 0;
        size_t n = cnn_tensor_numel(&t);
        for (size_t k = 0; k < n; k++) s += t.data[k];
        (void)s;
        cnn_tensor_free(&t);
    }
    return 0;
}
CNN_FUZZ_ENTRY(cnn_fuzz_npy)
