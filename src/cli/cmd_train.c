/* cnn train MODEL --data D ...: d2l's train_ch6 from the command line. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* SIGINT and SIGTERM (kill, systemd, job schedulers) both finish the step, save the
   checkpoint and exit; a second signal leaves at once (docs/architecture.md, "Stopping"). */
static volatile sig_atomic_t g_stop;
static void on_sigint(int sig)
{
    if (g_stop) _exit(128 + sig);
    g_stop = sig;
}

static void catch_stop_signals(bool on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Curves with points inside the epoch (--points N, d2l's Animator): train loss and
   accuracy (running means over the epoch so far) N times per epoch, test accuracy at
   its end; written to --log / --plot after every epoch. */
typedef struct curves {
    int per_epoch; /* 0: off (the trainer writes per-epoch curves) */
    const char *csv, *plot;
    cnn_curve_point *p;
    int n, cap;
    bool failed;
} curves;

typedef struct progress {
    bool tty, quiet;
    int last_pct;
    curves *cv;
} progress;

static void curve_add(curves *cv, cnn_curve_point pt)
{
    if (cv->n == cv->cap) {
        int cap = cv->cap ? 2 * cv->cap : 64;
        cnn_curve_point *q = realloc(cv->p, (size_t)cap * sizeof *q);
        if (!q) {
            cv->failed = true;
            return;
        }
        cv->p = q;
        cv->cap = cap;
    }
    cv->p[cv->n++] = pt;
}

static bool curves_write(curves *cv)
{
    if (cv->csv) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", cv->csv);
        FILE *f = fopen(tmp, "w");
        bool ok = f != NULL;
        if (ok) {
            fprintf(f, "epoch,train_loss,train_acc,test_acc\n");
            for (int i = 0; i < cv->n; i++) {
                const cnn_curve_point *q = &cv->p[i];
                fprintf(f, "%.4f,", q->epoch);
                if (isfinite(q->train_loss)) fprintf(f, "%.6f", q->train_loss);
                fprintf(f, ",");
                if (isfinite(q->train_acc)) fprintf(f, "%.6f", q->train_acc);
                fprintf(f, ",");
                if (isfinite(q->test_acc)) fprintf(f, "%.6f", q->test_acc);
                fprintf(f, "\n");
            }
            ok = fclose(f) == 0 && rename(tmp, cv->csv) == 0;
        }
        if (!ok) {
            remove(tmp);
            fprintf(stderr, "cnn: --log %s: cannot write\n", cv->csv);
            return false;
        }
    }
    if (cv->plot && cnn_plot_points(cv->plot, cv->p, cv->n) != CNN_OK) {
        cli_fail("--plot");
        return false;
    }
    return true;
}

static void on_batch(void *user, int epoch, int b, int batches, double loss, double acc, double ips)
{
    progress *p = user;
    curves *cv = p->cv;
    /* a point each time b crosses k * batches / N */
    if (cv && cv->per_epoch > 0 && batches > 0 &&
        (long)b * cv->per_epoch / batches > (long)(b - 1) * cv->per_epoch / batches)
        curve_add(cv, (cnn_curve_point){epoch - 1 + (double)b / batches, loss, acc, NAN});
    if (p->quiet) return;
    if (p->tty) {
        int width = 30, done = batches ? b * width / batches : width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
        bar[width] = '\0';
        printf("\repoch %3d [%s] %5d/%-5d loss %.4f acc %.3f %8.0f img/s", epoch, bar, b, batches, loss,
               acc, ips);
        fflush(stdout);
    } else {
        int pct = batches ? b * 100 / batches : 100;
        if (pct / 25 > p->last_pct / 25 && pct < 100) {
            printf("  epoch %d: %3d%% (%d/%d batches) loss %.4f acc %.3f %.0f img/s\n", epoch, pct, b,
                   batches, loss, acc, ips);
            fflush(stdout);
        }
        p->last_pct = b == batches ? -1 : pct;
    }
}

static void on_epoch(void *user, const cnn_epoch_stats *s)
{
    progress *p = user;
    curves *cv = p->cv;
    if (cv && cv->per_epoch > 0) {
        /* test accuracy at the epoch's end: on its last point when that is there */
        if (cv->n && fabs(cv->p[cv->n - 1].epoch - s->epoch) < 1e-9) cv->p[cv->n - 1].test_acc = s->test_acc;
        else curve_add(cv, (cnn_curve_point){s->epoch, s->train_loss, s->train_acc, s->test_acc});
        if (!cv->failed) cv->failed = !curves_write(cv);
    }
    if (p->tty) printf("\r\033[K");
    char test[32];
    if (isnan(s->test_acc)) snprintf(test, sizeof test, "%8s", "-");
    else snprintf(test, sizeof test, "%8.4f", s->test_acc);
    printf("%5d %10.4f %9.4f %s %10.1f %9.1f\n", s->epoch, s->train_loss, s->train_acc, test,
           s->images_per_s, s->seconds);
    fflush(stdout);
    p->last_pct = -1;
}

typedef struct transfer_note {
    bool quiet;
} transfer_note;

static void on_transfer_note(void *user, const char *name, const char *why)
{
    const transfer_note *t = user;
    if (!t->quiet) printf("  %s: %s\n", name, why);
}

static bool parse_hw(const char *s, int *h, int *w)
{
    if (!s) return true;
    char a[32], b[32];
    const char *x = strchr(s, 'x');
    size_t la = x ? (size_t)(x - s) : strlen(s);
    if (la >= sizeof a || (x && strlen(x + 1) >= sizeof b)) return false;
    memcpy(a, s, la);
    a[la] = '\0';
    snprintf(b, sizeof b, "%s", x ? x + 1 : a);
    return cli_parse_int(a, 1, 1 << 16, h) && cli_parse_int(b, 1, 1 << 16, w);
}

/* "m1,m2,m3:s1,s2,s3" or "m:s" */
static bool parse_norm(const char *s, cnn_transform *t)
{
    if (!s) return true;
    float v[6];
    int k = sscanf(s, "%f,%f,%f:%f,%f,%f", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
    if (k == 6) {
        for (int i = 0; i < 3; i++) {
            t->mean[i] = v[i];
            t->std[i] = v[3 + i];
        }
    } else if (sscanf(s, "%f:%f", &v[0], &v[1]) == 2) {
        for (int i = 0; i < 4; i++) {
            t->mean[i] = v[0];
            t->std[i] = v[1];
        }
    } else {
        return false;
    }
    for (int i = 0; i < 3; i++)
        if (!(t->std[i] > 0) || !isfinite(t->std[i]) || !isfinite(t->mean[i])) return false;
    t->normalize = true;
    return true;
}

static bool parse_schedule(const char *s, int epochs, cnn_schedule *out)
{
    memset(out, 0, sizeof *out);
    if (!s || !strcmp(s, "constant")) return true;
    if (!strncmp(s, "step", 4)) {
        out->kind = CNN_SCHED_STEP;
        out->step_size = epochs > 3 ? epochs / 3 : 1;
        out->gamma = 0.1f;
        if (s[4] == ':' && sscanf(s + 5, "%d:%f", &out->step_size, &out->gamma) < 1) return false;
        return out->step_size > 0 && out->gamma > 0;
    }
    if (!strncmp(s, "cosine", 6)) {
        out->kind = CNN_SCHED_COSINE;
        out->total = epochs;
        return true;
    }
    return false;
}

static bool parse_init(const char *s, cnn_init *init)
{
    memset(init, 0, sizeof *init);
    if (!s || !strcmp(s, "default")) return true;
    if (!strcmp(s, "xavier") || !strcmp(s, "xavier_uniform")) init->kind = CNN_INIT_XAVIER_UNIFORM;
    else if (!strcmp(s, "xavier_normal")) init->kind = CNN_INIT_XAVIER_NORMAL;
    else if (!strcmp(s, "kaiming") || !strcmp(s, "kaiming_normal")) {
        init->kind = CNN_INIT_KAIMING_NORMAL;
        init->fan_out = true;
    } else if (!strcmp(s, "kaiming_uniform")) init->kind = CNN_INIT_KAIMING_UNIFORM;
    else return false;
    return true;
}

static const char USAGE[] =
    "usage: cnn train MODEL --data DATA [options]\n"
    "Trains a zoo model (see 'cnn models') and prints one line per epoch:\n"
    "epoch, train loss, train acc, test acc, images/s, seconds.\n"
    "DATA: fashion-mnist | mnist:DIR | idx:DIR | cifar10:DIR | folder:DIR | hsi:CUBE.mat [--gt GT.mat]\n"
    "example: cnn train lenet --data fashion-mnist --epochs 10 --lr 0.9 --init xavier\n"
    "data-parallel: mpirun -np N cnn train ... (--batch stays the global batch; rank 0 prints and\n"
    "writes; see docs/architecture.md \"Distributed training\" for placing ranks and threads)";

int cmd_train(int argc, char **argv)
{
    const char *data = NULL, *optim = "sgd", *schedule = NULL, *resize = NULL, *normalize = NULL,
               *init = NULL, *out = NULL, *log = NULL, *plot = NULL, *resume = NULL, *from = NULL,
               *freeze = NULL, *dist = "auto";
    int epochs = 10, batch = 256, seed = 0, warmup = 0, limit_train = 0, limit_test = 0, crop = 0,
        points = 0;
    float lr = 0.1f, momentum = 0.0f, wd = 0.0f, smoothing = 0.0f;
    bool nesterov = false, flip = false, quiet = false, sync_bn = false;
    int shards = 0;
    float dist_timeout = -1.0f;
    cli_model_args ma = {0};
    cli_hsi_args ha = {0};
    const cli_opt opts[] = {
        CLI_OPT_DATA(&data, "dataset (required)"),
        {"epochs", OPT_INT, &epochs, "epochs (default 10)"},
        CLI_OPT_BATCH(&batch, "batch size (default 256)"),
        CLI_OPT_LR(&lr, "learning rate (default 0.1)"),
        {"optimizer", OPT_STR, &optim, "sgd | adam | adamw (default sgd)"},
        CLI_OPT_MOMENTUM(&momentum, "SGD momentum (default 0)"),
        {"nesterov", OPT_BOOL, &nesterov, "Nesterov momentum"},
        {"weight-decay", OPT_FLOAT, &wd, "weight decay (default 0)"},
        {"schedule", OPT_STR, &schedule, "constant | step[:EPOCHS:GAMMA] | cosine"},
        CLI_OPT_WARMUP(&warmup, "linear warm-up epochs (default 0)"),
        {"label-smoothing", OPT_FLOAT, &smoothing, "cross-entropy label smoothing (default 0)"},
        {"init", OPT_STR, &init, "default | xavier | xavier_normal | kaiming | kaiming_uniform"},
        CLI_OPT_RESIZE(&resize, "resize images to HxW (e.g. 96x96 or 224)"),
        {"normalize", OPT_STR, &normalize, "MEAN:STD or M1,M2,M3:S1,S2,S3 after scaling to [0,1]"},
        {"crop", OPT_INT, &crop, "augment: random crop with this padding"},
        {"flip", OPT_BOOL, &flip, "augment: random horizontal flip"},
        CLI_OPT_SEED(&seed, "seed for init, shuffling, dropout, augmentation (default 0)"),
        CLI_OPT_OUT(&out, "checkpoint file (.safetensors), saved after every epoch"),
        {"resume", OPT_STR, &resume, "continue from this checkpoint"},
        {"from", OPT_STR, &from, "transfer: start from the weights that fit (checkpoint or PyTorch "
                                 "state_dict .safetensors, or an .onnx file's initializers)"},
        {"freeze", OPT_STR, &freeze, "transfer: do not train parameters matching these globs "
                                     "(comma-separated, e.g. 'features.*')"},
        {"log", OPT_STR, &log, "per-epoch metrics as CSV"},
        {"plot", OPT_STR, &plot, "curves as .svg or .png"},
        {"points", OPT_INT, &points, "--log / --plot: train loss and acc N times per epoch, test acc "
                                     "per epoch (d2l's Animator; this run's points only)"},
        {"limit-train", OPT_INT, &limit_train, "use the first N training examples"},
        {"limit-test", OPT_INT, &limit_test, "use the first N test examples"},
        {"quiet", OPT_BOOL, &quiet, "no progress lines"},
        {"dist", OPT_STR, &dist, "auto | single | mpi: communicator (auto: MPI under mpirun)"},
        {"shards", OPT_INT, &shards, "cut each global batch into K shards (default: one per rank); "
                                     "1 process with --shards N = N ranks bit for bit"},
        {"sync-bn", OPT_BOOL, &sync_bn, "batch norm statistics over the global batch (all ranks)"},
        {"dist-timeout", OPT_FLOAT, &dist_timeout, "seconds a rank waits for the others (default 300)"},
        CLI_MODEL_OPTS(&ma),
        CLI_HSI_OPTS(&ha),
    };
    CLI_PARSE(opts, pos, 1, n_pos, USAGE);
    if (n_pos != 1 || !data) return cli_usage(USAGE);
    if (!(data = cli_hsi_spec(data, &ha, 0, 0))) return 2;
    cnn_train_config c = {
        .epochs = epochs,
        .batch = batch,
        .seed = (uint64_t)seed,
        .limit_train = limit_train,
        .limit_test = limit_test,
        .checkpoint = out,
        .resume = resume,
        .log_csv = log,
        .plot = plot,
        .stop = &g_stop,
    };
    c.optim.lr = lr;
    c.optim.momentum = momentum;
    c.optim.nesterov = nesterov;
    c.optim.weight_decay = wd;
    if (!strcmp(optim, "sgd")) c.optim.kind = CNN_OPTIM_SGD;
    else if (!strcmp(optim, "adam")) c.optim.kind = CNN_OPTIM_ADAM;
    else if (!strcmp(optim, "adamw")) c.optim.kind = CNN_OPTIM_ADAMW;
    else {
        fprintf(stderr, "cnn: --optimizer '%s': use sgd, adam or adamw\n", optim);
        return 2;
    }
    if (!parse_schedule(schedule, epochs, &c.schedule)) {
        fprintf(stderr, "cnn: --schedule '%s': use constant, step[:EPOCHS:GAMMA] or cosine\n", schedule);
        return 2;
    }
    c.schedule.warmup = warmup;
    if (!parse_init(init, &c.init)) {
        fprintf(stderr, "cnn: --init '%s' is unknown\n", init);
        return 2;
    }
    if (!parse_hw(resize, &c.transform.resize_h, &c.transform.resize_w) ||
        !parse_norm(normalize, &c.transform)) {
        fprintf(stderr, "cnn: bad --resize or --normalize value\n");
        return 2;
    }
    c.transform.crop_padding = crop;
    c.transform.hflip = flip;
    c.augment = crop > 0 || flip;
    if (batch < 1 || epochs < 1) {
        fprintf(stderr, "cnn: --batch and --epochs must be >= 1\n");
        return 2;
    }
    if (points < 0 || (points > 0 && !log && !plot)) {
        fprintf(stderr, "cnn: --points N (N >= 1) shapes the curves of --log and --plot; give one of them\n");
        return 2;
    }
    curves cv = {.per_epoch = points, .csv = log, .plot = plot};
    if (points > 0) { /* the CLI writes them, with the points inside each epoch */
        c.log_csv = NULL;
        c.plot = NULL;
    }
    if (from && (init || resume)) {
        fprintf(stderr, "cnn: --from with --%s: the loaded weights would be %s; use one of them\n",
                init ? "init" : "resume", init ? "initialised again" : "replaced by the checkpoint's");
        return 2;
    }

    cnn_comm_kind kind = CNN_COMM_AUTO;
    if (!strcmp(dist, "single")) kind = CNN_COMM_SINGLE;
    else if (!strcmp(dist, "mpi")) kind = CNN_COMM_MPI;
    else if (strcmp(dist, "auto") != 0) {
        fprintf(stderr, "cnn: --dist '%s': use auto, single or mpi\n", dist);
        return 2;
    }
    if (shards < 0) {
        fprintf(stderr, "cnn: --shards must be >= 1\n");
        return 2;
    }
    cnn_comm *comm = NULL;
    if (cnn_comm_init(kind, &comm) != CNN_OK) return cli_fail("train");
    if (dist_timeout >= 0) cnn_comm_set_timeout(comm, dist_timeout);
    const int rank = cnn_comm_rank(comm), ranks = cnn_comm_size(comm);
    const int K = shards > 0 ? shards : ranks;
    c.comm = comm;
    c.shards = shards;
    c.sync_bn = sync_bn;
    if (rank != 0) quiet = true; /* rank 0 reports */
    int rc = 0;

    cnn_dataset train = {0}, test = {0};
    bool have_test = false;
    if (cnn_dataset_open(data, true, &train) != CNN_OK) {
        rc = cli_fail("training data");
        goto done_comm;
    }
    have_test = cnn_dataset_open(data, false, &test) == CNN_OK;
    if (!have_test && rank == 0)
        fprintf(stderr, "cnn: note: no test split (%s); test acc not reported\n", cnn_error_message());

    /* the model's input follows the data (after --resize) unless --input says otherwise;
       2D images of another size than the model's listed input are resized to it (the
       header says so): alexnet_d2l on 28x28 Fashion-MNIST trains at 224x224 as in d2l.
       The model's batch holds one shard of the global batch. */
    cnn_model_opts mo;
    ma.batch = (batch + K - 1) / K;
    if (!cli_model_opts(&ma, &mo)) {
        rc = 2;
        goto done_data;
    }
    const cnn_model_info *info = cnn_model_find(pos[0]);
    char auto_resize[256] = "";
    if (!ma.input && !resize && info && info->depth == 0 && train.d == 0 &&
        (info->height != train.h || info->width != train.w)) {
        c.transform.resize_h = info->height;
        c.transform.resize_w = info->width;
        snprintf(auto_resize, sizeof auto_resize,
                 "input: %dx%d images resized to %dx%d, %s's listed input (--resize HxW picks "
                 "another size; --input %dx%dx%d builds the model at the data's size)",
                 train.h, train.w, info->height, info->width, pos[0], train.c, train.h, train.w);
    }
    if (!ma.input) {
        mo.channels = train.c;
        mo.depth = train.d;
        mo.height = c.transform.resize_h ? c.transform.resize_h : train.h;
        mo.width = c.transform.resize_w ? c.transform.resize_w : train.w;
    }
    if (!ma.classes) mo.classes = train.classes;
    cnn_model m;
    if (cnn_model_new(pos[0], &mo, smoothing, &m) != CNN_OK) {
        rc = cli_fail("model");
        goto done_data;
    }
    transfer_note tn = {.quiet = quiet};
    if (from) {
        cnn_transfer_stats ts;
        if (cnn_graph_compile(m.g, (uint64_t)seed) != CNN_OK ||
            cnn_graph_load_matching(m.g, from, &ts, on_transfer_note, &tn) != CNN_OK) {
            rc = cli_fail("--from");
            goto done_model;
        }
        if (rank == 0)
            printf("from %s: loaded %d parameters and buffers, %d initialised afresh, %d tensors of the "
                   "file unused%s\n",
                   from, ts.loaded, ts.not_loaded, ts.unused, quiet && (ts.not_loaded || ts.unused) ?
                   " (without --quiet: which)" : "");
    }
    if (freeze) {
        int nf = 0;
        if (cnn_graph_compile(m.g, (uint64_t)seed) != CNN_OK || cnn_graph_freeze(m.g, freeze, &nf) != CNN_OK) {
            rc = cli_fail("--freeze");
            goto done_model;
        }
        if (rank == 0)
            printf("frozen: %d parameters matching '%s'; %zu trainable elements remain\n", nf, freeze,
                   cnn_graph_param_count(m.g));
    }
    progress p = {.tty = isatty(1) && !quiet, .quiet = quiet, .last_pct = -1, .cv = &cv};
    if (rank == 0 && (!quiet || points > 0)) c.on_batch = on_batch;
    c.user = &p;
    c.on_epoch = rank == 0 ? on_epoch : NULL;
    cnn_cost cost = cnn_graph_cost(m.g);
    if (rank == 0 && ranks > 1)
        printf("data-parallel: %d ranks (%s), global batch %d, %d threads per rank%s\n", ranks,
               cnn_comm_name(comm), batch, cnn_get_threads(), sync_bn ? ", synchronised batch norm" : "");
    if (rank == 0 && K > 1 && batch % K != 0)
        printf("note: global batch %d is not divisible by %d shards: %d shard(s) of %d and %d of %d examples\n",
               batch, K, batch % K, batch / K + 1, K - batch % K, batch / K);
    if (rank == 0) printf("training %s on %s: %d train / %d test examples, batch %d, %d epochs, %s lr %g, %d threads, "
           "backend %s\n",
           pos[0], data, limit_train > 0 && limit_train < train.n ? limit_train : train.n,
           have_test ? (limit_test > 0 && limit_test < test.n ? limit_test : test.n) : 0, batch, epochs,
           optim, (double)lr, cnn_get_threads(), cnn_backend_name());
    if (rank == 0 && !strncmp(data, "hsi:", 4)) printf("data: %s\n", train.source);
    if (rank == 0 && *auto_resize) printf("%s\n", auto_resize);
    if (rank == 0) {
        printf("model: %.3fM parameters, %.3fM multiply-adds per example\n", (double)cost.params / 1e6,
               (double)cost.macs / 1e6);
        printf("%5s %10s %9s %8s %10s %9s\n", "epoch", "loss", "train_acc", "test_acc", "img/s", "seconds");
    }
    double t_start = cnn_now_s();
    catch_stop_signals(true);
    cnn_epoch_stats last = {0};
    cnn_status s = cnn_train(&m, &train, have_test ? &test : NULL, &c, &last);
    catch_stop_signals(false);
    if (p.tty) printf("\n");
    if (s == CNN_ERR_INTERRUPTED) {
        if (rank == 0) printf("%s\n", cnn_error_message());
        rc = 128 + (g_stop ? (int)g_stop : SIGINT);
    } else if (s != CNN_OK) {
        rc = cli_fail("train");
    } else if (out && rank == 0) {
        printf("saved %s\n", out);
    }
    if (s == CNN_OK && rank == 0 && ranks > 1) {
        /* the split the scaling note (docs/scaling.md) uses: time in collectives
           (moving data and waiting for the slower rank) against the rest */
        cnn_comm_stats cs = cnn_comm_get_stats(comm);
        cnn_memory_plan mp = cnn_graph_memory_plan(m.g);
        double wall = cnn_now_s() - t_start;
        int n_train = limit_train > 0 && limit_train < train.n ? limit_train : train.n;
        long steps = resume ? 0 : (long)epochs * ((n_train + batch - 1) / batch);
        printf("communication: %.3f s of %.3f s in %lld collectives (%.1f MB); gradients all-reduced per step: "
               "%zu bytes\n",
               cs.seconds, wall, (long long)cs.calls, (double)cs.bytes / 1e6, mp.grads);
        if (steps > 0)
            printf("per step (%ld steps, rank 0): %.2f ms in collectives, %.2f ms the rest\n", steps,
                   1e3 * cs.seconds / (double)steps, 1e3 * (wall - cs.seconds) / (double)steps);
    }
    if (rc == 0 && cv.failed) rc = 1;
    free(cv.p);
done_model:
    cnn_model_free(&m);
done_data:
    cnn_dataset_free(&train);
    if (have_test) cnn_dataset_free(&test);
done_comm:
    fflush(stdout);
    if (cnn_comm_broken(comm)) cnn_comm_abort(comm, rc ? rc : 1); /* a rank is gone: end them all */
    cnn_comm_free(comm);
    return rc;
}
