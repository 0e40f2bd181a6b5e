/* settings: see settings.h. */
#include "settings.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? strdup(value) : NULL;
}

/* "~/x" against $HOME; others as they are. */
static char *expand(const char *path)
{
	const char *home = getenv("HOME");

	if (path[0] == '~' && path[1] == '/' && home != NULL)
		return xasprintf("%s%s", home, path + 1);
	return strdup(path);
}

static char *config_dir(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");

	if (xdg != NULL && xdg[0] == '/')
		return xasprintf("%s/seutudesk", xdg);
	return xasprintf("%s/.config/seutudesk", home != NULL ? home : ".");
}

static char *trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

/* The whole of a small file, NUL-terminated; NULL with errno set. */
static char *slurp(const char *path, size_t max)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (n > max) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static bool parse_config(struct settings *s, char *text, char **error_r)
{
	unsigned lineno = 0;

	for (char *line = text, *next; line != NULL; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		char *l = trim(line);
		if (*l == '\0' || *l == '#')
			continue;
		char *eq = strchr(l, '=');
		if (eq == NULL) {
			*error_r =
			    xasprintf("%s:%u: expected 'key = value'", s->config_path, lineno);
			return false;
		}
		*eq = '\0';
		char *key = trim(l), *value = trim(eq + 1);
		char **field = strcmp(key, "url") == 0          ? &s->url
		               : strcmp(key, "token_file") == 0 ? &s->token_file
		               : strcmp(key, "ca_file") == 0    ? &s->ca_file
		               : strcmp(key, "canned_dir") == 0 ? &s->canned_dir
		                                                : NULL;
		if (field == NULL) {
			*error_r =
			    xasprintf("%s:%u: unknown key '%.40s' (url, token_file, ca_file, "
			              "canned_dir)",
			              s->config_path, lineno, key);
			return false;
		}
		free(*field);
		*field = *value ? expand(value) : NULL;
	}
	return true;
}

static void strip_slash(char *url)
{
	size_t n = url ? strlen(url) : 0;

	while (n > 0 && url[n - 1] == '/')
		url[--n] = '\0';
}

static bool read_token(struct settings *s, char **error_r)
{
	char *text = slurp(s->token_file, SETTINGS_MAX_TOKEN + 2);

	if (text == NULL) {
		if (errno == ENOENT)
			return true; /* not logged in: said when a call needs it */
		*error_r = xasprintf("%s: %s", s->token_file,
		                     errno == EFBIG ? "longer than a token" : strerror(errno));
		return false;
	}
	char *nl = strchr(text, '\n');
	if (nl != NULL)
		*nl = '\0'; /* the first line */
	char *t = trim(text);
	set(&s->token, *t ? t : NULL);
	explicit_bzero(text, strlen(text));
	free(text);
	return true;
}

bool settings_load(struct settings *s, char **error_r)
{
	const char *env;
	char *dir = config_dir();

	memset(s, 0, sizeof(*s));
	*error_r = NULL;
	if (dir == NULL)
		return (*error_r = strdup("out of memory")), false;
	env = getenv("SEUTUDESK_CONFIG");
	s->config_path = env && *env ? strdup(env) : xasprintf("%s/config", dir);
	s->token_file = xasprintf("%s/token", dir);
	s->canned_dir = xasprintf("%s/canned", dir);
	free(dir);
	char *text = slurp(s->config_path, SETTINGS_MAX_FILE);
	if (text == NULL && errno != ENOENT) {
		*error_r = xasprintf("%s: %s", s->config_path,
		                     errno == EFBIG ? "the file is too large" : strerror(errno));
		return false;
	}
	bool ok = text == NULL || parse_config(s, text, error_r);
	free(text);
	if (!ok)
		return false;
	if ((env = getenv("SEUTUDESK_URL")) != NULL && *env)
		set(&s->url, env);
	if ((env = getenv("SEUTUDESK_CA")) != NULL && *env)
		set(&s->ca_file, env);
	strip_slash(s->url);
	if ((env = getenv("SEUTUDESK_TOKEN")) != NULL && *env) {
		if (strlen(env) > SETTINGS_MAX_TOKEN)
			return (*error_r = strdup("SEUTUDESK_TOKEN is longer than a token")), false;
		set(&s->token, env);
		return true;
	}
	return s->token_file == NULL || read_token(s, error_r);
}

/* Writes text to path with mode 0600, replacing it atomically. */
static bool write_private(const char *path, const char *text, char **error_r)
{
	char *tmp = xasprintf("%s.tmp%ld", path, (long)getpid());
	int fd;

	if (tmp == NULL)
		return (*error_r = strdup("out of memory")), false;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t n = strlen(text);
	bool ok =
	    fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
	int err = errno;
	if (fd >= 0 && close(fd) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		err = errno;
	}
	if (!ok) {
		unlink(tmp);
		*error_r = xasprintf("%s: %s", path, strerror(err));
	}
	free(tmp);
	return ok;
}

static bool make_dirs(const char *file, char **error_r)
{
	char *p = strdup(file);

	if (p == NULL)
		return (*error_r = strdup("out of memory")), false;
	for (char *q = strchr(p + 1, '/'); q != NULL; q = strchr(q + 1, '/')) {
		*q = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			*error_r = xasprintf("%s: %s", p, strerror(errno));
			free(p);
			return false;
		}
		*q = '/';
	}
	free(p);
	return true;
}

bool settings_save_login(const struct settings *s, const char *url, const char *token,
                         const char *ca_file, char **error_r)
{
	char *text;
	bool ok;

	*error_r = NULL;
	if (strchr(url, '\n') != NULL || strchr(token, '\n') != NULL ||
	    (ca_file != NULL && strchr(ca_file, '\n') != NULL))
		return (*error_r = strdup("a line break in the URL, token or CA file")), false;
	if (!make_dirs(s->config_path, error_r) || !make_dirs(s->token_file, error_r))
		return false;
	char *line = xasprintf("%s\n", token);
	ok = line != NULL && write_private(s->token_file, line, error_r);
	if (line != NULL)
		explicit_bzero(line, strlen(line));
	free(line);
	if (!ok)
		return false;
	text = xasprintf("# seutudesk client settings (written by seutudesk login)\n"
	                 "url = %s\ntoken_file = %s\n%s%s%s",
	                 url, s->token_file, ca_file ? "ca_file = " : "", ca_file ? ca_file : "",
	                 ca_file ? "\n" : "");
	if (text == NULL)
		return (*error_r = strdup("out of memory")), false;
	ok = write_private(s->config_path, text, error_r);
	free(text);
	return ok;
}

void settings_clear(struct settings *s)
{
	free(s->config_path);
	free(s->url);
	if (s->token != NULL)
		explicit_bzero(s->token, strlen(s->token));
	free(s->token);
	free(s->token_file);
	free(s->ca_file);
	free(s->canned_dir);
	memset(s, 0, sizeof(*s));
}
