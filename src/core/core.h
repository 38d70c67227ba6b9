/* Internal core header. What the layers above the graph use (allocation with fault
   injection, atomic files, half floats, the error macros) is public API now, in
   include/cnn/core.h ("helpers for extensions"); the library's own parts below the
   graph keep including this header (docs/architecture.md, "Layers and who includes
   what"). */
#ifndef CNN_CORE_H
#define CNN_CORE_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "cnn.h"
#endif
