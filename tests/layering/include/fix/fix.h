/* The fixture's public header: anyone may include it. */
#ifndef FIX_FIX_H
#define FIX_FIX_H
#define FIX_VERSION 1
#endif
