/* Backend table and run-time choice (docs/architecture.md, "Kernels"). */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "cpu/cpu_internal.h"
#include "kernels.h"
#include "ref/ref.h"

/* ref: entry e is cnn_ref_<e> (ref/ref.h) */
#define REF_ENTRY(e) .e = cnn_ref_##e,
const cnn_backend cnn_backend_ref = {.name = "ref", CNN_BACKEND_ENTRIES(REF_ENTRY)};
#undef REF_ENTRY
#define COUNT(e) +1
_Static_assert(sizeof(cnn_backend) ==
                   sizeof(const char *) + (0 CNN_BACKEND_ENTRIES(COUNT)) * sizeof(void (*)(void)),
               "CNN_BACKEND_ENTRIES lists every entry of cnn_backend");
#undef COUNT

/* The backends compiled in, fastest first: the first is the default when CNN_BACKEND /
   cnn_set_backend name none (docs/architecture.md, "Build options"). */
static const cnn_backend *const g_backends[] = {
#ifdef CNN_HAVE_CPU_BACKEND
    &cnn_backend_cpu,
#endif
    &cnn_backend_ref,
};
static const cnn_backend *g_current;
/* g_current with every entry it leaves empty taken from ref (docs/architecture.md,
   "Kernel backends"): ops call any entry without checking for NULL. */
static cnn_backend g_resolved;

static void resolve(const cnn_backend *be)
{
    g_resolved = *be;
    const cnn_backend *r = &cnn_backend_ref;
#define FILL(f) if (!g_resolved.f) g_resolved.f = r->f;
    CNN_BACKEND_ENTRIES(FILL)
#undef FILL
    g_current = be;
}

const cnn_backend *cnn_backend_get(void)
{
    if (!g_current) {
        const char *e = getenv("CNN_BACKEND");
        if (!e || cnn_set_backend(e) != CNN_OK) resolve(g_backends[0]);
    }
    return &g_resolved;
}

cnn_status cnn_set_backend(const char *name)
{
    for (size_t i = 0; i < sizeof g_backends / sizeof g_backends[0]; i++)
        if (name && strcmp(g_backends[i]->name, name) == 0) {
            resolve(g_backends[i]);
            return CNN_OK;
        }
    char have[128] = "";
    for (size_t i = 0, k = 0; i < sizeof g_backends / sizeof g_backends[0] && k < sizeof have; i++)
        k += (size_t)snprintf(have + k, sizeof have - k, "%s%s", i ? ", " : "",
                              g_backends[i]->name);
    return cnn_set_error(CNN_ERR_NOT_FOUND, "backend '%s' is not compiled in (have: %s)",
                         name ? name : "(null)", have);
}

const char *cnn_backend_name(void) { return cnn_backend_get()->name; }

/* The largest scratch of every compiled-in backend for c (the arena must serve
   whichever one runs): all conv kinds, the forward alone, or int8. */
enum { SCRATCH_ALL, SCRATCH_FORWARD, SCRATCH_S8 };
static size_t max_scratch(const cnn_conv_desc *c, int kind)
{
    size_t m = 0;
    for (size_t i = 0; i < sizeof g_backends / sizeof g_backends[0]; i++) {
        const cnn_backend *be = g_backends[i];
        size_t b;
        if (kind == SCRATCH_S8) b = be->conv_s8_scratch(c);
        else if (kind == SCRATCH_FORWARD && be->conv_scratch_forward) b = be->conv_scratch_forward(c);
        else b = be->conv_scratch(c);
        if (b > m) m = b;
    }
    return m;
}

size_t cnn_conv_scratch_bytes(const cnn_conv_desc *c) { return max_scratch(c, SCRATCH_ALL); }

size_t cnn_conv_s8_scratch_bytes(const cnn_conv_desc *c) { return max_scratch(c, SCRATCH_S8); }

size_t cnn_conv_scratch_forward_bytes(const cnn_conv_desc *c)
{
    return max_scratch(c, SCRATCH_FORWARD);
}

const char *cnn_backend_conv_kernel(const cnn_conv_desc *c)
{
#ifdef CNN_HAVE_CPU_BACKEND
    if (cnn_backend_get()->conv_forward == cnn_backend_cpu.conv_forward) return cnn_cpu_conv_kernel(c);
#endif
    return cnn_backend_provider(conv_forward);
}
