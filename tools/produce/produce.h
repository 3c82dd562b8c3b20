/* pulsarc-produce: what the command line (produce_opts.c) hands to the
 * sending half (produce.c). Public API only. */
#ifndef PULSARC_TOOLS_PRODUCE_H
#define PULSARC_TOOLS_PRODUCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* One -m TEXT or -f FILE, read whole. With --lines its buffer is split in
 * place: separators are overwritten by NULs that end the keys. */
typedef struct produce_src {
  char *data;
  size_t len;
  const char *origin; /* "-m #2" or the file name, for error messages */
  char label[32];
} produce_src;

/* One message to send: a view into its source's buffer. */
typedef struct produce_msg {
  const char *data;
  size_t len;
  const char *key; /* per-line key (--key-separator); NULL: --key's, if any */
  uint32_t src;    /* index into produce_opts.srcs */
  uint32_t line;   /* 1-based line within the source with --lines, else 0 */
} produce_msg;

typedef struct produce_opts {
  const char *url, *topic;
  produce_src *srcs;
  size_t nsrcs;
  produce_msg *msgs; /* the messages of one round, in input order */
  size_t nmsgs;
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

/* Parses the command line, reads every file and splits lines, before the
 * library is touched. -1: go on; otherwise the exit status (0 after --help,
 * 1 when a file cannot be read, 2 on usage errors) after a message. */
int produce_parse_args(int argc, char **argv, produce_opts *o);
void produce_opts_free(produce_opts *o);

#endif
