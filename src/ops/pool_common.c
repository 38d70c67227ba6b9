/* Shared by the pooling ops: see pool_common.h. */
#include "pool_common.h"

#include "ops_common.h"
#include "spatial.h"

cnn_pool_win cnn_pool2d_win(const cnn_pool2d_opts *o)
{
    int kh = cnn_opt_pick(o->kernel_h, o->kernel, 0), kw = cnn_opt_pick(o->kernel_w, o->kernel, 0);
    int d = o->dilation ? o->dilation : 1;
    return (cnn_pool_win){
        .nd = 2,
        .k = {kh, kw},
        .s = {cnn_opt_pick(o->stride_h, o->stride, kh), cnn_opt_pick(o->stride_w, o->stride, kw)},
        .p = {cnn_opt_pick(o->padding_h, o->padding, 0), cnn_opt_pick(o->padding_w, o->padding, 0)},
        .d = {d, d},
        .ceil_mode = o->ceil_mode,
    };
}

cnn_pool_win cnn_pool3d_win(const cnn_pool3d_opts *o)
{
    int kd = cnn_opt_pick(o->kernel_d, o->kernel, 0), kh = cnn_opt_pick(o->kernel_h, o->kernel, 0),
        kw = cnn_opt_pick(o->kernel_w, o->kernel, 0);
    return (cnn_pool_win){
        .nd = 3,
        .k = {kd, kh, kw},
        .s = {cnn_opt_pick(o->stride_d, o->stride, kd), cnn_opt_pick(o->stride_h, o->stride, kh),
              cnn_opt_pick(o->stride_w, o->stride, kw)},
        .p = {cnn_opt_pick(o->padding_d, o->padding, 0), cnn_opt_pick(o->padding_h, o->padding, 0),
              cnn_opt_pick(o->padding_w, o->padding, 0)},
        .d = {1, 1, 1},
        .ceil_mode = o->ceil_mode,
    };
}

cnn_status cnn_pool_shape(cnn_node *n, const cnn_pool_win *w, bool name_dilation)
{
    const cnn_node *x = n->in[0];
    const int nd = w->nd, *k = w->k, *p = w->p;
    char bk[48], bp[48], bd[48], bo[48];
    CNN_CHECK(cnn_spatial_input_check(n, nd));
    CNN_CHECK(cnn_window_check(n, nd, k, w->s, name_dilation ? w->d : NULL, p));
    for (int i = 0; i < nd; i++)
        if (p[i] > k[i] / 2)
            return cnn_node_error(n, CNN_ERR_INVALID_ARG,
                                  "padding %s must be at most half the kernel %s",
                                  cnn_dims_str(nd, p, bp, sizeof bp),
                                  cnn_dims_str(nd, k, bk, sizeof bk));
    int o[3];
    bool fits = true;
    for (int i = 0; i < nd; i++) {
        o[i] = cnn_pool_out_size(x->out.dims[2 + i], k[i], w->s[i], p[i], w->d[i], w->ceil_mode);
        fits = fits && o[i] >= 1;
    }
    if (!fits) {
        cnn_dims_str(nd, o, bo, sizeof bo);
        cnn_dims_str(nd, k, bk, sizeof bk);
        cnn_dims_str(nd, p, bp, sizeof bp);
        const char *least = nd == 3 ? "1x1x1" : "1x1";
        if (name_dilation)
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "output %s is smaller than %s: kernel %s (dilation %s, padding "
                                  "%s) does not fit the input %s",
                                  bo, least, bk, cnn_dims_str(nd, w->d, bd, sizeof bd), bp,
                                  cnn_node_shape_str(x));
        return cnn_node_error(n, CNN_ERR_SHAPE,
                              "output %s is smaller than %s: kernel %s (padding %s) does not fit "
                              "the input %s",
                              bo, least, bk, bp, cnn_node_shape_str(x));
    }
    cnn_spatial_set_out(n, x->out.dims[1], nd, o);
    return CNN_OK;
}

void cnn_pool_describe(const cnn_pool_win *w, cnn_op_desc *d)
{
    cnn_desc_ints(d, "kernel", w->nd, w->k);
    cnn_desc_ints(d, "stride", w->nd, w->s);
    cnn_desc_ints(d, "padding", w->nd, w->p);
    cnn_desc_ints(d, "dilation", w->nd, w->d);
    cnn_desc_int(d, "ceil_mode", w->ceil_mode);
}

cnn_pool_desc cnn_pool_desc_of(const cnn_node *n, const cnn_ctx *ctx, const cnn_pool_win *w)
{
    if (w->nd == 2) return cnn_pool2d_desc(n, ctx, w->k, w->s, w->p, w->d);
    const cnn_node *x = n->in[0];
    cnn_pool_desc d = {.planes = (size_t)ctx->batch * x->out.dims[1]};
    for (int i = 0; i < 3; i++) {
        d.in[i] = x->out.dims[2 + i];
        d.out[i] = n->out.dims[2 + i];
        d.k[i] = w->k[i];
        d.s[i] = w->s[i];
        d.p[i] = w->p[i];
        d.d[i] = w->d[i];
    }
    return d;
}

cnn_status cnn_maxpool_shape(cnn_node *n, bool name_dilation)
{
    const cnn_pool_win *w = n->attr;
    const cnn_node *x = n->in[0];
    CNN_CHECK(cnn_pool_shape(n, w, name_dilation));
    int64_t in = 1;
    for (int i = 0; i < w->nd; i++) in *= x->out.dims[2 + i];
    if (in > INT32_MAX)
        return cnn_node_error(n, CNN_ERR_SHAPE, "input %s %s too large for int32 indices",
                              w->nd == 3 ? "volume" : "plane", cnn_node_shape_str(x));
    n->saved_bytes = cnn_tensor_numel(&n->out) * sizeof(int32_t);
    return CNN_OK;
}

void cnn_maxpool_describe(const cnn_node *n, cnn_op_desc *d)
{
    cnn_pool_describe(n->attr, d);
    cnn_desc_int(d, "exclude_pad", 0);
}

cnn_status cnn_maxpool_backward(cnn_node *n, const cnn_ctx *ctx)
{
    cnn_node *x = n->in[0];
    if (!x->grad.data) return CNN_OK;
    const cnn_pool_desc d = cnn_pool_desc_of(n, ctx, n->attr);
    cnn_backend_get()->maxpool_backward(&d, n->grad.data, n->saved, x->grad.data);
    return CNN_OK;
}
