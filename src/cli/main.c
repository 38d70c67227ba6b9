/* cnn — the command-line program: thin over libcnn (parses flags, calls, prints). */
#include <stdio.h>
#include <string.h>

#include "cnn.h"

static int usage(FILE *f)
{
    fprintf(f,
            "cnn %s — define, train, evaluate, inspect and deploy CNNs\n"
            "usage: cnn COMMAND [options]    (cnn COMMAND --help for each)\n"
            "commands:\n"
            "  version      print the version and backend\n",
            CNN_VERSION);
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) return usage(stdout);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("cnn %s (backend %s, %d threads)\n", CNN_VERSION, cnn_backend_name(), cnn_get_threads());
        return 0;
    }
    fprintf(stderr, "cnn: unknown command '%s' (try: cnn help)\n", cmd);
    return 2;
}
