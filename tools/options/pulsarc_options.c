/* Prints the client and producer option tables as one JSON object:
 * {"client": [...], "producer": [...]}, one object per option with its key,
 * README section, type, flags, bounds, accepted names, default and doc. */
#include <inttypes.h>
#include <stdio.h>

#include "conf/options.h"

static void json_str(const char *s) {
  if (s == NULL) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      printf("\\%c", *p);
    else if (*p < 0x20)
      printf("\\u%04x", *p);
    else
      putchar(*p); /* UTF-8 passes through */
  }
  putchar('"');
}

static const char *type_name(pc_opt_type t) {
  switch (t) {
  case PC_OPT_UINT:
    return "uint";
  case PC_OPT_BOOL:
    return "bool";
  case PC_OPT_ENUM:
    return "enum";
  case PC_OPT_STR:
    return "string";
  case PC_OPT_BYTES:
    return "bytes";
  case PC_OPT_KV:
    return "key=value";
  }
  return "?";
}

static void table(bool producer) {
  static const struct {
    unsigned bit;
    const char *name;
  } flags[] = {{PC_OPT_SECRET, "secret"},     {PC_OPT_EMPTY_CLEARS, "empty_clears"},
               {PC_OPT_NONEMPTY, "nonempty"}, {PC_OPT_ONE_LINE, "one_line"},
               {PC_OPT_HAS_FLAG, "has_flag"}, {PC_OPT_ENV, "env"}};
  size_t n;
  const pc_opt *t = pc_conf_options(producer, &n);
  printf("\"%s\": [", producer ? "producer" : "client");
  for (size_t i = 0; i < n; i++) {
    const pc_opt *o = &t[i];
    printf("%s\n {\"key\": ", i ? "," : "");
    json_str(o->key);
    printf(", \"section\": ");
    json_str(o->section);
    printf(", \"type\": \"%s\", \"flags\": [", type_name(o->type));
    int first = 1;
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
      if (o->flags & flags[f].bit) {
        printf("%s\"%s\"", first ? "" : ", ", flags[f].name);
        first = 0;
      }
    printf("], \"min\": %" PRIu64 ", \"max\": %" PRIu64 ", \"names\": [", o->min, o->max);
    for (const pc_opt_name *nm = o->names; nm != NULL && nm->name != NULL; nm++) {
      printf("%s", nm == o->names ? "" : ", ");
      json_str(nm->name);
    }
    printf("], \"default\": ");
    json_str(o->def);
    printf(", \"default_doc\": ");
    json_str(o->def_doc);
    printf(", \"doc\": ");
    json_str(o->doc);
    putchar('}');
  }
  printf("]");
}

int main(void) {
  printf("{");
  table(false);
  printf(",\n");
  table(true);
  printf("}\n");
  return ferror(stdout) ? 1 : 0;
}
