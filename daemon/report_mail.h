/* report_mail: the monthly report mail, in a worker thread of its own.
 *
 * On the first working day of each month (the first day [reports] calendar
 * opens, from its opening time; a daemon that starts later in the month
 * catches up), each [report NAME] section mails the previous month's report
 * (its kind, member, grouping, language and format) to its `to`: the
 * addresses listed, and for `managers` the active agents of role manager
 * whose municipalities include the member (every manager for member all).
 * One multipart/mixed mail per recipient goes through the outbox: a short
 * text in the section's language and the report attached.
 *
 * Exactly once, also with several daemons on one database: the section and
 * month are claimed in report_mailings (sql/016_reports_web.sql) by an
 * INSERT ... ON CONFLICT DO NOTHING in the transaction that queues the
 * mails, so a claim exists exactly when its mails do.
 *
 * The report is the one a manager of just that member without sote
 * clearance would read (for member all, an admin without it): report.c's
 * scope function has a stand-in on this worker's connection while it
 * builds (sql/016_reports_web.sql), so no agent is needed for it.
 *
 * For the tests only: the environment variable SEUTUDESKD_TEST_NOW (an
 * instant as calendar_parse_time() reads it) is taken as "now" when the
 * worker starts, the clock running on from there; it changes nothing but
 * which month this worker thinks it is.
 */
#ifndef SEUTUDESK_REPORT_MAIL_H
#define SEUTUDESK_REPORT_MAIL_H

#include <stddef.h>
#include <time.h>

struct runtime;
struct report_mail; /* opaque */

struct report_mail *report_mail_start(char **error_r) __attribute__((warn_unused_result));
void report_mail_stop(struct report_mail *m);
/* Waits for it to stop and frees it; sets *m to NULL. */
void report_mail_join(struct report_mail **m);

/* The RFC 5322 message of one mail: From the daemon's address, to `to`,
 * subject and text (UTF-8), the attachment of len bytes with its file name
 * and MIME type, base64.  malloc'd, NUL-terminated; NULL when out of
 * memory.  Public for the tests. */
char *report_mail_message(const struct runtime *rt, const char *to, const char *subject,
                          const char *text, const char *file, const char *type,
                          const unsigned char *data, size_t len, time_t date)
    __attribute__((warn_unused_result));

#endif
