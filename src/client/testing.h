/* Test-only switches that break the library on purpose, so that tests can
 * prove they would catch the bug (the chaos test must fail with each one).
 * Never set outside tests. Any thread; read on the I/O thread at resend. */
#ifndef PULSARC_CLIENT_TESTING_H
#define PULSARC_CLIENT_TESTING_H

#include <stdatomic.h>

enum {
  PC_TEST_NO_RESEND = 1u << 0,         /* after reconnect, do not resend pending */
  PC_TEST_RENUMBER_ON_RESEND = 1u << 1 /* resend with fresh sequence ids */
};

extern _Atomic unsigned pc_test_flags;

#endif
