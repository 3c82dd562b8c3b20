/* Test broker: connection-level fault injection (drops after a number of
 * frames, random drops, corrupted output, stopped reading). The hooks run on
 * the broker thread under tb->mu; the public setters take mu and, where
 * epoll registrations must change, ask the broker thread to do it. */
#include <sys/epoll.h>
#include <time.h>

#include "tb_internal.h"

/* xorshift64: reproducible from the seed, which is all a test needs. */
static uint64_t next_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}

void tb_fault_after_frame(pulsarc_tb *tb, tb_conn *c, const pc_frame *f) {
  struct tb_faults *fx = &tb->fx;
  bool drop = false;
  if (fx->drop_after > 0 && --fx->drop_after == 0)
    drop = true;
  if (!drop && fx->drop_per_million > 0 &&
      next_rand(&fx->rng) % 1000000u < (uint64_t)fx->drop_per_million)
    drop = true;
  if (!drop)
    return;
  fx->drops++;
  if (f->cmd && f->cmd->type == PULSARC__BASE_COMMAND__TYPE__SEND)
    fx->drops_after_send++;
  /* Whatever was answered to this frame is still in c->out: lost with it. */
  tb_conn_close(tb, c, false);
}

void tb_fault_on_frame_out(pulsarc_tb *tb, uint8_t *p, size_t len) {
  if (tb->fx.corrupt_next == 0 || len < 8)
    return;
  tb->fx.corrupt_next--;
  tb->fx.corrupted++;
  /* Over-long varints at the start of the command: no protobuf decoder
   * accepts that, whatever the command was, so the peer sees a malformed
   * frame (the sizes stay intact so framing is not what fails). */
  uint32_t cmd_size = pc_get_u32be(p + 4);
  size_t n = cmd_size < 16 ? cmd_size : 16;
  if (8 + n > len)
    n = len - 8;
  for (size_t i = 0; i < n; i++)
    p[8 + i] = 0xff;
}

uint32_t tb_fault_in_events(const pulsarc_tb *tb) { return tb->fx.stop_reading ? 0u : EPOLLIN; }

void tb_fault_apply_reading(pulsarc_tb *tb) {
  for (tb_conn *c = tb->conns; c; c = c->next) {
    if (c->closed)
      continue;
    struct epoll_event ev = {.events = tb_fault_in_events(tb) | (c->want_out ? EPOLLOUT : 0u),
                             .data.ptr = c};
    epoll_ctl(tb->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
  }
}

/* ------------------------------------------------------------- public API */

void pulsarc_tb_drop_after_frames(pulsarc_tb *tb, uint64_t n) {
  pthread_mutex_lock(&tb->mu);
  tb->fx.drop_after = n;
  pthread_mutex_unlock(&tb->mu);
}

void pulsarc_tb_random_drops(pulsarc_tb *tb, uint64_t seed, uint32_t per_million) {
  pthread_mutex_lock(&tb->mu);
  /* xorshift must not start at 0; mix the seed so small seeds differ well. */
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
  tb->fx.rng = s ? s : 1;
  tb->fx.drop_per_million = per_million > 1000000u ? 1000000u : per_million;
  pthread_mutex_unlock(&tb->mu);
}

void pulsarc_tb_corrupt_next_frames(pulsarc_tb *tb, uint32_t n) {
  pthread_mutex_lock(&tb->mu);
  tb->fx.corrupt_next = n;
  pthread_mutex_unlock(&tb->mu);
}

void pulsarc_tb_stop_reading(pulsarc_tb *tb, bool stop) {
  pthread_mutex_lock(&tb->mu);
  bool changed = tb->fx.stop_reading != stop;
  tb->fx.stop_reading = stop;
  pthread_mutex_unlock(&tb->mu);
  if (changed)
    tb_run_request(tb, TB_REQ_APPLY_READING, NULL);
}

uint64_t pulsarc_tb_drops(pulsarc_tb *tb) {
  pthread_mutex_lock(&tb->mu);
  uint64_t n = tb->fx.drops;
  pthread_mutex_unlock(&tb->mu);
  return n;
}

void pulsarc_tb_get_fault_stats(pulsarc_tb *tb, pulsarc_tb_fault_stats *out) {
  pthread_mutex_lock(&tb->mu);
  out->drops = tb->fx.drops;
  out->drops_after_send = tb->fx.drops_after_send;
  out->frames_corrupted = tb->fx.corrupted;
  pthread_mutex_unlock(&tb->mu);
}

bool pulsarc_tb_wait_drops(pulsarc_tb *tb, uint64_t n, int timeout_ms) {
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  if (timeout_ms >= 0) {
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
      dl.tv_sec++;
      dl.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&tb->mu);
  bool ok = true;
  while (tb->fx.drops < n) {
    if (tb->stopped) {
      ok = false;
      break;
    }
    if (timeout_ms < 0) {
      pthread_cond_wait(&tb->cond, &tb->mu);
    } else if (pthread_cond_timedwait(&tb->cond, &tb->mu, &dl) != 0) {
      ok = tb->fx.drops >= n;
      break;
    }
  }
  pthread_mutex_unlock(&tb->mu);
  return ok;
}
