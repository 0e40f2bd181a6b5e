/* wc_static: the widget's files from memory. */
#include "wc_static.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATIC_MAX_FILE (256 * 1024)

static const struct {
	const char *url, *file, *type;
} files[] = {
    {"/widget.js", "widget.js", "text/javascript; charset=utf-8"},
    {"/widget.css", "widget.css", "text/css; charset=utf-8"},
    {"/texts/fi.json", "texts/fi.json", "application/json; charset=utf-8"},
    {"/texts/sv.json", "texts/sv.json", "application/json; charset=utf-8"},
    {"/texts/en.json", "texts/en.json", "application/json; charset=utf-8"},
};
#define NFILES (sizeof(files) / sizeof(files[0]))

struct wc_static {
	char *data[NFILES];
	size_t len[NFILES];
	char etag[NFILES][24];
};

static bool read_file(const char *path, char **data_r, size_t *len_r, char **error_r)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	if (f != NULL && (buf = malloc(STATIC_MAX_FILE + 1)) != NULL)
		n = fread(buf, 1, STATIC_MAX_FILE + 1, f);
	if (f == NULL || buf == NULL || ferror(f) || n > STATIC_MAX_FILE) {
		if (asprintf(error_r, "%s: %s", path,
		             f == NULL ? strerror(errno)
		                       : (n > STATIC_MAX_FILE ? "over 256 KB" : "cannot read")) < 0)
			*error_r = NULL;
		if (f != NULL)
			fclose(f);
		free(buf);
		return false;
	}
	fclose(f);
	*data_r = buf;
	*len_r = n;
	return true;
}

struct wc_static *wc_static_load(const char *dir, char **error_r)
{
	struct wc_static *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		*error_r = strdup("out of memory");
		return NULL;
	}
	for (size_t i = 0; i < NFILES; i++) {
		char path[4096];
		unsigned char md[SHA256_DIGEST_LENGTH];
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].file);
		if (!read_file(path, &s->data[i], &s->len[i], error_r)) {
			wc_static_free(s);
			return NULL;
		}
		SHA256((const unsigned char *)s->data[i], s->len[i], md);
		snprintf(s->etag[i], sizeof(s->etag[i]), "\"%02x%02x%02x%02x%02x%02x%02x%02x\"",
		         md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7]);
	}
	return s;
}

bool wc_static_serve(const struct wc_static *s, struct evhttp_request *req, const char *path)
{
	size_t i;

	for (i = 0; i < NFILES; i++)
		if (strcmp(path, files[i].url) == 0)
			break;
	if (i == NFILES)
		return false;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", files[i].type);
	/* Short: an admin's edit of the texts shows within minutes. */
	evhttp_add_header(h, "Cache-Control", "public, max-age=300");
	evhttp_add_header(h, "ETag", s->etag[i]);
	/* The texts are fetched from the members' pages; nothing here is secret. */
	evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
	evhttp_add_header(h, "Cross-Origin-Resource-Policy", "cross-origin");
	const char *inm =
	    evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
	if (inm != NULL && strcmp(inm, s->etag[i]) == 0) {
		evhttp_send_reply(req, 304, "Not Modified", NULL);
		return true;
	}
	struct evbuffer *b = evbuffer_new();
	if (b == NULL) {
		evhttp_send_error(req, 503, NULL);
		return true;
	}
	/* A copy: a reload may free the file while the answer is still going out. */
	evbuffer_add(b, s->data[i], s->len[i]);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
	return true;
}

void wc_static_free(struct wc_static *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < NFILES; i++)
		free(s->data[i]);
	free(s);
}
