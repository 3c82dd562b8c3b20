/* OAuth2 client-credentials authentication: the token endpoint found by
 * OpenID discovery, the first access token fetched while the client is
 * created, and a refresher thread that replaces it before it expires. The
 * I/O threads only copy the cached token: no HTTP on a loop. */
#ifndef PULSARC_CLIENT_OAUTH2_H
#define PULSARC_CLIENT_OAUTH2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "conf/conf.h"

typedef struct pc_oauth2 pc_oauth2;

/* [any] Whether the configuration asks for OAuth2 (a credentials file or
 * the auth-params JSON). */
bool pc_oauth2_configured(const struct pulsarc_client_conf *cf);

/* [app] Reads the credentials, discovers the token endpoint, fetches the
 * first token (blocking, bounded by connect_timeout_ms and
 * operation_timeout_ms per request) and starts the refresher. log must
 * outlive the object. PULSARC_OK, or: INVALID_ARGUMENT (options), AUTH_DATA
 * (credentials unreadable, issuer or endpoint unreachable or answering
 * nonsense), BROKER_AUTHENTICATION (the token endpoint refused the client
 * credentials: asked exactly once, never retried), NO_MEMORY; the
 * per-thread error detail says why, never with the secret. */
pulsarc_err_t pc_oauth2_start(const struct pulsarc_client_conf *cf, const pc_logger *log,
                              pc_oauth2 **out);

/* [any, I/O threads included] Copies the current access token into out
 * (reset first): a memcpy under a mutex, never a request. -1 with why when
 * the token expired and no refresh succeeded since (why names the last
 * refresh error). */
int pc_oauth2_token(pc_oauth2 *o, pc_buf *out, char *why, size_t why_len);

/* [app] Stops the refresher (an HTTP request in progress is aborted) and
 * frees everything, the secret wiped. NULL is fine. */
void pc_oauth2_stop(pc_oauth2 *o);

#endif
