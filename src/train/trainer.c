/* The trainer: d2l's train_ch6 as a library call. Per epoch: shuffled batches from
   the loader (prepared on its thread), forward, backward, optimizer step; then test
   accuracy, one stats record, CSV log, plot and an atomic checkpoint. Resuming from a
   checkpoint restores weights, buffers, optimizer state, the dropout RNG and the
   position in the epoch, so an interrupted run continues bit for bit. Data-parallel
   runs (trainer_dist.c) cut every global batch into shards, one per rank; rank 0 alone
   reports and writes (docs/architecture.md "Distributed training"). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train_internal.h"

/* ---------------------------------------------------------------- checkpoints */
typedef struct train_state {
    int epoch;        /* completed epochs */
    int batch;        /* batches done in the next epoch (stopped mid-epoch) */
    cnn_epoch_stats *history;
    int n_history;
} train_state;

static cnn_status save_checkpoint(const cnn_model *m, const cnn_optimizer *opt,
                                  const train_state *st, uint64_t seed, const char *path)
{
    cnn_graph *g = m->g; /* m is const, the graph it points to is not */
    static char meta[CNN_META_MAX][2][CNN_META_LEN];
    int k = cnn_model_meta(m, meta, CNN_META_MAX - 6);
    snprintf(meta[k][0], CNN_META_LEN, "cnn.epoch");
    snprintf(meta[k++][1], CNN_META_LEN, "%d", st->epoch);
    snprintf(meta[k][0], CNN_META_LEN, "cnn.batch");
    snprintf(meta[k++][1], CNN_META_LEN, "%d", st->batch);
    snprintf(meta[k][0], CNN_META_LEN, "cnn.seed");
    snprintf(meta[k++][1], CNN_META_LEN, "%llu", (unsigned long long)seed);
    const cnn_rng *r = cnn_graph_rng(g);
    snprintf(meta[k][0], CNN_META_LEN, "cnn.rng");
    snprintf(meta[k++][1], CNN_META_LEN, "%016llx%016llx%016llx%016llx", (unsigned long long)r->s[0],
             (unsigned long long)r->s[1], (unsigned long long)r->s[2], (unsigned long long)r->s[3]);
    if (opt) {
        snprintf(meta[k][0], CNN_META_LEN, "cnn.optim_steps");
        snprintf(meta[k++][1], CNN_META_LEN, "%lld", (long long)cnn_optimizer_steps(opt));
    }
    /* history: one "epoch,loss,acc,test,ips,seconds,lr" line per epoch */
    snprintf(meta[k][0], CNN_META_LEN, "cnn.history");
    size_t pos = 0;
    meta[k][1][0] = '\0';
    for (int i = 0; i < st->n_history && pos < CNN_META_LEN - 128; i++) {
        const cnn_epoch_stats *h = &st->history[i];
        pos += (size_t)snprintf(meta[k][1] + pos, CNN_META_LEN - pos, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n",
                                h->epoch, h->train_loss, h->train_acc, h->test_acc, h->images_per_s,
                                h->seconds, (double)h->lr);
    }
    k++;
    const char *kv[2 * CNN_META_MAX];
    for (int i = 0; i < k; i++) {
        kv[2 * i] = meta[i][0];
        kv[2 * i + 1] = meta[i][1];
    }
    int np = cnn_graph_num_params(g);
    int ns = opt ? cnn_optimizer_num_states((cnn_optimizer *)opt) : 0;
    cnn_named_tensor *ts = cnn_malloc((size_t)(np + ns) * sizeof *ts + 1);
    char **names = cnn_calloc((size_t)ns + 1, sizeof *names);
    if (!ts || !names) {
        cnn_free(ts);
        cnn_free(names);
        return cnn_set_error(CNN_ERR_NOMEM, "checkpoint: out of memory");
    }
    for (int i = 0; i < np; i++) {
        cnn_param *p = cnn_graph_param(g, i);
        ts[i] = (cnn_named_tensor){p->name, &p->value};
    }
    cnn_status s = CNN_OK;
    for (int i = 0; i < ns && s == CNN_OK; i++) {
        const char *sn;
        cnn_tensor *t = cnn_optimizer_state((cnn_optimizer *)opt, i, &sn);
        size_t len = strlen(sn) + 8;
        names[i] = cnn_malloc(len);
        if (!names[i]) s = cnn_set_error(CNN_ERR_NOMEM, "checkpoint: out of memory");
        else snprintf(names[i], len, "optim.%s", sn);
        ts[np + i] = (cnn_named_tensor){names[i], t};
    }
    if (s == CNN_OK) s = cnn_safetensors_save(path, np + ns, ts, k, kv);
    for (int i = 0; i < ns; i++) cnn_free(names[i]);
    cnn_free(names);
    cnn_free(ts);
    return s;
}

cnn_status cnn_checkpoint_save(const cnn_model *m, const cnn_optimizer *opt, int epoch,
                               const char *path)
{
    train_state st = {.epoch = epoch};
    return save_checkpoint(m, opt, &st, 0, path);
}

static cnn_status load_resume(cnn_model *m, cnn_optimizer *opt, train_state *st, int max_hist,
                              const char *path)
{
    cnn_tensor_file *f = NULL;
    CNN_CHECK(cnn_safetensors_load(path, &f));
    cnn_status s = CNN_OK;
    /* every parameter and buffer must be there; extra keys are the optimizer's */
    for (int i = 0; i < cnn_graph_num_params(m->g) && s == CNN_OK; i++) {
        cnn_tensor v;
        const char *name = cnn_graph_param(m->g, i)->name;
        if (cnn_tensor_file_get(f, name, &v) != CNN_OK)
            s = cnn_set_error(CNN_ERR_FORMAT, "%s: no '%s' in the checkpoint", path, name);
    }
    if (s == CNN_OK) s = cnn_graph_load_weights(m->g, path, false);
    const char *model = cnn_tensor_file_meta(f, "cnn.model");
    if (model && strcmp(model, m->name) != 0)
        s = cnn_set_error(CNN_ERR_INVALID_ARG, "%s: checkpoint is a '%s', not a '%s'", path, model,
                          m->name);
    const char *e = cnn_tensor_file_meta(f, "cnn.epoch");
    const char *b = cnn_tensor_file_meta(f, "cnn.batch");
    st->epoch = e ? atoi(e) : 0;
    st->batch = b ? atoi(b) : 0;
    const char *rng = cnn_tensor_file_meta(f, "cnn.rng");
    if (s == CNN_OK && rng && strlen(rng) == 64) {
        for (int i = 0; i < 4; i++) {
            char part[17];
            memcpy(part, rng + 16 * i, 16);
            part[16] = '\0';
            cnn_graph_rng(m->g)->s[i] = strtoull(part, NULL, 16);
        }
    }
    const char *steps = cnn_tensor_file_meta(f, "cnn.optim_steps");
    if (steps) cnn_optimizer_set_steps(opt, atoll(steps));
    for (int i = 0; s == CNN_OK && i < cnn_optimizer_num_states(opt); i++) {
        const char *sn;
        cnn_tensor *t = cnn_optimizer_state(opt, i, &sn);
        char key[600];
        snprintf(key, sizeof key, "optim.%s", sn);
        cnn_tensor v;
        if (cnn_tensor_file_get(f, key, &v) != CNN_OK) {
            s = cnn_set_error(CNN_ERR_FORMAT,
                              "%s: no optimizer state '%s' (saved with another optimizer?)", path, key);
            break;
        }
        if (cnn_tensor_numel(&v) != cnn_tensor_numel(t)) {
            s = cnn_set_error(CNN_ERR_SHAPE, "%s: optimizer state '%s' has the wrong size", path, key);
            break;
        }
        memcpy(t->data, v.data, cnn_tensor_numel(t) * sizeof(float));
    }
    const char *hist = cnn_tensor_file_meta(f, "cnn.history");
    st->n_history = 0;
    while (s == CNN_OK && hist && *hist && st->n_history < max_hist) {
        cnn_epoch_stats *h = &st->history[st->n_history];
        double lr = 0;
        if (sscanf(hist, "%d,%lf,%lf,%lf,%lf,%lf,%lf", &h->epoch, &h->train_loss, &h->train_acc,
                   &h->test_acc, &h->images_per_s, &h->seconds, &lr) == 7) {
            h->lr = (float)lr;
            st->n_history++;
        }
        const char *nl = strchr(hist, '\n');
        hist = nl ? nl + 1 : NULL;
    }
    cnn_tensor_file_free(f);
    return s;
}

/* ---------------------------------------------------------------- logs */
typedef struct csv_rows {
    const cnn_epoch_stats *h;
    int n;
} csv_rows;

static void csv_write(FILE *f, const void *ctx)
{
    const csv_rows *r = ctx;
    fprintf(f, "epoch,train_loss,train_acc,test_acc,images_per_s,seconds\n");
    for (int i = 0; i < r->n; i++)
        fprintf(f, "%d,%.6f,%.6f,%.6f,%.1f,%.3f\n", r->h[i].epoch, r->h[i].train_loss,
                r->h[i].train_acc, r->h[i].test_acc, r->h[i].images_per_s, r->h[i].seconds);
}

static cnn_status write_csv(const char *path, const cnn_epoch_stats *h, int n)
{
    return cnn_write_text_atomic(path, csv_write, &(csv_rows){h, n}, "%s: cannot write the log");
}

/* ---------------------------------------------------------------- the loop */
cnn_status cnn_train(cnn_model *m, const cnn_dataset *train, const cnn_dataset *test,
                     const cnn_train_config *c, cnn_epoch_stats *last)
{
    if (!m || !m->g || !train || !c)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "train: model, data and config are required");
    if (c->epochs < 1) return cnn_set_error(CNN_ERR_INVALID_ARG, "train: epochs %d < 1", c->epochs);
    if (!m->loss)
        return cnn_set_error(CNN_ERR_UNSUPPORTED,
                             "train: model '%s' has no (N, classes) output to train with cross-entropy",
                             m->name);
    if (train->classes > m->classes)
        return cnn_set_error(CNN_ERR_SHAPE, "train: the data has %d classes, the model %d",
                             train->classes, m->classes);
    /* output paths checked before the first epoch trains (docs/architecture.md, "Stopping") */
    if (c->checkpoint) CNN_CHECK(cnn_check_output_path("checkpoint", c->checkpoint));
    if (c->log_csv) CNN_CHECK(cnn_check_output_path("log", c->log_csv));
    if (c->plot) CNN_CHECK(cnn_check_output_path("plot", c->plot));
    cnn_graph *g = m->g;
    m->transform.resize_h = c->transform.resize_h;
    m->transform.resize_w = c->transform.resize_w;
    m->transform.normalize = c->transform.normalize;
    memcpy(m->transform.mean, c->transform.mean, sizeof m->transform.mean);
    memcpy(m->transform.std, c->transform.std, sizeof m->transform.std);
    if (!m->class_names && train->class_names) CNN_CHECK(cnn_model_set_class_names(m, train->class_names));

    cnn_dist dist;
    cnn_status ds = cnn_dist_setup(&dist, m, train, test, c);
    if (ds != CNN_OK) {
        cnn_dist_free(&dist);
        return ds;
    }
    const bool root = dist.rank == 0;
    cnn_status s = cnn_graph_compile(g, c->seed);
    if (s == CNN_OK && c->init.kind != CNN_INIT_DEFAULT)
        s = cnn_graph_init(g, CNN_PARAM_WEIGHT, &c->init, false, c->seed);
    cnn_rng_seed(cnn_graph_rng(g), c->seed ^ 0xd20f0u);

    cnn_optimizer *opt = s == CNN_OK ? cnn_optimizer_new(g, &c->optim) : NULL;
    cnn_loader *lt = NULL;
    train_state st = {0};
    st.history = cnn_calloc((size_t)c->epochs + 1, sizeof *st.history);
    if (s == CNN_OK && !opt) s = cnn_error_status() != CNN_OK ? cnn_error_status() : CNN_ERR_NOMEM;
    if (s == CNN_OK && !st.history) s = cnn_set_error(CNN_ERR_NOMEM, "train: out of memory");
    if (s == CNN_OK) s = cnn_dist_prepare(&dist, g);
    s = cnn_dist_agree(&dist, s, "to set up");
    /* rank 0 reads the checkpoint; every rank starts from rank 0's state */
    if (s == CNN_OK && c->resume && root) s = load_resume(m, opt, &st, c->epochs, c->resume);
    if (c->resume) s = cnn_dist_agree(&dist, s, "to resume");
    if (s == CNN_OK) s = c->resume ? cnn_dist_sync_resume(&dist, g, opt, &st.epoch, &st.batch)
                                   : cnn_dist_sync_params(&dist, g);
    cnn_transform tt = c->transform;
    if (!c->augment) {
        tt.crop_padding = 0;
        tt.hflip = false;
    }
    cnn_dataset tv = *train;
    if (c->limit_train > 0 && c->limit_train < tv.n) tv.n = c->limit_train;
    if (s == CNN_OK) s = cnn_loader_new(&tv, dist.B, true, c->augment, &tt, c->seed, &lt);
    if (s == CNN_OK) s = cnn_model_check_data(m, lt);
    if (s == CNN_OK && dist.P > 1) s = cnn_loader_set_shard(lt, dist.rank, dist.K);
    if (dist.P > 1) s = cnn_dist_agree(&dist, s, "to open the data");
    int batches = lt ? cnn_loader_num_batches(lt) : 0;

    for (int epoch = st.epoch + 1; s == CNN_OK && epoch <= c->epochs; epoch++) {
        float lr = cnn_schedule_lr(&c->schedule, c->optim.lr, (float)(epoch - 1));
        cnn_optimizer_set_lr(opt, lr);
        cnn_graph_set_training(g, true);
        s = cnn_loader_start_epoch(lt, epoch);
        double t0 = cnn_now_s(), loss_sum = 0.0;
        int64_t seen = 0, correct = 0;
        int b = 0;
        bool stopped = false;
        while (s == CNN_OK && b < batches) {
            const float *x, *y;
            int n = 0;
            s = cnn_loader_next(lt, &x, &y, &n);
            if (s != CNN_OK || !x) break;
            if (b < st.batch) { /* resuming mid-epoch: these were done before the stop */
                b++;
                continue;
            }
            /* the global batch's size; this process holds its shard(s) of it */
            int ng = CNN_MIN(dist.B, tv.n - b * dist.B);
            double stats[4] = {0, 0, 0, c->stop && *c->stop ? 1.0 : 0.0};
            s = cnn_dist_step(&dist, m, x, y, ng, (int64_t)(epoch - 1) * batches + b, stats);
            if (s != CNN_OK) break;
            double loss = stats[0] / (double)ng;
            if (!isfinite(loss)) {
                s = cnn_set_error(CNN_ERR_STATE,
                                  "train: loss became %g at epoch %d batch %d (learning rate %g too high?)",
                                  loss, epoch, b + 1, (double)lr);
                break;
            }
            s = cnn_optimizer_step(opt);
            if (s != CNN_OK) break;
            loss_sum += stats[0];
            correct += (int64_t)stats[1];
            seen += ng;
            b++;
            if (c->on_batch && root)
                c->on_batch(c->user, epoch, b, batches, loss_sum / (double)seen,
                            (double)correct / (double)seen, (double)seen / (cnn_now_s() - t0));
            if (stats[3] > 0) { /* any rank asked to stop: all stop at this step */
                stopped = true;
                break;
            }
        }
        if (s != CNN_OK) break;
        if (stopped) {
            st.epoch = epoch - 1;
            st.batch = b < batches ? b : 0;
            if (b >= batches) st.epoch = epoch;
            if (c->checkpoint) s = cnn_dist_sync_params(&dist, g);
            if (s == CNN_OK && c->checkpoint && root) s = save_checkpoint(m, opt, &st, c->seed, c->checkpoint);
            if (c->checkpoint) s = cnn_dist_root_status(&dist, s);
            if (s == CNN_OK)
                s = cnn_set_error(CNN_ERR_INTERRUPTED, "stopped at epoch %d, batch %d%s%s", epoch, b,
                                  c->checkpoint ? "; checkpoint saved to " : "",
                                  c->checkpoint ? c->checkpoint : "");
            break;
        }
        st.batch = 0;
        double train_s = cnn_now_s() - t0;
        cnn_epoch_stats es = {
            .epoch = epoch,
            .train_loss = seen ? loss_sum / (double)seen : 0.0,
            .train_acc = seen ? (double)correct / (double)seen : 0.0,
            .test_acc = NAN,
            .images_per_s = train_s > 0 ? (double)seen / train_s : 0.0,
            .lr = lr,
        };
        /* every rank evaluates and saves rank 0's batch-norm running statistics */
        s = cnn_dist_sync_params(&dist, g);
        if (s == CNN_OK && test) s = cnn_dist_evaluate(&dist, m, test, c->limit_test, &es.test_acc);
        if (s != CNN_OK) break;
        es.seconds = cnn_now_s() - t0;
        st.history[st.n_history++] = es;
        st.epoch = epoch;
        if (last) *last = es;
        if (c->on_epoch && root) c->on_epoch(c->user, &es);
        if (c->log_csv && root) s = write_csv(c->log_csv, st.history, st.n_history);
        if (s == CNN_OK && c->plot && root) s = cnn_plot_curves(c->plot, st.history, st.n_history);
        if (s == CNN_OK && c->checkpoint && root) s = save_checkpoint(m, opt, &st, c->seed, c->checkpoint);
        s = cnn_dist_root_status(&dist, s);
    }
    cnn_dist_free(&dist);
    cnn_loader_free(lt);
    cnn_optimizer_free(opt);
    cnn_free(st.history);
    cnn_graph_set_training(g, false);
    return s;
}
