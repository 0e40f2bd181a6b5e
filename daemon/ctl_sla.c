/* seutudeskctl sla and holidays: business-time arithmetic and holiday lists on the command line. */
#include "autoconfig.h"

#include "calendar.h"
#include "config.h"
#include "ctl.h"
#include "holidays.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void sla_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: seutudeskctl sla due --calendar NAME --start TIME --add DURATION\n"
	    "       seutudeskctl sla elapsed --calendar NAME --from TIME --to TIME [--seconds]\n"
	    "Business-time arithmetic in a [calendar NAME] of the configuration.\n\n"
	    "  due      print when DURATION of open time counted from --start runs out\n"
	    "  elapsed  print the open time between --from and --to, in minutes\n\n"
	    "Options:\n"
	    "  -C, --calendar NAME  the calendar (fi-office and 24x7 are built in)\n"
	    "  -s, --start TIME     the clock's start\n"
	    "  -a, --add DURATION   open time like 90m, 4h, 1h30m or 2d (a day is 24 h)\n"
	    "  -f, --from TIME      the start of the interval\n"
	    "  -t, --to TIME        its end\n"
	    "  -S, --seconds        print elapsed open time in seconds instead\n"
	    "  -h, --help           show this help\n\n"
	    "TIME is ISO 8601: 2026-12-28T09:30:00+02:00, 2026-12-28T07:30Z, or without an\n"
	    "offset in the calendar's zone (2026-12-28T09:30, 2026-12-28); @SECONDS since the\n"
	    "epoch.  The due time prints in the calendar's zone with its offset.\n\n"
	    "Exit status: 0 done, 1 failed, 2 usage.\n");
}

static void holidays_usage(FILE *out)
{
	fprintf(out,
	        "Usage: seutudeskctl holidays YEAR [--calendar NAME] [--lang fi|sv|en]\n"
	        "List the Finnish public holidays of YEAR (1900 to 2200): date, weekday, name.\n"
	        "With --calendar, list what closes or shortens that calendar's days instead: its\n"
	        "holidays (if it keeps them), its extra closed dates and its shortened days.\n\n"
	        "Options:\n"
	        "  -C, --calendar NAME  a [calendar NAME] of the configuration\n"
	        "  -l, --lang LANG      one name, in fi, sv or en (default: all three)\n"
	        "  -h, --help           show this help\n\n"
	        "Exit status: 0 done, 1 failed, 2 usage.\n");
}

/* Loads the config and finds the calendar; NULL after printing why. */
static const struct calendar *load_calendar(const char *cmd, const char *config_path,
                                            const char *name, struct config **cfg_r)
{
	char *error = NULL;
	const struct calendar *cal;

	*cfg_r = config_load(config_path, &error);
	if (*cfg_r == NULL) {
		fprintf(stderr, "%s\n", error ? error : "out of memory");
		free(error);
		return NULL;
	}
	cal = config_calendar_find(*cfg_r, name);
	if (cal == NULL) {
		fprintf(stderr,
		        "seutudeskctl %s: --calendar '%.64s': no such calendar in %s (have:", cmd,
		        name, config_path);
		for (size_t i = 0; i < config_calendar_count(*cfg_r); i++)
			fprintf(stderr, " %s", config_calendar(*cfg_r, i)->name);
		fprintf(stderr, ")\n");
		config_free(cfg_r);
	}
	return cal;
}

static bool parse_time_arg(const char *cmd, const char *opt, const struct calendar *cal,
                           const char *s, time_t *t_r)
{
	char *error = NULL;

	if (calendar_parse_time(cal, s, t_r, &error))
		return true;
	fprintf(stderr, "seutudeskctl %s: %s %s\n", cmd, opt, error ? error : "out of memory");
	free(error);
	return false;
}

int ctl_sla(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {
	    {"calendar", required_argument, NULL, 'C'}, {"start", required_argument, NULL, 's'},
	    {"add", required_argument, NULL, 'a'},      {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},       {"seconds", no_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
	const char *calname = NULL, *start = NULL, *add = NULL, *from = NULL, *to = NULL, *cmd;
	bool seconds = false, due;
	struct config *cfg = NULL;
	const struct calendar *cal;
	char *error = NULL;
	uint64_t duration = 0;
	int c, rc = 1;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		sla_usage(stdout);
		return 0;
	}
	if (argc < 2 || (strcmp(argv[1], "due") != 0 && strcmp(argv[1], "elapsed") != 0)) {
		if (argc >= 2)
			fprintf(stderr, "seutudeskctl sla: unknown subcommand '%.64s'\n", argv[1]);
		sla_usage(stderr);
		return 2;
	}
	due = strcmp(argv[1], "due") == 0;
	cmd = due ? "sla due" : "sla elapsed";
	argc--;
	argv++;
	optind = 0; /* glibc: start afresh, permuting (seutudeskctl's own parse stopped at "sla") */
	while ((c = getopt_long(argc, argv, "C:s:a:f:t:Sh", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			calname = optarg;
			break;
		case 's':
			start = optarg;
			break;
		case 'a':
			add = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'S':
			seconds = true;
			break;
		case 'h':
			sla_usage(stdout);
			return 0;
		default:
			sla_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "seutudeskctl %s: unexpected argument '%.64s'\n", cmd,
		        argv[optind]);
		return 2;
	}
	if (calname == NULL) {
		fprintf(stderr, "seutudeskctl %s: --calendar NAME is required\n", cmd);
		return 2;
	}
	if (due ? (start == NULL || add == NULL || from || to || seconds)
	        : (from == NULL || to == NULL || start || add)) {
		fprintf(stderr, "seutudeskctl %s: needs %s\n", cmd,
		        due ? "--start TIME and --add DURATION (only)"
		            : "--from TIME and --to TIME (and optionally --seconds, only)");
		return 2;
	}
	if (due && (!config_parse_duration(add, &duration) || duration > (uint64_t)INT32_MAX)) {
		fprintf(
		    stderr,
		    "seutudeskctl %s: --add '%.64s': expected a duration like 90m, 4h or 1h30m\n",
		    cmd, add);
		return 2;
	}
	cal = load_calendar(cmd, config_path, calname, &cfg);
	if (cal == NULL)
		return 1;
	if (due) {
		time_t t0, t;
		char buf[CALENDAR_TIME_MAX];

		if (!parse_time_arg(cmd, "--start", cal, start, &t0)) {
			rc = 2;
		} else if (!calendar_add(cal, t0, duration, &t, &error)) {
			fprintf(stderr, "seutudeskctl %s: %s\n", cmd, error);
			free(error);
		} else {
			calendar_format_time(cal, t, buf);
			printf("%s\n", buf);
			rc = 0;
		}
	} else {
		time_t t1, t2;
		uint64_t secs;

		if (!parse_time_arg(cmd, "--from", cal, from, &t1) ||
		    !parse_time_arg(cmd, "--to", cal, to, &t2)) {
			rc = 2;
		} else if (!calendar_open_between(cal, t1, t2, &secs, &error)) {
			fprintf(stderr, "seutudeskctl %s: %s\n", cmd, error);
			free(error);
		} else {
			if (seconds)
				printf("%" PRIu64 "\n", secs);
			else if (secs % 60 == 0)
				printf("%" PRIu64 "\n", secs / 60);
			else /* whole minutes are the rule; seconds show as a fraction */
				printf("%" PRIu64 ".%02u\n", secs / 60,
				       (unsigned)((secs % 60) * 100 / 60));
			rc = 0;
		}
	}
	config_free(&cfg);
	return rc;
}

static const char *const wday_names[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* 0 Sunday .. 6 Saturday. */
static unsigned weekday(int y, unsigned m, unsigned d)
{
	static const unsigned t[12] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
	if (m < 3)
		y--;
	return (unsigned)(y + y / 4 - y / 100 + y / 400 + (int)t[m - 1] + (int)d) % 7;
}

static void print_name(const struct holiday *h, const char *lang)
{
	if (lang == NULL)
		printf("%s / %s / %s", holidays_name_en(h->id), holidays_name_fi(h->id),
		       holidays_name_sv(h->id));
	else if (strcmp(lang, "fi") == 0)
		printf("%s", holidays_name_fi(h->id));
	else if (strcmp(lang, "sv") == 0)
		printf("%s", holidays_name_sv(h->id));
	else
		printf("%s", holidays_name_en(h->id));
}

/* The dates of the year that the calendar closes or shortens. */
static void list_calendar(const struct calendar *cal, int year, const char *lang)
{
	static const unsigned char mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	for (unsigned m = 1; m <= 12; m++) {
		for (unsigned d = 1; d + (m == 2 && !leap) <= mdays[m - 1]; d++) {
			char hours[CALENDAR_HOURS_MAX];
			struct holiday h;
			bool is_hol;
			enum calendar_day_kind kind =
			    calendar_day(cal, year, m, d, hours, &is_hol, &h);

			if (kind == CALENDAR_DAY_WEEKLY)
				continue;
			printf("%04d-%02u-%02u  %s  ", year, m, d, wday_names[weekday(year, m, d)]);
			if (kind == CALENDAR_DAY_CLOSED)
				printf("closed");
			else if (kind == CALENDAR_DAY_SHORT)
				printf("short day %s", hours);
			if (is_hol) {
				if (kind != CALENDAR_DAY_HOLIDAY)
					printf(" (");
				print_name(&h, lang);
				if (kind != CALENDAR_DAY_HOLIDAY)
					printf(")");
			}
			printf("\n");
		}
	}
}

int ctl_holidays(int argc, char **argv, const char *config_path)
{
	static const struct option opts[] = {{"calendar", required_argument, NULL, 'C'},
	                                     {"lang", required_argument, NULL, 'l'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *calname = NULL, *lang = NULL;
	struct holiday hol[HOLIDAYS_FINLAND];
	char *end;
	long year;
	int c;

	optind = 0; /* glibc: start afresh, so that options may follow YEAR */
	while ((c = getopt_long(argc, argv, "C:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			calname = optarg;
			break;
		case 'l':
			lang = optarg;
			break;
		case 'h':
			holidays_usage(stdout);
			return 0;
		default:
			holidays_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "seutudeskctl holidays: %s\n",
		        optind == argc ? "YEAR is required" : "one YEAR only");
		holidays_usage(stderr);
		return 2;
	}
	year = strtol(argv[optind], &end, 10);
	if (argv[optind][0] < '0' || argv[optind][0] > '9' || *end != '\0' ||
	    year < HOLIDAYS_MIN_YEAR || year > HOLIDAYS_MAX_YEAR) {
		fprintf(stderr,
		        "seutudeskctl holidays: YEAR '%.64s': expected a year from %d to %d\n",
		        argv[optind], HOLIDAYS_MIN_YEAR, HOLIDAYS_MAX_YEAR);
		return 2;
	}
	if (lang != NULL && strcmp(lang, "fi") != 0 && strcmp(lang, "sv") != 0 &&
	    strcmp(lang, "en") != 0) {
		fprintf(stderr, "seutudeskctl holidays: --lang '%.64s': expected fi, sv or en\n",
		        lang);
		return 2;
	}
	if (calname != NULL) {
		struct config *cfg = NULL;
		const struct calendar *cal = load_calendar("holidays", config_path, calname, &cfg);
		if (cal == NULL)
			return 1;
		list_calendar(cal, (int)year, lang);
		config_free(&cfg);
		return 0;
	}
	size_t n = holidays_finland((int)year, hol);
	for (size_t i = 0; i < n; i++) {
		printf("%04d-%02u-%02u  %s  ", hol[i].year, hol[i].month, hol[i].day,
		       wday_names[weekday(hol[i].year, hol[i].month, hol[i].day)]);
		print_name(&hol[i], lang);
		printf("\n");
	}
	return 0;
}
