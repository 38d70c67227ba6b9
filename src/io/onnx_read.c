/* ONNX file -> validated ModelProto, and TensorProto -> decoded constant.
 *
 * The protobuf decoding itself is protobuf-c's, generated at build time from the
 * onnx.proto Debian ships (docs/architecture.md, "ONNX import"). What this file adds
 * is the checking protobuf cannot do: size limits before reading, a graph and a
 * default-domain opset, tensor data types we know, dims that are not negative or
 * huge, data sizes that match the dims, and external data read only from files inside
 * the model's own folder. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx_internal.h"

const char *cnn_onnx_type_name(int32_t t, char *buf, size_t size)
{
    static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                  "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                  "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    if (t >= 0 && t < (int32_t)(sizeof names / sizeof names[0])) return names[t];
    snprintf(buf, size, "%d", (int)t);
    return buf;
}

cnn_status cnn_onnx_read(const char *path, Onnx__ModelProto **out, int64_t *opset, char *dir,
                         size_t dir_size)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_set_error(CNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return cnn_set_error(CNN_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size <= 0) {
        fclose(f);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: empty file, not an ONNX model", path);
    }
    if ((unsigned long long)st.st_size > CNN_ONNX_MAX_FILE_BYTES) {
        fclose(f);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: %lld bytes, more than protobuf's 2 GiB limit", path,
                             (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = cnn_malloc(n);
    if (!buf) {
        fclose(f);
        return cnn_set_error(CNN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        cnn_free(buf);
        return cnn_set_error(CNN_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, n, buf);
    cnn_free(buf);
    if (!m)
        return cnn_set_error(CNN_ERR_FORMAT,
                             "%s: not a valid ONNX model (truncated or corrupt protobuf)", path);
    if (!m->graph) {
        onnx__model_proto__free_unpacked(m, NULL);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: the ONNX model has no graph", path);
    }
    int64_t v = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *d = o->domain ? o->domain : "";
        if ((d[0] == '\0' || strcmp(d, "ai.onnx") == 0) && o->has_version) v = o->version;
    }
    if (v < 0) v = m->n_opset_import == 0 ? 1 : -1; /* IR < 3 files have no opset: 1 */
    if (v < 1) {
        onnx__model_proto__free_unpacked(m, NULL);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: no opset for the default ONNX domain", path);
    }
    *opset = v;
    /* the model's folder, for external data */
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, dir_size, ".");
    else if (slash == path)
        snprintf(dir, dir_size, "/");
    else
        snprintf(dir, dir_size, "%.*s", (int)(slash - path), path);
    *out = m;
    return CNN_OK;
}

void cnn_onnx_const_free(cnn_onnx_const *c)
{
    if (!c) return;
    cnn_free(c->f);
    cnn_free(c->i);
    memset(c, 0, sizeof *c);
}

static uint64_t le_u(const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* Reads external data [offset, offset + length) of dir/location into *out. */
static cnn_status read_external(const Onnx__TensorProto *t, const char *dir, const char *what,
                                size_t want, uint8_t **out)
{
    const char *loc = NULL;
    long long offset = 0, length = -1;
    for (size_t k = 0; k < t->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = t->external_data[k];
        if (!e->key || !e->value) continue;
        char *end;
        if (strcmp(e->key, "location") == 0) loc = e->value;
        else if (strcmp(e->key, "offset") == 0 || strcmp(e->key, "length") == 0) {
            errno = 0;
            long long v = strtoll(e->value, &end, 10);
            if (errno || *end || v < 0)
                return cnn_set_error(CNN_ERR_FORMAT, "%s: external data %s '%s' is not a byte count",
                                     what, e->key, e->value);
            if (e->key[0] == 'o') offset = v;
            else length = v;
        }
    }
    if (!loc || !*loc) return cnn_set_error(CNN_ERR_FORMAT, "%s: external data without a location", what);
    /* only files inside the model's folder: no absolute paths, no "..", and the
       resolved path (symbolic links followed) must stay under the folder */
    bool escapes = loc[0] == '/' || loc[0] == '\\';
    for (const char *p = loc; !escapes && *p; p++)
        if (p[0] == '.' && p[1] == '.' && (p == loc || p[-1] == '/' || p[-1] == '\\') &&
            (p[2] == '\0' || p[2] == '/' || p[2] == '\\'))
            escapes = true;
    char full[PATH_MAX], rdir[PATH_MAX], rfull[PATH_MAX];
    if (!escapes) {
        if (snprintf(full, sizeof full, "%s/%s", dir, loc) >= (int)sizeof full)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: external data path too long", what);
        if (!realpath(dir, rdir))
            return cnn_set_error(CNN_ERR_IO, "%s: model folder %s: %s", what, dir, strerror(errno));
        if (!realpath(full, rfull))
            return cnn_set_error(CNN_ERR_IO, "%s: external data file %s: %s", what, full, strerror(errno));
        size_t dl = strlen(rdir);
        if (strncmp(rfull, rdir, dl) != 0 || (rfull[dl] != '/' && strcmp(rdir, "/") != 0))
            escapes = true;
    }
    if (escapes)
        return cnn_set_error(CNN_ERR_FORMAT,
                             "%s: external data location '%s' leaves the model's folder %s (refused)",
                             what, loc, dir);
    if (length >= 0 && (size_t)length != want)
        return cnn_set_error(CNN_ERR_FORMAT, "%s: external data length %lld, the dims need %zu bytes",
                             what, length, want);
    FILE *f = fopen(rfull, "rb");
    if (!f) return cnn_set_error(CNN_ERR_IO, "%s: cannot open %s: %s", what, rfull, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        (unsigned long long)st.st_size < (unsigned long long)offset + want) {
        fclose(f);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: %s holds fewer than %lld + %zu bytes", what, rfull,
                             offset, want);
    }
    uint8_t *b = cnn_malloc(want ? want : 1);
    if (!b) {
        fclose(f);
        return cnn_set_error(CNN_ERR_NOMEM, "%s: cannot allocate %zu bytes", what, want);
    }
    bool ok = fseeko(f, (off_t)offset, SEEK_SET) == 0 && fread(b, 1, want, f) == want;
    fclose(f);
    if (!ok) {
        cnn_free(b);
        return cnn_set_error(CNN_ERR_IO, "%s: cannot read %zu bytes of %s", what, want, rfull);
    }
    *out = b;
    return CNN_OK;
}

cnn_status cnn_onnx_decode(const Onnx__TensorProto *t, const char *dir, const char *what,
                           cnn_onnx_const *c)
{
    memset(c, 0, sizeof *c);
    char tb[32];
    int32_t dt = t->has_data_type ? t->data_type : 0;
    size_t esize;
    bool is_float;
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: esize = 4; is_float = true; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: esize = 8; is_float = true; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: esize = 2; is_float = true; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: esize = 8; is_float = false; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: esize = 4; is_float = false; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: esize = 2; is_float = false; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: esize = 1; is_float = false; break;
    default:
        return cnn_set_error(CNN_ERR_FORMAT,
                             "%s: data type %s is not supported (float, double, float16, "
                             "bfloat16, integers and bool are)",
                             what, cnn_onnx_type_name(dt, tb, sizeof tb));
    }
    if (t->n_dims > CNN_ONNX_MAX_RANK)
        return cnn_set_error(CNN_ERR_FORMAT, "%s: rank %zu, more than %d", what, t->n_dims,
                             CNN_ONNX_MAX_RANK);
    int64_t numel = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > CNN_ONNX_MAX_NUMEL)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: dimension %zu is %lld", what, d,
                                 (long long)t->dims[d]);
        numel *= t->dims[d];
        if (numel > CNN_ONNX_MAX_NUMEL)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: more than %lld elements (huge dimensions)",
                                 what, (long long)CNN_ONNX_MAX_NUMEL);
        c->dims[d] = t->dims[d];
    }
    c->ndim = (int)t->n_dims;
    c->numel = numel;
    size_t n = (size_t)numel, bytes = n * esize;
    const uint8_t *raw = NULL;
    uint8_t *ext = NULL;
    bool external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    if (external) {
        CNN_CHECK(read_external(t, dir, what, bytes, &ext));
        raw = ext;
    } else if (t->has_raw_data) {
        if (t->raw_data.len != bytes)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: %zu bytes of raw data, the dims need %zu", what,
                                 t->raw_data.len, bytes);
        raw = t->raw_data.data;
    } else {
        size_t have = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT    ? t->n_float_data
                      : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? t->n_double_data
                      : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64  ? t->n_int64_data
                      : (dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT64 ||
                         dt == ONNX__TENSOR_PROTO__DATA_TYPE__UINT32)
                          ? t->n_uint64_data
                          : t->n_int32_data;
        if (have != n)
            return cnn_set_error(CNN_ERR_FORMAT, "%s: %zu values, the dims %s need %zu", what, have,
                                 n == 1 && c->ndim == 0 ? "()" : "given", n);
    }
    if (is_float) c->f = cnn_malloc(n ? n * sizeof *c->f : 1);
    else c->i = cnn_malloc(n ? n * sizeof *c->i : 1);
    if (!c->f && !c->i) {
        cnn_free(ext);
        return cnn_set_error(CNN_ERR_NOMEM, "%s: cannot allocate %zu elements", what, n);
    }
    for (size_t k = 0; k < n; k++) {
        if (raw) {
            const uint8_t *b = raw + k * esize;
            uint64_t u = le_u(b, esize);
            switch (dt) {
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
                uint32_t u32 = (uint32_t)u;
                memcpy(&c->f[k], &u32, 4);
                break;
            }
            case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
                double d;
                memcpy(&d, &u, 8);
                c->f[k] = (float)d;
                break;
            }
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: c->f[k] = cnn_half_to_float((uint16_t)u); break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: {
                uint32_t u32 = (uint32_t)u << 16;
                memcpy(&c->f[k], &u32, 4);
                break;
            }
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: c->i[k] = (int64_t)u; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: c->i[k] = (int32_t)(uint32_t)u; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: c->i[k] = (int16_t)(uint16_t)u; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: c->i[k] = (int8_t)(uint8_t)u; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
                c->i[k] = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
                break;
            default: c->i[k] = (int64_t)u; break; /* uint32/16/8, bool */
            }
        } else {
            switch (dt) {
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: c->f[k] = t->float_data[k]; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: c->f[k] = (float)t->double_data[k]; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
                c->f[k] = cnn_half_to_float((uint16_t)t->int32_data[k]);
                break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: {
                uint32_t u32 = (uint32_t)(uint16_t)t->int32_data[k] << 16;
                memcpy(&c->f[k], &u32, 4);
                break;
            }
            case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: c->i[k] = t->int64_data[k]; break;
            case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
            case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
                c->i[k] = t->uint64_data[k] > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)t->uint64_data[k];
                break;
            default: c->i[k] = t->int32_data[k]; break;
            }
        }
    }
    cnn_free(ext);
    return CNN_OK;
}
