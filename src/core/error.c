/* Errors are values: a status plus a thread-local message (DESIGN decision 8). */
#include <stdarg.h>
#include <stdio.h>

#include "cnn.h"
#include "core.h"

static _Thread_local char g_message[1024];
static _Thread_local cnn_status g_status;

const char *cnn_error_message(void) { return g_message; }

cnn_status cnn_error_status(void) { return g_status; }

void cnn_clear_error(void)
{
    g_message[0] = '\0';
    g_status = CNN_OK;
}

cnn_status cnn_set_error(cnn_status s, const char *fmt, ...)
{
    CNN_VFORMAT(g_message, fmt);
    g_status = s;
    return s;
}

const char *cnn_status_name(cnn_status s)
{
    switch (s) {
    case CNN_OK: return "ok";
    case CNN_ERR_INVALID_ARG: return "invalid argument";
    case CNN_ERR_SHAPE: return "shape mismatch";
    case CNN_ERR_NOMEM: return "out of memory";
    case CNN_ERR_IO: return "i/o error";
    case CNN_ERR_FORMAT: return "bad file format";
    case CNN_ERR_NOT_FOUND: return "not found";
    case CNN_ERR_UNSUPPORTED: return "unsupported";
    case CNN_ERR_STATE: return "invalid state";
    case CNN_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown error";
}
