/* TLS with token authentication: a pulsar+ssl:// URL makes every broker
 * connection speak TLS, the trust file names the CAs that may sign the
 * brokers' certificates, and the token file is read again on every connect
 * and every refresh, so a rotated token is picked up without a restart.
 *
 *   tls_token SERVICE_URL TRUST_CERTS_FILE TOKEN_FILE [TOPIC]
 *
 * e.g. tls_token pulsar+ssl://broker.example.com:6651 ca.pem token.txt
 * Without arguments it prints this usage and exits 2. */
#include <pulsarc/pulsarc.h>

#include <stdio.h>

static int fail(const char *what, pulsarc_err_t err) {
  fprintf(stderr, "tls_token: %s: %s (%s): %s\n", what, pulsarc_err_str(err), pulsarc_err_name(err),
          pulsarc_last_error_text());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: tls_token SERVICE_URL TRUST_CERTS_FILE TOKEN_FILE [TOPIC]\n"
                    "  e.g. tls_token pulsar+ssl://broker.example.com:6651 ca.pem token.txt\n");
    return 2;
  }
  const char *url = argv[1];
  const char *topic = argc > 4 ? argv[4] : "example-tls";

  pulsarc_client_conf_t *conf = pulsarc_client_conf_new();
  if (!conf) {
    fprintf(stderr, "tls_token: out of memory\n");
    return 1;
  }
  char why[256];
  /* Each setter validates; why says what it refused (never the secret). */
  pulsarc_err_t err =
      pulsarc_client_conf_set(conf, "tls_trust_certs_file", argv[2], why, sizeof why);
  if (!err)
    err = pulsarc_client_conf_set(conf, "auth_token_file", argv[3], why, sizeof why);
  if (err) {
    fprintf(stderr, "tls_token: configuration: %s\n", why);
    pulsarc_client_conf_destroy(conf);
    return 1;
  }

  /* Loads the trust file and reads the token file once to check it:
   * PULSARC_ERR_TLS or PULSARC_ERR_AUTH_DATA here mean a bad file. */
  pulsarc_client_t *client = NULL;
  err = pulsarc_client_new(url, conf, &client);
  pulsarc_client_conf_destroy(conf); /* the client keeps its own copy */
  if (err)
    return fail("creating the client", err);

  /* The handshake and the token are checked here: an untrusted certificate
   * gives PULSARC_ERR_TLS, a refused token
   * PULSARC_ERR_BROKER_AUTHENTICATION, each with the reason in
   * pulsarc_last_error_text(). */
  pulsarc_producer_t *producer = NULL;
  err = pulsarc_producer_create(client, topic, NULL, &producer);
  if (err) {
    fail("creating the producer", err);
    pulsarc_client_destroy(client);
    return 1;
  }

  int rc = 0;
  pulsarc_msg_id_t id;
  err = pulsarc_producer_send(producer, "over TLS", 8, NULL, &id);
  if (err) {
    rc = fail("sending", err);
  } else {
    char s[64];
    pulsarc_msg_id_format(&id, s, sizeof s);
    printf("sent over TLS as %s\n", s);
  }

  err = pulsarc_producer_close(producer);
  if (err && !rc)
    rc = fail("closing the producer", err);
  pulsarc_producer_destroy(producer);
  err = pulsarc_client_close(client);
  if (err && !rc)
    rc = fail("closing the client", err);
  pulsarc_client_destroy(client);
  return rc;
}
