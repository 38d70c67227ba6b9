/* safetensors reading: the checkpoint and weight format (docs/architecture.md,
 * "safetensors").
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, raw little-endian data.
 *   {"__metadata__": {"key": "value", ...},
 *    "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * Offsets are relative to the first data byte. See huggingface/safetensors' format
 * description; this file is a separate, strict implementation of it.
 *
 * Reading validates everything before use: sizes, header JSON (json.c), dtype, shape,
 * offsets (in range, matching dtype x numel, not overlapping); any supported dtype is
 * converted to float32. Writing is safetensors_write.c, the graph's weights
 * checkpoint.c. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"

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
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
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
        case DT_F16: dst[i] = cnn_half_to_float((uint16_t)u); break;
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
    for (int i = 0; i < f->n; i++)
        cnn_free(f->e[i].name);
    for (int i = 0; i < 2 * f->n_meta; i++)
        cnn_free(f->meta[i]);
    cnn_free_aligned(f->data);
    CNN_FREE_ALL(f->e, f->meta, f->by_name, f->meta_by_name, f);
}

int cnn_tensor_file_count(const cnn_tensor_file *f)
{
    return f ? f->n : 0;
}

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

static cnn_status add_entry(cnn_json *p, cnn_tensor_file *f, st_entry *e)
{
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 16;
        st_entry *ne = cnn_realloc(f->e, (size_t)cap * sizeof *ne);
        if (!ne) return cnn_json_nomem(p);
        f->e = ne;
        f->cap = cap;
    }
    f->e[f->n++] = *e;
    return CNN_OK;
}

static cnn_status add_meta(cnn_json *p, cnn_tensor_file *f, char *key, char *value)
{
    if (f->n_meta == f->cap_meta) {
        int cap = f->cap_meta ? f->cap_meta * 2 : 8;
        char **nm = cnn_realloc(f->meta, (size_t)cap * 2 * sizeof *nm);
        if (!nm) return cnn_json_nomem(p);
        f->meta = nm;
        f->cap_meta = cap;
    }
    f->meta[2 * f->n_meta] = key;
    f->meta[2 * f->n_meta + 1] = value;
    f->n_meta++;
    return CNN_OK;
}

static cnn_status parse_metadata(cnn_json *p, cnn_tensor_file *f)
{
    CNN_CHECK(cnn_json_expect(p, '{'));
    if (cnn_json_peek(p) == '}') {
        p->pos++;
        return CNN_OK;
    }
    for (;;) {
        char *k = NULL, *v = NULL;
        CNN_CHECK(cnn_json_key(p, "a metadata key string", &k, NULL));
        cnn_status s = CNN_OK;
        if (cnn_json_peek(p) != '"')
            s = cnn_json_fail(p, "__metadata__ values must be strings, found %s", cnn_json_desc(p));
        if (s == CNN_OK) s = cnn_json_string(p, &v);
        if (s == CNN_OK) s = add_meta(p, f, k, v);
        if (s != CNN_OK) {
            cnn_free(k);
            cnn_free(v);
            return s;
        }
        bool more;
        CNN_CHECK(cnn_json_next(p, '}', &more, "in __metadata__"));
        if (!more) return CNN_OK;
    }
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} for tensor e->name. */
static cnn_status parse_tensor(cnn_json *p, st_entry *e)
{
    bool have_dtype = false, have_shape = false, have_off = false;
    CNN_CHECK(cnn_json_expect(p, '{'));
    if (cnn_json_peek(p) != '}') {
        for (;;) {
            char *k = NULL;
            size_t key_at = 0;
            CNN_CHECK(cnn_json_key(p, "a key string", &k, &key_at));
            cnn_status s = CNN_OK;
            if (strcmp(k, "dtype") == 0 && !have_dtype) {
                char *v = NULL;
                s = cnn_json_peek(p) == '"'
                        ? cnn_json_string(p, &v)
                        : cnn_json_fail(p, "tensor '%s': dtype must be a string", e->name);
                if (s == CNN_OK) {
                    int d = 0;
                    while (d < N_DTYPES && strcmp(dtypes[d].name, v) != 0)
                        d++;
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
                s = cnn_json_int_array(p, dims, CNN_MAX_DIMS, &nd);
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
                s = cnn_json_int_array(p, off, 2, &no);
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
                s = cnn_json_fail(p, "tensor '%s': %s key \"%.40s\"", e->name,
                                  dup ? "duplicate" : "unknown", k);
            }
            cnn_free(k);
            if (s != CNN_OK) return s;
            char where[300];
            snprintf(where, sizeof where, "in tensor '%s'", e->name);
            bool more;
            CNN_CHECK(cnn_json_next(p, '}', &more, where));
            if (!more) break;
        }
    } else {
        p->pos++; /* {} */
    }
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
static cnn_status index_names(cnn_json *p, cnn_tensor_file *f)
{
    f->by_name = cnn_malloc((size_t)(f->n ? f->n : 1) * sizeof *f->by_name);
    f->meta_by_name = cnn_malloc((size_t)(f->n_meta ? f->n_meta : 1) * sizeof *f->meta_by_name);
    if (!f->by_name || !f->meta_by_name) return cnn_json_nomem(p);
    for (int i = 0; i < f->n; i++)
        f->by_name[i] = (st_key){f->e[i].name, i};
    for (int i = 0; i < f->n_meta; i++)
        f->meta_by_name[i] = (st_key){f->meta[2 * i], i};
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, key_cmp);
    qsort(f->meta_by_name, (size_t)f->n_meta, sizeof *f->meta_by_name, key_cmp);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1].name, f->by_name[i].name) == 0)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: header: duplicate tensor name '%.200s'",
                                 p->path, f->by_name[i].name);
    for (int i = 1; i < f->n_meta; i++)
        if (strcmp(f->meta_by_name[i - 1].name, f->meta_by_name[i].name) == 0)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: header: duplicate metadata key '%.200s'",
                                 p->path, f->meta_by_name[i].name);
    return CNN_OK;
}

static cnn_status parse_header(cnn_json *p, cnn_tensor_file *f)
{
    bool have_meta = false;
    CNN_CHECK(cnn_json_expect(p, '{'));
    if (cnn_json_peek(p) != '}') {
        for (;;) {
            char *k = NULL;
            CNN_CHECK(cnn_json_key(p, "a key string", &k, NULL));
            cnn_status s = CNN_OK;
            if (strcmp(k, "__metadata__") == 0) {
                if (have_meta) s = cnn_json_fail(p, "duplicate __metadata__");
                if (s == CNN_OK) s = parse_metadata(p, f);
                have_meta = true;
                cnn_free(k);
            } else {
                st_entry e = {.name = k};
                s = parse_tensor(p, &e);
                if (s == CNN_OK) s = add_entry(p, f, &e);
                if (s != CNN_OK) cnn_free(k);
            }
            if (s != CNN_OK) return s;
            bool more;
            CNN_CHECK(cnn_json_next(p, '}', &more, "after a header entry"));
            if (!more) break;
        }
    } else {
        p->pos++; /* {} */
    }
    cnn_json_ws(p);
    if (p->pos != p->n)
        return cnn_json_fail(p, "unexpected %s after the header object", cnn_json_desc(p));
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
        for (int i = 0; i < f->n; i++)
            sp[i] = (span){f->e[i].begin, f->e[i].end, i};
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
        cnn_json p = {.s = h, .n = (size_t)hlen, .path = path};
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
