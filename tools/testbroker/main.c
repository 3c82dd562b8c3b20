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

#include "tb_internal.h" /* tb_http_* */
#include "testbroker.h"

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: pulsarc-testbroker [options]\n"
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
      "  --http-port PORT          serve the admin entry/internalStats REST subset on\n"
      "                            127.0.0.1:PORT (0 = free port); 'http http://HOST:PORT'\n"
      "                            goes to stderr before the ready line\n"
      "  --http-listen HOST:PORT   the same on another address\n"
      "  --tls-cert FILE           serve TLS only (pulsar+ssl://) with this PEM certificate chain\n"
      "  --tls-key FILE            its PEM private key\n"
      "  --tls-ca FILE             require client certificates signed by these PEM CAs\n"
      "  --require-token TOKEN     CONNECT must carry auth \"token\" with TOKEN, else\n"
      "                            AuthenticationError and close (also on AUTH_RESPONSE)\n"
      "  --auth-challenge-ms MS    send AUTH_CHALLENGE to every client every MS milliseconds\n"
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
    O_HTTP_PORT,
    O_HTTP_LISTEN,
    O_TLS_CERT,
    O_TLS_KEY,
    O_TLS_CA,
    O_REQ_TOKEN,
    O_AUTH_CHALLENGE,
    O_HELP
  };
  static const struct option longopts[] = {
      {"listen", required_argument, NULL, O_LISTEN},
      {"partitions", required_argument, NULL, O_PART},
      {"max-message-size", required_argument, NULL, O_MAXMSG},
      {"retain-bytes", required_argument, NULL, O_RETAIN},
      {"no-dedup", no_argument, NULL, O_NODEDUP},
      {"advertised-url", required_argument, NULL, O_ADV},
      {"redirect-to", required_argument, NULL, O_REDIR},
      {"proxy-through", no_argument, NULL, O_PROXY},
      {"ping-interval-ms", required_argument, NULL, O_PING},
      {"http-port", required_argument, NULL, O_HTTP_PORT},
      {"http-listen", required_argument, NULL, O_HTTP_LISTEN},
      {"tls-cert", required_argument, NULL, O_TLS_CERT},
      {"tls-key", required_argument, NULL, O_TLS_KEY},
      {"tls-ca", required_argument, NULL, O_TLS_CA},
      {"require-token", required_argument, NULL, O_REQ_TOKEN},
      {"auth-challenge-ms", required_argument, NULL, O_AUTH_CHALLENGE},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0}};
  pulsarc_tb_opts o = pulsarc_tb_opts_default();
  pulsarc_tb_partitions *parts = NULL;
  size_t nparts = 0;
  char host[256] = "127.0.0.1";
  char http_host[256] = "127.0.0.1";
  int http_port = -1; /* -1: no HTTP endpoint */
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
    case O_HTTP_PORT:
      if (parse_u64(optarg, &v) || v > 65535) {
        fprintf(stderr, "pulsarc-testbroker: bad --http-port '%s'\n", optarg);
        return 2;
      }
      http_port = (int)v;
      break;
    case O_HTTP_LISTEN: {
      const char *colon = strrchr(optarg, ':');
      if (!colon || parse_u64(colon + 1, &v) || v > 65535 ||
          (size_t)(colon - optarg) >= sizeof(http_host)) {
        fprintf(stderr, "pulsarc-testbroker: bad --http-listen '%s' (want HOST:PORT)\n", optarg);
        return 2;
      }
      memcpy(http_host, optarg, (size_t)(colon - optarg));
      http_host[colon - optarg] = '\0';
      http_port = (int)v;
      break;
    }
    case O_TLS_CERT:
      o.tls_cert_file = optarg;
      break;
    case O_TLS_KEY:
      o.tls_key_file = optarg;
      break;
    case O_TLS_CA:
      o.tls_ca_file = optarg;
      break;
    case O_REQ_TOKEN:
      o.require_token = optarg;
      break;
    case O_AUTH_CHALLENGE:
      if (parse_u64(optarg, &v) || v == 0 || v > UINT32_MAX) {
        fprintf(stderr, "pulsarc-testbroker: bad --auth-challenge-ms '%s'\n", optarg);
        return 2;
      }
      o.auth_challenge_ms = (uint32_t)v;
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
  tb_http *http = NULL;
  if (http_port >= 0) {
    uint16_t bound = 0;
    rc = tb_http_start(tb, http_host, (uint16_t)http_port, &http, &bound);
    if (rc != 0) {
      fprintf(stderr, "pulsarc-testbroker: cannot start HTTP on %s:%d: %s\n", http_host, http_port,
              strerror(-rc));
      pulsarc_tb_free(tb);
      return 1;
    }
    /* Before the ready line, so whoever waits for that has this too. */
    fprintf(stderr, "http http://%s:%u\n", http_host, (unsigned)bound);
    fflush(stderr);
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
  tb_http_stop(http);
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
