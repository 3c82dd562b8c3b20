/* A strict reader of single fields of one small JSON object (OAuth2's
 * answers and files): no Debian JSON library is needed for four fields. */
#ifndef PULSARC_CLIENT_OAUTH2_JSON_H
#define PULSARC_CLIENT_OAUTH2_JSON_H

#include <stddef.h>

#include "common/buf.h"

enum { PC_JSON_ABSENT = 0, PC_JSON_STRING = 1, PC_JSON_NUMBER = 2, PC_JSON_OTHER = 3 };

/* Finds key among the members of the top-level object js[0..n) (the first
 * occurrence wins): its string value decoded into *str (reset first; may be
 * NULL) or its number into *num (may be NULL). Returns the PC_JSON_* kind
 * found, or -1 when js is not one well-formed JSON object (or no memory). */
int pc_json_field(const char *js, size_t n, const char *key, pc_buf *str, double *num);

/* The string value of key as a malloc'ed C string in *out (NULL unless
 * PC_JSON_STRING is returned; one holding a NUL byte counts as malformed). */
int pc_json_string(const char *js, size_t n, const char *key, char **out);

#endif
