/* notify: the sd_notify protocol without libsystemd.
 *
 * Under systemd (Type=notify) the service manager passes NOTIFY_SOCKET, a
 * datagram socket (a path, or an abstract name written with a leading
 * "@"), and reads state lines from it: "READY=1", "STATUS=...",
 * "WATCHDOG=1", "RELOADING=1", "STOPPING=1".  Without NOTIFY_SOCKET every
 * call does nothing, so the daemon runs the same outside systemd.  Sends
 * never block: the socket is nonblocking, and a message the manager cannot
 * take at once is dropped (the protocol is best effort).
 */
#ifndef SEUTUDESK_NOTIFY_H
#define SEUTUDESK_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;

/* Reads NOTIFY_SOCKET and opens a socket for it.  True when there is
 * nothing to do (unset) or it worked; false with *error_r (free it) when
 * NOTIFY_SOCKET is set but unusable.  Calling it again does nothing. */
bool notify_open(char **error_r) __attribute__((warn_unused_result));
/* Closes the socket and stops the watchdog timer. */
void notify_close(void);
/* Whether a manager listens (NOTIFY_SOCKET was usable). */
bool notify_enabled(void);

/* Sends one message, e.g. "READY=1" or "STATUS=...\nREADY=1".  Returns
 * false when it could not be sent (or notify is off); nothing is logged. */
bool notify_send(const char *state);
/* "STATUS=" and printf-formatted text (one line). */
bool notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval that WATCHDOG_USEC asks for, in microseconds, or 0
 * when none (unset, invalid, or WATCHDOG_PID names another process). */
uint64_t notify_watchdog_usec(void);
/* Adds a timer to base that sends "WATCHDOG=1" at half the interval, so
 * that the pings stop when the loop stops.  True when there is no watchdog
 * or the timer is added; false when it could not be. */
bool notify_watchdog_start(struct event_base *base);

#endif
