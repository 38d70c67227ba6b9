/* LeNet family: the seeds' small MNIST-style models.
     lenet       d2l's LeNet-5 (sigmoid, average pooling), 1x28x28; an nn.Sequential,
                 so keys are its indices: 0 (conv), 3 (conv), 7, 9, 11 (linear).
     lenet_relu  the notes' numberModel (seed 003): ReLU, max pooling, 1x32x32;
                 keys C1.0, C3.0, FC1.0, FC2.0, out.0.
     mynet       seed 003's MyNet: conv 32/128/512 3x3 (no padding) + ReLU, fc; 1x32x32.
   The seeds end lenet_relu and mynet with nn.Softmax; the zoo returns logits (train
   with cross-entropy), and the family option softmax=1 appends the seed's softmax. */
#include "zoo.h"

static const char *const softmax_keys[] = {"softmax", NULL};

static cnn_node *seed_softmax(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    int s = cnn_zoo_opt_int(a, "softmax", 0);
    if (s != 0 && s != 1)
        return cnn_zoo_fail(g, CNN_ERR_INVALID_ARG, "option softmax=%d: expected 0 or 1", s);
    return s ? cnn_softmax(g, x) : x;
}

static cnn_node *build_lenet(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_check_keys(g, "lenet", a, NULL) || !cnn_zoo_no_width(g, "lenet", a)) return NULL;
    x = cnn_sigmoid(g, cnn_conv2d(g, x, 6, .kernel = 5, .padding = 2, .name = "0"));
    x = cnn_avgpool2d(g, x, .kernel = 2, .stride = 2, .name = "2");
    x = cnn_sigmoid(g, cnn_conv2d(g, x, 16, .kernel = 5, .name = "3"));
    x = cnn_avgpool2d(g, x, .kernel = 2, .stride = 2, .name = "5");
    x = cnn_flatten(g, x);
    x = cnn_sigmoid(g, cnn_linear(g, x, 120, .name = "7"));
    x = cnn_sigmoid(g, cnn_linear(g, x, 84, .name = "9"));
    return cnn_linear(g, x, a->classes, .name = "11");
}

static cnn_node *build_lenet_relu(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_check_keys(g, "lenet_relu", a, softmax_keys) || !cnn_zoo_no_width(g, "lenet_relu", a))
        return NULL;
    x = cnn_relu(g, cnn_conv2d(g, x, 6, .kernel = 5, .name = "C1.0"));
    x = cnn_maxpool2d(g, x, .kernel = 2, .stride = 2, .name = "S2");
    x = cnn_relu(g, cnn_conv2d(g, x, 16, .kernel = 5, .name = "C3.0"));
    x = cnn_maxpool2d(g, x, .kernel = 2, .stride = 2, .name = "S2");
    x = cnn_flatten(g, x);
    x = cnn_relu(g, cnn_linear(g, x, 120, .name = "FC1.0"));
    x = cnn_relu(g, cnn_linear(g, x, 84, .name = "FC2.0"));
    x = cnn_linear(g, x, a->classes, .name = "out.0");
    return x ? seed_softmax(g, x, a) : NULL;
}

static cnn_node *build_mynet(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a)
{
    if (!cnn_zoo_check_keys(g, "mynet", a, softmax_keys) || !cnn_zoo_no_width(g, "mynet", a))
        return NULL;
    x = cnn_relu(g, cnn_conv2d(g, x, 32, .kernel = 3, .name = "conv1"));
    x = cnn_relu(g, cnn_conv2d(g, x, 128, .kernel = 3, .name = "conv2"));
    x = cnn_relu(g, cnn_conv2d(g, x, 512, .kernel = 3, .name = "conv3"));
    x = cnn_linear(g, cnn_flatten(g, x), a->classes, .name = "fc");
    return x ? seed_softmax(g, x, a) : NULL;
}

const cnn_zoo_entry cnn_zoo_lenet[] = {
    {{"lenet", "LeNet-5 as in d2l: sigmoid, average pooling (Sequential keys)", 1, 0, 28, 28, 10},
     build_lenet, NULL},
    {{"lenet_relu", "LeNet-5 with ReLU and max pooling (the notes' numberModel)", 1, 0, 32, 32, 10},
     build_lenet_relu, NULL},
    {{"mynet", "three 3x3 convs (32, 128, 512) and a linear classifier (seed MyNet)", 1, 0, 32, 32,
      10},
     build_mynet, NULL},
    {{0}, 0, NULL},
};
