/* The data of an optimizer update (docs/architecture.md, "Kernels"): what the trainer
   (train/optim.c, through graph/graph_api.h) hands the backend table's sgd_step /
   adam_step entries. In the bottom layer because both ends use it. */
#ifndef CNN_OPTIM_SEG_H
#define CNN_OPTIM_SEG_H
#include <stdbool.h>
#include <stddef.h>

/* One contiguous piece of a parameter for the optimizer entries: value w, gradient g,
   state m (momentum buffer / exp_avg; NULL for plain SGD) and v (exp_avg_sq). */
typedef struct cnn_optim_seg {
    float *w;
    const float *g;
    float *m, *v;
    size_t n;
} cnn_optim_seg;

/* One step's hyper-parameters. SGD: d = g + wd w; b = first ? d : momentum b + d;
   d = nesterov ? d + momentum b : b; w -= lr d. Adam: g += wd w (AdamW instead
   w *= decay); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   w -= step_size * m / (sqrt(v) / bc2_sqrt + eps). */
typedef struct cnn_optim_hyper {
    float lr, wd, momentum;
    bool first, nesterov;
    float b1, b2, eps, step_size, bc2_sqrt, decay;
    bool decoupled;
} cnn_optim_hyper;
#endif
