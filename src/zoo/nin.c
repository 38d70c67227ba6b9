/* Network in Network as in d2l (7.3): four NiN blocks (a conv and two 1x1 convs, each
   followed by ReLU) with 3x3/2 max pooling between them, dropout 0.5, the last block
   producing one channel per class, global average pooling. 1x224x224, 10 classes.
   An nn.Sequential of nn.Sequential blocks: keys are "<block>.<layer>", blocks at
   indices 0, 2, 4, 7 and their convs at 0, 2, 4 ("7.4.weight"). */
#include "zoo.h"

/* One NiN block at Sequential index idx: conv k/s/p, then two 1x1 convs, all ReLU. */
static cnn_node *nin_block(cnn_graph *g, cnn_node *x, int idx, int out, int k, int s, int p)
{
    cnn_scope_pushf(g, "%d", idx);
    x = cnn_relu(g, cnn_conv2d(g, x, out, .kernel = k, .stride = s, .padding = p, .name = "0"));
    x = cnn_relu(g, cnn_conv2d(g, x, out, .kernel = 1, .name = "2"));
    x = cnn_relu(g, cnn_conv2d(g, x, out, .kernel = 1, .name = "4"));
    cnn_scope_pop(g);
    return x;
}

static cnn_node *build_nin(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_check_keys(g, "nin", a, NULL) || !cnn_zoo_no_width(g, "nin", a)) return NULL;
    x = nin_block(g, x, 0, 96, 11, 4, 0);
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .name = "1");
    x = nin_block(g, x, 2, 256, 5, 1, 2);
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .name = "3");
    x = nin_block(g, x, 4, 384, 3, 1, 1);
    x = cnn_maxpool2d(g, x, .kernel = 3, .stride = 2, .name = "5");
    x = cnn_dropout(g, x, 0.5f, .name = "6");
    x = nin_block(g, x, 7, a->classes, 3, 1, 1);
    return cnn_flatten(g, cnn_global_avgpool(g, x));
}

const cnn_zoo_entry cnn_zoo_nin[] = {
    {{"nin", "Network in Network as in d2l: NiN blocks, global average pooling", 1, 0, 224, 224,
      10},
     build_nin, NULL},
    {{0}, 0, NULL},
};
