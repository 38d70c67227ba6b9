/* Internal model-zoo interface: each family file (one family per file) exports a
   table of entries terminated by {0}; registry.c lists the tables. */
#ifndef CNN_ZOO_H
#define CNN_ZOO_H
#include "cnn.h"

/* Resolved options a builder receives: defaults filled in from the entry. */
typedef struct cnn_zoo_args {
    int batch, channels, depth, height, width, classes;
    float width_mult;
    const char *set; /* raw "key=value,..." */
    char *opt_error; /* cnn_zoo_opt_*: first malformed value (registry fails the build) */
    const char *model;   /* the entry's name */
    const void *variant; /* the entry's variant (cnn_zoo_entry) */
} cnn_zoo_args;

/* Builds the model from x (the input node) and returns the logits node (NULL with
   the graph's error set on failure). */
typedef cnn_node *(*cnn_zoo_build_fn)(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a);

/* One builder may serve several entries of a family: each entry's variant (its
   configuration, NULL if none) reaches it as a->variant, its name as a->model. */
typedef struct cnn_zoo_entry {
    cnn_model_info info;
    cnn_zoo_build_fn build;
    const void *variant;
} cnn_zoo_entry;

/* Family option lookup from a->set: returns the integer/float value of key, or dflt.
   Unknown keys are reported by cnn_zoo_check_keys; a value that is not a whole
   integer in int range (or a finite number) is recorded in a->opt_error and the
   registry fails the build with CNN_ERR_INVALID_ARG naming it. */
int cnn_zoo_opt_int(const cnn_zoo_args *a, const char *key, int dflt);
float cnn_zoo_opt_float(const cnn_zoo_args *a, const char *key, float dflt);
/* Fails the graph (CNN_ERR_INVALID_ARG naming the key) if a->set has a key not in the
   NULL-terminated list. Returns false on failure. */
bool cnn_zoo_check_keys(cnn_graph *g, const char *model, const cnn_zoo_args *a,
                        const char *const *keys);
/* Fails the graph (CNN_ERR_INVALID_ARG) when a width multiplier other than 1 was
   given to a model that has none. Returns false on failure. */
bool cnn_zoo_no_width(cnn_graph *g, const char *model, const cnn_zoo_args *a);
/* Records an error in the graph (like a failed builder call) and returns NULL. */
cnn_node *cnn_zoo_fail(cnn_graph *g, cnn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A model with neither family options nor a width multiplier: both checks above. */
bool cnn_zoo_plain_options(cnn_graph *g, const cnn_zoo_args *a, const char *model);
/* torchvision's _make_divisible(v, divisor, min_value=None). */
int cnn_zoo_make_divisible(float v, int divisor);

/* torchvision's ResNet (src/zoo/resnet.c), shared by the SE and CBAM families:
   layers[4] blocks per stage, BasicBlock or Bottleneck; attend (may be NULL) is
   applied to each block's residual branch after its last BN, inside the block's
   scope, before the add. name is the model's name for error messages. */
typedef cnn_node *(*cnn_zoo_attend_fn)(cnn_graph *g, cnn_node *x, int channels);
cnn_node *cnn_zoo_resnet_body(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a, const char *name,
                              const int layers[4], bool bottleneck, cnn_zoo_attend_fn attend);
/* The variant of a torchvision ResNet entry (resnet, senet, cbam) and its builder,
   cnn_zoo_resnet_body with the entry's name. */
typedef struct cnn_zoo_resnet_variant {
    int layers[4];
    bool bottleneck;
    cnn_zoo_attend_fn attend; /* NULL: none */
} cnn_zoo_resnet_variant;
cnn_node *cnn_zoo_resnet_tv(cnn_graph *g, cnn_node *x, const cnn_zoo_args *a);
/* The entry of a torchvision ResNet variant at ImageNet's input (3x224x224, 1000
   classes): depth 18, 34, 50, 101 or 152 (its blocks per stage and block kind below),
   attention attend (may be NULL). */
#define CNN_ZOO_RESNET_ENTRY(name, desc, depth, attend)                                     \
    {{name, desc, 3, 0, 224, 224, 1000},                                                    \
     cnn_zoo_resnet_tv,                                                                     \
     &(const cnn_zoo_resnet_variant){CNN_ZOO_RESNET_##depth, attend}}
#define CNN_ZOO_RESNET_18 {2, 2, 2, 2}, false
#define CNN_ZOO_RESNET_34 {3, 4, 6, 3}, false
#define CNN_ZOO_RESNET_50 {3, 4, 6, 3}, true
#define CNN_ZOO_RESNET_101 {3, 4, 23, 3}, true
#define CNN_ZOO_RESNET_152 {3, 8, 36, 3}, true

/* Family tables (src/zoo/<family>.c). */
extern const cnn_zoo_entry cnn_zoo_lenet[];      /* lenet, lenet_relu, mynet */
extern const cnn_zoo_entry cnn_zoo_alexnet[];    /* alexnet, alexnet_d2l */
extern const cnn_zoo_entry cnn_zoo_vgg[];        /* vgg11/13/16/19 (+ _bn), vgg11_d2l */
extern const cnn_zoo_entry cnn_zoo_nin[];        /* nin */
extern const cnn_zoo_entry cnn_zoo_googlenet[];  /* googlenet, googlenet_d2l */
extern const cnn_zoo_entry cnn_zoo_resnet[];     /* resnet18/34/50/101/152, resnet18_d2l */
extern const cnn_zoo_entry cnn_zoo_senet[];      /* se_resnet18, se_resnet50 */
extern const cnn_zoo_entry cnn_zoo_cbam[];       /* cbam_resnet18/50 (+ _paper) */
extern const cnn_zoo_entry cnn_zoo_densenet[];   /* densenet121/161/169/201, densenet_d2l */
extern const cnn_zoo_entry cnn_zoo_mobilenet[];  /* mobilenet_v1, mobilenet_v2, mobilenet_v3_large/small */
extern const cnn_zoo_entry cnn_zoo_shufflenet[]; /* shufflenet_v1, shufflenet_v2_x0_5 .. x2_0 */
extern const cnn_zoo_entry cnn_zoo_hybridsn[];   /* hybridsn */
extern const cnn_zoo_entry cnn_zoo_squeezenet[]; /* squeezenet1_0, squeezenet1_1 */
#endif
