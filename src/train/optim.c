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
 * A step is one pass over every parameter, cut into chunks that OpenMP shares out
 * (the chunk table is built with the optimizer). The update is element-wise, so the
 * results do not depend on the thread count; the loops are specialised per option so
 * they vectorise (cloned for AVX-512 / AVX2 / baseline). */
#include "../core/clones.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "../ops/ops_common.h"

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
    if (!g->compiled && cnn_graph_compile(g, 0) != CNN_OK) return NULL;

    int np = 0, nch = 0;
    size_t name_bytes = 0, floats = 0, numel = 0;
    int per = o.kind == CNN_OPTIM_SGD ? (o.momentum > 0.0f ? 1 : 0) : 2;
    for (int i = 0; i < g->n_params; i++) {
        const cnn_param *p = &g->params[i]->p;
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
    size_t chunk_bytes = (size_t)nch * sizeof(optim_chunk);
    size_t tab = chunk_bytes + (size_t)np * sizeof(cnn_param *) +
                 (size_t)opt->n_states * sizeof(cnn_tensor) + (size_t)opt->n_states * sizeof(char *);
    char *mem = cnn_calloc(1, tab + name_bytes + 1);
    if (!mem) goto nomem;
    opt->chunks = (optim_chunk *)mem;
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
    for (int i = 0; i < g->n_params; i++) {
        cnn_param *p = &g->params[i]->p;
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

#define INLINE static inline __attribute__((always_inline))

/* torch.optim.SGD on n elements; the flags are constants at each call below, so every
   combination is its own branch-free loop. */
INLINE void sgd_loop(float *restrict w, const float *restrict gr, float *restrict buf, size_t n,
                     float lr, float wd, float m, bool has_wd, bool has_buf, bool first,
                     bool nesterov)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float d = gr[i];
        if (has_wd) d += wd * w[i];
        if (has_buf) {
            float b = first ? d : m * buf[i] + d; /* dampening 0 */
            buf[i] = b;
            d = nesterov ? d + m * b : b;
        }
        w[i] -= lr * d;
    }
}

CNN_CLONES static void sgd_chunk(float *restrict w, const float *restrict gr, float *restrict buf,
                             size_t n, float lr, float wd, float m, bool first, bool nesterov)
{
    if (!buf) {
        if (wd != 0.0f) sgd_loop(w, gr, NULL, n, lr, wd, m, true, false, false, false);
        else sgd_loop(w, gr, NULL, n, lr, wd, m, false, false, false, false);
    } else if (wd != 0.0f) {
        if (first) {
            if (nesterov) sgd_loop(w, gr, buf, n, lr, wd, m, true, true, true, true);
            else sgd_loop(w, gr, buf, n, lr, wd, m, true, true, true, false);
        } else {
            if (nesterov) sgd_loop(w, gr, buf, n, lr, wd, m, true, true, false, true);
            else sgd_loop(w, gr, buf, n, lr, wd, m, true, true, false, false);
        }
    } else {
        if (first) {
            if (nesterov) sgd_loop(w, gr, buf, n, lr, wd, m, false, true, true, true);
            else sgd_loop(w, gr, buf, n, lr, wd, m, false, true, true, false);
        } else {
            if (nesterov) sgd_loop(w, gr, buf, n, lr, wd, m, false, true, false, true);
            else sgd_loop(w, gr, buf, n, lr, wd, m, false, true, false, false);
        }
    }
}

static void sgd_step(cnn_optimizer *opt)
{
    const float lr = opt->o.lr, wd = opt->o.weight_decay, m = opt->o.momentum;
    const bool first = opt->steps == 0, nesterov = opt->o.nesterov;
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(opt->numel))
    for (int c = 0; c < opt->n_chunks; c++) {
        const optim_chunk *ch = &opt->chunks[c];
        cnn_param *p = opt->params[ch->k];
        float *buf = opt->per_param ? opt->states[ch->k].data + ch->off : NULL;
        sgd_chunk(p->value.data + ch->off, p->grad.data + ch->off, buf, ch->len, lr, wd, m, first,
                  nesterov);
    }
}

/* torch.optim.Adam / AdamW on n elements (sqrtf keeps this loop scalar: without
   -fno-math-errno gcc does not vectorise it; the threads still share the chunks). */
INLINE void adam_loop(float *restrict w, const float *restrict gr, float *restrict m,
                      float *restrict v, size_t n, float wd, float b1, float b2, float eps,
                      float step_size, float bc2_sqrt, float decay, bool decoupled, bool has_wd)
{
    for (size_t i = 0; i < n; i++) {
        float gi = gr[i];
        if (decoupled) {
            if (has_wd) w[i] *= decay;
        } else if (has_wd) {
            gi += wd * w[i];
        }
        m[i] = m[i] * b1 + (1.0f - b1) * gi;
        v[i] = v[i] * b2 + (1.0f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] -= step_size * (m[i] / denom);
    }
}

CNN_CLONES static void adam_chunk(float *restrict w, const float *restrict gr, float *restrict m,
                              float *restrict v, size_t n, float wd, float b1, float b2, float eps,
                              float step_size, float bc2_sqrt, float decay, bool decoupled)
{
    if (wd == 0.0f) adam_loop(w, gr, m, v, n, wd, b1, b2, eps, step_size, bc2_sqrt, decay, false, false);
    else if (decoupled)
        adam_loop(w, gr, m, v, n, wd, b1, b2, eps, step_size, bc2_sqrt, decay, true, true);
    else adam_loop(w, gr, m, v, n, wd, b1, b2, eps, step_size, bc2_sqrt, decay, false, true);
}

static void adam_step(cnn_optimizer *opt)
{
    const float lr = opt->o.lr, wd = opt->o.weight_decay;
    const float b1 = opt->o.beta1, b2 = opt->o.beta2, eps = opt->o.eps;
    const bool decoupled = opt->o.kind == CNN_OPTIM_ADAMW;
    /* bias corrections in double, as torch computes them in Python floats */
    double t = (double)opt->steps;
    double bc1 = 1.0 - pow((double)b1, t);
    double bc2 = 1.0 - pow((double)b2, t);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = (float)(1.0 - (double)lr * (double)wd);
#pragma omp parallel for schedule(static) num_threads(cnn_par_threads(opt->numel))
    for (int c = 0; c < opt->n_chunks; c++) {
        const optim_chunk *ch = &opt->chunks[c];
        cnn_param *p = opt->params[ch->k];
        adam_chunk(p->value.data + ch->off, p->grad.data + ch->off,
                   opt->states[2 * ch->k].data + ch->off, opt->states[2 * ch->k + 1].data + ch->off,
                   ch->len, wd, b1, b2, eps, step_size, bc2_sqrt, decay, decoupled);
    }
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
