/* Flag parsing: --name value, --name=value, --flag; positional arguments in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_print_help(const char *usage, const cli_opt *opts, int n_opts)
{
    printf("%s\noptions:\n", usage);
    for (int i = 0; i < n_opts; i++) {
        const char *arg = opts[i].type == OPT_BOOL ? "" : opts[i].type == OPT_INT ? " N"
                          : opts[i].type == OPT_FLOAT ? " X" : " VALUE";
        char left[64];
        snprintf(left, sizeof left, "--%s%s", opts[i].name, arg);
        printf("  %-24s %s\n", left, opts[i].help);
    }
    printf("  %-24s %s\n", "--threads N", "threads (default: CNN_THREADS or all cores)");
    printf("  %-24s %s\n", "--backend NAME", "kernels: ref (default: fastest compiled in)");
    printf("  %-24s %s\n", "--help", "this text");
}

static int set_value(const cli_opt *o, const char *v)
{
    char *end = NULL;
    switch (o->type) {
    case OPT_STR: *(const char **)o->dst = v; return 0;
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (!*v || *end) break;
        *(int *)o->dst = (int)x;
        return 0;
    }
    case OPT_FLOAT: {
        double x = strtod(v, &end);
        if (!*v || *end) break;
        *(float *)o->dst = (float)x;
        return 0;
    }
    case OPT_LIST: {
        char *buf = o->dst;
        size_t len = strlen(buf);
        if (len + strlen(v) + 2 > 512) break;
        snprintf(buf + len, 512 - len, "%s%s", len ? "," : "", v);
        return 0;
    }
    case OPT_BOOL: *(bool *)o->dst = true; return 0;
    }
    fprintf(stderr, "cnn: --%s: '%s' is not a valid value\n", o->name, v);
    return 2;
}

int cli_parse(int argc, char **argv, int first, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos, int *n_pos, const char *usage)
{
    *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(usage, opts, n_opts);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || strlen(a) == 2) {
            if (*n_pos >= max_pos) {
                fprintf(stderr, "cnn: unexpected argument '%s'\n%s\n", a, usage);
                return 2;
            }
            pos[(*n_pos)++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if ((nl == 7 && strncmp(name, "threads", 7) == 0) || (nl == 7 && strncmp(name, "backend", 7) == 0)) {
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                fprintf(stderr, "cnn: --%.*s needs a value\n", (int)nl, name);
                return 2;
            }
            if (name[0] == 't') {
                int t = atoi(v);
                if (t < 1) {
                    fprintf(stderr, "cnn: --threads: '%s' is not a positive number\n", v);
                    return 2;
                }
                cnn_set_threads(t);
            } else if (cnn_set_backend(v) != CNN_OK) {
                fprintf(stderr, "cnn: %s\n", cnn_error_message());
                return 2;
            }
            continue;
        }
        const cli_opt *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == nl && strncmp(opts[k].name, name, nl) == 0) o = &opts[k];
        if (!o) {
            fprintf(stderr, "cnn: unknown option '--%.*s' (see --help)\n", (int)nl, name);
            return 2;
        }
        if (o->type == OPT_BOOL) {
            if (eq) {
                fprintf(stderr, "cnn: --%s takes no value\n", o->name);
                return 2;
            }
            *(bool *)o->dst = true;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "cnn: --%s needs a value\n", o->name);
            return 2;
        }
        if (set_value(o, v)) return 2;
    }
    return 0;
}

bool cli_model_opts(const cli_model_args *m, cnn_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = m->batch > 0 ? m->batch : 1;
    o->classes = m->classes;
    o->width_mult = m->width;
    o->set = m->set;
    if (m->input) {
        int v[4], k = sscanf(m->input, "%dx%dx%dx%d", &v[0], &v[1], &v[2], &v[3]);
        if (k == 3) {
            o->channels = v[0];
            o->height = v[1];
            o->width = v[2];
        } else if (k == 4) {
            o->channels = v[0];
            o->depth = v[1];
            o->height = v[2];
            o->width = v[3];
        } else {
            fprintf(stderr, "cnn: --input '%s': expected CxHxW or CxDxHxW (e.g. 1x28x28)\n", m->input);
            return false;
        }
        for (int i = 0; i < k; i++)
            if (v[i] < 1) {
                fprintf(stderr, "cnn: --input '%s': sizes must be >= 1\n", m->input);
                return false;
            }
    }
    return true;
}

int cli_fail(const char *what)
{
    const char *msg = cnn_error_message();
    /* library messages often start with the path or model already ("X: ..."): do not
       print it twice */
    size_t wl = what ? strlen(what) : 0;
    if (wl && strncmp(msg, what, wl) == 0 && (msg[wl] == ':' || msg[wl] == ' ' || !msg[wl]))
        what = NULL;
    fprintf(stderr, "cnn: %s%s%s\n", what ? what : "", what && *what ? ": " : "", msg);
    return 1;
}
