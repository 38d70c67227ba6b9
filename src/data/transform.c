/* The per-example transform of the loader: Resize -> RandomCrop(padding) ->
   RandomHorizontalFlip -> ToTensor -> Normalize, as a torchvision pipeline. */
#include <string.h>

#include "data_internal.h"

cnn_status cnn_xform_init(cnn_xform *x, const cnn_dataset *d, const cnn_transform *t)
{
    memset(x, 0, sizeof *x);
    if (!d || d->n <= 0 || (!d->u8 && !d->f32) || !d->labels || d->c <= 0 || d->h <= 0 ||
        d->w <= 0 || d->d < 0)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "loader: empty or malformed dataset %s",
                             d ? d->source : "(null)");
    x->c = d->c;
    x->d = d->d;
    x->h = x->oh = d->h;
    x->w = x->ow = d->w;
    for (int k = 0; k < 4; k++) x->std[k] = 1.0f;
    if (!t) return CNN_OK;
    if (t->resize_h < 0 || t->resize_w < 0 || t->crop_padding < 0)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "transform: resize %dx%d and crop_padding %d must not be negative",
                             t->resize_h, t->resize_w, t->crop_padding);
    if (t->resize_h) x->oh = t->resize_h;
    if (t->resize_w) x->ow = t->resize_w;
    if ((int64_t)x->oh * x->ow > (1 << 26))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "transform: resize to %dx%d is too large", x->oh, x->ow);
    if (t->crop_padding > CNN_MAX(x->oh, x->ow))
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "transform: crop_padding %d exceeds the image size %dx%d",
                             t->crop_padding, x->oh, x->ow);
    x->pad = t->crop_padding;
    x->hflip = t->hflip;
    x->normalize = t->normalize;
    if (t->normalize) {
        if (d->c > 4)
            return cnn_set_error(CNN_ERR_INVALID_ARG,
                                 "transform: normalize takes at most 4 channels, the data has %d", d->c);
        for (int k = 0; k < d->c; k++) {
            if (!(t->std[k] > 0.0f))
                return cnn_set_error(CNN_ERR_INVALID_ARG,
                                     "transform: std[%d] = %g must be positive", k, (double)t->std[k]);
            x->mean[k] = t->mean[k];
            x->std[k] = t->std[k];
        }
    }
    return CNN_OK;
}

static size_t planes(const cnn_xform *x) { return (size_t)x->c * (size_t)(x->d > 0 ? x->d : 1); }

size_t cnn_xform_scratch(const cnn_xform *x)
{
    size_t s = planes(x) * (size_t)x->h * x->w;
    if (x->oh != x->h || x->ow != x->w) s += planes(x) * (size_t)x->oh * x->ow;
    return s;
}

void cnn_xform_apply(const cnn_xform *x, const cnn_dataset *ds, int i, bool augment,
                     cnn_rng *rng, float *scratch, float *out)
{
    const size_t np = planes(x), in_sz = (size_t)x->h * x->w, out_sz = (size_t)x->oh * x->ow;
    const size_t m = np * in_sz;
    float *src = scratch;
    if (ds->u8) {
        const uint8_t *p = ds->u8 + (size_t)i * m;
        for (size_t k = 0; k < m; k++) src[k] = (float)p[k] / 255.0f; /* as ToTensor */
    } else {
        memcpy(src, ds->f32 + (size_t)i * m, m * sizeof *src);
    }
    const float *cur = src;
    if (x->oh != x->h || x->ow != x->w) {
        cnn_resize_bilinear(src, (int)np, x->h, x->w, scratch + m, x->oh, x->ow);
        cur = scratch + m;
    }
    /* RandomCrop picks the window's corner in [0, 2 pad]; the flip mirrors the window. */
    int oy = x->pad, ox = x->pad;
    bool flip = false;
    if (augment && x->pad > 0) {
        oy = (int)cnn_rng_below(rng, (uint32_t)(2 * x->pad + 1));
        ox = (int)cnn_rng_below(rng, (uint32_t)(2 * x->pad + 1));
    }
    if (augment && x->hflip) flip = cnn_rng_uniform(rng) < 0.5f;
    const int depth = x->d > 0 ? x->d : 1;
    for (size_t p = 0; p < np; p++) {
        const float *s = cur + p * out_sz;
        float *o = out + p * out_sz;
        int ch = (int)(p / (size_t)depth);
        float mean = x->normalize ? x->mean[ch] : 0.0f, sd = x->normalize ? x->std[ch] : 1.0f;
        for (int y = 0; y < x->oh; y++) {
            int sy = y + oy - x->pad;
            for (int xx = 0; xx < x->ow; xx++) {
                int sx = (flip ? x->ow - 1 - xx : xx) + ox - x->pad;
                float v = (sy >= 0 && sy < x->oh && sx >= 0 && sx < x->ow) ? s[(size_t)sy * x->ow + sx] : 0.0f;
                o[(size_t)y * x->ow + xx] = x->normalize ? (v - mean) / sd : v;
            }
        }
    }
}
