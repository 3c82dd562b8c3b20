/* Command-line helpers shared by pulsarc-perf and pulsarc-produce. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pc_cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int pc_cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  if (!s || !*s)
    return -1;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int pc_cli_parse_secs(const char *s, double *out) {
  char *end;
  if (!s || !*s)
    return -1;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !(v >= 0) || v > 1e7)
    return -1;
  *out = v;
  return 0;
}

const char *const pc_cli_sec_keys[PC_CLI_NSEC] = {[PC_CLI_TLS_TRUST] = "tls_trust_certs_file",
                                                  [PC_CLI_TLS_CERT] = "tls_cert_file",
                                                  [PC_CLI_TLS_KEY] = "tls_key_file",
                                                  [PC_CLI_TLS_INSECURE] = "tls_allow_insecure",
                                                  [PC_CLI_TOKEN] = "auth_token",
                                                  [PC_CLI_TOKEN_FILE] = "auth_token_file",
                                                  [PC_CLI_TLS_NOHOST] = "tls_validate_hostname",
                                                  [PC_CLI_TLS_KEY_PW] = "tls_key_password",
                                                  [PC_CLI_OAUTH2_ISSUER] = "oauth2_issuer_url",
                                                  [PC_CLI_OAUTH2_CREDS] = "oauth2_credentials_file",
                                                  [PC_CLI_OAUTH2_AUDIENCE] = "oauth2_audience",
                                                  [PC_CLI_OAUTH2_SCOPE] = "oauth2_scope"};

const char *pc_cli_sec_value(int flag, const char *arg) {
  if (flag == PC_CLI_TLS_INSECURE)
    return "true";
  if (flag == PC_CLI_TLS_NOHOST)
    return "false";
  return arg;
}

bool pc_cli_sec_empty_token(int flag, const char *arg) {
  return (flag == PC_CLI_TOKEN || flag == PC_CLI_TOKEN_FILE) && arg != NULL && *arg == '\0';
}

void pc_cli_sec_usage(FILE *f, int indent, int desc) {
  static const char *const help[][2] = {
      {"--tls-trust-cert FILE", "PEM CA certificates to trust (pulsar+ssl:// URLs)\n"},
      {"--tls-cert FILE", "client certificate (PEM) for mutual TLS\n"},
      {"--tls-key FILE", "its private key (PEM)\n"},
      {"--tls-key-password-file FILE", "file holding the passphrase of an encrypted --tls-key\n"
                                       "(one trailing newline ignored; never prompted for)\n"},
      {"--tls-allow-insecure", "accept any broker certificate (tests only)\n"},
      {"--tls-no-hostname-check", "accept a broker certificate that does not name the host\n"
                                  "dialled (its chain is still verified)\n"},
      {"--token TOKEN", "authentication token (visible in ps: prefer --token-file)\n"},
      {"--token-file FILE", "file holding the token, read on every connect\n"},
      {"--oauth2-issuer-url URL",
       "OAuth2 issuer (https; its discovery names the token endpoint)\n"},
      {"--oauth2-credentials-file FILE", "OAuth2 client credentials JSON (client_id,\n"
                                         "client_secret[, issuer_url]); turns OAuth2 on\n"},
      {"--oauth2-audience AUDIENCE", "audience of the OAuth2 token request\n"},
      {"--oauth2-scope SCOPE", "scope of the OAuth2 token request\n"}};
  for (size_t i = 0; i < sizeof help / sizeof help[0]; i++) {
    int col = fprintf(f, "%*s%s", indent, "", help[i][0]);
    if (col >= desc) {
      fputc('\n', f);
      col = 0;
    }
    /* Continuation lines of a description start at the same column. */
    for (const char *line = help[i][1]; *line; col = 0) {
      const char *nl = strchr(line, '\n');
      fprintf(f, "%*s%.*s", desc - col, "", (int)(nl - line + 1), line);
      line = nl + 1;
    }
  }
}

int pc_cli_read_secret_file(const char *prog, const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
    return -1;
  }
  size_t n = fread(buf, 1, cap, f);
  int failed = ferror(f);
  fclose(f);
  if (failed || n == cap) {
    fprintf(stderr, "%s: cannot read %s%s\n", prog, path, failed ? "" : ": too long");
    return -1;
  }
  buf[n] = '\0';
  if (n > 0 && buf[n - 1] == '\n')
    buf[--n] = '\0';
  if (n > 0 && buf[n - 1] == '\r')
    buf[--n] = '\0';
  if (n == 0 || memchr(buf, '\0', n) != NULL) {
    fprintf(stderr, "%s: %s: %s\n", prog, path,
            n == 0 ? "the passphrase file is empty" : "holds a NUL byte");
    return -1;
  }
  return 0;
}

bool pc_cli_url_is_tls(const char *url) {
  return url != NULL && strncmp(url, "pulsar+ssl://", 13) == 0;
}

void pc_cli_warn_plaintext(const char *prog, const char *url, bool has_token, bool has_tls_files) {
  if (has_token)
    fprintf(stderr,
            "%s: warning: %s is plaintext: the token is sent unencrypted (use pulsar+ssl:// to "
            "protect it)\n",
            prog, url);
  if (has_tls_files)
    fprintf(stderr,
            "%s: warning: %s is plaintext: the TLS options are not used and nothing is "
            "encrypted (use pulsar+ssl://)\n",
            prog, url);
}
