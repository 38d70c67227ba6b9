/* What the ops over 1-3 spatial axes (convolutions, pools) share: their input check,
   the validation of a window (kernel, stride, dilation, padding) with the messages
   users see, and the (N, C, *spatial) output shape (docs/architecture.md, "Ops"). */
#ifndef CNN_OPS_SPATIAL_H
#define CNN_OPS_SPATIAL_H
#include <stdbool.h>
#include <stddef.h>

#include "../graph/graph_internal.h"

/* "3x3" / "7x3x3" of nd values into buf (16 bytes per value is plenty). */
const char *cnn_dims_str(int nd, const int *v, char *buf, size_t size);
/* The input n->in[0] is (N, C, *nd spatial axes): nd 2 (H, W) or 3 (D, H, W). */
cnn_status cnn_spatial_input_check(cnn_node *n, int nd);
/* kernel and stride >= 1, dilation >= 1 (d NULL: none to check), padding >= 0, each
   nd values; the error names the option and its values ("kernel 0x3 must be >= 1"). */
cnn_status cnn_window_check(cnn_node *n, int nd, const int *k, const int *s, const int *d,
                            const int *p);
/* n's output (N, c, o[0..nd)) with N the input's. */
void cnn_spatial_set_out(cnn_node *n, int c, int nd, const int *o);
#endif
