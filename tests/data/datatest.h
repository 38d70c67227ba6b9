/* Helpers for the data tests: a private temporary folder and small file writers.
   Include after defining _POSIX_C_SOURCE / _XOPEN_SOURCE (for mkdtemp, nftw). */
#ifndef CNN_DATATEST_H
#define CNN_DATATEST_H
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* A fresh folder under $TMPDIR (or /tmp) into buf. */
static inline void dt_mkdtemp(char *buf, size_t size)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, size, "%s/cnn_data_XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(buf));
}

static inline int dt_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* rm -r dir */
static inline void dt_rmtree(const char *dir) { nftw(dir, dt_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* "dir/name" in a static buffer (one of four, so a call may use a few). */
static inline const char *dt_path(const char *dir, const char *name)
{
    static char bufs[4][1024];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, 1024, "%s/%s", dir, name);
    return b;
}

static inline void dt_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Whole file into a malloc'd buffer; *n its size. */
static inline uint8_t *dt_read(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(sz > 0 ? (size_t)sz : 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* Asserts that s is `want` and that the error message contains `part`. */
#define DT_FAILS(expr, want, part)                                                        \
    do {                                                                                  \
        cnn_status dt__s = (expr);                                                        \
        if (dt__s != (want) || !strstr(cnn_error_message(), (part)))                      \
            fail_msg("%s -> %s (%s), want %s with \"%s\"", #expr, cnn_status_name(dt__s), \
                     cnn_error_message(), cnn_status_name(want), (part));                 \
    } while (0)
#endif
