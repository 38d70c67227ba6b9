/* maxpool3d — x: (N, C, D, H, W) -> (N, C, D', H', W'); as torch.nn.MaxPool3d
   (dilation 1): per axis D' = floor((D + 2*pad - k + (ceil ? stride-1 : 0)) / stride)
   + 1, and in ceil mode a last window that starts in the right padding is dropped.
   Padded positions count as -inf. The argmax of each output (d*H*W + h*W + w in its
   input volume, like return_indices=True; ties -> the first max) is saved as int32
   for backward. */
#include "../graph/graph_internal.h"
#include "ops_common.h"
#include "op_describe.h"
#include "spatial.h"

typedef struct maxpool3d_attr {
    int k[3], s[3], p[3]; /* (D, H, W) */
    bool ceil_mode;
} maxpool3d_attr;

static cnn_status maxpool3d_shape(cnn_node *n)
{
    maxpool3d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    CNN_CHECK(cnn_pool_shape(n, 3, a->k, a->s, a->p, NULL, a->ceil_mode));
    if ((int64_t)x->out.dims[2] * x->out.dims[3] * x->out.dims[4] > INT32_MAX)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input volume %s too large for int32 indices",
                              cnn_node_shape_str(x));
    n->saved_bytes = cnn_tensor_numel(&n->out) * sizeof(int32_t);
    return CNN_OK;
}

/* The backend's geometry of this node over the batch being run. */
static cnn_pool_desc pool_desc(const cnn_node *n, const cnn_ctx *ctx)
{
    const maxpool3d_attr *a = n->attr;
    const cnn_node *x = n->in[0];
    cnn_pool_desc d = {.planes = (size_t)ctx->batch * x->out.dims[1], .d = {1, 1, 1}};
    for (int i = 0; i < 3; i++) {
        d.in[i] = x->out.dims[2 + i];
        d.out[i] = n->out.dims[2 + i];
        d.k[i] = a->k[i];
        d.s[i] = a->s[i];
        d.p[i] = a->p[i];
    }
    return d;
}

static cnn_status maxpool3d_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_pool_desc d = pool_desc(n, ctx);
    cnn_backend_get()->maxpool3d_forward(&d, n->in[0]->out.data, n->out.data, n->saved);
    return CNN_OK;
}

static cnn_status maxpool3d_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const cnn_pool_desc d = pool_desc(n, ctx);
    cnn_backend_get()->maxpool_backward(&d, n->grad.data, n->saved, x->grad.data);
    return CNN_OK;
}

static void maxpool3d_describe(const cnn_node *n, cnn_op_desc *d)
{
    const maxpool3d_attr *a = n->attr;
    cnn_desc_ints(d, "kernel", 3, a->k);
    cnn_desc_ints(d, "stride", 3, a->s);
    cnn_desc_ints(d, "padding", 3, a->p);
    cnn_desc_ints(d, "dilation", 3, (const int[]){1, 1, 1});
    cnn_desc_int(d, "ceil_mode", a->ceil_mode);
    cnn_desc_int(d, "exclude_pad", 0);
}

const cnn_op_def cnn_op_maxpool3d = {
    .name = "maxpool3d",
    .shape = maxpool3d_shape,
    .cost = NULL, /* no multiply-adds */
    .forward = maxpool3d_forward,
    .backward = maxpool3d_backward,
    .describe = maxpool3d_describe,
};

cnn_node *cnn_maxpool3d_(cnn_graph *g, cnn_node *x, const cnn_pool3d_opts *o)
{
    int kd = cnn_opt_pick(o->kernel_d, o->kernel, 0), kh = cnn_opt_pick(o->kernel_h, o->kernel, 0),
        kw = cnn_opt_pick(o->kernel_w, o->kernel, 0);
    maxpool3d_attr a = {
        .k = {kd, kh, kw},
        .s = {cnn_opt_pick(o->stride_d, o->stride, kd), cnn_opt_pick(o->stride_h, o->stride, kh),
              cnn_opt_pick(o->stride_w, o->stride, kw)},
        .p = {cnn_opt_pick(o->padding_d, o->padding, 0), cnn_opt_pick(o->padding_h, o->padding, 0),
              cnn_opt_pick(o->padding_w, o->padding, 0)},
        .ceil_mode = o->ceil_mode,
    };
    return cnn_node_make(g, &cnn_op_maxpool3d, o->name, 1, &x, &a, sizeof a);
}
