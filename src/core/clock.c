/* The library's one clock: seconds on the monotonic clock, for timings (profiling,
   epoch times, collectives' waits, the CLI's reports). */
#include <time.h>

#include "core.h"

double cnn_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
