/* config: a declarative table drives parsing, defaults, the dump and reload checks. */
#include "autoconfig.h"

#include "config.h"
#include "mime.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#define CONFIG_MAX_KEYS 64 /* all keys of all sections, for the per-load bookkeeping */

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
};

enum {
	CFG_RELOAD = 1 << 0,   /* a reload may change it */
	CFG_OPTIONAL = 1 << 1, /* an empty value means "not set" (NULL) */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;     /* of the field in the section's struct */
	size_t aux_offset; /* CFG_SECRET: of the content field */
	const char *def;   /* the default as it would be written in the file; NULL: not set */
	long long min, max;
	const char *const *names; /* CFG_ENUM */
	/* CFG_STRING: NULL when the value is acceptable, else what was expected. */
	const char *(*check)(const char *value);
	unsigned flags;
	const char *help;
};

struct parse;

/* A section is a struct inside struct config.  A repeated named section
 * ("[mailbox support]") would add a hook that appends an instance and returns
 * its base; the keys and the parser stay as they are. */
struct cfg_section {
	const char *name;
	size_t offset; /* of the section's struct in struct config */
	const struct cfg_key *keys;
	size_t nkeys;
	/* Checks between keys, after the whole file was read. */
	void (*validate)(struct parse *p, const struct cfg_section *sec, void *base);
};

struct parse {
	struct config *cfg;
	const char *file; /* as shown in messages */
	char *dir;        /* absolute directory of the file, for relative paths */
	FILE *err;
	char *errbuf;
	size_t errlen;
	unsigned nerrors;
	unsigned set_line[CONFIG_MAX_KEYS]; /* where each key was set; 0: default */
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

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

static void format_duration(uint64_t s, char buf[static 48])
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
	for (size_t i = 0; i < 4; i++) {
		if (s >= units[i].seconds) {
			len += (size_t)snprintf(buf + len, 48 - len, "%" PRIu64 "%c",
			                        s / units[i].seconds, units[i].unit);
			s %= units[i].seconds;
		}
	}
}

/* -- the table ---------------------------------------------------------- */

static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};
_Static_assert(sizeof(enum log_level) == sizeof(int), "CFG_ENUM stores an int");

static const char *check_subject_tag(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > 32 ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	              "0123456789._-") != n)
		return "a tag of 1 to 32 letters, digits, '.', '_' or '-'";
	return NULL;
}

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
static const struct cfg_key limits_keys[] = {
    {.name = "max_message_size",
     .type = CFG_SIZE,
     .offset = LIMITS(max_message_size),
     .def = "32M",
     .min = 64 * 1024,
     .max = 1024 * 1024 * 1024,
     .flags = CFG_RELOAD,
     .help = "a larger message keeps its header and first text part only"},
    {.name = "max_header_size",
     .type = CFG_SIZE,
     .offset = LIMITS(max_header_size),
     .def = "256K",
     .min = 4096,
     .max = 16 * 1024 * 1024,
     .flags = CFG_RELOAD,
     .help = "the header block of one MIME entity"},
    {.name = "max_parts",
     .type = CFG_INT,
     .offset = LIMITS(max_parts),
     .def = "256",
     .min = 1,
     .max = 10000,
     .flags = CFG_RELOAD,
     .help = "MIME entities per message"},
    {.name = "max_depth",
     .type = CFG_INT,
     .offset = LIMITS(max_depth),
     .def = "16",
     .min = 1,
     .max = 100,
     .flags = CFG_RELOAD,
     .help = "nesting of multiparts and attached messages"},
    {.name = "max_text_size",
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
};

static void validate_limits(struct parse *p, const struct cfg_section *sec, void *base);

/* clang-format off */
#define SECTION(n, keys, validate) \
	{#n, offsetof(struct config, n), keys, sizeof(keys) / sizeof(keys[0]), validate}
/* clang-format on */
static const struct cfg_section sections[] = {
    SECTION(daemon, daemon_keys, NULL),
    SECTION(database, database_keys, NULL),
    SECTION(limits, limits_keys, validate_limits),
    SECTION(intake, intake_keys, NULL),
};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))
#define NKEYS(keys) (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS(daemon_keys) + NKEYS(database_keys) + NKEYS(limits_keys) +
                       NKEYS(intake_keys) <=
                   CONFIG_MAX_KEYS,
               "raise CONFIG_MAX_KEYS");

/* The index of a key among all keys, for struct parse's bookkeeping. */
static size_t key_index(const struct cfg_section *sec, const struct cfg_key *key)
{
	size_t n = 0;

	for (const struct cfg_section *s = sections; s < sec; s++)
		n += s->nkeys;
	return n + (size_t)(key - sec->keys);
}

static void *section_base(struct config *cfg, const struct cfg_section *sec)
{
	return (char *)cfg + sec->offset;
}

static const void *section_cbase(const struct config *cfg, const struct cfg_section *sec)
{
	return (const char *)cfg + sec->offset;
}

#define FIELD(base, key, T) ((T *)((char *)(base) + (key)->offset))
#define CFIELD(base, key, T) ((const T *)((const char *)(base) + (key)->offset))

static void validate_limits(struct parse *p, const struct cfg_section *sec, void *base)
{
	const struct config_limits *l = base;
	char a[32], b[32];

	if (l->max_header_size > l->max_message_size) {
		unsigned line = p->set_line[key_index(sec, &limits_keys[1])];
		if (line == 0)
			line = p->set_line[key_index(sec, &limits_keys[0])];
		format_size(l->max_header_size, a);
		format_size(l->max_message_size, b);
		perr(p, line, "max_header_size (%s) is larger than max_message_size (%s)", a, b);
	}
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
static char *read_secret(const char *path, const char **why)
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

	if ((k->type == CFG_PATH || k->type == CFG_SECRET) && *v == '\0' &&
	    (k->flags & CFG_OPTIONAL)) {
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
		secret = read_secret(path, &why);
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

/* Returns the section named in "[name]", or NULL after an error; the caller
 * then skips that section's keys quietly rather than report each one. */
static const struct cfg_section *parse_section(struct parse *p, unsigned line, char *s)
{
	char sbuf[72];
	char *end = strrchr(s, ']');
	char *name, *arg;

	if (end == NULL || trim(end + 1)[0] != '\0') {
		perr(p, line, "expected '[section]', got '%s'", shown(s, sbuf));
		return NULL;
	}
	*end = '\0';
	name = trim(s + 1);
	arg = name + strcspn(name, " \t");
	if (*arg != '\0') {
		*arg++ = '\0';
		arg = trim(arg);
	}
	for (size_t i = 0; i < NSECTIONS; i++) {
		if (strcmp(name, sections[i].name) != 0)
			continue;
		if (*arg != '\0') {
			perr(p, line, "section [%s] takes no name, got '%s'", name,
			     shown(arg, sbuf));
			return NULL;
		}
		return &sections[i];
	}
	perr(p, line, "unknown section [%s]", shown(name, sbuf));
	return NULL;
}

static void parse_line(struct parse *p, unsigned line, char *s, const struct cfg_section **sec,
                       bool *skipping)
{
	char sbuf[72];
	char *eq, *key, *value;

	s = trim(s);
	if (*s == '\0' || *s == '#' || *s == ';')
		return;
	if (*s == '[') {
		*sec = parse_section(p, line, s);
		*skipping = *sec == NULL;
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
	if (*skipping)
		return;
	if (*sec == NULL) {
		perr(p, line, "key '%s' outside any section", key);
		return;
	}
	for (size_t i = 0; i < (*sec)->nkeys; i++) {
		const struct cfg_key *k = &(*sec)->keys[i];
		size_t idx;

		if (strcmp(key, k->name) != 0)
			continue;
		idx = key_index(*sec, k);
		if (p->set_line[idx] != 0) {
			perr(p, line, "duplicate key '%s' in [%s] (first set on line %u)", key,
			     (*sec)->name, p->set_line[idx]);
			return;
		}
		p->set_line[idx] = line;
		set_value(p, line, k, section_base(p->cfg, *sec), value);
		return;
	}
	perr(p, line, "unknown key '%s' in [%s]", key, (*sec)->name);
}

static void parse_text(struct parse *p, char *text, size_t len)
{
	const struct cfg_section *sec = NULL;
	bool skipping = false;
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
			parse_line(p, line, s, &sec, &skipping);
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

static void apply_defaults(struct parse *p)
{
	for (size_t s = 0; s < NSECTIONS; s++) {
		for (size_t i = 0; i < sections[s].nkeys; i++) {
			const struct cfg_key *k = &sections[s].keys[i];
			if (k->def != NULL)
				set_value(p, 0, k, section_base(p->cfg, &sections[s]), k->def);
		}
	}
}

static struct config *load(const char *path, char **error_r)
{
	struct parse p = {.file = path ? path : "(built-in defaults)"};
	char *text = NULL;
	size_t len = 0;

	p.cfg = calloc(1, sizeof(*p.cfg));
	if (p.cfg == NULL)
		abort();
	p.err = open_memstream(&p.errbuf, &p.errlen);
	if (p.err == NULL)
		abort();
	apply_defaults(&p);
	if (p.nerrors != 0)
		abort(); /* a default that does not parse is a bug in the table */
	if (path != NULL) {
		p.cfg->path = xstrdup(path);
		p.dir = dir_of(path);
		text = read_file(&p, path, &len);
		if (text != NULL)
			parse_text(&p, text, len);
		free(text);
		for (size_t s = 0; s < NSECTIONS && p.nerrors == 0; s++) {
			if (sections[s].validate != NULL)
				sections[s].validate(&p, &sections[s],
				                     section_base(p.cfg, &sections[s]));
		}
		if (p.nerrors > CONFIG_MAX_ERRORS)
			fprintf(p.err, "%s: too many errors (%u), only the first %d shown\n", path,
			        p.nerrors, CONFIG_MAX_ERRORS);
	}
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

struct config *config_load(const char *path, char **error_r) { return load(path, error_r); }

struct config *config_load_defaults(void)
{
	char *error = NULL;
	struct config *cfg = load(NULL, &error);

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
	for (size_t s = 0; s < NSECTIONS; s++) {
		void *base = section_base(cfg, &sections[s]);
		for (size_t i = 0; i < sections[s].nkeys; i++) {
			const struct cfg_key *k = &sections[s].keys[i];
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
	}
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
		format_size(*CFIELD(base, k, size_t), buf);
		fputs(buf, out);
		break;
	case CFG_DURATION:
		format_duration(*CFIELD(base, k, unsigned), buf);
		fputs(buf, out);
		break;
	case CFG_ENUM:
		fputs(k->names[*CFIELD(base, k, int)], out);
		break;
	}
}

void config_dump(const struct config *cfg, FILE *out)
{
	fprintf(out, "# seutudesk configuration in effect (%s%s)\n",
	        cfg->path ? "loaded from " : "", cfg->path ? cfg->path : "built-in defaults");
	for (size_t s = 0; s < NSECTIONS; s++) {
		const void *base = section_cbase(cfg, &sections[s]);

		fprintf(out, "\n[%s]\n", sections[s].name);
		for (size_t i = 0; i < sections[s].nkeys; i++) {
			const struct cfg_key *k = &sections[s].keys[i];

			fprintf(out, "# %s (default: %s%s)", k->help, k->def ? k->def : "none",
			        k->flags & CFG_RELOAD ? "" : "; needs a restart");
			if (k->type == CFG_SECRET)
				fprintf(out, "; secret: %s",
				        *(char *const *)((const char *)base + k->aux_offset)
				            ? "(set)"
				            : "(not set)");
			fprintf(out, "\n%s = ", k->name);
			dump_value(k, base, out);
			fputc('\n', out);
		}
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
		const void *a = section_cbase(old_cfg, &sections[s]);
		const void *b = section_cbase(new_cfg, &sections[s]);
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
		const void *a = section_cbase(old_cfg, &sections[s]);
		void *b = section_base(new_cfg, &sections[s]);
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
