/* test-metrics: the exposition text (escaping, cumulative buckets with
 * +Inf, _sum and _count) and the health rule; promtool reads the real
 * daemon's output in tests/integration/metrics.sh. */
#include "autoconfig.h"

#include "classify.h"
#include "intake.h"
#include "metrics.h"
#include "tap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static char *render(const struct metrics_db *db)
{
	size_t len = 0;
	char *text = metrics_render(db, &len);

	tap_ok(text != NULL && strlen(text) == len, "rendered (%zu bytes)", len);
	return text;
}

static int has(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

#define HAS(text, line) tap_ok(has(text, line), "%s", line)

static void test_escape(void)
{
	char out[64];

	metrics_escape("a\\b\"c\nd", out, sizeof(out));
	tap_str(out, "a\\\\b\\\"c\\nd", "backslash, quote and newline escaped");
	metrics_escape("\"\"\"", out, 4);
	tap_str(out, "\\\"", "truncated before a cut escape");
}

static void test_histogram(void)
{
	metrics_reset();
	metrics_api("tickets.show", 200, 0.003);
	metrics_api("tickets.show", 404, 0.02);
	metrics_api("tickets.show", 503, 42);
	metrics_api("me", 200, 0.001);
	char *t = render(NULL);
	HAS(t, "# TYPE seutudesk_api_request_duration_seconds histogram");
	HAS(t, "seutudesk_api_requests_total{route=\"tickets.show\",code=\"2xx\"} 1");
	HAS(t, "seutudesk_api_requests_total{route=\"tickets.show\",code=\"4xx\"} 1");
	HAS(t, "seutudesk_api_requests_total{route=\"tickets.show\",code=\"5xx\"} 1");
	HAS(t,
	    "seutudesk_api_request_duration_seconds_bucket{route=\"tickets.show\",le=\"0.001\"} 0");
	HAS(t,
	    "seutudesk_api_request_duration_seconds_bucket{route=\"tickets.show\",le=\"0.005\"} 1");
	HAS(t,
	    "seutudesk_api_request_duration_seconds_bucket{route=\"tickets.show\",le=\"0.025\"} 2");
	HAS(t, "seutudesk_api_request_duration_seconds_bucket{route=\"tickets.show\",le=\"10\"} 2");
	HAS(t,
	    "seutudesk_api_request_duration_seconds_bucket{route=\"tickets.show\",le=\"+Inf\"} 3");
	HAS(t, "seutudesk_api_request_duration_seconds_count{route=\"tickets.show\"} 3");
	HAS(t, "seutudesk_api_request_duration_seconds_sum{route=\"tickets.show\"} 42.023");
	HAS(t, "seutudesk_api_request_duration_seconds_bucket{route=\"me\",le=\"0.001\"} 1");
	HAS(t, "seutudesk_intake_latency_seconds_bucket{le=\"+Inf\"} 0");
	HAS(t, "seutudesk_intake_latency_seconds_sum 0");
	HAS(t, "seutudesk_intake_latency_seconds_count 0");
	free(t);
}

static void test_labels(void)
{
	struct metrics_db db = {.ok = true, .queued = 2, .oldest_queued_s = 1.5, .nqueues = 1};

	metrics_reset();
	snprintf(db.queues[0].name, sizeof(db.queues[0].name), "a\"q\\");
	metrics_intake("box \"x\"\n", INTAKE_NEW, 3);
	metrics_intake("box \"x\"\n", INTAKE_DUPLICATE, 3);
	metrics_intake("chat:web", INTAKE_FOLLOWUP, -1);
	metrics_unknown(CLASSIFY_SECTOR);
	char *t = render(&db);
	HAS(t, "seutudesk_intake_messages_total{source=\"box \\\"x\\\"\\n\",outcome=\"new\"} 1");
	HAS(t,
	    "seutudesk_intake_messages_total{source=\"box \\\"x\\\"\\n\",outcome=\"duplicate\"} 1");
	HAS(t, "seutudesk_intake_messages_total{source=\"chat:web\",outcome=\"followup\"} 1");
	HAS(t, "seutudesk_intake_latency_seconds_count 1");
	HAS(t, "seutudesk_intake_latency_unknown_total 1");
	HAS(t, "seutudesk_classify_unknown_total{field=\"sector\"} 1");
	HAS(t, "seutudesk_open_tickets{queue=\"a\\\"q\\\\\"} 0");
	HAS(t, "seutudesk_outbox_messages{status=\"queued\"} 2");
	HAS(t, "seutudesk_outbox_oldest_queued_age_seconds 1.5");
	tap_ok(strstr(t, "_total_total") == NULL, "no doubled suffix");
	free(t);
}

static void test_overflow(void)
{
	char name[32];

	metrics_reset();
	for (int i = 0; i < METRICS_MAX_LABELS + 5; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		metrics_api(name, 200, 0.01);
	}
	char *t = render(NULL);
	HAS(t, "seutudesk_api_requests_total{route=\"_other\",code=\"2xx\"} 6");
	free(t);
}

static void *hammer(void *arg)
{
	for (int i = 0; i < 100000; i++)
		metrics_api((const char *)arg, 200, 0.0001);
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[4];
	const char *names[4] = {"a", "b", "a", "b"};

	metrics_reset();
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, (void *)names[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	char *t = render(NULL);
	HAS(t, "seutudesk_api_requests_total{route=\"a\",code=\"2xx\"} 200000");
	HAS(t, "seutudesk_api_request_duration_seconds_count{route=\"b\"} 200000");
	free(t);
}

static void test_health(void)
{
	int status = 0;
	json_t *h;

	metrics_reset();
	h = metrics_health(true, &status);
	tap_ok(status == 200, "healthy without mailboxes");
	json_decref(h);
	metrics_mailbox("one", METRICS_MB_IDLE, NULL);
	metrics_mailbox("two", METRICS_MB_FAILING, "connection refused");
	h = metrics_health(true, &status);
	tap_ok(status == 200, "one mailbox failing of two: 200");
	tap_str(json_string_value(json_object_get(h, "status")), "degraded", "degraded");
	tap_str(json_string_value(json_object_get(
	            json_object_get(json_object_get(h, "mailboxes"), "two"), "error")),
	        "connection refused", "the failing mailbox's error");
	json_decref(h);
	metrics_mailbox("two", METRICS_MB_AUTH_FAILED, "oauth2 https://p/token: refused");
	h = metrics_health(true, &status);
	tap_ok(status == 200, "one mailbox's authentication failing of two: 200");
	tap_str(json_string_value(json_object_get(
	            json_object_get(json_object_get(h, "mailboxes"), "two"), "state")),
	        "auth_failed", "its state is auth_failed");
	tap_str(json_string_value(json_object_get(
	            json_object_get(json_object_get(h, "mailboxes"), "two"), "error")),
	        "oauth2 https://p/token: refused", "with the refusal as its error");
	tap_str(json_string_value(json_array_get(json_object_get(h, "down"), 0)),
	        "mailbox two: authentication", "down names the mailbox's authentication");
	json_decref(h);
	{
		char *text = render(NULL);
		tap_ok(text != NULL && has(text, "seutudesk_mailbox_state{mailbox=\"two\",state="
		                                 "\"auth_failed\"} 1"),
		       "the state gauge has auth_failed");
		free(text);
	}
	metrics_mailbox("one", METRICS_MB_FAILING, "timeout");
	h = metrics_health(true, &status);
	tap_ok(status == 503, "every mailbox failing (one of them its authentication): 503");
	json_decref(h);
	metrics_mailbox("one", METRICS_MB_CONNECTED, NULL);
	metrics_relay(0, 3, 0);
	h = metrics_health(true, &status);
	tap_ok(status == 503, "the relay failing: 503");
	json_decref(h);
	metrics_relay(1, 0, 0);
	h = metrics_health(false, &status);
	tap_ok(status == 503, "the database down: 503");
	tap_str(json_string_value(json_array_get(json_object_get(h, "down"), 0)), "database",
	        "named first in down");
	json_decref(h);
}

int main(void)
{
	test_escape();
	test_histogram();
	test_labels();
	test_overflow();
	test_threads();
	test_health();
	return tap_done();
}
