/* hybridsn family — being written; the table is empty until then. */
#include "zoo.h"

const cnn_zoo_entry cnn_zoo_hybridsn[] = {{{0}, 0}};
