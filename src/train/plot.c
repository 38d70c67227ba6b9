/* Training curves (the notes' Animator): train loss, train acc and test acc against
   epoch, per epoch or with points inside it (cnn_plot_points), as SVG (vector, readable anywhere) or PNG (rasterised here, tiny built-in
   font for the labels). Written atomically. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cnn.h"

static const char *const SERIES[3] = {"train loss", "train acc", "test acc"};
static const char *const COLORS[3] = {"#1f77b4", "#ff7f0e", "#2ca02c"};
static const unsigned char RGB[3][3] = {{0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}};

static double value(const cnn_curve_point *s, int k)
{
    return k == 0 ? s->train_loss : k == 1 ? s->train_acc : s->test_acc;
}

/* y range: 0 .. max(1, max value) rounded up to a half */
static double y_max(const cnn_curve_point *s, int n)
{
    double m = 1.0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if (isfinite(value(&s[i], k)) && value(&s[i], k) > m) m = value(&s[i], k);
    return ceil(m * 2.0) / 2.0;
}

/* x range: the points' smallest and largest epoch */
typedef struct x_range {
    double lo, hi;
} x_range;

static x_range x_of(const cnn_curve_point *s, int n)
{
    x_range r = {n ? s[0].epoch : 1.0, n ? s[0].epoch : 1.0};
    for (int i = 1; i < n; i++) {
        r.lo = fmin(r.lo, s[i].epoch);
        r.hi = fmax(r.hi, s[i].epoch);
    }
    return r;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

enum { W = 640, H = 400, L = 60, R = 150, T = 20, B = 50 };

static double px(double x, x_range r)
{
    return L + (r.hi > r.lo ? (x - r.lo) / (r.hi - r.lo) : 0.5) * (W - L - R);
}

/* integer epochs on the axis: every one, or every k-th when there are many */
static int tick_step(x_range r)
{
    int span = (int)floor(r.hi) - (int)ceil(r.lo) + 1, step = 1;
    while (span / step > 12) step++;
    return step;
}
static double py(double v, double ymax) { return T + (1.0 - v / ymax) * (H - T - B); }

typedef struct svg_points {
    const cnn_curve_point *s;
    int n;
} svg_points;

static void svg_write(FILE *f, const void *ctx)
{
    const cnn_curve_point *s = ((const svg_points *)ctx)->s;
    int n = ((const svg_points *)ctx)->n;
    double ym = y_max(s, n);
    x_range xr = x_of(s, n);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n",
            L, T, W - L - R, H - T - B);
    for (int i = 0; i <= 4; i++) {
        double v = ym * i / 4.0, y = py(v, ym);
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, W - R, y, y);
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 6, y + 4, v);
    }
    for (int e = (int)ceil(xr.lo); e <= (int)floor(xr.hi); e += tick_step(xr))
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", px(e, xr), H - B + 16, e);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", (L + W - R) / 2, H - 12);
    for (int k = 0; k < 3; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", COLORS[k]);
        for (int i = 0; i < n; i++)
            if (isfinite(value(&s[i], k))) fprintf(f, "%.1f,%.1f ", px(s[i].epoch, xr), py(value(&s[i], k), ym));
        fprintf(f, "\"/>\n");
        fprintf(f, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>"
                   "<text x=\"%d\" y=\"%d\">%s</text>\n",
                W - R + 10, W - R + 30, T + 20 + 20 * k, T + 20 + 20 * k, COLORS[k], W - R + 36,
                T + 24 + 20 * k, SERIES[k]);
    }
    fprintf(f, "</svg>\n");
}

/* ---------------------------------------------------------------- PNG */
/* 5x7 glyphs, one byte per row (low 5 bits), for the few characters we print. */
static const struct { char c; unsigned char rows[7]; } FONT[] = {
    {'0', {14, 17, 19, 21, 25, 17, 14}}, {'1', {4, 12, 4, 4, 4, 4, 14}},
    {'2', {14, 17, 1, 2, 4, 8, 31}},     {'3', {31, 2, 4, 2, 1, 17, 14}},
    {'4', {2, 6, 10, 18, 31, 2, 2}},     {'5', {31, 16, 30, 1, 1, 17, 14}},
    {'6', {6, 8, 16, 30, 17, 17, 14}},   {'7', {31, 1, 2, 4, 8, 8, 8}},
    {'8', {14, 17, 17, 14, 17, 17, 14}}, {'9', {14, 17, 17, 15, 1, 2, 12}},
    {'.', {0, 0, 0, 0, 0, 12, 12}},      {'a', {0, 0, 14, 1, 15, 17, 15}},
    {'c', {0, 0, 14, 16, 16, 17, 14}},   {'e', {0, 0, 14, 17, 31, 16, 14}},
    {'h', {16, 16, 22, 25, 17, 17, 17}}, {'i', {4, 0, 12, 4, 4, 4, 14}},
    {'l', {12, 4, 4, 4, 4, 4, 14}},      {'n', {0, 0, 22, 25, 17, 17, 17}},
    {'o', {0, 0, 14, 17, 17, 17, 14}},   {'p', {0, 0, 30, 17, 30, 16, 16}},
    {'r', {0, 0, 22, 25, 16, 16, 16}},   {'s', {0, 0, 15, 16, 14, 1, 30}},
    {'t', {8, 8, 28, 8, 8, 9, 6}},
};

static void dot(unsigned char *img, int x, int y, const unsigned char *c)
{
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    memcpy(img + ((size_t)y * W + x) * 3, c, 3);
}

static void text(unsigned char *img, int x, int y, const char *s)
{
    static const unsigned char black[3] = {0, 0, 0};
    for (; *s; s++, x += 6)
        for (size_t g = 0; g < sizeof FONT / sizeof FONT[0]; g++)
            if (FONT[g].c == *s)
                for (int r = 0; r < 7; r++)
                    for (int b = 0; b < 5; b++)
                        if (FONT[g].rows[r] & (16 >> b)) dot(img, x + b, y + r, black);
}

static void line(unsigned char *img, double x0, double y0, double x1, double y1,
                 const unsigned char *c, int thick)
{
    int steps = (int)fmax(fabs(x1 - x0), fabs(y1 - y0)) + 1;
    for (int i = 0; i <= steps; i++) {
        double t = (double)i / steps;
        int x = (int)lround(x0 + t * (x1 - x0)), y = (int)lround(y0 + t * (y1 - y0));
        for (int dx = 0; dx < thick; dx++)
            for (int dy = 0; dy < thick; dy++) dot(img, x + dx, y + dy, c);
    }
}

static cnn_status write_png(const char *path, const cnn_curve_point *s, int n)
{
    x_range xr = x_of(s, n);
    unsigned char *img = cnn_malloc((size_t)W * H * 3);
    if (!img) return cnn_set_error(CNN_ERR_NOMEM, "plot: out of memory");
    memset(img, 255, (size_t)W * H * 3);
    static const unsigned char grid[3] = {0xdd, 0xdd, 0xdd}, axis[3] = {0x44, 0x44, 0x44};
    double ym = y_max(s, n);
    char buf[32];
    for (int i = 0; i <= 4; i++) {
        double v = ym * i / 4.0, y = py(v, ym);
        line(img, L, y, W - R, y, i == 0 ? axis : grid, 1);
        snprintf(buf, sizeof buf, "%.2f", v);
        text(img, L - 6 - 6 * (int)strlen(buf), (int)y - 3, buf);
    }
    line(img, L, T, L, H - B, axis, 1);
    line(img, W - R, T, W - R, H - B, axis, 1);
    line(img, L, T, W - R, T, axis, 1);
    for (int e = (int)ceil(xr.lo); e <= (int)floor(xr.hi); e += tick_step(xr)) {
        snprintf(buf, sizeof buf, "%d", e);
        text(img, (int)px(e, xr) - 3 * (int)strlen(buf), H - B + 8, buf);
    }
    text(img, (L + W - R) / 2 - 15, H - 20, "epoch");
    for (int k = 0; k < 3; k++) {
        for (int i = 0, prev = -1; i < n; i++) { /* through the series' own points */
            if (!isfinite(value(&s[i], k))) continue;
            if (prev >= 0)
                line(img, px(s[prev].epoch, xr), py(value(&s[prev], k), ym), px(s[i].epoch, xr),
                     py(value(&s[i], k), ym), RGB[k], 2);
            prev = i;
        }
        line(img, W - R + 10, T + 20 + 20 * k, W - R + 30, T + 20 + 20 * k, RGB[k], 2);
        text(img, W - R + 36, T + 17 + 20 * k, SERIES[k]);
    }
    cnn_status st = cnn_png_write(path, W, H, 3, img);
    cnn_free(img);
    return st;
}

cnn_status cnn_plot_points(const char *path, const cnn_curve_point *s, int n)
{
    if (!path || (!s && n) || n < 0) return cnn_set_error(CNN_ERR_INVALID_ARG, "plot: bad arguments");
    if (ends_with(path, ".png")) return write_png(path, s, n);
    if (!ends_with(path, ".svg"))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "plot '%s': use a .svg or .png file name", path);
    return cnn_write_text_atomic(path, svg_write, &(svg_points){s, n}, "plot '%s': cannot write");
}

cnn_status cnn_plot_curves(const char *path, const cnn_epoch_stats *s, int n)
{
    if (!path || !s || n < 0) return cnn_set_error(CNN_ERR_INVALID_ARG, "plot: bad arguments");
    cnn_curve_point *p = cnn_malloc((size_t)(n ? n : 1) * sizeof *p);
    if (!p) return cnn_set_error(CNN_ERR_NOMEM, "plot: out of memory");
    for (int i = 0; i < n; i++)
        p[i] = (cnn_curve_point){s[i].epoch, s[i].train_loss, s[i].train_acc, s[i].test_acc};
    cnn_status st = cnn_plot_points(path, p, n);
    cnn_free(p);
    return st;
}
