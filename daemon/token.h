/* token: OAuth 2.0 access tokens for a worker thread (a mailbox's SASL
 * login, a sender's AUTH at the relay): adapters/oauth2's cache, with the
 * daemon's log lines about it.  Blocks for as long as oauth2_token() does:
 * worker threads only. */
#ifndef SEUTUDESK_TOKEN_H
#define SEUTUDESK_TOKEN_H

#include "oauth2.h"

/* oauth2_token() now.  who names the caller in the log ("mailbox=support",
 * "sender=1"), url the provider's token endpoint.  A new token is logged
 * (event=oauth2_token); OAUTH2_KEPT is logged as a warning
 * (event=oauth2_renewal_failed) and leaves *why_r NULL; OAUTH2_REFUSED and
 * OAUTH2_FAILED leave the reason in *why_r (malloc'd; NULL when out of
 * memory) for the caller, unlogged. */
enum oauth2_status token_get(struct oauth2 *o, const char *who, const char *url,
                             const char **token_r, char **why_r)
    __attribute__((warn_unused_result));

#endif
