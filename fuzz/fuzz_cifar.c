/* libFuzzer target: the CIFAR-10 binary reader (the input as test_batch.bin, with a
   batches.meta.txt when the first byte is odd). */
#include "fuzz.h"

int cnn_fuzz_cifar(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    cnn_fuzz_file(0, "test_batch.bin", data + 1, size - 1);
    if (data[0] & 1) {
        static const char meta[] = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
        cnn_fuzz_file(1, "batches.meta.txt", (const uint8_t *)meta, sizeof meta - 1);
    } else {
        char p[512];
        snprintf(p, sizeof p, "%s/batches.meta.txt", cnn_fuzz_dir());
        unlink(p);
    }
    char spec[600];
    snprintf(spec, sizeof spec, "cifar10:%s", cnn_fuzz_dir());
    cnn_dataset d = {0};
    if (cnn_dataset_open(spec, false, &d) == CNN_OK) {
        float x[3 * 32 * 32];
        if (d.n > 0 && cnn_dataset_example_size(&d) <= sizeof x / sizeof x[0]) cnn_dataset_example(&d, d.n - 1, x);
        cnn_dataset_free(&d);
    }
    return 0;
}
CNN_FUZZ_ENTRY(cnn_fuzz_cifar)
