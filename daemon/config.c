/* config: a declarative table drives parsing, defaults, the dump and reload checks. */
#include "autoconfig.h"

#include "calendar.h"
#include "config.h"
#include "mime.h"
#include "oauth2.h"
#include "route.h"
#include "tlsverify.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libetpan/libetpan.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_FILE (1024 * 1024) /* a config file is small; anything bigger is a mistake */
#define CONFIG_MAX_LINE 4096
#define CONFIG_MAX_ERRORS 50
#define CONFIG_MAX_SECRET 4096
#define CONFIG_MAX_KEYS 128 /* all keys of all sections, for the per-load bookkeeping */
#define CONFIG_MAX_SECTIONS 24
#define CONFIG_MAX_SECTION_KEYS 24
#define CONFIG_MAX_NAME 64 /* of a repeated section's instance, [mailbox NAME] */

enum cfg_type {
	CFG_STRING,
	CFG_BOOL,
	CFG_INT,      /* int, range min..max */
	CFG_SIZE,     /* size_t bytes, range min..max */
	CFG_DURATION, /* unsigned seconds, range min..max */
	CFG_ENUM,     /* an enum stored in an int-sized field: the index into names */
	CFG_PATH,     /* char *, made absolute */
	CFG_SECRET,   /* char * path (offset) and char * content (aux_offset) */
	CFG_CONNINFO, /* char *, checked with libpq's own parser */
	CFG_MONEY,    /* long long cents, range min..max */
};

enum {
	CFG_RELOAD = 1 << 0,    /* a reload may change it */
	CFG_OPTIONAL = 1 << 1,  /* an empty value means "not set" (NULL, or 0 for a size) */
	CFG_REQUIRED = 1 << 2,  /* must be set (repeated sections only: a singleton has defaults) */
	CFG_OPEN_TIME = 1 << 3, /* CFG_DURATION of business time: hours and minutes, no days */
	CFG_PRIVATE = 1 << 4,   /* CFG_SECRET: the file must be closed to other users */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;       /* of the field in the section's struct */
	size_t aux_offset;   /* CFG_SECRET: of the content field */
	const char *def;     /* the default as it would be written in the file; NULL: not set */
	const char *def_doc; /* the default as the dump describes it, when def cannot say it */
	long long min, max;
	const char *const *names; /* CFG_ENUM */
	/* CFG_STRING: NULL when the value is acceptable, else what was expected. */
	const char *(*check)(const char *value);
	unsigned flags;
	const char *help;
};

struct parse;

/* A section is a struct inside struct config, or, for a repeated named
 * section such as "[mailbox support]", an array of structs in it (max > 0).
 * Every key of a repeated section must be CFG_RELOAD: the daemon applies a
 * changed set of them on reload, so config_restart_needed() need not match
 * instances up. */
struct cfg_section {
	const char *name;
	size_t offset; /* of the section's struct, or of the array pointer, in struct config */
	const struct cfg_key *keys;
	size_t nkeys;
	/* Checks between keys, after the whole file was read; set_line[i] is
	 * where keys[i] was set (0: not set) and line that of the header. */
	void (*validate)(struct parse *p, void *base, const unsigned *set_line, unsigned line);
	/* Repeated sections only: */
	size_t max;          /* most instances; 0: a singleton section */
	size_t count_offset; /* of the size_t instance count in struct config */
	size_t size;         /* of one instance */
	size_t name_offset;  /* of the instance's char *name */
};

/* Where a repeated section's instance and each of its keys were set. */
struct cfg_lines {
	unsigned header;
	unsigned set_line[CONFIG_MAX_SECTION_KEYS];
};

struct parse {
	struct config *cfg;
	const char *file; /* as shown in messages */
	char *dir;        /* absolute directory of the file, for relative paths */
	FILE *err;
	char *errbuf;
	size_t errlen;
	unsigned nerrors;
	unsigned set_line[CONFIG_MAX_KEYS];           /* singleton keys: where set; 0: default */
	struct cfg_lines *lines[CONFIG_MAX_SECTIONS]; /* repeated sections: one per instance */
};

/* The section being read. */
struct cursor {
	const struct cfg_section *sec; /* NULL: none yet, or skipping a bad header */
	bool skipping;
	size_t index;       /* the instance of a repeated section */
	unsigned *set_line; /* where each of sec's keys was set */
};

static void perr(struct parse *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr(struct parse *p, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (++p->nerrors > CONFIG_MAX_ERRORS)
		return;
	if (line)
		fprintf(p->err, "%s:%u: ", p->file, line);
	else
		fprintf(p->err, "%s: ", p->file);
	va_start(ap, fmt);
	vfprintf(p->err, fmt, ap);
	va_end(ap);
	fputc('\n', p->err);
}

/* A value for an error message: bounded, control characters shown as '?'. */
static const char *shown(const char *s, char buf[static 72])
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < 64; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i] != '\0') {
		/* not inside a UTF-8 character: back to the start of the one cut */
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
			i--;
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* -- value syntaxes ---------------------------------------------------- */

bool config_parse_bool(const char *s, bool *value_r)
{
	static const char *const yes[] = {"yes", "true", "on"}, *const no[] = {"no", "false",
	                                                                       "off"};

	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value_r = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*value_r = false;
			return true;
		}
	}
	return false;
}

/* Reads decimal digits at *s; false on none or overflow. */
static bool parse_digits(const char **s, uint64_t *n_r)
{
	uint64_t n = 0;
	const char *p = *s;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*n_r = n;
	return true;
}

bool config_parse_size(const char *s, uint64_t *bytes_r)
{
	static const char units[] = "kmgt";
	uint64_t n, mult = 1;
	const char *u;

	if (!parse_digits(&s, &n))
		return false;
	if (*s != '\0') {
		if (s[1] != '\0' || (u = strchr(units, *s | 0x20)) == NULL)
			return false;
		for (ptrdiff_t i = 0; i <= u - units; i++)
			mult *= 1024;
	}
	if (n > UINT64_MAX / mult)
		return false;
	*bytes_r = n * mult;
	return true;
}

static const char *check_section_name(const char *v);

bool config_parse_months(const char *s, unsigned *months_r)
{
	unsigned long n;
	char *end;

	if (strcmp(s, "never") == 0) {
		*months_r = 0;
		return true;
	}
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno != 0 || n == 0 || n > 1200 || *end != ' ')
		return false;
	while (*end == ' ')
		end++;
	if (strcmp(end, "month") == 0 || strcmp(end, "months") == 0)
		;
	else if ((strcmp(end, "year") == 0 || strcmp(end, "years") == 0) && n <= 100)
		n *= 12;
	else
		return false;
	*months_r = (unsigned)n;
	return true;
}

bool config_parse_retention_sectors(const char *s,
                                    void (*each)(const char *sector, unsigned months, void *arg),
                                    void *arg)
{
	char seen[CONFIG_MAX_LINE] = ",";
	char item[160], name[40];

	while (*s != '\0') {
		size_t n = strcspn(s, ","), nl;
		const char *colon;
		unsigned months;

		while (n > 0 && *s == ' ')
			s++, n--;
		if (n == 0 || n >= sizeof(item))
			return false;
		memcpy(item, s, n);
		item[n] = '\0';
		while (n > 0 && item[n - 1] == ' ')
			item[--n] = '\0';
		colon = strchr(item, ':');
		if (colon == NULL || (nl = (size_t)(colon - item)) == 0 || nl >= sizeof(name))
			return false;
		memcpy(name, item, nl);
		name[nl] = '\0';
		if (check_section_name(name) != NULL)
			return false;
		colon++;
		while (*colon == ' ')
			colon++;
		if (!config_parse_months(colon, &months))
			return false;
		/* ",sote," in seen: named before */
		char key[48];
		snprintf(key, sizeof(key), ",%s,", name);
		if (strstr(seen, key) != NULL || strlen(seen) + nl + 2 >= sizeof(seen))
			return false;
		strcat(seen, name);
		strcat(seen, ",");
		if (each != NULL)
			each(name, months, arg);
		s += strcspn(s, ",");
		if (*s == ',')
			s++;
		else
			break;
	}
	return true;
}

bool config_parse_duration(const char *s, uint64_t *seconds_r)
{
	static const struct {
		char unit;
		uint64_t seconds;
	} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	uint64_t total = 0, n;
	size_t next = 0; /* units must come in order, each at most once */

	if (strcmp(s, "0") == 0) {
		*seconds_r = 0;
		return true;
	}
	if (*s == '\0')
		return false;
	while (*s != '\0') {
		size_t i;

		if (!parse_digits(&s, &n))
			return false;
		for (i = next; i < 4 && units[i].unit != *s; i++)
			;
		if (i == 4)
			return false;
		if (n > (UINT64_MAX - total) / units[i].seconds)
			return false;
		total += n * units[i].seconds;
		next = i + 1;
		s++;
	}
	*seconds_r = total;
	return true;
}

bool config_parse_money(const char *s, long long *cents_r)
{
	uint64_t units, frac = 0;
	const char *p = s;

	if (!parse_digits(&p, &units) || units > 10000000000000ULL)
		return false;
	if (*p == '.' || *p == ',') {
		const char *f = ++p;
		if (!parse_digits(&p, &frac) || p - f > 2)
			return false;
		if (p - f == 1)
			frac *= 10;
	}
	if (*p != '\0')
		return false;
	*cents_r = (long long)(units * 100 + frac);
	return true;
}

static void format_size(uint64_t n, char buf[static 32])
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && n != 0 && n % 1024 == 0) {
		n /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, 32, "%" PRIu64, n);
	else
		snprintf(buf, 32, "%" PRIu64 "%c", n, units[u]);
}

static void format_duration_units(uint64_t s, bool days, char buf[static 48])
{
	static const struct {
		char unit;
		uint64_t seconds;
	} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
	size_t len = 0;

	if (s == 0) {
		strcpy(buf, "0s");
		return;
	}
	for (size_t i = days ? 0 : 1; i < 4; i++) {
		if (s >= units[i].seconds) {
			len += (size_t)snprintf(buf + len, 48 - len, "%" PRIu64 "%c",
			                        s / units[i].seconds, units[i].unit);
			s %= units[i].seconds;
		}
	}
}

static void format_duration(uint64_t s, char buf[static 48])
{
	format_duration_units(s, true, buf);
}

/* -- value checks ------------------------------------------------------- */

static bool has_control(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return true;
	return false;
}

static const char *check_subject_tag(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 32 ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	              "0123456789._-") != n)
		return "a tag of 1 to 32 letters, digits, '.', '_' or '-'";
	return NULL;
}

/* A DNS name: dot-separated labels of letters, digits and inner hyphens. */
static bool domain_ok(const char *v, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? v[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63 || v[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		           (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

static const char *check_domain(const char *v)
{
	return domain_ok(v, strlen(v)) ? NULL : "a domain name like seutu-it.fi";
}

static const char *check_host(const char *v)
{
	struct in6_addr a6;

	if (domain_ok(v, strlen(v)) || inet_pton(AF_INET6, v, &a6) == 1)
		return NULL;
	return "a host name or IP address";
}

/* libesmtp's relay: a name or an IPv4 address (domain_ok() takes both). */
static const char *check_relay(const char *v)
{
	return domain_ok(v, strlen(v)) ? NULL : "a host name or IPv4 address";
}

/* localhost or a loopback address literal; no name is resolved here (the
 * IMAP adapter checks every resolved address again when it connects). */
static bool host_is_loopback(const char *h)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcasecmp(h, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, h, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return false;
}

/* "ADDRESS:PORT" or "[IPV6]:PORT" for a listening socket. */
static const char *check_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	char host[64];
	struct in_addr a4;
	struct in6_addr a6;
	char *end;
	size_t n;

	if (colon == NULL || colon == v || (n = (size_t)(colon - v)) >= sizeof(host))
		return "ADDRESS:PORT, like 127.0.0.1:8443 or [::1]:8443";
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535)
		return "ADDRESS:PORT with a port from 1 to 65535";
	if (v[0] == '[' && colon[-1] == ']') {
		memcpy(host, v + 1, n - 2);
		host[n - 2] = '\0';
		return inet_pton(AF_INET6, host, &a6) == 1 ? NULL : "an IPv6 address in brackets";
	}
	memcpy(host, v, n);
	host[n] = '\0';
	return inet_pton(AF_INET, host, &a4) == 1 ? NULL
	                                          : "an IPv4 address and port, like 0.0.0.0:8443";
}

/* Whether listen ("ADDRESS:PORT", checked) is on a loopback address. */
static bool listen_is_loopback(const char *v)
{
	char host[64];
	size_t n = (size_t)(strrchr(v, ':') - v);

	if (v[0] == '[') {
		memcpy(host, v + 1, n - 2);
		host[n - 2] = '\0';
	} else {
		memcpy(host, v, n);
		host[n] = '\0';
	}
	return host_is_loopback(host);
}

static const char *check_id(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 32 || !(v[0] >= 'a' && v[0] <= 'z') ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return "an id of a-z, 0-9, '_' and '-', starting with a letter";
	return NULL;
}

/* The NAME of a repeated section, as [calendar 24x7]. */
static const char *check_section_name(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > CONFIG_MAX_NAME ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return "a section name of a-z, 0-9, '_' and '-'";
	return NULL;
}

static const char *check_list(const char *v) { return route_check_list(v); }

/* [retention] periods. */
static const char *check_months(const char *v)
{
	unsigned m;

	return config_parse_months(v, &m) ? NULL : "N months, N years (up to 100) or never";
}

static const char *check_retention_sectors(const char *v)
{
	return config_parse_retention_sectors(v, NULL, NULL)
	           ? NULL
	           : "SECTOR: PERIOD, ... with each sector once, like sote: 12 months, "
	             "sivistys: 3 years";
}

/* [costs] currency: an ISO 4217 code. */
static const char *check_currency(const char *v)
{
	if (strlen(v) != 3 || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
		return "a currency code of 3 capital letters, like EUR";
	return NULL;
}

/* [report NAME] member: a member id, or all. */
static const char *check_member(const char *v)
{
	return strcmp(v, "all") == 0 || check_id(v) == NULL ? NULL
	                                                    : "a member id like kinnula, or all";
}

/* [report NAME] lang. */
static const char *check_lang(const char *v)
{
	return strcmp(v, "fi") == 0 || strcmp(v, "sv") == 0 || strcmp(v, "en") == 0
	           ? NULL
	           : "fi, sv or en";
}

/* [report NAME] by: the groupings of doc/reports.md. */
static const char *check_grouping(const char *v)
{
	static const char *const names[] = {"municipality", "sector",  "queue", "category",
	                                    "priority",     "channel", "agent", "none"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0)
			return NULL;
	return "municipality, sector, queue, category, priority, channel, agent or none";
}

static const char *check_address(const char *v);

/* A comma-separated list of mail addresses and/or the word keyword. */
static bool recipients_ok(const char *v, const char *keyword)
{
	char item[256];

	for (const char *s = v; *s != '\0';) {
		size_t n = strcspn(s, ",");
		const char *a = s, *e = s + n;
		while (a < e && *a == ' ')
			a++;
		while (e > a && e[-1] == ' ')
			e--;
		if (e == a || (size_t)(e - a) >= sizeof(item))
			return false;
		memcpy(item, a, (size_t)(e - a));
		item[e - a] = '\0';
		if (strcmp(item, keyword) != 0 && check_address(item) != NULL)
			return false;
		s += n;
		if (*s == ',')
			s++;
	}
	return true;
}

/* [sla] notify: "lead" and/or mail addresses, comma-separated. */
static const char *check_notify(const char *v)
{
	return recipients_ok(v, "lead") ? NULL
	                                : "\"lead\" and/or mail addresses, separated by commas";
}

/* [report NAME] to: "managers" and/or mail addresses. */
static const char *check_report_to(const char *v)
{
	return *v != '\0' && recipients_ok(v, "managers")
	           ? NULL
	           : "\"managers\" and/or mail addresses, separated by commas";
}

/* IMAP user names and folder names: passed on as given. */
static const char *check_text(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 255 || has_control(v))
		return "1 to 255 characters, no control characters";
	return NULL;
}

/* An OAuth 2.0 token endpoint: https, or http to a loopback address. */
static const char *check_token_url(const char *v)
{
	return oauth2_url_check(v) == NULL ? NULL
	                                   : "an https:// URL (http:// only to a loopback address)";
}

/* An IMAP flag keyword (an atom), not a system flag such as \Seen. */
static const char *check_keyword(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 64 || v[0] == '\\' || has_control(v) ||
	    strpbrk(v, " (){%*\"\\]\x80") != NULL)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] >= 0x80)
			goto bad;
	return NULL;
bad:
	return "an IMAP keyword of 1 to 64 characters without spaces or ( ) { % * \" \\ ]";
}

/* local@domain, as libetpan's RFC 5322 parser gives it. */
static bool addr_spec_ok(const char *a)
{
	const char *at = strrchr(a, '@');

	return at != NULL && at != a && strpbrk(a, " \t<>") == NULL &&
	       domain_ok(at + 1, strlen(at + 1));
}

/* One RFC 5322 mailbox, with or without a display name. */
static bool mailbox_ok(const char *v, bool display_name_ok)
{
	struct mailimf_mailbox *mb = NULL;
	size_t n = strlen(v), idx = 0;
	bool ok;

	if (n == 0 || n > 512 || has_control(v))
		return false;
	if (mailimf_mailbox_parse(v, n, &idx, &mb) != MAILIMF_NO_ERROR)
		return false;
	ok = idx == n && addr_spec_ok(mb->mb_addr_spec) &&
	     (display_name_ok || (mb->mb_display_name == NULL && strchr(v, '<') == NULL));
	mailimf_mailbox_free(mb);
	return ok;
}

static const char *check_from(const char *v)
{
	return mailbox_ok(v, true) ? NULL : "an address like Seutu-IT tuki <tuki@seutu-it.fi>";
}

static const char *check_address(const char *v)
{
	return mailbox_ok(v, false) ? NULL : "a bare address like tuki@seutu-it.fi";
}

/* [calendar NAME] values: calendar.h owns their syntax. */
static const char *check_hours(const char *v) { return calendar_check_hours(v); }
static const char *check_closed(const char *v) { return calendar_check_closed(v); }
static const char *check_shortened(const char *v) { return calendar_check_shortened(v); }
static const char *check_timezone(const char *v) { return calendar_check_timezone(v); }

/* -- the table ---------------------------------------------------------- */

static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const imap_tls_names[] = {"imaps", "starttls", "none", NULL};
static const char *const processed_names[] = {"move", "flag", NULL};
static const char *const imap_auth_names[] = {"password", "xoauth2", "oauthbearer", NULL};
_Static_assert(sizeof(enum imap_auth) == sizeof(int) && IMAP_AUTH_PASSWORD == 0 &&
                   IMAP_AUTH_XOAUTH2 == 1 && IMAP_AUTH_OAUTHBEARER == 2,
               "imap_auth_names follows enum imap_auth");
static const char *const smtp_tls_names[] = {"starttls", "smtps", "none", NULL};
static const char *const holidays_names[] = {"finland", "none", NULL};
static const char *const assign_names[] = {"manual", "round_robin", "least_loaded", NULL};
static const char *const metrics_names[] = {"local", "any", "no", NULL};
_Static_assert(sizeof(enum config_metrics) == sizeof(int) && CONFIG_METRICS_LOCAL == 0 &&
                   CONFIG_METRICS_ANY == 1 && CONFIG_METRICS_NO == 2,
               "metrics_names follows enum config_metrics");
_Static_assert(sizeof(enum log_level) == sizeof(int), "CFG_ENUM stores an int");
_Static_assert(sizeof(enum imap_tls) == sizeof(int) && IMAP_TLS_IMAPS == 0 &&
                   IMAP_TLS_STARTTLS == 1 && IMAP_TLS_NONE == 2,
               "imap_tls_names follows enum imap_tls");
_Static_assert(sizeof(enum config_processed) == sizeof(int) && CONFIG_PROCESSED_MOVE == 0 &&
                   CONFIG_PROCESSED_FLAG == 1,
               "processed_names follows enum config_processed");
_Static_assert(sizeof(enum smtp_auth) == sizeof(int) && SMTP_AUTH_PASSWORD == 0 &&
                   SMTP_AUTH_XOAUTH2 == 1 && SMTP_AUTH_OAUTHBEARER == 2,
               "imap_auth_names follows enum smtp_auth");
_Static_assert(sizeof(enum smtp_tls) == sizeof(int) && SMTP_TLS_STARTTLS == 0 &&
                   SMTP_TLS_SMTPS == 1 && SMTP_TLS_NONE == 2,
               "smtp_tls_names follows enum smtp_tls");

#define DAEMON(f) offsetof(struct config_daemon, f)
static const struct cfg_key daemon_keys[] = {
    {.name = "log_level",
     .type = CFG_ENUM,
     .offset = DAEMON(log_level),
     .def = "info",
     .names = log_level_names,
     .flags = CFG_RELOAD,
     .help = "the least severe messages logged: error, warn, info or debug"},
    {.name = "syslog",
     .type = CFG_BOOL,
     .offset = DAEMON(syslog),
     .def = "no",
     .help = "log to syslog (facility daemon) instead of standard error"},
    {.name = "pid_file",
     .type = CFG_PATH,
     .offset = DAEMON(pid_file),
     .def = NULL,
     .flags = CFG_OPTIONAL,
     .help = "write the daemon's process id here; empty: no pid file"},
    {.name = "rules_dir",
     .type = CFG_PATH,
     .offset = DAEMON(rules_dir),
     .def = PKGDATADIR "/rules.d",
     .flags = CFG_RELOAD,
     .help = "the directory of the classification rules"},
};

#define DATABASE(f) offsetof(struct config_database, f)
static const struct cfg_key database_keys[] = {
    {.name = "conninfo",
     .type = CFG_CONNINFO,
     .offset = DATABASE(conninfo),
     .def = "dbname=seutudesk",
     .help = "libpq connection string, e.g. host=/run/postgresql dbname=seutudesk"},
    {.name = "password_file",
     .type = CFG_SECRET,
     .offset = DATABASE(password_file),
     .aux_offset = DATABASE(password),
     .def = NULL,
     .flags = CFG_OPTIONAL,
     .help = "file holding the database password on its first line; empty: none"},
    {.name = "connect_timeout",
     .type = CFG_DURATION,
     .offset = DATABASE(connect_timeout),
     .def = "10s",
     .min = 1,
     .max = 3600,
     .help = "give up connecting after this long (unless conninfo sets connect_timeout)"},
};

#define LIMITS(f) offsetof(struct config_limits, f)
enum { LIM_MESSAGE, LIM_HEADER, LIM_PARTS, LIM_DEPTH, LIM_TEXT, LIM_NKEYS };
static const struct cfg_key limits_keys[LIM_NKEYS] = {
    [LIM_MESSAGE] = {.name = "max_message_size",
                     .type = CFG_SIZE,
                     .offset = LIMITS(max_message_size),
                     .def = "32M",
                     .min = 64 * 1024,
                     .max = 1024 * 1024 * 1024,
                     .flags = CFG_RELOAD,
                     .help = "a larger message keeps its header and first text part only"},
    [LIM_HEADER] = {.name = "max_header_size",
                    .type = CFG_SIZE,
                    .offset = LIMITS(max_header_size),
                    .def = "256K",
                    .min = 4096,
                    .max = 16 * 1024 * 1024,
                    .flags = CFG_RELOAD,
                    .help = "the header block of one MIME entity"},
    [LIM_PARTS] = {.name = "max_parts",
                   .type = CFG_INT,
                   .offset = LIMITS(max_parts),
                   .def = "256",
                   .min = 1,
                   .max = 10000,
                   .flags = CFG_RELOAD,
                   .help = "MIME entities per message"},
    [LIM_DEPTH] = {.name = "max_depth",
                   .type = CFG_INT,
                   .offset = LIMITS(max_depth),
                   .def = "16",
                   .min = 1,
                   .max = 100,
                   .flags = CFG_RELOAD,
                   .help = "nesting of multiparts and attached messages"},
    [LIM_TEXT] = {.name = "max_text_size",
                  .type = CFG_SIZE,
                  .offset = LIMITS(max_text_size),
                  .def = "1M",
                  .min = 4096,
                  .max = 256 * 1024 * 1024,
                  .flags = CFG_RELOAD,
                  .help = "decoded body text kept per message"},
};

#define INTAKE(f) offsetof(struct config_intake, f)
static const struct cfg_key intake_keys[] = {
    {.name = "subject_tag",
     .type = CFG_STRING,
     .offset = INTAKE(subject_tag),
     .def = "Seutu-IT",
     .check = check_subject_tag,
     .flags = CFG_RELOAD,
     .help = "the tag of ticket numbers in subjects: [Seutu-IT #123]"},
    {.name = "reopen_window",
     .type = CFG_DURATION,
     .offset = INTAKE(reopen_window),
     .def = "14d",
     .min = 0,
     .max = 366 * 86400,
     .flags = CFG_RELOAD,
     .help = "a reply reopens a resolved ticket this long after; later it starts a linked one"},
    {.name = "ack_limit",
     .type = CFG_INT,
     .offset = INTAKE(ack_limit),
     .def = "5",
     .min = 0,
     .max = 1000,
     .flags = CFG_RELOAD,
     .help = "acknowledgements per address per hour; 0: no acknowledgements"},
    {.name = "message_id_domain",
     .type = CFG_STRING,
     .offset = INTAKE(message_id_domain),
     .def = "seutu-it.fi",
     .check = check_domain,
     .flags = CFG_RELOAD,
     .help = "the domain of the Message-IDs of our mail"},
    {.name = "templates_dir",
     .type = CFG_PATH,
     .offset = INTAKE(templates_dir),
     .def = PKGDATADIR "/templates",
     .flags = CFG_RELOAD,
     .help = "the directory of the acknowledgement templates"},
};

/* The oauth2_ keys of a section with auth = xoauth2 or oauthbearer ([mailbox]
 * and [smtp]): E is the prefix of the section's key enum, where they follow
 * one another in this order, OFF its offset macro; the struct has fields of
 * these names (see config.h). */
#define OAUTH2_NKEYS 5
#define OAUTH2_KEY_DEFS(E, OFF)                                                                    \
	[E##OAUTH2_TOKEN_URL] = {.name = "oauth2_token_url",                                       \
	                         .type = CFG_STRING,                                               \
	                         .offset = OFF(oauth2_token_url),                                  \
	                         .def_doc = "none; required with auth = xoauth2 or oauthbearer",   \
	                         .check = check_token_url,                                         \
	                         .flags = CFG_RELOAD | CFG_OPTIONAL,                               \
	                         .help = "the provider's OAuth 2.0 token endpoint"},               \
	[E##OAUTH2_CLIENT_ID] = {.name = "oauth2_client_id",                                       \
	                         .type = CFG_STRING,                                               \
	                         .offset = OFF(oauth2_client_id),                                  \
	                         .def_doc = "none; required with auth = xoauth2 or oauthbearer",   \
	                         .check = check_text,                                              \
	                         .flags = CFG_RELOAD | CFG_OPTIONAL,                               \
	                         .help = "the application's client id at the provider"},           \
	[E##OAUTH2_SECRET_FILE] = {.name = "oauth2_secret_file",                                   \
	                           .type = CFG_SECRET,                                             \
	                           .offset = OFF(oauth2_secret_file),                              \
	                           .aux_offset = OFF(oauth2_secret),                               \
	                           .def_doc = "none; required without oauth2_refresh_token_file",  \
	                           .flags = CFG_RELOAD | CFG_OPTIONAL | CFG_PRIVATE,               \
	                           .help = "file holding the client secret on its first line, "    \
	                                   "closed to other users"},                               \
	[E##OAUTH2_REFRESH_TOKEN_FILE] = {.name = "oauth2_refresh_token_file",                     \
	                                  .type = CFG_SECRET,                                      \
	                                  .offset = OFF(oauth2_refresh_token_file),                \
	                                  .aux_offset = OFF(oauth2_refresh_token),                 \
	                                  .def_doc = "none: the client_credentials grant",         \
	                                  .flags = CFG_RELOAD | CFG_OPTIONAL | CFG_PRIVATE,        \
	                                  .help = "file holding a refresh token on its first "     \
	                                          "line, closed to other users: the "              \
	                                          "refresh_token grant"},                          \
	[E##OAUTH2_SCOPE] = {                                                                      \
	    .name = "oauth2_scope",                                                                \
	    .type = CFG_STRING,                                                                    \
	    .offset = OFF(oauth2_scope),                                                           \
	    .def_doc = "none sent",                                                                \
	    .check = check_text,                                                                   \
	    .flags = CFG_RELOAD | CFG_OPTIONAL,                                                    \
	    .help = "the scope asked for, e.g. https://outlook.office365.com/.default"}

#define SMTP(f) offsetof(struct config_smtp, f)
enum {
	SMTP_K_HOST,
	SMTP_K_PORT,
	SMTP_K_TLS,
	SMTP_K_TLS_CA_FILE,
	SMTP_K_USER,
	SMTP_K_PASSWORD_FILE,
	SMTP_K_AUTH,
	SMTP_K_OAUTH2_TOKEN_URL, /* the oauth2_ keys: in OAUTH2_KEY_DEFS's order */
	SMTP_K_OAUTH2_CLIENT_ID,
	SMTP_K_OAUTH2_SECRET_FILE,
	SMTP_K_OAUTH2_REFRESH_TOKEN_FILE,
	SMTP_K_OAUTH2_SCOPE,
	SMTP_K_HELO_NAME,
	SMTP_K_TIMEOUT,
	SMTP_K_FROM,
	SMTP_K_BOUNCE_ADDRESS,
	SMTP_NKEYS
};
static const struct cfg_key smtp_keys[SMTP_NKEYS] = {
    [SMTP_K_HOST] = {.name = "host",
                     .type = CFG_STRING,
                     .offset = SMTP(host),
                     .def = "localhost",
                     .check = check_relay,
                     .flags = CFG_RELOAD,
                     .help = "the SMTP relay all our mail goes to"},
    [SMTP_K_PORT] = {.name = "port",
                     .type = CFG_INT,
                     .offset = SMTP(port),
                     .def_doc = "465 with tls = smtps, else 25",
                     .min = 1,
                     .max = 65535,
                     .flags = CFG_RELOAD,
                     .help = "the relay's port (587 for submission with STARTTLS)"},
    [SMTP_K_TLS] = {.name = "tls",
                    .type = CFG_ENUM,
                    .offset = SMTP(tls),
                    .def = "starttls",
                    .names = smtp_tls_names,
                    .flags = CFG_RELOAD,
                    .help = "starttls (required and verified), smtps (TLS from the start), or "
                            "none (plain text)"},
    [SMTP_K_TLS_CA_FILE] = {.name = "tls_ca_file",
                            .type = CFG_PATH,
                            .offset = SMTP(tls_ca_file),
                            .def = NULL,
                            .def_doc = "the system trust store",
                            .flags = CFG_RELOAD | CFG_OPTIONAL,
                            .help = "PEM file of the CAs that alone are trusted to sign the "
                                    "relay's certificate (a private CA)"},
    [SMTP_K_USER] = {.name = "user",
                     .type = CFG_STRING,
                     .offset = SMTP(user),
                     .def = NULL,
                     .check = check_text,
                     .flags = CFG_RELOAD | CFG_OPTIONAL,
                     .help = "the AUTH user (with auth = xoauth2 or oauthbearer the "
                             "mailbox we send as); empty: no AUTH"},
    [SMTP_K_PASSWORD_FILE] = {.name = "password_file",
                              .type = CFG_SECRET,
                              .offset = SMTP(password_file),
                              .aux_offset = SMTP(password),
                              .def = NULL,
                              .flags = CFG_RELOAD | CFG_OPTIONAL,
                              .help = "file holding the AUTH password on its first line "
                                      "(auth = password)"},
    [SMTP_K_AUTH] = {.name = "auth",
                     .type = CFG_ENUM,
                     .offset = SMTP(auth),
                     .def = "password",
                     .names = imap_auth_names,
                     .flags = CFG_RELOAD,
                     .help = "with user: password (PLAIN or LOGIN with password_file), or "
                             "xoauth2 or oauthbearer (SASL with an OAuth 2.0 token from "
                             "oauth2_token_url)"},
    OAUTH2_KEY_DEFS(SMTP_K_, SMTP),
    [SMTP_K_HELO_NAME] = {.name = "helo_name",
                          .type = CFG_STRING,
                          .offset = SMTP(helo_name),
                          .def = NULL,
                          .check = check_domain,
                          .flags = CFG_RELOAD | CFG_OPTIONAL,
                          .help = "the name we greet the relay with; empty: the host name"},
    [SMTP_K_TIMEOUT] =
        {.name = "timeout",
         .type = CFG_DURATION,
         .offset = SMTP(timeout),
         .def = "60s",
         .min = 1,
         .max = 3600,
         .flags = CFG_RELOAD,
         .help = "give up on a silent relay after this long, at the connect and per protocol step"},
    [SMTP_K_FROM] = {.name = "from",
                     .type = CFG_STRING,
                     .offset = SMTP(from),
                     .def = "Seutu-IT tuki <tuki@seutu-it.fi>",
                     .check = check_from,
                     .flags = CFG_RELOAD,
                     .help = "the From of our mail"},
    [SMTP_K_BOUNCE_ADDRESS] = {.name = "bounce_address",
                               .type = CFG_STRING,
                               .offset = SMTP(bounce_address),
                               .def = "tuki@seutu-it.fi",
                               .check = check_address,
                               .flags = CFG_RELOAD,
                               .help = "the envelope sender of our mail, where bounces go"},
};

#define OUTBOX(f) offsetof(struct config_outbox, f)
enum { OUT_RETRY_INITIAL, OUT_RETRY_MAX, OUT_GIVE_UP_AFTER, OUT_WORKERS, OUT_NKEYS };
static const struct cfg_key outbox_keys[OUT_NKEYS] = {
    [OUT_RETRY_INITIAL] = {.name = "retry_initial",
                           .type = CFG_DURATION,
                           .offset = OUTBOX(retry_initial),
                           .def = "1m",
                           .min = 1,
                           .max = 86400,
                           .flags = CFG_RELOAD,
                           .help = "wait this long before the first retry, doubling after"},
    [OUT_RETRY_MAX] = {.name = "retry_max",
                       .type = CFG_DURATION,
                       .offset = OUTBOX(retry_max),
                       .def = "1h",
                       .min = 1,
                       .max = 7 * 86400,
                       .flags = CFG_RELOAD,
                       .help = "the longest wait between retries"},
    [OUT_GIVE_UP_AFTER] = {.name = "give_up_after",
                           .type = CFG_DURATION,
                           .offset = OUTBOX(give_up_after),
                           .def = "2d",
                           .min = 60,
                           .max = 30 * 86400,
                           .flags = CFG_RELOAD,
                           .help = "a mail still undelivered this long after it was queued fails"},
    [OUT_WORKERS] = {.name = "workers",
                     .type = CFG_INT,
                     .offset = OUTBOX(workers),
                     .def = "1",
                     .min = 1,
                     .max = 16,
                     .help = "mails sent at the same time"},
};

#define MAILBOX(f) offsetof(struct config_mailbox, f)
enum {
	MB_HOST,
	MB_PORT,
	MB_TLS,
	MB_TLS_CA_FILE,
	MB_USER,
	MB_AUTH,
	MB_PASSWORD_FILE,
	MB_OAUTH2_TOKEN_URL,
	MB_OAUTH2_CLIENT_ID,
	MB_OAUTH2_SECRET_FILE,
	MB_OAUTH2_REFRESH_TOKEN_FILE,
	MB_OAUTH2_SCOPE,
	MB_FOLDER,
	MB_PROCESSED,
	MB_PROCESSED_FOLDER,
	MB_PROCESSED_FLAG,
	MB_POLL_INTERVAL,
	MB_IDLE_TIMEOUT,
	MB_MAX_MESSAGE_SIZE,
	MB_NKEYS
};
static const struct cfg_key mailbox_keys[MB_NKEYS] = {
    [MB_HOST] = {.name = "host",
                 .type = CFG_STRING,
                 .offset = MAILBOX(host),
                 .check = check_host,
                 .flags = CFG_RELOAD | CFG_REQUIRED,
                 .help = "the IMAP server"},
    [MB_PORT] = {.name = "port",
                 .type = CFG_INT,
                 .offset = MAILBOX(port),
                 .def_doc = "993 with tls = imaps, else 143",
                 .min = 1,
                 .max = 65535,
                 .flags = CFG_RELOAD,
                 .help = "the IMAP server's port"},
    [MB_TLS] = {.name = "tls",
                .type = CFG_ENUM,
                .offset = MAILBOX(tls),
                .def = "imaps",
                .names = imap_tls_names,
                .flags = CFG_RELOAD,
                .help = "imaps, starttls, or none (only to localhost or a loopback address)"},
    [MB_TLS_CA_FILE] = {.name = "tls_ca_file",
                        .type = CFG_PATH,
                        .offset = MAILBOX(tls_ca_file),
                        .def = NULL,
                        .def_doc = "the system trust store",
                        .flags = CFG_RELOAD | CFG_OPTIONAL,
                        .help = "PEM file of the CAs that alone are trusted to sign the "
                                "server's certificate (a private CA)"},
    [MB_USER] = {.name = "user",
                 .type = CFG_STRING,
                 .offset = MAILBOX(user),
                 .check = check_text,
                 .flags = CFG_RELOAD | CFG_REQUIRED,
                 .help = "the IMAP login"},
    [MB_AUTH] = {.name = "auth",
                 .type = CFG_ENUM,
                 .offset = MAILBOX(auth),
                 .def = "password",
                 .names = imap_auth_names,
                 .flags = CFG_RELOAD,
                 .help = "password (LOGIN with password_file), or xoauth2 or oauthbearer "
                         "(SASL with an OAuth 2.0 token from oauth2_token_url)"},
    [MB_PASSWORD_FILE] = {.name = "password_file",
                          .type = CFG_SECRET,
                          .offset = MAILBOX(password_file),
                          .aux_offset = MAILBOX(password),
                          .def_doc = "none; required with auth = password",
                          .flags = CFG_RELOAD | CFG_OPTIONAL,
                          .help = "file holding the IMAP password on its first line"},
    OAUTH2_KEY_DEFS(MB_, MAILBOX),
    [MB_FOLDER] = {.name = "folder",
                   .type = CFG_STRING,
                   .offset = MAILBOX(folder),
                   .def = "INBOX",
                   .check = check_text,
                   .flags = CFG_RELOAD,
                   .help = "the folder mail is taken in from"},
    [MB_PROCESSED] = {.name = "processed",
                      .type = CFG_ENUM,
                      .offset = MAILBOX(processed),
                      .def = "move",
                      .names = processed_names,
                      .flags = CFG_RELOAD,
                      .help = "after its ticket is stored: move (to processed_folder) or flag "
                              "(with processed_flag)"},
    [MB_PROCESSED_FOLDER] = {.name = "processed_folder",
                             .type = CFG_STRING,
                             .offset = MAILBOX(processed_folder),
                             .def = "Processed",
                             .check = check_text,
                             .flags = CFG_RELOAD | CFG_OPTIONAL,
                             .help = "where processed = move puts mail; created when missing"},
    [MB_PROCESSED_FLAG] = {.name = "processed_flag",
                           .type = CFG_STRING,
                           .offset = MAILBOX(processed_flag),
                           .def = "$SeutudeskDone",
                           .check = check_keyword,
                           .flags = CFG_RELOAD,
                           .help = "the keyword processed = flag sets"},
    [MB_POLL_INTERVAL] = {.name = "poll_interval",
                          .type = CFG_DURATION,
                          .offset = MAILBOX(poll_interval),
                          .def = "60s",
                          .min = 1,
                          .max = 3600,
                          .flags = CFG_RELOAD,
                          .help = "how often to look for new mail when the server lacks IDLE"},
    [MB_IDLE_TIMEOUT] = {.name = "idle_timeout",
                         .type = CFG_DURATION,
                         .offset = MAILBOX(idle_timeout),
                         .def = "25m",
                         .min = 60,
                         .max = 29 * 60,
                         .flags = CFG_RELOAD,
                         .help = "re-issue IDLE after this long (RFC 2177: within 29 minutes)"},
    [MB_MAX_MESSAGE_SIZE] = {.name = "max_message_size",
                             .type = CFG_SIZE,
                             .offset = MAILBOX(max_message_size),
                             .def_doc = "[limits] max_message_size",
                             .min = 64 * 1024,
                             .max = 1024 * 1024 * 1024,
                             .flags = CFG_RELOAD | CFG_OPTIONAL,
                             .help = "most bytes of one mail fetched from this mailbox"},
};

#define CALENDAR(f) offsetof(struct config_calendar, f)
/* clang-format off */
#define CAL_DAY(day)                                                                               \
	{.name = #day,                                                                             \
	 .type = CFG_STRING,                                                                       \
	 .offset = CALENDAR(day),                                                                  \
	 .def = "closed",                                                                          \
	 .check = check_hours,                                                                     \
	 .flags = CFG_RELOAD,                                                                      \
	 .help = "opening hours on " #day "s: 08:00-16:00, 08:00-12:00,13:00-16:00 or closed"}
/* clang-format on */
enum {
	CAL_TIMEZONE,
	CAL_HOLIDAYS,
	CAL_MONDAY,
	CAL_SUNDAY = CAL_MONDAY + 6,
	CAL_CLOSED,
	CAL_SHORT,
	CAL_NKEYS
};
static const struct cfg_key calendar_keys[CAL_NKEYS] = {
    [CAL_TIMEZONE] = {.name = "timezone",
                      .type = CFG_STRING,
                      .offset = CALENDAR(timezone),
                      .def = "Europe/Helsinki",
                      .check = check_timezone,
                      .flags = CFG_RELOAD,
                      .help = "the zone of the hours, from the system's tz database"},
    [CAL_HOLIDAYS] = {.name = "holidays",
                      .type = CFG_ENUM,
                      .offset = CALENDAR(holidays),
                      .def = "finland",
                      .names = holidays_names,
                      .flags = CFG_RELOAD,
                      .help = "finland (closed on the Finnish public holidays) or none"},
    [CAL_MONDAY] = CAL_DAY(monday),
    [CAL_MONDAY + 1] = CAL_DAY(tuesday),
    [CAL_MONDAY + 2] = CAL_DAY(wednesday),
    [CAL_MONDAY + 3] = CAL_DAY(thursday),
    [CAL_MONDAY + 4] = CAL_DAY(friday),
    [CAL_MONDAY + 5] = CAL_DAY(saturday),
    [CAL_SUNDAY] = CAL_DAY(sunday),
    [CAL_CLOSED] = {.name = "closed",
                    .type = CFG_STRING,
                    .offset = CALENDAR(closed),
                    .def = NULL,
                    .check = check_closed,
                    .flags = CFG_RELOAD | CFG_OPTIONAL,
                    .help = "extra closed dates: 2026-12-28, 2026-12-29"},
    [CAL_SHORT] = {.name = "short",
                   .type = CFG_STRING,
                   .offset = CALENDAR(shortened),
                   .def = NULL,
                   .check = check_shortened,
                   .flags = CFG_RELOAD | CFG_OPTIONAL,
                   .help = "shortened days, each date with its hours: 2026-12-23 08:00-12:00, "
                           "2026-12-31 08:00-10:00,11:00-13:00"},
};
_Static_assert(sizeof(enum config_holidays) == sizeof(int) && CONFIG_HOLIDAYS_FINLAND == 0 &&
                   CONFIG_HOLIDAYS_NONE == 1,
               "holidays_names follows enum config_holidays");

#define QUEUE(f) offsetof(struct config_queue, f)
enum { Q_TITLE, Q_DESCRIPTION, Q_ASSIGN, Q_NKEYS };
static const struct cfg_key queue_keys[Q_NKEYS] = {
    [Q_TITLE] = {.name = "title",
                 .type = CFG_STRING,
                 .offset = QUEUE(title),
                 .def = NULL,
                 .def_doc = "the queue's NAME",
                 .check = check_text,
                 .flags = CFG_RELOAD | CFG_OPTIONAL,
                 .help = "the queue's name as agents see it"},
    [Q_DESCRIPTION] = {.name = "description",
                       .type = CFG_STRING,
                       .offset = QUEUE(description),
                       .def = NULL,
                       .check = check_text,
                       .flags = CFG_RELOAD | CFG_OPTIONAL,
                       .help = "what the queue is for"},
    [Q_ASSIGN] = {.name = "assign",
                  .type = CFG_ENUM,
                  .offset = QUEUE(assign),
                  .def = "manual",
                  .names = assign_names,
                  .flags = CFG_RELOAD,
                  .help = "manual (agents claim), round_robin or least_loaded (among the "
                          "eligible agents online)"},
};
_Static_assert(sizeof(enum config_assign) == sizeof(int) && CONFIG_ASSIGN_LEAST_LOADED == 2,
               "assign_names follows enum config_assign");

#define ROUTE(f) offsetof(struct config_route, f)
#define MATCH_KEY(st, f, what)                                                                     \
	{                                                                                          \
		.name = #f, .type = CFG_STRING, .offset = offsetof(struct st, f), .def = NULL,     \
		.def_doc = "any", .check = check_list, .flags = CFG_RELOAD | CFG_OPTIONAL,         \
		.help = what                                                                       \
	}
enum { R_QUEUE, R_MUNICIPALITY, R_SECTOR, R_CATEGORY, R_PRIORITY, R_NKEYS };
static const struct cfg_key route_keys[R_NKEYS] = {
    [R_QUEUE] = {.name = "queue",
                 .type = CFG_STRING,
                 .offset = ROUTE(queue),
                 .check = check_id,
                 .flags = CFG_RELOAD | CFG_REQUIRED,
                 .help = "the [queue] that matching tickets go to"},
    [R_MUNICIPALITY] = MATCH_KEY(config_route, municipality,
                                 "municipality ids to match, or unknown (saarijarvi, karstula)"),
    [R_SECTOR] = MATCH_KEY(config_route, sector, "sector ids to match, or unknown (sote)"),
    [R_CATEGORY] = MATCH_KEY(config_route, category, "category ids to match, or unknown"),
    [R_PRIORITY] = MATCH_KEY(config_route, priority, "priorities: low, normal, high, critical"),
};

#define SLA(f) offsetof(struct config_sla, f)
enum {
	S_PRIORITY,
	S_SECTOR,
	S_MUNICIPALITY,
	S_QUEUE,
	S_CHANNEL,
	S_FIRST_RESPONSE,
	S_RESOLUTION,
	S_CALENDAR,
	S_WARN,
	S_NOTIFY,
	S_NKEYS
};
static const struct cfg_key sla_keys[S_NKEYS] = {
    [S_PRIORITY] = MATCH_KEY(config_sla, priority, "priorities this policy is for"),
    [S_SECTOR] = MATCH_KEY(config_sla, sector, "sectors this policy is for, or unknown"),
    [S_MUNICIPALITY] =
        MATCH_KEY(config_sla, municipality, "municipalities this policy is for, or unknown"),
    [S_QUEUE] = MATCH_KEY(config_sla, queue, "queues this policy is for"),
    [S_CHANNEL] = MATCH_KEY(config_sla, channel, "channels this policy is for: email, chat"),
    [S_FIRST_RESPONSE] = {.name = "first_response",
                          .type = CFG_DURATION,
                          .offset = SLA(first_response),
                          .def = "0",
                          .def_doc = "none",
                          .min = 0,
                          .max = 10000 * 3600,
                          .flags = CFG_RELOAD | CFG_OPEN_TIME,
                          .help = "open time to the first agent reply: 30m, 4h, 1h30m; 0: none"},
    [S_RESOLUTION] = {.name = "resolution",
                      .type = CFG_DURATION,
                      .offset = SLA(resolution),
                      .def = "0",
                      .def_doc = "none",
                      .min = 0,
                      .max = 10000 * 3600,
                      .flags = CFG_RELOAD | CFG_OPEN_TIME,
                      .help = "open time to resolution, not counting pending: 8h, 40h; 0: none"},
    [S_CALENDAR] = {.name = "calendar",
                    .type = CFG_STRING,
                    .offset = SLA(calendar),
                    .def = "fi-office",
                    .check = check_section_name,
                    .flags = CFG_RELOAD,
                    .help = "the [calendar] whose open hours the targets count"},
    [S_WARN] = {.name = "warn",
                .type = CFG_INT,
                .offset = SLA(warn),
                .def = "75",
                .min = 1,
                .max = 99,
                .flags = CFG_RELOAD,
                .help = "warn when this percentage of a target has passed"},
    [S_NOTIFY] = {.name = "notify",
                  .type = CFG_STRING,
                  .offset = SLA(notify),
                  .def = NULL,
                  .def_doc = "nobody",
                  .check = check_notify,
                  .flags = CFG_RELOAD | CFG_OPTIONAL,
                  .help = "whom to mail warnings and breaches: lead (the queue's leads) "
                          "and/or addresses"},
};

#define API(f) offsetof(struct config_api, f)
enum {
	API_LISTEN,
	API_SOCKET,
	API_TLS,
	API_CERT_FILE,
	API_KEY_FILE,
	API_WORKERS,
	API_MAX_BODY,
	API_ONLINE_WINDOW,
	API_AUTH_LIMIT,
	API_METRICS,
	API_MAX_CONNECTIONS,
	API_NKEYS
};
static const struct cfg_key api_keys[API_NKEYS] = {
    [API_LISTEN] = {.name = "listen",
                    .type = CFG_STRING,
                    .offset = API(listen),
                    .def = NULL,
                    .def_doc = "no TCP listener",
                    .check = check_listen,
                    .flags = CFG_OPTIONAL,
                    .help = "ADDRESS:PORT of the agents' API, like 0.0.0.0:8443"},
    [API_SOCKET] = {.name = "socket",
                    .type = CFG_PATH,
                    .offset = API(socket),
                    .def = NULL,
                    .def_doc = "none",
                    .flags = CFG_OPTIONAL,
                    .help = "a Unix socket for the API as well (plain HTTP, local clients)"},
    [API_TLS] = {.name = "tls",
                 .type = CFG_BOOL,
                 .offset = API(tls),
                 .def = "yes",
                 .help = "TLS on listen; no is allowed only on a loopback address"},
    [API_CERT_FILE] = {.name = "cert_file",
                       .type = CFG_PATH,
                       .offset = API(cert_file),
                       .def = NULL,
                       .flags = CFG_OPTIONAL,
                       .help = "PEM certificate chain of the API (with tls)"},
    [API_KEY_FILE] = {.name = "key_file",
                      .type = CFG_PATH,
                      .offset = API(key_file),
                      .def = NULL,
                      .flags = CFG_OPTIONAL,
                      .help = "PEM private key of cert_file"},
    [API_WORKERS] = {.name = "workers",
                     .type = CFG_INT,
                     .offset = API(workers),
                     .def = "4",
                     .min = 1,
                     .max = 64,
                     .help = "database connections serving API calls at the same time"},
    [API_MAX_BODY] = {.name = "max_body",
                      .type = CFG_SIZE,
                      .offset = API(max_body),
                      .def = "1M",
                      .min = 1024,
                      .max = 64 * 1024 * 1024,
                      .flags = CFG_RELOAD,
                      .help = "the largest request body accepted"},
    [API_ONLINE_WINDOW] = {.name = "online_window",
                           .type = CFG_DURATION,
                           .offset = API(online_window),
                           .def = "5m",
                           .min = 30,
                           .max = 3600,
                           .flags = CFG_RELOAD,
                           .help = "an agent counts as online this long after a call, for "
                                   "assignment (and while an event stream is open)"},
    [API_AUTH_LIMIT] = {.name = "auth_limit",
                        .type = CFG_INT,
                        .offset = API(auth_limit),
                        .def = "10",
                        .min = 1,
                        .max = 10000,
                        .flags = CFG_RELOAD,
                        .help = "failed logins per client address per minute before 429"},
    [API_METRICS] = {.name = "metrics",
                     .type = CFG_ENUM,
                     .offset = API(metrics),
                     .names = metrics_names,
                     .def = "local",
                     .flags = CFG_RELOAD,
                     .help = "who may GET /metrics: local (the Unix socket and loopback "
                             "clients), any, or no"},
    [API_MAX_CONNECTIONS] = {.name = "max_connections",
                             .type = CFG_INT,
                             .offset = API(max_connections),
                             .def = "1024",
                             .min = 1,
                             .max = 1000000,
                             .flags = CFG_RELOAD,
                             .help = "open TLS connections on listen; a request on one "
                                     "beyond them is answered 503 and the connection "
                                     "closed"},
};

#define BRIDGE(f) offsetof(struct config_bridge, f)
enum { B_IDLE, B_CONVERSATION_LIMIT, B_CALENDAR, B_NKEYS };
static const struct cfg_key bridge_keys[B_NKEYS] = {
    [B_IDLE] = {.name = "idle",
                .type = CFG_DURATION,
                .offset = BRIDGE(idle),
                .def = "10m",
                .min = 60,
                .max = 24 * 3600,
                .flags = CFG_RELOAD,
                .help = "a person who wrote nothing in a chat for this long has left it: "
                        "agents' replies then go by mail too, where they gave an address"},
    [B_CONVERSATION_LIMIT] = {.name = "conversation_limit",
                              .type = CFG_INT,
                              .offset = BRIDGE(conversation_limit),
                              .def = "20",
                              .min = 1,
                              .max = 10000,
                              .flags = CFG_RELOAD,
                              .help = "messages one conversation may post per minute before 429"},
    [B_CALENDAR] = {.name = "calendar",
                    .type = CFG_STRING,
                    .offset = BRIDGE(calendar),
                    .def = "fi-office",
                    .check = check_section_name,
                    .flags = CFG_RELOAD,
                    .help = "the [calendar] of the hours the chat is staffed: outside them "
                            "bridges say when the answer will come and ask for an e-mail"},
};

#define COSTS(f) offsetof(struct config_costs, f)
enum { C_POPULATION, C_USERS, C_WORKSTATIONS, C_HOURLY_RATE, C_CURRENCY, C_NKEYS };
static const struct cfg_key costs_keys[C_NKEYS] = {
    [C_POPULATION] = {.name = "population_weight",
                      .type = CFG_INT,
                      .offset = COSTS(population_weight),
                      .def = "50",
                      .min = 0,
                      .max = 100,
                      .flags = CFG_RELOAD,
                      .help = "per cent of the shared cost split by the members' population"},
    [C_USERS] = {.name = "users_weight",
                 .type = CFG_INT,
                 .offset = COSTS(users_weight),
                 .def = "25",
                 .min = 0,
                 .max = 100,
                 .flags = CFG_RELOAD,
                 .help = "per cent split by their users"},
    [C_WORKSTATIONS] = {.name = "workstations_weight",
                        .type = CFG_INT,
                        .offset = COSTS(workstations_weight),
                        .def = "25",
                        .min = 0,
                        .max = 100,
                        .flags = CFG_RELOAD,
                        .help = "per cent split by their workstations; the three weights "
                                "sum to 100"},
    [C_HOURLY_RATE] = {.name = "hourly_rate",
                       .type = CFG_MONEY,
                       .offset = COSTS(hourly_rate),
                       .def = "0.00",
                       .min = 0,
                       .max = 100000000, /* a million per hour */
                       .flags = CFG_RELOAD,
                       .help = "the price of an hour of logged work charged to the member "
                               "worked for, like 65.00; 0: work is not charged"},
    [C_CURRENCY] = {.name = "currency",
                    .type = CFG_STRING,
                    .offset = COSTS(currency),
                    .def = "EUR",
                    .check = check_currency,
                    .flags = CFG_RELOAD,
                    .help = "the currency of the amounts, as its ISO 4217 code"},
};

static const char *const report_kind_names[] = {"sla",      "volume", "backlog",
                                                "workload", "costs",  NULL};
static const char *const report_format_names[] = {"xlsx", "csv", "html", NULL};
_Static_assert(sizeof(enum config_report_kind) == sizeof(int) && CONFIG_REPORT_SLA == 0 &&
                   CONFIG_REPORT_COSTS == 4,
               "report_kind_names follows enum config_report_kind");
_Static_assert(sizeof(enum config_report_format) == sizeof(int) && CONFIG_REPORT_XLSX == 0 &&
                   CONFIG_REPORT_HTML == 2,
               "report_format_names follows enum config_report_format");

#define REPORT(f) offsetof(struct config_report, f)
enum { RP_KIND, RP_MEMBER, RP_TO, RP_FORMAT, RP_LANG, RP_BY, RP_NKEYS };
static const struct cfg_key report_keys[RP_NKEYS] = {
    [RP_KIND] = {.name = "kind",
                 .type = CFG_ENUM,
                 .offset = REPORT(kind),
                 .def = "sla",
                 .names = report_kind_names,
                 .flags = CFG_RELOAD,
                 .help = "the report: sla, volume, backlog, workload or costs"},
    [RP_MEMBER] = {.name = "member",
                   .type = CFG_STRING,
                   .offset = REPORT(member),
                   .check = check_member,
                   .flags = CFG_RELOAD | CFG_REQUIRED,
                   .help = "the member the report is about, or all"},
    [RP_TO] = {.name = "to",
               .type = CFG_STRING,
               .offset = REPORT(to),
               .check = check_report_to,
               .flags = CFG_RELOAD | CFG_REQUIRED,
               .help = "managers (the agents of role manager who see the member) "
                       "and/or addresses, comma-separated"},
    [RP_FORMAT] = {.name = "format",
                   .type = CFG_ENUM,
                   .offset = REPORT(format),
                   .def = "xlsx",
                   .names = report_format_names,
                   .flags = CFG_RELOAD,
                   .help = "the attachment: xlsx, csv or html"},
    [RP_LANG] = {.name = "lang",
                 .type = CFG_STRING,
                 .offset = REPORT(lang),
                 .def = "fi",
                 .check = check_lang,
                 .flags = CFG_RELOAD,
                 .help = "the language of the mail and the report: fi, sv or en"},
    [RP_BY] = {.name = "by",
               .type = CFG_STRING,
               .offset = REPORT(by),
               .def = "municipality",
               .check = check_grouping,
               .flags = CFG_RELOAD,
               .help = "the rows: municipality, sector, queue, category, priority, "
                       "channel, agent or none"},
};

#define REPORTS(f) offsetof(struct config_reports, f)
enum { RS_LINK_LIFETIME, RS_SESSION_LIFETIME, RS_CALENDAR, RS_NKEYS };
static const struct cfg_key reports_keys[RS_NKEYS] = {
    [RS_LINK_LIFETIME] = {.name = "link_lifetime",
                          .type = CFG_DURATION,
                          .offset = REPORTS(link_lifetime),
                          .def = "15m",
                          .min = 60,
                          .max = 24 * 3600,
                          .flags = CFG_RELOAD,
                          .help = "how long a mailed sign-in link to the report pages works"},
    [RS_SESSION_LIFETIME] = {.name = "session_lifetime",
                             .type = CFG_DURATION,
                             .offset = REPORTS(session_lifetime),
                             .def = "8h",
                             .min = 300,
                             .max = 7 * 86400,
                             .flags = CFG_RELOAD,
                             .help = "how long a browser stays signed in to the report pages"},
    [RS_CALENDAR] = {.name = "calendar",
                     .type = CFG_STRING,
                     .offset = REPORTS(calendar),
                     .def = "fi-office",
                     .check = check_section_name,
                     .flags = CFG_RELOAD,
                     .help = "the [calendar] whose first working day of the month the "
                             "monthly report mail goes on"},
};

#define RETENTION(f) offsetof(struct config_retention, f)
enum { RT_DAILY, RT_HOUR, RT_DEFAULT, RT_SECTORS, RT_AUDIT, RT_BATCH, RT_NKEYS };
static const struct cfg_key retention_keys[RT_NKEYS] = {
    [RT_DAILY] = {.name = "daily",
                  .type = CFG_BOOL,
                  .offset = RETENTION(daily),
                  .def = "yes",
                  .flags = CFG_RELOAD,
                  .help = "the daemon removes personal data past its period once a day "
                          "(seutudeskctl retention does it by hand)"},
    [RT_HOUR] = {.name = "hour",
                 .type = CFG_INT,
                 .offset = RETENTION(hour),
                 .def = "3",
                 .min = 0,
                 .max = 23,
                 .flags = CFG_RELOAD,
                 .help = "the daily run starts in this hour of local time, or later "
                         "that day when the daemon was not running"},
    [RT_DEFAULT] = {.name = "default",
                    .type = CFG_STRING,
                    .offset = RETENTION(keep_default),
                    .def = "24 months",
                    .check = check_months,
                    .flags = CFG_RELOAD,
                    .help = "how long after closing a ticket's personal data is kept: "
                            "N months, N years or never"},
    [RT_SECTORS] = {.name = "sectors",
                    .type = CFG_STRING,
                    .offset = RETENTION(sectors),
                    .def = "sote: 12 months",
                    .check = check_retention_sectors,
                    .flags = CFG_RELOAD | CFG_OPTIONAL,
                    .help = "other periods for some sectors, like sote: 12 months, "
                            "sivistys: 3 years; empty: the default for all"},
    [RT_AUDIT] = {.name = "audit",
                  .type = CFG_STRING,
                  .offset = RETENTION(audit),
                  .def = "72 months",
                  .check = check_months,
                  .flags = CFG_RELOAD,
                  .help = "how long the audit log keeps events the reports do not count "
                          "(reads of sote tickets, mail failures, erasures): N months, N "
                          "years or never"},
    [RT_BATCH] = {.name = "batch",
                  .type = CFG_INT,
                  .offset = RETENTION(batch),
                  .def = "500",
                  .min = 1,
                  .max = 10000,
                  .flags = CFG_RELOAD,
                  .help = "tickets scrubbed per transaction, so that no lock is held long"},
};

static void validate_calendar(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_costs(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_reports(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_route(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_sla(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_api(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_bridge(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_limits(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_smtp(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_outbox(struct parse *p, void *base, const unsigned *set_line, unsigned line);
static void validate_mailbox(struct parse *p, void *base, const unsigned *set_line, unsigned line);

/* clang-format off */
#define SECTION(n, k, v) \
	{.name = #n, .offset = offsetof(struct config, n), .keys = k, \
	 .nkeys = sizeof(k) / sizeof(k[0]), .validate = v}
/* clang-format on */
static const struct cfg_section sections[] = {
    SECTION(daemon, daemon_keys, NULL),
    SECTION(database, database_keys, NULL),
    SECTION(limits, limits_keys, validate_limits),
    SECTION(intake, intake_keys, NULL),
    SECTION(smtp, smtp_keys, validate_smtp),
    SECTION(outbox, outbox_keys, validate_outbox),
    {.name = "mailbox",
     .offset = offsetof(struct config, mailboxes),
     .keys = mailbox_keys,
     .nkeys = MB_NKEYS,
     .validate = validate_mailbox,
     .max = CONFIG_MAX_MAILBOXES,
     .count_offset = offsetof(struct config, nmailboxes),
     .size = sizeof(struct config_mailbox),
     .name_offset = offsetof(struct config_mailbox, name)},
    {.name = "calendar",
     .offset = offsetof(struct config, calendars),
     .keys = calendar_keys,
     .nkeys = CAL_NKEYS,
     .validate = validate_calendar,
     .max = CONFIG_MAX_CALENDARS,
     .count_offset = offsetof(struct config, ncalendars),
     .size = sizeof(struct config_calendar),
     .name_offset = offsetof(struct config_calendar, name)},
    {.name = "queue",
     .offset = offsetof(struct config, queues),
     .keys = queue_keys,
     .nkeys = Q_NKEYS,
     .max = CONFIG_MAX_QUEUES,
     .count_offset = offsetof(struct config, nqueues),
     .size = sizeof(struct config_queue),
     .name_offset = offsetof(struct config_queue, name)},
    {.name = "route",
     .offset = offsetof(struct config, routes),
     .keys = route_keys,
     .nkeys = R_NKEYS,
     .validate = validate_route,
     .max = CONFIG_MAX_ROUTES,
     .count_offset = offsetof(struct config, nroutes),
     .size = sizeof(struct config_route),
     .name_offset = offsetof(struct config_route, name)},
    {.name = "sla",
     .offset = offsetof(struct config, slas),
     .keys = sla_keys,
     .nkeys = S_NKEYS,
     .validate = validate_sla,
     .max = CONFIG_MAX_POLICIES,
     .count_offset = offsetof(struct config, nslas),
     .size = sizeof(struct config_sla),
     .name_offset = offsetof(struct config_sla, name)},
    SECTION(api, api_keys, validate_api),
    SECTION(bridge, bridge_keys, validate_bridge),
    SECTION(costs, costs_keys, validate_costs),
    SECTION(reports, reports_keys, validate_reports),
    SECTION(retention, retention_keys, NULL),
    {.name = "report",
     .offset = offsetof(struct config, reports_mailed),
     .keys = report_keys,
     .nkeys = RP_NKEYS,
     .max = CONFIG_MAX_REPORTS,
     .count_offset = offsetof(struct config, nreports_mailed),
     .size = sizeof(struct config_report),
     .name_offset = offsetof(struct config_report, name)},
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))
#define NKEYS(keys) (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS(daemon_keys) + NKEYS(database_keys) + NKEYS(limits_keys) + NKEYS(intake_keys) +
                       NKEYS(smtp_keys) + NKEYS(outbox_keys) + NKEYS(mailbox_keys) +
                       NKEYS(calendar_keys) + NKEYS(queue_keys) + NKEYS(route_keys) +
                       NKEYS(sla_keys) + NKEYS(api_keys) + NKEYS(bridge_keys) + NKEYS(costs_keys) +
                       NKEYS(reports_keys) + NKEYS(report_keys) + NKEYS(retention_keys) <=
                   CONFIG_MAX_KEYS,
               "raise CONFIG_MAX_KEYS");
_Static_assert(NSECTIONS <= CONFIG_MAX_SECTIONS, "raise CONFIG_MAX_SECTIONS");
_Static_assert(NKEYS(mailbox_keys) <= CONFIG_MAX_SECTION_KEYS, "raise CONFIG_MAX_SECTION_KEYS");
_Static_assert(NKEYS(calendar_keys) <= CONFIG_MAX_SECTION_KEYS, "raise CONFIG_MAX_SECTION_KEYS");

/* The index of a key among all keys, for struct parse's bookkeeping. */
static size_t key_index(const struct cfg_section *sec, const struct cfg_key *key)
{
	size_t n = 0;

	for (const struct cfg_section *s = sections; s < sec; s++)
		n += s->nkeys;
	return n + (size_t)(key - sec->keys);
}

static size_t section_count(const struct config *cfg, const struct cfg_section *sec)
{
	if (sec->max == 0)
		return 1;
	return *(const size_t *)((const char *)cfg + sec->count_offset);
}

/* Instance i of the section (0 for a singleton). */
static void *section_base(struct config *cfg, const struct cfg_section *sec, size_t i)
{
	if (sec->max == 0)
		return (char *)cfg + sec->offset;
	return *(char **)((char *)cfg + sec->offset) + i * sec->size;
}

static const void *section_cbase(const struct config *cfg, const struct cfg_section *sec, size_t i)
{
	return section_base((struct config *)cfg, sec, i);
}

static const char *instance_name(const struct cfg_section *sec, const void *base)
{
	return *(char *const *)((const char *)base + sec->name_offset);
}

/* "mailbox support" or "limits", for messages and the dump. */
static const char *section_label(const struct cfg_section *sec, const void *base,
                                 char buf[static 96])
{
	if (sec->max == 0)
		return sec->name;
	snprintf(buf, 96, "%s %s", sec->name, instance_name(sec, base));
	return buf;
}

#define FIELD(base, key, T) ((T *)((char *)(base) + (key)->offset))
#define CFIELD(base, key, T) ((const T *)((const char *)(base) + (key)->offset))

/* The table's own rules; breaking one is a bug, not a config error. */
static void check_table(void)
{
	for (size_t s = 0; s < NSECTIONS; s++) {
		for (size_t i = 0; i < sections[s].nkeys; i++) {
			unsigned f = sections[s].keys[i].flags;
			if (sections[s].max == 0 ? (f & CFG_REQUIRED) != 0 : (f & CFG_RELOAD) == 0)
				abort();
		}
	}
}

static void validate_limits(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	const struct config_limits *l = base;
	char a[32], b[32];

	(void)line;
	if (l->max_header_size > l->max_message_size) {
		unsigned at = set_line[LIM_HEADER] ? set_line[LIM_HEADER] : set_line[LIM_MESSAGE];
		format_size(l->max_header_size, a);
		format_size(l->max_message_size, b);
		perr(p, at, "max_header_size (%s) is larger than max_message_size (%s)", a, b);
	}
}

/* Fills in from_name and from_address from from (checked already). */
static void split_from(struct config *cfg)
{
	struct mailimf_mailbox *mb = NULL;
	size_t idx = 0;

	if (mailimf_mailbox_parse(cfg->smtp.from, strlen(cfg->smtp.from), &idx, &mb) !=
	    MAILIMF_NO_ERROR)
		abort(); /* check_from() accepted it */
	cfg->smtp.from_name = mb->mb_display_name ? xstrdup(mb->mb_display_name) : NULL;
	cfg->smtp.from_address = xstrdup(mb->mb_addr_spec);
	mailimf_mailbox_free(mb);
}

/* The oauth2_ keys of a section: auth (imap_auth_names' index) 0 takes none
 * of them; the OAuth 2.0 mechanisms take them, and a client secret unless a
 * refresh token is given.  value[] and line[] follow OAUTH2_KEY_DEFS's order,
 * keys is that section's first oauth2_ key; at names the auth setting. */
static void validate_oauth2(struct parse *p, int auth, const struct cfg_key *keys,
                            const char *const value[OAUTH2_NKEYS],
                            const unsigned line[OAUTH2_NKEYS], unsigned at)
{
	enum { URL, ID, SECRET, REFRESH };
	const char *name = imap_auth_names[auth];

	if (auth == 0) {
		for (size_t i = 0; i < OAUTH2_NKEYS; i++)
			if (value[i] != NULL)
				perr(p, line[i],
				     "%s is for auth = xoauth2 or oauthbearer, but auth = password",
				     keys[i].name);
		return;
	}
	if (value[URL] == NULL)
		perr(p, at, "auth = %s needs oauth2_token_url", name);
	if (value[ID] == NULL)
		perr(p, at, "auth = %s needs oauth2_client_id", name);
	if (value[SECRET] == NULL && value[REFRESH] == NULL)
		perr(p, at,
		     "auth = %s needs oauth2_secret_file (the client_credentials grant) or "
		     "oauth2_refresh_token_file (the refresh_token grant)",
		     name);
}

/* AUTH without TLS sends the password in the clear: only to a loopback relay. */
static bool smtp_auth_cleartext(const struct config_smtp *s)
{
	return s->user != NULL && s->tls == SMTP_TLS_NONE && host_is_loopback(s->host);
}

static void validate_smtp(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	struct config_smtp *s = base;
	struct smtp_settings set;
	char *error = NULL;
	const char *const oauth2[OAUTH2_NKEYS] = {s->oauth2_token_url, s->oauth2_client_id,
	                                          s->oauth2_secret_file,
	                                          s->oauth2_refresh_token_file, s->oauth2_scope};
	unsigned at = set_line[SMTP_K_AUTH]   ? set_line[SMTP_K_AUTH]
	              : set_line[SMTP_K_USER] ? set_line[SMTP_K_USER]
	                                      : line;

	if (set_line[SMTP_K_PORT] == 0)
		s->port = s->tls == SMTP_TLS_SMTPS ? 465 : 25;
	validate_oauth2(p, (int)s->auth, &smtp_keys[SMTP_K_OAUTH2_TOKEN_URL], oauth2,
	                &set_line[SMTP_K_OAUTH2_TOKEN_URL], at);
	if (s->auth != SMTP_AUTH_PASSWORD && s->user == NULL) {
		perr(p, at, "auth = %s needs a user (the mailbox we send as)",
		     imap_auth_names[s->auth]);
	} else if (s->auth != SMTP_AUTH_PASSWORD && s->password_file != NULL) {
		perr(p, set_line[SMTP_K_PASSWORD_FILE],
		     "password_file is for auth = password; auth = %s takes its token from "
		     "oauth2_token_url",
		     imap_auth_names[s->auth]);
	} else if (s->auth != SMTP_AUTH_PASSWORD && s->tls == SMTP_TLS_NONE) {
		perr(p, at, "auth = %s needs tls = starttls or smtps", imap_auth_names[s->auth]);
	} else if (s->auth == SMTP_AUTH_PASSWORD && s->user != NULL && s->password_file == NULL) {
		perr(p, set_line[SMTP_K_USER], "user needs a password_file");
	} else if (s->user == NULL && s->password_file != NULL) {
		perr(p, set_line[SMTP_K_PASSWORD_FILE], "password_file needs a user");
	} else if (s->user != NULL && s->tls == SMTP_TLS_NONE && !smtp_auth_cleartext(s)) {
		perr(p, set_line[SMTP_K_USER],
		     "user (AUTH) needs tls = starttls or smtps, unless host is localhost or a "
		     "loopback address");
	} else if (s->tls_ca_file != NULL && s->tls == SMTP_TLS_NONE) {
		perr(p, set_line[SMTP_K_TLS_CA_FILE], "tls_ca_file needs tls = starttls or smtps");
	} else if (s->tls_ca_file != NULL && !tlsverify_ca_file_check(s->tls_ca_file, &error)) {
		perr(p, set_line[SMTP_K_TLS_CA_FILE], "%s", error ? error : "out of memory");
		free(error);
	} else {
		split_from(p->cfg);
		/* What the adapter would refuse is a config error, now. */
		config_smtp_settings(p->cfg, &set);
		if (!smtp_settings_check(&set, &error)) {
			perr(p, 0, "[smtp]: %s", error);
			free(error);
		}
	}
}

static void validate_outbox(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	const struct config_outbox *o = base;
	char a[48], b[48];

	(void)line;
	if (o->retry_max < o->retry_initial) {
		unsigned at =
		    set_line[OUT_RETRY_MAX] ? set_line[OUT_RETRY_MAX] : set_line[OUT_RETRY_INITIAL];
		format_duration(o->retry_max, a);
		format_duration(o->retry_initial, b);
		perr(p, at, "retry_max (%s) is shorter than retry_initial (%s)", a, b);
	}
}

static bool same_folder(const char *a, const char *b)
{
	/* INBOX is case-insensitive (RFC 3501 5.1); other names are not. */
	return strcmp(a, b) == 0 || (strcasecmp(a, "INBOX") == 0 && strcasecmp(b, "INBOX") == 0);
}

/* auth = password takes password_file; the OAuth 2.0 mechanisms the oauth2_ keys. */
static void validate_mailbox_auth(struct parse *p, struct config_mailbox *mb,
                                  const unsigned *set_line, unsigned line)
{
	const char *const value[OAUTH2_NKEYS] = {mb->oauth2_token_url, mb->oauth2_client_id,
	                                         mb->oauth2_secret_file,
	                                         mb->oauth2_refresh_token_file, mb->oauth2_scope};
	unsigned at = set_line[MB_AUTH] ? set_line[MB_AUTH] : line;

	if (mb->auth == IMAP_AUTH_PASSWORD && mb->password_file == NULL)
		perr(p, line, "missing key 'password_file' in [mailbox %s] (auth = password)",
		     mb->name);
	if (mb->auth != IMAP_AUTH_PASSWORD && mb->password_file != NULL)
		perr(p, set_line[MB_PASSWORD_FILE],
		     "password_file is for auth = password; auth = %s takes its token from "
		     "oauth2_token_url",
		     imap_auth_names[mb->auth]);
	validate_oauth2(p, (int)mb->auth, &mailbox_keys[MB_OAUTH2_TOKEN_URL], value,
	                &set_line[MB_OAUTH2_TOKEN_URL], at);
}

static void validate_mailbox(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	struct config_mailbox *mb = base;
	char sbuf[72];

	if (mb->tls == IMAP_TLS_NONE && !host_is_loopback(mb->host))
		perr(p, set_line[MB_TLS],
		     "tls = none is allowed only to localhost or a loopback address, not '%s'",
		     shown(mb->host, sbuf));
	if (set_line[MB_PORT] == 0)
		mb->port = mb->tls == IMAP_TLS_IMAPS ? 993 : 143;
	validate_mailbox_auth(p, mb, set_line, line);
	if (mb->tls_ca_file != NULL && mb->tls == IMAP_TLS_NONE) {
		perr(p, set_line[MB_TLS_CA_FILE], "tls_ca_file needs tls = imaps or starttls");
	} else if (mb->tls_ca_file != NULL) {
		char *error = NULL;
		if (!tlsverify_ca_file_check(mb->tls_ca_file, &error)) {
			perr(p, set_line[MB_TLS_CA_FILE], "%s", error ? error : "out of memory");
			free(error);
		}
	}
	if (mb->processed == CONFIG_PROCESSED_MOVE) {
		unsigned at = set_line[MB_PROCESSED_FOLDER] ? set_line[MB_PROCESSED_FOLDER]
		              : set_line[MB_PROCESSED]      ? set_line[MB_PROCESSED]
		                                            : line;
		if (mb->processed_folder == NULL)
			perr(p, at, "processed = move needs a processed_folder");
		else if (same_folder(mb->processed_folder, mb->folder))
			perr(p, at, "processed_folder '%s' is the intake folder itself",
			     shown(mb->processed_folder, sbuf));
	}
	if (mb->max_message_size == 0)
		mb->max_message_size = p->cfg->limits.max_message_size;
}

/* Builds the calendar: what the per-key checks cannot see (closed and
 * shortened on one date, no opening hours at all) is an error here. */
static void validate_calendar(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	struct config_calendar *cc = base;
	struct calendar_settings s = {
	    .name = cc->name,
	    .timezone = cc->timezone,
	    .finnish_holidays = cc->holidays == CONFIG_HOLIDAYS_FINLAND,
	    .hours = {cc->monday, cc->tuesday, cc->wednesday, cc->thursday, cc->friday,
	              cc->saturday, cc->sunday},
	    .closed = cc->closed,
	    .shortened = cc->shortened,
	};
	char *error = NULL;

	(void)set_line;
	cc->calendar = calendar_new(&s, &error);
	if (cc->calendar == NULL) {
		perr(p, line, "%s", error ? error : "out of memory");
		free(error);
	}
}

/* What exists unless the file defines it: the calendars fi-office and 24x7,
 * which SLA policies may name without any [calendar] section, and the
 * queue triage, where unrouted tickets wait. */
static const struct {
	const char *section, *name, *text;
} builtins[] = {
    {"calendar", "fi-office",
     "[calendar fi-office]\ntimezone = Europe/Helsinki\nholidays = finland\n"
     "monday = 08:00-16:00\ntuesday = 08:00-16:00\nwednesday = 08:00-16:00\n"
     "thursday = 08:00-16:00\nfriday = 08:00-16:00\n"},
    {"calendar", "24x7",
     "[calendar 24x7]\ntimezone = Europe/Helsinki\nholidays = none\n"
     "monday = 00:00-24:00\ntuesday = 00:00-24:00\nwednesday = 00:00-24:00\n"
     "thursday = 00:00-24:00\nfriday = 00:00-24:00\nsaturday = 00:00-24:00\n"
     "sunday = 00:00-24:00\n"},
    {"queue", "triage",
     "[queue triage]\ntitle = Triage\ndescription = New requests waiting to be routed\n"},
};

static void parse_text(struct parse *p, char *text, size_t len);

static bool queue_defined(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nqueues; i++)
		if (strcmp(cfg->queues[i].name, name) == 0)
			return true;
	return false;
}

/* Match-list values that name no known priority are typos: refuse them.
 * (Municipalities, sectors and categories live in the database.) */
static void check_priorities(struct parse *p, unsigned line, const char *list)
{
	static const char *const known[] = {"low", "normal", "high", "critical"};
	size_t hits = 0;

	if (list == NULL)
		return;
	for (size_t i = 0; i < 4; i++)
		hits += route_list_match(list, known[i]);
	for (const char *c = list; *c != '\0'; c++)
		hits -= *c == ',';
	if (hits != 1)
		perr(p, line, "priority: expected low, normal, high and/or critical, got '%s'",
		     list);
}

static void validate_route(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	const struct config_route *r = base;
	char sbuf[72];

	(void)line;
	if (!queue_defined(p->cfg, r->queue))
		perr(p, set_line[R_QUEUE], "queue '%s' is not a [queue] section (nor triage)",
		     shown(r->queue, sbuf));
	check_priorities(p, set_line[R_PRIORITY], r->priority);
}

static void validate_sla(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	const struct config_sla *sla = base;
	char sbuf[72];

	if (config_calendar_find(p->cfg, sla->calendar) == NULL)
		perr(p, set_line[S_CALENDAR] ? set_line[S_CALENDAR] : line,
		     "calendar '%s' is not a [calendar] section (nor fi-office or 24x7)",
		     shown(sla->calendar, sbuf));
	if (sla->first_response == 0 && sla->resolution == 0)
		perr(p, line, "[sla %s] sets neither first_response nor resolution", sla->name);
	if (sla->queue != NULL) {
		for (size_t i = 0; i < p->cfg->nqueues; i++)
			if (route_list_match(sla->queue, p->cfg->queues[i].name))
				goto queue_ok;
		perr(p, set_line[S_QUEUE], "queue: none of '%s' is a [queue] section",
		     shown(sla->queue, sbuf));
	}
queue_ok:
	check_priorities(p, set_line[S_PRIORITY], sla->priority);
	if (sla->channel != NULL) {
		/* every listed channel must be one there is */
		char buf[256];
		snprintf(buf, sizeof(buf), "%s", sla->channel);
		for (char *save = NULL, *c = strtok_r(buf, ", ", &save); c != NULL;
		     c = strtok_r(NULL, ", ", &save))
			if (strcmp(c, "email") != 0 && strcmp(c, "chat") != 0)
				perr(p, set_line[S_CHANNEL], "channel '%s' is not email or chat",
				     shown(c, sbuf));
	}
}

static void validate_bridge(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	const struct config_bridge *b = base;
	char sbuf[72];

	/* the default fi-office is left out only by a file of 32 calendars */
	if (set_line[B_CALENDAR] != 0 && config_calendar_find(p->cfg, b->calendar) == NULL)
		perr(p, set_line[B_CALENDAR],
		     "calendar '%s' is not a [calendar] section (nor fi-office or 24x7)",
		     shown(b->calendar, sbuf));
}

static void validate_costs(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	const struct config_costs *c = base;
	int sum = c->population_weight + c->users_weight + c->workstations_weight;
	unsigned at = line;

	if (sum == 100)
		return;
	/* the last weight set is where the sum went wrong */
	for (size_t i = C_POPULATION; i <= C_WORKSTATIONS; i++)
		if (set_line[i] > at)
			at = set_line[i];
	perr(p, at,
	     "population_weight, users_weight and workstations_weight sum to %d, not 100 "
	     "(%d + %d + %d)",
	     sum, c->population_weight, c->users_weight, c->workstations_weight);
}

static void validate_reports(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	const struct config_reports *r = base;
	char sbuf[72];

	(void)line;
	/* as for [bridge]: a file of 32 calendars may leave out fi-office */
	if (set_line[RS_CALENDAR] != 0 && config_calendar_find(p->cfg, r->calendar) == NULL)
		perr(p, set_line[RS_CALENDAR],
		     "calendar '%s' is not a [calendar] section (nor fi-office or 24x7)",
		     shown(r->calendar, sbuf));
}

static void validate_api(struct parse *p, void *base, const unsigned *set_line, unsigned line)
{
	const struct config_api *a = base;

	(void)line;
	if (a->listen == NULL)
		return;
	if (!a->tls && !listen_is_loopback(a->listen))
		perr(p, set_line[API_TLS],
		     "tls = no is allowed only on a loopback address, not on %s", a->listen);
	if (a->tls && (a->cert_file == NULL || a->key_file == NULL))
		perr(p, set_line[API_LISTEN], "listen with tls needs cert_file and key_file");
}

static const struct cfg_section *section_named(const char *name)
{
	for (size_t s = 0; s < NSECTIONS; s++)
		if (strcmp(sections[s].name, name) == 0)
			return &sections[s];
	abort(); /* builtins[] names a section that does not exist */
}

static void add_builtins(struct parse *p)
{
	const char *file = p->file;

	p->file = "(built-in sections)";
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		const struct cfg_section *sec = section_named(builtins[i].section);
		size_t n = section_count(p->cfg, sec);
		bool defined = n == sec->max;
		for (size_t c = 0; c < n && !defined; c++)
			defined = strcmp(instance_name(sec, section_cbase(p->cfg, sec, c)),
			                 builtins[i].name) == 0;
		if (defined)
			continue;
		char *text = xstrdup(builtins[i].text);
		parse_text(p, text, strlen(text));
		free(text);
	}
	p->file = file;
}

/* -- setting one value --------------------------------------------------- */

static char *resolve_path(const struct parse *p, const char *value)
{
	char *r;

	if (value[0] == '/' || p->dir == NULL)
		return xstrdup(value);
	if (asprintf(&r, "%s/%s", p->dir, value) < 0)
		abort();
	return r;
}

/* Reads a one-line secret; NULL with *why set (static or errno text). */
static char *read_secret(const char *path, bool private_file, const char **why)
{
	char buf[CONFIG_MAX_SECRET + 1];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		*why = strerror(errno);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		close(fd);
		return NULL;
	}
	/* A client secret or refresh token is the mailbox: no other user may
	 * read it, and nobody but its owner change it. */
	if (private_file && (st.st_mode & (S_IRWXO | S_IWGRP)) != 0) {
		*why = "open to other users; make it mode 0600 or 0640 (chmod o-rwx,g-w)";
		close(fd);
		return NULL;
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*why = strerror(errno);
			explicit_bzero(buf, sizeof(buf));
			close(fd);
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	*why = NULL;
	if (len > CONFIG_MAX_SECRET)
		*why = "larger than 4K";
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (*why == NULL && len == 0)
		*why = "empty";
	else if (*why == NULL && memchr(buf, '\0', len) != NULL)
		*why = "contains a NUL byte";
	else if (*why == NULL && (memchr(buf, '\n', len) != NULL || memchr(buf, '\r', len) != NULL))
		*why = "more than one line";
	if (*why != NULL) {
		explicit_bzero(buf, sizeof(buf));
		return NULL;
	}
	char *r = xmalloc(len + 1);
	memcpy(r, buf, len);
	r[len] = '\0';
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static void free_secret(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static void set_string(char **field, char *value)
{
	free(*field);
	*field = value;
}

/* Checks a numeric value against the key's range; the message shows both in
 * the key's own syntax. */
static bool in_range(struct parse *p, unsigned line, const struct cfg_key *k, long long v,
                     const char *got)
{
	char lo[48], hi[48], sbuf[72];

	if (v >= k->min && v <= k->max)
		return true;
	switch (k->type) {
	case CFG_SIZE:
		format_size((uint64_t)k->min, lo);
		format_size((uint64_t)k->max, hi);
		perr(p, line, "expected a size from %s to %s, got '%s'", lo, hi, shown(got, sbuf));
		break;
	case CFG_DURATION:
		format_duration((uint64_t)k->min, lo);
		format_duration((uint64_t)k->max, hi);
		perr(p, line, "expected a duration from %s to %s, got '%s'", lo, hi,
		     shown(got, sbuf));
		break;
	case CFG_MONEY:
		perr(p, line, "expected an amount from %lld.%02lld to %lld.%02lld, got '%s'",
		     k->min / 100, k->min % 100, k->max / 100, k->max % 100, shown(got, sbuf));
		break;
	default:
		perr(p, line, "expected an integer from %lld to %lld, got '%s'", k->min, k->max,
		     shown(got, sbuf));
		break;
	}
	return false;
}

static void set_value(struct parse *p, unsigned line, const struct cfg_key *k, void *base,
                      const char *v)
{
	char sbuf[72];
	uint64_t u;

	if (*v == '\0' && (k->flags & CFG_OPTIONAL)) {
		if (k->type == CFG_SIZE) {
			*FIELD(base, k, size_t) = 0;
			return;
		}
		set_string(FIELD(base, k, char *), NULL);
		if (k->type == CFG_SECRET)
			free_secret((char **)((char *)base + k->aux_offset));
		return;
	}
	switch (k->type) {
	case CFG_STRING: {
		const char *expected = k->check ? k->check(v) : NULL;
		if (expected != NULL) {
			perr(p, line, "expected %s, got '%s'", expected, shown(v, sbuf));
			return;
		}
		set_string(FIELD(base, k, char *), xstrdup(v));
		return;
	}
	case CFG_BOOL:
		if (!config_parse_bool(v, FIELD(base, k, bool)))
			perr(p, line, "expected yes or no, got '%s'", shown(v, sbuf));
		return;
	case CFG_INT: {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || (*v < '0' && *v != '-')) {
			perr(p, line, "expected an integer from %lld to %lld, got '%s'", k->min,
			     k->max, shown(v, sbuf));
			return;
		}
		if (in_range(p, line, k, n, v))
			*FIELD(base, k, int) = (int)n;
		return;
	}
	case CFG_SIZE:
		if (!config_parse_size(v, &u)) {
			perr(p, line, "expected a size like 32M, got '%s'", shown(v, sbuf));
			return;
		}
		if (in_range(p, line, k, u > LLONG_MAX ? LLONG_MAX : (long long)u, v))
			*FIELD(base, k, size_t) = (size_t)u;
		return;
	case CFG_DURATION:
		if ((k->flags & CFG_OPEN_TIME) && strchr(v, 'd') != NULL) {
			perr(p, line,
			     "open time is written in hours and minutes (16h, 1h30m), not days: "
			     "'%s'",
			     shown(v, sbuf));
			return;
		}
		if (!config_parse_duration(v, &u)) {
			perr(p, line, "expected a duration like 30s, 5m, 2h or 1h30m, got '%s'",
			     shown(v, sbuf));
			return;
		}
		if (in_range(p, line, k, u > LLONG_MAX ? LLONG_MAX : (long long)u, v))
			*FIELD(base, k, unsigned) = (unsigned)u;
		return;
	case CFG_ENUM:
		for (int i = 0; k->names[i] != NULL; i++) {
			if (strcmp(v, k->names[i]) == 0) {
				*FIELD(base, k, int) = i;
				return;
			}
		}
		{
			char list[256];
			size_t len = 0;
			for (int i = 0; k->names[i] != NULL; i++)
				len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
				                        i == 0 ? "" : ", ", k->names[i]);
			perr(p, line, "expected one of %s, got '%s'", list, shown(v, sbuf));
		}
		return;
	case CFG_PATH:
		if (*v == '\0') {
			perr(p, line, "expected a path, got ''");
			return;
		}
		set_string(FIELD(base, k, char *), resolve_path(p, v));
		return;
	case CFG_SECRET: {
		char *path, *secret;
		const char *why;

		if (*v == '\0') {
			perr(p, line, "expected a path, got ''");
			return;
		}
		path = resolve_path(p, v);
		secret = read_secret(path, (k->flags & CFG_PRIVATE) != 0, &why);
		if (secret == NULL) {
			perr(p, line, "cannot read %s '%s': %s", k->name, path, why);
			free(path);
			return;
		}
		set_string(FIELD(base, k, char *), path);
		free_secret((char **)((char *)base + k->aux_offset));
		*(char **)((char *)base + k->aux_offset) = secret;
		return;
	}
	case CFG_MONEY: {
		long long cents;
		if (!config_parse_money(v, &cents)) {
			perr(p, line, "expected an amount like 65.00, got '%s'", shown(v, sbuf));
			return;
		}
		if (in_range(p, line, k, cents, v))
			*FIELD(base, k, long long) = cents;
		return;
	}
	case CFG_CONNINFO: {
		char *msg = NULL;
		PQconninfoOption *opts = PQconninfoParse(v, &msg);

		if (opts == NULL) {
			/* libpq's message, never the value: it may hold a password. */
			size_t n = msg ? strlen(msg) : 0;
			while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
				msg[--n] = '\0';
			perr(p, line, "expected a libpq connection string: %s",
			     msg ? msg : "out of memory");
			PQfreemem(msg);
			return;
		}
		PQconninfoFree(opts);
		set_string(FIELD(base, k, char *), xstrdup(v));
		return;
	}
	}
}

/* -- reading a file --------------------------------------------------------- */

static bool is_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static void set_defaults(struct parse *p, const struct cfg_section *sec, void *base)
{
	for (size_t i = 0; i < sec->nkeys; i++) {
		const struct cfg_key *k = &sec->keys[i];
		if (k->def != NULL)
			set_value(p, 0, k, base, k->def);
	}
}

static bool is_instance_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= CONFIG_MAX_NAME &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* Starts instance "[sec name]" at line; false after an error. */
static bool add_instance(struct parse *p, unsigned line, const struct cfg_section *sec,
                         const char *name, struct cursor *cur)
{
	size_t si = (size_t)(sec - sections), n = section_count(p->cfg, sec);
	char **array = (char **)((char *)p->cfg + sec->offset), sbuf[72];
	struct cfg_lines *lines;
	void *base;

	if (!is_instance_name(name)) {
		perr(p, line, "expected a %s name of 1 to %d of a-z, 0-9, '_' and '-', got '%s'",
		     sec->name, CONFIG_MAX_NAME, shown(name, sbuf));
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(instance_name(sec, section_cbase(p->cfg, sec, i)), name) == 0) {
			perr(p, line, "duplicate section [%s %s] (first on line %u)", sec->name,
			     name, p->lines[si][i].header);
			return false;
		}
	}
	if (n == sec->max) {
		perr(p, line, "more than %zu [%s] sections", sec->max, sec->name);
		return false;
	}
	*array = realloc(*array, (n + 1) * sec->size);
	lines = realloc(p->lines[si], (n + 1) * sizeof(*lines));
	if (*array == NULL || lines == NULL)
		abort();
	p->lines[si] = lines;
	memset(&lines[n], 0, sizeof(lines[n]));
	lines[n].header = line;
	base = *array + n * sec->size;
	memset(base, 0, sec->size);
	*(char **)((char *)base + sec->name_offset) = xstrdup(name);
	*(size_t *)((char *)p->cfg + sec->count_offset) = n + 1;
	set_defaults(p, sec, base);
	cur->index = n;
	cur->set_line = lines[n].set_line;
	return true;
}

/* Sets *cur to the section named in "[name]" or "[name instance]"; after an
 * error the cursor skips that section's keys quietly rather than report each. */
static void parse_section(struct parse *p, unsigned line, char *s, struct cursor *cur)
{
	char sbuf[72];
	char *end = strrchr(s, ']');
	char *name, *arg;

	cur->sec = NULL;
	cur->skipping = true;
	if (end == NULL || trim(end + 1)[0] != '\0') {
		perr(p, line, "expected '[section]', got '%s'", shown(s, sbuf));
		return;
	}
	*end = '\0';
	name = trim(s + 1);
	arg = name + strcspn(name, " \t");
	if (*arg != '\0') {
		*arg++ = '\0';
		arg = trim(arg);
	}
	for (size_t i = 0; i < NSECTIONS; i++) {
		const struct cfg_section *sec = &sections[i];

		if (strcmp(name, sec->name) != 0)
			continue;
		if (sec->max == 0 && *arg != '\0') {
			perr(p, line, "section [%s] takes no name, got '%s'", name,
			     shown(arg, sbuf));
			return;
		}
		if (sec->max != 0 && *arg == '\0') {
			perr(p, line, "section [%s] needs a name, as in [%s support]", name, name);
			return;
		}
		if (sec->max == 0) {
			cur->index = 0;
			cur->set_line = &p->set_line[key_index(sec, sec->keys)];
		} else if (!add_instance(p, line, sec, arg, cur)) {
			return;
		}
		cur->sec = sec;
		cur->skipping = false;
		return;
	}
	perr(p, line, "unknown section [%s]", shown(name, sbuf));
}

/* [smtp] starttls, the old name of tls: no and required still mean what
 * they meant; if-available (plain text to a relay that hides STARTTLS) is
 * gone.  True when key was an old one (handled, or an error). */
static bool old_key(struct parse *p, struct cursor *cur, const char *key, const char *value,
                    unsigned line)
{
	const char *now;

	if (cur->sec->keys != smtp_keys || strcmp(key, "starttls") != 0)
		return false;
	if (strcmp(value, "required") == 0) {
		now = "starttls";
	} else if (strcmp(value, "no") == 0) {
		now = "none";
	} else {
		char sbuf[72];
		perr(p, line,
		     "starttls = %s is no longer supported: write tls = starttls (STARTTLS "
		     "required, certificate verified; the default), tls = smtps (port 465) or "
		     "tls = none (plain text)",
		     shown(value, sbuf));
		return true;
	}
	if (cur->set_line[SMTP_K_TLS] != 0) {
		perr(p, line, "starttls is the old name of tls, set on line %u: keep only tls",
		     cur->set_line[SMTP_K_TLS]);
		return true;
	}
	cur->set_line[SMTP_K_TLS] = line;
	set_value(p, line, &smtp_keys[SMTP_K_TLS], section_base(p->cfg, cur->sec, cur->index), now);
	return true;
}

static void parse_line(struct parse *p, unsigned line, char *s, struct cursor *cur)
{
	char sbuf[72], lbuf[96];
	char *eq, *key, *value;
	const struct cfg_section *sec = cur->sec;
	void *base;

	s = trim(s);
	if (*s == '\0' || *s == '#' || *s == ';')
		return;
	if (*s == '[') {
		parse_section(p, line, s, cur);
		return;
	}
	eq = strchr(s, '=');
	if (eq == NULL) {
		perr(p, line, "expected 'key = value' or '[section]', got '%s'", shown(s, sbuf));
		return;
	}
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	if (!is_name(key, strlen(key))) {
		perr(p, line, "expected a key of a-z, 0-9 and _, got '%s'", shown(key, sbuf));
		return;
	}
	if (cur->skipping)
		return;
	if (sec == NULL) {
		perr(p, line, "key '%s' outside any section", key);
		return;
	}
	base = section_base(p->cfg, sec, cur->index);
	for (size_t i = 0; i < sec->nkeys; i++) {
		const struct cfg_key *k = &sec->keys[i];

		if (strcmp(key, k->name) != 0)
			continue;
		if (cur->set_line[i] != 0) {
			perr(p, line, "duplicate key '%s' in [%s] (first set on line %u)", key,
			     section_label(sec, base, lbuf), cur->set_line[i]);
			return;
		}
		cur->set_line[i] = line;
		set_value(p, line, k, base, value);
		return;
	}
	if (old_key(p, cur, key, value, line))
		return;
	perr(p, line, "unknown key '%s' in [%s]", key, section_label(sec, base, lbuf));
}

static void parse_text(struct parse *p, char *text, size_t len)
{
	struct cursor cur = {0};
	unsigned line = 0;
	char *s = text, *end = text + len;

	while (s < end && p->nerrors <= CONFIG_MAX_ERRORS) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > CONFIG_MAX_LINE) {
			perr(p, line, "line longer than %d bytes", CONFIG_MAX_LINE);
		} else if (memchr(s, '\0', n) != NULL) {
			perr(p, line, "NUL byte in line");
		} else {
			s[n] = '\0';
			parse_line(p, line, s, &cur);
		}
		if (nl == NULL)
			break;
		s = nl + 1;
	}
}

/* Reads the whole file, bounded; NULL with an error. */
static char *read_file(struct parse *p, const char *path, size_t *len_r)
{
	size_t len = 0, cap = 8192;
	char *buf;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		perr(p, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	buf = xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_MAX_FILE) {
				perr(p, 0, "larger than %d bytes", CONFIG_MAX_FILE);
				goto fail;
			}
			cap *= 2;
			char *nbuf = realloc(buf, cap);
			if (nbuf == NULL)
				abort();
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perr(p, 0, "cannot read: %s", strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	close(fd);
	*len_r = len;
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *abs;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		abort();
	abs = realpath(dir, NULL);
	free(dir);
	return abs;
}

/* Where each key of instance i was set, and its header line. */
static const unsigned *instance_lines(const struct parse *p, const struct cfg_section *sec,
                                      size_t i, unsigned *header_r)
{
	if (sec->max == 0) {
		*header_r = 0;
		return &p->set_line[key_index(sec, sec->keys)];
	}
	*header_r = p->lines[sec - sections][i].header;
	return p->lines[sec - sections][i].set_line;
}

/* Every instance has its required keys. */
static void check_required(struct parse *p)
{
	char lbuf[96];

	for (size_t s = 0; s < NSECTIONS; s++) {
		const struct cfg_section *sec = &sections[s];
		for (size_t n = 0; n < section_count(p->cfg, sec); n++) {
			unsigned header;
			const unsigned *set_line = instance_lines(p, sec, n, &header);
			for (size_t i = 0; i < sec->nkeys; i++) {
				if ((sec->keys[i].flags & CFG_REQUIRED) && set_line[i] == 0)
					perr(p, header, "missing key '%s' in [%s]",
					     sec->keys[i].name,
					     section_label(sec, section_cbase(p->cfg, sec, n),
					                   lbuf));
			}
		}
	}
}

/* The checks between keys, once every value parsed. */
static void validate_all(struct parse *p)
{
	for (size_t s = 0; s < NSECTIONS && p->nerrors == 0; s++) {
		const struct cfg_section *sec = &sections[s];
		if (sec->validate == NULL)
			continue;
		for (size_t n = 0; n < section_count(p->cfg, sec); n++) {
			unsigned header;
			const unsigned *set_line = instance_lines(p, sec, n, &header);
			sec->validate(p, section_base(p->cfg, sec, n), set_line, header);
		}
	}
}

/* path alone: that file; path and buf: buf's len bytes, named path in
 * errors (relative paths in it stay relative); neither: the defaults. */
static struct config *load(const char *path, const char *buf, size_t buflen, char **error_r)
{
	struct parse p = {.file = path ? path : "(built-in defaults)"};
	char *text = NULL;
	size_t len = 0;

	check_table();
	p.cfg = calloc(1, sizeof(*p.cfg));
	if (p.cfg == NULL)
		abort();
	p.err = open_memstream(&p.errbuf, &p.errlen);
	if (p.err == NULL)
		abort();
	for (size_t s = 0; s < NSECTIONS; s++)
		if (sections[s].max == 0)
			set_defaults(&p, &sections[s], section_base(p.cfg, &sections[s], 0));
	if (p.nerrors != 0)
		abort(); /* a default that does not parse is a bug in the table */
	if (path != NULL) {
		p.cfg->path = xstrdup(path);
		if (buf != NULL) {
			text = xmalloc(buflen + 1); /* parse_text cuts lines in place */
			memcpy(text, buf, buflen);
			len = buflen;
		} else {
			p.dir = dir_of(path);
			text = read_file(&p, path, &len);
		}
		if (text != NULL)
			parse_text(&p, text, len);
		free(text);
		check_required(&p);
	}
	add_builtins(&p);
	validate_all(&p); /* also fills in derived values, for the defaults too */
	if (path == NULL && p.nerrors != 0)
		abort(); /* the defaults must pass their own checks */
	if (p.nerrors > CONFIG_MAX_ERRORS)
		fprintf(p.err, "%s: too many errors (%u), only the first %d shown\n", p.file,
		        p.nerrors, CONFIG_MAX_ERRORS);
	for (size_t s = 0; s < NSECTIONS; s++)
		free(p.lines[s]);
	free(p.dir);
	fclose(p.err);
	if (p.nerrors != 0) {
		if (p.errlen > 0 && p.errbuf[p.errlen - 1] == '\n')
			p.errbuf[p.errlen - 1] = '\0';
		*error_r = p.errbuf;
		config_free(&p.cfg);
		return NULL;
	}
	free(p.errbuf);
	return p.cfg;
}

struct config *config_load(const char *path, char **error_r)
{
	return load(path, NULL, 0, error_r);
}

struct config *config_parse(const char *name, const char *text, size_t len, char **error_r)
{
	if (len > CONFIG_MAX_FILE) {
		if (asprintf(error_r, "%s: larger than %d bytes", name, CONFIG_MAX_FILE) < 0)
			abort();
		return NULL;
	}
	return load(name, text, len, error_r);
}

struct config *config_load_defaults(void)
{
	char *error = NULL;
	struct config *cfg = load(NULL, NULL, 0, &error);

	free(error);
	return cfg;
}

const char *config_default_path(void)
{
	const char *env = getenv("SEUTUDESK_CONF");
	return env && *env ? env : SYSCONFDIR "/seutudesk/seutudesk.conf";
}

void config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->ncalendars; i++)
		calendar_free(&cfg->calendars[i].calendar); /* derived, not in the table */
	for (size_t s = 0; s < NSECTIONS; s++) {
		const struct cfg_section *sec = &sections[s];
		for (size_t n = 0; n < section_count(cfg, sec); n++) {
			void *base = section_base(cfg, sec, n);
			for (size_t i = 0; i < sec->nkeys; i++) {
				const struct cfg_key *k = &sec->keys[i];
				switch (k->type) {
				case CFG_SECRET:
					free_secret((char **)((char *)base + k->aux_offset));
					/* fall through */
				case CFG_STRING:
				case CFG_PATH:
				case CFG_CONNINFO:
					free(*FIELD(base, k, char *));
					break;
				default:
					break;
				}
			}
			if (sec->max != 0)
				free(*(char **)((char *)base + sec->name_offset));
		}
		if (sec->max != 0)
			free(*(char **)((char *)cfg + sec->offset));
	}
	free(cfg->smtp.from_name); /* derived, not in the table */
	free(cfg->smtp.from_address);
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

/* -- dump and reload ------------------------------------------------------------- */

static bool needs_quotes(const char *v) { return *v == '\0' || strpbrk(v, " \t\n\r'\\") != NULL; }

/* conninfo with any password replaced by "(set)". */
static void dump_conninfo(const char *v, FILE *out)
{
	PQconninfoOption *opts = PQconninfoParse(v, NULL);
	bool has_password = false;

	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		has_password |= strcmp(o->keyword, "password") == 0 && o->val != NULL;
	if (!has_password) {
		fputs(v, out);
		PQconninfoFree(opts);
		return;
	}
	bool first = true;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		fprintf(out, "%s%s=", first ? "" : " ", o->keyword);
		first = false;
		if (strcmp(o->keyword, "password") == 0) {
			fputs("(set)", out);
		} else if (!needs_quotes(o->val)) {
			fputs(o->val, out);
		} else {
			fputc('\'', out);
			for (const char *c = o->val; *c; c++) {
				if (*c == '\'' || *c == '\\')
					fputc('\\', out);
				fputc(*c, out);
			}
			fputc('\'', out);
		}
	}
	PQconninfoFree(opts);
}

static void dump_value(const struct cfg_key *k, const void *base, FILE *out)
{
	char buf[48];

	switch (k->type) {
	case CFG_STRING:
	case CFG_PATH:
	case CFG_SECRET: {
		const char *s = *CFIELD(base, k, char *);
		fputs(s ? s : "", out);
		break;
	}
	case CFG_CONNINFO:
		dump_conninfo(*CFIELD(base, k, char *), out);
		break;
	case CFG_BOOL:
		fputs(*CFIELD(base, k, bool) ? "yes" : "no", out);
		break;
	case CFG_INT:
		fprintf(out, "%d", *CFIELD(base, k, int));
		break;
	case CFG_SIZE:
		if (*CFIELD(base, k, size_t) == 0 && (k->flags & CFG_OPTIONAL))
			break; /* not set */
		format_size(*CFIELD(base, k, size_t), buf);
		fputs(buf, out);
		break;
	case CFG_DURATION:
		format_duration_units(*CFIELD(base, k, unsigned), !(k->flags & CFG_OPEN_TIME), buf);
		fputs(buf, out);
		break;
	case CFG_ENUM:
		fputs(k->names[*CFIELD(base, k, int)], out);
		break;
	case CFG_MONEY:
		fprintf(out, "%lld.%02lld", *CFIELD(base, k, long long) / 100,
		        *CFIELD(base, k, long long) % 100);
		break;
	}
}

static void dump_section(const struct cfg_section *sec, const void *base, FILE *out)
{
	char lbuf[96];

	fprintf(out, "\n[%s]\n", section_label(sec, base, lbuf));
	for (size_t i = 0; i < sec->nkeys; i++) {
		const struct cfg_key *k = &sec->keys[i];

		if (k->flags & CFG_REQUIRED)
			fprintf(out, "# %s (required)", k->help);
		else
			fprintf(out, "# %s (default: %s%s)", k->help,
			        k->def       ? k->def
			        : k->def_doc ? k->def_doc
			                     : "none",
			        k->flags & CFG_RELOAD ? "" : "; needs a restart");
		if (k->type == CFG_SECRET)
			fprintf(out, "; secret: %s",
			        *(char *const *)((const char *)base + k->aux_offset) ? "(set)"
			                                                             : "(not set)");
		fprintf(out, "\n%s = ", k->name);
		dump_value(k, base, out);
		fputc('\n', out);
	}
}

void config_dump(const struct config *cfg, FILE *out)
{
	fprintf(out, "# seutudesk configuration in effect (%s%s)\n",
	        cfg->path ? "loaded from " : "", cfg->path ? cfg->path : "built-in defaults");
	for (size_t s = 0; s < NSECTIONS; s++) {
		const struct cfg_section *sec = &sections[s];
		size_t n = section_count(cfg, sec);

		if (sec->max != 0 && n == 0)
			fprintf(out, "\n# no [%s NAME] sections\n", sec->name);
		for (size_t i = 0; i < n; i++)
			dump_section(sec, section_cbase(cfg, sec, i), out);
	}
}

static bool same_string(const char *a, const char *b)
{
	return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static bool same_value(const struct cfg_key *k, const void *a, const void *b)
{
	switch (k->type) {
	case CFG_SECRET:
		if (!same_string(*(char *const *)((const char *)a + k->aux_offset),
		                 *(char *const *)((const char *)b + k->aux_offset)))
			return false;
		/* fall through */
	case CFG_STRING:
	case CFG_PATH:
	case CFG_CONNINFO:
		return same_string(*CFIELD(a, k, char *), *CFIELD(b, k, char *));
	case CFG_BOOL:
		return *CFIELD(a, k, bool) == *CFIELD(b, k, bool);
	case CFG_INT:
	case CFG_ENUM:
		return *CFIELD(a, k, int) == *CFIELD(b, k, int);
	case CFG_SIZE:
		return *CFIELD(a, k, size_t) == *CFIELD(b, k, size_t);
	case CFG_DURATION:
		return *CFIELD(a, k, unsigned) == *CFIELD(b, k, unsigned);
	case CFG_MONEY:
		return *CFIELD(a, k, long long) == *CFIELD(b, k, long long);
	}
	return false;
}

char *config_restart_needed(const struct config *old_cfg, const struct config *new_cfg)
{
	char *list = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&list, &len);

	if (f == NULL)
		abort();
	for (size_t s = 0; s < NSECTIONS; s++) {
		if (sections[s].max != 0)
			continue; /* wholly reloadable (check_table) */
		const void *a = section_cbase(old_cfg, &sections[s], 0);
		const void *b = section_cbase(new_cfg, &sections[s], 0);
		for (size_t i = 0; i < sections[s].nkeys; i++) {
			const struct cfg_key *k = &sections[s].keys[i];
			if (!(k->flags & CFG_RELOAD) && !same_value(k, a, b))
				fprintf(f, "%s%s.%s", len ? ", " : "", sections[s].name, k->name);
			fflush(f);
		}
	}
	fclose(f);
	if (len == 0) {
		free(list);
		return NULL;
	}
	return list;
}

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

void config_keep_restart_keys(struct config *new_cfg, const struct config *old_cfg)
{
	for (size_t s = 0; s < NSECTIONS; s++) {
		if (sections[s].max != 0)
			continue; /* wholly reloadable (check_table) */
		const void *a = section_cbase(old_cfg, &sections[s], 0);
		void *b = section_base(new_cfg, &sections[s], 0);
		for (size_t i = 0; i < sections[s].nkeys; i++) {
			const struct cfg_key *k = &sections[s].keys[i];
			if (k->flags & CFG_RELOAD)
				continue;
			switch (k->type) {
			case CFG_SECRET: {
				char **dst = (char **)((char *)b + k->aux_offset);
				free_secret(dst);
				*dst =
				    dup_or_null(*(char *const *)((const char *)a + k->aux_offset));
			}
				/* fall through */
			case CFG_STRING:
			case CFG_PATH:
			case CFG_CONNINFO:
				set_string(FIELD(b, k, char *), dup_or_null(*CFIELD(a, k, char *)));
				break;
			case CFG_BOOL:
				*FIELD(b, k, bool) = *CFIELD(a, k, bool);
				break;
			case CFG_INT:
			case CFG_ENUM:
				*FIELD(b, k, int) = *CFIELD(a, k, int);
				break;
			case CFG_SIZE:
				*FIELD(b, k, size_t) = *CFIELD(a, k, size_t);
				break;
			case CFG_DURATION:
				*FIELD(b, k, unsigned) = *CFIELD(a, k, unsigned);
				break;
			case CFG_MONEY:
				*FIELD(b, k, long long) = *CFIELD(a, k, long long);
				break;
			}
		}
	}
}

void config_mime_limits(const struct config *cfg, struct mime_limits *out)
{
	mime_limits_default(out);
	out->max_message_bytes = cfg->limits.max_message_size;
	out->max_header_bytes = cfg->limits.max_header_size;
	out->max_parts = (unsigned)cfg->limits.max_parts;
	out->max_depth = (unsigned)cfg->limits.max_depth;
	out->max_text_bytes = cfg->limits.max_text_size;
}

size_t config_mailbox_count(const struct config *cfg) { return cfg->nmailboxes; }

const struct config_mailbox *config_mailbox(const struct config *cfg, size_t i)
{
	return i < cfg->nmailboxes ? &cfg->mailboxes[i] : NULL;
}

const struct config_mailbox *config_mailbox_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nmailboxes; i++)
		if (strcmp(cfg->mailboxes[i].name, name) == 0)
			return &cfg->mailboxes[i];
	return NULL;
}

bool config_mailbox_equal(const struct config_mailbox *a, const struct config_mailbox *b)
{
	if (strcmp(a->name, b->name) != 0)
		return false;
	for (size_t i = 0; i < MB_NKEYS; i++)
		if (!same_value(&mailbox_keys[i], a, b))
			return false;
	return true;
}

/* Both sections' oauth2_ fields have the same names. */
#define OAUTH2_SETTINGS(out, sec)                                                                  \
	do {                                                                                       \
		oauth2_settings_default(out);                                                      \
		(out)->token_url = (sec)->oauth2_token_url;                                        \
		(out)->client_id = (sec)->oauth2_client_id;                                        \
		(out)->client_secret = (sec)->oauth2_secret;                                       \
		(out)->refresh_token = (sec)->oauth2_refresh_token;                                \
		(out)->scope = (sec)->oauth2_scope;                                                \
	} while (0)

void config_oauth2_settings(const struct config_mailbox *mb, struct oauth2_settings *out)
{
	OAUTH2_SETTINGS(out, mb);
}

void config_smtp_oauth2_settings(const struct config *cfg, struct oauth2_settings *out)
{
	OAUTH2_SETTINGS(out, &cfg->smtp);
}

void config_imap_settings(const struct config_mailbox *mb, struct imap_settings *out)
{
	imap_settings_default(out);
	out->auth = mb->auth;
	out->host = mb->host;
	out->port = (uint16_t)mb->port;
	out->tls = mb->tls;
	out->tls_ca_file = mb->tls_ca_file;
	out->user = mb->user;
	out->password = mb->password;
	out->folder = mb->folder;
	out->max_message_bytes = mb->max_message_size;
	/* One command's response holds at least one whole source. */
	if (out->max_response_bytes < mb->max_message_size + (1u << 20))
		out->max_response_bytes = mb->max_message_size + (1u << 20);
}

void config_smtp_settings(const struct config *cfg, struct smtp_settings *out)
{
	smtp_settings_default(out);
	out->host = cfg->smtp.host;
	out->port = (unsigned)cfg->smtp.port;
	out->tls = cfg->smtp.tls;
	out->tls_ca_file = cfg->smtp.tls_ca_file;
	out->helo_name = cfg->smtp.helo_name;
	out->auth_user = cfg->smtp.user;
	out->auth = cfg->smtp.auth;
	out->auth_password =
	    cfg->smtp.user && cfg->smtp.auth == SMTP_AUTH_PASSWORD ? cfg->smtp.password : NULL;
	out->auth_cleartext = smtp_auth_cleartext(&cfg->smtp);
	out->timeout_ms = cfg->smtp.timeout * 1000;
}

size_t config_calendar_count(const struct config *cfg) { return cfg->ncalendars; }

const struct config_calendar *config_calendar(const struct config *cfg, size_t i)
{
	return i < cfg->ncalendars ? &cfg->calendars[i] : NULL;
}

const struct calendar *config_calendar_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->ncalendars; i++)
		if (strcmp(cfg->calendars[i].name, name) == 0)
			return cfg->calendars[i].calendar;
	return NULL;
}

const struct config_queue *config_queue_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nqueues; i++)
		if (strcmp(cfg->queues[i].name, name) == 0)
			return &cfg->queues[i];
	return NULL;
}
