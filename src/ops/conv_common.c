/* Shared by the convolution ops: see conv_common.h. The output size is PyTorch's:
   out = floor((in + 2*pad - dil*(k-1) - 1) / stride) + 1 per axis. */
#include <math.h>

#include "conv_common.h"
#include "op_describe.h"

cnn_status cnn_conv_check(cnn_node *n, const cnn_conv_geom *c, int c_in)
{
    if (c->out < 1) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "out_channels %d must be >= 1", c->out);
    CNN_CHECK(cnn_window_check(n, c->nd, c->k, c->s, c->d, c->p));
    if (c->groups < 1) return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d must be >= 1", c->groups);
    if (c_in % c->groups)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d does not divide %d input channels",
                              c->groups, c_in);
    if (c->out % c->groups)
        return cnn_node_error(n, CNN_ERR_INVALID_ARG, "groups %d does not divide %d output channels",
                              c->groups, c->out);
    return CNN_OK;
}

cnn_status cnn_conv_shape(cnn_node *n)
{
    cnn_conv_geom *c = n->attr;
    const cnn_node *x = n->in[0];
    int nd = c->nd;
    CNN_CHECK(cnn_spatial_input_check(n, nd));
    int c_in = x->out.dims[1];
    const int *in = &x->out.dims[2];
    CNN_CHECK(cnn_conv_check(n, c, c_in));
    int o[3];
    for (int i = 0; i < nd; i++) {
        int span = c->d[i] * (c->k[i] - 1) + 1; /* extent of the dilated kernel */
        if (in[i] + 2 * c->p[i] < span) {
            char bk[48], bd[48];
            return cnn_node_error(n, CNN_ERR_SHAPE,
                                  "kernel %s (dilation %s) is larger than the padded input %s",
                                  cnn_dims_str(nd, c->k, bk, sizeof bk),
                                  cnn_dims_str(nd, c->d, bd, sizeof bd), cnn_node_shape_str(x));
        }
        o[i] = (in[i] + 2 * c->p[i] - span) / c->s[i] + 1;
    }
    cnn_spatial_set_out(n, c->out, nd, o);

    int cg = c_in / c->groups, fan_in = cg;
    int wd[5] = {c->out, cg};
    for (int i = 0; i < nd; i++) {
        fan_in *= c->k[i];
        wd[2 + i] = c->k[i];
    }
    float bound = 1.0f / sqrtf((float)fan_in); /* kaiming_uniform(a=sqrt(5)) */
    if (!cnn_node_param(n, "weight", nd + 2, wd, CNN_PARAM_WEIGHT, 1, bound)) return CNN_ERR_INVALID_ARG;
    if (c->bias && !cnn_node_param(n, "bias", 1, &c->out, CNN_PARAM_BIAS, 1, bound))
        return CNN_ERR_INVALID_ARG;

    /* the kernel descriptor is always 3-D: leading axes of a 2-D conv are size 1 */
    cnn_conv_desc d = {.n = x->out.dims[0], .c_in = c_in, .c_out = c->out, .groups = c->groups};
    for (int i = 0; i < 3; i++) {
        int j = i - (3 - nd); /* index into the op's axes, < 0 for padding axes */
        d.in[i] = j < 0 ? 1 : in[j];
        d.out[i] = j < 0 ? 1 : o[j];
        d.k[i] = j < 0 ? 1 : c->k[j];
        d.s[i] = j < 0 ? 1 : c->s[j];
        d.p[i] = j < 0 ? 0 : c->p[j];
        d.d[i] = j < 0 ? 1 : c->d[j];
    }
    c->desc = d;
    n->scratch_bytes = cnn_conv_scratch_bytes(&c->desc);
    n->scratch_eval_bytes = cnn_conv_scratch_forward_bytes(&c->desc);
    return CNN_OK;
}

/* output elements * (C_in/groups * prod(k)) */
int64_t cnn_conv_cost(const cnn_node *n)
{
    const cnn_conv_geom *c = n->attr;
    int64_t per_out = c->desc.c_in / c->groups;
    for (int i = 0; i < c->nd; i++) per_out *= c->k[i];
    int64_t outs = c->out;
    for (int i = 0; i < c->nd; i++) outs *= n->out.dims[2 + i];
    return per_out * outs;
}

cnn_status cnn_conv_forward(cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_conv_geom *c = n->attr;
    cnn_conv_desc d = c->desc;
    d.n = ctx->batch;
    if (ctx->layout && (n->layout || n->in[0]->layout)) /* layout.c */
        return ctx->layout_conv(n, ctx, &d, c->bias ? n->params[1]->value.data : NULL);
    ctx->be->conv_forward(&d, n->in[0]->out.data, n->params[0]->value.data,
                          c->bias ? n->params[1]->value.data : NULL, n->out.data, ctx->scratch);
    /* a fused chain after the conv (docs/architecture.md, "Fusion") */
    if (ctx->epi) ctx->be->epilogue(ctx->epi, n->out.data);
    return CNN_OK;
}

cnn_status cnn_conv_backward(cnn_node *n, const cnn_ctx *ctx)
{
    const cnn_conv_geom *c = n->attr;
    cnn_conv_desc d = c->desc;
    d.n = ctx->batch;
    cnn_node *x = n->in[0];
    ctx->be->conv_backward_weights(&d, x->out.data, n->grad.data, n->params[0]->grad.data,
                                   c->bias ? n->params[1]->grad.data : NULL, ctx->scratch);
    if (x->grad.data)
        ctx->be->conv_backward_data(&d, n->grad.data, n->params[0]->value.data, x->grad.data,
                                    ctx->scratch);
    return CNN_OK;
}

void cnn_conv_int8(const cnn_node *n, cnn_conv_desc *d)
{
    *d = ((const cnn_conv_geom *)n->attr)->desc;
}

void cnn_conv_describe(const cnn_node *n, cnn_op_desc *d)
{
    const cnn_conv_geom *c = n->attr;
    cnn_desc_int(d, "out_channels", c->out);
    cnn_desc_ints(d, "kernel", c->nd, c->k);
    cnn_desc_ints(d, "stride", c->nd, c->s);
    cnn_desc_ints(d, "padding", c->nd, c->p);
    cnn_desc_ints(d, "dilation", c->nd, c->d);
    cnn_desc_int(d, "groups", c->groups);
    cnn_desc_int(d, "bias", c->bias);
}

const char *cnn_conv_kernel_name(const cnn_node *n, int batch, char *buf, size_t size)
{
    cnn_conv_desc d;
    cnn_conv_int8(n, &d);
    d.n = batch;
    if (n->gate && cnn_conv_blocked_gate_use(&d)) /* reads an SE gate's input, scaled (layout.c) */
        snprintf(buf, size, "cpu pw+gate 16c>16c");
    else if (n->layout || n->in[0]->layout) /* blocked input and/or output: no reorder there */
        snprintf(buf, size, "%s %s>%s", cnn_conv_blocked_kernel_io(&d, n->in[0]->layout, n->layout, n->g->wgen),
                 n->in[0]->layout ? "16c" : "nchw", n->layout ? "16c" : "nchw");
    else
        snprintf(buf, size, "%s", cnn_backend_conv_kernel(&d));
    return buf;
}
