/* Atomic file replacement helpers (docs/architecture.md, "Stopping"): a writer goes to
   "<path>.tmp.<pid>", renames over path, then fsyncs the directory so a power cut
   cannot lose the rename; temporaries left by dead processes are removed at the next
   save; output paths are checked before long work starts. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

/* dir receives the directory of path ("." when it has none); base its last part. */
static int split_path(const char *path, char *dir, size_t dsize, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dsize, ".");
        *base = path;
        return 0;
    }
    size_t n = (size_t)(slash - path);
    if (n == 0) n = 1; /* "/x": the root */
    if (n >= dsize) return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    *base = slash + 1;
    return 0;
}

void cnn_fsync_dir(const char *path)
{
    char dir[4096];
    const char *base;
    if (split_path(path, dir, sizeof dir, &base) != 0) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    (void)fsync(fd); /* some file systems refuse directory fsync: nothing more to do */
    close(fd);
}

int cnn_remove_stale_tmp(const char *path)
{
    char dir[4096];
    const char *base;
    if (split_path(path, dir, sizeof dir, &base) != 0) return 0;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) != 0 || strncmp(nm + bl, ".tmp.", 5) != 0) continue;
        const char *ps = nm + bl + 5;
        char *end = NULL;
        errno = 0;
        long pid = strtol(ps, &end, 10);
        if (!*ps || *end || errno || pid <= 0 || pid == (long)getpid()) continue;
        /* only processes known to be gone: EPERM means alive under another user */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", dir, nm);
        if (unlink(full) == 0) removed++;
    }
    closedir(d);
    return removed;
}

cnn_status cnn_check_output_path(const char *what, const char *path)
{
    if (!path || !*path) return cnn_set_error(CNN_ERR_INVALID_ARG, "%s: empty output path", what);
    char dir[4096];
    const char *base;
    if (split_path(path, dir, sizeof dir, &base) != 0)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "%s '%s': path too long", what, path);
    if (!*base) return cnn_set_error(CNN_ERR_INVALID_ARG, "%s '%s': names a directory, not a file", what, path);
    struct stat st;
    if (stat(dir, &st) != 0)
        return cnn_set_error(CNN_ERR_IO, "%s '%s': directory '%s' does not exist", what, path, dir);
    if (!S_ISDIR(st.st_mode))
        return cnn_set_error(CNN_ERR_IO, "%s '%s': '%s' is not a directory", what, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cnn_set_error(CNN_ERR_IO, "%s '%s': directory '%s' is not writable: %s", what, path, dir,
                             strerror(errno));
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cnn_set_error(CNN_ERR_IO, "%s '%s': is a directory", what, path);
    /* access() trusts the mode bits; a read-only mount, a full quota or a pseudo file
       system (/proc) only shows when a file is created: create the writer's own
       temporary name once and remove it, so the failure shows now, not after training */
    char probe[8192];
    if ((size_t)snprintf(probe, sizeof probe, "%s.tmp.%ld", path, (long)getpid()) >= sizeof probe)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "%s '%s': path too long", what, path);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 && errno == EEXIST) return CNN_OK; /* ours, being written: creating works */
    if (fd < 0)
        return cnn_set_error(CNN_ERR_IO, "%s '%s': cannot create a file in '%s': %s", what, path, dir,
                             strerror(errno));
    close(fd);
    unlink(probe);
    return CNN_OK;
}

cnn_status cnn_write_text_atomic(const char *path, cnn_text_writer write, const void *ctx,
                                 const char *err_fmt)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return cnn_set_error(CNN_ERR_IO, err_fmt, path);
    write(f, ctx);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return cnn_set_error(CNN_ERR_IO, err_fmt, path);
    }
    cnn_fsync_dir(path);
    cnn_remove_stale_tmp(path);
    return CNN_OK;
}
