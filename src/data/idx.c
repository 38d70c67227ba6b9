/* IDX files (MNIST, Fashion-MNIST): big-endian header, then unsigned bytes; raw or
   gzip'd (zlib's gzread reads both, so the content decides). Validated before use:
   magic number, dimensions, exact size, matching counts, label range. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data_internal.h"

#define IDX_U8_IMAGES 0x00000803u /* unsigned byte, 3 dims (n, h, w) */
#define IDX_U8_LABELS 0x00000801u /* unsigned byte, 1 dim (n) */
#define IDX_MAX_BYTES ((uint64_t)1 << 36)

/* Reads up to len bytes; returns the count, or -1 on a gzip error. */
static int64_t gz_read_full(gzFile f, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t want = CNN_MIN(len - got, (size_t)1 << 24);
        int r = gzread(f, (char *)buf + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (int64_t)got;
}

static cnn_status gz_fail(gzFile f, const char *path)
{
    int errnum = 0;
    const char *msg = gzerror(f, &errnum);
    size_t pl = strlen(path); /* zlib prefixes the path */
    if (msg && strncmp(msg, path, pl) == 0 && msg[pl] == ':') msg += pl + (msg[pl + 1] == ' ' ? 2 : 1);
    return cnn_set_error(CNN_ERR_FORMAT, "%s: corrupt gzip data: %s", path, msg ? msg : "?");
}

/* One IDX file of unsigned bytes with ndim dims (1 or 3): dims and the data. */
static cnn_status idx_read(const char *path, uint32_t magic_want, int ndim, uint32_t *dims,
                           uint8_t **data_out)
{
    *data_out = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) return cnn_set_error(CNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cnn_status st = CNN_OK;
    uint8_t *data = NULL;
    uint8_t hdr[16];
    size_t hdr_bytes = 4 + 4 * (size_t)ndim;
    int64_t got = gz_read_full(f, hdr, hdr_bytes);
    if (got < 0) {
        st = gz_fail(f, path);
        goto done;
    }
    if (got >= 4) {
        uint32_t magic = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
        if (magic != magic_want) {
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "%s: bad magic number 0x%08x, expected 0x%08x (IDX %s)", path,
                               magic, magic_want, ndim == 3 ? "images" : "labels");
            goto done;
        }
    }
    if ((size_t)got < hdr_bytes) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: truncated: %lld bytes, too short for an IDX %s header (%zu bytes)",
                           path, (long long)got, ndim == 3 ? "images" : "labels", hdr_bytes);
        goto done;
    }
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = hdr + 4 + 4 * i;
        dims[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (dims[i] == 0 || dims[i] > INT_MAX) {
            st = cnn_set_error(CNN_ERR_FORMAT, "%s: header dimension %d is %u", path, i, dims[i]);
            goto done;
        }
        total *= dims[i];
        if (total > IDX_MAX_BYTES) {
            st = cnn_set_error(CNN_ERR_FORMAT, "%s: header declares more than %llu bytes", path,
                               (unsigned long long)IDX_MAX_BYTES);
            goto done;
        }
    }
    {
        /* a gzip bomb inflates to what the header declares: at most half this machine's
           memory (docs/limits.md) */
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0 && (double)total > (double)pages * (double)page / 2) {
            st = cnn_set_error(CNN_ERR_FORMAT, "%s: header declares %llu bytes, more than half of this "
                               "machine's memory", path, (unsigned long long)total);
            goto done;
        }
    }
    if (ndim == 3 && (uint64_t)dims[1] * dims[2] > (1u << 24)) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: images of %ux%u are implausibly large", path,
                           dims[1], dims[2]);
        goto done;
    }
    /* Grow while reading: a corrupt header cannot make us allocate far more than the
       file holds. */
    size_t cap = (size_t)CNN_MIN(total, (uint64_t)1 << 20), have = 0;
    data = cnn_malloc(cap);
    if (!data) {
        st = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    while (have < total) {
        if (have == cap) {
            size_t ncap = (size_t)CNN_MIN(total, (uint64_t)cap * 2);
            uint8_t *nd = cnn_realloc(data, ncap);
            if (!nd) {
                st = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, ncap);
                goto done;
            }
            data = nd;
            cap = ncap;
        }
        int64_t r = gz_read_full(f, data + have, cap - have);
        if (r < 0) {
            st = gz_fail(f, path);
            goto done;
        }
        have += (size_t)r;
        if (have < cap) break; /* end of data */
    }
    if (have < total) {
        int errnum = 0;
        gzerror(f, &errnum);
        const char *gz = errnum == Z_BUF_ERROR ? " (gzip stream ends early)" : "";
        if (ndim == 3)
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "%s: truncated: header says %u images of %ux%u (%llu bytes), found %zu%s",
                               path, dims[0], dims[1], dims[2], (unsigned long long)total, have, gz);
        else
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "%s: truncated: header says %u labels (%llu bytes), found %zu%s", path,
                               dims[0], (unsigned long long)total, have, gz);
        goto done;
    }
    /* Nothing may follow the declared data. */
    uint8_t extra[4096];
    uint64_t trailing = 0;
    for (;;) {
        int r = gzread(f, extra, sizeof extra);
        if (r < 0) {
            st = gz_fail(f, path);
            goto done;
        }
        if (r == 0) break;
        trailing += (uint64_t)r;
    }
    int errnum = 0;
    gzerror(f, &errnum);
    if (errnum == Z_BUF_ERROR) { /* data complete, but the gzip trailer (CRC) is cut */
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: truncated: gzip stream ends before its trailer", path);
        goto done;
    }
    if (trailing) {
        st = cnn_set_error(CNN_ERR_FORMAT,
                           "%s: %llu bytes follow the %llu bytes of data the header declares", path,
                           (unsigned long long)trailing, (unsigned long long)total);
        goto done;
    }
done:
    gzclose(f);
    if (st != CNN_OK) {
        cnn_free(data);
        data = NULL;
    }
    *data_out = data;
    return st;
}

cnn_status cnn_data_open_idx_pair(const char *images, const char *labels, int classes,
                                  cnn_dataset *out)
{
    if (!images || !labels || !out)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "idx: NULL path or dataset");
    memset(out, 0, sizeof *out);
    uint32_t idims[3], ldims[1];
    uint8_t *pix = NULL, *lab = NULL;
    cnn_status st = idx_read(images, IDX_U8_IMAGES, 3, idims, &pix);
    if (st != CNN_OK) return st;
    st = idx_read(labels, IDX_U8_LABELS, 1, ldims, &lab);
    if (st != CNN_OK) {
        cnn_free(pix);
        return st;
    }
    if (idims[0] != ldims[0]) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s has %u images but %s has %u labels", images,
                           idims[0], labels, ldims[0]);
        goto fail;
    }
    int n = (int)idims[0], maxl = 0;
    for (int i = 0; i < n; i++) {
        if (classes > 0 && lab[i] >= classes) {
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "%s: label %d of example %d is out of range for %d classes", labels,
                               lab[i], i, classes);
            goto fail;
        }
        maxl = CNN_MAX(maxl, (int)lab[i]);
    }
    out->labels = cnn_malloc((size_t)n * sizeof *out->labels);
    if (!out->labels) {
        st = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", labels);
        goto fail;
    }
    for (int i = 0; i < n; i++) out->labels[i] = lab[i];
    cnn_free(lab);
    out->n = n;
    out->c = 1;
    out->d = 0;
    out->h = (int)idims[1];
    out->w = (int)idims[2];
    out->classes = classes > 0 ? classes : maxl + 1;
    out->u8 = pix;
    snprintf(out->source, sizeof out->source, "%s", images);
    return CNN_OK;
fail:
    cnn_free(pix);
    cnn_free(lab);
    memset(out, 0, sizeof *out);
    return st;
}

cnn_status cnn_dataset_open_idx(const char *images, const char *labels, cnn_dataset *out)
{
    return cnn_data_open_idx_pair(images, labels, 0, out);
}
