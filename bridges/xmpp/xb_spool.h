/* xb_spool: incoming messages kept on disk until the daemon has them.
 *
 * libstrophe acknowledges a stanza to the server (XEP-0198) as soon as its
 * handler ran, and the server then forgets it; while the daemon is away a
 * message may wait in the bridge for a long time.  So the handler writes
 * each message to a file of its own (written whole, synced, renamed into
 * place) before it returns, the courier removes the file once the daemon
 * answered 2xx (or refused the message for good), and a bridge that starts
 * posts what it finds, oldest first.  The daemon's idempotency on the
 * message id makes a post repeated after a crash harmless.
 */
#ifndef SEUTUDESK_XB_SPOOL_H
#define SEUTUDESK_XB_SPOOL_H

#include "xb_item.h"
#include "xb_queue.h"

#include <stdbool.h>

/* Creates dir (mode 0700) when missing and checks that it is a writable
 * directory. */
bool xb_spool_check(const char *dir, char **error_r) __attribute__((warn_unused_result));

/* Writes the MESSAGE item durably into dir and sets its spool_path. */
bool xb_spool_put(const char *dir, struct xb_item *m, char **error_r)
    __attribute__((warn_unused_result));

/* Removes the item's file, if it has one. */
void xb_spool_remove(const struct xb_item *m);

/* Pushes every message of dir onto q, oldest first; *count_r says how
 * many.  Unreadable files are renamed to NAME.bad and reported in
 * *error_r, the others still loaded. */
bool xb_spool_load(const char *dir, struct xb_queue *q, unsigned *count_r, char **error_r)
    __attribute__((warn_unused_result));

#endif
