/* Image files: PNG through libpng's simplified API, JPEG through libjpeg (format from
   the file's first bytes); bilinear resize as torch's interpolate; atomic PNG writes.
   A build without libpng or libjpeg (CNN_WITH_PNG / CNN_WITH_JPEG off) recognises the
   format and answers CNN_ERR_UNSUPPORTED for it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef CNN_HAVE_JPEG
#include <jpeglib.h>
#include <jerror.h>
#endif
#ifdef CNN_HAVE_PNG
#include <png.h>
#endif

#include "data_internal.h"

#define IMAGE_MAX_PIXELS ((uint64_t)1 << 28)
/* cnn_image_load decodes at most max(FLOOR, PER_OUT x requested pixels) */
#define IMAGE_BUDGET_FLOOR ((uint64_t)1 << 25)
#define IMAGE_BUDGET_PER_OUT 16

/* A decoded image: ch (1 gray, 3 RGB) colour channels, then one alpha byte per pixel
   when alpha is set, interleaved; h rows of w pixels. */
typedef struct raw_image {
    uint8_t *pix;
    int ch, h, w;
    bool alpha;
} raw_image;

typedef enum { IMG_UNKNOWN, IMG_PNG, IMG_JPEG } img_kind;

static cnn_status sniff(const char *path, FILE **fp, img_kind *kind)
{
    *fp = fopen(path, "rb");
    if (!*fp) return cnn_set_error(CNN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t m[8] = {0};
    size_t got = fread(m, 1, sizeof m, *fp);
    rewind(*fp);
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (got == 8 && memcmp(m, png_sig, 8) == 0) *kind = IMG_PNG;
    else if (got >= 3 && m[0] == 0xff && m[1] == 0xd8 && m[2] == 0xff) *kind = IMG_JPEG;
    else {
        fclose(*fp);
        *fp = NULL;
        return cnn_set_error(CNN_ERR_FORMAT, "%s: not a PNG or JPEG file", path);
    }
    return CNN_OK;
}

#if defined(CNN_HAVE_PNG) || defined(CNN_HAVE_JPEG)
static cnn_status check_size(const char *path, uint64_t h, uint64_t w)
{
    if (h == 0 || w == 0 || h * w > IMAGE_MAX_PIXELS)
        return cnn_set_error(CNN_ERR_FORMAT, "%s: unsupported image size %llux%llu", path,
                             (unsigned long long)w, (unsigned long long)h);
    return CNN_OK;
}
#endif

#ifdef CNN_HAVE_PNG
/* PNG -> gray or RGB bytes, plus the alpha channel when the file has one (the loader
   keeps or drops it; colours are never composited). */
static cnn_status png_decode(FILE *f, const char *path, bool header_only, raw_image *img)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_stdio(&pi, f))
        return cnn_set_error(CNN_ERR_FORMAT, "%s: bad PNG: %s", path, pi.message);
    img->ch = (pi.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    img->h = (int)pi.height;
    img->w = (int)pi.width;
    cnn_status st = check_size(path, pi.height, pi.width);
    if (st != CNN_OK || header_only) {
        png_image_free(&pi);
        return st;
    }
    bool alpha = (pi.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    pi.format = (img->ch == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) | (alpha ? PNG_FORMAT_FLAG_ALPHA : 0);
    int stride = img->ch + (alpha ? 1 : 0);
    uint8_t *buf = cnn_malloc((size_t)pi.height * pi.width * (size_t)stride);
    if (!buf) {
        png_image_free(&pi);
        return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!png_image_finish_read(&pi, NULL, buf, 0, NULL)) {
        cnn_free(buf);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: bad PNG: %s", path, pi.message);
    }
    img->alpha = alpha;
    img->pix = buf;
    return CNN_OK;
}

#else
static cnn_status png_decode(FILE *f, const char *path, bool header_only, raw_image *img)
{
    return CNN_NOT_BUILT(path, "libpng, so it cannot read PNG images", "libpng-dev",
                         "CNN_WITH_PNG");
}
#endif

#ifdef CNN_HAVE_JPEG
/* libjpeg reports fatal errors through error_exit, which must not return. */
typedef struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    bool truncated;
    char message[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_on_error(j_common_ptr ci)
{
    jpeg_err *e = (jpeg_err *)ci->err;
    (*ci->err->format_message)(ci, e->message);
    longjmp(e->jump, 1);
}

static void jpeg_on_message(j_common_ptr ci, int level)
{
    jpeg_err *e = (jpeg_err *)ci->err;
    if (level < 0 && ci->err->msg_code == JWRN_JPEG_EOF) e->truncated = true;
}

static cnn_status jpeg_decode(FILE *f, const char *path, bool header_only, raw_image *img)
{
    struct jpeg_decompress_struct ci;
    jpeg_err err;
    memset(&err, 0, sizeof err);
    ci.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = jpeg_on_error;
    err.mgr.emit_message = jpeg_on_message;
    uint8_t *volatile buf = NULL;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&ci);
        cnn_free(buf);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: bad JPEG: %s", path, err.message);
    }
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    if (ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&ci);
        return cnn_set_error(CNN_ERR_UNSUPPORTED, "%s: CMYK JPEG images are not supported", path);
    }
    img->ch = ci.num_components == 1 ? 1 : 3;
    img->h = (int)ci.image_height;
    img->w = (int)ci.image_width;
    cnn_status st = check_size(path, ci.image_height, ci.image_width);
    if (st != CNN_OK || header_only) {
        jpeg_destroy_decompress(&ci);
        return st;
    }
    ci.out_color_space = img->ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&ci);
    if ((int)ci.output_components != img->ch || (int)ci.output_height != img->h ||
        (int)ci.output_width != img->w) {
        jpeg_destroy_decompress(&ci);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: unexpected JPEG output layout", path);
    }
    size_t row = (size_t)img->w * (size_t)img->ch;
    buf = cnn_malloc(row * (size_t)img->h);
    if (!buf) {
        jpeg_destroy_decompress(&ci);
        return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW r = buf + row * ci.output_scanline;
        jpeg_read_scanlines(&ci, &r, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    if (err.truncated) {
        cnn_free(buf);
        return cnn_set_error(CNN_ERR_FORMAT, "%s: truncated JPEG (premature end of data)", path);
    }
    img->pix = buf;
    return CNN_OK;
}

#else
static cnn_status jpeg_decode(FILE *f, const char *path, bool header_only, raw_image *img)
{
    return CNN_NOT_BUILT(path, "libjpeg, so it cannot read JPEG images", "libjpeg-dev",
                         "CNN_WITH_JPEG");
}
#endif

static cnn_status decode(const char *path, bool header_only, raw_image *img)
{
    memset(img, 0, sizeof *img);
    if (!path) return cnn_set_error(CNN_ERR_INVALID_ARG, "image: NULL path");
    FILE *f;
    img_kind kind = IMG_UNKNOWN;
    CNN_CHECK(sniff(path, &f, &kind));
    cnn_status st = kind == IMG_PNG ? png_decode(f, path, header_only, img)
                                    : jpeg_decode(f, path, header_only, img);
    fclose(f);
    return st;
}

cnn_status cnn_image_info(const char *path, int *c, int *h, int *w)
{
    raw_image img;
    CNN_CHECK(decode(path, true, &img));
    if (c) *c = img.ch;
    if (h) *h = img.h;
    if (w) *w = img.w;
    return CNN_OK;
}

cnn_status cnn_image_load(const char *path, int c, int h, int w, float *out)
{
    if (!out || c < 1 || c > 4 || h <= 0 || w <= 0)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "image %s: channels must be 1, 2 (gray + alpha), 3 or 4 (RGBA) and size "
                             "positive (got %d, %dx%d)",
                             path ? path : "(null)", c, h, w);
    raw_image img;
    /* decompression bombs: the stored size is read first and refused, before any
       decoding, beyond a pixel budget tied to the requested size (docs/limits.md) */
    CNN_CHECK(decode(path, true, &img));
    uint64_t budget = CNN_MAX(IMAGE_BUDGET_FLOOR, IMAGE_BUDGET_PER_OUT * (uint64_t)h * (uint64_t)w);
    if ((uint64_t)img.h * (uint64_t)img.w > budget)
        return cnn_set_error(CNN_ERR_FORMAT,
                             "%s: %dx%d image (%.1f M pixels) is over the decoding budget of %.1f M pixels "
                             "for a %dx%d input (max(2^25, 16 x the input))",
                             path, img.w, img.h, (double)img.h * img.w / 1e6, (double)budget / 1e6, w, h);
    CNN_CHECK(decode(path, false, &img));
    size_t np = (size_t)img.h * (size_t)img.w;
    bool same = img.h == h && img.w == w;
    float *planes = same ? out : cnn_malloc(np * (size_t)c * sizeof *planes);
    if (!planes) {
        cnn_free(img.pix);
        return cnn_set_error(CNN_ERR_NOMEM, "%s: out of memory", path);
    }
    const float s = 255.0f; /* divided, as ToTensor */
    const uint8_t *p = img.pix;
    /* c = 2 / 4: colour as for 1 / 3, then alpha as the last channel (PIL's
       convert("LA") / convert("RGBA"): 1.0 where the file has no alpha); c = 1 / 3 drop
       the alpha channel (PIL's convert("L") / convert("RGB")) */
    const int colour = c == 2 ? 1 : c == 4 ? 3 : c;
    const size_t stride = (size_t)img.ch + (img.alpha ? 1 : 0);
    for (size_t i = 0; i < np; i++) {
        const uint8_t *q = p + i * stride;
        if (img.ch == 1) {
            float v = q[0] / s;
            for (int k = 0; k < colour; k++) planes[(size_t)k * np + i] = v;
        } else {
            float r = q[0] / s, g = q[1] / s, b = q[2] / s;
            if (colour == 1) {
                /* ITU-R 601-2 luma, as PIL's convert("L") (without its rounding) */
                planes[i] = 0.299f * r + 0.587f * g + 0.114f * b;
            } else {
                planes[i] = r;
                planes[np + i] = g;
                planes[2 * np + i] = b;
            }
        }
        if (colour < c) planes[(size_t)colour * np + i] = img.alpha ? q[img.ch] / s : 1.0f;
    }
    cnn_free(img.pix);
    if (!same) {
        cnn_resize_bilinear(planes, c, img.h, img.w, out, h, w);
        cnn_free(planes);
    }
    return CNN_OK;
}

void cnn_resize_bilinear(const float *src, int c, int h, int w, float *dst, int oh, int ow)
{
    if (h == oh && w == ow) {
        memcpy(dst, src, (size_t)c * h * w * sizeof *dst);
        return;
    }
    /* align_corners=False: source = (dst + 0.5) * in / out - 0.5, clamped below at 0 */
    const float sy = (float)h / (float)oh, sx = (float)w / (float)ow;
    for (int ch = 0; ch < c; ch++) {
        const float *s = src + (size_t)ch * h * w;
        float *d = dst + (size_t)ch * oh * ow;
        for (int y = 0; y < oh; y++) {
            float fy = CNN_MAX(((float)y + 0.5f) * sy - 0.5f, 0.0f);
            int y0 = (int)fy, y1 = y0 + (y0 < h - 1);
            float ly = fy - (float)y0;
            for (int x = 0; x < ow; x++) {
                float fx = CNN_MAX(((float)x + 0.5f) * sx - 0.5f, 0.0f);
                int x0 = (int)fx, x1 = x0 + (x0 < w - 1);
                float lx = fx - (float)x0;
                d[(size_t)y * ow + x] =
                    (1.0f - ly) * ((1.0f - lx) * s[(size_t)y0 * w + x0] + lx * s[(size_t)y0 * w + x1]) +
                    ly * ((1.0f - lx) * s[(size_t)y1 * w + x0] + lx * s[(size_t)y1 * w + x1]);
            }
        }
    }
}

cnn_status cnn_png_write(const char *path, int w, int h, int channels, const uint8_t *pixels)
{
    if (!path || !pixels || w <= 0 || h <= 0 || (channels != 1 && channels != 3))
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "png %s: need 1 or 3 channels and a positive size (got %d, %dx%d)",
                             path ? path : "(null)", channels, w, h);
#ifndef CNN_HAVE_PNG
    return CNN_NOT_BUILT(path, "libpng, so it cannot write PNG images", "libpng-dev",
                         "CNN_WITH_PNG");
#else
    char tmp[1100];
    int k = snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path);
    if (k < 0 || (size_t)k >= sizeof tmp) return cnn_set_error(CNN_ERR_INVALID_ARG, "path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return cnn_set_error(CNN_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    (void)fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return cnn_set_error(CNN_ERR_IO, "%s: %s", tmp, strerror(errno));
    }
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)w;
    pi.height = (png_uint_32)h;
    pi.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    int ok = png_image_write_to_stdio(&pi, f, 0, pixels, 0, NULL);
    char msg[128];
    snprintf(msg, sizeof msg, "%s", ok ? "" : pi.message);
    png_image_free(&pi);
    ok = ok && fflush(f) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        unlink(tmp);
        return cnn_set_error(CNN_ERR_IO, "%s: write failed: %s", path, msg[0] ? msg : strerror(errno));
    }
    if (rename(tmp, path) != 0) {
        cnn_status st = cnn_set_error(CNN_ERR_IO, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
        unlink(tmp);
        return st;
    }
    return CNN_OK;
#endif
}
