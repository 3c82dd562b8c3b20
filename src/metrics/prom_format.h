/* Prometheus text exposition (format 0.0.4) of a client's stats and of its
 * producers' snapshots: a pure function of its input (no clock, no lock,
 * no library state), so it is tested on synthetic stats. */
#ifndef PULSARC_METRICS_PROM_FORMAT_H
#define PULSARC_METRICS_PROM_FORMAT_H

#include <stddef.h>

#include "pulsarc/pulsarc.h"

/* Which families a series feeds. The library counts most things per
 * partition, but a send blocks or is refused before it is routed, and the
 * latency histogram and the failures by error are kept per producer
 * (partition stats leave them zero): a partitioned producer gives
 * PARTITION series for the first kind and one PRODUCER series for the
 * second, so no family holds a total beside its parts. */
typedef enum pc_prom_scope {
  PC_PROM_WHOLE = 0, /* a non-partitioned producer: every family */
  PC_PROM_PARTITION, /* one partition: the per-partition families */
  PC_PROM_PRODUCER,  /* a partitioned producer as a whole: the others */
} pc_prom_scope;

/* One producer series. */
typedef struct pc_prom_series {
  const char *topic;    /* the producer's topic, without -partition-N */
  const char *producer; /* its name; NULL or "" before the broker named it */
  int partition;        /* PC_PROM_PARTITION: the partition label; else ignored */
  pc_prom_scope scope;
  const pulsarc_producer_stats_t *stats;
} pc_prom_series;

/* Writes every family (# HELP and # TYPE once each, then its samples) to
 * fn in pieces of at most a few KiB, in order. client may be NULL (no
 * client families). Allocates nothing. */
void pc_prom_format(const pulsarc_client_stats_t *client, const pc_prom_series *series, size_t n,
                    pulsarc_text_fn fn, void *ctx);

#endif
