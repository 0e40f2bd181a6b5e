#include "autoconfig.h"

#include "xb_spool.h"

#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SPOOL_SUFFIX ".msg"

bool xb_spool_check(const char *dir, char **error_r)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		*error_r =
		    xasprintf("spool directory %s: cannot create it: %s", dir, strerror(errno));
		return false;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("spool directory %s: not a directory", dir);
		return false;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		*error_r = xasprintf("spool directory %s: not writable: %s", dir, strerror(errno));
		return false;
	}
	return true;
}

static char *item_json(const struct xb_item *m)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(m->id));
	json_object_set_new(o, "conversation", json_string(m->conversation));
	json_object_set_new(o, "name", json_string(m->name));
	json_object_set_new(o, "handle", json_string(m->handle));
	json_object_set_new(o, "text", json_string(m->text));
	if (m->sent_at != NULL)
		json_object_set_new(o, "sent_at", json_string(m->sent_at));
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

bool xb_spool_put(const char *dir, struct xb_item *m, char **error_r)
{
	static atomic_uint seq;
	struct timespec ts;
	char *json = item_json(m);

	/* The name sorts by arrival: the time in ns, then a counter. */
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned n = atomic_fetch_add(&seq, 1);
	char *path = xasprintf("%s/%020lld-%08x%s", dir,
	                       (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, n, SPOOL_SUFFIX);
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write_all(fd, json, strlen(json)) && fsync(fd) == 0;
	int err = errno;

	if (fd >= 0 && close(fd) != 0 && ok) {
		ok = false;
		err = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		err = errno;
	}
	free(json);
	if (!ok) {
		unlink(tmp);
		*error_r = xasprintf("spool file %s: %s", path, strerror(err));
		free(tmp);
		free(path);
		return false;
	}
	sync_dir(dir);
	free(tmp);
	free(m->spool_path);
	m->spool_path = path;
	return true;
}

void xb_spool_remove(const struct xb_item *m)
{
	if (m->spool_path != NULL)
		unlink(m->spool_path);
}

static char *dup_field(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? xstrdup(s) : NULL;
}

static struct xb_item *load_one(const char *path)
{
	json_t *o = json_load_file(path, 0, NULL);
	struct xb_item *m;

	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	m = xb_item_new(XB_ITEM_MESSAGE);
	m->id = dup_field(o, "id");
	m->conversation = dup_field(o, "conversation");
	m->name = dup_field(o, "name");
	m->handle = dup_field(o, "handle");
	m->text = dup_field(o, "text");
	m->sent_at = dup_field(o, "sent_at");
	json_decref(o);
	if (m->id == NULL || m->conversation == NULL || m->text == NULL) {
		xb_item_free(&m);
		return NULL;
	}
	m->spool_path = xstrdup(path);
	return m;
}

static int is_spool_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name), s = strlen(SPOOL_SUFFIX);

	return e->d_name[0] != '.' && n > s && strcmp(e->d_name + n - s, SPOOL_SUFFIX) == 0;
}

bool xb_spool_load(const char *dir, struct xb_queue *q, unsigned *count_r, char **error_r)
{
	struct dirent **names;
	int n = scandir(dir, &names, is_spool_file, alphasort);
	unsigned bad = 0;

	*count_r = 0;
	if (n < 0) {
		*error_r = xasprintf("spool directory %s: %s", dir, strerror(errno));
		return false;
	}
	for (int i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]->d_name);
		struct xb_item *m = load_one(path);
		if (m != NULL) {
			xb_queue_push(q, m);
			(*count_r)++;
		} else {
			char *aside = xasprintf("%s.bad", path);
			rename(path, aside);
			free(aside);
			bad++;
		}
		free(path);
		free(names[i]);
	}
	free(names);
	if (bad > 0) {
		*error_r = xasprintf("spool directory %s: %u unreadable file(s) set aside as *.bad",
		                     dir, bad);
		return false;
	}
	return true;
}
