/* Shared by the op files: see ops_common.h. */
#include <stdio.h>
#include <string.h>

#include "ops_common.h"

const char *cnn_kind_name(const cnn_graph *g, const cnn_op_def *op, const char *kind,
                          const void *attr, size_t key_offset, size_t key_size, char *buf,
                          size_t size)
{
    if (!g || !kind) return kind;
    const char *key = (const char *)attr + key_offset;
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == op &&
            memcmp((const char *)g->nodes[i]->attr + key_offset, key, key_size) == 0)
            k++;
    size_t kl = strlen(kind);
    bool digit = kl && kind[kl - 1] >= '0' && kind[kl - 1] <= '9';
    snprintf(buf, size, "%s%s%d", kind, digit ? "_" : "", k);
    return buf;
}
