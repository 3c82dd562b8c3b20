/* Library logging: a callback plus a level, owned by the client. Any thread. */
#ifndef PULSARC_COMMON_LOG_H
#define PULSARC_COMMON_LOG_H

#include "pulsarc/pulsarc.h"

typedef struct pc_logger {
  pulsarc_log_fn fn; /* never NULL after pc_logger_init */
  void *ctx;
  pulsarc_log_level_t level;
} pc_logger;

/* Default: stderr, level from PULSARC_LOG_LEVEL (default warn). */
void pc_logger_init(pc_logger *lg);
/* "debug"|"info"|"warn"|"error"|"off" (any case). 0 or -1. */
int pc_log_level_parse(const char *s, pulsarc_log_level_t *out);
void pc_log(const pc_logger *lg, pulsarc_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define PC_LOG_ENABLED(lg, lvl) ((lg) != NULL && (lvl) >= (lg)->level)
#define PC_DEBUG(lg, ...)                                                                          \
  do {                                                                                             \
    if (PC_LOG_ENABLED(lg, PULSARC_LOG_DEBUG))                                                     \
      pc_log(lg, PULSARC_LOG_DEBUG, __VA_ARGS__);                                                  \
  } while (0)
#define PC_INFO(lg, ...)                                                                           \
  do {                                                                                             \
    if (PC_LOG_ENABLED(lg, PULSARC_LOG_INFO))                                                      \
      pc_log(lg, PULSARC_LOG_INFO, __VA_ARGS__);                                                   \
  } while (0)
#define PC_WARN(lg, ...)                                                                           \
  do {                                                                                             \
    if (PC_LOG_ENABLED(lg, PULSARC_LOG_WARN))                                                      \
      pc_log(lg, PULSARC_LOG_WARN, __VA_ARGS__);                                                   \
  } while (0)
#define PC_ERROR(lg, ...)                                                                          \
  do {                                                                                             \
    if (PC_LOG_ENABLED(lg, PULSARC_LOG_ERROR))                                                     \
      pc_log(lg, PULSARC_LOG_ERROR, __VA_ARGS__);                                                  \
  } while (0)

#endif
