#include "autoconfig.h"

#include "runtime.h"

#include "classify.h"
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct runtime_box {
	struct runtime rt; /* first: a struct runtime * is a struct runtime_box * */
	unsigned refs;     /* under lock */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct runtime_box *current;
static unsigned generations;

static void derive_settings(struct runtime *rt)
{
	const struct config *cfg = rt->cfg;

	config_smtp_settings(cfg, &rt->smtp);

	rt->own_addresses[0] = cfg->smtp.from_address;
	rt->own_addresses[1] = cfg->smtp.bounce_address;
	outbox_settings_default(&rt->outbox);
	rt->outbox.bounce_address = cfg->smtp.bounce_address;
	rt->outbox.own_addresses = rt->own_addresses;
	rt->outbox.nown = 2;
	rt->outbox.message_id_domain = cfg->intake.message_id_domain;
	rt->outbox.retry_min_s = cfg->outbox.retry_initial;
	rt->outbox.retry_max_s = cfg->outbox.retry_max;
	rt->outbox.give_up_s = cfg->outbox.give_up_after;
	rt->outbox.max_message_bytes = cfg->limits.max_message_size;
	/* The claim must outlive the slowest SMTP session the timeout allows. */
	unsigned worst = 12 * cfg->smtp.timeout + 120;
	if (rt->outbox.lease_s < worst)
		rt->outbox.lease_s = worst;

	intake_settings_default(&rt->intake);
	rt->intake.subject_tag = cfg->intake.subject_tag;
	rt->intake.reopen_window = cfg->intake.reopen_window;
	rt->intake.ack_limit = cfg->intake.ack_limit > 0 ? (unsigned)cfg->intake.ack_limit : 0;
	rt->intake.from_address = cfg->smtp.from_address;
	rt->intake.from_name = cfg->smtp.from_name ? cfg->smtp.from_name : "";
	rt->intake.message_id_domain = cfg->intake.message_id_domain;
	rt->intake.outbox = &rt->outbox;
	rt->intake.template_dir = cfg->intake.templates_dir;
	rt->intake.routes = cfg;
	rt->intake.online_window = cfg->api.online_window;
	config_mime_limits(cfg, &rt->intake.limits);
}

struct runtime *runtime_load(const char *path, char **error_r)
{
	struct config *cfg = config_load(path, error_r);
	if (cfg == NULL)
		return NULL;
	char *rules_error = NULL;
	struct classify_rules *rules = classify_rules_load(cfg->daemon.rules_dir, &rules_error);
	if (rules == NULL) {
		*error_r = rules_error;
		config_free(&cfg);
		return NULL;
	}
	struct runtime_box *box = calloc(1, sizeof(*box));
	if (box == NULL) {
		*error_r = strdup("out of memory");
		classify_rules_free(&rules);
		config_free(&cfg);
		return NULL;
	}
	box->refs = 1;
	box->rt.cfg = cfg;
	box->rt.rules = rules;
	derive_settings(&box->rt);
	if (!outbox_settings_check(&box->rt.outbox, &box->rt.smtp, error_r)) {
		struct runtime *rt = &box->rt;
		runtime_unref(&rt);
		return NULL;
	}
	return &box->rt;
}

void runtime_publish(struct runtime *rt)
{
	struct runtime *old;

	pthread_mutex_lock(&lock);
	if (rt != NULL)
		rt->generation = ++generations;
	old = current ? &current->rt : NULL;
	current = (struct runtime_box *)rt;
	pthread_mutex_unlock(&lock);
	runtime_unref(&old);
}

struct runtime *runtime_current(void)
{
	struct runtime *rt = NULL;

	pthread_mutex_lock(&lock);
	if (current != NULL) {
		current->refs++;
		rt = &current->rt;
	}
	pthread_mutex_unlock(&lock);
	return rt;
}

void runtime_unref(struct runtime **rtp)
{
	struct runtime_box *box = (struct runtime_box *)*rtp;
	bool last;

	*rtp = NULL;
	if (box == NULL)
		return;
	pthread_mutex_lock(&lock);
	last = --box->refs == 0;
	if (last && current == box)
		current = NULL;
	pthread_mutex_unlock(&lock);
	if (!last)
		return;
	classify_rules_free(&box->rt.rules);
	config_free(&box->rt.cfg);
	free(box);
}
