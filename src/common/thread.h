/* Library threads. Any thread. */
#ifndef PULSARC_COMMON_THREAD_H
#define PULSARC_COMMON_THREAD_H

#include <pthread.h>

/* The stack of every thread the library starts (I/O threads, resolver
 * workers, the client destroy thread), set explicitly so behaviour does not
 * depend on `ulimit -s` (8 MiB on most Linux hosts, 128 KiB under musl).
 * The library itself needs far less: nothing of ours sizes a stack array by
 * configuration or input (src/ builds with -Wvla), and the whole
 * integration suite, TLS and the largest batch included, passes with
 * 32 KiB stacks. 1 MiB is for the application: its callbacks (send
 * completions, flush and create callbacks, the logger) run on the I/O
 * threads, and 1 MiB is what such code commonly gets elsewhere (the Windows
 * default, twice macOS's secondary threads). Only touched pages cost
 * memory. */
#ifndef PC_THREAD_STACK_SIZE /* a build may override it, e.g. to measure headroom */
#define PC_THREAD_STACK_SIZE (1024u * 1024u)
#endif

/* pthread_attr_init plus the stack size above. 0 or an errno value; the
 * caller destroys the attributes on success. */
static inline int pc_thread_attr_init(pthread_attr_t *attr) {
  int rc = pthread_attr_init(attr);
  if (rc != 0)
    return rc;
  rc = pthread_attr_setstacksize(attr, PC_THREAD_STACK_SIZE);
  if (rc != 0)
    pthread_attr_destroy(attr);
  return rc;
}

#endif
