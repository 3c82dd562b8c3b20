/* pulsarc_client_metrics: snapshots of the client and of every live
 * producer, copied under the client lock (stats reads never block), then
 * formatted and handed to the application's function with no library lock
 * held. A partitioned producer gives one series per partition for what is
 * counted per partition, and its whole-producer stats only for what is not
 * (latency, failures by error, blocked and refused sends): Prometheus users
 * sum() over series, and a total beside its parts would be counted twice.
 * Any thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "common/err_detail.h"
#include "metrics/prom_format.h"
#include "producer/producer.h"

typedef struct snap {
  pulsarc_producer_stats_t stats;
  int partition;
  pc_prom_scope scope;
  char topic[PC_TOPIC_MAX];
  char name[256];
} snap;

typedef struct collect {
  snap *v;
  size_t n, cap, need;
} collect;

/* [any, client->lock held] */
static void collect_member(pc_client_member *m, void *arg) {
  collect *k = arg;
  const pulsarc_producer_t *p =
      (const pulsarc_producer_t *)(void *)((const char *)m - offsetof(pulsarc_producer_t, member));
  int np = pulsarc_producer_num_partitions(p);
  k->need += (size_t)np + 1;
  const char *name = pulsarc_producer_name(p);
  /* i = -1: the producer as a whole. */
  for (int i = -1; i < np && k->n < k->cap; i++) {
    snap *s = &k->v[k->n];
    pulsarc_err_t err = i >= 0 ? pulsarc_producer_partition_stats(p, i, &s->stats, sizeof s->stats)
                               : pulsarc_producer_stats(p, &s->stats, sizeof s->stats);
    if (err != PULSARC_OK)
      continue;
    s->partition = i;
    s->scope = i >= 0 ? PC_PROM_PARTITION : np > 0 ? PC_PROM_PRODUCER : PC_PROM_WHOLE;
    snprintf(s->topic, sizeof s->topic, "%s", p->topic);
    snprintf(s->name, sizeof s->name, "%s", name != NULL ? name : "");
    k->n++;
  }
}

pulsarc_err_t pulsarc_client_metrics(pulsarc_client_t *client, pulsarc_text_fn fn, void *ctx) {
  if (client == NULL || fn == NULL) {
    pc_err_detail_set("pulsarc_client_metrics: %s is NULL", client == NULL ? "client" : "fn");
    return PULSARC_ERR_INVALID_ARGUMENT;
  }
  pulsarc_client_stats_t cs;
  pulsarc_err_t err = pulsarc_client_stats(client, &cs, sizeof cs);
  if (err != PULSARC_OK)
    return err;
  /* Count, allocate outside the lock, copy; producers (or partitions) that
   * appeared in between make another round, a few at most. */
  collect k = {0};
  pc_client_members_each(client, collect_member, &k);
  for (int round = 0; round < 8 && k.need > k.cap; round++) {
    free(k.v);
    k.cap = k.need + k.need / 8 + 4;
    k.v = malloc(k.cap * sizeof *k.v);
    if (k.v == NULL)
      return PULSARC_ERR_NO_MEMORY;
    k.n = k.need = 0;
    pc_client_members_each(client, collect_member, &k);
  }
  pc_prom_series *series = calloc(k.n ? k.n : 1, sizeof *series);
  if (series == NULL) {
    free(k.v);
    return PULSARC_ERR_NO_MEMORY;
  }
  for (size_t i = 0; i < k.n; i++)
    series[i] = (pc_prom_series){.topic = k.v[i].topic,
                                 .producer = k.v[i].name,
                                 .partition = k.v[i].partition,
                                 .scope = k.v[i].scope,
                                 .stats = &k.v[i].stats};
  pc_prom_format(&cs, series, k.n, fn, ctx);
  free(series);
  free(k.v);
  return PULSARC_OK;
}
