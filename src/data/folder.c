/* Image folders as torchvision's ImageFolder: DIR/<class>/<image>, classes and files
   in sorted (strcmp) order, class ids by position. Only PNG/JPEG files directly in a
   class folder are read; hidden entries are skipped. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static void list_free(name_list *l)
{
    for (int i = 0; i < l->n; i++) cnn_free(l->v[i]);
    cnn_free(l->v);
    memset(l, 0, sizeof *l);
}

static cnn_status list_push(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 16;
        char **nv = cnn_realloc(l->v, (size_t)nc * sizeof *nv);
        if (!nv) return cnn_set_error(CNN_ERR_NOMEM, "out of memory listing a folder");
        l->v = nv;
        l->cap = nc;
    }
    if (!(l->v[l->n] = cnn_strdup(s))) return cnn_set_error(CNN_ERR_NOMEM, "out of memory listing a folder");
    l->n++;
    return CNN_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    char ext[8];
    size_t n = strlen(dot + 1);
    if (n >= sizeof ext) return false;
    for (size_t i = 0; i <= n; i++) ext[i] = (char)tolower((unsigned char)dot[1 + i]);
    return !strcmp(ext, "png") || !strcmp(ext, "jpg") || !strcmp(ext, "jpeg");
}

/* Sorted entries of dir: sub-folders (dirs) or image files (!dirs). */
static cnn_status list_dir(const char *dir, bool dirs, name_list *out)
{
    memset(out, 0, sizeof *out);
    DIR *dp = opendir(dir);
    if (!dp) return cnn_set_error(CNN_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    cnn_status st = CNN_OK;
    struct dirent *e;
    char path[1024];
    while (st == CNN_OK && (e = readdir(dp)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (cnn_data_join(path, sizeof path, dir, e->d_name) != CNN_OK) continue;
        if (dirs ? cnn_data_is_dir(path) : (cnn_data_is_file(path) && is_image_name(e->d_name)))
            st = list_push(out, e->d_name);
    }
    closedir(dp);
    if (st != CNN_OK) {
        list_free(out);
        return st;
    }
    if (out->n) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return CNN_OK;
}

cnn_status cnn_dataset_open_folder(const char *dir, int c, int h, int w, cnn_dataset *out)
{
    if (!dir || !out) return cnn_set_error(CNN_ERR_INVALID_ARG, "folder: NULL directory or output");
    memset(out, 0, sizeof *out);
    if (c < 0 || c == 2 || c > 3 || h < 0 || w < 0)
        return cnn_set_error(CNN_ERR_INVALID_ARG,
                             "folder %s: channels must be 0, 1 or 3 and sizes >= 0 (got %d, %dx%d)",
                             dir, c, h, w);
    if (!cnn_data_is_dir(dir)) return cnn_set_error(CNN_ERR_IO, "%s: no such folder", dir);
    name_list classes, *files = NULL;
    CNN_CHECK(list_dir(dir, true, &classes));
    cnn_status st = CNN_OK;
    float *tmp = NULL;
    char path[1024], cdir[1024];
    if (classes.n == 0) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: no class sub-folders", dir);
        goto done;
    }
    files = cnn_calloc((size_t)classes.n, sizeof *files);
    if (!files) {
        st = cnn_set_error(CNN_ERR_NOMEM, "folder %s: out of memory", dir);
        goto done;
    }
    int64_t total = 0;
    for (int k = 0; k < classes.n && st == CNN_OK; k++) {
        st = cnn_data_join(cdir, sizeof cdir, dir, classes.v[k]);
        if (st == CNN_OK) st = list_dir(cdir, false, &files[k]);
        if (st == CNN_OK && files[k].n == 0)
            st = cnn_set_error(CNN_ERR_FORMAT, "%s: class folder '%s' holds no PNG/JPEG images", dir,
                               classes.v[k]);
        total += files[k].n;
    }
    if (st != CNN_OK) goto done;
    /* Unset sizes come from the first image. */
    if (c == 0 || h == 0 || w == 0) {
        int fc, fh, fw;
        st = cnn_data_join(cdir, sizeof cdir, dir, classes.v[0]);
        if (st == CNN_OK) st = cnn_data_join(path, sizeof path, cdir, files[0].v[0]);
        if (st == CNN_OK) st = cnn_image_info(path, &fc, &fh, &fw);
        if (st != CNN_OK) goto done;
        if (c == 0) c = fc;
        if (h == 0) h = fh;
        if (w == 0) w = fw;
    }
    size_t m = (size_t)c * h * w;
    if (total > INT32_MAX || (uint64_t)total * m > ((uint64_t)1 << 38)) {
        st = cnn_set_error(CNN_ERR_INVALID_ARG, "folder %s: %lld images of %dx%dx%d are too many",
                           dir, (long long)total, c, h, w);
        goto done;
    }
    out->n = (int)total;
    out->c = c;
    out->h = h;
    out->w = w;
    out->classes = classes.n;
    out->u8 = cnn_malloc((size_t)total * m);
    out->labels = cnn_malloc((size_t)total * sizeof *out->labels);
    tmp = cnn_malloc(m * sizeof *tmp);
    if (!out->u8 || !out->labels || !tmp) {
        st = cnn_set_error(CNN_ERR_NOMEM, "folder %s: out of memory (%lld images)", dir, (long long)total);
        goto done;
    }
    int i = 0;
    for (int k = 0; k < classes.n && st == CNN_OK; k++) {
        st = cnn_data_join(cdir, sizeof cdir, dir, classes.v[k]);
        for (int f = 0; f < files[k].n && st == CNN_OK; f++, i++) {
            st = cnn_data_join(path, sizeof path, cdir, files[k].v[f]);
            if (st == CNN_OK) st = cnn_image_load(path, c, h, w, tmp);
            if (st != CNN_OK) break;
            /* bytes as PIL would hold the resized image */
            uint8_t *dst = out->u8 + (size_t)i * m;
            for (size_t j = 0; j < m; j++) dst[j] = (uint8_t)lrintf(CNN_MIN(CNN_MAX(tmp[j], 0.0f), 1.0f) * 255.0f);
            out->labels[i] = k;
        }
    }
    if (st == CNN_OK) st = cnn_data_set_names(out, classes.n, (const char *const *)classes.v);
    if (st == CNN_OK) snprintf(out->source, sizeof out->source, "folder (%s)", dir);
done:
    if (files)
        for (int k = 0; k < classes.n; k++) list_free(&files[k]);
    cnn_free(files);
    list_free(&classes);
    cnn_free(tmp);
    if (st != CNN_OK) cnn_dataset_free(out);
    return st;
}

cnn_status cnn_data_folder_first_size(const char *dir, int *c, int *h, int *w)
{
    name_list classes, files = {0};
    CNN_CHECK(list_dir(dir, true, &classes));
    char cdir[1024], path[1024];
    cnn_status st = CNN_OK;
    if (classes.n == 0) st = cnn_set_error(CNN_ERR_FORMAT, "%s: no class sub-folders", dir);
    if (st == CNN_OK) st = cnn_data_join(cdir, sizeof cdir, dir, classes.v[0]);
    if (st == CNN_OK) st = list_dir(cdir, false, &files);
    if (st == CNN_OK && files.n == 0)
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: class folder '%s' holds no PNG/JPEG images", dir,
                           classes.v[0]);
    if (st == CNN_OK) st = cnn_data_join(path, sizeof path, cdir, files.v[0]);
    if (st == CNN_OK) st = cnn_image_info(path, c, h, w);
    list_free(&files);
    list_free(&classes);
    return st;
}
