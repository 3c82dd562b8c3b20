/* pulsarc-testbroker: the test broker as a program. Prints exactly one line
 * "ready pulsar://HOST:PORT" on stdout once it accepts connections, and exits
 * 0 on SIGTERM/SIGINT with a one-line summary on stderr. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "testbroker.h"

static void usage(FILE *f) {
  fprintf(
      f, "usage: pulsarc-testbroker [options]\n"
         "  --listen HOST:PORT        address to listen on (default 127.0.0.1:0, 0 = free port)\n"
         "  --partitions TOPIC=N      partitioned topic (repeatable); short names become\n"
         "                            persistent://public/default/TOPIC\n"
         "  --max-message-size BYTES  advertised max message size (default 5242880)\n"
         "  --retain-bytes BYTES      payload bytes kept for inspection (default 268435456)\n"
         "  --no-dedup                turn deduplication off\n"
         "  --advertised-url URL      URL given in lookup answers\n"
         "  --redirect-to URL         answer lookups with a redirect to URL\n"
         "  --proxy-through           lookup answers ask clients to proxy through the service URL\n"
         "  --ping-interval-ms MS     ping clients every MS milliseconds (default off)\n"
         "  --help                    this text\n"
         "Prints 'ready pulsar://HOST:PORT' once accepting; SIGTERM/SIGINT exit 0.\n");
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-')
    return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  enum {
    O_LISTEN = 1,
    O_PART,
    O_MAXMSG,
    O_RETAIN,
    O_NODEDUP,
    O_ADV,
    O_REDIR,
    O_PROXY,
    O_PING,
    O_HELP
  };
  static const struct option longopts[] = {{"listen", required_argument, NULL, O_LISTEN},
                                           {"partitions", required_argument, NULL, O_PART},
                                           {"max-message-size", required_argument, NULL, O_MAXMSG},
                                           {"retain-bytes", required_argument, NULL, O_RETAIN},
                                           {"no-dedup", no_argument, NULL, O_NODEDUP},
                                           {"advertised-url", required_argument, NULL, O_ADV},
                                           {"redirect-to", required_argument, NULL, O_REDIR},
                                           {"proxy-through", no_argument, NULL, O_PROXY},
                                           {"ping-interval-ms", required_argument, NULL, O_PING},
                                           {"help", no_argument, NULL, O_HELP},
                                           {NULL, 0, NULL, 0}};
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  pulsarc_tb_partitions *parts = NULL;
  size_t nparts = 0;
  char host[256] = "127.0.0.1";
  int c;
  uint64_t v;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case O_LISTEN: {
      const char *colon = strrchr(optarg, ':');
      if (!colon || parse_u64(colon + 1, &v) || v > 65535 ||
          (size_t)(colon - optarg) >= sizeof(host)) {
        fprintf(stderr, "pulsarc-testbroker: bad --listen '%s' (want HOST:PORT)\n", optarg);
        return 2;
      }
      memcpy(host, optarg, (size_t)(colon - optarg));
      host[colon - optarg] = '\0';
      if (host[0] == '[' && host[strlen(host) - 1] == ']') { /* [::1]:port */
        memmove(host, host + 1, strlen(host) - 2);
        host[strlen(host) - 2] = '\0';
      }
      o.port = (uint16_t)v;
      break;
    }
    case O_PART: {
      char *eq = strrchr(optarg, '=');
      if (!eq || eq == optarg || parse_u64(eq + 1, &v) || v > UINT32_MAX) {
        fprintf(stderr, "pulsarc-testbroker: bad --partitions '%s' (want TOPIC=N)\n", optarg);
        return 2;
      }
      pulsarc_tb_partitions *np = realloc(parts, (nparts + 1) * sizeof(*np));
      if (!np)
        return 1;
      parts = np;
      *eq = '\0';
      parts[nparts].topic = optarg;
      parts[nparts].partitions = (uint32_t)v;
      nparts++;
      break;
    }
    case O_MAXMSG:
      if (parse_u64(optarg, &v) || v == 0 || v > 1024u * 1024 * 1024) {
        fprintf(stderr, "pulsarc-testbroker: bad --max-message-size '%s'\n", optarg);
        return 2;
      }
      o.max_message_size = (uint32_t)v;
      break;
    case O_RETAIN:
      if (parse_u64(optarg, &v)) {
        fprintf(stderr, "pulsarc-testbroker: bad --retain-bytes '%s'\n", optarg);
        return 2;
      }
      o.retain_bytes = v;
      break;
    case O_NODEDUP:
      o.dedup = false;
      break;
    case O_ADV:
      o.advertised_url = optarg;
      break;
    case O_REDIR:
      o.redirect_to = optarg;
      break;
    case O_PROXY:
      o.proxy_through = true;
      break;
    case O_PING:
      if (parse_u64(optarg, &v) || v > UINT32_MAX) {
        fprintf(stderr, "pulsarc-testbroker: bad --ping-interval-ms '%s'\n", optarg);
        return 2;
      }
      o.ping_interval_ms = (uint32_t)v;
      break;
    case O_HELP:
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "pulsarc-testbroker: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  o.listen_host = host;
  o.partitions = parts;
  o.num_partitions = nparts;

  /* Block the signals before the broker thread exists, then read them from
   * a signalfd: no handler runs asynchronously. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  sigdelset(&set, SIGPIPE);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (sfd < 0) {
    perror("pulsarc-testbroker: signalfd");
    return 1;
  }

  pulsarc_tb *tb = NULL;
  int rc = pulsarc_tb_start(&o, &tb);
  free(parts);
  if (rc != 0) {
    fprintf(stderr, "pulsarc-testbroker: cannot start on %s:%u: %s\n", host, (unsigned)o.port,
            strerror(-rc));
    return 1;
  }
  printf("ready %s\n", pulsarc_tb_service_url(tb));
  fflush(stdout);

  struct signalfd_siginfo si;
  for (;;) {
    ssize_t n = read(sfd, &si, sizeof(si));
    if (n == (ssize_t)sizeof(si))
      break;
    if (n < 0 && errno != EINTR)
      break;
  }
  close(sfd);
  pulsarc_tb_stop(tb);
  pulsarc_tb_stats st;
  pulsarc_tb_get_stats(tb, &st);
  fprintf(stderr,
          "pulsarc-testbroker: stopped: %" PRIu64 " connections, %" PRIu64 " producers, %" PRIu64
          " entries, %" PRIu64 " messages, %" PRIu64 " duplicates, %" PRIu64
          " checksum errors, %" PRIu64 " protocol errors\n",
          st.connections, st.producers_created, st.entries, st.messages, st.duplicates,
          st.checksum_errors, st.protocol_errors);
  pulsarc_tb_free(tb);
  return 0;
}
