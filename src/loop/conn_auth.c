/* Authentication on a broker connection: the CONNECT command with fresh
 * credentials, and answers to AUTH_CHALLENGE (token refresh). Secrets pass
 * through buffers that are wiped after use and never reach a log line.
 * [loop] throughout. */
#include <openssl/crypto.h>

#include "codec/commands.h"
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

int pc_conn_queue_connect(pc_conn *c) {
  pc_buf ad = {0};
  if (get_auth_data(c, &ad) != 0) {
    pc_conn_wipe(&ad);
    return -1;
  }
  pc_cmd_connect_args args = {.client_version = PC_CLIENT_VERSION,
                              .protocol_version = PC_PROTOCOL_VERSION,
                              .auth_method = c->auth_method,
                              .has_auth_data = c->auth.get_data != NULL,
                              .auth_data = ad.data,
                              .auth_data_len = ad.len,
                              .proxy_url = c->proxy_url};
  pc_cmd cmd;
  int rc = pc_conn_queue_command(c, pc_cmd_connect(&cmd, &args), true);
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
  pc_cmd cmd;
  Pulsarc__BaseCommand *bc = pc_cmd_auth_response(&cmd, PC_CLIENT_VERSION, PC_PROTOCOL_VERSION,
                                                  c->auth_method, data.data, data.len);
  int rc;
  if (c->state == ST_READY) {
    rc = pc_conn_send_command(c, bc);
  } else if (c->connect_w == NULL) {
    /* Before CONNECTED only the head chunk may leave: make the answer it. */
    rc = pc_conn_queue_command(c, bc, true);
  } else {
    rc = -1; /* cannot happen: the broker has not seen all of CONNECT yet */
  }
  pc_conn_wipe(&data);
  if (rc != 0)
    pc_conn_close(c, PULSARC_ERR_PROTOCOL);
}
