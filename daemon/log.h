/* log: one line per event, with a level and key=value fields.
 *
 * Messages go to stderr (the default, also under systemd) or to syslog.  The
 * caller formats key=value pairs itself; log never prints secrets because it
 * is never handed any.
 */
#ifndef SEUTUDESK_LOG_H
#define SEUTUDESK_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the program name, the threshold and the destination. */
void log_open(const char *ident, enum log_level threshold, bool use_syslog);
void log_set_level(enum log_level threshold);
/* Parses "error", "warn", "info" or "debug"; returns false for anything else. */
bool log_level_parse(const char *name, enum log_level *level_r) __attribute__((warn_unused_result));

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
