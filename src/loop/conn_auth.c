/* Authentication on a broker connection: the CONNECT command with fresh
 * credentials, and answers to AUTH_CHALLENGE (token refresh). Secrets pass
 * through buffers that are wiped after use and never reach a log line.
 * [loop] throughout. */
#include <openssl/crypto.h>

#include "loop/conn_internal.h"

/* Fresh credentials into *ad (empty when the method carries no data).
 * 0, or -1 after logging why (the reason never holds the secret) and
 * closing the conn with PULSARC_ERR_AUTH_DATA: a missing token is for a
 * human to fix, so it must not look like a connection failure worth
 * retrying. */
static int get_auth_data(pc_conn *c, pc_buf *ad) {
  if (c->auth.get_data == NULL)
    return 0;
  char why[512] = "";
  if (c->auth.get_data(c->auth.ctx, ad, why, sizeof why) != 0) {
    PC_ERROR(c->log, "conn %s: no credentials for auth method \"%s\": %s", c->peer, c->auth_method,
             why[0] ? why : "provider failed");
    pc_conn_close_detail(c, PULSARC_ERR_AUTH_DATA,
                         "no credentials for auth method \"%s\" to connect to %s: %s",
                         c->auth_method, c->peer, why[0] ? why : "provider failed");
    return -1;
  }
  return 0;
}

void pc_conn_wipe(pc_buf *b) {
  if (b->data != NULL && b->len > 0)
    OPENSSL_cleanse(b->data, b->len);
  pc_buf_free(b);
}

int pc_conn_queue_connect(pc_conn *c) {
  pc_buf ad = {0};
  if (get_auth_data(c, &ad) != 0) {
    pc_conn_wipe(&ad);
    return -1;
  }
  Pulsarc__FeatureFlags ff = PULSARC__FEATURE_FLAGS__INIT;
  ff.has_supports_auth_refresh = 1;
  ff.supports_auth_refresh = 1;
  Pulsarc__CommandConnect cc = PULSARC__COMMAND_CONNECT__INIT;
  cc.client_version = (char *)PC_CLIENT_VERSION;
  cc.auth_method_name = c->auth_method;
  if (c->auth.get_data != NULL) {
    cc.has_auth_data = 1;
    cc.auth_data.data = ad.data;
    cc.auth_data.len = ad.len;
  }
  cc.has_protocol_version = 1;
  cc.protocol_version = PC_PROTOCOL_VERSION;
  cc.proxy_to_broker_url = c->proxy_url;
  cc.feature_flags = &ff;
  Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
  bc.type = PULSARC__BASE_COMMAND__TYPE__CONNECT;
  bc.connect = &cc;
  int rc = pc_conn_queue_command(c, &bc, true);
  pc_conn_wipe(&ad);
  return rc;
}

/* The broker wants fresh credentials (token refresh, protocol >= 14; it
 * may also ask before CONNECTED): answer with data fetched again now (the
 * token file re-read, the provider called). The challenge's own content is
 * a sentinel and carries nothing to act on. */
void pc_conn_answer_auth_challenge(pc_conn *c) {
  pc_buf data = {0};
  if (get_auth_data(c, &data) != 0) {
    pc_conn_wipe(&data);
    return;
  }
  PC_INFO(c->log, "conn %s: broker asked for fresh credentials; answering (%s)", c->peer,
          c->auth_method);
  Pulsarc__AuthData ad = PULSARC__AUTH_DATA__INIT;
  ad.auth_method_name = c->auth_method;
  ad.has_auth_data = 1;
  ad.auth_data.data = data.data;
  ad.auth_data.len = data.len;
  Pulsarc__CommandAuthResponse ar = PULSARC__COMMAND_AUTH_RESPONSE__INIT;
  ar.client_version = (char *)PC_CLIENT_VERSION;
  ar.response = &ad;
  ar.has_protocol_version = 1;
  ar.protocol_version = PC_PROTOCOL_VERSION;
  Pulsarc__BaseCommand bc = PULSARC__BASE_COMMAND__INIT;
  bc.type = PULSARC__BASE_COMMAND__TYPE__AUTH_RESPONSE;
  bc.auth_response = &ar;
  int rc;
  if (c->state == ST_READY) {
    rc = pc_conn_send_command(c, &bc);
  } else if (c->connect_w == NULL) {
    /* Before CONNECTED only the head chunk may leave: make the answer it. */
    rc = pc_conn_queue_command(c, &bc, true);
  } else {
    rc = -1; /* cannot happen: the broker has not seen all of CONNECT yet */
  }
  pc_conn_wipe(&data);
  if (rc != 0)
    pc_conn_close(c, PULSARC_ERR_PROTOCOL);
}
