/* pulsarc-rawwriter: the wire-limit baseline of bench/run.py.
 *
 * Speaks just enough of the client side of the Pulsar protocol (CONNECT,
 * PRODUCER) to be accepted, then pushes SEND frames that were encoded ONCE
 * up front (pc_frame_seal_payload over a batch body built like pulsarc's)
 * through one TCP socket into the broker and reads the receipts. No per-
 * message work is left on the client side, so what it measures is what the
 * socket path and the broker can carry: the ceiling for pulsarc-perf with
 * the same size and batch settings.
 *
 *   stream mode (default): keeps up to --max-pending messages in flight,
 *     writing whole frames in chunks of up to 256 KiB per sendmsg.
 *   --rtt: one unbatched message at a time, send -> receipt, latency
 *     percentiles: the raw request/response round trip that a blocking
 *     unbatched send is compared with.
 *
 * The embedded broker (default) runs with deduplication off, because every
 * frame repeats the same sequence ids; it stores counters only, as in
 * pulsarc-perf. Single-threaded: CPU is this thread's own (the broker runs on
 * its own thread). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "codec/frame.h"
#include "hist.h"
#include "testbroker.h"

typedef struct opts {
  const char *url;
  char topic[256];
  uint64_t size, bmm, bmb, max_pending;
  bool batching, rtt, json;
  double duration, warmup;
} opts;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double thread_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "pulsarc-rawwriter: %s\n", what);
  exit(1);
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: pulsarc-rawwriter [options]\n"
          "Pushes pre-encoded SEND frames through one socket and reads the receipts.\n"
          "  --service-url URL       broker (default: embedded test broker, dedup off)\n"
          "  --topic T               topic (default raw-<pid>)\n"
          "  --size B                payload bytes per message (default 100)\n"
          "  --batch-max-messages N  messages per frame (default 1000)\n"
          "  --batch-max-bytes N     payload bytes per frame, as pulsarc counts (default 131072)\n"
          "  --no-batching           one message per frame, no batch container\n"
          "  --max-pending N         messages in flight (default 10000)\n"
          "  --duration S            measured seconds (default 3)\n"
          "  --warmup S              seconds not measured first (default 0.5)\n"
          "  --rtt                   one unbatched message at a time: round-trip latency\n"
          "  --json                  last stdout line: one JSON object\n");
}

static void parse(int argc, char **argv, opts *o) {
  enum { U = 256, TOP, SZ, BMM, BMB, NOB, PEND, DUR, WARM, RTT, JSON, HELP };
  static const struct option lo[] = {{"service-url", 1, 0, U},
                                     {"topic", 1, 0, TOP},
                                     {"size", 1, 0, SZ},
                                     {"batch-max-messages", 1, 0, BMM},
                                     {"batch-max-bytes", 1, 0, BMB},
                                     {"no-batching", 0, 0, NOB},
                                     {"max-pending", 1, 0, PEND},
                                     {"duration", 1, 0, DUR},
                                     {"warmup", 1, 0, WARM},
                                     {"rtt", 0, 0, RTT},
                                     {"json", 0, 0, JSON},
                                     {"help", 0, 0, HELP},
                                     {0, 0, 0, 0}};
  *o = (opts){.size = 100,
              .bmm = 1000,
              .bmb = 131072,
              .max_pending = 10000,
              .batching = true,
              .duration = 3,
              .warmup = 0.5};
  snprintf(o->topic, sizeof o->topic, "raw-%ld", (long)getpid());
  int c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case U:
      o->url = optarg;
      break;
    case TOP:
      snprintf(o->topic, sizeof o->topic, "%s", optarg);
      break;
    case SZ:
      o->size = strtoull(optarg, NULL, 10);
      break;
    case BMM:
      o->bmm = strtoull(optarg, NULL, 10);
      break;
    case BMB:
      o->bmb = strtoull(optarg, NULL, 10);
      break;
    case NOB:
      o->batching = false;
      break;
    case PEND:
      o->max_pending = strtoull(optarg, NULL, 10);
      break;
    case DUR:
      o->duration = strtod(optarg, NULL);
      break;
    case WARM:
      o->warmup = strtod(optarg, NULL);
      break;
    case RTT:
      o->rtt = true;
      o->batching = false;
      break;
    case JSON:
      o->json = true;
      break;
    case HELP:
      usage(stdout);
      exit(0);
    default:
      usage(stderr);
      exit(2);
    }
  }
  if (o->bmm == 0 || o->max_pending == 0 || o->size > (64u << 20))
    die("bad option value");
}

/* ------------------------------------------------------------ socket I/O */

static int dial(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  char host[256];
  const char *colon = strrchr(p, ':');
  if (!colon)
    die("service URL needs host:port");
  snprintf(host, sizeof host, "%.*s", (int)(colon - p), p);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(host, colon + 1, &hints, &ai))
    die("cannot resolve the broker");
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen))
    die("cannot connect to the broker");
  freeaddrinfo(ai);
  int one = 1; /* as pulsarc's connections */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      die("write to the broker failed");
    p += w;
    n -= (size_t)w;
  }
}

/* Reads what is available (blocking when block) into the decoder. */
static void fill(int fd, pc_decoder *d, bool block) {
  size_t avail;
  uint8_t *sp = pc_decoder_space(d, 65536, &avail);
  if (!sp)
    die("out of memory");
  ssize_t r = recv(fd, sp, avail, block ? 0 : MSG_DONTWAIT);
  if (r == 0)
    die("broker closed the connection");
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      return;
    die("read from the broker failed");
  }
  pc_decoder_commit(d, (size_t)r);
}

/* Blocks until a command of type want arrives (others are skipped; an ERROR
 * or SEND_ERROR is fatal). */
static pc_frame wait_for(int fd, pc_decoder *d, int want) {
  pc_frame f;
  for (;;) {
    int r = pc_decoder_next(d, &f);
    if (r < 0)
      die("malformed frame from the broker");
    if (r == 0) {
      fill(fd, d, true);
      continue;
    }
    if ((int)f.cmd->type == want)
      return f;
    if (f.cmd->type == PULSARC__BASE_COMMAND__TYPE__ERROR)
      die("broker answered ERROR");
    if (f.cmd->type == PULSARC__BASE_COMMAND__TYPE__SEND_ERROR)
      die("broker answered SEND_ERROR");
  }
}

static void send_cmd(int fd, const Pulsarc__BaseCommand *cmd) {
  pc_buf b = {0};
  if (pc_frame_append_command(&b, cmd))
    die("out of memory");
  write_all(fd, b.data, b.len);
  pc_buf_free(&b);
}

/* CONNECT + PRODUCER; returns the producer name the broker assigned. */
static char *handshake(int fd, pc_decoder *d, const char *topic) {
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandConnect cn = PULSARC__COMMAND_CONNECT__INIT;
  cn.client_version = "pulsarc-rawwriter";
  cn.has_protocol_version = true;
  cn.protocol_version = 19;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__CONNECT;
  cmd.connect = &cn;
  send_cmd(fd, &cmd);
  wait_for(fd, d, PULSARC__BASE_COMMAND__TYPE__CONNECTED);

  Pulsarc__BaseCommand pc = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandProducer pr = PULSARC__COMMAND_PRODUCER__INIT;
  char *full = pulsarc_tb_full_topic(topic);
  if (!full)
    die("out of memory");
  pr.topic = full;
  pr.producer_id = 1;
  pr.request_id = 1;
  pc.type = PULSARC__BASE_COMMAND__TYPE__PRODUCER;
  pc.producer = &pr;
  send_cmd(fd, &pc);
  pc_frame f = wait_for(fd, d, PULSARC__BASE_COMMAND__TYPE__PRODUCER_SUCCESS);
  char *name = strdup(f.cmd->producer_success->producer_name);
  free(full);
  if (!name)
    die("out of memory");
  return name;
}

/* ------------------------------------------------------------ frames */

/* Messages per frame under pulsarc's rule (producer_send.c): each message
 * counts its length + 16 against batch_max_bytes; at least one. */
static uint32_t per_frame(const opts *o) {
  if (!o->batching)
    return 1;
  uint64_t n = o->bmb / (o->size + 16);
  if (n > o->bmm)
    n = o->bmm;
  return n ? (uint32_t)n : 1;
}

/* One SEND frame of n messages with perf's payload pattern. */
static void build_frame(const opts *o, const char *pname, uint32_t n, uint64_t seq, pc_buf *out) {
  enum { HEAD = 256 };
  uint8_t *msg = malloc(o->size ? o->size : 1);
  if (!msg)
    die("out of memory");
  for (size_t i = 0; i < o->size; i++)
    msg[i] = (uint8_t)('a' + i % 26);
  pc_buf f = {0};
  if (pc_buf_reserve(&f, HEAD + n * (o->size + 16)))
    die("out of memory");
  f.len = HEAD;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t hdr[16] = {0};
    for (int k = 0; k < 8; k++)
      hdr[8 + k] = (uint8_t)((seq + i) >> (8 * k));
    memcpy(msg, hdr, o->size < 16 ? o->size : 16);
    int rc = o->batching ? pc_batch_append_plain(&f, seq + i, msg, o->size)
                         : pc_buf_append(&f, msg, o->size);
    if (rc)
      die("out of memory");
  }
  Pulsarc__MessageMetadata md = PULSARC__MESSAGE_METADATA__INIT;
  md.producer_name = (char *)pname;
  md.sequence_id = seq;
  md.publish_time = (uint64_t)time(NULL) * 1000u;
  Pulsarc__BaseCommand cmd = PULSARC__BASE_COMMAND__INIT;
  Pulsarc__CommandSend send = PULSARC__COMMAND_SEND__INIT;
  cmd.type = PULSARC__BASE_COMMAND__TYPE__SEND;
  cmd.send = &send;
  send.producer_id = 1;
  send.sequence_id = seq;
  if (o->batching) {
    md.has_num_messages_in_batch = true;
    md.num_messages_in_batch = (int32_t)n;
    md.has_highest_sequence_id = true;
    md.highest_sequence_id = seq + n - 1;
    send.has_num_messages = true;
    send.num_messages = (int32_t)n;
    send.has_highest_sequence_id = true;
    send.highest_sequence_id = seq + n - 1;
  }
  size_t start;
  if (pc_frame_seal_payload(&f, HEAD, &cmd, &md, &start))
    die("cannot seal the frame");
  out->len = 0;
  if (pc_buf_append(out, f.data + start, f.len - start))
    die("out of memory");
  pc_buf_free(&f);
  free(msg);
}

/* Receipts decoded so far; SEND_ERROR is fatal. */
static uint64_t drain_receipts(pc_decoder *d) {
  uint64_t n = 0;
  pc_frame f;
  int r;
  while ((r = pc_decoder_next(d, &f)) == 1) {
    if (f.cmd->type == PULSARC__BASE_COMMAND__TYPE__SEND_RECEIPT)
      n++;
    else if (f.cmd->type == PULSARC__BASE_COMMAND__TYPE__SEND_ERROR)
      die("broker answered SEND_ERROR");
  }
  if (r < 0)
    die("malformed frame from the broker");
  return n;
}

int main(int argc, char **argv) {
  opts o;
  parse(argc, argv, &o);
  pulsarc_tb *tb = NULL;
  const char *url = o.url;
  if (!url) {
    pulsarc_tb_opts to = pulsarc_tb_opts_default();
    to.retain_bytes = 0;
    to.max_entry_records = 0;
    to.dedup = false; /* frames repeat their sequence ids */
    if (pulsarc_tb_start(&to, &tb))
      die("cannot start the embedded test broker");
    url = pulsarc_tb_service_url(tb);
  }
  int fd = dial(url);
  pc_decoder dec;
  pc_decoder_init(&dec, PC_FRAME_DEFAULT_MAX);
  char *pname = handshake(fd, &dec, o.topic);

  uint32_t n = per_frame(&o);
  pc_buf frame = {0};
  build_frame(&o, pname, n, 0, &frame);

  /* A write chunk: whole frames, up to 256 KiB (at least one frame). */
  size_t fpc = frame.len >= 262144 ? 1 : 262144 / frame.len;
  if (!o.rtt && fpc * n > o.max_pending)
    fpc = o.max_pending / n ? o.max_pending / n : 1;
  pc_buf chunk = {0};
  for (size_t i = 0; i < fpc; i++)
    if (pc_buf_append(&chunk, frame.data, frame.len))
      die("out of memory");

  pc_hist *lat = calloc(1, sizeof *lat);
  if (!lat)
    die("out of memory");
  pc_hist_reset(lat);
  uint64_t t0 = now_ns(), mstart = t0 + (uint64_t)(o.warmup * 1e9),
           end = mstart + (uint64_t)(o.duration * 1e9);
  uint64_t frames_out = 0, frames_done = 0, m_frames = 0, m_bytes = 0;
  double cpu0 = -1;
  bool measuring = false;
  uint64_t t = t0;
  while (t < end) {
    if (!measuring && t >= mstart) {
      measuring = true;
      cpu0 = thread_cpu();
      mstart = t;
    }
    if (o.rtt) {
      uint64_t s = now_ns();
      write_all(fd, frame.data, frame.len);
      uint64_t got = 0;
      while (!(got = drain_receipts(&dec)))
        fill(fd, &dec, true);
      t = now_ns();
      if (measuring) {
        pc_hist_record(lat, t - s);
        m_frames++;
        m_bytes += frame.len;
      }
      continue;
    }
    uint64_t inflight = (frames_out - frames_done) * n;
    uint64_t can = inflight >= o.max_pending ? 0 : (o.max_pending - inflight) / n;
    if (can == 0 && frames_out == frames_done)
      can = 1; /* frame larger than the window */
    if (can > fpc)
      can = fpc;
    if (can) {
      write_all(fd, chunk.data, can * frame.len);
      frames_out += can;
      if (measuring)
        m_bytes += can * frame.len;
    }
    fill(fd, &dec, can == 0);
    uint64_t got = drain_receipts(&dec);
    frames_done += got;
    if (measuring)
      m_frames += got;
    t = now_ns();
  }
  /* In-flight frames finish outside the window: only receipts inside it
   * count, and the bytes written inside it are the wire figure. */
  double secs = (double)(t - mstart) / 1e9;
  double cpu = thread_cpu() - cpu0;
  uint64_t msgs = m_frames * n;
  double rate = secs > 0 ? (double)msgs / secs : 0;
  double mbps = rate * (double)o.size / 1e6, wire = secs > 0 ? (double)m_bytes / secs / 1e6 : 0;
  {
    FILE *out = o.json ? stderr : stdout;
    fprintf(out,
            "pulsarc-rawwriter: %s, %u msgs/frame of %" PRIu64 " B (frame %zu B): %.0f msg/s, "
            "%.2f MB/s payload, %.2f MB/s wire, CPU %.2f s\n",
            o.rtt ? "rtt" : "stream", n, o.size, frame.len, rate, mbps, wire, cpu);
    if (o.rtt)
      fprintf(out, "round trip us: p50 %.1f p99 %.1f p99.9 %.1f\n",
              pc_hist_percentile(lat, 50) / 1e3, pc_hist_percentile(lat, 99) / 1e3,
              pc_hist_percentile(lat, 99.9) / 1e3);
  }
  if (o.json)
    printf("{\"tool\":\"rawwriter\",\"mode\":\"%s\",\"size\":%" PRIu64 ",\"msgs_per_frame\":%u,"
           "\"frame_bytes\":%zu,\"messages\":%" PRIu64 ",\"seconds\":%.6f,\"msgs_per_sec\":%.1f,"
           "\"mb_per_sec\":%.3f,\"wire_mb_per_sec\":%.3f,\"client_cpu_seconds\":%.4f,"
           "\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f},\"embedded_broker\":%s}\n",
           o.rtt ? "rtt" : "stream", o.size, n, frame.len, msgs, secs, rate, mbps, wire, cpu,
           pc_hist_percentile(lat, 50) / 1e3, pc_hist_percentile(lat, 99) / 1e3,
           pc_hist_percentile(lat, 99.9) / 1e3, tb ? "true" : "false");
  close(fd);
  pc_decoder_free(&dec);
  pc_buf_free(&frame);
  pc_buf_free(&chunk);
  free(pname);
  free(lat);
  pulsarc_tb_free(tb);
  return 0;
}
