/* NumPy .npy files: "\x93NUMPY", version, a Python-dict header ('descr', 'fortran_order',
   'shape'), then the raw array. Read to float32 (validated: magic, version, header,
   dtype, shape and exact file size); written as float32, C order, atomically. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_internal.h"

#define NPY_MAX_HEADER (1u << 20)

/* dtype of the descr string: kind 'b' / 'i' / 'u' / 'f', size in bytes, byte swap. */
typedef struct npy_dtype {
    char kind;
    int size;
    bool swap;
} npy_dtype;

static bool parse_descr(const char *d, npy_dtype *t)
{
    /* '<f4', '|u1', '>i8', '=f8', '?' / '|b1' */
    if (!strcmp(d, "?") || !strcmp(d, "|b1") || !strcmp(d, "b1")) {
        *t = (npy_dtype){'b', 1, false};
        return true;
    }
    char order = '=';
    if (*d == '<' || *d == '>' || *d == '|' || *d == '=') order = *d++;
    if (!strchr("iuf", d[0]) || !d[1] || d[2]) return false;
    int size = d[1] - '0';
    if (d[0] == 'f' && size != 2 && size != 4 && size != 8) return false;
    if (d[0] != 'f' && size != 1 && size != 2 && size != 4 && size != 8) return false;
    static const uint16_t one = 1;
    bool little = *(const uint8_t *)&one == 1;
    *t = (npy_dtype){d[0], size, size > 1 && ((order == '<' && !little) || (order == '>' && little))};
    return true;
}

/* The value of 'key' in the header dict, or NULL. */
static const char *dict_value(const char *hdr, const char *key)
{
    char pat[32];
    for (int q = 0; q < 2; q++) {
        snprintf(pat, sizeof pat, q ? "\"%s\"" : "'%s'", key);
        const char *p = strstr(hdr, pat);
        if (!p) continue;
        p += strlen(pat);
        while (*p == ' ') p++;
        if (*p != ':') return NULL;
        p++;
        while (*p == ' ') p++;
        return p;
    }
    return NULL;
}

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

static double element(const uint8_t *p, const npy_dtype *t)
{
    uint8_t b[8];
    for (int i = 0; i < t->size; i++) b[i] = t->swap ? p[t->size - 1 - i] : p[i];
    switch (t->kind) {
    case 'b': return b[0] != 0;
    case 'u':
        switch (t->size) {
        case 1: return b[0];
        case 2: { uint16_t v; memcpy(&v, b, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, b, 4); return v; }
        default: { uint64_t v; memcpy(&v, b, 8); return (double)v; }
        }
    case 'i':
        switch (t->size) {
        case 1: return (int8_t)b[0];
        case 2: { int16_t v; memcpy(&v, b, 2); return v; }
        case 4: { int32_t v; memcpy(&v, b, 4); return v; }
        default: { int64_t v; memcpy(&v, b, 8); return (double)v; }
        }
    default:
        switch (t->size) {
        case 2: { uint16_t v; memcpy(&v, b, 2); return half_to_float(v); }
        case 4: { float v; memcpy(&v, b, 4); return v; }
        default: { double v; memcpy(&v, b, 8); return v; }
        }
    }
}

/* Parses "(145, 145, 200)" / "(5,)" / "()"; false if malformed. */
static bool parse_shape(const char *p, int *ndim, int *dims)
{
    if (*p++ != '(') return false;
    *ndim = 0;
    for (;;) {
        while (*p == ' ') p++;
        if (*p == ')') return true;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || *ndim >= CNN_MAX_DIMS) return false;
        dims[(*ndim)++] = (int)v;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        else if (*p != ')') return false;
    }
}

cnn_status cnn_npy_load(const char *path, cnn_tensor *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_set_error(CNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cnn_status st = CNN_OK;
    char *hdr = NULL;
    uint8_t *raw = NULL;
    uint8_t pre[12];
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
        goto done;
    }
    int major = pre[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            st = cnn_set_error(CNN_ERR_FORMAT, "%s: truncated .npy header", path);
            goto done;
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        start = 12;
    } else {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: unsupported .npy version %d", path, major);
        goto done;
    }
    if (hlen == 0 || hlen > NPY_MAX_HEADER) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: bad .npy header length %zu", path, hlen);
        goto done;
    }
    hdr = cnn_malloc(hlen + 1);
    if (!hdr) {
        st = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: truncated .npy header", path);
        goto done;
    }
    hdr[hlen] = '\0';
    const char *dv = dict_value(hdr, "descr"), *fv = dict_value(hdr, "fortran_order"),
               *sv = dict_value(hdr, "shape");
    char descr[16] = {0};
    npy_dtype t;
    if (dv && (*dv == '\'' || *dv == '"')) {
        const char *e = strchr(dv + 1, *dv);
        if (e && (size_t)(e - dv - 1) < sizeof descr) memcpy(descr, dv + 1, (size_t)(e - dv - 1));
    }
    if (!dv || !fv || !sv) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: .npy header lacks descr, fortran_order or shape", path);
        goto done;
    }
    if (!parse_descr(descr, &t)) {
        st = cnn_set_error(CNN_ERR_UNSUPPORTED,
                           "%s: .npy dtype '%s' is not bool, (u)int or float (structured, complex "
                           "and object arrays are not read)",
                           path, descr);
        goto done;
    }
    bool fortran = strncmp(fv, "True", 4) == 0;
    if (!fortran && strncmp(fv, "False", 5) != 0) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: bad fortran_order in .npy header", path);
        goto done;
    }
    int ndim, dims[CNN_MAX_DIMS];
    if (!parse_shape(sv, &ndim, dims)) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: bad or too long (> %d dims) .npy shape", path, CNN_MAX_DIMS);
        goto done;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] && n > ((size_t)1 << 40) / (size_t)dims[i]) {
            st = cnn_set_error(CNN_ERR_FORMAT, "%s: .npy array too large", path);
            goto done;
        }
        n *= (size_t)dims[i];
    }
    /* exact size: header + data, nothing after */
    if (fseek(f, 0, SEEK_END) != 0) {
        st = cnn_set_error(CNN_ERR_IO, "%s: cannot seek", path);
        goto done;
    }
    long fsize = ftell(f);
    size_t want = start + hlen + n * (size_t)t.size;
    if (fsize < 0 || (size_t)fsize != want) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: %ld bytes, expected %zu for shape %s of %s", path,
                           fsize, want, cnn_shape_str(ndim, dims, (char[96]){0}, 96), descr);
        goto done;
    }
    fseek(f, (long)(start + hlen), SEEK_SET);
    raw = cnn_malloc(n * (size_t)t.size + 1);
    if (!raw) {
        st = cnn_set_error(CNN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n * (size_t)t.size);
        goto done;
    }
    if (fread(raw, (size_t)t.size, n, f) != n) {
        st = cnn_set_error(CNN_ERR_IO, "%s: read failed", path);
        goto done;
    }
    st = cnn_tensor_alloc(out, ndim, dims);
    if (st != CNN_OK) goto done;
    if (!fortran || ndim < 2) {
        for (size_t i = 0; i < n; i++) out->data[i] = (float)element(raw + i * (size_t)t.size, &t);
    } else {
        /* Fortran order: the first index varies fastest; walk the C-order index. */
        int idx[CNN_MAX_DIMS] = {0};
        for (size_t i = 0; i < n; i++) {
            size_t src = 0, stride = 1;
            for (int d = 0; d < ndim; d++) {
                src += (size_t)idx[d] * stride;
                stride *= (size_t)dims[d];
            }
            out->data[i] = (float)element(raw + src * (size_t)t.size, &t);
            for (int d = ndim - 1; d >= 0; d--) {
                if (++idx[d] < dims[d]) break;
                idx[d] = 0;
            }
        }
    }
done:
    fclose(f);
    cnn_free(hdr);
    cnn_free(raw);
    if (st != CNN_OK) cnn_tensor_free(out);
    return st;
}

cnn_status cnn_npy_save(const char *path, const cnn_tensor *t)
{
    if (!path || !t || !t->data || t->ndim < 0 || t->ndim > CNN_MAX_DIMS)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "npy save: NULL path or tensor");
    char shape[160] = "(";
    for (int i = 0; i < t->ndim; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%d%s", t->dims[i],
                 t->ndim == 1 ? "," : i + 1 < t->ndim ? ", " : "");
    strcat(shape, ")");
    char hdr[256];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    /* pad with spaces so that data starts at a multiple of 64, header ends in '\n' */
    size_t total = 10 + (size_t)k + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)k + pad + 1;
    memset(hdr + k, ' ', pad);
    hdr[hlen - 1] = '\n';
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return cnn_set_error(CNN_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return cnn_set_error(CNN_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 255), (uint8_t)(hlen >> 8)};
    size_t n = cnn_tensor_numel(t);
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, hlen, f) == hlen;
    /* little-endian float32 on this (little-endian) host; swap otherwise */
    static const uint16_t one = 1;
    bool little = *(const uint8_t *)&one == 1;
    for (size_t i = 0; ok && i < n; i++) {
        uint8_t b[4];
        memcpy(b, &t->data[i], 4);
        if (!little) {
            uint8_t s0 = b[0], s1 = b[1];
            b[0] = b[3];
            b[1] = b[2];
            b[2] = s1;
            b[3] = s0;
        }
        ok = fwrite(b, 1, 4, f) == 4;
    }
    if (fclose(f) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return cnn_set_error(CNN_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return CNN_OK;
}
