/* Test broker: thread-safe inspection, runtime settings and fault injection.
 * Every function here is [any]: it takes tb->mu for the time of a copy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tb_internal.h"

#ifndef PULSARC_TB_PROGRAM
#define PULSARC_TB_PROGRAM "pulsarc-testbroker"
#endif

const char *pulsarc_tb_program_path(void) { return PULSARC_TB_PROGRAM; }

void pulsarc_tb_get_stats(pulsarc_tb *tb, pulsarc_tb_stats *out) {
  pthread_mutex_lock(&tb->mu);
  *out = tb->st;
  pthread_mutex_unlock(&tb->mu);
}

static tb_topic *find_topic(pulsarc_tb *tb, const char *topic) {
  char *full = pulsarc_tb_full_topic(topic);
  tb_topic *t = full ? tb_topic_get(tb, full, false) : NULL;
  free(full);
  return t;
}

static uint64_t count_list(const tb_producer *p) {
  uint64_t n = 0;
  for (; p; p = p->next_topic)
    n++;
  return n;
}

void pulsarc_tb_get_topic_stats(pulsarc_tb *tb, const char *topic, pulsarc_tb_topic_stats *out) {
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&tb->mu);
  tb_topic *t = find_topic(tb, topic);
  if (t) {
    out->exists = true;
    out->entries = (uint64_t)t->next_entry_id;
    out->messages = t->messages;
    out->chunks = t->chunks;
    out->duplicates = t->duplicates;
    out->producers_open = count_list(t->active);
    out->producers_waiting = count_list(t->waiting);
    out->ledger_id = t->ledger_id;
    out->topic_epoch = t->topic_epoch;
  }
  pthread_mutex_unlock(&tb->mu);
}

int64_t pulsarc_tb_last_sequence_id(pulsarc_tb *tb, const char *topic, const char *producer_name) {
  int64_t v = -1;
  pthread_mutex_lock(&tb->mu);
  tb_topic *t = find_topic(tb, topic);
  tb_seq *s = t && producer_name ? tb_topic_seq(t, producer_name, false) : NULL;
  if (s)
    v = s->highest;
  pthread_mutex_unlock(&tb->mu);
  return v;
}

static void deadline_after(struct timespec *ts, int timeout_ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  ts->tv_sec += timeout_ms / 1000;
  ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* Waits under mu until value(tb, topic) >= n. */
static bool wait_until(pulsarc_tb *tb, const char *topic, uint64_t n, int timeout_ms,
                       uint64_t (*value)(pulsarc_tb *, const char *)) {
  struct timespec dl;
  if (timeout_ms >= 0)
    deadline_after(&dl, timeout_ms);
  pthread_mutex_lock(&tb->mu);
  bool ok;
  for (;;) {
    ok = value(tb, topic) >= n;
    if (ok || tb->stopped)
      break;
    int rc = timeout_ms >= 0 ? pthread_cond_timedwait(&tb->cond, &tb->mu, &dl)
                             : pthread_cond_wait(&tb->cond, &tb->mu);
    if (rc == ETIMEDOUT) {
      ok = value(tb, topic) >= n;
      break;
    }
  }
  pthread_mutex_unlock(&tb->mu);
  return ok;
}

static uint64_t messages_of(pulsarc_tb *tb, const char *topic) {
  if (!topic)
    return tb->st.messages;
  tb_topic *t = find_topic(tb, topic);
  return t ? t->messages : 0;
}

static uint64_t producers_of(pulsarc_tb *tb, const char *topic) {
  if (!topic)
    return tb->st.producers_open;
  tb_topic *t = find_topic(tb, topic);
  return t ? count_list(t->active) : 0;
}

bool pulsarc_tb_wait_messages(pulsarc_tb *tb, const char *topic, uint64_t n, int timeout_ms) {
  return wait_until(tb, topic, n, timeout_ms, messages_of);
}

bool pulsarc_tb_wait_producers(pulsarc_tb *tb, const char *topic, uint64_t n, int timeout_ms) {
  return wait_until(tb, topic, n, timeout_ms, producers_of);
}

pulsarc_tb_snapshot *pulsarc_tb_snapshot_topic(pulsarc_tb *tb, const char *topic) {
  char *full = pulsarc_tb_full_topic(topic ? topic : "");
  if (!full)
    return NULL;
  pthread_mutex_lock(&tb->mu);
  pulsarc_tb_snapshot *s = tb_snapshot_build(tb, full);
  pthread_mutex_unlock(&tb->mu);
  free(full);
  return s;
}

char **pulsarc_tb_topics(pulsarc_tb *tb, size_t *n) {
  *n = 0;
  pthread_mutex_lock(&tb->mu);
  char **list = tb->topics.len ? calloc(tb->topics.len, sizeof(*list)) : NULL;
  if (list) {
    TB_MAP_FOREACH(&tb->topics, i) {
      char *s = strdup(tb->topics.keys[i]);
      if (!s)
        continue;
      list[(*n)++] = s;
    }
  }
  pthread_mutex_unlock(&tb->mu);
  return list;
}

void pulsarc_tb_strings_free(char **list, size_t n) {
  if (!list)
    return;
  for (size_t i = 0; i < n; i++)
    free(list[i]);
  free(list);
}

void pulsarc_tb_set_partitions(pulsarc_tb *tb, const char *topic, uint32_t partitions) {
  pthread_mutex_lock(&tb->mu);
  tb_set_partitions_locked(tb, topic, partitions);
  pthread_mutex_unlock(&tb->mu);
}

void pulsarc_tb_set_dedup(pulsarc_tb *tb, bool on) {
  pthread_mutex_lock(&tb->mu);
  tb->dedup = on;
  pthread_mutex_unlock(&tb->mu);
}

/* ------------------------------------------------------------ faults */

void pulsarc_tb_hold_receipts(pulsarc_tb *tb, bool hold) {
  pthread_mutex_lock(&tb->mu);
  tb->hold = hold;
  pthread_mutex_unlock(&tb->mu);
  tb_wake(tb); /* releasing needs the broker thread to write */
}

void pulsarc_tb_delay_receipts(pulsarc_tb *tb, uint32_t ms) {
  pthread_mutex_lock(&tb->mu);
  tb->delay_ns = (uint64_t)ms * 1000000ull;
  pthread_mutex_unlock(&tb->mu);
  tb_wake(tb);
}

void pulsarc_tb_drop_connections(pulsarc_tb *tb) { tb_run_request(tb, TB_REQ_DROP, NULL); }

int pulsarc_tb_close_producers(pulsarc_tb *tb, const char *topic) {
  return topic ? tb_run_request(tb, TB_REQ_CLOSE_PRODUCERS, topic) : 0;
}

static void set_fault(pulsarc_tb *tb, tb_fault *f, uint32_t n, pulsarc_tb_server_error err) {
  pthread_mutex_lock(&tb->mu);
  f->n = n;
  f->err = (int)err;
  pthread_mutex_unlock(&tb->mu);
}

void pulsarc_tb_fail_sends(pulsarc_tb *tb, uint32_t n, pulsarc_tb_server_error err) {
  set_fault(tb, &tb->fail_sends, n, err);
}

void pulsarc_tb_fail_lookups(pulsarc_tb *tb, uint32_t n, pulsarc_tb_server_error err) {
  set_fault(tb, &tb->fail_lookups, n, err);
}

void pulsarc_tb_fail_producers(pulsarc_tb *tb, uint32_t n, pulsarc_tb_server_error err) {
  set_fault(tb, &tb->fail_producers, n, err);
}

void pulsarc_tb_refuse_producers(pulsarc_tb *tb, const char *topic, pulsarc_tb_server_error err) {
  char *full = topic != NULL ? pulsarc_tb_full_topic(topic) : NULL;
  pthread_mutex_lock(&tb->mu);
  snprintf(tb->refuse_topic, sizeof tb->refuse_topic, "%s", full != NULL ? full : "");
  tb->refuse_err = (int)err;
  pthread_mutex_unlock(&tb->mu);
  free(full);
}
