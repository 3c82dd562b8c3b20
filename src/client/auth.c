/* The client's credentials for its connections: the token (from a
 * provider, a file read again on every connect, or a string) and checks of
 * the configured token file. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/oauth2.h"
#include "common/err_detail.h"

/* Appends s[0..n) without surrounding whitespace (files end in newlines). */
static int append_trimmed(pc_buf *out, const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)s[0])) {
    s++;
    n--;
  }
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    n--;
  return pc_buf_append(out, s, n);
}

#define PC_TOKEN_FILE_MAX (1u << 20)

static int read_token_file(const char *path, pc_buf *out, char *why, size_t why_len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(why, why_len, "cannot open token file %s: %s", path, strerror(errno));
    return -1;
  }
  pc_buf raw = {0};
  char chunk[4096];
  size_t n;
  int rc = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (raw.len + n > PC_TOKEN_FILE_MAX || pc_buf_append(&raw, chunk, n) != 0) {
      snprintf(why, why_len, "token file %s is too large", path);
      rc = -1;
      break;
    }
  }
  if (rc == 0 && ferror(f)) {
    snprintf(why, why_len, "cannot read token file %s", path);
    rc = -1;
  }
  fclose(f);
  if (rc == 0 && append_trimmed(out, (const char *)raw.data, raw.len) != 0) {
    snprintf(why, why_len, "out of memory");
    rc = -1;
  }
  if (rc == 0 && out->len == 0) {
    snprintf(why, why_len, "token file %s is empty", path);
    rc = -1;
  }
  if (raw.data)
    memset(raw.data, 0, raw.len);
  pc_buf_free(&raw);
  memset(chunk, 0, sizeof chunk);
  return rc;
}

static int call_provider(const struct pulsarc_client_conf *cf, pc_buf *out, char *why,
                         size_t why_len) {
  size_t cap = 16 * 1024;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (pc_buf_reserve(out, cap) != 0) {
      snprintf(why, why_len, "out of memory");
      return -1;
    }
    int n = cf->token_provider((char *)out->data, cap, cf->token_provider_ctx);
    if (n < 0) {
      snprintf(why, why_len, "token provider failed (%d)", n);
      return -1;
    }
    if ((size_t)n <= cap) {
      out->len = (size_t)n;
      if (n == 0) {
        snprintf(why, why_len, "token provider returned an empty token");
        return -1;
      }
      return 0;
    }
    cap = (size_t)n;
  }
  snprintf(why, why_len, "token provider keeps asking for a larger buffer");
  return -1;
}

int pc_client_auth_data(void *client, pc_buf *out, char *why, size_t why_len) {
  const struct pulsarc_client_conf *cf = &((pulsarc_client_t *)client)->conf;
  pc_buf_reset(out);
  if (((pulsarc_client_t *)client)->oauth2 != NULL)
    return pc_oauth2_token(((pulsarc_client_t *)client)->oauth2, out, why, why_len);
  if (cf->token_provider != NULL)
    return call_provider(cf, out, why, why_len);
  if (cf->auth_token_file != NULL)
    return read_token_file(cf->auth_token_file, out, why, why_len);
  if (cf->auth_token != NULL) {
    if (pc_buf_append(out, cf->auth_token, strlen(cf->auth_token)) != 0) {
      snprintf(why, why_len, "out of memory");
      return -1;
    }
    return 0;
  }
  return 0; /* "tls": the certificate is the credential */
}

bool pc_client_has_token(const struct pulsarc_client_conf *cf) {
  return cf->token_provider != NULL || cf->auth_token_file != NULL || cf->auth_token != NULL ||
         pc_oauth2_configured(cf);
}

/* A token file is checked once here, so that a wrong path or an empty
 * file fails client creation instead of every connection attempt. It is
 * still read again on every connect (it may be rotated). */
pulsarc_err_t pc_client_check_token_file(const struct pulsarc_client_conf *cf) {
  if (cf->token_provider != NULL || cf->auth_token_file == NULL)
    return PULSARC_OK; /* the provider wins; it is only called on connect */
  pc_buf tok = {0};
  char why[600] = "";
  int rc = read_token_file(cf->auth_token_file, &tok, why, sizeof why);
  if (tok.data != NULL)
    memset(tok.data, 0, tok.len);
  pc_buf_free(&tok);
  if (rc == 0)
    return PULSARC_OK;
  PC_ERROR(&cf->logger, "auth_token_file: %s", why);
  pc_err_detail_set("auth_token_file: %s", why);
  return PULSARC_ERR_AUTH_DATA;
}
