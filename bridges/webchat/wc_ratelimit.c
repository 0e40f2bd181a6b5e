/* wc_ratelimit: token buckets in a chained hash table. */
#include "wc_ratelimit.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RL_SLOTS 4096u

struct bucket {
	struct bucket *next;
	double tokens;
	double at;
	char key[];
};

struct ratelimit {
	double rate; /* tokens a second */
	double burst;
	size_t max_keys;
	size_t nkeys;
	struct bucket *slot[RL_SLOTS];
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct ratelimit *ratelimit_new(double per_minute, double burst, size_t max_keys)
{
	struct ratelimit *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->rate = per_minute / 60.0;
	r->burst = burst < 1 ? 1 : burst;
	r->max_keys = max_keys;
	return r;
}

static void refill(const struct ratelimit *r, struct bucket *b, double now)
{
	if (now > b->at) {
		b->tokens = fmin(r->burst, b->tokens + (now - b->at) * r->rate);
		b->at = now;
	}
}

bool ratelimit_take(struct ratelimit *r, const char *key, double now, long *retry_after_r)
{
	struct bucket **head = &r->slot[hash(key) % RL_SLOTS];
	struct bucket *b;

	for (b = *head; b != NULL; b = b->next)
		if (strcmp(b->key, key) == 0)
			break;
	if (b == NULL) {
		size_t n = strlen(key) + 1;
		if (r->nkeys >= r->max_keys || (b = malloc(sizeof(*b) + n)) == NULL) {
			*retry_after_r = 60;
			return false;
		}
		memcpy(b->key, key, n);
		b->tokens = r->burst;
		b->at = now;
		b->next = *head;
		*head = b;
		r->nkeys++;
	}
	refill(r, b, now);
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return true;
	}
	double wait = r->rate > 0 ? (1 - b->tokens) / r->rate : 60;
	*retry_after_r = (long)ceil(wait);
	if (*retry_after_r < 1)
		*retry_after_r = 1;
	return false;
}

void ratelimit_sweep(struct ratelimit *r, double now)
{
	for (size_t i = 0; i < RL_SLOTS; i++) {
		struct bucket **p = &r->slot[i];
		while (*p != NULL) {
			struct bucket *b = *p;
			refill(r, b, now);
			if (b->tokens >= r->burst) {
				*p = b->next;
				free(b);
				r->nkeys--;
			} else {
				p = &b->next;
			}
		}
	}
}

size_t ratelimit_keys(const struct ratelimit *r) { return r->nkeys; }

void ratelimit_free(struct ratelimit *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < RL_SLOTS; i++) {
		struct bucket *b = r->slot[i];
		while (b != NULL) {
			struct bucket *next = b->next;
			free(b);
			b = next;
		}
	}
	free(r);
}
