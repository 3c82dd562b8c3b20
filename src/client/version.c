/* The library's version, from the header it was built with. [any] */
#include "pulsarc/pulsarc.h"

const char *pulsarc_version(void) { return PULSARC_VERSION_STRING; }
