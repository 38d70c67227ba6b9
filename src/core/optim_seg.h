/* The data of an optimizer update (docs/architecture.md, "Kernels"): cnn_optim_seg and
   cnn_optim_hyper, what the trainer hands the backend table's sgd_step / adam_step
   entries, are public API in include/cnn/train.h ("the trainer's graph interface");
   the kernels include them through this header. */
#ifndef CNN_OPTIM_SEG_H
#define CNN_OPTIM_SEG_H
#include "cnn.h"
#endif
