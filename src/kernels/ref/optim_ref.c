/* Reference optimizer updates (torch.optim's rules, spelled out on cnn_optim_hyper in
   kernels.h): one element at a time, every option tested per element. */
#include <math.h>

#include "ref.h"

void cnn_ref_sgd_step(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h)
{
    for (int s = 0; s < n_seg; s++) {
        float *w = seg[s].w, *buf = seg[s].m;
        const float *gr = seg[s].g;
        for (size_t i = 0; i < seg[s].n; i++) {
            float d = gr[i];
            if (h->wd != 0.0f) d += h->wd * w[i];
            if (buf) {
                float b = h->first ? d : h->momentum * buf[i] + d; /* dampening 0 */
                buf[i] = b;
                d = h->nesterov ? d + h->momentum * b : b;
            }
            w[i] -= h->lr * d;
        }
    }
}

void cnn_ref_adam_step(const cnn_optim_seg *seg, int n_seg, const cnn_optim_hyper *h)
{
    for (int s = 0; s < n_seg; s++) {
        float *w = seg[s].w, *m = seg[s].m, *v = seg[s].v;
        const float *gr = seg[s].g;
        for (size_t i = 0; i < seg[s].n; i++) {
            float gi = gr[i];
            if (h->decoupled) {
                if (h->wd != 0.0f) w[i] *= h->decay;
            } else if (h->wd != 0.0f) {
                gi += h->wd * w[i];
            }
            m[i] = m[i] * h->b1 + (1.0f - h->b1) * gi;
            v[i] = v[i] * h->b2 + (1.0f - h->b2) * gi * gi;
            float denom = sqrtf(v[i]) / h->bc2_sqrt + h->eps;
            w[i] -= h->step_size * (m[i] / denom);
        }
    }
}
