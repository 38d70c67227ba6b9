/* A synthetic hyperspectral scene shaped like Indian Pines (145 x 145 x 200, 16 classes):
   fields as warped Voronoi cells on a jittered grid, each class one smooth spectrum (a
   baseline plus three Gaussian bumps over the bands), per-cell brightness, smooth spatial
   texture and sensor noise; cell borders and background cells unlabelled (0). Written
   as MATLAB files through matio, so the loader reads it like the public scenes (a build
   without matio computes the scene but cannot write it). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef CNN_HAVE_MATIO
#include <matio.h>
#endif

#include "data_internal.h"

#define SYN_BUMPS 3
#define SYN_BORDER 1.0  /* pixels within this distance of a cell border are unlabelled */
#define SYN_NOISE 0.02f /* sensor noise (spectra are ~0.1 .. 1) */

static cnn_status synth_opts(const cnn_hsi_synth_opts *in, cnn_hsi_synth_opts *o)
{
    *o = in ? *in : (cnn_hsi_synth_opts){0};
    if (!o->height) o->height = 145;
    if (!o->width) o->width = 145;
    if (!o->bands) o->bands = 200;
    if (!o->classes) o->classes = 16;
    if (o->height < 4 || o->width < 4 || o->height > 8192 || o->width > 8192 || o->bands < 2 ||
        o->bands > 4096 || o->classes < 1 || o->classes > 255 ||
        (int64_t)o->height * o->width < 4 * (int64_t)o->classes)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "hsi synth: %dx%d pixels, %d bands, %d classes (need 4..8192 pixels a side, "
                             "2..4096 bands, 1..255 classes, 4 pixels per class)",
                             o->height, o->width, o->bands, o->classes);
    return CNN_OK;
}

cnn_status cnn_hsi_synthesize(const cnn_hsi_synth_opts *oin, float *cube, int32_t *gt)
{
    cnn_hsi_synth_opts o;
    CNN_CHECK(synth_opts(oin, &o));
    if (!cube || !gt) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi synth: NULL output");
    int H = o.height, W = o.width, B = o.bands, K = o.classes;
    int ncell = 2 * K + 2; /* two cells per class, two background cells */
    int g = (int)ceil(sqrt((double)ncell));
    cnn_rng r;
    cnn_rng_seed(&r, o.seed);
    double *cy = cnn_malloc((size_t)ncell * sizeof *cy), *cx = cnn_malloc((size_t)ncell * sizeof *cx);
    double *bright = cnn_malloc((size_t)ncell * sizeof *bright);
    int *label = cnn_malloc((size_t)ncell * sizeof *label), *slot = cnn_malloc((size_t)g * g * sizeof *slot);
    float *spec = cnn_malloc((size_t)(K + 1) * (size_t)B * sizeof *spec);
    if (!cy || !cx || !bright || !label || !slot || !spec) {
        cnn_free(cy), cnn_free(cx), cnn_free(bright), cnn_free(label), cnn_free(slot), cnn_free(spec);
        return cnn_set_error(CNN_ERR_NOMEM, "hsi synth: out of memory");
    }
    /* cell centres: distinct slots of a g x g grid, jittered inside the slot */
    for (int i = 0; i < g * g; i++) slot[i] = i;
    for (int i = 0; i < ncell; i++) {
        int j = i + (int)cnn_rng_below(&r, (uint32_t)(g * g - i));
        int t = slot[i];
        slot[i] = slot[j];
        slot[j] = t;
        cy[i] = ((slot[i] / g) + 0.2 + 0.6 * cnn_rng_uniform(&r)) * H / g;
        cx[i] = ((slot[i] % g) + 0.2 + 0.6 * cnn_rng_uniform(&r)) * W / g;
        /* every class once, then random classes; the last two cells are background */
        label[i] = i < K ? i + 1 : i < 2 * K ? 1 + (int)cnn_rng_below(&r, (uint32_t)K) : 0;
        bright[i] = 0.85 + 0.3 * cnn_rng_uniform(&r);
    }
    /* spectra: index 0 is the background material */
    for (int c = 0; c <= K; c++) {
        double mu[SYN_BUMPS], sig[SYN_BUMPS], amp[SYN_BUMPS];
        double base = 0.1 + 0.1 * cnn_rng_uniform(&r), slope = 0.2 * (cnn_rng_uniform(&r) - 0.5);
        for (int k = 0; k < SYN_BUMPS; k++) {
            mu[k] = cnn_rng_uniform(&r);
            sig[k] = 0.04 + 0.16 * cnn_rng_uniform(&r);
            amp[k] = 0.2 + 0.4 * cnn_rng_uniform(&r);
        }
        for (int b = 0; b < B; b++) {
            double t = (double)b / (B - 1), v = base + slope * t;
            for (int k = 0; k < SYN_BUMPS; k++) v += amp[k] * exp(-0.5 * pow((t - mu[k]) / sig[k], 2));
            spec[(size_t)c * B + b] = (float)v;
        }
    }
    /* border warp and texture: a few random sinusoids, wavelengths of a fraction of the scene */
    double wf[4][3], wp[4][3];
    for (int a = 0; a < 4; a++)
        for (int k = 0; k < 3; k++) {
            wf[a][k] = (1.0 + 3.0 * cnn_rng_uniform(&r)) * 2.0 * M_PI / (double)(H > W ? H : W);
            wp[a][k] = 2.0 * M_PI * cnn_rng_uniform(&r);
        }
    double amp_warp = 0.05 * (H < W ? H : W);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dy = 0, dx = 0, tex = 0;
            for (int k = 0; k < 3; k++) {
                dy += sin(wf[0][k] * x + wf[1][k] * y + wp[0][k]) / 3;
                dx += sin(wf[1][k] * x + wf[0][k] * y + wp[1][k]) / 3;
                tex += sin(wf[2][k] * 3 * x + wp[2][k]) * cos(wf[3][k] * 3 * y + wp[3][k]) / 3;
            }
            double py = y + amp_warp * dy, px = x + amp_warp * dx;
            int best = 0;
            double d1 = INFINITY, d2 = INFINITY;
            for (int i = 0; i < ncell; i++) {
                double d = sqrt((py - cy[i]) * (py - cy[i]) + (px - cx[i]) * (px - cx[i]));
                if (d < d1) {
                    d2 = d1;
                    d1 = d;
                    best = i;
                } else if (d < d2) {
                    d2 = d;
                }
            }
            /* bisector distance is (d2 - d1) / 2 for nearby points */
            bool border = (d2 - d1) / 2 < SYN_BORDER;
            gt[(size_t)y * W + x] = border ? 0 : label[best];
            const float *s = spec + (size_t)label[best] * B;
            float f = (float)(bright[best] * (1.0 + 0.08 * tex));
            float *px_out = cube + ((size_t)y * W + x) * (size_t)B;
            for (int b = 0; b < B; b++) px_out[b] = s[b] * f + SYN_NOISE * cnn_rng_normal(&r);
        }
    cnn_free(cy), cnn_free(cx), cnn_free(bright), cnn_free(label), cnn_free(slot), cnn_free(spec);
    return CNN_OK;
}

#ifdef CNN_HAVE_MATIO
/* One variable into a fresh .mat file at path, atomically (temp name + rename). */
static cnn_status write_mat(const char *path, const char *var, enum matio_classes cls, enum matio_types type,
                            int rank, size_t *dims, void *data, bool v73)
{
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return cnn_set_error(CNN_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    close(fd);
    mat_t *m = Mat_CreateVer(tmp, NULL, v73 ? MAT_FT_MAT73 : MAT_FT_MAT5);
    if (!m) {
        unlink(tmp);
        return cnn_set_error(v73 ? CNN_ERR_UNSUPPORTED : CNN_ERR_IO,
                             "%s: matio cannot create a MATLAB %s file%s", path, v73 ? "v7.3" : "v5",
                             v73 ? " (built without HDF5?)" : "");
    }
    matvar_t *v = Mat_VarCreate(var, cls, type, rank, dims, data, MAT_F_DONT_COPY_DATA);
    int bad = !v || Mat_VarWrite(m, v, MAT_COMPRESSION_NONE) != 0;
    if (v) Mat_VarFree(v);
    if (Mat_Close(m) != 0) bad = 1;
    (void)chmod(tmp, 0644);
    if (bad || rename(tmp, path) != 0) {
        unlink(tmp);
        return cnn_set_error(CNN_ERR_IO, "%s: writing variable '%s' failed", path, var);
    }
    return CNN_OK;
}

#endif

cnn_status cnn_hsi_synth_write(const char *dir, const cnn_hsi_synth_opts *oin)
{
    cnn_hsi_synth_opts o;
    CNN_CHECK(synth_opts(oin, &o));
    if (!dir || !*dir) return cnn_set_error(CNN_ERR_INVALID_ARG, "hsi synth: no output folder");
#ifndef CNN_HAVE_MATIO
    return CNN_NOT_BUILT(dir, "matio, so it cannot write the synthetic scene's .mat files",
                         "libmatio-dev", "CNN_WITH_MATIO");
#else
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cnn_set_error(CNN_ERR_IO, "%s: cannot create folder: %s", dir, strerror(errno));
    size_t H = (size_t)o.height, W = (size_t)o.width, B = (size_t)o.bands;
    float *cube = cnn_malloc(H * W * B * sizeof *cube), *cm = cnn_malloc(H * W * B * sizeof *cm);
    int32_t *gt = cnn_malloc(H * W * sizeof *gt);
    uint8_t *gm = cnn_malloc(H * W);
    cnn_status st = CNN_OK;
    if (!cube || !cm || !gt || !gm) {
        st = cnn_set_error(CNN_ERR_NOMEM, "hsi synth: out of memory (%zux%zux%zu)", H, W, B);
        goto done;
    }
    st = cnn_hsi_synthesize(&o, cube, gt);
    if (st != CNN_OK) goto done;
    /* row-major (y, x, b) -> MATLAB's column-major (H, W, B) */
    for (size_t y = 0; y < H; y++)
        for (size_t x = 0; x < W; x++) {
            gm[y + H * x] = (uint8_t)gt[y * W + x];
            for (size_t b = 0; b < B; b++) cm[y + H * (x + W * b)] = cube[(y * W + x) * B + b];
        }
    char path[1024];
    size_t cd[3] = {H, W, B}, gd[2] = {H, W};
    st = cnn_data_join(path, sizeof path, dir, "synthetic.mat");
    if (st == CNN_OK) st = write_mat(path, "synthetic", MAT_C_SINGLE, MAT_T_SINGLE, 3, cd, cm, o.v73);
    if (st == CNN_OK) st = cnn_data_join(path, sizeof path, dir, "synthetic_gt.mat");
    if (st == CNN_OK) st = write_mat(path, "synthetic_gt", MAT_C_UINT8, MAT_T_UINT8, 2, gd, gm, o.v73);
done:
    cnn_free(cube);
    cnn_free(cm);
    cnn_free(gt);
    cnn_free(gm);
    return st;
#endif
}
