/* libFuzzer target: the IDX reader (an image file and a label file, split from the
   input at the offset in its first two bytes; gzip or raw, from the content). */
#include "../src/data/data_internal.h"
#include "fuzz.h"

int cnn_fuzz_idx(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t cut = ((size_t)data[0] << 8 | data[1]) % (size - 1);
    const char *im = cnn_fuzz_file(0, "images-idx3-ubyte", data + 2, cut);
    const char *lb = cnn_fuzz_file(1, "labels-idx1-ubyte", data + 2 + cut, size - 2 - cut);
    cnn_dataset d = {0};
    if (cnn_data_open_idx_pair(im, lb, 0, &d) == CNN_OK) {
        float x[64 * 64];
        if (cnn_dataset_example_size(&d) <= sizeof x / sizeof x[0] && d.n > 0) {
            cnn_dataset_example(&d, 0, x);
            cnn_dataset_example(&d, d.n - 1, x);
        }
        cnn_dataset_free(&d);
    }
    return 0;
}
CNN_FUZZ_ENTRY(cnn_fuzz_idx)
