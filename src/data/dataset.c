/* Data set specs ("fashion-mnist", "mnist:DIR", "cifar10:DIR", ...), shared helpers
   and the accessors of cnn_dataset. */
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"

/* Debian's dataset-fashion-mnist installs the four gzip'd IDX files here. */
#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Fashion-MNIST's classes, as torchvision.datasets.FashionMNIST.classes. */
static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

cnn_status cnn_data_join(char *buf, size_t size, const char *dir, const char *name)
{
    int k = snprintf(buf, size, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= size)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "path too long: %s/%s", dir, name);
    return CNN_OK;
}

bool cnn_data_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

bool cnn_data_is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

cnn_status cnn_data_set_names(cnn_dataset *d, int n, const char *const *names)
{
    d->class_names = cnn_calloc((size_t)n, sizeof *d->class_names);
    if (!d->class_names) return cnn_set_error(CNN_ERR_NOMEM, "out of memory (class names)");
    for (int i = 0; i < n; i++) {
        d->class_names[i] = cnn_strdup(names[i]);
        if (!d->class_names[i]) return cnn_set_error(CNN_ERR_NOMEM, "out of memory (class names)");
    }
    return CNN_OK;
}

void cnn_dataset_free(cnn_dataset *d)
{
    if (!d) return;
    if (d->class_names)
        for (int i = 0; i < d->classes; i++) cnn_free(d->class_names[i]);
    cnn_free(d->class_names);
    cnn_free(d->u8);
    cnn_free(d->f32);
    cnn_free(d->labels);
    memset(d, 0, sizeof *d);
}

size_t cnn_dataset_example_size(const cnn_dataset *d)
{
    return (size_t)d->c * (size_t)(d->d > 0 ? d->d : 1) * (size_t)d->h * (size_t)d->w;
}

cnn_status cnn_dataset_example(const cnn_dataset *d, int i, float *out)
{
    if (!d || !out || i < 0 || i >= d->n)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "dataset %s: example %d out of range [0, %d)",
                             d ? d->source : "?", i, d ? d->n : 0);
    size_t m = cnn_dataset_example_size(d);
    if (d->u8) {
        const uint8_t *p = d->u8 + (size_t)i * m;
        for (size_t k = 0; k < m; k++) out[k] = (float)p[k] / 255.0f; /* as ToTensor */
    } else if (d->f32) {
        memcpy(out, d->f32 + (size_t)i * m, m * sizeof *out);
    } else {
        return cnn_set_error(CNN_ERR_STATE, "dataset %s holds no data", d->source);
    }
    return CNN_OK;
}

/* The first of the usual names of an IDX file in dir: prefix "train", what "images",
   kind "idx3" -> train-images-idx3-ubyte[.gz] or train-images.idx3-ubyte[.gz]. */
static cnn_status find_idx(const char *dir, const char *prefix, const char *what,
                           const char *kind, char *path, size_t size)
{
    static const char seps[2] = {'-', '.'};
    static const char *const exts[2] = {".gz", ""};
    char name[128];
    for (int s = 0; s < 2; s++)
        for (int e = 0; e < 2; e++) {
            snprintf(name, sizeof name, "%s-%s%c%s-ubyte%s", prefix, what, seps[s], kind, exts[e]);
            CNN_CHECK(cnn_data_join(path, size, dir, name));
            if (cnn_data_is_file(path)) return CNN_OK;
        }
    if (!cnn_data_is_dir(dir)) return cnn_set_error(CNN_ERR_IO, "%s: no such directory", dir);
    return cnn_set_error(CNN_ERR_IO, "%s: no %s-%s-%s-ubyte[.gz] in it", dir, prefix, what, kind);
}

/* MNIST-layout directory; classes 0 = inferred from the labels. */
static cnn_status open_mnist_dir(const char *dir, bool train, int classes,
                                 const char *const *names, const char *what, cnn_dataset *out)
{
    char ip[1024], lp[1024];
    const char *prefix = train ? "train" : "t10k";
    CNN_CHECK(find_idx(dir, prefix, "images", "idx3", ip, sizeof ip));
    CNN_CHECK(find_idx(dir, prefix, "labels", "idx1", lp, sizeof lp));
    CNN_CHECK(cnn_data_open_idx_pair(ip, lp, classes, out));
    if (names) {
        cnn_status st = cnn_data_set_names(out, classes, names);
        if (st != CNN_OK) {
            cnn_dataset_free(out);
            return st;
        }
    }
    snprintf(out->source, sizeof out->source, "%s (%s, %s)", what, dir, train ? "train" : "test");
    return CNN_OK;
}

/* folder:DIR uses DIR/train and DIR/test (or DIR/val) when both exist. */
static cnn_status open_folder_spec(const char *dir, bool train, cnn_dataset *out)
{
    char tr[1024], te[1024];
    CNN_CHECK(cnn_data_join(tr, sizeof tr, dir, "train"));
    CNN_CHECK(cnn_data_join(te, sizeof te, dir, "test"));
    if (!cnn_data_is_dir(te)) CNN_CHECK(cnn_data_join(te, sizeof te, dir, "val"));
    if (cnn_data_is_dir(tr) && cnn_data_is_dir(te)) {
        if (train) return cnn_dataset_open_folder(tr, 0, 0, 0, out);
        /* The test split takes the train split's image size, so one model fits both. */
        int c, h, w;
        CNN_CHECK(cnn_data_folder_first_size(tr, &c, &h, &w));
        return cnn_dataset_open_folder(te, c, h, w, out);
    }
    return cnn_dataset_open_folder(dir, 0, 0, 0, out);
}

cnn_status cnn_dataset_open(const char *spec, bool train, cnn_dataset *out)
{
    if (!spec || !out) return cnn_set_error(CNN_ERR_INVALID_ARG, "dataset: NULL spec or output");
    memset(out, 0, sizeof *out);
    const char *colon = strchr(spec, ':');
    size_t kl = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *arg = colon ? colon + 1 : NULL;
#define IS(k) (kl == strlen(k) && strncmp(spec, k, kl) == 0)
    if (IS("fashion-mnist") || IS("fashion_mnist") || IS("fashionmnist"))
        return open_mnist_dir(arg && *arg ? arg : FASHION_MNIST_DIR, train, 10, fashion_names,
                              "fashion-mnist", out);
    if (arg && !*arg)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "dataset '%s': empty directory after ':'", spec);
    if (IS("mnist") && arg) return open_mnist_dir(arg, train, 10, NULL, "mnist", out);
    if (IS("idx") && arg) return open_mnist_dir(arg, train, 0, NULL, "idx", out);
    if (IS("cifar10") && arg) return cnn_dataset_open_cifar10(arg, train, out);
    if (IS("folder") && arg) return open_folder_spec(arg, train, out);
    if (IS("hsi") && arg) { /* hsi:CUBE?gt=GT&pca=30&patch=25&test=0.7&seed=0 (src/data/hsi.c) */
        cnn_hsi_opts o;
        char buf[4096];
        CNN_CHECK(cnn_hsi_parse_spec(spec, &o, buf, sizeof buf));
        return cnn_dataset_open_hsi(&o, train, out);
    }
#undef IS
    return cnn_set_error(CNN_ERR_INVALID_ARG,
                         "unknown dataset '%s': expected fashion-mnist[:DIR], mnist:DIR, idx:DIR, "
                         "cifar10:DIR, folder:DIR or hsi:CUBE.mat?gt=GT.mat",
                         spec);
}
