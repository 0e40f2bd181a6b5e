/* wc_static: the widget's files, read from the www directory into memory
 * at start and on SIGHUP (so the loop never reads a disk), served with
 * their type, a short cache lifetime and an ETag. */
#ifndef SEUTUDESK_WC_STATIC_H
#define SEUTUDESK_WC_STATIC_H

#include <stdbool.h>

struct evhttp_request;
struct wc_static;

/* Reads widget.js, widget.css and texts/{fi,sv,en}.json under DIR; every
 * one must exist and be under 256 KB. */
struct wc_static *wc_static_load(const char *dir, char **error_r)
    __attribute__((warn_unused_result));
/* Answers REQ when PATH is one of the files; false when it is not. */
bool wc_static_serve(const struct wc_static *s, struct evhttp_request *req, const char *path);
void wc_static_free(struct wc_static *s);

#endif
