/* Flush bookkeeping on the producer's I/O thread. Messages are numbered
 * in arrival order as they leave the rings; a flush waits for every
 * message numbered below the count at its start, so it is done when the
 * oldest message not yet completed is at least that. [loop] */
#include <stdlib.h>

#include "producer/pipeline.h"

/* Lowers *lo to the first incomplete message of a list of entries (in
 * order, so the first found is its oldest). Whether there was one. */
static bool oldest_in(const pc_entry *e, uint64_t *lo) {
  for (; e != NULL; e = e->next)
    for (uint32_t i = 0; i < e->count; i++)
      if (!(e->msgs[i].flags & PC_MSG_COMPLETED)) {
        if (e->msgs[i].idx < *lo)
          *lo = e->msgs[i].idx;
        return true;
      }
  return false;
}

/* The arrival index of the oldest message not yet completed. */
static uint64_t oldest_incomplete(pulsarc_producer_t *p) {
  uint64_t lo = p->drained;
  if (p->unrouted.n > 0 && pc_fifo_at(&p->unrouted, 0)->idx < lo)
    lo = pc_fifo_at(&p->unrouted, 0)->idx;
  for (int k = 0; k < p->nparts; k++) {
    pc_part *part = p->parts[k];
    bool found = oldest_in(part->pending_head, &lo) || oldest_in(part->zq_head, &lo);
    if (!found && part->unsent.n > 0 && pc_fifo_at(&part->unsent, 0)->idx < lo)
      lo = pc_fifo_at(&part->unsent, 0)->idx;
  }
  return lo;
}

bool pc_producer_idle(pulsarc_producer_t *p) { return oldest_incomplete(p) == p->drained; }

void pc_producer_check_flushes(pulsarc_producer_t *p) {
  if (p->flushes == NULL && !p->closing)
    return;
  uint64_t lo = p->destroyed ? UINT64_MAX : oldest_incomplete(p);
  for (pc_flush_req **l = &p->flushes; *l != NULL;) {
    pc_flush_req *r = *l;
    if (lo >= r->target_idx) {
      *l = r->next;
      if (r->cb != NULL)
        r->cb(PULSARC_OK, r->ctx);
      free(r);
    } else {
      l = &r->next;
    }
  }
  if (p->closing && !p->destroyed && lo == p->drained)
    p->events->close_drained(p);
}
