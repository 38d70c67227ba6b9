/* Shared pieces of the libFuzzer targets (docs/architecture.md, "Fuzzing"). Each target
   defines cnn_fuzz_<name>(data, size); built with -DCNN_FUZZ_NO_MAIN the same sources
   run the seed corpora and the kept crash inputs as a normal test
   (tests/fuzz/test_fuzz_regress.c). The readers take paths: the input is written to a
   per-process file first. */
#ifndef CNN_FUZZ_H
#define CNN_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn.h"

/* "<tmp>/cnn-fuzz-<pid>/<name>" holding data; returns the path (static buffer per slot). */
static inline const char *cnn_fuzz_file(int slot, const char *name, const uint8_t *data, size_t size)
{
    static char paths[4][512];
    char dir[256];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cnn-fuzz-%ld", t && *t ? t : "/tmp", (long)getpid());
    mkdir(dir, 0700);
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", dir, name);
    FILE *f = fopen(paths[slot], "wb");
    if (!f) abort(); /* the harness itself failed: not a finding */
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return paths[slot];
}

/* The directory cnn_fuzz_file writes into. */
static inline const char *cnn_fuzz_dir(void)
{
    static char dir[256];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cnn-fuzz-%ld", t && *t ? t : "/tmp", (long)getpid());
    return dir;
}

#ifdef CNN_FUZZ_NO_MAIN
#define CNN_FUZZ_ENTRY(fn)
#else
#define CNN_FUZZ_ENTRY(fn)                                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);           \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)            \
    {                                                                       \
        return fn(data, size);                                              \
    }
#endif
#endif
