/* runtime: a loaded configuration with its rules, ready for the workers.
 *
 * The daemon keeps one current runtime; a reload that loads cleanly
 * publishes a new one.  Worker threads take a reference for each unit of
 * work (a batch, a send round) and drop it afterwards, so a reload never
 * frees what a worker is using, and a worker sees the new rules from its
 * next batch on.  The derived settings borrow their strings from cfg.
 */
#ifndef SEUTUDESK_RUNTIME_H
#define SEUTUDESK_RUNTIME_H

#include "intake.h"
#include "outbox.h"
#include "smtp.h"

struct config;
struct classify_rules;

struct runtime {
	struct config *cfg;
	struct classify_rules *rules;
	unsigned generation; /* 1, 2, ...: one more for each published runtime */
	struct intake_settings intake;
	struct outbox_settings outbox;
	struct smtp_settings smtp;
	const char *own_addresses[2]; /* loop protection: our From and bounce address */
};

/* Loads the config at path and the rules it names and derives the
 * settings; NULL with *error_r set to everything that was wrong. */
struct runtime *runtime_load(const char *path, char **error_r) __attribute__((warn_unused_result));

/* Makes rt the current runtime (taking over the caller's reference) and
 * drops the daemon's reference to the previous one; NULL clears it. */
void runtime_publish(struct runtime *rt);
/* A new reference to the current runtime (NULL before the first publish). */
struct runtime *runtime_current(void);
/* Drops a reference; the last one frees the runtime.  Sets *rt to NULL. */
void runtime_unref(struct runtime **rt);

#endif
