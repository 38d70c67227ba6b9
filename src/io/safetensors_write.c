/* safetensors writing (docs/architecture.md, "safetensors"): the header JSON and the
   little-endian data go to "<path>.tmp.<pid>", are flushed and fsync'ed, then renamed
   over the target; on failure the temporary file is removed and an existing file is
   left as it was. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnn.h"

/* ---------------------------------------------------------------- save */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = cnn_realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_u64(sbuf *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    sb_put(b, t, (size_t)n);
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char t[8];
        switch (*c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            if (*c < 0x20) {
                snprintf(t, sizeof t, "\\u%04x", *c);
                sb_put(b, t, 6);
            } else {
                sb_put(b, (const char *)c, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

static cnn_status check_save_args(const char *path, int n, const cnn_named_tensor *tensors,
                                  const bool *as_int8, int n_meta, const char *const *meta)
{
    if (!path || !*path) return cnn_set_error(CNN_ERR_INVALID_ARG, "safetensors save: no path");
    if (n < 0 || (n > 0 && !tensors) || n_meta < 0 || (n_meta > 0 && !meta))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: save: bad tensor or metadata list", path);
    for (int i = 0; i < n; i++) {
        const cnn_named_tensor *t = &tensors[i];
        if (!t->name || !*t->name || !t->tensor)
            return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: save: tensor %d has no name or value",
                                 path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: save: '__metadata__' is reserved", path);
        if (t->tensor->ndim < 0 || t->tensor->ndim > CNN_MAX_DIMS)
            return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: save: tensor '%s' has %d dimensions",
                                 path, t->name, t->tensor->ndim);
        for (int d = 0; d < t->tensor->ndim; d++)
            if (t->tensor->dims[d] < 0)
                return cnn_set_error(CNN_ERR_INVALID_ARG,
                                     "%s: save: tensor '%s' has a negative dimension", path,
                                     t->name);
        if (!t->tensor->data && cnn_tensor_numel(t->tensor) > 0)
            return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: save: tensor '%s' has no data", path,
                                 t->name);
        if (as_int8 && as_int8[i] && t->tensor->data)
            for (size_t k = 0; k < cnn_tensor_numel(t->tensor); k++) {
                float v = t->tensor->data[k];
                if (!(v >= -128.0f && v <= 127.0f) || v != (float)(int)v)
                    return cnn_set_error(CNN_ERR_INVALID_ARG,
                                         "%s: save: tensor '%s' is to be written as I8 but "
                                         "element %zu is %g, not an integer in -128..127",
                                         path, t->name, k, (double)v);
            }
        for (int j = 0; j < i; j++)
            if (strcmp(tensors[j].name, t->name) == 0)
                return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: save: duplicate tensor name '%s'",
                                     path, t->name);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!meta[2 * i] || !meta[2 * i + 1])
            return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: save: metadata pair %d has a NULL", path,
                                 i);
        for (int j = 0; j < i; j++)
            if (strcmp(meta[2 * j], meta[2 * i]) == 0)
                return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: save: duplicate metadata key '%s'",
                                     path, meta[2 * i]);
    }
    return CNN_OK;
}

/* float32 -> little-endian bytes, in chunks. */
static int write_f32(FILE *fp, const float *x, size_t n)
{
    unsigned char buf[4096];
    while (n) {
        size_t k = n < sizeof buf / 4 ? n : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t u;
            memcpy(&u, &x[i], 4);
            for (int j = 0; j < 4; j++)
                buf[4 * i + (size_t)j] = (unsigned char)(u >> (8 * j));
        }
        if (fwrite(buf, 4, k, fp) != k) return 0;
        x += k;
        n -= k;
    }
    return 1;
}

/* float32 holding integers in -128..127 -> int8 bytes (checked before writing). */
static int write_i8(FILE *fp, const float *x, size_t n)
{
    unsigned char buf[4096];
    while (n) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = (unsigned char)(int8_t)(int)x[i];
        if (fwrite(buf, 1, k, fp) != k) return 0;
        x += k;
        n -= k;
    }
    return 1;
}

cnn_status cnn_safetensors_save(const char *path, int n, const cnn_named_tensor *tensors,
                                int n_meta, const char *const *meta)
{
    return cnn_safetensors_save_i8(path, n, tensors, NULL, n_meta, meta);
}

cnn_status cnn_safetensors_save_i8(const char *path, int n, const cnn_named_tensor *tensors,
                                   const bool *as_int8, int n_meta, const char *const *meta)
{
    CNN_CHECK(check_save_args(path, n, tensors, as_int8, n_meta, meta));
    sbuf h = {0};
    sb_puts(&h, "{");
    if (n_meta > 0) {
        sb_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_puts(&h, ",");
            sb_json(&h, meta[2 * i]);
            sb_puts(&h, ":");
            sb_json(&h, meta[2 * i + 1]);
        }
        sb_puts(&h, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const cnn_tensor *t = tensors[i].tensor;
        if (i || n_meta > 0) sb_puts(&h, ",");
        sb_json(&h, tensors[i].name);
        sb_puts(&h, (as_int8 && as_int8[i]) ? ":{\"dtype\":\"I8\",\"shape\":["
                                            : ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_puts(&h, ",");
            sb_u64(&h, (uint64_t)t->dims[d]);
        }
        sb_puts(&h, "],\"data_offsets\":[");
        sb_u64(&h, off);
        sb_puts(&h, ",");
        off += ((as_int8 && as_int8[i]) ? 1 : 4) * (uint64_t)cnn_tensor_numel(t);
        sb_u64(&h, off);
        sb_puts(&h, "]}");
    }
    sb_puts(&h, "}");
    while (!h.oom && h.len % 8)
        sb_puts(&h, " "); /* data starts 8-byte aligned */

    size_t plen = strlen(path);
    char *tmp = h.oom ? NULL : cnn_malloc(plen + 32);
    if (!tmp) {
        cnn_free(h.p);
        return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory writing the header", path);
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());

    cnn_status s = CNN_OK;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        s = cnn_set_error(CNN_ERR_IO, "%s: cannot create '%s': %s", path, tmp, strerror(errno));
        cnn_free(h.p);
        cnn_free(tmp);
        return s;
    }
    unsigned char lenb[8];
    for (int j = 0; j < 8; j++)
        lenb[j] = (unsigned char)((uint64_t)h.len >> (8 * j));
    bool ok = fwrite(lenb, 1, 8, fp) == 8 && fwrite(h.p, 1, h.len, fp) == h.len;
    for (int i = 0; ok && i < n; i++)
        ok = (as_int8 && as_int8[i])
                 ? write_i8(fp, tensors[i].tensor->data, cnn_tensor_numel(tensors[i].tensor))
                 : write_f32(fp, tensors[i].tensor->data, cnn_tensor_numel(tensors[i].tensor));
    if (ok) ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int err = errno;
    if (fclose(fp) != 0 && ok) {
        ok = false;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        s = cnn_set_error(CNN_ERR_IO, "%s: cannot rename '%s' over it: %s", path, tmp,
                          strerror(errno));
    } else if (!ok) {
        s = cnn_set_error(CNN_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    if (s != CNN_OK)
        remove(tmp);
    else {
        cnn_fsync_dir(path);
        cnn_remove_stale_tmp(path);
    }
    cnn_free(h.p);
    cnn_free(tmp);
    return s;
}
