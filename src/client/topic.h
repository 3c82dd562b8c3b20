/* Topic names and service URLs: pure parsing, any thread, no allocation
 * beyond what the caller frees. */
#ifndef PULSARC_CLIENT_TOPIC_H
#define PULSARC_CLIENT_TOPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pulsarc/pulsarc.h"

#define PC_TOPIC_MAX 1024

/* Completes and validates a topic name into out (PC_TOPIC_MAX bytes):
 *   "t"                    -> "persistent://public/default/t"
 *   "tenant/ns/t"          -> "persistent://tenant/ns/t"
 *   "persistent://a/b/t", "non-persistent://a/b/t", legacy "persistent://a/cluster/b/t"
 * Rejects empty parts, unknown domains, whitespace and control characters,
 * tenant/namespace characters outside [A-Za-z0-9_=:.-]. */
pulsarc_err_t pc_topic_complete(const char *in, char *out, size_t out_len);

/* "<topic>-partition-<i>" into out. */
int pc_topic_partition_name(const char *topic, int partition, char *out, size_t out_len);

#define PC_MAX_SERVICE_HOSTS 16
typedef struct pc_host_port {
  char host[256]; /* without brackets for IPv6 literals */
  uint16_t port;
} pc_host_port;

typedef struct pc_service_url {
  bool tls;
  int count;
  pc_host_port hosts[PC_MAX_SERVICE_HOSTS];
} pc_service_url;

/* Parses "pulsar://h1:p1[,h2:p2...]" or "pulsar+ssl://..."; ports default to
 * 6650 / 6651; IPv6 literals in brackets. */
pulsarc_err_t pc_service_url_parse(const char *url, pc_service_url *out);

/* Parses one "host:port" or "pulsar://host:port" (as LOOKUP answers). */
pulsarc_err_t pc_host_port_parse(const char *s, uint16_t default_port, pc_host_port *out);

/* Java's String.hashCode over the UTF-16 code units of a UTF-8 key,
 * & 0x7fffffff: what the Java and Go clients route keys with by default. */
int32_t pc_java_string_hash(const char *key, size_t len);

/* Murmur3 x86 32-bit, seed 0, over the key's bytes, & 0x7fffffff: the
 * official clients' Murmur3_32Hash option. */
int32_t pc_murmur3_32_hash(const char *key, size_t len);

#endif
