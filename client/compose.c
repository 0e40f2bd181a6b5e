/* compose: see compose.h. */
#include "compose.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *read_stream(FILE *f, const char *name, char **error_r)
{
	char *buf = malloc(COMPOSE_MAX + 2);
	size_t n;

	if (buf == NULL)
		return (*error_r = strdup("out of memory")), NULL;
	n = fread(buf, 1, COMPOSE_MAX + 1, f);
	if (ferror(f)) {
		*error_r = xasprintf("%s: %s", name, strerror(errno));
		free(buf);
		return NULL;
	}
	if (n > COMPOSE_MAX) {
		*error_r = xasprintf("%s: longer than %d bytes", name, COMPOSE_MAX);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		*error_r = xasprintf("%s: not text (a NUL byte)", name);
		free(buf);
		return NULL;
	}
	return buf;
}

char *compose_body(const char *text)
{
	const char *end = text + strlen(text);
	const char *m;

	/* The marker only counts at the start of a line. */
	for (m = strstr(text, COMPOSE_MARKER); m != NULL; m = strstr(m + 1, COMPOSE_MARKER)) {
		if (m == text || m[-1] == '\n') {
			end = m;
			break;
		}
	}
	while (end > text &&
	       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		end--;
	const char *start = text;
	/* Leading blank lines go too (the template starts with room to write). */
	for (const char *p = text; p < end; p++) {
		if (*p == '\n')
			start = p + 1;
		else if (*p != ' ' && *p != '\t' && *p != '\r')
			break;
	}
	return strndup(start, (size_t)(end - start));
}

char *compose_read_file(const char *path, char **error_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	char *text, *body;

	*error_r = NULL;
	if (f == NULL)
		return (*error_r = xasprintf("%s: %s", path, strerror(errno))), NULL;
	text = read_stream(f, strcmp(path, "-") == 0 ? "standard input" : path, error_r);
	if (f != stdin)
		fclose(f);
	if (text == NULL)
		return NULL;
	body = compose_body(text);
	free(text);
	if (body == NULL)
		*error_r = strdup("out of memory");
	return body;
}

enum compose_result compose_edit(const char *template, char **text_r, char **error_r)
{
	const char *tmpdir = getenv("TMPDIR");
	const char *editor = getenv("VISUAL");
	char *path = xasprintf("%s/seutudesk-XXXXXX.txt", tmpdir && *tmpdir ? tmpdir : "/tmp");
	int fd;

	*text_r = NULL;
	*error_r = NULL;
	if (editor == NULL || *editor == '\0')
		editor = getenv("EDITOR");
	if (editor == NULL || *editor == '\0')
		editor = "vi";
	if (path == NULL || (fd = mkstemps(path, 4)) < 0) {
		*error_r = xasprintf("cannot make a temporary file: %s", strerror(errno));
		free(path);
		return COMPOSE_FAILED;
	}
	size_t n = strlen(template);
	if (write(fd, template, n) != (ssize_t)n) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		free(path);
		return COMPOSE_FAILED;
	}
	close(fd);
	/* As git does: the variable may hold options ("emacs -nw"). */
	char *cmd = xasprintf("%s \"$1\"", editor);
	pid_t pid = cmd != NULL ? fork() : -1;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		*error_r = xasprintf("cannot run the editor: %s", strerror(errno));
		unlink(path);
		free(path);
		return COMPOSE_FAILED;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		*error_r = xasprintf("the editor (%s) failed (status %d): nothing was sent", editor,
		                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		unlink(path);
		free(path);
		return COMPOSE_FAILED;
	}
	char *text = compose_read_file(path, error_r);
	unlink(path);
	free(path);
	if (text == NULL)
		return COMPOSE_FAILED;
	char *orig = compose_body(template);
	bool same = orig != NULL && strcmp(orig, text) == 0;
	free(orig);
	if (text[0] == '\0' || same) {
		free(text);
		return COMPOSE_ABORTED;
	}
	*text_r = text;
	return COMPOSE_OK;
}
