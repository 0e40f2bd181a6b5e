/* wc_ratelimit: token buckets by key (a visitor's address, a conversation).
 *
 * Each key holds up to `burst` tokens and gains `per_minute` a minute; a
 * request takes one.  Keys idle long enough to be full again are dropped by
 * ratelimit_sweep, so memory follows the active keys only, and a table at
 * its cap refuses new keys (fail closed) instead of growing.
 */
#ifndef SEUTUDESK_WC_RATELIMIT_H
#define SEUTUDESK_WC_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

struct ratelimit;

struct ratelimit *ratelimit_new(double per_minute, double burst, size_t max_keys)
    __attribute__((warn_unused_result));
/* Takes a token for KEY at time NOW (seconds); false when there is none,
 * with the whole seconds until there is one in *retry_after_r. */
bool ratelimit_take(struct ratelimit *r, const char *key, double now, long *retry_after_r)
    __attribute__((warn_unused_result));
/* Forgets the keys that are full again. */
void ratelimit_sweep(struct ratelimit *r, double now);
size_t ratelimit_keys(const struct ratelimit *r);
void ratelimit_free(struct ratelimit *r);

#endif
