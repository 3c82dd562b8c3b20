/* The first creation's deadline on the producer's I/O thread: the
 * operation timeout bounds it as a whole, and when it passes the producer
 * fails with the step that did not finish (connect, TLS handshake, lookup,
 * producer registration) and a sentence saying where. The callers fail the
 * producer; this file only keeps the clock and works out the error. [loop] */
#include <stdio.h>

#include "producer/pipeline.h"

/* [loop] Keeps the sentence of a failed attempt being reported on this
 * thread (a connection's close: TLS rejection, "TLS may be required", ...),
 * so a creation that later times out still says why its attempts failed. */
void pc_producer_note_attempt(pulsarc_producer_t *p) {
  const char *d = pulsarc_last_error_text();
  if (d[0] != '\0')
    snprintf(p->attempt_detail, sizeof p->attempt_detail, "%s", d);
}

static const char *last_attempt_text(const pulsarc_producer_t *p, pulsarc_err_t err) {
  return p->attempt_detail[0] != '\0' ? p->attempt_detail : pulsarc_err_str(err);
}

/* The timeout a failed attempt counts toward: where it failed, read from
 * its error, else the step it was in. */
static pulsarc_err_t stage_of(pulsarc_err_t err, pulsarc_err_t step) {
  switch (err) {
  case PULSARC_ERR_RESOLVE:
  case PULSARC_ERR_CONNECT:
  case PULSARC_ERR_CONNECT_TIMEOUT:
    return PULSARC_ERR_CONNECT_TIMEOUT;
  case PULSARC_ERR_TLS:
  case PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT:
    return PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT;
  default:
    return step;
  }
}

static const char *stage_name(pulsarc_err_t stage) {
  switch (stage) {
  case PULSARC_ERR_TLS_HANDSHAKE_TIMEOUT:
    return "TLS handshake";
  case PULSARC_ERR_LOOKUP_TIMEOUT:
    return "lookup";
  case PULSARC_ERR_REGISTER_TIMEOUT:
    return "producer registration";
  default:
    return "connect";
  }
}

/* The sentence of a creation that timed out in stage. */
static void timeout_text(const pulsarc_producer_t *p, const char *topic, pulsarc_err_t stage,
                         const char *what, char *detail, size_t len) {
  snprintf(detail, len, "creating the producer on %.250s: %s timed out after %llu ms (%.150s)",
           topic, stage_name(stage), (unsigned long long)p->client->conf.operation_timeout_ms,
           what);
}

/* [loop] What the partition's creation is waiting for now. */
static pulsarc_err_t part_stage(const pc_part *part, char *what, size_t len) {
  pulsarc_producer_t *p = part->p;
  switch (part->state) {
  case PS_LOOKUP:
    if (part->lookup != NULL)
      return pc_lookup_stage(part->lookup, what, len);
    break;
  case PS_CONNECTING:
    if (part->pool_req != NULL)
      return pc_pool_req_stage(p->client->pools[pc_loop_index(p->loop)], part->pool_req, what, len);
    break;
  case PS_REGISTERING:
    if (part->conn != NULL) {
      snprintf(what, len, "waiting for %s to answer PRODUCER", pc_conn_peer(part->conn));
      return PULSARC_ERR_REGISTER_TIMEOUT;
    }
    break;
  default:
    break;
  }
  if (part->last_err != PULSARC_OK) {
    snprintf(what, len, "last attempt: %s", last_attempt_text(p, part->last_err));
    return part->last_stage;
  }
  snprintf(what, len, "not started");
  return PULSARC_ERR_CONNECT_TIMEOUT;
}

/* [loop] Starts the partition's creation clock (once). */
void pc_part_arm_create_deadline(pc_part *part, uint64_t deadline_ns) {
  pulsarc_producer_t *p = part->p;
  uint64_t now = pc_loop_now(p->loop);
  part->create_deadline_ns = deadline_ns;
  pc_timer_start(p->loop, &part->create_timer, deadline_ns > now ? deadline_ns - now : 0);
}

bool pc_part_creation_over(const pc_part *part) {
  return !part->created_once && pc_loop_now(part->p->loop) >= part->create_deadline_ns;
}

/* [loop] A creation attempt of the partition failed with err in step. */
void pc_part_attempt_failed(pc_part *part, pulsarc_err_t err, pulsarc_err_t step) {
  pc_producer_note_attempt(part->p);
  part->last_err = err;
  part->last_stage = stage_of(err, step);
}

pulsarc_err_t pc_part_creation_timeout(const pc_part *part, char *detail, size_t len) {
  char what[300];
  pulsarc_err_t stage = part_stage(part, what, sizeof what);
  timeout_text(part->p, part->topic, stage, what, detail, len);
  return stage;
}

pulsarc_err_t pc_producer_meta_timeout(const pulsarc_producer_t *p, char *detail, size_t len) {
  char what[300];
  pulsarc_err_t stage;
  if (p->meta_lookup != NULL) {
    stage = pc_lookup_stage(p->meta_lookup, what, sizeof what);
  } else if (p->meta_last_err != PULSARC_OK) {
    stage = stage_of(p->meta_last_err, PULSARC_ERR_LOOKUP_TIMEOUT);
    snprintf(what, sizeof what, "last attempt: %s", last_attempt_text(p, p->meta_last_err));
  } else {
    stage = PULSARC_ERR_LOOKUP_TIMEOUT;
    snprintf(what, sizeof what, "partitioned metadata not sent yet");
  }
  timeout_text(p, p->topic, stage, what, detail, len);
  return stage;
}
