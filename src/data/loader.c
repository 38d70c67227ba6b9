/* The batch loader: one background thread prepares batch i+1 while the caller uses
   batch i (two slots). Everything is allocated in cnn_loader_new; the epoch order is
   a function of (seed, epoch) and each example's augmentation of (seed, epoch,
   example index), so results do not depend on timing or on where training resumed. */
#include <pthread.h>
#include <string.h>

#include "data_internal.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD };

struct cnn_loader {
    const cnn_dataset *ds;
    cnn_xform xf;
    int batch, num_batches;
    int shard, shards;       /* this loader yields shard `shard` of `shards` of every batch */
    bool shuffle, augment;
    uint64_t seed;
    size_t ex_out;           /* floats per transformed example */
    int *perm;               /* this epoch's order of example indices */
    float *scratch;          /* worker's transform space */
    float *x[2], *y[2];      /* slots: batch*ex_out inputs, batch labels */
    int slot_state[2], slot_n[2];
    /* shared state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool thread_started, stop, active, busy;
    int epoch;
    int produce;             /* next batch the worker prepares */
    int consume;             /* next batch handed to the caller */
    int held;                /* slot the caller holds, -1 if none */
};

/* splitmix64's finaliser: a good 64-bit mixer for deriving independent seeds. */
static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t shuffle_seed(uint64_t seed, int epoch)
{
    return mix64(mix64(seed ^ 0x53485546464c45ULL) ^ (uint64_t)(uint32_t)epoch);
}

static uint64_t augment_seed(uint64_t seed, int epoch, int index)
{
    return mix64(mix64(mix64(seed ^ 0x4155474d454e54ULL) ^ (uint64_t)(uint32_t)epoch) ^
                 (uint64_t)(uint32_t)index);
}

/* Batch b of the current epoch into slot s; runs without the lock. */
static void fill_slot(cnn_loader *l, int s, int b)
{
    int start = b * l->batch, n = CNN_MIN(l->batch, l->ds->n - start), lo = 0;
    if (l->shards > 1) { /* a rank's contiguous part of the global batch */
        int hi;
        cnn_shard_range(n, l->shards, l->shard, &lo, &hi);
        start += lo;
        n = hi - lo;
    }
    for (int k = 0; k < n; k++) {
        int idx = l->perm[start + k];
        cnn_rng rng = {{0}};
        if (l->augment) cnn_rng_seed(&rng, augment_seed(l->seed, l->epoch, idx));
        cnn_xform_apply(&l->xf, l->ds, idx, l->augment, &rng, l->scratch,
                        l->x[s] + (size_t)k * l->ex_out);
        l->y[s][k] = (float)l->ds->labels[idx];
    }
    l->slot_n[s] = n;
}

static void *worker(void *arg)
{
    cnn_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !(l->active && l->produce < l->num_batches &&
                             l->slot_state[l->produce % 2] == SLOT_FREE))
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop) break;
        int b = l->produce++, s = b % 2;
        l->slot_state[s] = SLOT_FILLING;
        l->busy = true;
        pthread_mutex_unlock(&l->mu);
        fill_slot(l, s, b);
        pthread_mutex_lock(&l->mu);
        l->slot_state[s] = SLOT_READY;
        l->busy = false;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

cnn_status cnn_loader_new(const cnn_dataset *d, int batch, bool shuffle, bool augment,
                          const cnn_transform *t, uint64_t seed, cnn_loader **out)
{
    if (!out) return cnn_set_error(CNN_ERR_INVALID_ARG, "loader: NULL output");
    *out = NULL;
    if (batch <= 0) return cnn_set_error(CNN_ERR_INVALID_ARG, "loader: batch %d must be positive", batch);
    cnn_xform xf;
    CNN_CHECK(cnn_xform_init(&xf, d, t));
    cnn_loader *l = cnn_calloc(1, sizeof *l);
    if (!l) return cnn_set_error(CNN_ERR_NOMEM, "loader: out of memory");
    if (pthread_mutex_init(&l->mu, NULL) != 0) {
        cnn_free(l);
        return cnn_set_error(CNN_ERR_NOMEM, "loader: cannot create a mutex");
    }
    if (pthread_cond_init(&l->cv, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        cnn_free(l);
        return cnn_set_error(CNN_ERR_NOMEM, "loader: cannot create a condition variable");
    }
    l->ds = d;
    l->xf = xf;
    l->batch = batch;
    l->num_batches = (int)(((int64_t)d->n + batch - 1) / batch);
    l->shuffle = shuffle;
    l->augment = augment;
    l->seed = seed;
    l->ex_out = (size_t)xf.c * (size_t)(xf.d > 0 ? xf.d : 1) * (size_t)xf.oh * xf.ow;
    l->held = -1;
    l->shards = 1;
    l->perm = cnn_malloc((size_t)d->n * sizeof *l->perm);
    l->scratch = cnn_malloc(cnn_xform_scratch(&xf) * sizeof *l->scratch);
    for (int s = 0; s < 2; s++) {
        l->x[s] = cnn_malloc_aligned((size_t)batch * l->ex_out * sizeof(float));
        l->y[s] = cnn_malloc((size_t)batch * sizeof(float));
    }
    if (!l->perm || !l->scratch || !l->x[0] || !l->x[1] || !l->y[0] || !l->y[1]) {
        size_t ex = l->ex_out;
        cnn_loader_free(l);
        return cnn_set_error(CNN_ERR_NOMEM, "loader: out of memory (batch %d of %zu floats)", batch, ex);
    }
    if (pthread_create(&l->thread, NULL, worker, l) != 0) {
        cnn_loader_free(l);
        return cnn_set_error(CNN_ERR_NOMEM, "loader: cannot start the background thread");
    }
    l->thread_started = true;
    *out = l;
    return CNN_OK;
}

void cnn_loader_free(cnn_loader *l)
{
    if (!l) return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    cnn_free(l->perm);
    cnn_free(l->scratch);
    for (int s = 0; s < 2; s++) {
        cnn_free_aligned(l->x[s]);
        cnn_free(l->y[s]);
    }
    cnn_free(l);
}

void cnn_loader_shape(const cnn_loader *l, int *c, int *d, int *h, int *w)
{
    if (c) *c = l->xf.c;
    if (d) *d = l->xf.d;
    if (h) *h = l->xf.oh;
    if (w) *w = l->xf.ow;
}

int cnn_loader_num_batches(const cnn_loader *l) { return l->num_batches; }

cnn_status cnn_loader_set_shard(cnn_loader *l, int shard, int shards)
{
    if (!l) return cnn_set_error(CNN_ERR_INVALID_ARG, "loader: NULL");
    if (shards < 1 || shard < 0 || shard >= shards)
        return cnn_set_error(CNN_ERR_INVALID_ARG, "loader: shard %d of %d is out of range", shard, shards);
    pthread_mutex_lock(&l->mu);
    l->active = false; /* takes effect at the next cnn_loader_start_epoch */
    while (l->busy) pthread_cond_wait(&l->cv, &l->mu);
    l->shard = shard;
    l->shards = shards;
    pthread_mutex_unlock(&l->mu);
    return CNN_OK;
}

cnn_status cnn_loader_start_epoch(cnn_loader *l, int epoch)
{
    if (!l) return cnn_set_error(CNN_ERR_INVALID_ARG, "loader: NULL");
    if (epoch < 0) return cnn_set_error(CNN_ERR_INVALID_ARG, "loader: epoch %d is negative", epoch);
    pthread_mutex_lock(&l->mu);
    l->active = false;
    while (l->busy) pthread_cond_wait(&l->cv, &l->mu);
    /* The worker is idle and will not start a batch until active is set again. */
    int n = l->ds->n;
    for (int i = 0; i < n; i++) l->perm[i] = i;
    if (l->shuffle) {
        cnn_rng rng;
        cnn_rng_seed(&rng, shuffle_seed(l->seed, epoch));
        for (int i = n - 1; i > 0; i--) {
            int j = (int)cnn_rng_below(&rng, (uint32_t)i + 1);
            int t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->epoch = epoch;
    l->produce = l->consume = 0;
    l->held = -1;
    l->slot_state[0] = l->slot_state[1] = SLOT_FREE;
    l->active = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return CNN_OK;
}

cnn_status cnn_loader_next(cnn_loader *l, const float **x, const float **y, int *n)
{
    if (!l || !x || !y || !n) return cnn_set_error(CNN_ERR_INVALID_ARG, "loader_next: NULL argument");
    *x = *y = NULL;
    *n = 0;
    pthread_mutex_lock(&l->mu);
    if (!l->active) {
        pthread_mutex_unlock(&l->mu);
        return cnn_set_error(CNN_ERR_STATE, "loader: cnn_loader_start_epoch was not called");
    }
    if (l->held >= 0) { /* the caller is done with the previous batch */
        l->slot_state[l->held] = SLOT_FREE;
        l->held = -1;
        pthread_cond_broadcast(&l->cv);
    }
    if (l->consume < l->num_batches) {
        int s = l->consume % 2;
        while (l->slot_state[s] != SLOT_READY) pthread_cond_wait(&l->cv, &l->mu);
        l->slot_state[s] = SLOT_HELD;
        l->held = s;
        l->consume++;
        *x = l->x[s];
        *y = l->y[s];
        *n = l->slot_n[s];
    }
    pthread_mutex_unlock(&l->mu);
    return CNN_OK;
}
