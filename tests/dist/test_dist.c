/* Data-parallel training (docs/architecture.md "Distributed training"): the
   communicator's collectives (this program re-run under mpirun as the ranks), and the
   cnn program under mpirun with 2-3 ranks on a small IDX data set written here:
   the same weights and curve as one process computing the same shards, uneven
   shards, resuming across rank counts, ranks started with different options, a rank
   killed or stopped mid-run. Without an MPI build: the "not built with MPI" errors. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "testutil.h"

static char g_dir[64];
static const char *g_bin;
static const char *g_self;
static char out[1 << 16];

/* Under AddressSanitizer the ranks run without leak checks: Open MPI keeps memory past
   MPI_Finalize in components it has unloaded (unsuppressible); the same trainer code
   runs leak-checked in the one-process runs here. Shared-memory transfers without
   cross-process reads (containers often forbid them). */
#define MPIRUN                                                                                          \
    "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}" \
    "detect_leaks=0 OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --oversubscribe --bind-to none "

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs a shell command in the test directory, stdout+stderr into out; exit status. */
static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tu_vrun(out, sizeof out, g_dir, 0, fmt, ap);
    va_end(ap);
    return rc;
}

static void be32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                          (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* idx data: 4 classes, a bright 8x8 square in one quadrant over noise */
static void write_idx(const char *prefix, int n, uint64_t seed)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", g_dir, prefix);
    FILE *fi = fopen(p, "wb");
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", g_dir, prefix);
    FILE *fl = fopen(p, "wb");
    assert_true(fi && fl);
    be32(fi, 0x803), be32(fi, (uint32_t)n), be32(fi, 28), be32(fi, 28);
    be32(fl, 0x801), be32(fl, (uint32_t)n);
    cnn_rng r;
    cnn_rng_seed(&r, seed);
    unsigned char img[784];
    for (int i = 0; i < n; i++) {
        int k = (int)cnn_rng_below(&r, 4);
        for (int j = 0; j < 784; j++) img[j] = (unsigned char)cnn_rng_below(&r, 90);
        int y0 = (k / 2) * 14 + 3, x0 = (k % 2) * 14 + 3;
        for (int y = y0; y < y0 + 8; y++)
            for (int x = x0; x < x0 + 8; x++) img[y * 28 + x] = (unsigned char)(160 + cnn_rng_below(&r, 90));
        fwrite(img, 1, 784, fi);
        unsigned char lab = (unsigned char)k;
        fwrite(&lab, 1, 1, fl);
    }
    fclose(fi);
    fclose(fl);
}

static void path(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", g_dir, name); }

/* Every tensor of two checkpoints equal bit for bit (metadata aside: timings differ). */
static void assert_same_tensors(const char *a, const char *b)
{
    char pa[256], pb[256];
    path(pa, sizeof pa, a);
    path(pb, sizeof pb, b);
    cnn_tensor_file *fa = NULL, *fb = NULL;
    TU_OK(cnn_safetensors_load(pa, &fa));
    TU_OK(cnn_safetensors_load(pb, &fb));
    int n = cnn_tensor_file_count(fa);
    assert_int_equal(n, cnn_tensor_file_count(fb));
    assert_true(n > 0);
    for (int i = 0; i < n; i++) {
        const char *name = cnn_tensor_file_name(fa, i);
        cnn_tensor ta, tb;
        TU_OK(cnn_tensor_file_get(fa, name, &ta));
        TU_OK(cnn_tensor_file_get(fb, name, &tb));
        assert_int_equal(cnn_tensor_numel(&ta), cnn_tensor_numel(&tb));
        if (memcmp(ta.data, tb.data, cnn_tensor_numel(&ta) * sizeof(float)) != 0)
            fail_msg("%s and %s differ in '%s'", a, b, name);
    }
    assert_string_equal(cnn_tensor_file_meta(fa, "cnn.epoch"), cnn_tensor_file_meta(fb, "cnn.epoch"));
    cnn_tensor_file_free(fa);
    cnn_tensor_file_free(fb);
}

/* Two checkpoints whose weights differ somewhere (the test can fail). */
static bool tensors_differ(const char *a, const char *b)
{
    char pa[256], pb[256];
    path(pa, sizeof pa, a);
    path(pb, sizeof pb, b);
    cnn_tensor_file *fa = NULL, *fb = NULL;
    TU_OK(cnn_safetensors_load(pa, &fa));
    TU_OK(cnn_safetensors_load(pb, &fb));
    bool differ = false;
    for (int i = 0; i < cnn_tensor_file_count(fa); i++) {
        cnn_tensor ta, tb;
        const char *name = cnn_tensor_file_name(fa, i);
        TU_OK(cnn_tensor_file_get(fa, name, &ta));
        TU_OK(cnn_tensor_file_get(fb, name, &tb));
        differ |= memcmp(ta.data, tb.data, cnn_tensor_numel(&ta) * sizeof(float)) != 0;
    }
    cnn_tensor_file_free(fa);
    cnn_tensor_file_free(fb);
    return differ;
}

/* The CSV's epoch, loss, train acc and test acc columns (not the timings). */
static void curve(const char *name, char *buf, size_t size)
{
    char p[256];
    path(p, sizeof p, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char line[512];
    size_t pos = 0;
    buf[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        int commas = 0;
        for (char *c = line; *c; c++)
            if (*c == ',' && ++commas == 4) *c = '\0';
        pos += (size_t)snprintf(buf + pos, size - pos, "%s\n", line);
    }
    fclose(f);
}

static void assert_same_curve(const char *a, const char *b)
{
    char ca[4096], cb[4096];
    curve(a, ca, sizeof ca);
    curve(b, cb, sizeof cb);
    assert_true(strlen(ca) > 60);
    assert_string_equal(ca, cb);
}

#define TRAIN "%s train lenet_relu --data idx:. --resize 32 --seed 7 --threads 1 --quiet --optimizer sgd " \
              "--momentum 0.9 --lr 0.05 --limit-test 90 "

static bool have_mpi(void) { return cnn_comm_built_with_mpi(); }

/* ---------------------------------------------------------------- the collectives */
/* Run as a rank (env CNN_DIST_TEST_CHILD): values chosen so that another summation
   order gives another float; a buffer larger than one bucket; broadcast; timeouts. */
static int child_main(void)
{
    cnn_comm *c = NULL;
    if (cnn_comm_init(CNN_COMM_AUTO, &c) != CNN_OK) {
        fprintf(stderr, "child: %s\n", cnn_error_message());
        return 1;
    }
    int r = cnn_comm_rank(c), P = cnn_comm_size(c), bad = 0;
    /* rank order: ((1e8 + 1) + -1e8) + 3 ... = 0 + 3 + ... in float */
    const size_t n = (size_t)3 << 20; /* 12 MiB of floats: several buckets */
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = r == 0 ? 1e8f : r == 1 ? 1.0f : r == 2 ? -1e8f : 3.0f * (float)r;
    cnn_status s = cnn_comm_allreduce(c, x, n, CNN_REDUCE_SUM);
    float want = 0.0f;
    for (int k = 0; k < P; k++) want += k == 0 ? 1e8f : k == 1 ? 1.0f : k == 2 ? -1e8f : 3.0f * (float)k;
    for (size_t i = 0; s == CNN_OK && i < n; i++)
        if (memcmp(&x[i], &want, sizeof want) != 0) bad++;
    double d[3] = {r + 0.5, 1.0, (double)r};
    if (s == CNN_OK) s = cnn_comm_allreduce_f64(c, d, 3, CNN_REDUCE_MEAN);
    if (s == CNN_OK && (fabs(d[0] - (P / 2.0)) > 1e-12 || d[1] != 1.0 || fabs(d[2] - (P - 1) / 2.0) > 1e-12)) bad++;
    char msg[32] = "";
    if (r == 0) snprintf(msg, sizeof msg, "from rank zero");
    if (s == CNN_OK) s = cnn_comm_bcast(c, msg, sizeof msg, 0);
    if (s == CNN_OK && strcmp(msg, "from rank zero") != 0) bad++;
    if (s == CNN_OK) s = cnn_comm_barrier(c);
    if (s == CNN_OK && cnn_comm_allreduce(c, x, 4, CNN_REDUCE_MAX) == CNN_OK) bad++;
    /* a timeout: rank 0 waits for a broadcast the others never join */
    if (s == CNN_OK && r == 0) {
        cnn_comm_set_timeout(c, 0.5);
        double t0 = now_s();
        cnn_status t = cnn_comm_bcast(c, msg, sizeof msg, 1);
        double dt = now_s() - t0;
        if (t == CNN_OK || !strstr(cnn_error_message(), "no answer") || dt > 5.0 || !cnn_comm_broken(c)) bad++;
    }
    free(x);
    if (s != CNN_OK) fprintf(stderr, "rank %d: %s\n", r, cnn_error_message());
    printf("rank %d of %d: %s\n", r, P, s == CNN_OK && !bad ? "collectives ok" : "collectives FAILED");
    fflush(stdout);
    /* rank 0 is broken (pending broadcast): end the run as a program would */
    if (r == 0) cnn_comm_abort(c, 0);
    for (;;) pause(); /* the others are ended by rank 0's abort */
}

static void test_collectives(void **state)
{
    (void)state;
    int lo, hi, prev = 0;
    for (int k = 0; k < 3; k++) { /* 10 over 3: 4, 3, 3, contiguous */
        cnn_shard_range(10, 3, k, &lo, &hi);
        assert_int_equal(lo, prev);
        assert_int_equal(hi - lo, k == 0 ? 4 : 3);
        prev = hi;
    }
    cnn_shard_range(1, 2, 1, &lo, &hi);
    assert_int_equal(hi - lo, 0);
    cnn_comm *c = NULL;
    TU_OK(cnn_comm_init(CNN_COMM_SINGLE, &c));
    assert_int_equal(cnn_comm_size(c), 1);
    float v[2] = {1.5f, -2.0f};
    TU_OK(cnn_comm_allreduce(c, v, 2, CNN_REDUCE_MEAN));
    assert_true(v[0] == 1.5f && v[1] == -2.0f);
    cnn_comm_free(c);
    if (!have_mpi()) {
        assert_int_equal(cnn_comm_init(CNN_COMM_MPI, &c), CNN_ERR_UNSUPPORTED);
        assert_non_null(strstr(cnn_error_message(), "not built with MPI"));
        return;
    }
    double t0 = now_s();
    int rc = run("CNN_DIST_TEST_CHILD=1 " MPIRUN "-np 3 %s", g_self);
    printf("%s", out);
    assert_true(now_s() - t0 < 60);
    for (int r = 0; r < 3; r++) {
        char want[64];
        snprintf(want, sizeof want, "rank %d of 3: collectives ok", r);
        assert_non_null(strstr(out, want));
    }
    (void)rc; /* rank 0 ends the run with MPI_Abort(0) */
}

/* Started by mpirun but built without MPI (or told to stay single): refused, since
   every process would train alone. */
static void test_single_under_mpirun(void **state)
{
    (void)state;
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    cnn_comm *c = NULL;
    assert_int_not_equal(cnn_comm_init(CNN_COMM_SINGLE, &c), CNN_OK);
    assert_non_null(strstr(cnn_error_message(), "one of 2 processes"));
    assert_non_null(strstr(cnn_error_message(), have_mpi() ? "--dist" : "not built with MPI"));
    unsetenv("OMPI_COMM_WORLD_SIZE");
    if (!have_mpi()) {
        assert_int_not_equal(run("OMPI_COMM_WORLD_SIZE=2 " TRAIN "--epochs 1 --batch 40", g_bin), 0);
        assert_non_null(strstr(out, "not built with MPI"));
    }
}

/* ---------------------------------------------------------------- the trainer */
static void test_two_ranks_equal_one_process(void **state)
{
    (void)state;
    if (!have_mpi()) skip();
    /* one process computing the global batch of 40 as 2 shards of 20 */
    assert_int_equal(run(TRAIN "--epochs 3 --batch 40 --shards 2 --out one.safetensors --log one.csv", g_bin), 0);
    assert_int_equal(run(MPIRUN "-np 2 " TRAIN "--epochs 3 --batch 40 --out two.safetensors --log two.csv", g_bin),
                     0);
    assert_non_null(strstr(out, "data-parallel: 2 ranks"));
    assert_same_tensors("one.safetensors", "two.safetensors");
    assert_same_curve("one.csv", "two.csv");
    /* and the curve learns: the last epoch's test accuracy is well above chance */
    char cv[4096];
    curve("two.csv", cv, sizeof cv);
    double acc = atof(strrchr(cv, ',') + 1);
    printf("2 ranks, lenet_relu, 3 epochs: test acc %.3f\n", acc);
    if (!tu_quick()) assert_true(acc > 0.5);
    /* the whole batch at once is another summation: not the same bits */
    assert_int_equal(run(TRAIN "--epochs 3 --batch 40 --out whole.safetensors", g_bin), 0);
    assert_true(tensors_differ("one.safetensors", "whole.safetensors"));
}

/* 3 ranks, global batch 50: shards of 17, 17, 16; the epoch's last batch of 30 (230
   examples) gives 10 each. Same as one process with --shards 3. */
static void test_uneven_batch(void **state)
{
    (void)state;
    if (!have_mpi()) skip();
    assert_int_equal(run(TRAIN "--epochs 2 --batch 50 --limit-train 230 --shards 3 --out u1.safetensors "
                               "--log u1.csv", g_bin), 0);
    assert_non_null(strstr(out, "not divisible"));
    assert_int_equal(run(MPIRUN "-np 3 " TRAIN "--epochs 2 --batch 50 --limit-train 230 --out u3.safetensors "
                                 "--log u3.csv", g_bin), 0);
    assert_non_null(strstr(out, "2 shard(s) of 17 and 1 of 16"));
    assert_same_tensors("u1.safetensors", "u3.safetensors");
    assert_same_curve("u1.csv", "u3.csv");
}

/* A checkpoint written by 2 ranks resumes on 1 process (--shards 2) and the other
   way round, continuing the 3-epoch run of test_two_ranks_equal_one_process exactly. */
static void test_resume_across_rank_counts(void **state)
{
    (void)state;
    if (!have_mpi()) skip();
    assert_int_equal(run(MPIRUN "-np 2 " TRAIN "--epochs 1 --batch 40 --out r2.safetensors", g_bin), 0);
    assert_int_equal(run(TRAIN "--epochs 3 --batch 40 --shards 2 --resume r2.safetensors --out r2to1.safetensors",
                         g_bin), 0);
    assert_same_tensors("r2to1.safetensors", "two.safetensors");
    assert_int_equal(run(TRAIN "--epochs 2 --batch 40 --shards 2 --out r1.safetensors", g_bin), 0);
    assert_int_equal(run(MPIRUN "-np 2 " TRAIN "--epochs 3 --batch 40 --resume r1.safetensors "
                                 "--out r1to2.safetensors", g_bin), 0);
    assert_same_tensors("r1to2.safetensors", "two.safetensors");
}

static void test_different_options_refused(void **state)
{
    (void)state;
    if (!have_mpi()) skip();
    double t0 = now_s();
    int rc = run(MPIRUN "-np 1 " TRAIN "--epochs 1 --batch 40 : -np 1 " TRAIN "--epochs 1 --batch 40 --lr 0.04",
                 g_bin, g_bin);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "other options or data than rank 0"));
    assert_true(now_s() - t0 < 60);
    /* shards must match the ranks */
    assert_int_not_equal(run(MPIRUN "-np 2 " TRAIN "--epochs 1 --batch 40 --shards 3", g_bin), 0);
    assert_non_null(strstr(out, "one shard per rank"));
}

/* Largest |a - b| / (1e-3 + |b|) over the weights and buffers of two checkpoints. */
static double max_rel_diff(const char *a, const char *b)
{
    char pa[256], pb[256];
    path(pa, sizeof pa, a);
    path(pb, sizeof pb, b);
    cnn_tensor_file *fa = NULL, *fb = NULL;
    TU_OK(cnn_safetensors_load(pa, &fa));
    TU_OK(cnn_safetensors_load(pb, &fb));
    double worst = 0.0;
    for (int i = 0; i < cnn_tensor_file_count(fa); i++) {
        cnn_tensor ta, tb;
        const char *name = cnn_tensor_file_name(fa, i);
        if (!strncmp(name, "optim.", 6)) continue;
        TU_OK(cnn_tensor_file_get(fa, name, &ta));
        TU_OK(cnn_tensor_file_get(fb, name, &tb));
        for (size_t k = 0; k < cnn_tensor_numel(&ta); k++) {
            double d = fabs((double)ta.data[k] - tb.data[k]) / (1e-3 + fabs((double)tb.data[k]));
            if (d > worst) worst = d;
        }
    }
    cnn_tensor_file_free(fa);
    cnn_tensor_file_free(fb);
    return worst;
}

/* --sync-bn: batch-norm statistics over the global batch, so one step on 2 ranks
   matches one process computing the whole batch within float rounding, while
   per-rank statistics (the default) give visibly different weights. */
static void test_sync_bn(void **state)
{
    (void)state;
    if (!have_mpi()) skip();
#define BN "%s train resnet18 --data idx:. --resize 16 --epochs 1 --batch 16 --limit-train 16 --limit-test 8 " \
           "--lr 0.05 --seed 3 --threads 1 --quiet "
    assert_int_equal(run(BN "--out bn1.safetensors", g_bin), 0);
    assert_int_equal(run(MPIRUN "-np 2 " BN "--sync-bn --out bnsync.safetensors", g_bin), 0);
    assert_non_null(strstr(out, "synchronised batch norm"));
    assert_int_equal(run(MPIRUN "-np 2 " BN "--out bnlocal.safetensors", g_bin), 0);
    double d_sync = max_rel_diff("bnsync.safetensors", "bn1.safetensors");
    double d_local = max_rel_diff("bnlocal.safetensors", "bn1.safetensors");
    printf("resnet18, one step: 2 ranks with --sync-bn vs 1 process %.2g, per-rank statistics %.2g\n", d_sync,
           d_local);
    assert_true(d_sync < 5e-3);
    assert_true(d_local > 0.1);
    /* a rank without examples could not take part: refused up front */
    assert_int_not_equal(run(MPIRUN "-np 2 " TRAIN "--epochs 1 --batch 40 --limit-train 81 --sync-bn", g_bin), 0);
    assert_non_null(strstr(out, "leaves a rank without any"));
}

/* The pids of the running cnn ranks started by mpirun `parent`, by rank. */
static int rank_pids(pid_t parent, pid_t *pids, int max)
{
    int found = 0;
    DIR *d = opendir("/proc");
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char p[64], buf[8192];
        snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        int ppid = -1;
        char comm[64];
        if (fscanf(f, "%*d (%63[^)]) %*c %d", comm, &ppid) != 2) ppid = -1;
        fclose(f);
        if (ppid != parent || strcmp(comm, "cnn") != 0) continue;
        snprintf(p, sizeof p, "/proc/%d/environ", (int)pid);
        int fd = open(p, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        for (ssize_t i = 0; i < n;) {
            const char *kv = buf + i;
            if (!strncmp(kv, "OMPI_COMM_WORLD_RANK=", 21)) {
                int r = atoi(kv + 21);
                if (r >= 0 && r < max) {
                    pids[r] = pid;
                    found++;
                }
            }
            i += (ssize_t)strlen(kv) + 1;
        }
    }
    closedir(d);
    return found;
}

/* Starts a 2-rank run (args after TRAIN), waits for its first epoch (log k.csv), sends
   sig to rank 1, and returns mpirun's exit status and how long the run took to end
   after the signal. Output in k.out. */
static int run_and_signal(int sig, const char *extra_env, const char *args, double *seconds)
{
    char logp[256], cmd[2048];
    path(logp, sizeof logp, "k.csv");
    unlink(logp);
    snprintf(cmd, sizeof cmd, "cd %s && exec env %s " MPIRUN "-np 2 " TRAIN "%s --log k.csv > k.out 2>&1", g_dir,
             extra_env, g_bin, args);
    pid_t sh = fork();
    assert_true(sh >= 0);
    if (sh == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* exec: sh becomes mpirun */
    double t0 = now_s();
    struct stat st;
    while (stat(logp, &st) != 0 && now_s() - t0 < 60) usleep(20000);
    pid_t pids[2] = {0, 0};
    while (rank_pids(sh, pids, 2) < 2 && now_s() - t0 < 60) usleep(20000);
    usleep(20000); /* into the next epoch */
    assert_true(pids[1] > 0);
    kill(pids[1], sig);
    double t1 = now_s();
    int status = 0;
    pid_t w = 0;
    while ((w = waitpid(sh, &status, WNOHANG)) == 0 && now_s() - t1 < 90) usleep(20000);
    *seconds = now_s() - t1;
    if (w == 0) { /* a hang: end it, then fail */
        kill(sh, SIGKILL);
        if (pids[0] > 0) kill(pids[0], SIGKILL);
        if (pids[1] > 0) kill(pids[1], SIGKILL);
        waitpid(sh, &status, 0);
        fail_msg("the other rank did not stop within 90 s");
    }
    return status;
}

/* A whole, loadable checkpoint (atomic writes): never half a file. */
static void assert_checkpoint_whole(void)
{
    char p[256];
    path(p, sizeof p, "k.safetensors");
    cnn_tensor_file *f = NULL;
    TU_OK(cnn_safetensors_load(p, &f));
    assert_true(atoi(cnn_tensor_file_meta(f, "cnn.epoch")) >= 1);
    cnn_tensor_file_free(f);
}

static void test_killed_rank(void **state)
{
    (void)state;
    if (!have_mpi()) skip();
    double dt = 0;
    int status = run_and_signal(SIGKILL, "CNN_DIST_TIMEOUT=20", "--epochs 100000 --batch 40 --out k.safetensors", &dt);
    printf("rank 1 killed: the run ended after %.2f s (status %d)\n", dt, status);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(dt < 30);
    assert_checkpoint_whole();
}

/* A rank that stops answering (SIGSTOP): rank 0 gives up after CNN_DIST_TIMEOUT with
   a message and ends the run. */
static void test_stuck_rank_times_out(void **state)
{
    (void)state;
    if (!have_mpi()) skip();
    double dt = 0;
    int status = run_and_signal(SIGSTOP, "CNN_DIST_TIMEOUT=2", "--epochs 100000 --batch 40 --out k.safetensors", &dt);
    printf("rank 1 stopped: the run ended after %.2f s (status %d)\n", dt, status);
    assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(dt < 30);
    assert_int_equal(run("cat k.out"), 0);
    assert_non_null(strstr(out, "no answer from the other ranks within 2 s"));
    assert_checkpoint_whole();
}

/* Ctrl-C on one rank mid-run: every rank stops at the same step, rank 0 saves the
   position; one process (--shards 2) resumes it mid-epoch and ends with the weights of
   the uninterrupted 2-rank run. */
static void test_stop_mid_epoch_resume_on_one_process(void **state)
{
    (void)state;
    if (!have_mpi()) skip();
    assert_int_equal(run(MPIRUN "-np 2 " TRAIN "--epochs 8 --batch 40 --out full.safetensors", g_bin), 0);
    double dt = 0;
    int status = run_and_signal(SIGINT, "", "--epochs 8 --batch 40 --out s.safetensors", &dt);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 130);
    assert_int_equal(run("cat k.out"), 0);
    assert_non_null(strstr(out, "stopped at epoch"));
    printf("%s", strstr(out, "stopped at epoch"));
    assert_int_equal(run(TRAIN "--epochs 8 --batch 40 --shards 2 --resume s.safetensors --out s.safetensors", g_bin),
                     0);
    assert_same_tensors("s.safetensors", "full.safetensors");
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("CNN_BIN");
    if (!g_bin) return -1;
    snprintf(g_dir, sizeof g_dir, "/tmp/cnn-dist-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    write_idx("train", tu_quick() ? 120 : 320, 1); /* the sanitizer run: 3 batches an epoch */
    write_idx("t10k", 100, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    (void)argc;
    if (getenv("CNN_DIST_TEST_CHILD")) return child_main();
    static char self[4096];
    if (!realpath(argv[0], self)) return 1;
    g_self = self;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collectives),
        cmocka_unit_test(test_single_under_mpirun),
        cmocka_unit_test(test_two_ranks_equal_one_process),
        cmocka_unit_test(test_uneven_batch),
        cmocka_unit_test(test_resume_across_rank_counts),
        cmocka_unit_test(test_different_options_refused),
        cmocka_unit_test(test_sync_bn),
        cmocka_unit_test(test_stop_mid_epoch_resume_on_one_process),
        cmocka_unit_test(test_killed_rank),
        cmocka_unit_test(test_stuck_rank_times_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
