/* CIFAR-10 binary version: records of 1 label byte + 3072 pixel bytes (3x32x32, CHW),
   data_batch_1..5.bin for training and test_batch.bin for testing; class names one a
   line in batches.meta.txt. */
#include <errno.h>
#include <string.h>

#include "data_internal.h"

#define CIFAR_PIXELS 3072
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10

/* The names the data set's own batches.meta.txt lists. */
static const char *const cifar_names[CIFAR_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

/* Size of a regular file, or an error naming it. */
static cnn_status file_size(FILE *f, const char *path, long *size)
{
    if (fseek(f, 0, SEEK_END) != 0 || (*size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        return cnn_set_error(CNN_ERR_IO, "%s: cannot determine size: %s", path, strerror(errno));
    return CNN_OK;
}

/* Names from batches.meta.txt (blank lines skipped); the standard ones if absent. */
static cnn_status read_names(const char *dir, cnn_dataset *d)
{
    char path[1024];
    CNN_CHECK(cnn_data_join(path, sizeof path, dir, "batches.meta.txt"));
    FILE *f = fopen(path, "rb");
    if (!f) return cnn_data_set_names(d, CIFAR_CLASSES, cifar_names);
    char lines[CIFAR_CLASSES][128], buf[256];
    const char *ptrs[CIFAR_CLASSES];
    int k = 0;
    while (fgets(buf, sizeof buf, f)) {
        size_t len = strcspn(buf, "\r\n");
        buf[len] = '\0';
        while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t')) buf[--len] = '\0';
        if (len == 0) continue;
        if (k == CIFAR_CLASSES) {
            fclose(f);
            return cnn_set_error(CNN_ERR_FORMAT, "%s: more than %d class names", path,
                                 CIFAR_CLASSES);
        }
        snprintf(lines[k], sizeof lines[k], "%s", buf);
        ptrs[k] = lines[k];
        k++;
    }
    fclose(f);
    if (k != CIFAR_CLASSES)
        return cnn_set_error(CNN_ERR_FORMAT, "%s: %d class names, expected %d", path, k,
                             CIFAR_CLASSES);
    return cnn_data_set_names(d, CIFAR_CLASSES, ptrs);
}

cnn_status cnn_dataset_open_cifar10(const char *dir_in, bool train, cnn_dataset *out)
{
    if (!dir_in || !out) return cnn_set_error(CNN_ERR_INVALID_ARG, "cifar10: NULL directory or output");
    memset(out, 0, sizeof *out);
    /* The archive unpacks to cifar-10-batches-bin/; accept its parent too. */
    char dir[1024], path[1024];
    CNN_CHECK(cnn_data_join(path, sizeof path, dir_in, "cifar-10-batches-bin"));
    snprintf(dir, sizeof dir, "%s", cnn_data_is_dir(path) ? path : dir_in);
    if (!cnn_data_is_dir(dir)) return cnn_set_error(CNN_ERR_IO, "%s: no such directory", dir);

    int nfiles = train ? 5 : 1;
    FILE *files[5] = {0};
    char paths[5][1024];
    long sizes[5];
    int64_t total = 0;
    cnn_status st = CNN_OK;
    uint8_t *rec = NULL;
    for (int i = 0; i < nfiles && st == CNN_OK; i++) {
        char name[32];
        if (train) snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
        else snprintf(name, sizeof name, "test_batch.bin");
        st = cnn_data_join(paths[i], sizeof paths[i], dir, name);
        if (st != CNN_OK) break;
        files[i] = fopen(paths[i], "rb");
        if (!files[i]) {
            st = cnn_set_error(CNN_ERR_IO, "%s: cannot open: %s", paths[i], strerror(errno));
            break;
        }
        st = file_size(files[i], paths[i], &sizes[i]);
        if (st != CNN_OK) break;
        if (sizes[i] == 0 || sizes[i] % CIFAR_RECORD != 0) {
            st = cnn_set_error(CNN_ERR_FORMAT,
                               "%s: size %ld is not a positive multiple of the %d-byte CIFAR-10 "
                               "record (1 label + 3x32x32 pixels)",
                               paths[i], sizes[i], CIFAR_RECORD);
            break;
        }
        total += sizes[i] / CIFAR_RECORD;
    }
    if (st != CNN_OK) goto done;
    if (total > (1 << 26)) {
        st = cnn_set_error(CNN_ERR_FORMAT, "%s: implausibly many records (%lld)", dir, (long long)total);
        goto done;
    }
    out->n = (int)total;
    out->c = 3;
    out->h = out->w = 32;
    out->classes = CIFAR_CLASSES;
    out->u8 = cnn_malloc((size_t)total * CIFAR_PIXELS);
    out->labels = cnn_malloc((size_t)total * sizeof *out->labels);
    rec = cnn_malloc(CIFAR_RECORD);
    if (!out->u8 || !out->labels || !rec) {
        st = cnn_set_error(CNN_ERR_NOMEM, "cifar10 %s: out of memory (%lld images)", dir, (long long)total);
        goto done;
    }
    int64_t k = 0;
    for (int i = 0; i < nfiles && st == CNN_OK; i++) {
        long recs = sizes[i] / CIFAR_RECORD;
        for (long r = 0; r < recs; r++, k++) {
            if (fread(rec, 1, CIFAR_RECORD, files[i]) != CIFAR_RECORD) {
                st = cnn_set_error(CNN_ERR_IO, "%s: read failed at record %ld", paths[i], r);
                break;
            }
            if (rec[0] >= CIFAR_CLASSES) {
                st = cnn_set_error(CNN_ERR_FORMAT,
                                   "%s: label %d of record %ld is out of range for %d classes",
                                   paths[i], rec[0], r, CIFAR_CLASSES);
                break;
            }
            out->labels[k] = rec[0];
            memcpy(out->u8 + (size_t)k * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        }
    }
    if (st == CNN_OK) st = read_names(dir, out);
    if (st == CNN_OK)
        snprintf(out->source, sizeof out->source, "cifar10 (%s, %s)", dir, train ? "train" : "test");
done:
    for (int i = 0; i < nfiles; i++)
        if (files[i]) fclose(files[i]);
    cnn_free(rec);
    if (st != CNN_OK) cnn_dataset_free(out);
    return st;
}
