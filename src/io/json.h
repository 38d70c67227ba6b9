/* A strict JSON reader for file headers (safetensors): the primitives a format's own
   parser is written with. Errors are CNN_ERR_FORMAT "<path>: malformed header JSON at
   byte N: ..." (or CNN_ERR_NOMEM), recorded in p->err. docs/architecture.md, "Layers
   and who includes what". Internal to src/io/. */
#ifndef CNN_IO_JSON_H
#define CNN_IO_JSON_H
#include "cnn.h"

typedef struct cnn_json {
    const char *s;
    size_t n, pos;
    const char *path;
    cnn_status err; /* CNN_OK until the first error */
} cnn_json;

cnn_status cnn_json_fail(cnn_json *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
cnn_status cnn_json_nomem(cnn_json *p);
void cnn_json_ws(cnn_json *p);          /* skips white space */
const char *cnn_json_desc(cnn_json *p); /* the next byte, for messages */
cnn_status cnn_json_expect(cnn_json *p, char c);
char cnn_json_peek(cnn_json *p); /* next non-space character, 0 at the end */
/* A JSON string -> newly allocated UTF-8 (NUL-free). */
cnn_status cnn_json_string(cnn_json *p, char **out);
/* An object member's key and its ':' -> *key newly allocated (NULL on failure).
   No string next fails "expected <what>, found ..."; *at (may be NULL) gets the
   key's offset. */
cnn_status cnn_json_key(cnn_json *p, const char *what, char **key, size_t *at);
/* A JSON integer (no fraction or exponent), in int64 range. */
cnn_status cnn_json_int(cnn_json *p, int64_t *out);
/* After a member or element: ',' (*more = true) or the closing `close` (*more =
   false), consumed; anything else fails "expected ',' or '<close>' <where>, found ...". */
cnn_status cnn_json_next(cnn_json *p, char close, bool *more, const char *where);
/* [int, int, ...] into out (at most max stored; *count is the full length). */
cnn_status cnn_json_int_array(cnn_json *p, int64_t *out, int max, int *count);
#endif
