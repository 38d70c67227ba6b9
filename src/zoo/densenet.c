/* densenet family — being written; the table is empty until then. */
#include "zoo.h"

const cnn_zoo_entry cnn_zoo_densenet[] = {{{0}, 0}};
