/* safetensors: the weight and checkpoint format (DESIGN decision 7).
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, raw little-endian data.
 *   {"__metadata__": {"key": "value", ...},
 *    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * Offsets are relative to the first data byte. See huggingface/safetensors' format
 * description; this file is a separate, strict implementation of it.
 *
 * Reading validates everything before use (STYLE section 6): sizes, header JSON, dtype,
 * shape, offsets (in range, matching dtype x numel, not overlapping); any supported
 * dtype is converted to float32. Writing goes to "<path>.tmp.<pid>", is flushed and
 * fsync'ed, then renamed over the target; on failure the temporary file is removed
 * and an existing file is left as it was. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../graph/graph_internal.h"

/* 16 MiB: room for ~150k tensor entries with long names, far beyond any real model;
   parsing is linear and the duplicate checks sort (docs/limits.md). */
#define MAX_HEADER_BYTES (16ULL << 20)

/* ---------------------------------------------------------------- dtypes */
typedef enum st_dtype {
    DT_F32,
    DT_F64,
    DT_F16,
    DT_BF16,
    DT_I64,
    DT_I32,
    DT_I16,
    DT_I8,
    DT_U8,
    DT_BOOL
} st_dtype;

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [DT_F32] = {"F32", 4}, [DT_F64] = {"F64", 8},   [DT_F16] = {"F16", 2}, [DT_BF16] = {"BF16", 2},
    [DT_I64] = {"I64", 8}, [DT_I32] = {"I32", 4},   [DT_I16] = {"I16", 2}, [DT_I8] = {"I8", 1},
    [DT_U8] = {"U8", 1},   [DT_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

static uint64_t le_u(const unsigned char *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* IEEE half -> float, including subnormals, inf and NaN. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* n elements of dtype dt at src (little-endian) -> float32 dst. */
static void convert(st_dtype dt, const unsigned char *src, size_t n, float *dst)
{
    size_t sz = dtypes[dt].size;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *b = src + i * sz;
        uint64_t u = le_u(b, sz);
        switch (dt) {
        case DT_F32: dst[i] = bits_to_float((uint32_t)u); break;
        case DT_F64: {
            double d;
            memcpy(&d, &u, 8);
            dst[i] = (float)d;
            break;
        }
        case DT_F16: dst[i] = half_to_float((uint16_t)u); break;
        case DT_BF16: dst[i] = bits_to_float((uint32_t)u << 16); break;
        case DT_I64: dst[i] = (float)(int64_t)u; break;
        case DT_I32: dst[i] = (float)(int32_t)(uint32_t)u; break;
        case DT_I16: dst[i] = (float)(int16_t)(uint16_t)u; break;
        case DT_I8: dst[i] = (float)(int8_t)(uint8_t)u; break;
        case DT_U8: dst[i] = (float)(uint8_t)u; break;
        case DT_BOOL: dst[i] = u ? 1.0f : 0.0f; break;
        }
    }
}

/* ---------------------------------------------------------------- the file */
typedef struct st_entry {
    char *name;
    st_dtype dtype;
    int ndim;
    int dims[CNN_MAX_DIMS];
    uint64_t begin, end;
    cnn_tensor t; /* float32 view into the file's block */
} st_entry;

/* name -> index, sorted by name: duplicate checks and lookups in O(n log n) */
typedef struct st_key {
    const char *name;
    int i;
} st_key;

struct cnn_tensor_file {
    int n, cap;
    st_entry *e;
    int n_meta, cap_meta;
    char **meta; /* key, value pairs */
    float *data;
    st_key *by_name, *meta_by_name; /* NULL until the header is parsed */
};

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const st_key *)a)->name, ((const st_key *)b)->name);
}

static const st_key *find_key(const st_key *idx, int n, const char *name)
{
    st_key k = {name, 0};
    return idx ? bsearch(&k, idx, (size_t)n, sizeof k, key_cmp) : NULL;
}

void cnn_tensor_file_free(cnn_tensor_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) cnn_free(f->e[i].name);
    for (int i = 0; i < 2 * f->n_meta; i++) cnn_free(f->meta[i]);
    cnn_free(f->e);
    cnn_free(f->meta);
    cnn_free(f->by_name);
    cnn_free(f->meta_by_name);
    cnn_free_aligned(f->data);
    cnn_free(f);
}

int cnn_tensor_file_count(const cnn_tensor_file *f) { return f ? f->n : 0; }

const char *cnn_tensor_file_name(const cnn_tensor_file *f, int i)
{
    return (f && i >= 0 && i < f->n) ? f->e[i].name : NULL;
}

cnn_status cnn_tensor_file_get(const cnn_tensor_file *f, const char *name, cnn_tensor *view)
{
    if (!f || !name || !view)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "tensor file: NULL argument");
    const st_key *k = find_key(f->by_name, f->n, name);
    if (k) {
        *view = f->e[k->i].t;
        return CNN_OK;
    }
    return cnn_set_error(CNN_ERR_NOT_FOUND, "tensor file: no tensor named '%s'", name);
}

const char *cnn_tensor_file_meta(const cnn_tensor_file *f, const char *key)
{
    if (!f || !key) return NULL;
    const st_key *k = find_key(f->meta_by_name, f->n_meta, key);
    return k ? f->meta[2 * k->i + 1] : NULL;
}

/* ---------------------------------------------------------------- header JSON
 * A strict parser for exactly what a safetensors header may hold: one object whose
 * values are tensor records or the "__metadata__" object of strings. */
typedef struct jparser {
    const char *s;
    size_t n, pos;
    const char *path;
    cnn_status err; /* CNN_OK until the first error */
} jparser;

static cnn_status jfail(jparser *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static cnn_status jfail(jparser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    p->err = CNN_ERR_FORMAT;
    return cnn_set_error(CNN_ERR_FORMAT, "%s: malformed header JSON at byte %zu: %s", p->path,
                         p->pos, msg);
}

static cnn_status jnomem(jparser *p)
{
    p->err = CNN_ERR_NOMEM;
    return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory reading the header", p->path);
}

static void jws(jparser *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                             p->s[p->pos] == '\r'))
        p->pos++;
}

static const char *jdesc(jparser *p)
{
    static _Thread_local char buf[16];
    if (p->pos >= p->n) return "end of header";
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(buf, sizeof buf, "'%c'", c);
    else
        snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

static cnn_status jexpect(jparser *p, char c)
{
    jws(p);
    if (p->pos >= p->n || p->s[p->pos] != c)
        return jfail(p, "expected '%c', found %s", c, jdesc(p));
    p->pos++;
    return CNN_OK;
}

/* Peeks the next non-space character (0 at the end). */
static char jpeek(jparser *p)
{
    jws(p);
    return p->pos < p->n ? p->s[p->pos] : 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(jparser *p, size_t at, unsigned *out)
{
    if (at + 4 > p->n) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[at + (size_t)i]);
        if (h < 0) return 0;
        v = v * 16 + (unsigned)h;
    }
    *out = v;
    return 1;
}

/* A JSON string -> newly allocated UTF-8 (NUL-free). */
static cnn_status jstring(jparser *p, char **out)
{
    *out = NULL;
    CNN_CHECK(jexpect(p, '"'));
    size_t start = p->pos, end = start;
    while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->n) return jfail(p, "unterminated string");
    char *d = cnn_malloc(end - start + 1);
    if (!d) return jnomem(p);
    size_t k = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            cnn_free(d);
            return jfail(p, "control character 0x%02x inside a string", c);
        }
        if (c != '\\') {
            d[k++] = (char)c;
            p->pos++;
            continue;
        }
        char e = p->s[p->pos + 1];
        p->pos += 2;
        switch (e) {
        case '"': d[k++] = '"'; break;
        case '\\': d[k++] = '\\'; break;
        case '/': d[k++] = '/'; break;
        case 'b': d[k++] = '\b'; break;
        case 'f': d[k++] = '\f'; break;
        case 'n': d[k++] = '\n'; break;
        case 'r': d[k++] = '\r'; break;
        case 't': d[k++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!read_hex4(p, p->pos, &cp)) {
                cnn_free(d);
                return jfail(p, "bad \\u escape");
            }
            p->pos += 4;
            if (cp >= 0xd800 && cp < 0xdc00) { /* surrogate pair */
                if (p->pos + 6 > end || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                    !read_hex4(p, p->pos + 2, &lo) || lo < 0xdc00 || lo > 0xdfff) {
                    cnn_free(d);
                    return jfail(p, "unpaired UTF-16 surrogate in \\u escape");
                }
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                cnn_free(d);
                return jfail(p, "unpaired UTF-16 surrogate in \\u escape");
            }
            if (cp == 0) {
                cnn_free(d);
                return jfail(p, "\\u0000 is not allowed in names or metadata");
            }
            /* UTF-8; never longer than the 6+ escape bytes it replaces */
            if (cp < 0x80) {
                d[k++] = (char)cp;
            } else if (cp < 0x800) {
                d[k++] = (char)(0xc0 | (cp >> 6));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                d[k++] = (char)(0xe0 | (cp >> 12));
                d[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            } else {
                d[k++] = (char)(0xf0 | (cp >> 18));
                d[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                d[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                d[k++] = (char)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default:
            p->pos -= 1;
            cnn_free(d);
            return jfail(p, "unknown escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
        }
    }
    p->pos = end + 1;
    d[k] = '\0';
    *out = d;
    return CNN_OK;
}

/* A JSON integer (no fraction or exponent), in int64 range. */
static cnn_status jint(jparser *p, int64_t *out)
{
    jws(p);
    size_t at = p->pos;
    bool neg = false;
    if (at < p->n && p->s[at] == '-') {
        neg = true;
        at++;
    }
    if (at >= p->n || p->s[at] < '0' || p->s[at] > '9')
        return jfail(p, "expected an integer, found %s", jdesc(p));
    if (p->s[at] == '0' && at + 1 < p->n && p->s[at + 1] >= '0' && p->s[at + 1] <= '9')
        return jfail(p, "integer with a leading zero");
    uint64_t v = 0;
    while (at < p->n && p->s[at] >= '0' && p->s[at] <= '9') {
        unsigned dgt = (unsigned)(p->s[at] - '0');
        if (v > (UINT64_MAX - dgt) / 10 || v * 10 + dgt > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
            return jfail(p, "integer out of range");
        v = v * 10 + dgt;
        at++;
    }
    if (at < p->n && (p->s[at] == '.' || p->s[at] == 'e' || p->s[at] == 'E'))
        return jfail(p, "expected an integer, found a number with a fraction or exponent");
    p->pos = at;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return CNN_OK;
}

/* [int, int, ...] into out (at most max stored; *count is the full length). */
static cnn_status jint_array(jparser *p, int64_t *out, int max, int *count)
{
    *count = 0;
    CNN_CHECK(jexpect(p, '['));
    if (jpeek(p) == ']') {
        p->pos++;
        return CNN_OK;
    }
    for (;;) {
        int64_t v = 0;
        CNN_CHECK(jint(p, &v));
        if (*count < max) out[*count] = v;
        if (*count < INT_MAX) (*count)++;
        char c = jpeek(p);
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == ']') {
            p->pos++;
            return CNN_OK;
        }
        return jfail(p, "expected ',' or ']' in an array, found %s", jdesc(p));
    }
}

static cnn_status add_entry(jparser *p, cnn_tensor_file *f, st_entry *e)
{
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 16;
        st_entry *ne = cnn_realloc(f->e, (size_t)cap * sizeof *ne);
        if (!ne) return jnomem(p);
        f->e = ne;
        f->cap = cap;
    }
    f->e[f->n++] = *e;
    return CNN_OK;
}

static cnn_status add_meta(jparser *p, cnn_tensor_file *f, char *key, char *value)
{
    if (f->n_meta == f->cap_meta) {
        int cap = f->cap_meta ? f->cap_meta * 2 : 8;
        char **nm = cnn_realloc(f->meta, (size_t)cap * 2 * sizeof *nm);
        if (!nm) return jnomem(p);
        f->meta = nm;
        f->cap_meta = cap;
    }
    f->meta[2 * f->n_meta] = key;
    f->meta[2 * f->n_meta + 1] = value;
    f->n_meta++;
    return CNN_OK;
}

static cnn_status parse_metadata(jparser *p, cnn_tensor_file *f)
{
    CNN_CHECK(jexpect(p, '{'));
    if (jpeek(p) == '}') {
        p->pos++;
        return CNN_OK;
    }
    for (;;) {
        char *k = NULL, *v = NULL;
        if (jpeek(p) != '"') return jfail(p, "expected a metadata key string, found %s", jdesc(p));
        CNN_CHECK(jstring(p, &k));
        cnn_status s = jexpect(p, ':');
        if (s == CNN_OK && jpeek(p) != '"')
            s = jfail(p, "__metadata__ values must be strings, found %s", jdesc(p));
        if (s == CNN_OK) s = jstring(p, &v);
        if (s == CNN_OK) s = add_meta(p, f, k, v);
        if (s != CNN_OK) {
            cnn_free(k);
            cnn_free(v);
            return s;
        }
        char c = jpeek(p);
        if (c == ',') {
            p->pos++;
            continue;
        }
        if (c == '}') {
            p->pos++;
            return CNN_OK;
        }
        return jfail(p, "expected ',' or '}' in __metadata__, found %s", jdesc(p));
    }
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} for tensor e->name. */
static cnn_status parse_tensor(jparser *p, st_entry *e)
{
    bool have_dtype = false, have_shape = false, have_off = false;
    CNN_CHECK(jexpect(p, '{'));
    if (jpeek(p) != '}') {
        for (;;) {
            char *k = NULL;
            if (jpeek(p) != '"') return jfail(p, "expected a key string, found %s", jdesc(p));
            size_t key_at = p->pos;
            CNN_CHECK(jstring(p, &k));
            cnn_status s = jexpect(p, ':');
            if (s != CNN_OK) {
                cnn_free(k);
                return s;
            }
            if (strcmp(k, "dtype") == 0 && !have_dtype) {
                char *v = NULL;
                s = jpeek(p) == '"' ? jstring(p, &v)
                                    : jfail(p, "tensor '%s': dtype must be a string", e->name);
                if (s == CNN_OK) {
                    int d = 0;
                    while (d < N_DTYPES && strcmp(dtypes[d].name, v) != 0) d++;
                    if (d == N_DTYPES) {
                        p->err = CNN_ERR_FORMAT;
                        s = cnn_set_error(CNN_ERR_FORMAT,
                                          "%s: tensor '%s': unknown dtype \"%.32s\" (supported: "
                                          "F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL)",
                                          p->path, e->name, v);
                    }
                    e->dtype = (st_dtype)d;
                }
                cnn_free(v);
                have_dtype = true;
            } else if (strcmp(k, "shape") == 0 && !have_shape) {
                int64_t dims[CNN_MAX_DIMS];
                int nd = 0;
                s = jint_array(p, dims, CNN_MAX_DIMS, &nd);
                if (s == CNN_OK && nd > CNN_MAX_DIMS) {
                    p->err = CNN_ERR_FORMAT;
                    s = cnn_set_error(
                        CNN_ERR_FORMAT,
                        "%s: tensor '%s': shape has %d dimensions, at most %d supported", p->path,
                        e->name, nd, CNN_MAX_DIMS);
                }
                for (int i = 0; s == CNN_OK && i < nd; i++) {
                    if (dims[i] < 0 || dims[i] > INT_MAX) {
                        p->err = CNN_ERR_FORMAT;
                        s = cnn_set_error(CNN_ERR_FORMAT,
                                          "%s: tensor '%s': shape dimension %d is %lld (must be "
                                          "0 .. %d)",
                                          p->path, e->name, i, (long long)dims[i], INT_MAX);
                    } else {
                        e->dims[i] = (int)dims[i];
                    }
                }
                e->ndim = nd;
                have_shape = true;
            } else if (strcmp(k, "data_offsets") == 0 && !have_off) {
                int64_t off[2];
                int no = 0;
                s = jint_array(p, off, 2, &no);
                if (s == CNN_OK && no != 2) {
                    p->err = CNN_ERR_FORMAT;
                    s = cnn_set_error(CNN_ERR_FORMAT,
                                      "%s: tensor '%s': data_offsets has %d entries, expected 2",
                                      p->path, e->name, no);
                } else if (s == CNN_OK && (off[0] < 0 || off[1] < 0)) {
                    p->err = CNN_ERR_FORMAT;
                    s = cnn_set_error(CNN_ERR_FORMAT, "%s: tensor '%s': negative data_offsets",
                                      p->path, e->name);
                }
                if (s == CNN_OK) {
                    e->begin = (uint64_t)off[0];
                    e->end = (uint64_t)off[1];
                }
                have_off = true;
            } else {
                p->pos = key_at;
                bool dup = !strcmp(k, "dtype") || !strcmp(k, "shape") || !strcmp(k, "data_offsets");
                s = jfail(p, "tensor '%s': %s key \"%.40s\"", e->name,
                          dup ? "duplicate" : "unknown", k);
            }
            cnn_free(k);
            if (s != CNN_OK) return s;
            char c = jpeek(p);
            if (c == ',') {
                p->pos++;
                continue;
            }
            if (c == '}') break;
            return jfail(p, "expected ',' or '}' in tensor '%s', found %s", e->name, jdesc(p));
        }
    }
    p->pos++;
    const char *missing = !have_dtype   ? "dtype"
                          : !have_shape ? "shape"
                          : !have_off   ? "data_offsets"
                                        : NULL;
    if (missing) {
        p->err = CNN_ERR_FORMAT;
        return cnn_set_error(CNN_ERR_FORMAT, "%s: tensor '%s': missing \"%s\"", p->path, e->name,
                             missing);
    }
    return CNN_OK;
}

/* Sorted name indexes; a duplicate is two equal neighbours. */
static cnn_status index_names(jparser *p, cnn_tensor_file *f)
{
    f->by_name = cnn_malloc((size_t)(f->n ? f->n : 1) * sizeof *f->by_name);
    f->meta_by_name = cnn_malloc((size_t)(f->n_meta ? f->n_meta : 1) * sizeof *f->meta_by_name);
    if (!f->by_name || !f->meta_by_name) return jnomem(p);
    for (int i = 0; i < f->n; i++) f->by_name[i] = (st_key){f->e[i].name, i};
    for (int i = 0; i < f->n_meta; i++) f->meta_by_name[i] = (st_key){f->meta[2 * i], i};
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, key_cmp);
    qsort(f->meta_by_name, (size_t)f->n_meta, sizeof *f->meta_by_name, key_cmp);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1].name, f->by_name[i].name) == 0)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: header: duplicate tensor name '%.200s'", p->path,
                                 f->by_name[i].name);
    for (int i = 1; i < f->n_meta; i++)
        if (strcmp(f->meta_by_name[i - 1].name, f->meta_by_name[i].name) == 0)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: header: duplicate metadata key '%.200s'", p->path,
                                 f->meta_by_name[i].name);
    return CNN_OK;
}

static cnn_status parse_header(jparser *p, cnn_tensor_file *f)
{
    bool have_meta = false;
    CNN_CHECK(jexpect(p, '{'));
    if (jpeek(p) != '}') {
        for (;;) {
            char *k = NULL;
            if (jpeek(p) != '"') return jfail(p, "expected a key string, found %s", jdesc(p));
            CNN_CHECK(jstring(p, &k));
            cnn_status s = jexpect(p, ':');
            if (s == CNN_OK && strcmp(k, "__metadata__") == 0) {
                if (have_meta) s = jfail(p, "duplicate __metadata__");
                if (s == CNN_OK) s = parse_metadata(p, f);
                have_meta = true;
                cnn_free(k);
            } else if (s == CNN_OK) {
                st_entry e = {.name = k};
                if (s == CNN_OK) s = parse_tensor(p, &e);
                if (s == CNN_OK) s = add_entry(p, f, &e);
                if (s != CNN_OK) cnn_free(k);
            } else {
                cnn_free(k);
            }
            if (s != CNN_OK) return s;
            char c = jpeek(p);
            if (c == ',') {
                p->pos++;
                continue;
            }
            if (c == '}') break;
            return jfail(p, "expected ',' or '}' after a header entry, found %s", jdesc(p));
        }
    }
    p->pos++;
    jws(p);
    if (p->pos != p->n) return jfail(p, "unexpected %s after the header object", jdesc(p));
    return index_names(p, f);
}

/* ---------------------------------------------------------------- load */
typedef struct span {
    uint64_t begin, end;
    int i;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static cnn_status read_exact(FILE *fp, void *dst, size_t n, const char *path)
{
    if (n && fread(dst, 1, n, fp) != n)
        return cnn_set_error(CNN_ERR_IO, "%s: read failed%s%s", path, ferror(fp) ? ": " : "",
                             ferror(fp) ? strerror(errno) : " (file shrank while reading?)");
    return CNN_OK;
}

/* Checks offsets against dtype x shape and the data size; returns total floats. */
static cnn_status check_layout(const char *path, cnn_tensor_file *f, uint64_t data_len,
                               size_t *total_floats, size_t *max_convert)
{
    size_t floats = 0, conv = 0;
    for (int i = 0; i < f->n; i++) {
        st_entry *e = &f->e[i];
        uint64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            if (e->dims[d] && numel > UINT64_MAX / (uint64_t)e->dims[d])
                return cnn_set_error(CNN_ERR_FORMAT, "%s: tensor '%s': shape overflows", path,
                                     e->name);
            numel *= (uint64_t)e->dims[d];
        }
        size_t dsz = dtypes[e->dtype].size;
        if (numel > UINT64_MAX / dsz || numel > (uint64_t)(SIZE_MAX / sizeof(float) / 2))
            return cnn_set_error(CNN_ERR_FORMAT, "%s: tensor '%s': shape too large", path, e->name);
        if (e->begin > e->end)
            return cnn_set_error(
                CNN_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        char sb[96];
        uint64_t need = numel * dsz;
        if (e->end - e->begin != need)
            return cnn_set_error(
                CNN_ERR_FORMAT,
                "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s "
                "%s needs %llu",
                path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                (unsigned long long)(e->end - e->begin), dtypes[e->dtype].name,
                cnn_shape_str(e->ndim, e->dims, sb, sizeof sb), (unsigned long long)need);
        floats += ((size_t)numel + 15) / 16 * 16;
        if (e->dtype != DT_F32 && need > conv) conv = (size_t)need;
    }
    /* the data must be in the file, and no two tensors may share bytes */
    uint64_t max_end = 0;
    int last = -1;
    for (int i = 0; i < f->n; i++)
        if (f->e[i].end > max_end) {
            max_end = f->e[i].end;
            last = i;
        }
    if (max_end > data_len)
        return cnn_set_error(CNN_ERR_FORMAT,
                             "%s: truncated: header says %llu bytes of data, file has %llu "
                             "(tensor '%s' ends at %llu)",
                             path, (unsigned long long)max_end, (unsigned long long)data_len,
                             f->e[last].name, (unsigned long long)max_end);
    if (f->n > 1) {
        span *sp = cnn_malloc((size_t)f->n * sizeof *sp);
        if (!sp) return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
        for (int i = 0; i < f->n; i++) sp[i] = (span){f->e[i].begin, f->e[i].end, i};
        qsort(sp, (size_t)f->n, sizeof *sp, span_cmp);
        int far = -1; /* the non-empty span reaching furthest so far */
        for (int i = 0; i < f->n; i++) {
            if (sp[i].end == sp[i].begin) continue;
            if (far >= 0 && sp[i].begin < sp[far].end) {
                cnn_status s =
                    cnn_set_error(CNN_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap in the data",
                                  path, f->e[sp[far].i].name, f->e[sp[i].i].name);
                cnn_free(sp);
                return s;
            }
            if (far < 0 || sp[i].end > sp[far].end) far = i;
        }
        cnn_free(sp);
    }
    *total_floats = floats;
    *max_convert = conv;
    return CNN_OK;
}

static cnn_status load_file(const char *path, FILE *fp, cnn_tensor_file *f)
{
    struct stat st;
    if (fstat(fileno(fp), &st) != 0)
        return cnn_set_error(CNN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return cnn_set_error(CNN_ERR_IO, "%s: not a regular file", path);
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8)
        return cnn_set_error(CNN_ERR_FORMAT,
                             "%s: file is %llu bytes, too short for the 8-byte header length", path,
                             (unsigned long long)size);
    unsigned char lenb[8];
    CNN_CHECK(read_exact(fp, lenb, 8, path));
    uint64_t hlen = le_u(lenb, 8);
    if (hlen < 2 || hlen > MAX_HEADER_BYTES)
        return cnn_set_error(CNN_ERR_FORMAT, "%s: header length %llu is not sane (2 .. %llu bytes)",
                             path, (unsigned long long)hlen, (unsigned long long)MAX_HEADER_BYTES);
    if (hlen > size - 8)
        return cnn_set_error(CNN_ERR_FORMAT,
                             "%s: truncated: header length %llu exceeds the %llu bytes after it",
                             path, (unsigned long long)hlen, (unsigned long long)(size - 8));
    char *h = cnn_malloc((size_t)hlen);
    if (!h)
        return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory for a %llu-byte header", path,
                             (unsigned long long)hlen);
    cnn_status s = read_exact(fp, h, (size_t)hlen, path);
    if (s == CNN_OK) {
        jparser p = {.s = h, .n = (size_t)hlen, .path = path};
        s = parse_header(&p, f);
    }
    cnn_free(h);
    if (s != CNN_OK) return s;

    uint64_t data_start = 8 + hlen, data_len = size - data_start;
    size_t floats = 0, conv = 0;
    CNN_CHECK(check_layout(path, f, data_len, &floats, &conv));
    f->data = cnn_malloc_aligned((floats ? floats : 1) * sizeof(float));
    unsigned char *tmp = conv ? cnn_malloc(conv) : NULL;
    if (!f->data || (conv && !tmp)) {
        cnn_free(tmp);
        return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory for %zu tensor values", path,
                             floats);
    }
    size_t off = 0;
    for (int i = 0; i < f->n && s == CNN_OK; i++) {
        st_entry *e = &f->e[i];
        e->t.ndim = e->ndim;
        memcpy(e->t.dims, e->dims, sizeof e->dims);
        e->t.data = f->data + off;
        size_t numel = cnn_tensor_numel(&e->t);
        off += (numel + 15) / 16 * 16;
        if (numel == 0) continue;
        if (fseek(fp, (long)(data_start + e->begin), SEEK_SET) != 0) {
            s = cnn_set_error(CNN_ERR_IO, "%s: seek failed: %s", path, strerror(errno));
            break;
        }
        unsigned char *dst = e->dtype == DT_F32 ? (unsigned char *)e->t.data : tmp;
        s = read_exact(fp, dst, (size_t)(e->end - e->begin), path);
        if (s == CNN_OK) convert(e->dtype, dst, numel, e->t.data); /* F32: byte order */
    }
    cnn_free(tmp);
    return s;
}

cnn_status cnn_safetensors_load(const char *path, cnn_tensor_file **out)
{
    if (!out) return cnn_set_error(CNN_ERR_INVALID_ARG, "safetensors load: out is NULL");
    *out = NULL;
    if (!path) return cnn_set_error(CNN_ERR_INVALID_ARG, "safetensors load: path is NULL");
    FILE *fp = fopen(path, "rb");
    if (!fp) return cnn_set_error(CNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cnn_tensor_file *f = cnn_calloc(1, sizeof *f);
    cnn_status s =
        f ? load_file(path, fp, f) : cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
    fclose(fp);
    if (s != CNN_OK) {
        cnn_tensor_file_free(f);
        return s;
    }
    *out = f;
    return CNN_OK;
}

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
        while (cap < b->len + n + 1) cap *= 2;
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

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

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
            for (int j = 0; j < 4; j++) buf[4 * i + (size_t)j] = (unsigned char)(u >> (8 * j));
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
        for (size_t i = 0; i < k; i++) buf[i] = (unsigned char)(int8_t)(int)x[i];
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
    while (!h.oom && h.len % 8) sb_puts(&h, " "); /* data starts 8-byte aligned */

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
    for (int j = 0; j < 8; j++) lenb[j] = (unsigned char)((uint64_t)h.len >> (8 * j));
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
    if (s != CNN_OK) remove(tmp);
    else {
        cnn_fsync_dir(path);
        cnn_remove_stale_tmp(path);
    }
    cnn_free(h.p);
    cnn_free(tmp);
    return s;
}

/* ---------------------------------------------------------------- graph weights */
static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool same_shape(const cnn_tensor *a, const cnn_tensor *b)
{
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

cnn_status cnn_graph_load_weights(cnn_graph *g, const char *path, bool strict)
{
    if (!g || !path) return cnn_set_error(CNN_ERR_INVALID_ARG, "load_weights: NULL argument");
    if (!g->compiled) CNN_CHECK(cnn_graph_compile(g, 0));
    cnn_tensor_file *f = NULL;
    CNN_CHECK(cnn_safetensors_load(path, &f));
    cnn_status s = CNN_OK;
    char sa[96], sb[96];
    /* check everything first so a failed load changes nothing */
    for (int i = 0; i < g->n_params && s == CNN_OK; i++) {
        const cnn_param *p = &g->params[i]->p;
        cnn_tensor v;
        if (cnn_tensor_file_get(f, p->name, &v) != CNN_OK) {
            if (strict)
                s = cnn_set_error(CNN_ERR_NOT_FOUND, "%s: missing key '%s' (the model's is %s)",
                                  path, p->name,
                                  cnn_shape_str(p->value.ndim, p->value.dims, sa, sizeof sa));
            continue;
        }
        if (!same_shape(&v, &p->value))
            s = cnn_set_error(CNN_ERR_SHAPE, "%s: '%s' has shape %s in the file, the model's is %s",
                              path, p->name, cnn_shape_str(v.ndim, v.dims, sa, sizeof sa),
                              cnn_shape_str(p->value.ndim, p->value.dims, sb, sizeof sb));
    }
    /* a cnn.c checkpoint also holds the optimizer's state ("optim.<state>.<param>"):
       not weights, so not unexpected */
    bool checkpoint = cnn_tensor_file_meta(f, "cnn.model") != NULL;
    for (int i = 0; strict && s == CNN_OK && i < f->n; i++) {
        const char *name = f->e[i].name;
        if (ends_with(name, "num_batches_tracked")) continue;
        if (checkpoint && strncmp(name, "optim.", 6) == 0) continue;
        if (!cnn_graph_find_param(g, name))
            s = cnn_set_error(CNN_ERR_NOT_FOUND,
                              "%s: unexpected key '%s' (shape %s) not in the model", path, name,
                              cnn_shape_str(f->e[i].ndim, f->e[i].dims, sa, sizeof sa));
    }
    for (int i = 0; i < g->n_params && s == CNN_OK; i++) {
        cnn_param *p = &g->params[i]->p;
        cnn_tensor v;
        if (cnn_tensor_file_get(f, p->name, &v) == CNN_OK)
            memcpy(p->value.data, v.data, cnn_tensor_numel(&v) * sizeof(float));
    }
    if (s == CNN_OK) cnn_clear_error();
    cnn_tensor_file_free(f);
    return s;
}

cnn_status cnn_graph_save_weights(cnn_graph *g, const char *path, int n_meta,
                                  const char *const *meta)
{
    if (!g || !path) return cnn_set_error(CNN_ERR_INVALID_ARG, "save_weights: NULL argument");
    if (!g->compiled) CNN_CHECK(cnn_graph_compile(g, 0));
    cnn_named_tensor *list = cnn_malloc((size_t)(g->n_params ? g->n_params : 1) * sizeof *list);
    if (!list) return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < g->n_params; i++)
        list[i] = (cnn_named_tensor){g->params[i]->p.name, &g->params[i]->p.value};
    cnn_status s = cnn_safetensors_save(path, g->n_params, list, n_meta, meta);
    cnn_free(list);
    return s;
}
