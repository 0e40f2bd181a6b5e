/* reports_web: the report pages for a browser, under /reports/ on the API's
 * HTTPS listener (doc/reports.md; seutudeskd(8)).
 *
 *   GET  /reports/           the sign-in form, or once signed in the form
 *                            that picks a report, with it shown in the page
 *   POST /reports/login      email: mails a single-use sign-in link to an
 *                            active manager, admin or lead of that address;
 *                            the same answer whoever it is; rate-limited
 *   GET  /reports/auth       ?token=&lang=: the mailed link's page, a button
 *                            that posts the token back; uses nothing (mail
 *                            scanners open links in advance), but says at
 *                            once when the link is used, expired or unknown
 *   POST /reports/auth       token=&lang=: uses the link once, starts a
 *                            session (cookie sd_session) and redirects to
 *                            the page (call->action "signin")
 *   GET  /reports/view       ?kind=&from=&to=&by=&lang=&format=html|csv|xlsx:
 *                            the report as the session's agent may read it
 *   POST /reports/logout     ends the session
 *   GET  /reports/style.css  the pages' style sheet
 *
 * The server (api.c) routes these to reports_web_handle() with call->action
 * the page ("" for the form), checks that the Host is a name of its
 * certificate (call->origin, of which the mailed links are made) and that a
 * POST's Origin is that; the handler checks the session itself.  Tokens and
 * session ids are 32 random bytes; the database keeps only their SHA-256
 * (sql/016_reports_web.sql).
 */
#ifndef SEUTUDESK_REPORTS_WEB_H
#define SEUTUDESK_REPORTS_WEB_H

#include "apicall.h"

#define REPORTS_WEB_COOKIE "sd_session"
#define REPORTS_WEB_COOKIE_MAX 64  /* longest cookie value taken */
#define REPORTS_WEB_ORIGIN_MAX 300 /* "https://" and the Host */

api_handler_fn reports_web_handle;

#endif
