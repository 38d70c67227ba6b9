/* libFuzzer target: PNG and JPEG decoding (size query, then a load resized to 32x32,
   gray or RGB from the first byte). */
#include "fuzz.h"

int cnn_fuzz_image(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = cnn_fuzz_file(0, "in.img", data + 1, size - 1);
    int c, h, w;
    if (cnn_image_info(p, &c, &h, &w) == CNN_OK) {
        static float x[3 * 32 * 32];
        cnn_image_load(p, (data[0] & 1) ? 3 : 1, 32, 32, x);
    }
    return 0;
}
CNN_FUZZ_ENTRY(cnn_fuzz_image)
