/* Default logger and formatting. Any thread. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *level_name(pulsarc_log_level_t l) {
  switch (l) {
  case PULSARC_LOG_DEBUG:
    return "DEBUG";
  case PULSARC_LOG_INFO:
    return "INFO";
  case PULSARC_LOG_WARN:
    return "WARN";
  case PULSARC_LOG_ERROR:
    return "ERROR";
  default:
    return "?";
  }
}

static void stderr_logger(pulsarc_log_level_t level, const char *line, void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  /* One fprintf per line so lines from several threads do not interleave. */
  fprintf(stderr, "%02d:%02d:%02d.%03ld pulsarc %s %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
          ts.tv_nsec / 1000000, level_name(level), line);
}

int pc_log_level_parse(const char *s, pulsarc_log_level_t *out) {
  static const char *names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 5; i++)
    if (strcasecmp(s, names[i]) == 0) {
      *out = (pulsarc_log_level_t)i;
      return 0;
    }
  return -1;
}

void pc_logger_init(pc_logger *lg) {
  lg->fn = stderr_logger;
  lg->ctx = NULL;
  lg->level = PULSARC_LOG_WARN;
  const char *env = getenv("PULSARC_LOG_LEVEL");
  if (env != NULL)
    (void)pc_log_level_parse(env, &lg->level);
}

void pc_log(const pc_logger *lg, pulsarc_log_level_t level, const char *fmt, ...) {
  if (lg == NULL || level < lg->level)
    return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  lg->fn(level, line, lg->ctx);
}
