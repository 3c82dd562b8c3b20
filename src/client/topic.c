/* Topic names and service URLs. Pure functions; any thread. */
#include "client/topic.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_char_ok(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == '=' || c == ':' || c == '.' || c == '-';
}

/* Tenant, namespace and cluster parts: non-empty, restricted characters. */
static bool part_ok(const char *s, size_t n) {
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!name_char_ok(s[i]))
      return false;
  return true;
}

/* The local topic name: any printable character except whitespace. */
static bool local_ok(const char *s) {
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if ((unsigned char)*s <= ' ' || *s == 0x7f)
      return false;
  return true;
}

pulsarc_err_t pc_topic_complete(const char *in, char *out, size_t out_len) {
  if (in == NULL || out == NULL || out_len == 0)
    return PULSARC_ERR_INVALID_ARGUMENT;
  const char *domain = "persistent";
  const char *rest = in;
  const char *sep = strstr(in, "://");
  if (sep != NULL) {
    size_t dn = (size_t)(sep - in);
    if (dn == 10 && strncmp(in, "persistent", 10) == 0)
      domain = "persistent";
    else if (dn == 14 && strncmp(in, "non-persistent", 14) == 0)
      domain = "non-persistent";
    else
      return PULSARC_ERR_INVALID_TOPIC;
    rest = sep + 3;
  }
  /* Split rest into at most 4 leading parts; the local name may not hold
   * further slashes in the short forms. */
  const char *parts[4];
  size_t lens[4];
  int n = 0;
  const char *p = rest;
  while (n < 4) {
    const char *slash = strchr(p, '/');
    parts[n] = p;
    if (slash == NULL) {
      lens[n++] = strlen(p);
      p = NULL;
      break;
    }
    lens[n++] = (size_t)(slash - p);
    p = slash + 1;
  }
  if (p != NULL) /* more than 4 parts */
    return PULSARC_ERR_INVALID_TOPIC;
  int written;
  if (sep == NULL) {
    if (n == 1) {
      if (!local_ok(parts[0]))
        return PULSARC_ERR_INVALID_TOPIC;
      written = snprintf(out, out_len, "persistent://public/default/%s", parts[0]);
    } else if (n == 3) {
      if (!part_ok(parts[0], lens[0]) || !part_ok(parts[1], lens[1]) || !local_ok(parts[2]))
        return PULSARC_ERR_INVALID_TOPIC;
      written = snprintf(out, out_len, "persistent://%s", rest);
    } else {
      return PULSARC_ERR_INVALID_TOPIC;
    }
  } else {
    if (n != 3 && n != 4)
      return PULSARC_ERR_INVALID_TOPIC;
    for (int i = 0; i < n - 1; i++)
      if (!part_ok(parts[i], lens[i]))
        return PULSARC_ERR_INVALID_TOPIC;
    if (!local_ok(parts[n - 1]))
      return PULSARC_ERR_INVALID_TOPIC;
    written = snprintf(out, out_len, "%s://%s", domain, rest);
  }
  if (written < 0 || (size_t)written >= out_len)
    return PULSARC_ERR_INVALID_TOPIC;
  return PULSARC_OK;
}

int pc_topic_partition_name(const char *topic, int partition, char *out, size_t out_len) {
  int n = snprintf(out, out_len, "%s-partition-%d", topic, partition);
  return (n < 0 || (size_t)n >= out_len) ? -1 : 0;
}

pulsarc_err_t pc_host_port_parse(const char *s, uint16_t default_port, pc_host_port *out) {
  const char *scheme = strstr(s, "://");
  if (scheme != NULL)
    s = scheme + 3;
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == '/')
    n--;
  if (n == 0)
    return PULSARC_ERR_INVALID_URL;
  const char *host = s, *port = NULL;
  size_t host_len;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (close == NULL)
      return PULSARC_ERR_INVALID_URL;
    host = s + 1;
    host_len = (size_t)(close - host);
    if ((size_t)(close + 1 - s) < n) {
      if (close[1] != ':')
        return PULSARC_ERR_INVALID_URL;
      port = close + 2;
    }
  } else {
    const char *colon = memchr(s, ':', n);
    host_len = colon ? (size_t)(colon - s) : n;
    if (colon)
      port = colon + 1;
  }
  if (host_len == 0 || host_len >= sizeof out->host)
    return PULSARC_ERR_INVALID_URL;
  memcpy(out->host, host, host_len);
  out->host[host_len] = '\0';
  for (size_t i = 0; i < host_len; i++)
    if ((unsigned char)out->host[i] <= ' ' || out->host[i] == '/')
      return PULSARC_ERR_INVALID_URL;
  out->port = default_port;
  if (port != NULL) {
    size_t plen = (size_t)(s + n - port);
    if (plen == 0 || plen > 5)
      return PULSARC_ERR_INVALID_URL;
    unsigned long v = 0;
    for (size_t i = 0; i < plen; i++) {
      if (!isdigit((unsigned char)port[i]))
        return PULSARC_ERR_INVALID_URL;
      v = v * 10 + (unsigned long)(port[i] - '0');
    }
    if (v == 0 || v > 65535)
      return PULSARC_ERR_INVALID_URL;
    out->port = (uint16_t)v;
  }
  return PULSARC_OK;
}

pulsarc_err_t pc_service_url_parse(const char *url, pc_service_url *out) {
  if (url == NULL || out == NULL)
    return PULSARC_ERR_INVALID_ARGUMENT;
  memset(out, 0, sizeof *out);
  const char *rest;
  if (strncmp(url, "pulsar://", 9) == 0) {
    rest = url + 9;
  } else if (strncmp(url, "pulsar+ssl://", 13) == 0) {
    rest = url + 13;
    out->tls = true;
  } else {
    return PULSARC_ERR_INVALID_URL;
  }
  uint16_t def = out->tls ? 6651 : 6650;
  char item[300];
  while (*rest) {
    const char *comma = strchr(rest, ',');
    size_t n = comma ? (size_t)(comma - rest) : strlen(rest);
    if (n == 0 || n >= sizeof item || out->count == PC_MAX_SERVICE_HOSTS)
      return PULSARC_ERR_INVALID_URL;
    memcpy(item, rest, n);
    item[n] = '\0';
    if (strstr(item, "://") != NULL)
      return PULSARC_ERR_INVALID_URL;
    pulsarc_err_t e = pc_host_port_parse(item, def, &out->hosts[out->count]);
    if (e != PULSARC_OK)
      return e;
    out->count++;
    rest += n;
    if (*rest == ',' && *++rest == '\0')
      return PULSARC_ERR_INVALID_URL; /* trailing comma: an empty host */
  }
  return out->count > 0 ? PULSARC_OK : PULSARC_ERR_INVALID_URL;
}

int32_t pc_java_string_hash(const char *key, size_t len) {
  /* Decode UTF-8 to code points and hash UTF-16 code units like Java. Bytes
   * that are not valid UTF-8 count as U+FFFD, as Java's decoder would. */
  uint32_t h = 0;
  const unsigned char *s = (const unsigned char *)key;
  size_t i = 0;
  while (i < len) {
    uint32_t cp;
    unsigned c = s[i];
    size_t need;
    if (c < 0x80) {
      cp = c;
      need = 0;
    } else if ((c & 0xe0) == 0xc0) {
      cp = c & 0x1f;
      need = 1;
    } else if ((c & 0xf0) == 0xe0) {
      cp = c & 0x0f;
      need = 2;
    } else if ((c & 0xf8) == 0xf0) {
      cp = c & 0x07;
      need = 3;
    } else {
      cp = 0xfffd;
      need = 0;
    }
    i++;
    for (size_t k = 0; k < need; k++) {
      if (i >= len || (s[i] & 0xc0) != 0x80) {
        cp = 0xfffd;
        break;
      }
      cp = (cp << 6) | (s[i] & 0x3f);
      i++;
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      h = 31 * h + (0xd800 + (cp >> 10));
      h = 31 * h + (0xdc00 + (cp & 0x3ff));
    } else {
      h = 31 * h + cp;
    }
  }
  return (int32_t)(h & 0x7fffffff);
}

int32_t pc_murmur3_32_hash(const char *key, size_t len) {
  const uint8_t *d = (const uint8_t *)key;
  const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
  uint32_t h = 0;
  size_t nblocks = len / 4;
  for (size_t i = 0; i < nblocks; i++) {
    uint32_t k = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 | (uint32_t)d[4 * i + 2] << 16 |
                 (uint32_t)d[4 * i + 3] << 24;
    k *= c1;
    k = (k << 15) | (k >> 17);
    k *= c2;
    h ^= k;
    h = (h << 13) | (h >> 19);
    h = h * 5 + 0xe6546b64;
  }
  const uint8_t *tail = d + nblocks * 4;
  uint32_t k = 0;
  switch (len & 3) {
  case 3:
    k ^= (uint32_t)tail[2] << 16; /* fall through */
  case 2:
    k ^= (uint32_t)tail[1] << 8; /* fall through */
  case 1:
    k ^= tail[0];
    k *= c1;
    k = (k << 15) | (k >> 17);
    k *= c2;
    h ^= k;
  }
  h ^= (uint32_t)len;
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  h ^= h >> 16;
  return (int32_t)(h & 0x7fffffff);
}
