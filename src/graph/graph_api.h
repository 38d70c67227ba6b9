/* The graph layer's interface for the trainer (parameter and gradient blocks,
   batch-norm synchronisation, default initialisation, the optimizer steps, int8
   calibration) is public API in include/cnn/train.h ("the trainer's graph
   interface"); graph/ keeps including this header for it. The layers above graph/
   include cnn.h only (docs/architecture.md, "Layers and who includes what"). */
#ifndef CNN_GRAPH_API_H
#define CNN_GRAPH_API_H
#include "cnn.h"
#endif
