/* test-config: the configuration file: values, defaults, every error message, the dump. */
#include "autoconfig.h"

#include "calendar.h"
#include "config.h"
#include "imap.h"
#include "mime.h"
#include "smtp.h"
#include "tap.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[PATH_MAX];

/* A self-signed CA certificate, for tls_ca_file. */
static const char test_ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmDCCAT+gAwIBAgIUDuOlbAZljxa/ZqYbJ6K5y9ZCV8owCgYIKoZIzj0EAwIw\n"
    "ITEfMB0GA1UEAwwWc2V1dHVkZXNrIHVuaXQgdGVzdCBDQTAgFw0yNjEyMDExMzE5\n"
    "MjNaGA8yMTI2MTEwNzEzMTkyM1owITEfMB0GA1UEAwwWc2V1dHVkZXNrIHVuaXQg\n"
    "dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJIGQPwg09zsVCqKmcbp\n"
    "P2t6Qv0PL7P+JYpPRyVxPp2vILx7jIU0vzoiFhRm1y4wvQMhs2Q4GMDfkGPCximP\n"
    "x32jUzBRMB0GA1UdDgQWBBQwDvIMBZ+5jWhmuB9Ars8oljVdszAfBgNVHSMEGDAW\n"
    "gBQwDvIMBZ+5jWhmuB9Ars8oljVdszAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n"
    "BAMCA0cAMEQCIF8eEWmyYQtcwlj0tsAh8tY8Kf6qtt6HbKy9B1cSkTHLAiAA/RNh\n"
    "ZurikwkaS4J9DleFZE2fOohW+jXfVQvwbHLK9Q==\n"
    "-----END CERTIFICATE-----\n";
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

/* A complete mailbox section of four lines (the password file is written by
 * test_error_cases). */
#define MB(name)                                                                                   \
	"[mailbox " name "]\nhost = imap.example.fi\nuser = tuki\npassword_file = mb.pass\n"

/* A mailbox section of six lines logging in with an OAuth 2.0 mechanism;
 * the secret's keys follow. */
#define OAUTH(mech)                                                                                \
	"[mailbox m]\nhost = outlook.office365.com\nuser = tuki@kunta.fi\nauth = " mech            \
	"\noauth2_token_url = https://login.microsoftonline.com/t/oauth2/v2.0/token\n"             \
	"oauth2_client_id = app\n"

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
    /* shown up to 64 bytes, but never cut inside a UTF-8 character (here the 64th byte
     * is the first of an 'ä') */
    {"[intake]\nsubject_tag = "
     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3\xa4" "AAAA\n",
     "t.conf:2: expected a tag of 1 to 32 letters, digits, '.', '_' or '-', got "
     "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA...'"},
    {"  [ daemon ]  \n\tlog_level\t=\tdebug  \n", NULL},
    /* [intake] */
    {"[intake]\nreopen_window = 0\nack_limit = 0\n", NULL},
    {"[intake]\nreopen_window = 400d\n",
     "t.conf:2: expected a duration from 0s to 366d, got '400d'"},
    {"[intake]\nack_limit = -1\n", "t.conf:2: expected an integer from 0 to 1000, got '-1'"},
    {"[intake]\nmessage_id_domain = -bad.fi\n",
     "t.conf:2: expected a domain name like seutu-it.fi, got '-bad.fi'"},
    {"[intake]\nmessage_id_domain = seutu-it..fi\n",
     "t.conf:2: expected a domain name like seutu-it.fi, got 'seutu-it..fi'"},
    {"[intake]\ntemplates_dir =\n", "t.conf:2: expected a path, got ''"},
    /* [smtp] */
    {"[smtp]\nhost = 127.0.0.1\nport = 2525\nstarttls = no\nhelo_name = desk.seutu-it.fi\n", NULL},
    {"[smtp]\nhost = relay.example.fi\nstarttls = required\nuser = tuki\npassword_file = mb.pass\n",
     NULL},
    {"[smtp]\nhost = relay.example.fi\nuser = tuki\npassword_file = mb.pass\n", NULL},
    {"[smtp]\nhost = relay.example.fi\ntls = smtps\nuser = tuki\npassword_file = mb.pass\n", NULL},
    {"[smtp]\nhost = relay.example.fi\ntls = none\nuser = tuki\npassword_file = mb.pass\n",
     "t.conf:4: user (AUTH) needs tls = starttls or smtps, unless host is localhost or a "
     "loopback address"},
    {"[smtp]\nhost = relay.example.fi\nstarttls = no\nuser = tuki\npassword_file = mb.pass\n",
     "t.conf:4: user (AUTH) needs tls = starttls or smtps, unless host is localhost or a "
     "loopback address"},
    {"[smtp]\nhost = 127.0.0.1\nstarttls = no\nuser = tuki\npassword_file = mb.pass\n", NULL},
    {"[smtp]\nuser = tuki\npassword_file = mb.pass\n", NULL},
    /* [smtp] with OAuth 2.0: the [mailbox] keys and checks. */
    {"[smtp]\nhost = smtp.office365.com\nport = 587\nuser = tuki@seutu-it.fi\nauth = xoauth2\n"
     "oauth2_token_url = https://login.microsoftonline.com/t/oauth2/v2.0/token\n"
     "oauth2_client_id = app\noauth2_secret_file = oauth.secret\n"
     "oauth2_scope = https://outlook.office365.com/.default\n",
     NULL},
    {"[smtp]\ntls = smtps\nuser = u\nauth = oauthbearer\n"
     "oauth2_token_url = https://login.example.com/token\noauth2_client_id = app\n"
     "oauth2_refresh_token_file = oauth.secret\n",
     NULL},
    {"[smtp]\nuser = u\nauth = xoauth2\n",
     "t.conf:3: auth = xoauth2 needs oauth2_token_url\n"
     "t.conf:3: auth = xoauth2 needs oauth2_client_id\n"
     "t.conf:3: auth = xoauth2 needs oauth2_secret_file (the client_credentials grant) or "
     "oauth2_refresh_token_file (the refresh_token grant)"},
    {"[smtp]\nauth = xoauth2\noauth2_token_url = https://login.example.com/token\n"
     "oauth2_client_id = app\noauth2_secret_file = oauth.secret\n",
     "t.conf:2: auth = xoauth2 needs a user (the mailbox we send as)"},
    {"[smtp]\nhost = 127.0.0.1\ntls = none\nuser = u\nauth = xoauth2\n"
     "oauth2_token_url = https://login.example.com/token\n"
     "oauth2_client_id = app\noauth2_secret_file = oauth.secret\n",
     "t.conf:5: auth = xoauth2 needs tls = starttls or smtps"},
    {"[smtp]\nuser = u\nauth = xoauth2\npassword_file = mb.pass\n"
     "oauth2_token_url = https://login.example.com/token\n"
     "oauth2_client_id = app\noauth2_secret_file = oauth.secret\n",
     "t.conf:4: password_file is for auth = password; auth = xoauth2 takes its token from "
     "oauth2_token_url"},
    {"[smtp]\nuser = u\npassword_file = mb.pass\noauth2_scope = x\n",
     "t.conf:4: oauth2_scope is for auth = xoauth2 or oauthbearer, but auth = password"},
    {"[smtp]\nuser = u\nauth = xoauth2\noauth2_token_url = https://login.example.com/token\n"
     "oauth2_client_id = app\noauth2_secret_file = open.secret\n",
     "t.conf:6: cannot read oauth2_secret_file 'DIR/open.secret': open to other users; make it "
     "mode 0600 or 0640 (chmod o-rwx,g-w)"},
    {"[smtp]\nhost = ::1\n", "t.conf:2: expected a host name or IPv4 address, got '::1'"},
    {"[smtp]\nhost = relay example\n",
     "t.conf:2: expected a host name or IPv4 address, got 'relay example'"},
    {"[smtp]\nport = 0\n", "t.conf:2: expected an integer from 1 to 65535, got '0'"},
    {"[smtp]\ntls = tls\n", "t.conf:2: expected one of starttls, smtps, none, got 'tls'"},
    {"[smtp]\nstarttls = if-available\n",
     "t.conf:2: starttls = if-available is no longer supported: write tls = starttls (STARTTLS "
     "required, certificate verified; the default), tls = smtps (port 465) or tls = none "
     "(plain text)"},
    {"[smtp]\nstarttls = yes\n",
     "t.conf:2: starttls = yes is no longer supported: write tls = starttls (STARTTLS "
     "required, certificate verified; the default), tls = smtps (port 465) or tls = none "
     "(plain text)"},
    {"[smtp]\ntls = starttls\nstarttls = required\n",
     "t.conf:3: starttls is the old name of tls, set on line 2: keep only tls"},
    {"[smtp]\ntls = smtps\ntls_ca_file = ca.pem\n", NULL},
    {"[smtp]\ntls_ca_file =\n", NULL},
    {"[smtp]\ntls_ca_file = missing.pem\n",
     "t.conf:2: cannot read tls_ca_file 'DIR/missing.pem': No such file or directory"},
    {"[smtp]\ntls_ca_file = mb.pass\n",
     "t.conf:2: tls_ca_file 'DIR/mb.pass': no PEM certificate in it"},
    {"[smtp]\nhost = 127.0.0.1\ntls = none\ntls_ca_file = ca.pem\n",
     "t.conf:4: tls_ca_file needs tls = starttls or smtps"},
    {"[smtp]\nuser = tuki\n", "t.conf:2: user needs a password_file"},
    {"[smtp]\npassword_file = mb.pass\n", "t.conf:2: password_file needs a user"},
    {"[smtp]\nuser =\npassword_file =\n", NULL},
    {"[smtp]\nhelo_name = my host\n",
     "t.conf:2: expected a domain name like seutu-it.fi, got 'my host'"},
    {"[smtp]\ntimeout = 0\n", "t.conf:2: expected a duration from 1s to 1h, got '0'"},
    {"[smtp]\nfrom = Seutu-IT <tuki@seutu-it.fi>\nbounce_address = bounces@seutu-it.fi\n", NULL},
    {"[smtp]\nfrom = \"Seutu-IT: tuki\" <tuki@seutu-it.fi>\n", NULL},
    {"[smtp]\nfrom = tuki@seutu-it.fi\n", NULL},
    {"[smtp]\nfrom = tuki\n",
     "t.conf:2: expected an address like Seutu-IT tuki <tuki@seutu-it.fi>, got 'tuki'"},
    {"[smtp]\nfrom = Tuki <tuki@seutu-it.fi> extra\n",
     "t.conf:2: expected an address like Seutu-IT tuki <tuki@seutu-it.fi>, got 'Tuki "
     "<tuki@seutu-it.fi> extra'"},
    {"[smtp]\nfrom = a@b.fi, c@d.fi\n",
     "t.conf:2: expected an address like Seutu-IT tuki <tuki@seutu-it.fi>, got 'a@b.fi, "
     "c@d.fi'"},
    {"[smtp]\nbounce_address = Tuki <tuki@seutu-it.fi>\n",
     "t.conf:2: expected a bare address like tuki@seutu-it.fi, got 'Tuki <tuki@seutu-it.fi>'"},
    {"[smtp]\nbounce_address = <tuki@seutu-it.fi>\n",
     "t.conf:2: expected a bare address like tuki@seutu-it.fi, got '<tuki@seutu-it.fi>'"},
    {"[smtp]\nbounce_address = tuki@\n",
     "t.conf:2: expected a bare address like tuki@seutu-it.fi, got 'tuki@'"},
    {"[smtp]\nbounce_address =\n",
     "t.conf:2: expected a bare address like tuki@seutu-it.fi, got ''"},
    /* [outbox] */
    {"[outbox]\nretry_initial = 30s\nretry_max = 30s\ngive_up_after = 1d\nworkers = 16\n", NULL},
    {"[outbox]\nworkers = 0\n", "t.conf:2: expected an integer from 1 to 16, got '0'"},
    {"[outbox]\nworkers = 17\n", "t.conf:2: expected an integer from 1 to 16, got '17'"},
    {"[outbox]\nretry_max = 30s\n", "t.conf:2: retry_max (30s) is shorter than retry_initial (1m)"},
    {"[outbox]\nretry_initial = 2h\n",
     "t.conf:2: retry_max (1h) is shorter than retry_initial (2h)"},
    {"[outbox]\ngive_up_after = 30s\n", "t.conf:2: expected a duration from 1m to 30d, got '30s'"},
    /* [mailbox NAME] */
    {MB("support"), NULL},
    {MB("support") MB("tuki-2") MB("sv_support"), NULL},
    {"[mailbox]\nhost = x\n", "t.conf:1: section [mailbox] needs a name, as in [mailbox support]"},
    {"[mailbox Support]\nhost = x\n",
     "t.conf:1: expected a mailbox name of 1 to 64 of a-z, 0-9, '_' and '-', got 'Support'"},
    {"[mailbox a b]\n",
     "t.conf:1: expected a mailbox name of 1 to 64 of a-z, 0-9, '_' and '-', got 'a b'"},
    {"[mailbox "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
     "t.conf:1: expected a mailbox name of 1 to 64 of a-z, 0-9, '_' and '-', got "
     "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"},
    {MB("support") MB("other") MB("support") "hots = ignored\n",
     "t.conf:9: duplicate section [mailbox support] (first on line 1)"},
    {"[mailbox support]\nhost = imap.example.fi\nuser = tuki\n",
     "t.conf:1: missing key 'password_file' in [mailbox support] (auth = password)"},
    {"[daemon]\n[mailbox support]\n", "t.conf:2: missing key 'host' in [mailbox support]\n"
                                      "t.conf:2: missing key 'user' in [mailbox support]"},
    {"[mailbox support]\nhost = imap.example.fi\nuser = tuki\npassword_file = missing.pass\n",
     "t.conf:4: cannot read password_file 'DIR/missing.pass': No such file or directory"},
    {"[mailbox support]\nhost = imap.example.fi\nuser = tuki\npassword_file =\n",
     "t.conf:1: missing key 'password_file' in [mailbox support] (auth = password)"},
    {MB("support") "hots = x\n", "t.conf:5: unknown key 'hots' in [mailbox support]"},
    {MB("support") "host = other.example.fi\n",
     "t.conf:5: duplicate key 'host' in [mailbox support] (first set on line 2)"},
    {MB("a") MB("b") "[mailbox a]\n", "t.conf:9: duplicate section [mailbox a] (first on line 1)"},
    {MB("support") "tls = none\n",
     "t.conf:5: tls = none is allowed only to localhost or a loopback address, not "
     "'imap.example.fi'"},
    {"[mailbox support]\nhost = 10.0.0.1\ntls = none\nuser = u\npassword_file = mb.pass\n",
     "t.conf:3: tls = none is allowed only to localhost or a loopback address, not '10.0.0.1'"},
    {"[mailbox support]\nhost = ::2\ntls = none\nuser = u\npassword_file = mb.pass\n",
     "t.conf:3: tls = none is allowed only to localhost or a loopback address, not '::2'"},
    {"[mailbox support]\nhost = localhost.example.fi\ntls = none\nuser = u\npassword_file = "
     "mb.pass\n",
     "t.conf:3: tls = none is allowed only to localhost or a loopback address, not "
     "'localhost.example.fi'"},
    {"[mailbox a]\nhost = localhost\ntls = none\nuser = u\npassword_file = mb.pass\n"
     "[mailbox b]\nhost = 127.0.0.1\ntls = none\nuser = u\npassword_file = mb.pass\n"
     "[mailbox c]\nhost = 127.1.2.3\ntls = none\nuser = u\npassword_file = mb.pass\n"
     "[mailbox d]\nhost = ::1\ntls = none\nuser = u\npassword_file = mb.pass\n"
     "[mailbox e]\nhost = ::ffff:127.0.0.1\ntls = none\nuser = u\npassword_file = mb.pass\n"
     "[mailbox f]\nhost = LocalHost\ntls = none\nuser = u\npassword_file = mb.pass\n",
     NULL},
    {MB("support") "tls = tls\n", "t.conf:5: expected one of imaps, starttls, none, got 'tls'"},
    {MB("support") "port = 0\n", "t.conf:5: expected an integer from 1 to 65535, got '0'"},
    {MB("support") "user = x\n",
     "t.conf:5: duplicate key 'user' in [mailbox support] (first set on line 3)"},
    {"[mailbox support]\nhost = imap.example.fi\nuser =\npassword_file = mb.pass\n",
     "t.conf:3: expected 1 to 255 characters, no control characters, got ''"},
    {MB("support") "folder =\n",
     "t.conf:5: expected 1 to 255 characters, no control characters, got ''"},
    {MB("support") "processed = delete\n", "t.conf:5: expected one of move, flag, got 'delete'"},
    {MB("support") "processed_folder =\n", "t.conf:5: processed = move needs a processed_folder"},
    {MB("support") "processed = flag\nprocessed_folder =\n", NULL},
    {MB("support") "processed_folder = inbox\n",
     "t.conf:5: processed_folder 'inbox' is the intake folder itself"},
    {MB("support") "folder = Tuki\nprocessed_folder = Tuki\n",
     "t.conf:6: processed_folder 'Tuki' is the intake folder itself"},
    {MB("support") "folder = Tuki\nprocessed_folder = tuki\n", NULL},
    {MB("support") "processed_flag = \\Seen\n",
     "t.conf:5: expected an IMAP keyword of 1 to 64 characters without spaces or ( ) { % * \" "
     "\\ ], got '\\Seen'"},
    {MB("support") "processed_flag = Done Now\n",
     "t.conf:5: expected an IMAP keyword of 1 to 64 characters without spaces or ( ) { % * \" "
     "\\ ], got 'Done Now'"},
    {MB("support") "poll_interval = 0\n", "t.conf:5: expected a duration from 1s to 1h, got '0'"},
    {MB("support") "idle_timeout = 30m\n",
     "t.conf:5: expected a duration from 1m to 29m, got '30m'"},
    {MB("support") "idle_timeout = 29m\npoll_interval = 1h\n", NULL},
    {MB("support") "max_message_size = 1K\n", "t.conf:5: expected a size from 64K to 1G, got '1K'"},
    {MB("support") "max_message_size =\n", NULL},
    {MB("support") "tls_ca_file = ca.pem\n", NULL},
    {MB("support") "tls_ca_file =\n", NULL},
    {MB("support") "tls = starttls\ntls_ca_file = ca.pem\n", NULL},
    {MB("support") "tls_ca_file = missing.pem\n",
     "t.conf:5: cannot read tls_ca_file 'DIR/missing.pem': No such file or directory"},
    {MB("support") "tls_ca_file = mb.pass\n",
     "t.conf:5: tls_ca_file 'DIR/mb.pass': no PEM certificate in it"},
    {"[mailbox support]\nhost = 127.0.0.1\ntls = none\ntls_ca_file = ca.pem\nuser = u\n"
     "password_file = mb.pass\n",
     "t.conf:4: tls_ca_file needs tls = imaps or starttls"},
    /* A bad mailbox header skips its keys quietly; the next section is read again. */
    {"[mailbox Bad]\nhots = x\n[daemon]\nfoo = 1\n",
     "t.conf:1: expected a mailbox name of 1 to 64 of a-z, 0-9, '_' and '-', got 'Bad'\n"
     "t.conf:4: unknown key 'foo' in [daemon]"},
    {"[daemon]\nlog_level = info", NULL}, /* no final newline */
    {"[bridge]\nidle = 5m\nconversation_limit = 30\ncalendar = 24x7\n", NULL},
    {"[bridge]\ncalendar = nights\n",
     "t.conf:2: calendar 'nights' is not a [calendar] section (nor fi-office or 24x7)"},
    {"[bridge]\nidle = 10s\n", "t.conf:2: expected a duration from 1m to 1d, got '10s'"},
    {"[sla chat]\nchannel = chat\nfirst_response = 15m\n", NULL},
    {"[sla chat]\nchannel = fax\nfirst_response = 15m\n",
     "t.conf:2: channel 'fax' is not email or chat"},
    /* [costs]: the weights sum to 100; the error is on the last weight set. */
    {"[costs]\npopulation_weight = 60\nusers_weight = 20\nworkstations_weight = 20\n"
     "hourly_rate = 65.00\ncurrency = SEK\n",
     NULL},
    {"[costs]\npopulation_weight = 100\nusers_weight = 0\nworkstations_weight = 0\n", NULL},
    {"[costs]\nhourly_rate = 65\n", NULL},
    {"[costs]\nhourly_rate = 65.5\n", NULL},
    {"[costs]\npopulation_weight = 60\n",
     "t.conf:2: population_weight, users_weight and workstations_weight sum to 110, not 100 "
     "(60 + 25 + 25)"},
    {"[costs]\nusers_weight = 10\n\nworkstations_weight = 10\n",
     "t.conf:4: population_weight, users_weight and workstations_weight sum to 70, not 100 "
     "(50 + 10 + 10)"},
    {"[costs]\npopulation_weight = -10\n",
     "t.conf:2: expected an integer from 0 to 100, got '-10'"},
    {"[costs]\npopulation_weight = 50.5\n",
     "t.conf:2: expected an integer from 0 to 100, got '50.5'"},
    {"[costs]\nhourly_rate = 65.005\n", "t.conf:2: expected an amount like 65.00, got '65.005'"},
    {"[costs]\nhourly_rate = -65\n", "t.conf:2: expected an amount like 65.00, got '-65'"},
    {"[costs]\nhourly_rate = 65 EUR\n", "t.conf:2: expected an amount like 65.00, got '65 EUR'"},
    {"[costs]\nhourly_rate = 2000000\n",
     "t.conf:2: expected an amount from 0.00 to 1000000.00, got '2000000'"},
    {"[costs]\ncurrency = eur\n",
     "t.conf:2: expected a currency code of 3 capital letters, like EUR, got 'eur'"},
    /* [reports] */
    {"[reports]\nlink_lifetime = 30m\nsession_lifetime = 1d\ncalendar = 24x7\n", NULL},
    {"[reports]\nlink_lifetime = 30s\n", "t.conf:2: expected a duration from 1m to 1d, got '30s'"},
    {"[reports]\nsession_lifetime = 8d\n", "t.conf:2: expected a duration from 5m to 7d, got '8d'"},
    {"[reports]\ncalendar = nights\n",
     "t.conf:2: calendar 'nights' is not a [calendar] section (nor fi-office or 24x7)"},
    /* [report NAME] */
    {"[report monthly]\nmember = kinnula\nto = managers, talous@kinnula.fi\nkind = costs\n"
     "format = csv\nlang = sv\nby = none\n",
     NULL},
    {"[report all-sla]\nmember = all\nto = johto@seutu-it.fi\n", NULL},
    {"[report monthly]\nto = managers\n", "t.conf:1: missing key 'member' in [report monthly]"},
    {"[report monthly]\nmember = all\n", "t.conf:1: missing key 'to' in [report monthly]"},
    {"[report monthly]\nmember = Kinnula\nto = managers\n",
     "t.conf:2: expected a member id like kinnula, or all, got 'Kinnula'"},
    {"[report monthly]\nmember = all\nto = bosses\n",
     "t.conf:3: expected \"managers\" and/or mail addresses, separated by commas, got 'bosses'"},
    {"[report monthly]\nmember = all\nto =\n",
     "t.conf:3: expected \"managers\" and/or mail addresses, separated by commas, got ''"},
    {"[report monthly]\nmember = all\nto = managers\nkind = money\n",
     "t.conf:4: expected one of sla, volume, backlog, workload, costs, got 'money'"},
    {"[report monthly]\nmember = all\nto = managers\nformat = pdf\n",
     "t.conf:4: expected one of xlsx, csv, html, got 'pdf'"},
    {"[report monthly]\nmember = all\nto = managers\nlang = de\n",
     "t.conf:4: expected fi, sv or en, got 'de'"},
    {"[report monthly]\nmember = all\nto = managers\nby = week\n",
     "t.conf:4: expected municipality, sector, queue, category, priority, channel, agent or "
     "none, got 'week'"},
    {"[report]\nmember = all\n", "t.conf:1: section [report] needs a name, as in [report support]"},
    /* OAuth 2.0 mailboxes (oauth.secret is mode 0600, open.secret 0644). */
    {OAUTH("xoauth2") "oauth2_secret_file = oauth.secret\n", NULL},
    {OAUTH("oauthbearer") "oauth2_refresh_token_file = oauth.secret\n", NULL},
    {OAUTH("xoauth2") "oauth2_refresh_token_file = oauth.secret\noauth2_secret_file = "
                      "oauth.secret\noauth2_scope = https://outlook.office365.com/.default\n",
     NULL},
    {OAUTH("xoauth2"), "t.conf:4: auth = xoauth2 needs oauth2_secret_file (the "
                       "client_credentials grant) or oauth2_refresh_token_file (the "
                       "refresh_token grant)"},
    {OAUTH("xoauth2") "oauth2_secret_file = open.secret\n",
     "t.conf:7: cannot read oauth2_secret_file 'DIR/open.secret': open to other users; make it "
     "mode 0600 or 0640 (chmod o-rwx,g-w)"},
    {"[mailbox m]\nhost = h.example.fi\nuser = u\nauth = oauthbearer\n",
     "t.conf:4: auth = oauthbearer needs oauth2_token_url\n"
     "t.conf:4: auth = oauthbearer needs oauth2_client_id\n"
     "t.conf:4: auth = oauthbearer needs oauth2_secret_file (the client_credentials grant) or "
     "oauth2_refresh_token_file (the refresh_token grant)"},
    {OAUTH("xoauth2") "oauth2_secret_file = oauth.secret\npassword_file = mb.pass\n",
     "t.conf:8: password_file is for auth = password; auth = xoauth2 takes its token from "
     "oauth2_token_url"},
    {MB("m") "oauth2_client_id = app\n",
     "t.conf:5: oauth2_client_id is for auth = xoauth2 or oauthbearer, but auth = password"},
    {MB("m") "auth = kerberos\n",
     "t.conf:5: expected one of password, xoauth2, oauthbearer, got 'kerberos'"},
    {"[mailbox m]\noauth2_token_url = http://login.example.com/token\n",
     "t.conf:2: expected an https:// URL (http:// only to a loopback address), got "
     "'http://login.example.com/token'\n"
     "t.conf:1: missing key 'host' in [mailbox m]\nt.conf:1: missing key 'user' in [mailbox m]"},
    {"[mailbox m]\noauth2_token_url = https://\n",
     "t.conf:2: expected an https:// URL (http:// only to a loopback address), got 'https://'\n"
     "t.conf:1: missing key 'host' in [mailbox m]\nt.conf:1: missing key 'user' in [mailbox m]"},
};

static void test_error_cases(void)
{
	write_conf("empty.pass", "\n");
	write_conf("two.pass", "one\ntwo\n");
	write_conf("mb.pass", "imap-secret\n");
	write_conf("ca.pem", test_ca_pem);
	chmod(write_conf("oauth.secret", "client-secret\n"), 0600);
	chmod(write_conf("open.secret", "client-secret\n"), 0644);
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
	tap_ok(cfg->intake.reopen_window == 14 * 86400, "default reopen_window 14d");
	tap_ok(cfg->intake.ack_limit == 5, "default ack_limit 5");
	tap_str(cfg->intake.message_id_domain, "seutu-it.fi", "default message_id_domain");
	tap_str(cfg->intake.templates_dir, PKGDATADIR "/templates", "default templates_dir");
	tap_str(cfg->smtp.host, "localhost", "default smtp host");
	tap_ok(cfg->smtp.port == 25 && cfg->smtp.tls == SMTP_TLS_STARTTLS &&
	           cfg->smtp.tls_ca_file == NULL,
	       "default smtp port 25, tls starttls, the system trust store");
	tap_ok(cfg->smtp.user == NULL && cfg->smtp.password == NULL &&
	           cfg->smtp.password_file == NULL && cfg->smtp.helo_name == NULL,
	       "default smtp: no AUTH, no helo_name");
	tap_ok(cfg->smtp.timeout == 60, "default smtp timeout 60s");
	tap_str(cfg->smtp.from, "Seutu-IT tuki <tuki@seutu-it.fi>", "default smtp from");
	tap_str(cfg->smtp.from_name, "Seutu-IT tuki", "default from_name");
	tap_str(cfg->smtp.from_address, "tuki@seutu-it.fi", "default from_address");
	tap_str(cfg->smtp.bounce_address, "tuki@seutu-it.fi", "default smtp bounce_address");
	tap_ok(cfg->outbox.retry_initial == 60 && cfg->outbox.retry_max == 3600 &&
	           cfg->outbox.give_up_after == 2 * 86400 && cfg->outbox.workers == 1,
	       "default outbox 1m, 1h, 2d, 1 worker");
	tap_ok(config_mailbox_count(cfg) == 0 && config_mailbox(cfg, 0) == NULL &&
	           config_mailbox_find(cfg, "support") == NULL,
	       "default: no mailboxes");
	{
		struct smtp_settings got, want;
		char *err = NULL;
		config_smtp_settings(cfg, &got);
		smtp_settings_default(&want);
		tap_ok(strcmp(got.host, want.host) == 0 && got.port == want.port &&
		           got.tls == want.tls && got.tls_ca_file == NULL &&
		           got.helo_name == NULL && got.auth_user == NULL &&
		           got.auth_password == NULL && got.timeout_ms == want.timeout_ms &&
		           got.max_message_bytes == want.max_message_bytes &&
		           got.max_recipients == want.max_recipients && !got.auth_cleartext,
		       "the default [smtp] maps onto smtp_settings_default()");
		tap_ok(smtp_settings_check(&got, &err),
		       "the default smtp settings pass the check%s%s", err ? ": " : "",
		       err ? err : "");
		free(err);
	}
	tap_ok(cfg->costs.population_weight == 50 && cfg->costs.users_weight == 25 &&
	           cfg->costs.workstations_weight == 25 && cfg->costs.hourly_rate == 0,
	       "default [costs] weights 50/25/25, hourly_rate 0");
	tap_str(cfg->costs.currency, "EUR", "default currency EUR");
	tap_ok(cfg->reports.link_lifetime == 15 * 60 && cfg->reports.session_lifetime == 8 * 3600,
	       "default [reports] link_lifetime 15m, session_lifetime 8h");
	tap_str(cfg->reports.calendar, "fi-office", "default [reports] calendar");
	tap_ok(cfg->nreports_mailed == 0, "default: no [report NAME] sections");
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

static struct config *load_text(const char *name, const char *text)
{
	char *error = NULL;
	struct config *cfg = config_load(write_conf(name, text), &error);

	if (cfg == NULL)
		printf("# %s\n", error);
	free(error);
	return cfg;
}

static char *dump_of(const struct config *cfg)
{
	char *dump = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&dump, &len);

	config_dump(cfg, f);
	fclose(f);
	return dump;
}

/* The dump without the [queue], [route] and [sla] sections: the example's
 * are the region's own setup, not defaults. */
static char *without_policy(char *dump)
{
	char *out = malloc(strlen(dump) + 1), *o = out;
	bool skip = false;

	for (char *line = dump; line && *line;) {
		char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line + 1) : strlen(line);
		if (line[0] == '[')
			skip = strncmp(line, "[queue ", 7) == 0 ||
			       strncmp(line, "[route ", 7) == 0 || strncmp(line, "[sla ", 5) == 0;
		if (!skip) {
			memcpy(o, line, n);
			o += n;
		}
		line += n;
	}
	*o = '\0';
	free(dump);
	return out;
}

static const char mailbox_conf[] = "[limits]\n"
                                   "max_message_size = 8M\n"
                                   "[mailbox support]\n"
                                   "host = imap.seutu-it.fi\n"
                                   "user = tuki@seutu-it.fi\n"
                                   "password_file = mb.pass\n"
                                   "[mailbox local]\n"
                                   "host = 127.0.0.1\n"
                                   "port = 10143\n"
                                   "tls = none\n"
                                   "user = local\n"
                                   "password_file = mb.pass\n"
                                   "folder = Tuki/Saapuneet\n"
                                   "processed = flag\n"
                                   "processed_folder =\n"
                                   "processed_flag = $Done\n"
                                   "poll_interval = 5s\n"
                                   "idle_timeout = 10m\n"
                                   "max_message_size = 1M\n"
                                   "[mailbox starttls]\n"
                                   "host = mail.example.fi\n"
                                   "tls = starttls\n"
                                   "tls_ca_file = ca.pem\n"
                                   "user = st\n"
                                   "password_file = mb.pass\n"
                                   "processed_folder = Done\n"
                                   "[smtp]\n"
                                   "host = relay.seutu-it.fi\n"
                                   "port = 587\n"
                                   "tls = starttls\n"
                                   "tls_ca_file = ca.pem\n"
                                   "user = desk\n"
                                   "password_file = smtp.pass\n"
                                   "helo_name = desk.seutu-it.fi\n"
                                   "timeout = 2m\n"
                                   "from = Seutu-IT asiakastuki <asiakastuki@seutu-it.fi>\n"
                                   "bounce_address = bounces@seutu-it.fi\n"
                                   "[outbox]\n"
                                   "retry_initial = 30s\n"
                                   "retry_max = 2h\n"
                                   "give_up_after = 3d\n"
                                   "workers = 4\n"
                                   "[intake]\n"
                                   "reopen_window = 7d\n"
                                   "ack_limit = 0\n"
                                   "message_id_domain = tuki.seutu-it.fi\n"
                                   "templates_dir = templates\n";

static void test_mailboxes(void)
{
	struct config *cfg, *def;
	const struct config_mailbox *a, *b, *c;
	char want[PATH_MAX + 64];

	write_conf("mb.pass", "imap-secret\n");
	write_conf("smtp.pass", "smtp-secret\n");
	write_conf("ca.pem", test_ca_pem);
	cfg = load_text("mailbox.conf", mailbox_conf);
	tap_ok(cfg != NULL, "mailbox and smtp sections load");
	if (cfg == NULL)
		return;
	tap_ok(config_mailbox_count(cfg) == 3, "three mailboxes");
	a = config_mailbox(cfg, 0);
	b = config_mailbox(cfg, 1);
	c = config_mailbox(cfg, 2);
	tap_ok(config_mailbox(cfg, 3) == NULL, "config_mailbox past the end is NULL");
	tap_ok(a && b && c && strcmp(a->name, "support") == 0 && strcmp(b->name, "local") == 0 &&
	           strcmp(c->name, "starttls") == 0,
	       "mailboxes in file order");
	tap_ok(config_mailbox_find(cfg, "local") == b && config_mailbox_find(cfg, "nope") == NULL,
	       "config_mailbox_find");
	if (!a || !b || !c) {
		config_free(&cfg);
		return;
	}
	/* The defaults, with the port and size derived. */
	tap_str(a->host, "imap.seutu-it.fi", "host");
	tap_ok(a->tls == IMAP_TLS_IMAPS && a->port == 993, "default tls imaps on port 993");
	tap_str(a->user, "tuki@seutu-it.fi", "user");
	snprintf(want, sizeof(want), "%s/mb.pass", tmpdir);
	tap_str(a->password_file, want, "password_file relative to the file");
	tap_str(a->password, "imap-secret", "password read");
	tap_str(a->folder, "INBOX", "default folder INBOX");
	tap_ok(a->processed == CONFIG_PROCESSED_MOVE, "default processed move");
	tap_str(a->processed_folder, "Processed", "default processed_folder");
	tap_str(a->processed_flag, "$SeutudeskDone", "default processed_flag");
	tap_ok(a->poll_interval == 60 && a->idle_timeout == 25 * 60,
	       "default poll_interval 60s, idle_timeout 25m");
	tap_ok(a->max_message_size == 8u << 20, "max_message_size falls back to [limits]");
	/* Everything set. */
	tap_ok(b->tls == IMAP_TLS_NONE && b->port == 10143, "tls none to loopback, port as set");
	tap_str(b->folder, "Tuki/Saapuneet", "folder");
	tap_ok(b->processed == CONFIG_PROCESSED_FLAG && b->processed_folder == NULL,
	       "processed flag without a processed_folder");
	tap_str(b->processed_flag, "$Done", "processed_flag");
	tap_ok(b->poll_interval == 5 && b->idle_timeout == 600, "poll_interval, idle_timeout");
	tap_ok(b->max_message_size == 1u << 20, "max_message_size of the mailbox wins");
	tap_ok(c->tls == IMAP_TLS_STARTTLS && c->port == 143, "starttls defaults to port 143");
	snprintf(want, sizeof(want), "%s/ca.pem", tmpdir);
	tap_str(c->tls_ca_file, want, "tls_ca_file relative to the file");
	tap_ok(a->tls_ca_file == NULL && b->tls_ca_file == NULL,
	       "no tls_ca_file by default: the system trust store");
	tap_str(c->processed_folder, "Done", "processed_folder");

	/* The IMAP mapping. */
	{
		struct imap_settings s, d;
		imap_settings_default(&d);
		config_imap_settings(b, &s);
		tap_ok(s.host == b->host && s.port == 10143 && s.tls == IMAP_TLS_NONE &&
		           s.user == b->user && s.password == b->password && s.folder == b->folder,
		       "config_imap_settings borrows host, port, tls, user, password, folder");
		tap_ok(
		    s.max_message_bytes == 1u << 20 && s.timeout == d.timeout &&
		        s.max_response_bytes == d.max_response_bytes,
		    "config_imap_settings: size from the mailbox, the rest the adapter's defaults");
		config_imap_settings(a, &s);
		tap_ok(s.port == 993 && s.tls == IMAP_TLS_IMAPS &&
		           s.max_message_bytes == 8u << 20 &&
		           strcmp(s.password, "imap-secret") == 0,
		       "config_imap_settings of a defaulted mailbox");
		tap_ok(s.tls_ca_file == NULL, "config_imap_settings: no tls_ca_file by default");
		config_imap_settings(c, &s);
		tap_ok(s.tls_ca_file == c->tls_ca_file && s.tls == IMAP_TLS_STARTTLS,
		       "config_imap_settings borrows tls_ca_file");
	}
	/* The SMTP mapping. */
	{
		struct smtp_settings s, d;
		char *err = NULL;
		smtp_settings_default(&d);
		config_smtp_settings(cfg, &s);
		tap_ok(strcmp(s.host, "relay.seutu-it.fi") == 0 && s.port == 587 &&
		           s.tls == SMTP_TLS_STARTTLS && s.tls_ca_file == cfg->smtp.tls_ca_file &&
		           s.tls_ca_file != NULL && !s.auth_cleartext &&
		           strcmp(s.helo_name, "desk.seutu-it.fi") == 0 &&
		           strcmp(s.auth_user, "desk") == 0 &&
		           strcmp(s.auth_password, "smtp-secret") == 0 && s.timeout_ms == 120000,
		       "config_smtp_settings maps [smtp]");
		tap_ok(!s.auth_cleartext && s.max_message_bytes == d.max_message_bytes &&
		           s.max_recipients == d.max_recipients,
		       "config_smtp_settings: the rest are the adapter's defaults");
		tap_ok(smtp_settings_check(&s, &err), "mapped smtp settings pass the check%s%s",
		       err ? ": " : "", err ? err : "");
		free(err);
	}
	tap_str(cfg->smtp.from, "Seutu-IT asiakastuki <asiakastuki@seutu-it.fi>", "smtp from");
	tap_ok(strcmp(cfg->smtp.from_name, "Seutu-IT asiakastuki") == 0 &&
	           strcmp(cfg->smtp.from_address, "asiakastuki@seutu-it.fi") == 0,
	       "from split into from_name and from_address");
	tap_str(cfg->smtp.bounce_address, "bounces@seutu-it.fi", "smtp bounce_address");
	tap_ok(cfg->outbox.retry_initial == 30 && cfg->outbox.retry_max == 7200 &&
	           cfg->outbox.give_up_after == 3 * 86400 && cfg->outbox.workers == 4,
	       "outbox values");
	snprintf(want, sizeof(want), "%s/templates", tmpdir);
	tap_ok(cfg->intake.reopen_window == 7 * 86400 && cfg->intake.ack_limit == 0 &&
	           strcmp(cfg->intake.message_id_domain, "tuki.seutu-it.fi") == 0 &&
	           strcmp(cfg->intake.templates_dir, want) == 0,
	       "intake values");

	/* The dump: every section and instance, no secret, and it loads back the same. */
	char *dump = dump_of(cfg);
	tap_ok(strstr(dump, "imap-secret") == NULL && strstr(dump, "smtp-secret") == NULL,
	       "the dump shows no password");
	tap_ok(strstr(dump, "\n[mailbox support]\n") && strstr(dump, "\n[mailbox local]\n") &&
	           strstr(dump, "\n[smtp]\n") && strstr(dump, "\n[outbox]\n") &&
	           strstr(dump, "\nport = 993\n") && strstr(dump, "\nidle_timeout = 10m\n") &&
	           strstr(dump, "\nprocessed_folder = \n") && strstr(dump, "\ntls = starttls\n") &&
	           strstr(dump, "# the IMAP server (required)\nhost = imap.seutu-it.fi\n") &&
	           strstr(dump, "(default: 993 with tls = imaps, else 143)") &&
	           strstr(dump, "(default: [limits] max_message_size)") &&
	           strstr(dump, "(default: 1; needs a restart)\nworkers = 4\n"),
	       "the dump shows the mailboxes, [smtp] and [outbox]");
	{
		struct config *again = load_text("dump.conf", dump);
		char *diff = again ? config_restart_needed(cfg, again) : NULL;
		bool same = again && diff == NULL && config_mailbox_count(again) == 3;
		for (size_t i = 0; same && i < 3; i++)
			same =
			    config_mailbox_equal(config_mailbox(cfg, i), config_mailbox(again, i));
		same = same && strcmp(again->smtp.password, "smtp-secret") == 0 &&
		       again->outbox.workers == 4 && again->intake.ack_limit == 0;
		tap_ok(same, "the dump with mailboxes loads back to the same settings");
		free(diff);
		config_free(&again);
	}
	free(dump);

	/* Mailboxes and [smtp] are reloadable; outbox.workers is not. */
	def = config_load_defaults();
	{
		char *r = config_restart_needed(def, cfg);
		tap_str(r, "outbox.workers",
		        "only outbox.workers of these sections needs a restart");
		free(r);
		dump = dump_of(def);
		tap_ok(strstr(dump, "\n# no [mailbox NAME] sections\n") != NULL,
		       "the dump says when there are no mailboxes");
		free(dump);
	}
	tap_ok(!config_mailbox_equal(a, b) && config_mailbox_equal(a, a), "config_mailbox_equal");
	{
		/* The same file with one mailbox changed and one dropped. */
		char *text = strdup(mailbox_conf), *at = strstr(text, "poll_interval = 5s");
		at[sizeof("poll_interval = ") - 1] = '7';
		struct config *changed = load_text("mailbox.conf", text);
		tap_ok(changed &&
		           config_mailbox_equal(a, config_mailbox_find(changed, "support")) &&
		           !config_mailbox_equal(b, config_mailbox_find(changed, "local")),
		       "config_mailbox_equal tells a changed mailbox from an unchanged one");
		config_free(&changed);
		free(text);
	}
	config_keep_restart_keys(def, cfg);
	tap_ok(def->outbox.workers == 4 && config_mailbox_count(def) == 0 &&
	           strcmp(def->smtp.host, "localhost") == 0,
	       "config_keep_restart_keys keeps workers, not the reloadable sections");
	config_free(&def);
	config_free(&cfg);
}

/* tls: the port follows it unless set; starttls, its old name, still maps. */
static void test_smtp_tls(void)
{
	static const struct {
		const char *text;
		enum smtp_tls tls;
		int port;
	} cases[] = {
	    {"[smtp]\ntls = smtps\n", SMTP_TLS_SMTPS, 465},
	    {"[smtp]\ntls = smtps\nport = 2465\n", SMTP_TLS_SMTPS, 2465},
	    {"[smtp]\ntls = none\n", SMTP_TLS_NONE, 25},
	    {"[smtp]\nport = 587\n", SMTP_TLS_STARTTLS, 587},
	    {"[smtp]\nstarttls = required\n", SMTP_TLS_STARTTLS, 25},
	    {"[smtp]\nstarttls = no\n", SMTP_TLS_NONE, 25},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *cfg = load_text("t.conf", cases[i].text);
		struct smtp_settings s;
		char *dump = NULL;
		memset(&s, 0, sizeof(s));
		if (cfg != NULL) {
			config_smtp_settings(cfg, &s);
			dump = dump_of(cfg);
		}
		tap_ok(cfg != NULL && cfg->smtp.tls == cases[i].tls &&
		           cfg->smtp.port == cases[i].port && s.tls == cases[i].tls &&
		           s.port == (unsigned)cases[i].port && dump != NULL &&
		           strstr(dump, "\ntls = ") != NULL && strstr(dump, "starttls =") == NULL,
		       "[smtp] %.*s: tls %d, port %d, dumped as tls",
		       (int)strcspn(cases[i].text + 7, "\n"), cases[i].text + 7, (int)cases[i].tls,
		       cases[i].port);
		free(dump);
		config_free(&cfg);
	}
}

/* AUTH in the clear only to a loopback relay, and then the adapter allows it. */
static void test_smtp_loopback_auth(void)
{
	struct config *cfg =
	    load_text("t.conf", "[smtp]\nhost = 127.0.0.2\nport = 2525\nstarttls = no\n"
	                        "user = tuki\npassword_file = mb.pass\n");
	struct smtp_settings s;
	char *err = NULL;

	tap_ok(cfg != NULL, "AUTH without TLS to a loopback relay loads");
	if (cfg == NULL)
		return;
	config_smtp_settings(cfg, &s);
	tap_ok(s.auth_cleartext && s.tls == SMTP_TLS_NONE && s.port == 2525 &&
	           strcmp(s.auth_password, "imap-secret") == 0 && smtp_settings_check(&s, &err),
	       "its settings allow cleartext AUTH and pass the check%s%s", err ? ": " : "",
	       err ? err : "");
	free(err);
	config_free(&cfg);
}

static void test_from_forms(void)
{
	static const struct {
		const char *from, *name, *address;
	} cases[] = {
	    {"tuki@seutu-it.fi", NULL, "tuki@seutu-it.fi"},
	    {"<tuki@seutu-it.fi>", NULL, "tuki@seutu-it.fi"},
	    {"\"Seutu-IT: tuki\" <tuki@seutu-it.fi>", "Seutu-IT: tuki", "tuki@seutu-it.fi"},
	    {"Seutu-IT:n tuki <x@y.fi>", NULL, NULL}, /* ':' unquoted: an error */
	};
	char text[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[smtp]\nfrom = %s\n", cases[i].from);
		char *error = NULL;
		struct config *cfg = config_load(write_conf("t.conf", text), &error);
		if (cases[i].address == NULL) {
			tap_ok(cfg == NULL, "from '%s' is refused", cases[i].from);
		} else {
			bool name_ok =
			    cfg && (cases[i].name == NULL
			                ? cfg->smtp.from_name == NULL
			                : cfg->smtp.from_name &&
			                      strcmp(cfg->smtp.from_name, cases[i].name) == 0);
			tap_ok(cfg && name_ok &&
			           strcmp(cfg->smtp.from_address, cases[i].address) == 0,
			       "from '%s': name '%s', address '%s'%s%s", cases[i].from,
			       cfg && cfg->smtp.from_name ? cfg->smtp.from_name : "(none)",
			       cfg ? cfg->smtp.from_address : "-", error ? ": " : "",
			       error ? error : "");
		}
		free(error);
		config_free(&cfg);
	}
}

static void test_many_mailboxes(void)
{
	char *text = NULL, *got;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	for (int i = 0; i < 64; i++)
		fprintf(f,
		        "[mailbox m%d]\nhost = h%d.example.fi\nuser = u\npassword_file = mb.pass\n",
		        i, i);
	fflush(f);
	struct config *cfg = load_text("t.conf", text);
	tap_ok(cfg && config_mailbox_count(cfg) == 64 &&
	           strcmp(config_mailbox(cfg, 63)->host, "h63.example.fi") == 0,
	       "64 mailboxes load");
	config_free(&cfg);
	fprintf(f, "[mailbox m64]\nhost = x\n");
	fclose(f);
	got = load_error(text);
	tap_str(got, "t.conf:257: more than 64 [mailbox] sections", "the 65th mailbox is an error");
	free(got);
	free(text);
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
	static const struct {
		const char *s;
		bool ok;
		long long v;
	} moneys[] = {{"0", true, 0},
	              {"65", true, 6500},
	              {"65.00", true, 6500},
	              {"65.5", true, 6550},
	              {"1234,50", true, 123450},
	              {"0.01", true, 1},
	              {"10000000000000.99", true, 1000000000000099LL},
	              {"10000000000001", false, 0},
	              {"1.005", false, 0},
	              {"1.", false, 0},
	              {".5", false, 0},
	              {"-1", false, 0},
	              {"+1", false, 0},
	              {"1 000", false, 0},
	              {"", false, 0}};

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
	for (size_t i = 0; i < sizeof(moneys) / sizeof(moneys[0]); i++) {
		long long v = -1;
		bool ok = config_parse_money(moneys[i].s, &v);
		tap_ok(ok == moneys[i].ok && (!ok || v == moneys[i].v), "money '%s'", moneys[i].s);
	}
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		bool v = false;
		bool ok = config_parse_bool(bools[i].s, &v);
		tap_ok(ok == bools[i].ok && (!ok || v == bools[i].v), "bool '%s'", bools[i].s);
	}
}

/* The example file documents every key with its default: uncommenting the
 * first "#key = value" of each key of each section must give exactly the
 * built-in defaults.  The commented-out "#[mailbox support]" section, once
 * uncommented with a password file that exists, must load as a mailbox with
 * the default settings. */
static void test_example(void)
{
	const char *srcdir = getenv("top_srcdir");
	char path[PATH_MAX], pass[PATH_MAX + 32], section[80] = "", *line = NULL, *error = NULL;
	char *text = NULL, *mbtext = NULL, *seen = NULL;
	size_t cap = 0, len = 0, mblen = 0, seen_len = 0;
	FILE *in, *out, *mbout, *seen_f;
	struct config *cfg, *def;
	unsigned keys = 0;
	int block = 0; /* 0: a live section; 1: the first commented one; 2: later ones */

	snprintf(path, sizeof(path), "%s/contrib/seutudesk.conf.example", srcdir ? srcdir : ".");
	cfg = config_load(path, &error);
	tap_ok(cfg != NULL && config_mailbox_count(cfg) == 0, "the example loads as it is%s%s",
	       error ? ": " : "", error ? error : "");
	config_free(&cfg);
	free(error);
	error = NULL;
	snprintf(pass, sizeof(pass), "%s/example.pass", tmpdir);
	write_conf("example.pass", "example\n");

	in = fopen(path, "r");
	out = open_memstream(&text, &len);
	mbout = open_memstream(&mbtext, &mblen);
	seen_f = open_memstream(&seen, &seen_len);
	while (in && getline(&line, &cap, in) > 0) {
		size_t k = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz_0123456789");
		char key[160];

		if (line[0] == '[' || strncmp(line, "#[", 2) == 0) {
			bool commented = line[0] == '#';
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(line, " ]\n"),
			         line + (commented ? 2 : 1));
			block = !commented ? 0 : block == 0 ? 1 : 2;
			fputs(line, out);
			fputs(block == 1 ? line + 1 : line, mbout);
			continue;
		}
		if (line[0] == '#' && k > 0 && k < 60 && strncmp(line + 1 + k, " =", 2) == 0 &&
		    block < 2) {
			snprintf(key, sizeof(key), " %s.%.*s ", section, (int)k, line + 1);
			fflush(seen_f);
			if (seen == NULL || strstr(seen, key) == NULL) {
				fputs(key, seen_f);
				keys++;
				if (block == 1) {
					fputs(line, out);
					if (strncmp(line + 1, "password_file =", 15) == 0)
						fprintf(mbout, "password_file = %s\n", pass);
					else
						fputs(line + 1, mbout);
					continue;
				}
				/* Paths in the package's data directory stay commented:
				 * the example names the packaged place, not this build's. */
				if (strstr(key, "rules_dir") || strstr(key, "templates_dir")) {
					fputs(line, out);
					fputs(line, mbout);
					continue;
				}
				fputs(line + 1, out);
				fputs(line + 1, mbout);
				continue;
			}
		}
		fputs(line, out);
		fputs(line, mbout);
	}
	if (in)
		fclose(in);
	fclose(out);
	fclose(mbout);
	fclose(seen_f);
	free(line);
	free(seen);
	tap_ok(keys == 89, "the example shows all 89 keys (%u)", keys);

	/* Uncommented, the live sections are the defaults: the dumps agree. */
	cfg = config_load(write_conf("example.conf", text), &error);
	def = config_load_defaults();
	{
		char *d1 = cfg ? without_policy(dump_of(cfg)) : NULL,
		     *d2 = without_policy(dump_of(def));
		tap_ok(cfg != NULL && strcmp(strchr(d1, '\n'), strchr(d2, '\n')) == 0,
		       "the example's documented values are the defaults%s%s", error ? ": " : "",
		       error ? error : "");
		free(d1);
		free(d2);
	}
	config_free(&cfg);
	free(error);
	error = NULL;

	/* And its mailbox section gives the mailbox defaults. */
	cfg = config_load(write_conf("example.conf", mbtext), &error);
	{
		const struct config_mailbox *mb = cfg ? config_mailbox(cfg, 0) : NULL;
		tap_ok(mb && config_mailbox_count(cfg) == 1 && strcmp(mb->name, "support") == 0 &&
		           mb->port == 993 && mb->tls == IMAP_TLS_IMAPS &&
		           strcmp(mb->folder, "INBOX") == 0 &&
		           mb->processed == CONFIG_PROCESSED_MOVE &&
		           strcmp(mb->processed_folder, "Processed") == 0 &&
		           strcmp(mb->processed_flag, "$SeutudeskDone") == 0 &&
		           mb->poll_interval == 60 && mb->idle_timeout == 25 * 60 &&
		           mb->max_message_size == def->limits.max_message_size &&
		           strcmp(mb->password, "example") == 0,
		       "the example's [mailbox support] shows the mailbox defaults%s%s",
		       error ? ": " : "", error ? error : "");
	}
	free(text);
	free(mbtext);
	free(error);
	config_free(&cfg);
	config_free(&def);
}

/* [costs], [reports] and [report NAME]: the values as loaded, and the dump. */
static void test_costs_reports(void)
{
	char *error = NULL;
	struct config *cfg = config_load(
	    write_conf("t.conf", "[costs]\npopulation_weight = 40\nusers_weight = 30\n"
	                         "workstations_weight = 30\nhourly_rate = 65,5\ncurrency = SEK\n"
	                         "[reports]\nlink_lifetime = 10m\ncalendar = 24x7\n"
	                         "[report a]\nmember = kinnula\nto = managers\nkind = costs\n"
	                         "format = html\nlang = en\nby = sector\n"
	                         "[report b]\nmember = all\nto = x@seutu-it.fi\n"),
	    &error);
	const struct config_report *a = cfg ? &cfg->reports_mailed[0] : NULL,
	                           *b = cfg ? &cfg->reports_mailed[1] : NULL;

	tap_ok(cfg != NULL && cfg->costs.population_weight == 40 && cfg->costs.users_weight == 30 &&
	           cfg->costs.workstations_weight == 30 && cfg->costs.hourly_rate == 6550 &&
	           strcmp(cfg->costs.currency, "SEK") == 0,
	       "[costs] as set%s%s", error ? ": " : "", error ? error : "");
	tap_ok(cfg != NULL && cfg->reports.link_lifetime == 600 &&
	           cfg->reports.session_lifetime == 8 * 3600 &&
	           strcmp(cfg->reports.calendar, "24x7") == 0,
	       "[reports] as set");
	tap_ok(cfg != NULL && cfg->nreports_mailed == 2 && strcmp(a->name, "a") == 0 &&
	           a->kind == CONFIG_REPORT_COSTS && strcmp(a->member, "kinnula") == 0 &&
	           strcmp(a->to, "managers") == 0 && a->format == CONFIG_REPORT_HTML &&
	           strcmp(a->lang, "en") == 0 && strcmp(a->by, "sector") == 0,
	       "[report a] as set");
	tap_ok(cfg != NULL && b->kind == CONFIG_REPORT_SLA && b->format == CONFIG_REPORT_XLSX &&
	           strcmp(b->lang, "fi") == 0 && strcmp(b->by, "municipality") == 0,
	       "[report b] has the defaults");
	if (cfg != NULL) {
		char *dump = dump_of(cfg);
		tap_ok(strstr(dump, "\nhourly_rate = 65.50\n") != NULL &&
		           strstr(dump, "\n[report a]\n") != NULL &&
		           strstr(dump, "\nkind = costs\n") != NULL,
		       "the dump shows the amount with two decimals and the [report] sections");
		free(dump);
	}
	config_free(&cfg);
	free(error);
}

/* [calendar NAME]: values, the built-in calendars, errors naming file and line. */
static void test_calendars(void)
{
	struct config *cfg = config_load_defaults();
	const struct config_calendar *cc;
	const struct calendar *cal;
	char *error = NULL, *e, *dump;
	time_t t;

	tap_ok(cfg && config_calendar_count(cfg) == 2 &&
	           strcmp(config_calendar(cfg, 0)->name, "fi-office") == 0 &&
	           strcmp(config_calendar(cfg, 1)->name, "24x7") == 0,
	       "fi-office and 24x7 are built in");
	cal = cfg ? config_calendar_find(cfg, "fi-office") : NULL;
	tap_ok(cal && calendar_has_holidays(cal) &&
	           strcmp(calendar_timezone(cal), "Europe/Helsinki") == 0 &&
	           calendar_add(cal, 1798099200 /* 2026-12-24T10:00+02:00 */, 5400, &t, &error) &&
	           t == 1798443000 /* 2026-12-28T09:30+02:00 */,
	       "the built-in fi-office counts office hours and holidays");
	free(error);
	error = NULL;
	tap_ok(cfg && config_calendar_find(cfg, "24x7") && !config_calendar_find(cfg, "nope") &&
	           config_calendar(cfg, 2) == NULL,
	       "calendars are found by name");
	config_free(&cfg);

	cfg =
	    config_load(write_conf("t.conf", "[calendar kunta]\ntimezone = America/New_York\n"
	                                     "holidays = none\nmonday = 08:00-12:00, 13:00-16:00\n"
	                                     "saturday = 10:00-14:00\nclosed = 2026-12-28\n"
	                                     "short = 2026-12-23 08:00-12:00\n"
	                                     "[calendar fi-office]\nmonday = 09:00-15:00\n"),
	                &error);
	cc = cfg ? config_calendar(cfg, 0) : NULL;
	tap_ok(cc && config_calendar_count(cfg) == 3 && strcmp(cc->name, "kunta") == 0 &&
	           strcmp(cc->timezone, "America/New_York") == 0 &&
	           cc->holidays == CONFIG_HOLIDAYS_NONE &&
	           strcmp(cc->monday, "08:00-12:00, 13:00-16:00") == 0 &&
	           strcmp(cc->tuesday, "closed") == 0 && strcmp(cc->saturday, "10:00-14:00") == 0 &&
	           strcmp(cc->closed, "2026-12-28") == 0 &&
	           strcmp(cc->shortened, "2026-12-23 08:00-12:00") == 0 && cc->calendar != NULL,
	       "a [calendar] section's values%s%s", error ? ": " : "", error ? error : "");
	free(error);
	error = NULL;
	cc = cfg ? config_calendar(cfg, 1) : NULL;
	tap_ok(cc && strcmp(cc->name, "fi-office") == 0 &&
	           strcmp(cc->timezone, "Europe/Helsinki") == 0 &&
	           cc->holidays == CONFIG_HOLIDAYS_FINLAND &&
	           strcmp(cc->monday, "09:00-15:00") == 0 && strcmp(cc->friday, "closed") == 0 &&
	           cc->closed == NULL,
	       "a section named fi-office replaces the built-in one; defaults apply");
	tap_ok(cfg && strcmp(config_calendar(cfg, 2)->name, "24x7") == 0,
	       "the other built-in calendar comes after the file's");
	dump = NULL;
	if (cfg) {
		size_t len = 0;
		FILE *f = open_memstream(&dump, &len);
		config_dump(cfg, f);
		fclose(f);
	}
	tap_ok(dump && strstr(dump, "\n[calendar kunta]\n") &&
	           strstr(dump, "\nshort = 2026-12-23 08:00-12:00\n") &&
	           strstr(dump, "\n[calendar 24x7]\n"),
	       "calendars in the dump");
	free(dump);
	config_free(&cfg);

	static const struct {
		const char *text, *error;
	} bad[] = {
	    {"[calendar x]\nmonday = 8-16\n",
	     "t.conf:2: expected opening hours like 08:00-16:00 or 08:00-12:00,13:00-16:00 "
	     "(ascending, not overlapping, at most 8), or closed, got '8-16'"},
	    {"[calendar x]\nmonday = 08:00-16:00\ntimezone = Europe/Nowhere\n",
	     "t.conf:3: expected a time zone of the tz database like Europe/Helsinki, got "
	     "'Europe/Nowhere'"},
	    {"[calendar x]\nmonday = 08:00-16:00\nholidays = sweden\n",
	     "t.conf:3: expected one of finland, none, got 'sweden'"},
	    {"[calendar x]\nmonday = 08:00-16:00\nclosed = 2026-12-32\n",
	     "t.conf:3: expected dates like 2026-12-28, 2026-12-29 (at most 400), got "
	     "'2026-12-32'"},
	    {"[calendar x]\nmonday = 08:00-16:00\nshort = 2026-12-23\n",
	     "t.conf:3: expected dates with their hours like 2026-12-23 08:00-12:00, 2026-12-31 "
	     "08:00-10:00,11:00-13:00 (each date once, at most 100), got '2026-12-23'"},
	    {"[calendar x]\nmonday = 08:00-16:00\nclosed = 2026-12-23\nshort = 2026-12-23 "
	     "08:00-12:00\n",
	     "t.conf:1: calendar x: 2026-12-23 is both closed and shortened"},
	    {"[calendar x]\ntimezone = UTC\n",
	     "t.conf:1: calendar x: no opening hours on any weekday"},
	    {"[calendar x]\nmonday = 08:00-16:00\n[calendar x]\n",
	     "t.conf:3: duplicate section [calendar x] (first on line 1)"},
	    {"[calendar x]\nmonday = 08:00-16:00\nmonday = 09:00-16:00\n",
	     "t.conf:3: duplicate key 'monday' in [calendar x] (first set on line 2)"},
	    {"[calendar x]\nopen = 08:00-16:00\n", "t.conf:2: unknown key 'open' in [calendar x]"},
	    {"[calendar]\n", "t.conf:1: section [calendar] needs a name, as in [calendar support]"},
	    {"[calendar Office]\n", "t.conf:1: expected a calendar name of 1 to 64 of a-z, 0-9, "
	                            "'_' and '-', got 'Office'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = load_error(bad[i].text);
		tap_str(e, bad[i].error, "calendar error %zu", i);
		free(e);
	}

	/* At most CONFIG_MAX_CALENDARS, the built-in ones included only when there is room. */
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	for (int i = 0; i <= CONFIG_MAX_CALENDARS; i++)
		fprintf(f, "[calendar c%d]\nmonday = 08:00-16:00\n", i);
	fclose(f);
	e = load_error(text);
	tap_ok(e && strstr(e, "more than 32 [calendar] sections") != NULL, "too many calendars: %s",
	       e ? e : "(loaded)");
	free(e);
	text[strlen(text) - strlen("[calendar c32]\nmonday = 08:00-16:00\n")] = '\0';
	cfg = config_load(write_conf("t.conf", text), &error);
	tap_ok(cfg && config_calendar_count(cfg) == CONFIG_MAX_CALENDARS &&
	           config_calendar_find(cfg, "fi-office") == NULL,
	       "32 calendars load; no room for the built-in ones");
	free(error);
	error = NULL;
	config_free(&cfg);
	free(text);
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
	static const char *const files[] = {
	    "t.conf",       "dump.conf", "empty.pass",   "two.pass",     "big.pass",
	    "example.conf", "mb.pass",   "mailbox.conf", "example.pass", "smtp.pass"};
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
	test_mailboxes();
	test_many_mailboxes();
	test_smtp_tls();
	test_smtp_loopback_auth();
	test_from_forms();
	test_crlf();
	test_conninfo_dump();
	test_syntaxes();
	test_example();
	test_default_path();
	test_calendars();
	test_costs_reports();
	cleanup();
	return tap_done();
}
