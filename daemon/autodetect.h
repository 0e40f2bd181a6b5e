/* autodetect: is a message auto-generated (never to be answered automatically)?
 *
 * Signals, strongest first: RFC 3834 Auto-Submitted (any value but "no");
 * delivery and disposition reports (multipart/report); a null or
 * MAILER-DAEMON/postmaster sender; X-Failed-Recipients; Precedence
 * bulk/junk/list/auto_reply; X-Autoreply/X-Autorespond; list headers
 * (List-Id, List-Unsubscribe, List-Post); and out-of-office wording in
 * Finnish, Swedish or English, in the subject (as the whole subject or as its
 * "Automatic reply:" prefix) or at the start of a short body.
 *
 * X-Auto-Response-Suppress alone does not make a message auto-generated: it
 * asks *others* not to auto-reply, and Outlook sets it on some human mail
 * (meeting requests, mail sent by some add-ins).  It does make
 * autodetect_suppress_reply() true.  An explicit "Auto-Submitted: no" turns
 * off the wording heuristics (a human said so), not the hard signals.
 *
 * Re-entrant: the patterns are compiled once per process.
 */
#ifndef SEUTUDESK_AUTODETECT_H
#define SEUTUDESK_AUTODETECT_H

#include <stdbool.h>
#include <stddef.h>

struct mime_msg;

/* True when msg is auto-generated; reason (reason_size bytes, may be 0) then
 * says which signal decided, e.g. "Auto-Submitted: auto-replied", otherwise
 * it is set to "". */
bool autodetect_check(const struct mime_msg *msg, char *reason, size_t reason_size);

/* True when no automatic mail should be sent in answer to msg: it is
 * auto-generated, or its X-Auto-Response-Suppress asks for that (All, OOF,
 * AutoReply). */
bool autodetect_suppress_reply(const struct mime_msg *msg);

/* The wording heuristics alone, for tests: subject and body may be NULL. */
bool autodetect_ooo_text(const char *subject, const char *body, char *reason, size_t reason_size);

#endif
