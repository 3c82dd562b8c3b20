/* The resend after a re-registration, on the producer's I/O thread: every
 * pending entry is written again, oldest first and byte for byte as it was
 * sealed (same sequence ids), so a deduplicating broker stores each message
 * once. The test switches that break it on purpose live here. [loop] */
#include "client/testing.h"
#include "producer/pipeline.h"

#ifdef PULSARC_TEST_HOOKS
static _Atomic unsigned pc_test_flags;
void pc_test_set_flags(unsigned flags) { atomic_store(&pc_test_flags, flags); }
unsigned pc_test_get_flags(void) { return atomic_load(&pc_test_flags); }
#define BROKEN(flag) (atomic_load_explicit(&pc_test_flags, memory_order_relaxed) & (flag))
#else
/* Shipped libraries: the broken paths are dead code, removed at compile time. */
#define BROKEN(flag) 0
#endif

void pc_part_resend_resume(pc_part *part) {
  part->resend_kick = false;
  part->resend_blocked = false;
  for (pc_entry *e = part->pending_head; e != NULL; e = e->next) {
    if (e->sent_round == part->resend_round)
      continue; /* already written on this connection */
    if (e->in_conn) {
      part->resend_blocked = true;
      part->resend_blocker = e;
      return;
    }
    if (e->ever_written)
      pc_stat_add(&part->stats.resent, 1);
    pc_entry_write(part, e);
    e->sent_round = part->resend_round;
  }
}

/* Rewrites every pending entry, oldest first, on the current connection.
 * An entry whose frame is still queued in a connection (partly written
 * before the re-registration) must finish there first: writing later
 * entries ahead of it would let a deduplicating broker drop it as an old
 * sequence id. So the resend stops at it and resumes once it is out. */
void pc_part_resend(pc_part *part) {
  part->resend_round++;
  part->resend_blocker = NULL;
  if (BROKEN(PC_TEST_NO_RESEND))
    return;
  if (BROKEN(PC_TEST_RENUMBER_ON_RESEND) && part->pending_head != NULL) {
    /* Back to unsent, and sealed again with ids past every one used. */
    uint64_t next = part->next_seq;
    pc_part_unseal_from(part, part->pending_head);
    part->next_seq = next;
    return;
  }
  pc_part_resend_resume(part);
}
