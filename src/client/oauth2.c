/* OAuth2 client credentials (the official clients' "client_credentials"
 * flow): OpenID discovery of the token endpoint, the grant, and a cached
 * access token that a refresher thread replaces before it expires.
 *
 * Why this shape: the I/O threads ask for credentials on every CONNECT and
 * AUTH_CHALLENGE through a synchronous callback, and must never wait for an
 * HTTP round trip. So the first token is fetched while pulsarc_client_new
 * runs (an application thread, which may block), and afterwards a thread of
 * the client's own refreshes it; the I/O threads only copy the cache. A
 * token endpoint that refuses the credentials fails pulsarc_client_new at
 * once, having been asked exactly once.
 *
 * HTTP is libcurl's: TLS-verified HTTPS, redirects, proxies and timeouts
 * are not code to own. It is loaded when OAuth2 is first used (dlopen of
 * libcurl.so.4), not linked: a program that does not use OAuth2 needs no
 * libcurl, and one linked fully statically (pkg-config --static) still
 * links, since Debian's libcurl.a needs libraries that exist only shared
 * (GSSAPI). The secret goes only into the request body; no log line or
 * error text carries it. */
#include "client/oauth2.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client/oauth2_json.h"
#include "common/clock.h"
#include "common/err_detail.h"
#include "common/thread.h"
#include "conf/conf.h"

#define PC_OAUTH2_BODY_MAX (256u * 1024u) /* answers are a few hundred bytes */
#define PC_OAUTH2_FILE_MAX (64u * 1024u)
#define PC_OAUTH2_DEFAULT_LIFETIME_S 3600.0 /* when the answer has no expires_in */
#define PC_OAUTH2_RETRY_MAX_NS (60ull * 1000000000ull)

struct pc_oauth2 {
  const pc_logger *log;
  char *issuer_url;
  char *token_endpoint;
  char *client_id;
  char *client_secret; /* wiped on stop */
  char *audience;
  char *scope;
  char *trust_file; /* NULL: the system store */
  bool allow_http;
  long connect_ms, timeout_ms;

  pthread_mutex_t mu;
  pthread_cond_t cv; /* CLOCK_MONOTONIC */
  pc_buf token;      /* mu */
  uint64_t expires_ns, refresh_ns;
  char last_error[256]; /* mu: the last refresh failure */
  bool have_thread;
  pthread_t thread;
  _Atomic bool stop; /* also read by curl's progress callback */
};

/* ------------------------------------------------------------ small tools */

static void wipe_buf(pc_buf *b) {
  if (b->data != NULL && b->len > 0)
    OPENSSL_cleanse(b->data, b->len);
  pc_buf_free(b);
}

static int dup_str(char **dst, const char *src) {
  free(*dst);
  *dst = NULL;
  return src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0;
}

static int read_file(const char *path, pc_buf *out, char *why, size_t len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(why, len, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  char chunk[4096];
  size_t n;
  int rc = 0;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (out->len + n > PC_OAUTH2_FILE_MAX || pc_buf_append(out, chunk, n) != 0) {
      snprintf(why, len, "%s is too large", path);
      rc = -1;
      break;
    }
  if (rc == 0 && ferror(f)) {
    snprintf(why, len, "cannot read %s", path);
    rc = -1;
  }
  fclose(f);
  OPENSSL_cleanse(chunk, sizeof chunk);
  return rc;
}

static bool url_allowed(const pc_oauth2 *o, const char *url) {
  return strncasecmp(url, "https://", 8) == 0 ||
         (o->allow_http && strncasecmp(url, "http://", 7) == 0);
}

/* ------------------------------------------------------------------- HTTP */

/* The libcurl functions used, found in the library at run time. */
static struct {
  CURLcode (*global_init)(long flags);
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
  CURLcode (*easy_perform)(CURL *h);
  CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
  const char *(*easy_strerror)(CURLcode rc);
  void (*easy_cleanup)(CURL *h);
  struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
  void (*slist_free_all)(struct curl_slist *l);
} cu;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static char curl_missing[160]; /* why libcurl could not be loaded */

static void curl_init(void) {
  /* The OpenSSL build first (Debian's libcurl4), then the GnuTLS one: the
   * same API. Never unloaded. */
  void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL)
    lib = dlopen("libcurl-gnutls.so.4", RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    snprintf(curl_missing, sizeof curl_missing,
             "OAuth2 needs libcurl at run time (libcurl.so.4, Debian package libcurl4): %.80s",
             dlerror());
    return;
  }
#define PC_CURL_SYM(field, name)                                                                   \
  if ((*(void **)&cu.field = dlsym(lib, name)) == NULL) {                                          \
    snprintf(curl_missing, sizeof curl_missing, "libcurl.so.4 lacks %s", name);                    \
    return;                                                                                        \
  }
  PC_CURL_SYM(global_init, "curl_global_init")
  PC_CURL_SYM(easy_init, "curl_easy_init")
  PC_CURL_SYM(easy_setopt, "curl_easy_setopt")
  PC_CURL_SYM(easy_perform, "curl_easy_perform")
  PC_CURL_SYM(easy_getinfo, "curl_easy_getinfo")
  PC_CURL_SYM(easy_strerror, "curl_easy_strerror")
  PC_CURL_SYM(easy_cleanup, "curl_easy_cleanup")
  PC_CURL_SYM(slist_append, "curl_slist_append")
  PC_CURL_SYM(slist_free_all, "curl_slist_free_all")
#undef PC_CURL_SYM
  curl_init_rc = cu.global_init(CURL_GLOBAL_DEFAULT);
  if (curl_init_rc != CURLE_OK)
    snprintf(curl_missing, sizeof curl_missing, "libcurl could not be initialised");
}

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  pc_buf *b = ud;
  size_t len = size * n;
  if (b->len + len > PC_OAUTH2_BODY_MAX || pc_buf_append(b, p, len) != 0)
    return 0; /* curl fails the transfer */
  return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  return atomic_load(&((pc_oauth2 *)ud)->stop) ? 1 : 0;
}

/* GET url (form NULL) or POST the form. Returns the HTTP status with the
 * body in *body, or -1 with why (transport failure). */
static long http_do(pc_oauth2 *o, const char *url, const pc_buf *form, pc_buf *body, char *why,
                    size_t len) {
  if (pthread_once(&curl_once, curl_init) != 0 || curl_init_rc != CURLE_OK) {
    snprintf(why, len, "%s", curl_missing[0] ? curl_missing : "libcurl could not be loaded");
    return -1;
  }
  CURL *h = cu.easy_init();
  if (h == NULL) {
    snprintf(why, len, "out of memory");
    return -1;
  }
  const char *protos = o->allow_http ? "http,https" : "https";
  char err[CURL_ERROR_SIZE] = "";
  struct curl_slist *hdr = cu.slist_append(NULL, "Accept: application/json");
  cu.easy_setopt(h, CURLOPT_URL, url);
  cu.easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos);
  cu.easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos);
  cu.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  cu.easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  cu.easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
  cu.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o->connect_ms);
  cu.easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
  cu.easy_setopt(h, CURLOPT_USERAGENT, "pulsarc");
  cu.easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  cu.easy_setopt(h, CURLOPT_ERRORBUFFER, err);
  cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  cu.easy_setopt(h, CURLOPT_WRITEDATA, body);
  cu.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  cu.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  cu.easy_setopt(h, CURLOPT_XFERINFODATA, o);
  if (o->trust_file != NULL)
    cu.easy_setopt(h, CURLOPT_CAINFO, o->trust_file);
  if (form != NULL) {
    cu.easy_setopt(h, CURLOPT_POST, 1L);
    cu.easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)form->data);
    cu.easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)form->len);
  }
  pc_buf_reset(body);
  CURLcode rc = cu.easy_perform(h);
  long status = -1;
  if (rc == CURLE_OK) {
    cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  } else {
    /* curl's words name the host and the failure, never the body. */
    snprintf(why, len, "%s", err[0] ? err : cu.easy_strerror(rc));
    size_t l = strlen(why);
    while (l > 0 && (why[l - 1] == '\n' || why[l - 1] == '\r'))
      why[--l] = '\0';
  }
  cu.slist_free_all(hdr);
  cu.easy_cleanup(h);
  return status;
}

/* -------------------------------------------------------- discovery, grant */

static int discover(pc_oauth2 *o, char *why, size_t len) {
  pc_buf url = {0}, body = {0};
  size_t n = strlen(o->issuer_url);
  while (n > 0 && o->issuer_url[n - 1] == '/')
    n--;
  static const char wk[] = "/.well-known/openid-configuration";
  int rc = -1;
  if (pc_buf_append(&url, o->issuer_url, n) != 0 || pc_buf_append(&url, wk, sizeof wk) != 0) {
    snprintf(why, len, "out of memory");
    goto out;
  }
  char net[200] = "";
  long st = http_do(o, (const char *)url.data, NULL, &body, net, sizeof net);
  if (st < 0) {
    snprintf(why, len, "OpenID discovery at %s failed: %s", (const char *)url.data, net);
    goto out;
  }
  if (st != 200) {
    snprintf(why, len, "OpenID discovery at %s answered HTTP %ld", (const char *)url.data, st);
    goto out;
  }
  char *ep = NULL;
  if (pc_json_string((const char *)body.data, body.len, "token_endpoint", &ep) != PC_JSON_STRING) {
    snprintf(why, len, "OpenID discovery at %s: the answer has no token_endpoint string",
             (const char *)url.data);
    free(ep);
    goto out;
  }
  if (!url_allowed(o, ep)) {
    snprintf(why, len, "OpenID discovery at %s: token endpoint %.160s is not https%s",
             (const char *)url.data, ep, o->allow_http ? " or http" : "");
    free(ep);
    goto out;
  }
  free(o->token_endpoint);
  o->token_endpoint = ep;
  rc = 0;
out:
  pc_buf_free(&url);
  pc_buf_free(&body);
  return rc;
}

/* Appends key=value to an application/x-www-form-urlencoded body, the
 * value percent-encoded (RFC 3986 unreserved characters kept). 0 or -1. */
static int form_add(pc_buf *f, const char *key, const char *value) {
  if (value == NULL)
    return 0;
  if ((f->len > 0 && pc_buf_append(f, "&", 1) != 0) || pc_buf_append(f, key, strlen(key)) != 0 ||
      pc_buf_append(f, "=", 1) != 0)
    return -1;
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *c = (const unsigned char *)value; *c != '\0'; c++) {
    bool keep = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                *c == '-' || *c == '.' || *c == '_' || *c == '~';
    char esc[3] = {'%', hex[*c >> 4], hex[*c & 15]};
    if ((keep ? pc_buf_append(f, c, 1) : pc_buf_append(f, esc, 3)) != 0)
      return -1;
  }
  return 0;
}

/* The server's own words on a refusal (`error`, `error_description`),
 * dropped if they happen to echo the secret. */
static void refusal_words(const pc_oauth2 *o, const pc_buf *body, char *out, size_t len) {
  char *e = NULL, *d = NULL;
  out[0] = '\0';
  if (body->len > 0) {
    (void)pc_json_string((const char *)body->data, body->len, "error", &e);
    (void)pc_json_string((const char *)body->data, body->len, "error_description", &d);
  }
  if (e != NULL && strstr(e, o->client_secret) == NULL)
    snprintf(out, len, ": %.80s", e);
  if (d != NULL && strstr(d, o->client_secret) == NULL) {
    size_t l = strlen(out);
    snprintf(out + l, len - l, "%s%.160s", l ? " (" : ": ", d);
    if (l)
      snprintf(out + strlen(out), len - strlen(out), ")");
  }
  pc_free_secret(e);
  pc_free_secret(d);
}

/* One client-credentials grant. PULSARC_OK with the token in *tok and its
 * lifetime in *life_s, else the error with why. */
static pulsarc_err_t grant(pc_oauth2 *o, pc_buf *tok, double *life_s, char *why, size_t len) {
  pc_buf form = {0}, body = {0};
  pulsarc_err_t err = PULSARC_ERR_AUTH_DATA;
  if (form_add(&form, "grant_type", "client_credentials") != 0 ||
      form_add(&form, "client_id", o->client_id) != 0 ||
      form_add(&form, "client_secret", o->client_secret) != 0 ||
      form_add(&form, "audience", o->audience) != 0 || form_add(&form, "scope", o->scope) != 0 ||
      pc_buf_append(&form, "", 1) != 0) {
    snprintf(why, len, "out of memory");
    err = PULSARC_ERR_NO_MEMORY;
    goto out;
  }
  form.len--; /* the NUL stays behind the body for curl's benefit */
  char net[200] = "";
  long st = http_do(o, o->token_endpoint, &form, &body, net, sizeof net);
  if (st < 0) {
    snprintf(why, len, "token endpoint %s: %s", o->token_endpoint, net);
    goto out;
  }
  if (st == 400 || st == 401 || st == 403) {
    char words[260];
    refusal_words(o, &body, words, sizeof words);
    snprintf(why, len, "token endpoint %s refused client_id \"%.80s\" (HTTP %ld%s)",
             o->token_endpoint, o->client_id, st, words);
    err = PULSARC_ERR_BROKER_AUTHENTICATION;
    goto out;
  }
  if (st != 200) {
    snprintf(why, len, "token endpoint %s answered HTTP %ld", o->token_endpoint, st);
    goto out;
  }
  double life = 0;
  int k = pc_json_field((const char *)body.data, body.len, "access_token", tok, NULL);
  if (k != PC_JSON_STRING || tok->len == 0) {
    snprintf(why, len, "token endpoint %s: the answer has no access_token string",
             o->token_endpoint);
    goto out;
  }
  k = pc_json_field((const char *)body.data, body.len, "expires_in", NULL, &life);
  if (k == PC_JSON_ABSENT)
    life = PC_OAUTH2_DEFAULT_LIFETIME_S;
  else if (k != PC_JSON_NUMBER || !(life > 0) || life > 1e8) {
    snprintf(why, len, "token endpoint %s: expires_in is not a positive number", o->token_endpoint);
    goto out;
  }
  *life_s = life;
  err = PULSARC_OK;
out:
  wipe_buf(&form);
  wipe_buf(&body); /* it held the token */
  if (err != PULSARC_OK)
    wipe_buf(tok);
  return err;
}

/* Refresh at 90% of the lifetime or 30 s before expiry, whichever is
 * earlier, but not before half of it has passed (short-lived tokens would
 * otherwise be fetched in a loop). */
static uint64_t refresh_after_ns(double life_s) {
  double at = life_s * 0.9;
  if (life_s - 30.0 < at)
    at = life_s - 30.0;
  if (at < life_s / 2)
    at = life_s / 2;
  return (uint64_t)(at * 1e9);
}

static void install(pc_oauth2 *o, pc_buf *tok, double life_s) {
  uint64_t now = pc_mono_ns();
  pthread_mutex_lock(&o->mu);
  pc_buf old = o->token;
  o->token = *tok;
  *tok = (pc_buf){0};
  o->expires_ns = now + (uint64_t)(life_s * 1e9);
  o->refresh_ns = now + refresh_after_ns(life_s);
  o->last_error[0] = '\0';
  pthread_mutex_unlock(&o->mu);
  wipe_buf(&old);
}

/* ---------------------------------------------------------------- refresher */

static void wait_until(pc_oauth2 *o, uint64_t when_ns) {
  struct timespec ts = {.tv_sec = (time_t)(when_ns / 1000000000ull),
                        .tv_nsec = (long)(when_ns % 1000000000ull)};
  pthread_cond_timedwait(&o->cv, &o->mu, &ts);
}

static void *refresher(void *arg) {
  pc_oauth2 *o = arg;
  unsigned failures = 0;
  pthread_mutex_lock(&o->mu);
  while (!atomic_load(&o->stop)) {
    if (pc_mono_ns() < o->refresh_ns) {
      wait_until(o, o->refresh_ns);
      continue;
    }
    pthread_mutex_unlock(&o->mu);
    pc_buf tok = {0};
    double life = 0;
    char why[512] = "";
    pulsarc_err_t err = grant(o, &tok, &life, why, sizeof why);
    if (err == PULSARC_OK) {
      install(o, &tok, life);
      failures = 0;
      PC_DEBUG(o->log, "oauth2: access token refreshed (lifetime %.0f s)", life);
      pthread_mutex_lock(&o->mu);
      continue;
    }
    if (atomic_load(&o->stop)) {
      pthread_mutex_lock(&o->mu);
      break;
    }
    /* Retried while the old token lasts and after: a refusal now may be a
     * rotated secret that is put back, an outage may end. */
    failures++;
    uint64_t backoff = 1000000000ull << (failures < 7 ? failures - 1 : 6); /* 1 s doubling */
    if (backoff > PC_OAUTH2_RETRY_MAX_NS)
      backoff = PC_OAUTH2_RETRY_MAX_NS;
    PC_WARN(o->log, "oauth2: token refresh failed (%s); retrying in %llu s", why,
            (unsigned long long)(backoff / 1000000000ull));
    pthread_mutex_lock(&o->mu);
    snprintf(o->last_error, sizeof o->last_error, "%s", why);
    o->refresh_ns = pc_mono_ns() + backoff;
  }
  pthread_mutex_unlock(&o->mu);
  return NULL;
}

/* ------------------------------------------------------- configuration */

bool pc_oauth2_configured(const struct pulsarc_client_conf *cf) {
  return cf->oauth2_credentials_file != NULL || cf->oauth2_params != NULL;
}

/* "data:[<type>][;base64],<data>" into out. */
static int decode_data_url(const char *url, pc_buf *out, char *why, size_t len) {
  const char *comma = strchr(url, ',');
  if (comma == NULL) {
    snprintf(why, len, "oauth2_params: private_key data: URL has no ','");
    return -1;
  }
  const char *d = comma + 1;
  size_t n = strlen(d);
  bool b64 = comma - url >= 7 && strncmp(comma - 7, ";base64", 7) == 0;
  if (!b64) {
    for (size_t i = 0; i < n; i++) {
      unsigned v;
      char ch = d[i];
      if (ch == '%' && i + 2 < n && sscanf(d + i + 1, "%2x", &v) == 1) {
        ch = (char)v;
        i += 2;
      }
      if (pc_buf_append(out, &ch, 1) != 0)
        return -1;
    }
    return 0;
  }
  if (pc_buf_reserve(out, n / 4 * 3 + 3) != 0)
    return -1;
  int m = n % 4 == 0 ? EVP_DecodeBlock(out->data, (const unsigned char *)d, (int)n) : -1;
  if (m < 0) {
    snprintf(why, len, "oauth2_params: private_key data: URL is not valid base64");
    return -1;
  }
  while (m > 0 && n > 0 && d[n - 1] == '=') { /* DecodeBlock counts the padding */
    m--;
    n--;
  }
  out->len = (size_t)m;
  return 0;
}

/* The auth-params JSON: its fields fill what the options left unset; the
 * credentials document it points at is loaded into creds. */
static int load_params(pc_oauth2 *o, const char *js, pc_buf *creds, char *why, size_t len) {
  size_t n = strlen(js);
  char *issuer = NULL, *key = NULL, *aud = NULL, *scope = NULL;
  int rc = -1;
  if (pc_json_field(js, n, "type", NULL, NULL) < 0) {
    snprintf(why, len, "oauth2_params is not a JSON object");
    return -1;
  }
  if (pc_json_string(js, n, "issuer_url", &issuer) != PC_JSON_STRING)
    (void)pc_json_string(js, n, "issuerUrl", &issuer);
  if (pc_json_string(js, n, "private_key", &key) != PC_JSON_STRING)
    (void)pc_json_string(js, n, "privateKey", &key);
  (void)pc_json_string(js, n, "audience", &aud);
  (void)pc_json_string(js, n, "scope", &scope);
  if ((o->issuer_url == NULL && dup_str(&o->issuer_url, issuer) != 0) ||
      (o->audience == NULL && dup_str(&o->audience, aud) != 0) ||
      (o->scope == NULL && dup_str(&o->scope, scope) != 0)) {
    snprintf(why, len, "out of memory");
    goto out;
  }
  if (creds->len == 0) {
    if (key == NULL) {
      snprintf(why, len, "oauth2_params: no private_key (and no oauth2_credentials_file)");
      goto out;
    }
    if (strncmp(key, "file://", 7) == 0) {
      if (read_file(key + 7, creds, why, len) != 0)
        goto out;
    } else if (strncmp(key, "data:", 5) == 0) {
      if (decode_data_url(key, creds, why, len) != 0)
        goto out;
    } else {
      snprintf(why, len, "oauth2_params: private_key must be a file:// or data: URL");
      goto out;
    }
  }
  rc = 0;
out:
  free(issuer);
  pc_free_secret(key);
  free(aud);
  free(scope);
  return rc;
}

static int load_config(pc_oauth2 *o, const struct pulsarc_client_conf *cf, char *why, size_t len) {
  pc_buf creds = {0};
  int rc = -1;
  if (dup_str(&o->issuer_url, cf->oauth2_issuer_url) != 0 ||
      dup_str(&o->audience, cf->oauth2_audience) != 0 ||
      dup_str(&o->scope, cf->oauth2_scope) != 0 ||
      dup_str(&o->trust_file, cf->tls_trust_certs_file) != 0) {
    snprintf(why, len, "out of memory");
    goto out;
  }
  if (cf->oauth2_credentials_file != NULL &&
      read_file(cf->oauth2_credentials_file, &creds, why, len) != 0)
    goto out;
  if (cf->oauth2_params != NULL && load_params(o, cf->oauth2_params, &creds, why, len) != 0)
    goto out;
  const char *js = (const char *)creds.data;
  if (pc_json_string(js, creds.len, "client_id", &o->client_id) != PC_JSON_STRING ||
      pc_json_string(js, creds.len, "client_secret", &o->client_secret) != PC_JSON_STRING ||
      o->client_id[0] == '\0' || o->client_secret[0] == '\0') {
    snprintf(why, len,
             "the OAuth2 credentials are not a JSON object with non-empty "
             "client_id and client_secret strings");
    goto out;
  }
  if (o->issuer_url == NULL)
    (void)pc_json_string(js, creds.len, "issuer_url", &o->issuer_url);
  if (o->issuer_url == NULL || o->issuer_url[0] == '\0') {
    snprintf(why, len,
             "no OAuth2 issuer URL (oauth2_issuer_url, or issuer_url in the "
             "credentials)");
    goto out;
  }
  if (!url_allowed(o, o->issuer_url)) {
    snprintf(why, len, "OAuth2 issuer URL %.200s is not https://%s", o->issuer_url,
             o->allow_http ? " or http://" : " (plain http needs oauth2_allow_http, tests only)");
    goto out;
  }
  rc = 0;
out:
  wipe_buf(&creds);
  return rc;
}

static void release(pc_oauth2 *o) {
  free(o->issuer_url);
  free(o->token_endpoint);
  free(o->client_id);
  pc_free_secret(o->client_secret);
  free(o->audience);
  free(o->scope);
  free(o->trust_file);
  wipe_buf(&o->token);
  pthread_cond_destroy(&o->cv);
  pthread_mutex_destroy(&o->mu);
  free(o);
}

pulsarc_err_t pc_oauth2_start(const struct pulsarc_client_conf *cf, const pc_logger *log,
                              pc_oauth2 **out) {
  *out = NULL;
  pc_oauth2 *o = calloc(1, sizeof *o);
  if (o == NULL)
    return PULSARC_ERR_NO_MEMORY;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&o->cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&o->mu, NULL);
  o->log = log;
  o->allow_http = cf->oauth2_allow_http;
  o->connect_ms = (long)cf->connect_timeout_ms;
  o->timeout_ms = (long)cf->operation_timeout_ms;
  char why[600] = "";
  pulsarc_err_t err = PULSARC_ERR_INVALID_ARGUMENT;
  if (load_config(o, cf, why, sizeof why) != 0)
    goto fail;
  if (o->allow_http)
    PC_WARN(log, "oauth2_allow_http is on: the OAuth2 secret may travel unencrypted");
  err = PULSARC_ERR_AUTH_DATA;
  if (discover(o, why, sizeof why) != 0)
    goto fail;
  pc_buf tok = {0};
  double life = 0;
  err = grant(o, &tok, &life, why, sizeof why);
  if (err != PULSARC_OK)
    goto fail;
  install(o, &tok, life);
  PC_INFO(log, "oauth2: access token for client_id \"%s\" from %s (lifetime %.0f s)", o->client_id,
          o->token_endpoint, life);
  pthread_attr_t a;
  if (pc_thread_attr_init(&a) != 0) {
    err = PULSARC_ERR_NO_MEMORY;
    snprintf(why, sizeof why, "cannot start the token refresher");
    goto fail;
  }
  int rc = pthread_create(&o->thread, &a, refresher, o);
  pthread_attr_destroy(&a);
  if (rc != 0) {
    err = PULSARC_ERR_NO_MEMORY;
    snprintf(why, sizeof why, "cannot start the token refresher: %s", strerror(rc));
    goto fail;
  }
  o->have_thread = true;
  *out = o;
  return PULSARC_OK;
fail:
  PC_ERROR(log, "oauth2: %s", why);
  pc_err_detail_set("oauth2: %s", why);
  release(o);
  return err;
}

int pc_oauth2_token(pc_oauth2 *o, pc_buf *out, char *why, size_t why_len) {
  pc_buf_reset(out);
  int rc = 0;
  pthread_mutex_lock(&o->mu);
  if (pc_mono_ns() >= o->expires_ns) {
    snprintf(why, why_len, "the OAuth2 access token expired and no refresh succeeded%s%s",
             o->last_error[0] ? ": " : "", o->last_error);
    rc = -1;
  } else if (pc_buf_append(out, o->token.data, o->token.len) != 0) {
    snprintf(why, why_len, "out of memory");
    rc = -1;
  }
  pthread_mutex_unlock(&o->mu);
  return rc;
}

void pc_oauth2_stop(pc_oauth2 *o) {
  if (o == NULL)
    return;
  pthread_mutex_lock(&o->mu);
  atomic_store(&o->stop, true);
  pthread_cond_broadcast(&o->cv);
  pthread_mutex_unlock(&o->mu);
  if (o->have_thread)
    pthread_join(o->thread, NULL);
  release(o);
}
