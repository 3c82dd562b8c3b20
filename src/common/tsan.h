/* PC_TSAN is defined when building under ThreadSanitizer (gcc or clang).
 * ck's atomics are inline assembly that TSan cannot see, so the few places
 * that hand data between threads through ck use compiler atomics with the
 * same orderings instead under TSan; each says so where it switches. */
#ifndef PULSARC_COMMON_TSAN_H
#define PULSARC_COMMON_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define PC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PC_TSAN 1
#endif
#endif

#endif
