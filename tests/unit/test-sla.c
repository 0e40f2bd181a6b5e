/* test-sla: policy selection and the SLA clock over pauses, on the
 * configuration's own calendars (fi-office: Monday to Friday 08-16,
 * Finnish holidays; 24x7). */
#include "autoconfig.h"

#include "calendar.h"
#include "config.h"
#include "route.h"
#include "sla.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct config *cfg;
static const struct calendar *office, *always;

static const char conf[] = "[queue sote]\n"
                           "[sla normal]\n"
                           "first_response = 4h\n"
                           "resolution = 24h\n"
                           "[sla critical]\n"
                           "priority = critical\n"
                           "resolution = 4h\n"
                           "[sla critical-again]\n"
                           "priority = critical\n"
                           "resolution = 2h\n"
                           "[sla sote-critical]\n"
                           "priority = critical\n"
                           "sector = sote\n"
                           "resolution = 4h\n"
                           "calendar = 24x7\n"
                           "[sla unknown-sector]\n"
                           "sector = unknown\n"
                           "priority = low\n"
                           "resolution = 40h\n";

static time_t at(const char *s)
{
	char *error = NULL;
	time_t t;

	if (!calendar_parse_time(office, s, &t, &error)) {
		printf("Bail out! %s: %s\n", s, error);
		exit(1);
	}
	return t;
}

static void load(void)
{
	char path[] = "/tmp/test-sla.XXXXXX";
	int fd = mkstemp(path);
	char *error = NULL;

	if (fd < 0 || write(fd, conf, sizeof(conf) - 1) != (ssize_t)(sizeof(conf) - 1)) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	close(fd);
	cfg = config_load(path, &error);
	unlink(path);
	if (cfg == NULL) {
		printf("Bail out! %s\n", error);
		exit(1);
	}
	office = config_calendar_find(cfg, "fi-office");
	always = config_calendar_find(cfg, "24x7");
}

static const char *policy(const char *priority, const char *sector)
{
	const struct route_ticket t = {.priority = priority, .sector = sector, .queue = "triage"};
	const struct config_sla *p = sla_policy(cfg, &t);
	return p != NULL ? p->name : "(none)";
}

static void test_policies(void)
{
	tap_str(policy("normal", "tekninen"), "normal", "no key set matches everything");
	tap_str(policy("critical", "tekninen"), "critical",
	        "one key beats none; the first of equals");
	tap_str(policy("critical", "sote"), "sote-critical", "two keys beat one");
	tap_str(policy("low", NULL), "unknown-sector", "unknown matches a list naming it");
	tap_str(policy("low", "sote"), "normal", "... and only that");
}

/* The due moment (or "paused N") of a clock, formatted in fi-office's zone. */
static const char *run(const struct calendar *cal, const char *start, uint64_t target,
                       const struct sla_pause *p, size_t n)
{
	static char buf[CALENDAR_TIME_MAX + 32];
	struct sla_clock c;
	char *error = NULL;

	if (!sla_clock_run(cal, at(start), target, p, n, &c, &error)) {
		snprintf(buf, sizeof(buf), "error: %s", error);
		free(error);
	} else if (c.paused) {
		snprintf(buf, sizeof(buf), "paused %llu", (unsigned long long)c.remaining);
	} else {
		calendar_format_time(office, c.due, buf);
	}
	return buf;
}

static void test_clock(void)
{
	const uint64_t h = 3600;

	tap_str(run(office, "2026-12-07T15:00", 2 * h, NULL, 0), "2026-12-08T09:00:00+02:00",
	        "no pauses: the calendar alone (Monday 15:00 + 2 h)");
	struct sla_pause overnight[] = {{at("2026-12-07T15:30"), at("2026-12-08T12:00")}};
	tap_str(run(office, "2026-12-07T15:00", 2 * h, overnight, 1), "2026-12-08T13:30:00+02:00",
	        "pending from 15:30 to noon: 30 min used, 90 min from noon");
	struct sla_pause before[] = {{at("2026-12-01T10:00"), at("2026-12-02T10:00")}};
	tap_str(run(office, "2026-12-07T15:00", 2 * h, before, 1), "2026-12-08T09:00:00+02:00",
	        "a pause over before the start changes nothing");
	struct sla_pause late[] = {{at("2026-12-08T10:00"), at("2026-12-09T10:00")}};
	tap_str(run(office, "2026-12-07T15:00", 2 * h, late, 1), "2026-12-08T09:00:00+02:00",
	        "a pause after the due moment changes nothing");
	struct sla_pause exact[] = {{at("2026-12-08T09:00"), at("2026-12-09T10:00")}};
	tap_str(run(office, "2026-12-07T15:00", 2 * h, exact, 1), "2026-12-08T09:00:00+02:00",
	        "a pause starting at the due moment: due then");
	struct sla_pause open[] = {{at("2026-12-07T15:30"), 0}};
	tap_str(run(office, "2026-12-07T15:00", 2 * h, open, 1), "paused 5400",
	        "still pending: 90 min of open time left");
	struct sla_pause closed_pause[] = {{at("2026-12-07T17:00"), at("2026-12-08T07:00")}};
	tap_str(run(office, "2026-12-07T15:00", 2 * h, closed_pause, 1),
	        "2026-12-08T09:00:00+02:00", "a pause while the office is closed costs nothing");
	struct sla_pause two[] = {{at("2026-12-07T15:30"), at("2026-12-07T15:45")},
	                          {at("2026-12-08T08:30"), at("2026-12-08T09:00")}};
	tap_str(run(office, "2026-12-07T15:00", 2 * h, two, 2), "2026-12-08T09:45:00+02:00",
	        "two pauses: 15 + 30 min later");
	struct sla_pause holiday[] = {{at("2026-12-04T15:00"), at("2026-12-07T09:00")}};
	tap_str(run(office, "2026-12-04T14:00", 2 * h, holiday, 1), "2026-12-07T10:00:00+02:00",
	        "Friday 14:00, pending 15:00 to Monday 09:00: 1 h used, due Monday 10:00");
	tap_str(
	    run(office, "2026-12-04T14:00", 4 * h, NULL, 0), "2026-12-07T10:00:00+02:00",
	    "Friday 14:00 + 4 h: over the weekend to Monday 10:00 (Independence Day is Sunday)");
	struct sla_pause dst[] = {{at("2027-03-28T01:00"), at("2027-03-28T05:00")}};
	tap_str(run(always, "2027-03-28T00:00", 2 * h, dst, 1), "2027-03-28T06:00:00+03:00",
	        "24x7 across spring-forward: 1 h before the pause, 1 h after it");
}

int main(void)
{
	load();
	test_policies();
	test_clock();
	config_free(&cfg);
	return tap_done();
}
