/* The data-parallel parts of the trainer (docs/architecture.md "Distributed
   training"): the global batch is cut into K contiguous shards (cnn_shard_range), rank
   r computes shard r, and the per-shard gradients (each already weighted by
   n_shard / n_global through the loss's upstream gradient) are summed in shard order:
   by cnn_comm_allreduce across ranks, or by this file's accumulator when one process
   computes all K shards one after the other. Both do the same float operations in the
   same order, so one process with K shards and K ranks give the same bits (same
   threads per process). Dropout is reseeded per (step, shard) when K > 1; batch-norm
   running statistics are the ones shard 0 produced (rank 0's, as PyTorch DDP), the
   other shards' updates are undone. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train_internal.h"

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* FNV-1a over bytes */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL
#define H(x) (h = fnv(h, &(x), sizeof(x)))
#define HS(s) (h = fnv(h, (s) ? (s) : "", (s) ? strlen(s) + 1 : 1))

/* What every rank must agree on: the model and its options, every option that changes
   the numbers, the data set's size, shape and labels, the backend. Field by field (no
   struct padding). Paths (log, plot, checkpoint) are rank 0's business. */
static uint64_t run_hash(const cnn_model *m, const cnn_dataset *train, const cnn_dataset *test,
                         const cnn_train_config *c, int B, int K, int P)
{
    uint64_t h = FNV_INIT;
    HS(m->name);
    const cnn_model_opts *o = &m->opts;
    H(o->batch), H(o->channels), H(o->depth), H(o->height), H(o->width), H(o->classes), H(o->width_mult);
    HS(o->set);
    H(c->epochs), H(B), H(K), H(P), H(c->seed), H(c->limit_train), H(c->limit_test), H(c->augment),
        H(c->sync_bn);
    const cnn_optim_opts *op = &c->optim;
    H(op->kind), H(op->lr), H(op->momentum), H(op->nesterov), H(op->weight_decay), H(op->beta1),
        H(op->beta2), H(op->eps);
    const cnn_schedule *sc = &c->schedule;
    H(sc->kind), H(sc->step_size), H(sc->gamma), H(sc->min_lr), H(sc->total), H(sc->warmup);
    const cnn_init *in = &c->init;
    H(in->kind), H(in->fan_out), H(in->gain), H(in->mean), H(in->std), H(in->value);
    const cnn_transform *t = &c->transform;
    H(t->resize_h), H(t->resize_w), H(t->crop_padding), H(t->hflip), H(t->normalize);
    h = fnv(h, t->mean, sizeof t->mean);
    h = fnv(h, t->std, sizeof t->std);
    bool resume = c->resume != NULL;
    H(resume);
    const cnn_dataset *ds[2] = {train, test};
    for (int i = 0; i < 2; i++) {
        const cnn_dataset *d = ds[i];
        int have = d != NULL;
        H(have);
        if (!d) continue;
        H(d->n), H(d->c), H(d->d), H(d->h), H(d->w), H(d->classes);
        if (d->labels) h = fnv(h, d->labels, (size_t)d->n * sizeof *d->labels);
    }
    HS(cnn_backend_name());
    return h;
}

static size_t count_buffers(const cnn_graph *g)
{
    size_t n = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++)
        if (!cnn_graph_param(g, i)->trainable) n += cnn_tensor_numel(&cnn_graph_param(g, i)->value);
    return n;
}

static void copy_buffers(cnn_graph *g, float *save, bool to_save)
{
    size_t off = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        if (p->trainable) continue;
        size_t n = cnn_tensor_numel(&p->value);
        if (to_save) memcpy(save + off, p->value.data, n * sizeof(float));
        else memcpy(p->value.data, save + off, n * sizeof(float));
        off += n;
    }
}

cnn_status cnn_dist_agree(cnn_dist *d, cnn_status s, const char *what)
{
    if (d->P == 1) return s;
    double bad = s != CNN_OK ? 1.0 : 0.0;
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", cnn_error_message());
    cnn_status r = cnn_comm_allreduce_f64(d->comm, &bad, 1, CNN_REDUCE_SUM);
    if (r != CNN_OK) return r;
    if (s != CNN_OK) return cnn_set_error(s, "%s", keep);
    if (bad > 0)
        return cnn_set_error(CNN_ERR_STATE, "rank %d: %g other rank(s) failed %s (see their messages)", d->rank,
                             bad, what);
    return CNN_OK;
}

cnn_status cnn_dist_setup(cnn_dist *d, cnn_model *m, const cnn_dataset *train, const cnn_dataset *test,
                          const cnn_train_config *c)
{
    memset(d, 0, sizeof *d);
    d->comm = c->comm;
    if (!d->comm) {
        CNN_CHECK(cnn_comm_init(CNN_COMM_SINGLE, &d->own));
        d->comm = d->own;
    }
    d->rank = cnn_comm_rank(d->comm);
    d->P = cnn_comm_size(d->comm);
    d->K = c->shards > 0 ? c->shards : d->P;
    /* one shard: the model's batch is the batch (as before data parallelism) */
    d->B = d->K == 1 ? m->opts.batch : c->batch > 0 ? c->batch : m->opts.batch * d->K;
    d->seed = c->seed;
    d->sync_bn = c->sync_bn;
    cnn_status s = CNN_OK;
    int n_train = c->limit_train > 0 && c->limit_train < train->n ? c->limit_train : train->n;
    if (d->P > 1 && d->K != d->P)
        s = cnn_set_error(CNN_ERR_INVALID_ARG, "train: %d shards on %d ranks: use one shard per rank",
                          d->K, d->P);
    else if (d->K > d->B)
        s = cnn_set_error(CNN_ERR_INVALID_ARG, "train: global batch %d cannot be cut into %d shards", d->B,
                          d->K);
    else if ((d->B + d->K - 1) / d->K > m->opts.batch)
        s = cnn_set_error(CNN_ERR_INVALID_ARG,
                          "train: the model was built for batch %d, too small for a shard of %d "
                          "(global batch %d over %d shards)",
                          m->opts.batch, (d->B + d->K - 1) / d->K, d->B, d->K);
    else if (c->sync_bn && d->K > 1 && d->P == 1)
        s = cnn_set_error(CNN_ERR_INVALID_ARG,
                          "train: synchronised batch norm needs one rank per shard (%d shards in one process)",
                          d->K);
    else if (c->sync_bn && d->P > 1 && n_train % d->B != 0 && n_train % d->B < d->K)
        s = cnn_set_error(CNN_ERR_INVALID_ARG,
                          "train: synchronised batch norm: the epoch's last batch of %d examples leaves a rank "
                          "without any (change --batch or --limit-train)",
                          n_train % d->B);
    d->first = d->P > 1 ? d->rank : 0;
    d->nloc = d->P > 1 ? 1 : d->K;
    /* same options and data everywhere, or nobody starts */
    if (d->P > 1) {
        uint64_t mine = run_hash(m, train, test, c, d->B, d->K, d->P), root = mine;
        cnn_status r = cnn_comm_bcast(d->comm, &root, sizeof root, 0);
        if (r != CNN_OK) return r;
        if (s == CNN_OK && mine != root)
            s = cnn_set_error(CNN_ERR_INVALID_ARG,
                              "train: rank %d was started with other options or data than rank 0 "
                              "(hash %016llx, rank 0 %016llx): start every rank with the same command "
                              "and data",
                              d->rank, (unsigned long long)mine, (unsigned long long)root);
        s = cnn_dist_agree(d, s, "the start-up check (different options or data)");
    }
    return s;
}

cnn_status cnn_dist_prepare(cnn_dist *d, cnn_graph *g)
{
    d->g = g;
    if (d->sync_bn && d->P > 1) cnn_graph_set_sync(g, d->comm);
    if (d->K > 1 && d->P == 1) {
        size_t grad_bytes;
        cnn_graph_grad_block(g, &grad_bytes);
        d->n_grad = grad_bytes / sizeof(float);
        d->acc = cnn_malloc_aligned((d->n_grad ? d->n_grad : 1) * sizeof(float));
        d->n_buf = count_buffers(g);
        d->bufsave = cnn_malloc((d->n_buf ? d->n_buf : 1) * sizeof(float));
        if (!d->acc || !d->bufsave) return cnn_set_error(CNN_ERR_NOMEM, "train: out of memory (shards)");
    }
    return CNN_OK;
}

void cnn_dist_free(cnn_dist *d)
{
    if (d->g) cnn_graph_set_sync(d->g, NULL);
    cnn_free_aligned(d->acc);
    cnn_free(d->bufsave);
    cnn_comm_free(d->own);
    memset(d, 0, sizeof *d);
}

cnn_status cnn_dist_sync_params(cnn_dist *d, cnn_graph *g)
{
    if (d->P == 1) return CNN_OK;
    size_t bytes;
    float *params = cnn_graph_param_block(g, &bytes);
    return cnn_comm_bcast(d->comm, params, bytes, 0);
}

cnn_status cnn_dist_sync_resume(cnn_dist *d, cnn_graph *g, cnn_optimizer *opt, int *epoch, int *batch)
{
    if (d->P == 1) return CNN_OK;
    CNN_CHECK(cnn_dist_sync_params(d, g));
    int64_t hdr[3] = {*epoch, *batch, cnn_optimizer_steps(opt)};
    CNN_CHECK(cnn_comm_bcast(d->comm, hdr, sizeof hdr, 0));
    *epoch = (int)hdr[0];
    *batch = (int)hdr[1];
    cnn_optimizer_set_steps(opt, hdr[2]);
    CNN_CHECK(cnn_comm_bcast(d->comm, cnn_graph_rng(g)->s, sizeof cnn_graph_rng(g)->s, 0));
    for (int i = 0; i < cnn_optimizer_num_states(opt); i++) {
        const char *name;
        cnn_tensor *t = cnn_optimizer_state(opt, i, &name);
        CNN_CHECK(cnn_comm_bcast(d->comm, t->data, cnn_tensor_numel(t) * sizeof(float), 0));
    }
    return CNN_OK;
}

cnn_status cnn_dist_root_status(cnn_dist *d, cnn_status s)
{
    if (d->P == 1) return s;
    int32_t v = (int32_t)s;
    cnn_status r = cnn_comm_bcast(d->comm, &v, sizeof v, 0);
    if (r != CNN_OK) return r;
    if (d->rank == 0 || v == CNN_OK) return s;
    return cnn_set_error((cnn_status)v, "rank %d: rank 0 failed writing the logs or checkpoint", d->rank);
}

/* One optimizer step's gradient over the global batch of n examples; (x, y) is this
   process's part: the rank's shard (P > 1) or the whole batch (P == 1). stats gets
   the global loss sum and correct count. A local error still takes part in the
   collectives (with zero gradients) and is announced to every rank in stats[2], so
   all ranks stop at the same step. */
cnn_status cnn_dist_step(cnn_dist *d, cnn_model *m, const float *x, const float *y, int n, int64_t step,
                         double stats[4])
{
    cnn_graph *g = m->g;
    size_t grad_bytes;
    float *grad_block = cnn_graph_grad_block(g, &grad_bytes);
    cnn_tensor in = cnn_node_value(m->input);
    size_t ex = 1;
    for (int i = 1; i < in.ndim; i++) ex *= (size_t)in.dims[i];
    cnn_status s = CNN_OK;
    stats[0] = stats[1] = stats[2] = 0.0;
    for (int kk = 0; kk < d->nloc; kk++) {
        int k = d->first + kk, lo, hi;
        cnn_shard_range(n, d->K, k, &lo, &hi);
        int nk = hi - lo;
        const float *xk = d->P > 1 ? x : x + (size_t)lo * ex, *yk = d->P > 1 ? y : y + lo;
        if (nk == 0) {
            if (grad_bytes) memset(grad_block, 0, grad_bytes);
        } else {
            if (d->K > 1) cnn_rng_seed(cnn_graph_rng(g), mix64(mix64(d->seed ^ 0x5348415244ULL) ^ (uint64_t)step) ^ (uint64_t)k);
            s = cnn_graph_set_input(g, m->input, xk, nk);
            if (s == CNN_OK) s = cnn_graph_set_input(g, m->labels, yk, nk);
            if (s == CNN_OK) s = cnn_graph_forward(g);
            if (s == CNN_OK && d->acc && d->n_buf) copy_buffers(g, d->bufsave, kk == 0);
            /* this shard's weight in the global mean: n_k / n (1 for one shard) */
            float w = d->K == 1 ? 1.0f : (float)nk / (float)n;
            if (s == CNN_OK) s = cnn_graph_backward_from(g, m->loss, &w);
            if (s != CNN_OK) {
                if (grad_bytes) memset(grad_block, 0, grad_bytes);
                stats[2] = 1.0;
                if (d->P == 1) return s;
                break;
            }
            stats[0] += (double)cnn_node_value(m->loss).data[0] * nk;
            const float *z = cnn_node_value(m->logits).data;
            for (int i = 0; i < nk; i++)
                if (cnn_argmax(z + (size_t)i * m->classes, m->classes) == (int)yk[i]) stats[1] += 1.0;
        }
        if (d->acc) {
            const float *gb = grad_block;
            if (kk == 0) memcpy(d->acc, gb, d->n_grad * sizeof(float));
            else
                for (size_t i = 0; i < d->n_grad; i++) d->acc[i] += gb[i];
        }
    }
    if (d->acc) memcpy(grad_block, d->acc, d->n_grad * sizeof(float));
    if (d->P == 1) return CNN_OK;
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", cnn_error_message());
    cnn_status r = cnn_comm_allreduce(d->comm, grad_block, grad_bytes / sizeof(float), CNN_REDUCE_SUM);
    if (r == CNN_OK) r = cnn_comm_allreduce_f64(d->comm, stats, 4, CNN_REDUCE_SUM);
    if (r != CNN_OK) return r;
    if (s != CNN_OK) return cnn_set_error(s, "%s", keep);
    if (stats[2] > 0)
        return cnn_set_error(CNN_ERR_STATE, "rank %d: another rank failed at step %lld (see its message)",
                             d->rank, (long long)step);
    return CNN_OK;
}

/* Test accuracy with the evaluation sharded like training: batches of K model batches,
   shard k of each computed by rank k (or one after the other in one process), the
   correct and total counts summed. */
cnn_status cnn_dist_evaluate(cnn_dist *d, cnn_model *m, const cnn_dataset *test, int limit, double *acc)
{
    cnn_dataset view = *test;
    if (limit > 0 && limit < view.n) view.n = limit;
    int mb = m->opts.batch;
    cnn_loader *l = NULL;
    cnn_status s = cnn_loader_new(&view, mb * d->K, false, false, &m->transform, 0, &l);
    if (s == CNN_OK) s = cnn_model_check_data(m, l);
    if (s == CNN_OK && d->P > 1) s = cnn_loader_set_shard(l, d->rank, d->K);
    if (s == CNN_OK) s = cnn_loader_start_epoch(l, 0);
    cnn_tensor in = cnn_node_value(m->input);
    size_t ex = 1;
    for (int i = 1; i < in.ndim; i++) ex *= (size_t)in.dims[i];
    bool was_training = cnn_graph_training(m->g);
    cnn_graph_set_training(m->g, false);
    double counts[2] = {0.0, 0.0};
    int batches = l ? cnn_loader_num_batches(l) : 0;
    for (int b = 0; s == CNN_OK && b < batches; b++) {
        const float *x, *y;
        int n = 0;
        s = cnn_loader_next(l, &x, &y, &n);
        if (s != CNN_OK || !x) break;
        int total = CNN_MIN(mb * d->K, view.n - b * mb * d->K);
        for (int kk = 0; s == CNN_OK && kk < d->nloc; kk++) {
            int lo, hi;
            cnn_shard_range(total, d->K, d->first + kk, &lo, &hi);
            const float *xk = d->P > 1 ? x : x + (size_t)lo * ex, *yk = d->P > 1 ? y : y + lo;
            int nk = hi - lo;
            if (nk == 0) continue;
            s = cnn_graph_set_input(m->g, m->input, xk, nk);
            if (s == CNN_OK) s = cnn_graph_set_input(m->g, m->labels, yk, nk);
            if (s == CNN_OK) s = cnn_graph_forward(m->g);
            if (s != CNN_OK) break;
            const float *z = cnn_node_value(m->logits).data;
            for (int i = 0; i < nk; i++)
                if (cnn_argmax(z + (size_t)i * m->classes, m->classes) == (int)yk[i]) counts[0] += 1.0;
            counts[1] += nk;
        }
    }
    cnn_graph_set_training(m->g, was_training);
    cnn_loader_free(l);
    s = cnn_dist_agree(d, s, "in evaluation");
    if (s == CNN_OK && d->P > 1) s = cnn_comm_allreduce_f64(d->comm, counts, 2, CNN_REDUCE_SUM);
    if (s == CNN_OK) *acc = counts[1] > 0 ? counts[0] / counts[1] : 0.0;
    return s;
}
