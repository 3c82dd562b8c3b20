/* pulsarc-produce: what the command line (produce_opts.c) hands to the
 * sending half (produce.c). Public API only. */
#ifndef PULSARC_TOOLS_PRODUCE_H
#define PULSARC_TOOLS_PRODUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* One -m TEXT or -f FILE. Without --lines a file is read whole into data;
 * with --lines a file is streamed from fd (opened before the library is
 * touched, so a missing file costs no connection) and reopened by path for
 * later -n rounds. */
typedef struct produce_src {
  char *data; /* -m's text, or the whole file without --lines */
  size_t len;
  const char *path;   /* -f's argument ("-" = stdin), NULL for -m */
  int fd;             /* --lines: the open file, -1 when none */
  const char *origin; /* "-m #2" or the file name, for error messages */
  char label[32];
} produce_src;

typedef struct produce_opts {
  const char *url, *topic;
  produce_src *srcs;
  size_t nsrcs;
  uint64_t repeat;
  bool lines;
  const char *key_sep;
  /* Message options every message gets. */
  const char *key, *okey;
  const char **props; /* "K=V" */
  size_t nprops;
  uint64_t evt;
  int64_t after, at;
  bool has_after, has_at;
  /* Producer options: library keys and values, flags first, then --conf,
   * applied in order (the last word wins); pflags name the flag for errors. */
  const char **pflags, **pkeys, **pvals;
  size_t npconf;
  /* Client options, the same way: security flags, then --conf client.*. */
  const char **ckeys, **cvals;
  size_t ncconf;
  char *schema; /* --schema-file's contents (NUL-free text) */
  double rate;  /* messages per second; 0 = unlimited */
  bool json;
  bool has_token, has_tls_files;
  char key_pw[1024];
  /* Allocations to release at exit. */
  char **owned;
  size_t nowned;
} produce_opts;

/* Parses the command line and opens (or, without --lines, reads) every
 * file, before the library is touched. -1: go on; otherwise the exit
 * status (0 after --help, 1 when a file cannot be read, 2 on usage errors),
 * after a message. */
int produce_parse_args(int argc, char **argv, produce_opts *o);
void produce_opts_free(produce_opts *o);

#endif
