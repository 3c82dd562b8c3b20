/* What pulsarc-perf and pulsarc-produce share on their command lines:
 * number parsing and the TLS / token / OAuth2 flags (option table, the client option
 * each sets, the key passphrase file, the plaintext warnings). Public API
 * only; messages name the program so each tool reads as itself. */
#ifndef PULSARC_TOOLS_COMMON_CLI_H
#define PULSARC_TOOLS_COMMON_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Decimal without sign, blanks or suffix, within [lo, hi]. 0, or -1 when s
 * is not such a number (the caller names the flag in its message). */
int pc_cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* Decimal with an optional sign, within [lo, hi]. 0 or -1. */
int pc_cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* Seconds as a decimal fraction, 0 to 1e7. 0 or -1. */
int pc_cli_parse_secs(const char *s, double *out);

/* The security flags, in the order of their long options. */
enum pc_cli_sec_flag {
  PC_CLI_TLS_TRUST,
  PC_CLI_TLS_CERT,
  PC_CLI_TLS_KEY,
  PC_CLI_TLS_INSECURE,
  PC_CLI_TOKEN,
  PC_CLI_TOKEN_FILE,
  PC_CLI_TLS_NOHOST,
  PC_CLI_TLS_KEY_PW,
  PC_CLI_OAUTH2_ISSUER,
  PC_CLI_OAUTH2_CREDS,
  PC_CLI_OAUTH2_AUDIENCE,
  PC_CLI_OAUTH2_SCOPE,
  PC_CLI_NSEC
};

/* getopt_long entries for the security flags; flag f returns base + f. */
#define PC_CLI_SEC_OPTIONS(base)                                                                   \
  {"tls-trust-cert", required_argument, NULL, (base) + PC_CLI_TLS_TRUST},                          \
      {"tls-cert", required_argument, NULL, (base) + PC_CLI_TLS_CERT},                             \
      {"tls-key", required_argument, NULL, (base) + PC_CLI_TLS_KEY},                               \
      {"tls-allow-insecure", no_argument, NULL, (base) + PC_CLI_TLS_INSECURE},                     \
      {"token", required_argument, NULL, (base) + PC_CLI_TOKEN},                                   \
      {"token-file", required_argument, NULL, (base) + PC_CLI_TOKEN_FILE},                         \
      {"tls-no-hostname-check", no_argument, NULL, (base) + PC_CLI_TLS_NOHOST},                    \
      {"tls-key-password-file", required_argument, NULL, (base) + PC_CLI_TLS_KEY_PW},              \
      {"oauth2-issuer-url", required_argument, NULL, (base) + PC_CLI_OAUTH2_ISSUER},               \
      {"oauth2-credentials-file", required_argument, NULL, (base) + PC_CLI_OAUTH2_CREDS},          \
      {"oauth2-audience", required_argument, NULL, (base) + PC_CLI_OAUTH2_AUDIENCE}, {             \
    "oauth2-scope", required_argument, NULL, (base) + PC_CLI_OAUTH2_SCOPE                          \
  }

/* The client option (pulsarc_client_conf_set key) each flag sets. */
extern const char *const pc_cli_sec_keys[PC_CLI_NSEC];

/* The value flag gives its option: arg, or a switch's fixed value. For
 * PC_CLI_TLS_KEY_PW arg is the file; the value is what
 * pc_cli_read_secret_file reads from it. */
const char *pc_cli_sec_value(int flag, const char *arg);

/* True when arg is an empty --token or --token-file: "" would clear the
 * option and connect without credentials, so it is a usage error. */
bool pc_cli_sec_empty_token(int flag, const char *arg);

/* Help lines for the security flags: the flag at column indent, its
 * description at column desc (on the next line when the flag is longer). */
void pc_cli_sec_usage(FILE *f, int indent, int desc);

/* Reads a key passphrase from path into buf (one trailing newline, or
 * CRLF, dropped). 0, or -1 after a message on stderr. The caller wipes buf. */
int pc_cli_read_secret_file(const char *prog, const char *path, char *buf, size_t cap);

/* True for a pulsar+ssl:// URL (NULL is not). */
bool pc_cli_url_is_tls(const char *url);

/* Over a plaintext URL (shown as url), warns that a token travels
 * unencrypted and that TLS files are not used. */
void pc_cli_warn_plaintext(const char *prog, const char *url, bool has_token, bool has_tls_files);

#endif
