/* The fuzz targets (fuzz/fuzz_*.c) as a normal test: every seed-corpus input and every
   kept crash input (fuzz/regress/<target>/) runs through its target, so a fixed
   finding stays fixed in every build, with or without clang (docs/architecture.md,
   "Fuzzing"). */
#define CNN_FUZZ_NO_MAIN
#include <dirent.h>

#include "../../fuzz/fuzz_cifar.c"
#include "../../fuzz/fuzz_idx.c"
#include "../../fuzz/fuzz_image.c"
#include "../../fuzz/fuzz_mat.c"
#include "../../fuzz/fuzz_npy.c"
#include "../../fuzz/fuzz_onnx.c"
#include "../../fuzz/fuzz_safetensors.c"
#include "testutil.h"

static const struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
} TARGETS[] = {
    {"safetensors", cnn_fuzz_safetensors}, {"idx", cnn_fuzz_idx}, {"cifar", cnn_fuzz_cifar},
    {"image", cnn_fuzz_image},             {"npy", cnn_fuzz_npy}, {"mat", cnn_fuzz_mat},
    {"onnx", cnn_fuzz_onnx},
};

/* Runs every file of dir through fn; returns how many. */
static int run_dir(const char *dir, int (*fn)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        rewind(f);
        uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        fn(buf, (size_t)size);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void test_corpora_and_regressions(void **state)
{
    (void)state;
    const char *src = getenv("CNN_SOURCE_DIR");
    if (!src) src = ".";
    for (size_t i = 0; i < sizeof TARGETS / sizeof TARGETS[0]; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", src, TARGETS[i].name);
        int seeds = run_dir(dir, TARGETS[i].fn);
        snprintf(dir, sizeof dir, "%s/fuzz/regress/%s", src, TARGETS[i].name);
        int kept = run_dir(dir, TARGETS[i].fn);
        print_message("%-12s %d seeds, %d kept crash inputs\n", TARGETS[i].name, seeds, kept);
        assert_true(seeds > 0); /* the corpus is where it should be */
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", cnn_fuzz_dir());
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpora_and_regressions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
