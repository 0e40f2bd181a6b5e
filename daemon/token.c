/* token: see token.h. */
#include "token.h"

#include "log.h"

#include <stdlib.h>
#include <time.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum oauth2_status token_get(struct oauth2 *o, const char *who, const char *url,
                             const char **token_r, char **why_r)
{
	long long t0 = now_ms();
	unsigned long before = oauth2_fetches(o);
	enum oauth2_status st = oauth2_token(o, t0, token_r, why_r);

	if (st == OAUTH2_KEPT) {
		log_warn("%s event=oauth2_renewal_failed retry_in_ms=%lld: %s; the token in hand "
		         "is still valid",
		         who, oauth2_refresh_at(o) - t0, *why_r ? *why_r : "out of memory");
		free(*why_r);
		*why_r = NULL;
	} else if (st == OAUTH2_OK && oauth2_fetches(o) != before) {
		log_info("%s event=oauth2_token token_url=%s renew_in_s=%lld ms=%lld", who, url,
		         (oauth2_refresh_at(o) - t0) / 1000, now_ms() - t0);
	}
	return st;
}
