/* test-config: the configuration file: values, defaults, every error message, the dump. */
#include "autoconfig.h"

#include "config.h"
#include "mime.h"
#include "tap.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];
static char datadir[PATH_MAX]; /* absolute tests/data/config */

/* Writes text to tmpdir/name and returns the path (static buffer). */
static const char *write_conf(const char *name, const char *text)
{
	static char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	return path;
}

/* Loads text; returns the error with the tmp path replaced by "t.conf", or
 * NULL when it loaded. */
static char *load_error(const char *text)
{
	const char *path = write_conf("t.conf", text);
	char *error = NULL, *out, *p;
	struct config *cfg = config_load(path, &error);
	size_t plen = strlen(tmpdir) + 1, n = 0;

	if (cfg != NULL) {
		config_free(&cfg);
		return NULL;
	}
	/* Shorten "<tmpdir>/t.conf" and "<tmpdir>/" to "t.conf" and "DIR/". */
	out = calloc(1, strlen(error) + 1);
	for (p = error; *p;) {
		if (strncmp(p, tmpdir, plen - 1) == 0 && p[plen - 1] == '/') {
			if (strncmp(p + plen, "t.conf", 6) != 0) {
				memcpy(out + n, "DIR/", 4);
				n += 4;
			}
			p += plen;
		} else {
			out[n++] = *p++;
		}
	}
	free(error);
	return out;
}

static const struct {
	const char *text;
	const char *error; /* NULL: loads */
} error_cases[] = {
    {"", NULL},
    {"# comment only\n; another\n\n", NULL},
    {"[daemon]\nhots = x\n", "t.conf:2: unknown key 'hots' in [daemon]"},
    {"[database]\nhots = x\n", "t.conf:2: unknown key 'hots' in [database]"},
    {"[mailbx]\nhost = x\nport = 1\n", "t.conf:1: unknown section [mailbx]"},
    {"[mailbx]\n[daemon]\nfoo = 1\n",
     "t.conf:1: unknown section [mailbx]\nt.conf:3: unknown key 'foo' in [daemon]"},
    {"[daemon support]\n", "t.conf:1: section [daemon] takes no name, got 'support'"},
    {"[daemon\n", "t.conf:1: expected '[section]', got '[daemon'"},
    {"[daemon] x\n", "t.conf:1: expected '[section]', got '[daemon] x'"},
    {"log_level = info\n", "t.conf:1: key 'log_level' outside any section"},
    {"[daemon]\nlog_level\n", "t.conf:2: expected 'key = value' or '[section]', got 'log_level'"},
    {"[daemon]\nLog-Level = info\n", "t.conf:2: expected a key of a-z, 0-9 and _, got 'Log-Level'"},
    {"[daemon]\nlog_level = loud\n",
     "t.conf:2: expected one of error, warn, info, debug, got 'loud'"},
    {"[daemon]\nlog_level = INFO\n",
     "t.conf:2: expected one of error, warn, info, debug, got 'INFO'"},
    {"[daemon]\nsyslog = maybe\n", "t.conf:2: expected yes or no, got 'maybe'"},
    {"[daemon]\nsyslog =\n", "t.conf:2: expected yes or no, got ''"},
    {"[daemon]\nsyslog = On\n", NULL},
    {"[daemon]\nrules_dir =\n", "t.conf:2: expected a path, got ''"},
    {"[daemon]\npid_file =\n", NULL},
    {"[daemon]\nlog_level = info\nlog_level = debug\n",
     "t.conf:3: duplicate key 'log_level' in [daemon] (first set on line 2)"},
    {"[daemon]\nlog_level = info\n[daemon]\nlog_level = debug\n",
     "t.conf:4: duplicate key 'log_level' in [daemon] (first set on line 2)"},
    {"[limits]\nmax_message_size = big\n", "t.conf:2: expected a size like 32M, got 'big'"},
    {"[limits]\nmax_message_size = 32 M\n", "t.conf:2: expected a size like 32M, got '32 M'"},
    {"[limits]\nmax_message_size = 32MB\n", "t.conf:2: expected a size like 32M, got '32MB'"},
    {"[limits]\nmax_message_size = -1\n", "t.conf:2: expected a size like 32M, got '-1'"},
    {"[limits]\nmax_message_size = 99999999999999999999\n",
     "t.conf:2: expected a size like 32M, got '99999999999999999999'"},
    {"[limits]\nmax_message_size = 1K\n", "t.conf:2: expected a size from 64K to 1G, got '1K'"},
    {"[limits]\nmax_message_size = 2G\n", "t.conf:2: expected a size from 64K to 1G, got '2G'"},
    {"[limits]\nmax_message_size = 16777216T\n",
     "t.conf:2: expected a size like 32M, got '16777216T'"},
    {"[limits]\nmax_parts = 0\n", "t.conf:2: expected an integer from 1 to 10000, got '0'"},
    {"[limits]\nmax_parts = 10001\n", "t.conf:2: expected an integer from 1 to 10000, got '10001'"},
    {"[limits]\nmax_parts = 12x\n", "t.conf:2: expected an integer from 1 to 10000, got '12x'"},
    {"[limits]\nmax_parts = +5\n", "t.conf:2: expected an integer from 1 to 10000, got '+5'"},
    {"[limits]\nmax_depth = 99999999999999999999999\n",
     "t.conf:2: expected an integer from 1 to 100, got '99999999999999999999999'"},
    {"[limits]\nmax_header_size = 1M\n[limits]\nmax_message_size = 512K\n",
     "t.conf:2: max_header_size (1M) is larger than max_message_size (512K)"},
    {"[limits]\nmax_message_size = 128K\n",
     "t.conf:2: max_header_size (256K) is larger than max_message_size (128K)"},
    {"[database]\nconnect_timeout = soon\n",
     "t.conf:2: expected a duration like 30s, 5m, 2h or 1h30m, got 'soon'"},
    {"[database]\nconnect_timeout = 30\n",
     "t.conf:2: expected a duration like 30s, 5m, 2h or 1h30m, got '30'"},
    {"[database]\nconnect_timeout = 0\n", "t.conf:2: expected a duration from 1s to 1h, got '0'"},
    {"[database]\nconnect_timeout = 2h\n", "t.conf:2: expected a duration from 1s to 1h, got '2h'"},
    {"[database]\nconninfo = host=/run/postgresql dbname\n",
     "t.conf:2: expected a libpq connection string: missing \"=\" after \"dbname\" in "
     "connection info string"},
    {"[database]\nconninfo = hots=x\n",
     "t.conf:2: expected a libpq connection string: invalid connection option \"hots\""},
    {"[database]\nconninfo = postgresql://u@localhost/seutudesk?sslmode=disable\n", NULL},
    {"[database]\npassword_file = missing.pass\n",
     "t.conf:2: cannot read password_file 'DIR/missing.pass': No such file or directory"},
    {"[database]\npassword_file = .\n",
     "t.conf:2: cannot read password_file 'DIR/.': not a regular file"},
    {"[database]\npassword_file = empty.pass\n",
     "t.conf:2: cannot read password_file 'DIR/empty.pass': empty"},
    {"[database]\npassword_file = two.pass\n",
     "t.conf:2: cannot read password_file 'DIR/two.pass': more than one line"},
    {"[database]\npassword_file = big.pass\n",
     "t.conf:2: cannot read password_file 'DIR/big.pass': larger than 4K"},
    {"[database]\npassword_file =\n", NULL},
    {"[intake]\nsubject_tag = Seutu IT\n",
     "t.conf:2: expected a tag of 1 to 32 letters, digits, '.', '_' or '-', got 'Seutu IT'"},
    {"[intake]\nsubject_tag =\n",
     "t.conf:2: expected a tag of 1 to 32 letters, digits, '.', '_' or '-', got ''"},
    {"[intake]\nsubject_tag = \x01x\n",
     "t.conf:2: expected a tag of 1 to 32 letters, digits, '.', '_' or '-', got '?x'"},
    {"[intake]\nsubject_tag = "
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
     "t.conf:2: expected a tag of 1 to 32 letters, digits, '.', '_' or '-', got "
     "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...'"},
    {"  [ daemon ]  \n\tlog_level\t=\tdebug  \n", NULL},
    {"[daemon]\nlog_level = info", NULL}, /* no final newline */
};

static void test_error_cases(void)
{
	write_conf("empty.pass", "\n");
	write_conf("two.pass", "one\ntwo\n");
	{
		char big[5000];
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		write_conf("big.pass", big);
	}
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		char *got = load_error(error_cases[i].text);
		char desc[200];

		/* One line of TAP per case, whatever the message holds. */
		snprintf(desc, sizeof(desc), "%s",
		         error_cases[i].error ? error_cases[i].error : "loads");
		for (char *c = desc; *c; c++)
			if (*c == '\n')
				*c = '|';
		tap_str(got, error_cases[i].error, "case %zu: %s", i, desc);
		free(got);
	}
}

static void test_collects_all_errors(void)
{
	char path[PATH_MAX + 32], *error = NULL, *want;
	struct config *cfg;

	snprintf(path, sizeof(path), "%s/errors.conf", datadir);
	cfg = config_load(path, &error);
	tap_ok(cfg == NULL, "errors.conf does not load");
	if (asprintf(&want,
	             "%1$s:2: key 'stray' outside any section\n"
	             "%1$s:4: expected one of error, warn, info, debug, got 'loud'\n"
	             "%1$s:5: expected yes or no, got 'maybe'\n"
	             "%1$s:7: unknown key 'hots' in [database]\n"
	             "%1$s:8: expected a libpq connection string: missing \"=\" after \"dbname\" "
	             "in connection info string\n"
	             "%1$s:10: expected a size like 32M, got 'big'\n"
	             "%1$s:11: expected an integer from 1 to 10000, got '0'\n"
	             "%1$s:13: duplicate key 'max_depth' in [limits] (first set on line 12)\n"
	             "%1$s:14: unknown section [mailbx]\n"
	             "%1$s:17: expected a tag of 1 to 32 letters, digits, '.', '_' or '-', got "
	             "'Seutu IT'\n"
	             "%1$s:18: expected 'key = value' or '[section]', got 'this line has no "
	             "equals sign'",
	             path) < 0)
		abort();
	tap_str(error, want, "every error of errors.conf, in order");
	free(want);
	free(error);
	config_free(&cfg);
}

static void test_unreadable_file(void)
{
	char *error = NULL;
	struct config *cfg = config_load("/nonexistent/seutudesk.conf", &error);

	tap_ok(cfg == NULL, "a missing file does not load");
	tap_str(error, "/nonexistent/seutudesk.conf: cannot open: No such file or directory",
	        "a missing file says so");
	free(error);
}

static void test_limits_of_input(void)
{
	char *line = malloc(5000), *text, *got;
	size_t n;

	memset(line, 'x', 4999);
	line[4999] = '\0';
	if (asprintf(&text, "[daemon]\n# %s\n", line) < 0)
		abort();
	got = load_error(text);
	tap_str(got, "t.conf:2: line longer than 4096 bytes", "an over-long line is an error");
	free(got);
	free(text);
	free(line);

	/* A NUL byte in the middle of a line. */
	{
		const char *path = write_conf("t.conf", "");
		FILE *f = fopen(path, "w");
		char *error = NULL;
		struct config *cfg;

		fwrite("[daemon]\nlog_level = in\0fo\n", 1, 27, f);
		fclose(f);
		cfg = config_load(path, &error);
		tap_ok(cfg == NULL && error && strstr(error, ":2: NUL byte in line") != NULL,
		       "a NUL byte is an error: %s", error ? error : "(loaded)");
		free(error);
		config_free(&cfg);
	}

	/* Many errors: the first 50 and a count. */
	text = NULL;
	n = 0;
	{
		FILE *f = open_memstream(&text, &n);
		for (int i = 0; i < 200; i++)
			fprintf(f, "bad line %d\n", i);
		fclose(f);
	}
	got = load_error(text);
	{
		size_t lines = 0;
		for (const char *p = got; p && *p; p++)
			lines += *p == '\n';
		tap_ok(got && lines == 50 &&
		           strstr(got, "t.conf: too many errors (51), only the "
		                       "first 50 shown") != NULL,
		       "errors stop after 50 (%zu lines)", lines);
	}
	free(got);
	free(text);
}

static void test_defaults(void)
{
	struct config *cfg = config_load_defaults();
	char *error = NULL;

	tap_ok(cfg != NULL, "defaults load");
	tap_ok(cfg->daemon.log_level == LOG_LVL_INFO, "default log_level info");
	tap_ok(!cfg->daemon.syslog, "default syslog no");
	tap_ok(cfg->daemon.pid_file == NULL, "default no pid_file");
	tap_str(cfg->daemon.rules_dir, PKGDATADIR "/rules.d", "default rules_dir");
	tap_str(cfg->database.conninfo, "dbname=seutudesk", "default conninfo");
	tap_ok(cfg->database.password == NULL && cfg->database.password_file == NULL,
	       "default no password");
	tap_ok(cfg->database.connect_timeout == 10, "default connect_timeout 10s");
	tap_ok(cfg->limits.max_message_size == 32u << 20, "default max_message_size 32M");
	tap_ok(cfg->limits.max_header_size == 256u << 10, "default max_header_size 256K");
	tap_ok(cfg->limits.max_parts == 256 && cfg->limits.max_depth == 16,
	       "default max_parts 256, max_depth 16");
	tap_ok(cfg->limits.max_text_size == 1u << 20, "default max_text_size 1M");
	tap_str(cfg->intake.subject_tag, "Seutu-IT", "default subject_tag");
	tap_ok(cfg->path == NULL, "defaults have no path");
	config_free(&cfg);
	tap_ok(cfg == NULL, "config_free clears the pointer");
	config_free(&cfg); /* harmless */

	/* An empty file gives exactly the defaults. */
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/empty.conf", datadir);
	cfg = config_load(path, &error);
	struct config *def = config_load_defaults();
	char *restart = cfg ? config_restart_needed(def, cfg) : NULL;
	tap_ok(cfg != NULL && restart == NULL, "empty.conf loads as the defaults");
	free(restart);
	config_free(&cfg);
	config_free(&def);
	free(error);
}

static void test_full(void)
{
	char path[PATH_MAX + 32], want[PATH_MAX + 64], *error = NULL;
	struct config *cfg;

	snprintf(path, sizeof(path), "%s/full.conf", datadir);
	cfg = config_load(path, &error);
	tap_ok(cfg != NULL, "full.conf loads%s%s", error ? ": " : "", error ? error : "");
	if (cfg == NULL) {
		free(error);
		return;
	}
	tap_str(cfg->path, path, "path kept as given");
	tap_ok(cfg->daemon.log_level == LOG_LVL_DEBUG, "log_level debug");
	tap_ok(cfg->daemon.syslog, "syslog yes");
	tap_str(cfg->daemon.pid_file, "/run/seutudesk/seutudeskd.pid", "absolute pid_file");
	snprintf(want, sizeof(want), "%s/rules.d", datadir);
	tap_str(cfg->daemon.rules_dir, want, "relative rules_dir is relative to the file");
	tap_str(cfg->database.conninfo, "host=/run/postgresql dbname=helpdesk user=seutudesk",
	        "conninfo");
	snprintf(want, sizeof(want), "%s/db.pass", datadir);
	tap_str(cfg->database.password_file, want, "password_file made absolute");
	tap_str(cfg->database.password, "s3cret pass", "password read, newline stripped");
	tap_ok(cfg->database.connect_timeout == 90, "connect_timeout 1m30s = 90");
	tap_ok(cfg->limits.max_message_size == 64u << 20, "max_message_size 64M");
	tap_ok(cfg->limits.max_header_size == 512u << 10, "max_header_size 512K");
	tap_ok(cfg->limits.max_parts == 500, "max_parts 500");
	tap_ok(cfg->limits.max_depth == 8, "max_depth 8");
	tap_ok(cfg->limits.max_text_size == 2u << 20, "max_text_size 2M");
	tap_str(cfg->intake.subject_tag, "Tuki-IT", "subject_tag");

	/* The mime limits mapping. */
	struct mime_limits lim, def;
	mime_limits_default(&def);
	config_mime_limits(cfg, &lim);
	tap_ok(lim.max_message_bytes == 64u << 20, "mime max_message_bytes from max_message_size");
	tap_ok(lim.max_header_bytes == 512u << 10, "mime max_header_bytes from max_header_size");
	tap_ok(lim.max_parts == 500, "mime max_parts");
	tap_ok(lim.max_depth == 8, "mime max_depth");
	tap_ok(lim.max_text_bytes == 2u << 20, "mime max_text_bytes from max_text_size");
	tap_ok(lim.max_addresses == def.max_addresses && lim.max_references == def.max_references,
	       "mime limits not in the config keep their defaults");
	{
		struct config *d = config_load_defaults();
		config_mime_limits(d, &lim);
		tap_ok(memcmp(&lim, &def, sizeof(lim)) == 0,
		       "the config's default limits are the MIME parser's defaults");
		config_free(&d);
	}

	/* The dump: every key, the password never. */
	char *dump = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&dump, &len);
	config_dump(cfg, f);
	fclose(f);
	tap_ok(strstr(dump, "s3cret") == NULL, "the dump does not show the password");
	tap_ok(strstr(dump, "secret: (set)") != NULL, "the dump says the password is set");
	tap_ok(strstr(dump, "\nlog_level = debug\n") && strstr(dump, "\nsyslog = yes\n") &&
	           strstr(dump, "\nconnect_timeout = 1m30s\n") &&
	           strstr(dump, "\nmax_message_size = 64M\n") &&
	           strstr(dump, "\nmax_header_size = 512K\n") &&
	           strstr(dump, "\nmax_parts = 500\n") &&
	           strstr(dump, "\nsubject_tag = Tuki-IT\n") &&
	           strstr(dump, "\n[database]\nconninfo") == NULL,
	       "the dump shows values in the file's syntax");
	tap_ok(strstr(dump, "(default: info; ") == NULL && strstr(dump, "(default: info)") &&
	           strstr(dump, "(default: dbname=seutudesk; needs a restart)"),
	       "the dump shows defaults and what needs a restart");

	/* The dump reads back as the same configuration. */
	{
		const char *p2 = write_conf("dump.conf", dump);
		char *err2 = NULL;
		struct config *again = config_load(p2, &err2);
		char *diff = again ? config_restart_needed(cfg, again) : NULL;
		tap_ok(again != NULL && diff == NULL &&
		           again->daemon.log_level == cfg->daemon.log_level &&
		           again->limits.max_parts == cfg->limits.max_parts,
		       "the dump loads back to the same settings%s%s", err2 ? ": " : "",
		       err2 ? err2 : "");
		free(diff);
		free(err2);
		config_free(&again);
	}
	free(dump);

	/* Reload: what differs and needs a restart. */
	{
		struct config *d = config_load_defaults();
		char *r = config_restart_needed(d, cfg);
		tap_str(r,
		        "daemon.syslog, daemon.pid_file, database.conninfo, "
		        "database.password_file, database.connect_timeout",
		        "restart needed for the non-reloadable keys only");
		free(r);
		/* The reloaded config keeps the running values of those keys. */
		config_keep_restart_keys(cfg, d);
		r = config_restart_needed(d, cfg);
		tap_ok(r == NULL && cfg->database.password == NULL && !cfg->daemon.syslog &&
		           cfg->daemon.pid_file == NULL &&
		           strcmp(cfg->database.conninfo, "dbname=seutudesk") == 0 &&
		           cfg->daemon.log_level == LOG_LVL_DEBUG && cfg->limits.max_parts == 500,
		       "config_keep_restart_keys keeps old restart keys, takes the new rest");
		free(r);
		config_keep_restart_keys(d, d); /* same object: harmless */
		config_free(&d);
	}
	config_free(&cfg);
}

static void test_crlf(void)
{
	char path[PATH_MAX + 32], *error = NULL;
	struct config *cfg;

	snprintf(path, sizeof(path), "%s/crlf.conf", datadir);
	cfg = config_load(path, &error);
	tap_ok(cfg && cfg->daemon.log_level == LOG_LVL_WARN && cfg->database.password &&
	           strcmp(cfg->database.password, "s3cret pass") == 0,
	       "CRLF line ends%s%s", error ? ": " : "", error ? error : "");
	free(error);
	config_free(&cfg);
}

static void test_conninfo_dump(void)
{
	const char *path = write_conf("t.conf", "[database]\nconninfo = host=db password=hunter2 "
	                                        "application_name='my app'\n");
	char *error = NULL, *dump = NULL;
	size_t len;
	struct config *cfg = config_load(path, &error);
	FILE *f;

	tap_ok(cfg != NULL, "conninfo with a password loads");
	if (cfg == NULL) {
		free(error);
		return;
	}
	f = open_memstream(&dump, &len);
	config_dump(cfg, f);
	fclose(f);
	tap_ok(strstr(dump, "hunter2") == NULL && strstr(dump, "password=(set)") != NULL &&
	           strstr(dump, "application_name='my app'") != NULL,
	       "a password inside conninfo is not dumped");
	free(dump);
	config_free(&cfg);
}

static void test_syntaxes(void)
{
	static const struct {
		const char *s;
		bool ok;
		uint64_t v;
	} sizes[] = {{"0", true, 0},
	             {"512", true, 512},
	             {"64K", true, 65536},
	             {"64k", true, 65536},
	             {"32M", true, 32u << 20},
	             {"2G", true, 2ull << 30},
	             {"1T", true, 1ull << 40},
	             {"", false, 0},
	             {"K", false, 0},
	             {"1.5M", false, 0},
	             {"1KB", false, 0},
	             {" 1", false, 0},
	             {"1X", false, 0},
	             {"18446744073709551615", true, UINT64_MAX},
	             {"18446744073709551616", false, 0},
	             {"16777216T", false, 0}};
	static const struct {
		const char *s;
		bool ok;
		uint64_t v;
	} durations[] = {{"0", true, 0},
	                 {"0s", true, 0},
	                 {"30s", true, 30},
	                 {"5m", true, 300},
	                 {"2h", true, 7200},
	                 {"1h30m", true, 5400},
	                 {"14d", true, 1209600},
	                 {"1d2h3m4s", true, 93784},
	                 {"30", false, 0},
	                 {"", false, 0},
	                 {"1m1h", false, 0},
	                 {"1h1h", false, 0},
	                 {"h", false, 0},
	                 {"1H", false, 0},
	                 {"1h 30m", false, 0},
	                 {"-1s", false, 0},
	                 {"99999999999999999999s", false, 0}};
	static const struct {
		const char *s;
		bool ok, v;
	} bools[] = {{"yes", true, true},    {"no", true, false},  {"true", true, true},
	             {"false", true, false}, {"on", true, true},   {"off", true, false},
	             {"YES", true, true},    {"Off", true, false}, {"1", false, false},
	             {"", false, false},     {"y", false, false}};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t v = 0;
		bool ok = config_parse_size(sizes[i].s, &v);
		tap_ok(ok == sizes[i].ok && (!ok || v == sizes[i].v), "size '%s'", sizes[i].s);
	}
	for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		uint64_t v = 0;
		bool ok = config_parse_duration(durations[i].s, &v);
		tap_ok(ok == durations[i].ok && (!ok || v == durations[i].v), "duration '%s'",
		       durations[i].s);
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		bool v = false;
		bool ok = config_parse_bool(bools[i].s, &v);
		tap_ok(ok == bools[i].ok && (!ok || v == bools[i].v), "bool '%s'", bools[i].s);
	}
}

/* The example file documents every key with its default: uncommenting the
 * first "#key = value" of each key must give exactly the built-in defaults. */
static void test_example(void)
{
	const char *srcdir = getenv("top_srcdir");
	char path[PATH_MAX], *line = NULL, *text = NULL, *seen = NULL, *error = NULL;
	size_t cap = 0, len = 0, seen_len = 0;
	FILE *in, *out, *seen_f;
	struct config *cfg, *def;

	snprintf(path, sizeof(path), "%s/contrib/seutudesk.conf.example", srcdir ? srcdir : ".");
	cfg = config_load(path, &error);
	tap_ok(cfg != NULL, "the example loads as it is%s%s", error ? ": " : "",
	       error ? error : "");
	config_free(&cfg);
	free(error);
	error = NULL;

	in = fopen(path, "r");
	out = open_memstream(&text, &len);
	seen_f = open_memstream(&seen, &seen_len);
	unsigned keys = 0;
	while (in && getline(&line, &cap, in) > 0) {
		size_t k = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz_");
		char key[80];

		if (line[0] == '#' && k > 0 && k < 60 && strncmp(line + 1 + k, " =", 2) == 0) {
			snprintf(key, sizeof(key), " %.*s ", (int)k, line + 1);
			fflush(seen_f);
			if (seen == NULL || strstr(seen, key) == NULL) {
				fputs(key, seen_f);
				fputs(strncmp(key, " rules_dir ", 11) == 0 ? "#" : "", out);
				fputs(line + 1, out);
				keys++;
				continue;
			}
		}
		fputs(line, out);
	}
	if (in)
		fclose(in);
	fclose(out);
	fclose(seen_f);
	free(line);
	free(seen);
	tap_ok(keys == 13, "the example shows all 13 keys (%u)", keys);

	cfg = config_load(write_conf("example.conf", text), &error);
	def = config_load_defaults();
	char *diff = cfg ? config_restart_needed(def, cfg) : NULL;
	tap_ok(cfg != NULL && diff == NULL &&
	           memcmp(&cfg->limits, &def->limits, sizeof(def->limits)) == 0 &&
	           cfg->daemon.log_level == def->daemon.log_level &&
	           strcmp(cfg->intake.subject_tag, def->intake.subject_tag) == 0,
	       "the example's documented values are the defaults%s%s", error ? ": " : "",
	       error ? error : "");
	free(diff);
	free(text);
	free(error);
	config_free(&cfg);
	config_free(&def);
}

static void test_default_path(void)
{
	unsetenv("SEUTUDESK_CONF");
	tap_str(config_default_path(), SYSCONFDIR "/seutudesk/seutudesk.conf",
	        "default path under SYSCONFDIR");
	setenv("SEUTUDESK_CONF", "/tmp/x.conf", 1);
	tap_str(config_default_path(), "/tmp/x.conf", "SEUTUDESK_CONF overrides");
	setenv("SEUTUDESK_CONF", "", 1);
	tap_str(config_default_path(), SYSCONFDIR "/seutudesk/seutudesk.conf",
	        "an empty SEUTUDESK_CONF is ignored");
	unsetenv("SEUTUDESK_CONF");
}

static void cleanup(void)
{
	static const char *const files[] = {"t.conf",   "dump.conf", "empty.pass",
	                                    "two.pass", "big.pass",  "example.conf"};
	char path[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

int main(void)
{
	const char *srcdir = getenv("top_srcdir");
	char rel[PATH_MAX];
	char *real;

	snprintf(rel, sizeof(rel), "%s/tests/data/config", srcdir ? srcdir : ".");
	real = realpath(rel, NULL);
	if (real == NULL) {
		printf("Bail out! cannot find %s (set top_srcdir)\n", rel);
		return 1;
	}
	snprintf(datadir, sizeof(datadir), "%s", real);
	free(real);
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-config.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	/* Messages show tmpdir as realpath() sees it. */
	real = realpath(tmpdir, NULL);
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);

	test_error_cases();
	test_collects_all_errors();
	test_unreadable_file();
	test_limits_of_input();
	test_defaults();
	test_full();
	test_crlf();
	test_conninfo_dump();
	test_syntaxes();
	test_example();
	test_default_path();
	cleanup();
	return tap_done();
}
