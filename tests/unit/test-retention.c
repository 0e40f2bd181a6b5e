/* test-retention: the [retention] periods as config.c reads them
 * (config_parse_months, config_parse_retention_sectors), table-driven.
 * What a run does is exercised by tests/integration/retention.sh. */
#include "autoconfig.h"

#include "config.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *in;
	int ok;
	unsigned months;
} periods[] = {
    {"24 months", 1, 24},
    {"1 month", 1, 1},
    {"2 years", 1, 24},
    {"1 year", 1, 12},
    {"never", 1, 0},
    {"100 years", 1, 1200},
    {"1200 months", 1, 1200},
    {"101 years", 0, 0},
    {"1201 months", 0, 0},
    {"0 months", 0, 0},
    {"12", 0, 0},
    {"12 weeks", 0, 0},
    {"months", 0, 0},
    {"-1 months", 0, 0},
    {"12 months ", 0, 0},
    {"", 0, 0},
    {"Never", 0, 0},
    {"99999999999999999999 months", 0, 0},
};

static const struct {
	const char *in;
	int ok;
	const char *seen; /* "sector=months;..." */
} lists[] = {
    {"sote: 12 months", 1, "sote=12;"},
    {"sote: 12 months, sivistys: 3 years", 1, "sote=12;sivistys=36;"},
    {"sote:12 months,tekninen: never", 1, "sote=12;tekninen=0;"},
    {"", 1, ""},
    {"sote: 12 months,", 1, "sote=12;"},
    {"sote: 12 months, sote: 2 years", 0, NULL},
    {"sote 12 months", 0, NULL},
    {": 12 months", 0, NULL},
    {"Sote: 12 months", 0, NULL},
    {"sote: 12 weeks", 0, NULL},
    {"sote: 12 months,, sivistys: 1 year", 0, NULL},
};

static void collect(const char *sector, unsigned months, void *arg)
{
	char *buf = arg;
	size_t n = strlen(buf);

	snprintf(buf + n, 256 - n, "%s=%u;", sector, months);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(periods) / sizeof(periods[0]); i++) {
		unsigned m = 9999;
		int ok = config_parse_months(periods[i].in, &m);
		tap_ok(ok == periods[i].ok && (!ok || m == periods[i].months), "period '%s': %s %u",
		       periods[i].in, periods[i].ok ? "taken as" : "refused", periods[i].months);
	}
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		char seen[256] = "";
		int ok = config_parse_retention_sectors(lists[i].in, collect, seen);
		tap_ok(ok == lists[i].ok, "sectors '%s': %s", lists[i].in,
		       lists[i].ok ? "taken" : "refused");
		if (lists[i].seen != NULL)
			tap_str(seen, lists[i].seen, "... as '%s'", lists[i].seen);
	}
	return tap_done();
}
