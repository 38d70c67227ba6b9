/* Optimizers with torch.optim's exact update rules (one parameter group, every
 * trainable parameter, weight decay on all of them as torch applies it by default):
 *
 *   SGD   (torch.optim.SGD, dampening 0):  d = g + wd p;  b = d on the first step,
 *         else b = m b + d;  d = nesterov ? d + m b : b;  p -= lr d
 *   Adam  (torch.optim.Adam, amsgrad off): g += wd p;  m = b1 m + (1-b1) g;
 *         v = b2 v + (1-b2) g^2;  p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   AdamW (torch.optim.AdamW): p *= 1 - lr wd, then Adam without the L2 term.
 *
 * All state lives in one block allocated by cnn_optimizer_new (llm.c style);
 * step allocates nothing. Buffers (running statistics) are never touched.
 *
 * A step is one pass over every parameter, cut into chunks (the chunk table is built
 * with the optimizer) handed to the backend's sgd_step / adam_step as segments
 * (docs/architecture.md, "Kernels"). The update is element-wise, so the results do
 * not depend on how the backend shares the chunks out. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cnn.h"

/* floats per work item of a step: 64 KiB per stream */
#define CHUNK ((size_t)16384)

typedef struct optim_chunk {
    int k;           /* parameter */
    size_t off, len; /* element range */
} optim_chunk;

struct cnn_optimizer {
    cnn_graph *g;
    cnn_optim_opts o;
    int n_params; /* trainable parameters */
    cnn_param **params;
    int per_param;      /* state tensors per parameter: 0 (plain SGD), 1 or 2 */
    int n_states;       /* n_params * per_param */
    cnn_tensor *states; /* [param][per_param], data in `block` */
    char **names;       /* "exp_avg.<param>", ... */
    float *block;       /* every state buffer */
    int n_chunks;
    optim_chunk *chunks; /* every parameter's elements in CHUNK pieces, in the table block */
    cnn_optim_seg *segs; /* one per chunk, filled each step, in the table block */
    size_t numel;        /* trainable elements in all */
    int64_t steps;
};

static const char *kind_name(cnn_optim_kind k)
{
    return k == CNN_OPTIM_SGD ? "sgd" : k == CNN_OPTIM_ADAM ? "adam" : "adamw";
}

static cnn_status check_opts(const cnn_optim_opts *o)
{
    const char *k = kind_name(o->kind);
    if (o->kind != CNN_OPTIM_SGD && o->kind != CNN_OPTIM_ADAM && o->kind != CNN_OPTIM_ADAMW)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer: unknown kind %d", (int)o->kind);
    if (!(o->lr > 0.0f) || !isfinite(o->lr))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer %s: lr %g must be > 0", k,
                             (double)o->lr);
    if (!(o->weight_decay >= 0.0f) || !isfinite(o->weight_decay))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer %s: weight_decay %g must be >= 0", k,
                             (double)o->weight_decay);
    if (o->kind == CNN_OPTIM_SGD) {
        if (!(o->momentum >= 0.0f) || !isfinite(o->momentum))
            return cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer sgd: momentum %g must be >= 0",
                                 (double)o->momentum);
        if (o->nesterov && o->momentum == 0.0f)
            return cnn_set_error(CNN_ERR_INVALID_ARG,
                                 "optimizer sgd: nesterov needs a momentum > 0 (momentum is 0)");
        return CNN_OK;
    }
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer %s: beta1 %g outside [0, 1)", k,
                             (double)o->beta1);
    if (!(o->beta2 >= 0.0f && o->beta2 < 1.0f))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer %s: beta2 %g outside [0, 1)", k,
                             (double)o->beta2);
    if (!(o->eps > 0.0f) || !isfinite(o->eps))
        return cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer %s: eps %g must be > 0", k,
                             (double)o->eps);
    return CNN_OK;
}

static size_t align16(size_t n) { return (n + 15) / 16 * 16; }

cnn_optimizer *cnn_optimizer_new(cnn_graph *g, const cnn_optim_opts *opts)
{
    if (!g || !opts) {
        cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer: graph or options are NULL");
        return NULL;
    }
    cnn_optim_opts o = *opts;
    if (o.kind != CNN_OPTIM_SGD) {
        /* Adam defaults when left 0 */
        if (o.beta1 == 0.0f) o.beta1 = 0.9f;
        if (o.beta2 == 0.0f) o.beta2 = 0.999f;
        if (o.eps == 0.0f) o.eps = 1e-8f;
    }
    if (check_opts(&o) != CNN_OK) return NULL;
    if (!cnn_graph_compiled(g) && cnn_graph_compile(g, 0) != CNN_OK) return NULL;

    int np = 0, nch = 0;
    size_t name_bytes = 0, floats = 0, numel = 0;
    int per = o.kind == CNN_OPTIM_SGD ? (o.momentum > 0.0f ? 1 : 0) : 2;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        const cnn_param *p = cnn_graph_param(g, i);
        if (!p->trainable) continue;
        np++;
        name_bytes += (size_t)per * (strlen(p->name) + sizeof "momentum_buffer.");
        floats += (size_t)per * align16(cnn_tensor_numel(&p->value));
        numel += cnn_tensor_numel(&p->value);
        nch += (int)((cnn_tensor_numel(&p->value) + CHUNK - 1) / CHUNK);
    }
    cnn_optimizer *opt = cnn_calloc(1, sizeof *opt);
    if (!opt) goto nomem;
    opt->g = g;
    opt->o = o;
    opt->n_params = np;
    opt->per_param = per;
    opt->n_states = np * per;
    /* one allocation for the tables and names, one for the float state */
    /* chunks first: the one member with size_t alignment needs */
    size_t chunk_bytes = (size_t)nch * sizeof(optim_chunk) + (size_t)nch * sizeof(cnn_optim_seg);
    size_t tab = chunk_bytes + (size_t)np * sizeof(cnn_param *) +
                 (size_t)opt->n_states * sizeof(cnn_tensor) + (size_t)opt->n_states * sizeof(char *);
    char *mem = cnn_calloc(1, tab + name_bytes + 1);
    if (!mem) goto nomem;
    opt->chunks = (optim_chunk *)mem;
    opt->segs = (cnn_optim_seg *)(mem + (size_t)nch * sizeof(optim_chunk));
    opt->n_chunks = nch;
    opt->numel = numel;
    opt->params = (cnn_param **)(mem + chunk_bytes);
    opt->states = (cnn_tensor *)(mem + chunk_bytes + (size_t)np * sizeof(cnn_param *));
    opt->names = (char **)(mem + chunk_bytes + (size_t)np * sizeof(cnn_param *) +
                           (size_t)opt->n_states * sizeof(cnn_tensor));
    char *names = mem + tab;
    opt->block = cnn_malloc_aligned((floats ? floats : 1) * sizeof(float));
    if (!opt->block) goto nomem;
    memset(opt->block, 0, (floats ? floats : 1) * sizeof(float));

    static const char *const sgd_names[] = {"momentum_buffer"};
    static const char *const adam_names[] = {"exp_avg", "exp_avg_sq"};
    const char *const *kinds = o.kind == CNN_OPTIM_SGD ? sgd_names : adam_names;
    size_t foff = 0;
    int k = 0, ci = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *p = cnn_graph_param(g, i);
        if (!p->trainable) continue;
        opt->params[k] = p;
        for (int j = 0; j < per; j++) {
            cnn_tensor *t = &opt->states[k * per + j];
            *t = p->value;
            t->data = opt->block + foff;
            foff += align16(cnn_tensor_numel(&p->value));
            int w = sprintf(names, "%s.%s", kinds[j], p->name);
            opt->names[k * per + j] = names;
            names += w + 1;
        }
        size_t n = cnn_tensor_numel(&p->value);
        for (size_t off = 0; off < n; off += CHUNK)
            opt->chunks[ci++] = (optim_chunk){k, off, n - off < CHUNK ? n - off : CHUNK};
        k++;
    }
    return opt;
nomem:
    cnn_optimizer_free(opt);
    cnn_set_error(CNN_ERR_NOMEM, "optimizer %s: out of memory for the state of %d parameters",
                  kind_name(o.kind), np);
    return NULL;
}

void cnn_optimizer_free(cnn_optimizer *opt)
{
    if (!opt) return;
    cnn_free(opt->chunks); /* the table block starts with the chunks */
    cnn_free_aligned(opt->block);
    cnn_free(opt);
}

void cnn_optimizer_set_lr(cnn_optimizer *opt, float lr)
{
    if (opt && lr >= 0.0f && isfinite(lr)) opt->o.lr = lr;
}

float cnn_optimizer_lr(const cnn_optimizer *opt) { return opt ? opt->o.lr : 0.0f; }

/* The segments of this step: one per chunk, pointing at the parameters' current
   value and gradient (filled each step: bookkeeping only, no allocation). */
static void fill_segs(cnn_optimizer *opt)
{
    for (int c = 0; c < opt->n_chunks; c++) {
        const optim_chunk *ch = &opt->chunks[c];
        cnn_param *p = opt->params[ch->k];
        int per = opt->per_param;
        opt->segs[c] = (cnn_optim_seg){
            .w = p->value.data + ch->off,
            .g = p->grad.data + ch->off,
            .m = per ? opt->states[per * ch->k].data + ch->off : NULL,
            .v = per == 2 ? opt->states[2 * ch->k + 1].data + ch->off : NULL,
            .n = ch->len,
        };
    }
}

static void sgd_step(cnn_optimizer *opt)
{
    const cnn_optim_hyper h = {.lr = opt->o.lr,
                               .wd = opt->o.weight_decay,
                               .momentum = opt->o.momentum,
                               .first = opt->steps == 0,
                               .nesterov = opt->o.nesterov};
    fill_segs(opt);
    cnn_graph_sgd_step(opt->g, opt->segs, opt->n_chunks, &h);
}

static void adam_step(cnn_optimizer *opt)
{
    const float lr = opt->o.lr, wd = opt->o.weight_decay;
    /* bias corrections in double, as torch computes them in Python floats */
    double t = (double)opt->steps;
    double bc1 = 1.0 - pow((double)opt->o.beta1, t);
    double bc2 = 1.0 - pow((double)opt->o.beta2, t);
    const cnn_optim_hyper h = {.lr = lr,
                               .wd = wd,
                               .b1 = opt->o.beta1,
                               .b2 = opt->o.beta2,
                               .eps = opt->o.eps,
                               .step_size = (float)((double)lr / bc1),
                               .bc2_sqrt = (float)sqrt(bc2),
                               .decay = (float)(1.0 - (double)lr * (double)wd),
                               .decoupled = opt->o.kind == CNN_OPTIM_ADAMW};
    fill_segs(opt);
    cnn_graph_adam_step(opt->g, opt->segs, opt->n_chunks, &h);
}

cnn_status cnn_optimizer_step(cnn_optimizer *opt)
{
    if (!opt) return cnn_set_error(CNN_ERR_INVALID_ARG, "optimizer step: optimizer is NULL");
    for (int k = 0; k < opt->n_params; k++)
        if (!opt->params[k]->grad.data || !opt->params[k]->value.data)
            return cnn_set_error(CNN_ERR_STATE, "optimizer step: '%s' has no gradient",
                                 opt->params[k]->name);
    if (opt->o.kind == CNN_OPTIM_SGD) {
        sgd_step(opt);
        opt->steps++;
    } else {
        opt->steps++;
        adam_step(opt);
    }
    return CNN_OK;
}

int cnn_optimizer_num_states(const cnn_optimizer *opt) { return opt ? opt->n_states : 0; }

cnn_tensor *cnn_optimizer_state(cnn_optimizer *opt, int i, const char **name)
{
    if (!opt || i < 0 || i >= opt->n_states) {
        if (name) *name = NULL;
        return NULL;
    }
    if (name) *name = opt->names[i];
    return &opt->states[i];
}

int64_t cnn_optimizer_steps(const cnn_optimizer *opt) { return opt ? opt->steps : 0; }

void cnn_optimizer_set_steps(cnn_optimizer *opt, int64_t steps)
{
    if (opt && steps >= 0) opt->steps = steps;
}
