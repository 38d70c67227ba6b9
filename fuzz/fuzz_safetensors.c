/* libFuzzer target: the safetensors reader (load, every lookup, metadata). */
#include "fuzz.h"

int cnn_fuzz_safetensors(const uint8_t *data, size_t size)
{
    const char *p = cnn_fuzz_file(0, "in.safetensors", data, size);
    cnn_tensor_file *f = NULL;
    if (cnn_safetensors_load(p, &f) == CNN_OK) {
        for (int i = 0; i < cnn_tensor_file_count(f); i++) {
            cnn_tensor t;
            const char *name = cnn_tensor_file_name(f, i);
            if (cnn_tensor_file_get(f, name, &t) != CNN_OK) abort(); /* every listed name is found */
            volatile float s = 0;
            size_t n = cnn_tensor_numel(&t);
            for (size_t k = 0; k < n; k++) s += t.data[k];
            (void)s;
        }
        (void)cnn_tensor_file_meta(f, "cnn.model");
        cnn_tensor_file_free(f);
    }
    return 0;
}
CNN_FUZZ_ENTRY(cnn_fuzz_safetensors)
