/* Hyperspectral scenes for HybridSN (seeds 000/004): loadData (MATLAB .mat through
   matio, v5 and v7.3, or .npy), applyPCA (covariance + Jacobi eigen-decomposition,
   whitened like sklearn's PCA(whiten=True)), padWithZeros + createImageCubes (S x S
   patches around labelled pixels as (1, K, S, S)), splitTrainTestSet (stratified,
   seeded), and the colour map of a classification. A build without matio reads .npy
   only. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef CNN_HAVE_MATIO
#include <matio.h>
#endif
#include <stdio.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data_internal.h"

/* most classes a ground truth may have (docs/limits.md) */
#define HSI_MAX_CLASSES 1024

#define HSI_DEFAULT_PCA 30
#define HSI_DEFAULT_PATCH 25
#define HSI_DEFAULT_TEST 0.7f
#define HSI_MAX_VARS 64

/* ---------------------------------------------------------------- matio */
#ifdef CNN_HAVE_MATIO
/* The public scenes' variable names (Indian Pines, Salinas, Pavia, KSC, Botswana). */
static const char *const CUBE_NAMES[] = {"indian_pines_corrected", "indian_pines", "salinas_corrected",
                                         "salinas", "paviaU", "pavia", "KSC", "Botswana", NULL};
static const char *const GT_NAMES[] = {"indian_pines_gt", "salinas_gt", "paviaU_gt", "pavia_gt",
                                       "KSC_gt", "Botswana_gt", NULL};

/* matio reports problems through a log function; keep its last message for ours
   instead of letting it print. */
static _Thread_local char g_mat_msg[256];
static pthread_once_t g_mat_once = PTHREAD_ONCE_INIT;

static void mat_log(int level, char *message)
{
    (void)level;
    snprintf(g_mat_msg, sizeof g_mat_msg, "%s", message ? message : "");
}

static void mat_log_init(void) { Mat_LogInitFunc("cnn", mat_log); }

static bool mat_is_numeric(const matvar_t *v)
{
    switch (v->class_type) {
    case MAT_C_DOUBLE: case MAT_C_SINGLE: case MAT_C_INT8: case MAT_C_UINT8: case MAT_C_INT16:
    case MAT_C_UINT16: case MAT_C_INT32: case MAT_C_UINT32: case MAT_C_INT64: case MAT_C_UINT64:
        return !v->isComplex;
    default: return false;
    }
}

static const char *mat_class_str(const matvar_t *v)
{
    static const char *const names[] = {"empty", "cell", "struct", "object", "char", "sparse", "double",
                                        "single", "int8", "uint8", "int16", "uint16", "int32",
                                        "uint32", "int64", "uint64", "function", "opaque"};
    if (v->isComplex) return "complex";
    if (v->isLogical) return "logical";
    int c = (int)v->class_type;
    return c >= 0 && c < (int)(sizeof names / sizeof names[0]) ? names[c] : "unknown";
}

/* "145x145x200" */
static const char *mat_dims_str(const matvar_t *v, char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < v->rank && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, i ? "x%zu" : "%zu", v->dims[i]);
    return buf;
}

static double mat_elem(const matvar_t *v, size_t i)
{
    const void *d = v->data;
    switch (v->class_type) {
    case MAT_C_DOUBLE: return ((const double *)d)[i];
    case MAT_C_SINGLE: return ((const float *)d)[i];
    case MAT_C_INT8: return ((const int8_t *)d)[i];
    case MAT_C_UINT8: return ((const uint8_t *)d)[i];
    case MAT_C_INT16: return ((const int16_t *)d)[i];
    case MAT_C_UINT16: return ((const uint16_t *)d)[i];
    case MAT_C_INT32: return ((const int32_t *)d)[i];
    case MAT_C_UINT32: return ((const uint32_t *)d)[i];
    case MAT_C_INT64: return (double)((const int64_t *)d)[i];
    case MAT_C_UINT64: return (double)((const uint64_t *)d)[i];
    default: return 0.0;
    }
}

typedef struct mat_entry {
    char name[64];
    char desc[96]; /* "name (145x145x200 double)" */
    int rank;
    bool numeric;
    bool too_big; /* a dimension over 2^20 or over 2^30 elements: refused before reading */
} mat_entry;

/* Every variable's name, rank and class (headers only). */
static int mat_list(mat_t *m, mat_entry *e, int max, double fsize)
{
    int n = 0;
    Mat_Rewind(m);
    matvar_t *v;
    while (n < max && (v = Mat_VarReadNextInfo(m)) != NULL) {
        char dims[64];
        snprintf(e[n].name, sizeof e[n].name, "%s", v->name ? v->name : "");
        snprintf(e[n].desc, sizeof e[n].desc, "%s (%s %s)", e[n].name, mat_dims_str(v, dims, sizeof dims),
                 mat_class_str(v));
        e[n].rank = v->rank;
        e[n].numeric = mat_is_numeric(v);
        double numel = 1.0;
        e[n].too_big = false;
        for (int i = 0; i < v->rank; i++) {
            if (v->dims[i] > (1u << 20)) e[n].too_big = true;
            numel *= (double)v->dims[i];
        }
        if (numel > (double)(1u << 30)) e[n].too_big = true;
        /* more values than the file can hold, even at zlib's best ratio (~1032:1):
           matio would allocate them before finding out */
        if (numel * (double)Mat_SizeOfClass(v->class_type) > 1032.0 * (double)fsize + 4096.0) e[n].too_big = true;
        n++;
        Mat_VarFree(v);
    }
    return n;
}

static void mat_list_str(const mat_entry *e, int n, char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && pos < size; i++)
        pos += (size_t)snprintf(buf + pos, size - pos, "%s%s", i ? ", " : "", e[i].desc);
    if (!n) snprintf(buf, size, "none");
}

/* MAT v5 structure check before matio sees the file (docs/limits.md): matio trusts
   the sizes in element tags and allocates what they declare, so every tag is checked
   against the bytes that hold it. Top-level elements against the file; inside a
   matrix (uncompressed: its first 64 KiB; compressed: the first 64 KiB it inflates
   to) every sub-element, nested matrices (cells, structs) included, against its
   parent. v7.3 (HDF5) files are left to HDF5. */
#define MAT5_PEEK (64u << 10)

static uint32_t mat5_u32(const uint8_t *b, bool swap)
{
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return swap ? (v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24) : v;
}

/* Sub-elements of a matrix: buf holds avail of its declared bytes. A cell, struct,
   object or function array is also checked for count: matio allocates a pointer per
   cell (per element and field) from the dimensions, and each of them needs at least an
   8-byte tag in the declared bytes. */
static bool mat5_walk(const uint8_t *buf, size_t avail, uint64_t declared, bool swap, int depth)
{
    if (depth > 16) return false;
    uint64_t off = 0;
    unsigned cls = 0, field_len = 0;
    double numel = 1.0;
    for (int sub = 0; off + 8 <= declared && off + 8 <= avail; sub++) {
        uint32_t t = mat5_u32(buf + off, swap), n = mat5_u32(buf + off + 4, swap);
        const uint8_t *data = buf + off + 8;
        size_t have = avail - off - 8;
        bool small = t >> 16;
        if (small) { /* small element: 4 bytes of data in the tag */
            n = t >> 16;
            t &= 0xffffu;
            if (n > 4) return false;
            data = buf + off + 4;
            have = 4;
        } else if (n > declared - off - 8) {
            return false;
        }
        if (have > n) have = n;
        /* matio reads a matrix's header at fixed places: array flags (2 x uint32),
           dimensions (int32, at least 2), name (int8) */
        if ((sub == 0 && (t != 6 || n != 8)) || (sub == 1 && (t != 5 || n % 4 || n < 8)) ||
            (sub == 2 && t != 1))
            return false;
        if (sub == 0 && have >= 4) cls = mat5_u32(data, swap) & 0xffu; /* array flags */
        if (sub == 1) /* dimensions (int32) */
            for (size_t i = 0; i + 4 <= have; i += 4) numel *= (double)mat5_u32(data + i, swap);
        /* char (4), sparse (5) and numeric (6..15) data is read later, after our own
           size checks; every other class (cell, function, opaque, unknown) is treated
           as a cell array by matio, struct and object per field */
        bool strct = cls == 2 || cls == 3, cell = !strct && (cls < 4 || cls > 15);
        if (cell && sub == 1 && numel * 8.0 > (double)declared) return false;
        if (strct && sub == (cls == 3 ? 4 : 3) && have >= 4) field_len = mat5_u32(data, swap);
        if (strct && sub == (cls == 3 ? 5 : 4) && field_len &&
            numel * (double)(n / field_len) * 8.0 > (double)declared)
            return false;
        if (small) {
            off += 8;
            continue;
        }
        if (t == 14 && !mat5_walk(buf + off + 8, avail - off - 8 < n ? (size_t)(avail - off - 8) : n, n, swap,
                                  depth + 1))
            return false;
        off += 8 + ((uint64_t)n + 7) / 8 * 8;
    }
    return true;
}

static cnn_status mat5_check(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return CNN_OK; /* matio reports it */
    uint8_t h[128];
    cnn_status st = CNN_OK;
    uint8_t *buf = NULL, *zbuf = NULL;
    /* only v5 and v7.3 reach matio (its v4 guesswork on other files can take minutes) */
    static const uint8_t hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    uint8_t sig[8];
    long size = -1;
    bool swap = false;
    unsigned version = 0;
    if (fread(h, 1, 128, f) == 128 && fseek(f, 0, SEEK_END) == 0) {
        size = ftell(f);
        swap = h[126] == 'M' && h[127] == 'I';
        if (swap || (h[126] == 'I' && h[127] == 'M'))
            version = swap ? (unsigned)h[124] << 8 | h[125] : (unsigned)h[125] << 8 | h[124];
    }
    if (version == 0x0200 && (fseek(f, 512, SEEK_SET) != 0 || fread(sig, 1, 8, f) != 8 || memcmp(sig, hdf5_sig, 8)))
        version = 0;
    if (version != 0x0100 && version != 0x0200) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: not a MATLAB .mat file (v5 or v7.3) or .npy file", path);
        goto done;
    }
    if (version == 0x0200) goto done; /* v7.3: HDF5 reads it */
    buf = cnn_malloc(MAT5_PEEK);
    zbuf = cnn_malloc(MAT5_PEEK);
    if (!buf || !zbuf) {
        st = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    long pos = 128;
    while (pos + 8 <= size) {
        uint8_t tag[8];
        if (fseek(f, pos, SEEK_SET) != 0 || fread(tag, 1, 8, f) != 8) break;
        uint32_t t = mat5_u32(tag, swap), n = mat5_u32(tag + 4, swap);
        if ((t != 14 && t != 15) || n > (uint64_t)(size - pos - 8)) {
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "%s: MAT v5 element at byte %ld (type %u) declares %u bytes, %ld remain: "
                               "corrupt file",
                               path, pos, t, n, size - pos - 8);
            goto done;
        }
        size_t got = fread(buf, 1, n < MAT5_PEEK ? n : MAT5_PEEK, f);
        bool ok;
        if (t == 14) {
            ok = mat5_walk(buf, got, n, swap, 0);
        } else { /* compressed: a matrix inside, checked against its declared size */
            z_stream z;
            memset(&z, 0, sizeof z);
            ok = inflateInit(&z) == Z_OK;
            if (ok) {
                z.next_in = buf;
                z.avail_in = (uInt)got;
                z.next_out = zbuf;
                z.avail_out = MAT5_PEEK;
                int r = inflate(&z, Z_SYNC_FLUSH);
                size_t have = MAT5_PEEK - z.avail_out;
                ok = (r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR) && have >= 8;
                if (ok) {
                    uint32_t it = mat5_u32(zbuf, swap), in = mat5_u32(zbuf + 4, swap);
                    /* zlib inflates at most ~1032:1: a larger declared matrix is a lie
                       matio would allocate before finding out */
                    ok = it == 14 && (uint64_t)in <= 1032u * (uint64_t)n + 1024u &&
                         mat5_walk(zbuf + 8, have - 8, in, swap, 0);
                }
                inflateEnd(&z);
            }
        }
        if (!ok) {
            st = cnn_set_error(CNN_ERR_FORMAT, "%s: MAT v5 variable at byte %ld has inconsistent sizes: corrupt file",
                               path, pos);
            goto done;
        }
        pos += 8 + (long)(t == 14 ? ((uint64_t)n + 7) / 8 * 8 : n);
    }
done:
    cnn_free(buf);
    cnn_free(zbuf);
    fclose(f);
    return st;
}

/* Reads variable var (NULL: a known name, else the only numeric variable of this rank)
   of a .mat file as a row-major float tensor: (H, W, B) for rank 3, (H, W) for 2. */
static cnn_status mat_read(const char *path, const char *var, int rank, cnn_tensor *out, char *used,
                           size_t used_size)
{
    pthread_once(&g_mat_once, mat_log_init);
    g_mat_msg[0] = '\0';
    CNN_CHECK(mat5_check(path));
    mat_t *m = Mat_Open(path, MAT_ACC_RDONLY);
    if (!m)
        return cnn_set_error(CNN_ERR_FORMAT, "%s: not a MATLAB .mat file (v5 or v7.3) or .npy file%s%s",
                             path, g_mat_msg[0] ? ": " : "", g_mat_msg);
    const char *what = rank == 3 ? "cube (H x W x bands)" : "ground truth (H x W)";
    cnn_status st = CNN_OK;
    matvar_t *v = NULL;
    mat_entry *e = cnn_calloc(HSI_MAX_VARS, sizeof *e);
    char list[1024];
    if (!e) {
        st = cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    struct stat fst;
    int n = mat_list(m, e, HSI_MAX_VARS, stat(path, &fst) == 0 ? (double)fst.st_size : 0.0), pick = -1;
    mat_list_str(e, n, list, sizeof list);
    if (var) {
        for (int i = 0; i < n && pick < 0; i++)
            if (!strcmp(e[i].name, var)) pick = i;
        if (pick < 0) {
            st = cnn_set_error(CNN_ERR_NOT_FOUND, "%s: no variable '%s' (variables: %s)", path, var, list);
            goto done;
        }
    } else {
        const char *const *known = rank == 3 ? CUBE_NAMES : GT_NAMES;
        for (int k = 0; known[k] && pick < 0; k++)
            for (int i = 0; i < n && pick < 0; i++)
                if (!strcmp(e[i].name, known[k])) pick = i;
        for (int i = 0; i < n && pick < 0; i++)
            if (e[i].numeric && e[i].rank == rank) {
                for (int j = i + 1; j < n; j++)
                    if (e[j].numeric && e[j].rank == rank) {
                        st = cnn_set_error(CNN_ERR_INVALID_ARG,
                                           "%s: several %d-D numeric variables (%s); name the %s with "
                                           "%s",
                                           path, rank, list, what, rank == 3 ? "cube-var" : "gt-var");
                        goto done;
                    }
                pick = i;
            }
        if (pick < 0) {
            st = cnn_set_error(CNN_ERR_NOT_FOUND, "%s: no %d-D numeric variable for the %s (variables: %s)",
                               path, rank, what, list);
            goto done;
        }
    }
    snprintf(used, used_size, "%s", e[pick].name);
    if (!e[pick].numeric) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: variable %s is not numeric (need a real numeric %s)", path,
                           e[pick].desc, what);
        goto done;
    }
    if (e[pick].rank != rank) {
        st = cnn_set_error(CNN_ERR_SHAPE, "%s: variable %s has %d dimensions, the %s needs %d", path,
                           e[pick].desc, e[pick].rank, what, rank);
        goto done;
    }
    if (e[pick].too_big) { /* from the header: a compressed variable cannot inflate first */
        st = cnn_set_error(CNN_ERR_SHAPE, "%s: variable %s is too large (at most 2^20 per dimension and "
                           "2^30 values, and no more than the file can hold)", path, e[pick].desc);
        goto done;
    }
    v = Mat_VarRead(m, e[pick].name);
    if (!v || !v->data || !mat_is_numeric(v) || v->rank != rank) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: cannot read variable '%s'%s%s", path, e[pick].name,
                           g_mat_msg[0] ? ": " : "", g_mat_msg);
        goto done;
    }
    int dims[3];
    for (int i = 0; i < rank; i++) {
        if (v->dims[i] == 0 || v->dims[i] > (1u << 20)) {
            char ds[64];
            st = cnn_set_error(CNN_ERR_SHAPE, "%s: variable '%s' has size %s", path, e[pick].name,
                               mat_dims_str(v, ds, sizeof ds));
            goto done;
        }
        dims[i] = (int)v->dims[i];
    }
    st = cnn_tensor_alloc(out, rank, dims);
    if (st != CNN_OK) goto done;
    /* MATLAB is column-major: (i, j, b) at i + H*(j + W*b) -> row-major (i*W + j)*B + b */
    size_t H = (size_t)dims[0], W = (size_t)dims[1], B = rank == 3 ? (size_t)dims[2] : 1;
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < W; j++)
            for (size_t i = 0; i < H; i++)
                out->data[(i * W + j) * B + b] = (float)mat_elem(v, i + H * (j + W * b));
done:
    if (v) Mat_VarFree(v);
    cnn_free(e);
    Mat_Close(m);
    return st;
}

#else
/* Built without matio (CNN_WITH_MATIO off): .npy files still load. */
static cnn_status mat_read(const char *path, const char *var, int rank, cnn_tensor *out, char *used,
                           size_t used_size)
{
    return CNN_NOT_BUILT(path, "matio, so it reads .npy but not MATLAB .mat files", "libmatio-dev",
                         "CNN_WITH_MATIO");
}
#endif

static bool is_npy(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char b[6] = {0};
    bool yes = fread(b, 1, 6, f) == 6 && memcmp(b, "\x93NUMPY", 6) == 0;
    fclose(f);
    return yes;
}

static cnn_status hsi_read(const char *path, const char *var, int rank, cnn_tensor *out, char *used,
                           size_t used_size)
{
    memset(out, 0, sizeof *out);
    if (!path) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi: no file given");
    if (!cnn_data_is_file(path)) return cnn_set_error(CNN_ERR_IO, "%s: no such file", path);
    if (!is_npy(path)) return mat_read(path, var, rank, out, used, used_size);
    if (var)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: a .npy file has no variables (drop '%s')", path, var);
    snprintf(used, used_size, "npy");
    CNN_CHECK(cnn_npy_load(path, out));
    if (out->ndim != rank) {
        char s[96];
        cnn_tensor_free(out);
        return cnn_set_error(CNN_ERR_SHAPE, "%s: array of shape %s, the %s needs %d dimensions", path,
                             cnn_shape_str(out->ndim, out->dims, s, sizeof s),
                             rank == 3 ? "cube (H, W, bands)" : "ground truth (H, W)", rank);
    }
    return CNN_OK;
}

cnn_status cnn_hsi_read(const char *path, const char *var, int rank, cnn_tensor *out)
{
    char used[64];
    if (!out) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi read: NULL output");
    if (rank != 2 && rank != 3) {
        memset(out, 0, sizeof *out);
        return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi read: rank %d (2 or 3)", rank);
    }
    return hsi_read(path, var, rank, out, used, sizeof used);
}

/* ---------------------------------------------------------------- PCA */
/* Cyclic Jacobi on symmetric a (n x n, destroyed; eigenvalues left on the diagonal),
   eigenvectors into the columns of v. */
static void jacobi_eigen(double *a, double *v, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) v[(size_t)i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (int p = 0; p < n; p++) {
            diag += a[(size_t)p * n + p] * a[(size_t)p * n + p];
            for (int q = p + 1; q < n; q++) off += a[(size_t)p * n + q] * a[(size_t)p * n + q];
        }
        if (off <= 1e-30 * diag || off == 0.0) break;
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[(size_t)p * n + q], app = a[(size_t)p * n + p], aqq = a[(size_t)q * n + q];
                if (apq == 0.0) continue;
                /* negligible next to both diagonal entries: drop it */
                if (sweep > 3 && fabs(app) + 1e2 * fabs(apq) == fabs(app) &&
                    fabs(aqq) + 1e2 * fabs(apq) == fabs(aqq)) {
                    a[(size_t)p * n + q] = a[(size_t)q * n + p] = 0.0;
                    continue;
                }
                /* rotation J(p, q, phi) with cot(2 phi) = (aqq - app) / (2 apq) zeroes a_pq */
                double theta = (aqq - app) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; k++) { /* columns: A J */
                    double akp = a[(size_t)k * n + p], akq = a[(size_t)k * n + q];
                    a[(size_t)k * n + p] = c * akp - s * akq;
                    a[(size_t)k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows: J^T (A J) */
                    double apk = a[(size_t)p * n + k], aqk = a[(size_t)q * n + k];
                    a[(size_t)p * n + k] = c * apk - s * aqk;
                    a[(size_t)q * n + k] = s * apk + c * aqk;
                }
                a[(size_t)p * n + q] = a[(size_t)q * n + p] = 0.0;
                for (int k = 0; k < n; k++) {
                    double vkp = v[(size_t)k * n + p], vkq = v[(size_t)k * n + q];
                    v[(size_t)k * n + p] = c * vkp - s * vkq;
                    v[(size_t)k * n + q] = s * vkp + c * vkq;
                }
            }
    }
}

#define PCA_BLOCK 256

cnn_status cnn_hsi_pca(const float *x, size_t n, int bands, int k, bool whiten, float *out,
                       float *components, double *explained)
{
    if (!x || !out || n < 2 || bands < 1 || bands > 4096 || k < 1 || k > bands)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "pca: %d components of %zu spectra with %d bands (need 1 <= components <= "
                             "bands <= 4096 and at least 2 spectra)",
                             k, n, bands);
    size_t B = (size_t)bands;
    double *mean = cnn_calloc(B, sizeof *mean), *cov = cnn_calloc(B * B, sizeof *cov);
    double *vec = cnn_malloc(B * B * sizeof *vec), *blk = cnn_malloc(PCA_BLOCK * B * sizeof *blk);
    double *comp = cnn_malloc((size_t)k * B * sizeof *comp), *scale = cnn_malloc((size_t)k * sizeof *scale);
    int *order = cnn_malloc(B * sizeof *order);
    if (!mean || !cov || !vec || !blk || !comp || !scale || !order) {
        cnn_free(mean), cnn_free(cov), cnn_free(vec), cnn_free(blk), cnn_free(comp), cnn_free(scale);
        cnn_free(order);
        return cnn_set_error(CNN_ERR_NOMEM, "pca: out of memory (%d bands)", bands);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < B; b++) mean[b] += x[i * B + b];
    for (size_t b = 0; b < B; b++) mean[b] /= (double)n;
    /* covariance (upper triangle), centred blocks of spectra; rows split over threads */
    for (size_t i0 = 0; i0 < n; i0 += PCA_BLOCK) {
        size_t m = CNN_MIN((size_t)PCA_BLOCK, n - i0);
        for (size_t i = 0; i < m; i++)
            for (size_t b = 0; b < B; b++) blk[i * B + b] = (double)x[(i0 + i) * B + b] - mean[b];
#pragma omp parallel for schedule(dynamic, 4)
        for (int a = 0; a < bands; a++) {
            double *row = cov + (size_t)a * B;
            for (size_t i = 0; i < m; i++) {
                const double *xi = blk + i * B;
                double va = xi[a];
                for (size_t c = (size_t)a; c < B; c++) row[c] += va * xi[c];
            }
        }
    }
    for (size_t a = 0; a < B; a++)
        for (size_t c = a; c < B; c++) {
            cov[a * B + c] /= (double)(n - 1);
            cov[c * B + a] = cov[a * B + c];
        }
    jacobi_eigen(cov, vec, bands);
    /* eigenvalues descending (insertion sort: bands is small) */
    double total = 0.0;
    for (int i = 0; i < bands; i++) {
        order[i] = i;
        total += CNN_MAX(cov[(size_t)i * B + i], 0.0);
    }
    for (int i = 1; i < bands; i++)
        for (int j = i; j > 0 && cov[(size_t)order[j] * B + order[j]] > cov[(size_t)order[j - 1] * B + order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    double top = CNN_MAX(cov[(size_t)order[0] * B + order[0]], 0.0);
    for (int j = 0; j < k; j++) {
        int e = order[j];
        double lam = CNN_MAX(cov[(size_t)e * B + e], 0.0);
        size_t big = 0;
        for (size_t b = 0; b < B; b++)
            if (fabs(vec[b * B + (size_t)e]) > fabs(vec[big * B + (size_t)e])) big = b;
        double sign = vec[big * B + (size_t)e] < 0 ? -1.0 : 1.0;
        for (size_t b = 0; b < B; b++) comp[(size_t)j * B + b] = sign * vec[b * B + (size_t)e];
        if (explained) explained[j] = total > 0 ? lam / total : 0.0;
        /* whitening: unit variance; directions without variance carry nothing (0) */
        scale[j] = !whiten ? 1.0 : lam > 1e-12 * top && lam > 0 ? 1.0 / sqrt(lam) : 0.0;
        if (components)
            for (size_t b = 0; b < B; b++) components[(size_t)j * B + b] = (float)comp[(size_t)j * B + b];
    }
    long long nn = (long long)n;
#pragma omp parallel for schedule(static)
    for (long long i = 0; i < nn; i++) {
        const float *xi = x + (size_t)i * B;
        for (int j = 0; j < k; j++) {
            const double *cj = comp + (size_t)j * B;
            double s = 0.0;
            for (size_t b = 0; b < B; b++) s += ((double)xi[b] - mean[b]) * cj[b];
            out[(size_t)i * (size_t)k + (size_t)j] = (float)(s * scale[j]);
        }
    }
    cnn_free(mean), cnn_free(cov), cnn_free(vec), cnn_free(blk), cnn_free(comp), cnn_free(scale);
    cnn_free(order);
    return CNN_OK;
}

/* ---------------------------------------------------------------- patches and split */
void cnn_hsi_patch(const float *a, int h, int w, int k, int s, int y, int x, float *out)
{
    int r = (s - 1) / 2;
    for (int i = 0; i < s; i++) {
        int yy = y - r + i;
        for (int j = 0; j < s; j++) {
            int xx = x - r + j;
            bool in = yy >= 0 && yy < h && xx >= 0 && xx < w;
            const float *p = in ? a + ((size_t)yy * (size_t)w + (size_t)xx) * (size_t)k : NULL;
            for (int c = 0; c < k; c++) out[((size_t)c * (size_t)s + (size_t)i) * (size_t)s + (size_t)j] = in ? p[c] : 0.0f;
        }
    }
}

cnn_status cnn_hsi_split(const int32_t *gt, int n, float test_ratio, uint64_t seed, uint8_t *split)
{
    if (!gt || !split || n < 1 || !(test_ratio > 0.0f && test_ratio < 1.0f))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi split: test ratio %g is not in (0, 1)", (double)test_ratio);
    int classes = 0;
    for (int i = 0; i < n; i++) {
        if (gt[i] < 0) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi split: negative label %d", gt[i]);
        classes = CNN_MAX(classes, gt[i]);
    }
    int *start = cnn_calloc((size_t)classes + 2, sizeof *start), *idx = cnn_malloc((size_t)n * sizeof *idx);
    if (!start || !idx) {
        cnn_free(start);
        cnn_free(idx);
        return cnn_set_error(CNN_ERR_NOMEM, "hsi split: out of memory");
    }
    /* pixels grouped by class, raster order inside a class (counting sort) */
    for (int i = 0; i < n; i++) start[gt[i] + 1]++;
    for (int c = 1; c <= classes + 1; c++) start[c] += start[c - 1];
    for (int i = 0; i < n; i++) idx[start[gt[i]]++] = i;
    for (int c = classes; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) split[i] = gt[i] > 0 ? 1 : 0;
    for (int c = 1; c <= classes; c++) {
        int *p = idx + start[c], cnt = start[c + 1] - start[c];
        int n_test = (int)floor((double)test_ratio * cnt + 0.5);
        if (cnt >= 2) n_test = CNN_MIN(CNN_MAX(n_test, 1), cnt - 1);
        else n_test = 0;
        for (int i = 0; i < n_test; i++) { /* partial Fisher-Yates: the first n_test are drawn */
            int j = i + (int)cnn_rng_below(&r, (uint32_t)(cnt - i));
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
            split[p[i]] = 2;
        }
    }
    cnn_free(start);
    cnn_free(idx);
    return CNN_OK;
}

/* ---------------------------------------------------------------- scenes */
static cnn_status resolve_opts(const cnn_hsi_opts *in, cnn_hsi_opts *o)
{
    if (!in || !in->cube) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi: no cube file given");
    *o = *in;
    if (!o->pca) o->pca = HSI_DEFAULT_PCA;
    if (!o->patch) o->patch = HSI_DEFAULT_PATCH;
    if (o->test_ratio == 0.0f) o->test_ratio = HSI_DEFAULT_TEST;
    if (o->pca < 1) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi %s: pca %d must be >= 1", o->cube, o->pca);
    if (o->patch < 1)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi %s: patch %d must be >= 1", o->cube, o->patch);
    if (!(o->test_ratio > 0.0f && o->test_ratio < 1.0f))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi %s: test ratio %g is not in (0, 1)", o->cube,
                             (double)o->test_ratio);
    return CNN_OK;
}

/* The ground truth next to a cube: X_corrected.mat -> X_gt.mat, else X.mat -> X_gt.mat. */
static cnn_status default_gt(const char *cube, char *buf, size_t size)
{
    const char *base = strrchr(cube, '/');
    base = base ? base + 1 : cube;
    const char *dot = strrchr(base, '.');
    size_t stem = dot ? (size_t)(dot - cube) : strlen(cube);
    const char *ext = dot ? dot : "";
    char tried[2][1024];
    int nt = 0;
    static const char corr[] = "_corrected";
    size_t cl = sizeof corr - 1;
    if (stem >= cl + (size_t)(base - cube) + 1 && strncasecmp(cube + stem - cl, corr, cl) == 0)
        snprintf(tried[nt++], sizeof tried[0], "%.*s_gt%s", (int)(stem - cl), cube, ext);
    snprintf(tried[nt++], sizeof tried[0], "%.*s_gt%s", (int)stem, cube, ext);
    for (int i = 0; i < nt; i++)
        if (cnn_data_is_file(tried[i])) {
            if (strlen(tried[i]) >= size) break;
            snprintf(buf, size, "%s", tried[i]);
            return CNN_OK;
        }
    return cnn_set_error(CNN_ERR_NOT_FOUND, "hsi %s: no ground truth given (gt=FILE / --gt) and none found "
                         "(tried %s%s%s)", cube, tried[0], nt > 1 ? ", " : "", nt > 1 ? tried[1] : "");
}

void cnn_hsi_scene_free(cnn_hsi_scene *s)
{
    if (!s) return;
    cnn_free(s->pcs);
    cnn_free(s->gt);
    cnn_free(s->explained);
    memset(s, 0, sizeof *s);
}

cnn_status cnn_hsi_scene_load(const cnn_hsi_opts *oin, cnn_hsi_scene *out)
{
    if (!out) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi: NULL output");
    memset(out, 0, sizeof *out);
    cnn_hsi_opts o;
    CNN_CHECK(resolve_opts(oin, &o));
    char gtpath[1024], cvar[64] = "", gvar[64] = "";
    if (o.gt) snprintf(gtpath, sizeof gtpath, "%s", o.gt);
    else CNN_CHECK(default_gt(o.cube, gtpath, sizeof gtpath));
    cnn_tensor cube = {0}, gt = {0};
    cnn_status st = hsi_read(o.cube, o.cube_var, 3, &cube, cvar, sizeof cvar);
    if (st == CNN_OK) st = hsi_read(gtpath, o.gt_var, 2, &gt, gvar, sizeof gvar);
    if (st != CNN_OK) goto fail;
    int H = cube.dims[0], W = cube.dims[1], B = cube.dims[2];
    size_t npx = (size_t)H * (size_t)W;
    if (gt.dims[0] != H || gt.dims[1] != W) {
        st = cnn_set_error(CNN_ERR_SHAPE, "hsi: ground truth %s:%s is %dx%d but the cube %s:%s is %dx%dx%d",
                           gtpath, gvar, gt.dims[0], gt.dims[1], o.cube, cvar, H, W, B);
        goto fail;
    }
    for (size_t i = 0; i < npx * (size_t)B; i++)
        if (!isfinite(cube.data[i])) {
            st = cnn_set_error(CNN_ERR_FORMAT, "hsi %s:%s: value %g at pixel (%zu, %zu) band %zu is not finite",
                               o.cube, cvar, (double)cube.data[i], i / (size_t)B / (size_t)W,
                               i / (size_t)B % (size_t)W, i % (size_t)B);
            goto fail;
        }
    out->gt = cnn_malloc(npx * sizeof *out->gt);
    if (!out->gt) {
        st = cnn_set_error(CNN_ERR_NOMEM, "hsi: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < npx; i++) {
        float v = gt.data[i];
        if (!(v >= 0.0f && v < 65536.0f) || v != floorf(v)) {
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "hsi %s:%s: label %g at pixel (%zu, %zu) is not an integer class id in "
                               "[0, 65535] (0 = unlabelled)",
                               gtpath, gvar, (double)v, i / (size_t)W, i % (size_t)W);
            goto fail;
        }
        out->gt[i] = (int32_t)v;
        out->classes = CNN_MAX(out->classes, out->gt[i]);
        out->labelled += out->gt[i] > 0;
    }
    if (!out->labelled) {
        st = cnn_set_error(CNN_ERR_FORMAT, "hsi %s:%s: no labelled pixel (every label is 0)", gtpath, gvar);
        goto fail;
    }
    {
        /* the class count is the largest label: sparse labels are refused, not
           compacted (ids keep their meaning in maps and checkpoints), so one stray
           pixel of 32768 cannot make a 32768-class model (docs/limits.md) */
        int present = 0;
        uint8_t *seen = out->classes <= HSI_MAX_CLASSES ? cnn_calloc((size_t)out->classes + 1, 1) : NULL;
        if (out->classes <= HSI_MAX_CLASSES && !seen) {
            st = cnn_set_error(CNN_ERR_NOMEM, "hsi: out of memory");
            goto fail;
        }
        for (size_t i = 0; seen && i < npx; i++)
            if (out->gt[i] > 0 && !seen[out->gt[i]]) {
                seen[out->gt[i]] = 1;
                present++;
            }
        cnn_free(seen);
        if (out->classes > HSI_MAX_CLASSES) {
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "hsi %s:%s: largest label %d is more than %d classes (class ids must be "
                               "1..N; renumber the labels)",
                               gtpath, gvar, out->classes, HSI_MAX_CLASSES);
            goto fail;
        }
        if (2 * present < out->classes) {
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "hsi %s:%s: largest label %d but only %d distinct labels present: class ids "
                               "must be 1..N with at least half of them used (renumber the labels)",
                               gtpath, gvar, out->classes, present);
            goto fail;
        }
    }
    if (o.pca > B) {
        st = cnn_set_error(CNN_ERR_INVALID_ARG, "hsi %s:%s: pca %d is more than its %d bands", o.cube, cvar,
                           o.pca, B);
        goto fail;
    }
    if (o.patch > H || o.patch > W) {
        st = cnn_set_error(CNN_ERR_INVALID_ARG, "hsi %s:%s: patch %d is larger than the %dx%d image", o.cube,
                           cvar, o.patch, H, W);
        goto fail;
    }
    out->h = H;
    out->w = W;
    out->bands = B;
    out->k = o.pca;
    out->pcs = cnn_malloc(npx * (size_t)o.pca * sizeof *out->pcs);
    out->explained = cnn_malloc((size_t)o.pca * sizeof *out->explained);
    if (!out->pcs || !out->explained) {
        st = cnn_set_error(CNN_ERR_NOMEM, "hsi: out of memory (%zu pixels x %d components)", npx, o.pca);
        goto fail;
    }
    st = cnn_hsi_pca(cube.data, npx, B, o.pca, !o.no_whiten, out->pcs, NULL, out->explained);
    if (st != CNN_OK) goto fail;
    snprintf(out->source, sizeof out->source, "%s:%s", o.cube, cvar);
    cnn_tensor_free(&cube);
    cnn_tensor_free(&gt);
    return CNN_OK;
fail:
    cnn_tensor_free(&cube);
    cnn_tensor_free(&gt);
    cnn_hsi_scene_free(out);
    return st;
}

cnn_status cnn_dataset_open_hsi(const cnn_hsi_opts *oin, bool train, cnn_dataset *out)
{
    if (!out) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi: NULL output");
    memset(out, 0, sizeof *out);
    cnn_hsi_opts o;
    CNN_CHECK(resolve_opts(oin, &o));
    cnn_hsi_scene s;
    CNN_CHECK(cnn_hsi_scene_load(&o, &s));
    size_t npx = (size_t)s.h * (size_t)s.w;
    uint8_t *split = cnn_malloc(npx);
    cnn_status st = split ? cnn_hsi_split(s.gt, (int)npx, o.test_ratio, o.seed, split)
                          : cnn_set_error(CNN_ERR_NOMEM, "hsi: out of memory");
    if (st != CNN_OK) goto done;
    uint8_t side = train ? 1 : 2;
    int n = 0;
    for (size_t i = 0; i < npx; i++) n += split[i] == side;
    if (!n) {
        st = cnn_set_error(CNN_ERR_INVALID_ARG, "hsi %s: no %s pixels (%d labelled, test ratio %g)", s.source,
                           train ? "training" : "test", s.labelled, (double)o.test_ratio);
        goto done;
    }
    size_t ex = (size_t)s.k * (size_t)o.patch * (size_t)o.patch;
    out->f32 = cnn_malloc((size_t)n * ex * sizeof *out->f32);
    out->labels = cnn_malloc((size_t)n * sizeof *out->labels);
    if (!out->f32 || !out->labels) {
        st = cnn_set_error(CNN_ERR_NOMEM, "hsi %s: cannot allocate %d patches of %zu floats", s.source, n, ex);
        goto done;
    }
    int e = 0;
    for (size_t i = 0; i < npx; i++) {
        if (split[i] != side) continue;
        cnn_hsi_patch(s.pcs, s.h, s.w, s.k, o.patch, (int)(i / (size_t)s.w), (int)(i % (size_t)s.w),
                      out->f32 + (size_t)e * ex);
        out->labels[e++] = s.gt[i] - 1;
    }
    out->n = n;
    out->c = 1;
    out->d = s.k;
    out->h = out->w = o.patch;
    out->classes = s.classes;
    double var = 0.0;
    for (int j = 0; j < s.k; j++) var += s.explained[j];
    snprintf(out->source, sizeof out->source,
             "hsi %s (%dx%dx%d, PCA %d: %.2f%% of the variance, patch %d, %s: %d of %d labelled)", s.source,
             s.h, s.w, s.bands, s.k, 100.0 * var, o.patch, train ? "train" : "test", n, s.labelled);
done:
    cnn_free(split);
    cnn_hsi_scene_free(&s);
    if (st != CNN_OK) cnn_dataset_free(out);
    return st;
}

/* ---------------------------------------------------------------- spec */
cnn_status cnn_hsi_parse_spec(const char *spec, cnn_hsi_opts *o, char *buf, size_t size)
{
    if (!spec || !o || !buf) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi: NULL spec");
    memset(o, 0, sizeof *o);
    const char *full = spec;
    if (!strncmp(spec, "hsi:", 4)) spec += 4;
    if (strlen(spec) >= size) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi spec too long: %s", full);
    snprintf(buf, size, "%s", spec);
    char *q = strchr(buf, '?');
    if (q) *q++ = '\0';
    if (!*buf) return cnn_set_error(CNN_ERR_INVALID_ARG, "dataset '%s': no cube file after 'hsi:'", full);
    o->cube = buf;
    while (q && *q) {
        char *amp = strchr(q, '&');
        if (amp) *amp++ = '\0';
        char *eq = strchr(q, '=');
        if (!eq || eq == q || !eq[1])
            return cnn_set_error(CNN_ERR_INVALID_ARG, "dataset '%s': '%s' is not key=value", full, q);
        *eq = '\0';
        const char *k = q, *v = eq + 1;
        char *end;
        errno = 0;
        if (!strcmp(k, "gt")) o->gt = v;
        else if (!strcmp(k, "cube-var") || !strcmp(k, "cube_var")) o->cube_var = v;
        else if (!strcmp(k, "gt-var") || !strcmp(k, "gt_var")) o->gt_var = v;
        else if (!strcmp(k, "pca") || !strcmp(k, "patch") || !strcmp(k, "seed")) {
            long long x = strtoll(v, &end, 10);
            if (*end || errno || x < 0 || (k[0] != 's' && (x < 1 || x > 100000)))
                return cnn_set_error(CNN_ERR_INVALID_ARG, "dataset '%s': %s=%s is not a valid count", full, k, v);
            if (!strcmp(k, "pca")) o->pca = (int)x;
            else if (!strcmp(k, "patch")) o->patch = (int)x;
            else o->seed = (uint64_t)x;
        } else if (!strcmp(k, "test") || !strcmp(k, "test-ratio") || !strcmp(k, "test_ratio")) {
            double x = strtod(v, &end);
            if (*end || !(x > 0.0 && x < 1.0))
                return cnn_set_error(CNN_ERR_INVALID_ARG, "dataset '%s': test=%s is not in (0, 1)", full, v);
            o->test_ratio = (float)x;
        } else if (!strcmp(k, "whiten")) {
            if (!strcmp(v, "1") || !strcmp(v, "true")) o->no_whiten = false;
            else if (!strcmp(v, "0") || !strcmp(v, "false")) o->no_whiten = true;
            else return cnn_set_error(CNN_ERR_INVALID_ARG, "dataset '%s': whiten=%s (use 0 or 1)", full, v);
        } else {
            return cnn_set_error(CNN_ERR_INVALID_ARG,
                                 "dataset '%s': unknown option '%s' (gt, pca, patch, test, seed, cube-var, "
                                 "gt-var, whiten)",
                                 full, k);
        }
        q = amp;
    }
    return CNN_OK;
}

/* ---------------------------------------------------------------- maps */
/* 0 = unlabelled (black), then 16 well-separated colours (labels > 16 wrap). */
static const uint8_t PALETTE[17][3] = {
    {0, 0, 0},       {230, 25, 75},   {60, 180, 75},  {255, 225, 25}, {0, 130, 200}, {245, 130, 48},
    {145, 30, 180},  {70, 240, 240},  {240, 50, 230}, {210, 245, 60}, {250, 190, 212}, {0, 128, 128},
    {220, 190, 255}, {170, 110, 40},  {255, 250, 200}, {128, 0, 0},   {170, 255, 195},
};
#define MAP_GAP 4

cnn_status cnn_hsi_map_png(const char *path, int h, int w, const int32_t *pred, const int32_t *gt, int scale)
{
    if (!path || !pred || !gt || h < 1 || w < 1 || scale < 1 || scale > 64)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi map: bad arguments (%dx%d, scale %d)", h, w, scale);
    int W = 2 * w * scale + MAP_GAP, H = h * scale;
    uint8_t *img = cnn_malloc((size_t)W * (size_t)H * 3);
    if (!img) return cnn_set_error(CNN_ERR_NOMEM, "hsi map: out of memory (%dx%d)", W, H);
    memset(img, 255, (size_t)W * (size_t)H * 3);
    for (int y = 0; y < H; y++)
        for (int side = 0; side < 2; side++) {
            const int32_t *m = side ? gt : pred;
            for (int x = 0; x < w * scale; x++) {
                int32_t l = m[(size_t)(y / scale) * (size_t)w + (size_t)(x / scale)];
                const uint8_t *c = PALETTE[l > 0 ? 1 + (l - 1) % 16 : 0];
                memcpy(img + ((size_t)y * (size_t)W + (size_t)(side * (w * scale + MAP_GAP) + x)) * 3, c, 3);
            }
        }
    cnn_status st = cnn_png_write(path, W, H, 3, img);
    cnn_free(img);
    return st;
}
