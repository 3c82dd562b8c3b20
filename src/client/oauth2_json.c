/* The few fields OAuth2 needs from small JSON documents (discovery answer,
 * token answer, credentials file, auth params): a strict reader of one
 * top-level object that skips every other value whole. Any thread. */
#include "client/oauth2_json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct jcur {
  const char *p, *end;
} jcur;

#define PC_JSON_MAX_DEPTH 32

static void skip_ws(jcur *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char ch = p[i];
    v <<= 4;
    if (ch >= '0' && ch <= '9')
      v |= (unsigned)(ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      v |= (unsigned)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F')
      v |= (unsigned)(ch - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static int put_utf8(pc_buf *out, unsigned cp) {
  uint8_t b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (uint8_t)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (uint8_t)(0xC0 | (cp >> 6));
    b[1] = (uint8_t)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (uint8_t)(0xE0 | (cp >> 12));
    b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (uint8_t)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    b[0] = (uint8_t)(0xF0 | (cp >> 18));
    b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (uint8_t)(0x80 | (cp & 0x3F));
    n = 4;
  }
  return out == NULL ? 0 : pc_buf_append(out, b, n);
}

/* A string at c->p (on its opening quote), decoded into out (NULL: only
 * skipped). 0 or -1 (malformed or no memory). */
static int read_string(jcur *c, pc_buf *out) {
  if (c->p >= c->end || *c->p != '"')
    return -1;
  c->p++;
  while (c->p < c->end) {
    unsigned char ch = (unsigned char)*c->p++;
    if (ch == '"')
      return 0;
    if (ch < 0x20)
      return -1;
    if (ch != '\\') {
      if (out != NULL && pc_buf_append(out, &ch, 1) != 0)
        return -1;
      continue;
    }
    if (c->p >= c->end)
      return -1;
    char e = *c->p++;
    const char *simple = strchr("\"\\/bfnrt", e);
    if (e != '\0' && simple != NULL) {
      static const char repl[] = "\"\\/\b\f\n\r\t";
      char r = repl[simple - "\"\\/bfnrt"];
      if (out != NULL && pc_buf_append(out, &r, 1) != 0)
        return -1;
      continue;
    }
    if (e != 'u' || c->end - c->p < 4)
      return -1;
    unsigned cp;
    if (hex4(c->p, &cp) != 0)
      return -1;
    c->p += 4;
    if (cp >= 0xD800 && cp < 0xDC00) {
      unsigned lo;
      if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' || hex4(c->p + 2, &lo) != 0 ||
          lo < 0xDC00 || lo >= 0xE000)
        return -1;
      c->p += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp < 0xE000) {
      return -1;
    }
    if (put_utf8(out, cp) != 0)
      return -1;
  }
  return -1;
}

static int read_number(jcur *c, double *out) {
  char tmp[64];
  size_t n = 0;
  while (c->p < c->end && strchr("+-0123456789.eE", *c->p) != NULL && *c->p != '\0') {
    if (n + 1 >= sizeof tmp)
      return -1;
    tmp[n++] = *c->p++;
  }
  if (n == 0)
    return -1;
  tmp[n] = '\0';
  char *e;
  double v = strtod(tmp, &e);
  if (*e != '\0')
    return -1;
  if (out != NULL)
    *out = v;
  return 0;
}

static int skip_value(jcur *c, int depth);

static int skip_container(jcur *c, int depth, char close, bool keys) {
  if (depth >= PC_JSON_MAX_DEPTH)
    return -1;
  c->p++;
  skip_ws(c);
  if (c->p < c->end && *c->p == close) {
    c->p++;
    return 0;
  }
  for (;;) {
    skip_ws(c);
    if (keys) {
      if (read_string(c, NULL) != 0)
        return -1;
      skip_ws(c);
      if (c->p >= c->end || *c->p++ != ':')
        return -1;
    }
    if (skip_value(c, depth + 1) != 0)
      return -1;
    skip_ws(c);
    if (c->p >= c->end)
      return -1;
    char ch = *c->p++;
    if (ch == close)
      return 0;
    if (ch != ',')
      return -1;
  }
}

static int skip_literal(jcur *c, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
    return -1;
  c->p += n;
  return 0;
}

static int skip_value(jcur *c, int depth) {
  skip_ws(c);
  if (c->p >= c->end)
    return -1;
  switch (*c->p) {
  case '"':
    return read_string(c, NULL);
  case '{':
    return skip_container(c, depth, '}', true);
  case '[':
    return skip_container(c, depth, ']', false);
  case 't':
    return skip_literal(c, "true");
  case 'f':
    return skip_literal(c, "false");
  case 'n':
    return skip_literal(c, "null");
  default:
    return read_number(c, NULL);
  }
}

int pc_json_field(const char *js, size_t n, const char *key, pc_buf *str, double *num) {
  jcur c = {js, js + n};
  pc_buf k = {0};
  int found = PC_JSON_ABSENT;
  skip_ws(&c);
  if (c.p >= c.end || *c.p != '{')
    return -1;
  c.p++;
  skip_ws(&c);
  if (c.p < c.end && *c.p == '}') {
    c.p++;
    goto tail;
  }
  for (;;) {
    skip_ws(&c);
    pc_buf_reset(&k);
    if (read_string(&c, &k) != 0)
      goto bad;
    skip_ws(&c);
    if (c.p >= c.end || *c.p++ != ':')
      goto bad;
    skip_ws(&c);
    bool want = found == PC_JSON_ABSENT && k.len == strlen(key) &&
                (k.len == 0 || memcmp(k.data, key, k.len) == 0);
    if (want && c.p < c.end && *c.p == '"') {
      if (str != NULL)
        pc_buf_reset(str);
      if (read_string(&c, str) != 0)
        goto bad;
      found = PC_JSON_STRING;
    } else if (want && c.p < c.end && (*c.p == '-' || (*c.p >= '0' && *c.p <= '9'))) {
      if (read_number(&c, num) != 0)
        goto bad;
      found = PC_JSON_NUMBER;
    } else {
      if (skip_value(&c, 1) != 0)
        goto bad;
      if (want)
        found = PC_JSON_OTHER;
    }
    skip_ws(&c);
    if (c.p >= c.end)
      goto bad;
    char ch = *c.p++;
    if (ch == '}')
      break;
    if (ch != ',')
      goto bad;
  }
tail:
  skip_ws(&c);
  pc_buf_free(&k);
  return c.p == c.end ? found : -1;
bad:
  pc_buf_free(&k);
  return -1;
}

int pc_json_string(const char *js, size_t n, const char *key, char **out) {
  pc_buf s = {0};
  *out = NULL;
  int kind = pc_json_field(js, n, key, &s, NULL);
  if (kind == PC_JSON_STRING) {
    /* Embedded NULs would cut the value short where C strings are used. */
    if (s.len > 0 && memchr(s.data, '\0', s.len) != NULL)
      kind = -1;
    else if ((*out = malloc(s.len + 1)) == NULL)
      kind = -1;
    else {
      if (s.len > 0)
        memcpy(*out, s.data, s.len);
      (*out)[s.len] = '\0';
    }
  }
  if (s.data != NULL)
    memset(s.data, 0, s.len); /* it may have been the secret */
  pc_buf_free(&s);
  return kind;
}
