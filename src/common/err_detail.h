/* The per-thread error detail behind pulsarc_last_error_text(). Any thread:
 * each thread has its own buffer. Callers set it right before returning an
 * error from a public call, or on an I/O thread right before a callback that
 * reports an error, so the application reads the detail of that error. */
#ifndef PULSARC_COMMON_ERR_DETAIL_H
#define PULSARC_COMMON_ERR_DETAIL_H

#include "pulsarc/pulsarc.h"

#define PC_ERR_DETAIL_MAX 512

/* printf-style; truncated to PC_ERR_DETAIL_MAX - 1 bytes. Never pass a
 * secret (token, key, password) in the arguments. */
void pc_err_detail_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies text (NULL = ""), e.g. a detail recorded earlier on another thread. */
void pc_err_detail_copy(const char *text);
void pc_err_detail_clear(void);

#endif
