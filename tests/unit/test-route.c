/* test-route: match lists and queue selection by [route] sections. */
#include "autoconfig.h"

#include "config.h"
#include "route.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char conf[] = "[queue sote]\n[queue network]\n[queue education]\n[queue anywhere]\n"
                           "[route sote]\nqueue = sote\nsector = sote\n"
                           "municipality = kinnula, unknown\n"
                           "[route net]\nqueue = network\ncategory = verkko\n"
                           "priority = high, critical\n"
                           "[route school]\nqueue = education\nsector = sivistys\n"
                           "[route rest]\nqueue = anywhere\ncategory = unknown, tulostus\n";

static struct config *cfg;

static const char *route(const char *mun, const char *sec, const char *cat, const char *prio)
{
	const struct route_ticket t = {mun, sec, cat, prio, NULL, NULL};
	const char *name;
	static char buf[128];
	const char *q = route_queue(cfg, &t, &name);

	snprintf(buf, sizeof(buf), "%s (%s)", q, name ? name : "no route");
	return buf;
}

int main(void)
{
	char path[] = "/tmp/test-route.XXXXXX";
	int fd = mkstemp(path);
	char *error = NULL;

	if (fd < 0 || write(fd, conf, sizeof(conf) - 1) != (ssize_t)(sizeof(conf) - 1))
		return printf("Bail out! cannot write %s\n", path), 1;
	close(fd);
	cfg = config_load(path, &error);
	unlink(path);
	if (cfg == NULL)
		return printf("Bail out! %s\n", error), 1;

	tap_ok(route_list_match(NULL, "x") && route_list_match(NULL, NULL), "no list: anything");
	tap_ok(route_list_match("a, b ,c", "b") && !route_list_match("a,b", "ab"),
	       "items are whole, blanks trimmed");
	tap_ok(route_list_match("a, unknown", NULL) && !route_list_match("a", NULL),
	       "unknown matches only a list naming it");
	tap_ok(route_check_list("sote, sivistys") == NULL && route_check_list("a,,b") != NULL &&
	           route_check_list("Sote") != NULL && route_check_list("") != NULL,
	       "list syntax");
	tap_str(route("kinnula", "sote", "verkko", "high"), "sote (sote)",
	        "sote first, whatever the category");
	tap_str(route(NULL, "sote", NULL, "normal"), "sote (sote)",
	        "an unknown municipality where the route names unknown");
	tap_str(route("kinnula", "tekninen", "verkko", "high"), "network (net)",
	        "category and priority");
	tap_str(route("kinnula", "tekninen", "verkko", "normal"), "triage (no route)",
	        "a priority not in the list: that route does not take it");
	tap_str(route("kinnula", "tekninen", "tulostus", "normal"), "anywhere (rest)",
	        "the next route that matches does");
	tap_str(route(NULL, "sivistys", "tulostus", "normal"), "triage (no route)",
	        "an unknown municipality matches no route that does not name unknown");
	tap_str(route("kinnula", NULL, NULL, "normal"), "triage (no route)",
	        "an unknown sector likewise goes to triage");
	tap_str(route("karstula", "sivistys", "tulostus", "low"), "education (school)",
	        "file order decides");
	tap_ok(config_queue_find(cfg, "triage") != NULL, "triage is built in");
	config_free(&cfg);
	return tap_done();
}
