/* Helpers for the ops' describe() hooks: append named integer or float lists to a
   cnn_op_desc (keys are static strings; see docs/architecture.md, "Operators"). */
#ifndef CNN_OP_DESCRIBE_H
#define CNN_OP_DESCRIBE_H
#include <string.h>

#include "../graph/graph_internal.h"

/* The next attribute of d with its key, kind and count set; NULL when d is full (the
   limits are far above what any op lists: the helpers below then add nothing). */
static inline cnn_desc_attr *cnn_desc_next(cnn_op_desc *d, const char *key, bool is_float, int n)
{
    if (d->n_attrs >= CNN_DESC_MAX_ATTRS) return NULL;
    cnn_desc_attr *a = &d->attrs[d->n_attrs++];
    a->key = key;
    a->is_float = is_float;
    a->n = n;
    return a;
}
/* Appends key = v[0..n) (ints; nothing for n outside 0..CNN_DESC_MAX_VALUES). */
static inline void cnn_desc_ints(cnn_op_desc *d, const char *key, int n, const int *v)
{
    if (n < 0 || n > CNN_DESC_MAX_VALUES) return;
    cnn_desc_attr *a = cnn_desc_next(d, key, false, n);
    for (int i = 0; a && i < n; i++) a->i[i] = v[i];
}
static inline void cnn_desc_int(cnn_op_desc *d, const char *key, int64_t v)
{
    cnn_desc_attr *a = cnn_desc_next(d, key, false, 1);
    if (a) a->i[0] = v;
}
static inline void cnn_desc_float(cnn_op_desc *d, const char *key, float v)
{
    cnn_desc_attr *a = cnn_desc_next(d, key, true, 1);
    if (a) a->f[0] = v;
}
/* The describe() hook fn of an op whose attributes are an A: the statements given append
   them, reading a (n->attr as an A) into d:
     CNN_OP_DESCRIBE(dropout_describe, dropout_attr, cnn_desc_float(d, "p", a->p)); */
#define CNN_OP_DESCRIBE(fn, A, ...)                                                         \
    static void fn(const cnn_node *n, cnn_op_desc *d)                                       \
    {                                                                                       \
        const A *a = n->attr;                                                               \
        __VA_ARGS__;                                                                        \
    }
/* The kernel_name hook (profiles) of an op whose forward is the table's gemm (linear,
   matmul): the backend providing that entry. */
static inline const char *cnn_gemm_kernel_name(const cnn_node *n, int batch, char *buf, size_t size)
{
    (void)n, (void)batch, (void)buf, (void)size;
    return cnn_backend_provider(gemm);
}
#endif
