/* The CLI's shared pieces: flag parsing and model options. Only the CLI exits. */
#ifndef CNN_CLI_H
#define CNN_CLI_H
#include <stdbool.h>

#include "cnn.h"

typedef enum { OPT_STR, OPT_INT, OPT_FLOAT, OPT_BOOL, OPT_LIST } cli_opt_type;
typedef struct cli_opt {
    const char *name; /* without dashes */
    cli_opt_type type;
    void *dst;        /* const char* / int / float / bool / list buffer (char[512]) */
    const char *help;
} cli_opt;

/* Parses argv[first..]; fills positional args. Returns 0 ok, 1 when --help was
   printed, 2 on a usage error (message printed). */
int cli_parse(int argc, char **argv, int first, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos, int *n_pos, const char *usage);
void cli_print_help(const char *usage, const cli_opt *opts, int n_opts);
/* A command's cli_parse of argv[2..] as its exit code: -1 to go on, 0 after --help,
   2 after a usage error (printed). */
int cli_parse_args(int argc, char **argv, const cli_opt *opts, int n_opts, const char **pos,
                   int max_pos, int *n_pos, const char *usage);
#define CLI_NOPTS(opts) ((int)(sizeof(opts) / sizeof((opts)[0])))
/* In a command (argc, argv in scope): declares pos[max_pos] and n_pos, and parses the
   command's opts (an array) from argv[2..] into them (cli_parse_args); returns from the
   command after --help (0) or a usage error (2, printed). */
#define CLI_PARSE(opts, pos, max_pos, n_pos, usage)                                       \
    const char *pos[(max_pos) > 0 ? (max_pos) : 1];                                      \
    int n_pos, pos##_rc = cli_parse_args(argc, argv, (opts), CLI_NOPTS(opts), pos, (max_pos), \
                                         &n_pos, (usage));                                \
    if (pos##_rc >= 0) return pos##_rc
/* The options several commands take, each name and type written once; the command
   gives the destination and its own help text. */
#define CLI_OPT_DATA(dst, help) {"data", OPT_STR, (dst), (help)}
#define CLI_OPT_OUT(dst, help) {"out", OPT_STR, (dst), (help)}
#define CLI_OPT_SPLIT(dst, help) {"split", OPT_STR, (dst), (help)}
#define CLI_OPT_RESIZE(dst, help) {"resize", OPT_STR, (dst), (help)}
#define CLI_OPT_BATCH(dst, help) {"batch", OPT_INT, (dst), (help)}
#define CLI_OPT_SEED(dst, help) {"seed", OPT_INT, (dst), (help)}
#define CLI_OPT_WARMUP(dst, help) {"warmup", OPT_INT, (dst), (help)}
#define CLI_OPT_LR(dst, help) {"lr", OPT_FLOAT, (dst), (help)}
#define CLI_OPT_MOMENTUM(dst, help) {"momentum", OPT_FLOAT, (dst), (help)}
#define CLI_OPT_JSON(dst, help) {"json", OPT_BOOL, (dst), (help)}
#define CLI_OPT_TRAIN(dst, help) {"train", OPT_BOOL, (dst), (help)}
/* Prints the usage to stderr; returns 2, the exit code of a usage error. */
int cli_usage(const char *usage);

/* Model options shared by every command that builds a model. */
typedef struct cli_model_args {
    const char *input; /* CxHxW or CxDxHxW */
    int classes;
    float width;
    char set[512];
    int batch;
} cli_model_args;
#define CLI_MODEL_OPTS(m)                                                                   \
    {"input", OPT_STR, &(m)->input, "input size CxHxW (or CxDxHxW for 3D models)"},       \
    {"classes", OPT_INT, &(m)->classes, "number of classes"},                              \
    {"width", OPT_FLOAT, &(m)->width, "width multiplier (MobileNet alpha, ShuffleNet scale)"}, \
    {"set", OPT_LIST, (m)->set, "family option key=value (repeatable), e.g. groups=3"}
/* A MODEL name or checkpoint with --seed for the zoo model's default init, then the
   model options */
#define CLI_SEEDED_MODEL_OPTS(seed, m)                                                      \
    CLI_OPT_SEED(seed, "seed for the default init when given a MODEL name"), CLI_MODEL_OPTS(m)
/* Fills o from m; returns false (message printed) on a malformed --input. */
bool cli_model_opts(const cli_model_args *m, cnn_model_opts *o);

/* The model a command runs: the checkpoint file at path (loaded at batch), else the zoo
   model of that name built from the flags ma at batch and initialised from seed. -1
   when m is made, else the command's exit code (message printed). */
int cli_model_open(const char *path, int batch, cli_model_args *ma, int seed, cnn_model *m);

/* Hyperspectral data flags, appended to an "hsi:" data spec as its query options
   (src/cli/cmd_hsi.c). */
typedef struct cli_hsi_args {
    const char *gt, *cube_var, *gt_var;
    int pca, patch;
    float test_ratio;
    char spec[4096]; /* the spec cli_hsi_spec returns */
} cli_hsi_args;
#define CLI_HSI_OPTS(a)                                                                       \
    {"gt", OPT_STR, &(a)->gt, "hsi: ground-truth file (.mat / .npy; default CUBE_gt.mat)"},   \
    {"cube-var", OPT_STR, &(a)->cube_var, "hsi: the cube's variable in its .mat file"},       \
    {"gt-var", OPT_STR, &(a)->gt_var, "hsi: the ground truth's variable"},                    \
    {"pca", OPT_INT, &(a)->pca, "hsi: PCA components (default 30)"},                          \
    {"patch", OPT_INT, &(a)->patch, "hsi: patch size S (default 25)"},                        \
    {"test-ratio", OPT_FLOAT, &(a)->test_ratio, "hsi: fraction of each class held out (0.7)"}
/* data with the flags set in a appended ("hsi:C.mat" + --gt G -> "hsi:C.mat?gt=G"); pca /
   patch defaults > 0 (a checkpoint's input) are added when neither flag nor spec sets
   them. NULL (message printed) for flags on other data or a spec too long. */
const char *cli_hsi_spec(const char *data, cli_hsi_args *a, int pca_default, int patch_default);

/* Opens *data for model m: an hsi: spec takes the flags in a, and m's PCA components and
   patch size (its (N, 1, K, S, S) input) unless given; *data becomes that spec. -1 when d
   is open, else the exit code (message printed) with m freed. */
int cli_model_data(const char **data, cli_hsi_args *a, cnn_model *m, bool train, cnn_dataset *d);

/* Strict integer: all of v, within lo..hi (no blanks, no garbage, no overflow). */
bool cli_parse_int(const char *v, long lo, long hi, int *out);
/* --threads / CNN_THREADS value: 1..4096, capped to the cores (with a note). False
   (message printed) on anything else. */
bool cli_threads_value(const char *what, const char *v, int *out);
/* Checks CNN_THREADS and CNN_BACKEND once at start; false (message printed) when set
   to something unusable. */
bool cli_check_env(void);

/* Sets GOMP_SPINCOUNT (bounded spinning) when neither it nor OMP_WAIT_POLICY is set,
   and executes the program again so libgomp sees it (src/cli/waitpolicy.c). */
void cli_bounded_spin(char **argv);

/* Prints "cnn: <message>" and returns exit code 1. */
int cli_fail(const char *what);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_models(int argc, char **argv);
/* `cnn help MODEL`: the model's input, classes and options; -1 for an unknown name. */
int cmd_model_help(const char *name);
int cmd_forward(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_hsi_map(int argc, char **argv);
int cmd_hsi_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_export(int argc, char **argv);
#endif
