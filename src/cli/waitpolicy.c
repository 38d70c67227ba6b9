/* Bounded spinning for OpenMP threads (docs/architecture.md, "Threads on a busy
   machine"). libgomp's threads spin up to 300000 iterations (milliseconds) at each
   barrier before sleeping; when another process holds their core, the spinning thread
   burns the time slice the thread it waits for needs, and a training step with many
   parallel regions ran 20-50x slower beside busy processes. libgomp reads
   GOMP_SPINCOUNT and OMP_WAIT_POLICY once, in its constructor, before main() (and a
   setenv from .preinit_array is undone when libc sets up environ): so the CLI, when
   neither is set, sets a bounded spin count and executes itself again, once. A user's
   own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone; programs linking libcnn set
   them in their environment. */
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

/* ~0.1 ms of spinning, then a futex sleep: 1000 cost ResNet-18 batch 1 12-17% on a quiet
   machine (threads asleep between layers); 10000 keeps the quiet speed and most of the
   busy-machine gain (docs/architecture.md, "Threads on a busy machine") */
#define CNN_CLI_SPINCOUNT "10000"

void cli_bounded_spin(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", CNN_CLI_SPINCOUNT, 1) != 0) return;
    execv("/proc/self/exe", argv); /* returns only on failure: run on with libgomp's default */
}
