/* The option table: one entry per key of pulsarc_client_conf_set and
 * pulsarc_producer_conf_set. It drives set, get, dump and the defaults, and
 * tools/gen-options-doc.py renders README.md's option tables and
 * docs/options.md from it (through pulsarc-options), so every option is
 * described in exactly one place: src/conf/options.c. */
#ifndef PULSARC_CONF_OPTIONS_H
#define PULSARC_CONF_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pulsarc/pulsarc.h"

typedef enum pc_opt_type {
  PC_OPT_UINT,  /* decimal in min..max; an unsigned field of `size` bytes */
  PC_OPT_BOOL,  /* true/false, 1/0, yes/no, on/off (any case) */
  PC_OPT_ENUM,  /* one of `names` (any case); an int-sized field */
  PC_OPT_STR,   /* char * owned by the conf */
  PC_OPT_BYTES, /* uint8_t * owned by the conf, its length a size_t at aux_offset */
  PC_OPT_KV     /* "key=value" appended to the pc_kv_list at offset */
} pc_opt_type;

enum {
  PC_OPT_SECRET = 1u << 0,       /* wiped when replaced; get and dump show "***" */
  PC_OPT_EMPTY_CLEARS = 1u << 1, /* "" sets NULL (unset) */
  PC_OPT_NONEMPTY = 1u << 2,     /* "" is refused */
  PC_OPT_ONE_LINE = 1u << 3,     /* CR or LF refused, without echoing the value */
  PC_OPT_HAS_FLAG = 1u << 4,     /* a bool at aux_offset says the value was set */
  PC_OPT_ENV = 1u << 5           /* the default can come from an environment variable */
};

typedef struct pc_opt_name {
  const char *name;
  int value;
} pc_opt_name;

typedef struct pc_opt {
  const char *key;
  const char *section; /* the README table: "client", "tls" or "producer" */
  pc_opt_type type;
  unsigned flags;
  size_t offset;     /* of the field in the conf struct */
  size_t aux_offset; /* PC_OPT_BYTES length, PC_OPT_HAS_FLAG presence */
  size_t size;       /* of the field */
  uint64_t min, max; /* PC_OPT_UINT bounds, inclusive */
  /* PC_OPT_ENUM: the accepted names, NULL-terminated; get spells a value
   * with the first name that has it. */
  const pc_opt_name *names;
  const char *def;     /* the default as get prints it; NULL: unset (get prints "") */
  const char *def_doc; /* the default as the docs say it, when def is NULL */
  const char *doc;     /* one line: what the option does */
} pc_opt;

/* The table for producer or client options, in documentation order. */
const pc_opt *pc_conf_options(bool producer, size_t *n);
/* Sets every option with a default to it (the conf zeroed first). */
void pc_conf_apply_defaults(bool producer, void *conf);

#endif
