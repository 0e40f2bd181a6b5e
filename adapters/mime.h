/* mime: turns a raw RFC 5322 message into a normalised message.
 *
 * Built on libetpan's IMF/MIME parser and its charset conversion.  Every
 * string handed out is valid UTF-8 (bytes that are not are replaced with
 * U+FFFD, never dropped).  The parse is bounded by struct mime_limits: when a
 * limit is hit the result degrades (parts are skipped, text is truncated) and
 * a warning says where; it never crashes, hangs or grows without bound.
 *
 * The first mime_parse() sets libetpan's process-wide extended_charconv hook
 * to a converter that writes U+FFFD for bad bytes (libetpan's own drops them
 * or writes '?') and reads unknown charset labels as windows-1252.
 */
#ifndef SEUTUDESK_MIME_H
#define SEUTUDESK_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct mime_limits {
	size_t max_message_bytes; /* larger input: headers and the first text part only (default 32
	                             MiB) */
	size_t max_header_bytes;  /* the header block of one entity (default 256 KiB) */
	unsigned max_parts;       /* MIME entities in all (default 256) */
	unsigned max_depth;       /* nesting of multiparts and message/rfc822 (default 16) */
	size_t max_text_bytes;    /* the decoded body text kept (default 1 MiB) */
	unsigned max_addresses;   /* addresses kept per header field (default 100) */
	unsigned max_references;  /* Message-IDs kept from References (default 100) */
};

/* Fills in the documented defaults. */
void mime_limits_default(struct mime_limits *lim);

struct mime_address {
	char *name; /* display name, decoded; "" when absent */
	char *addr; /* local@domain, domain lower-cased; never NULL */
};

struct mime_attachment {
	char *filename;      /* decoded (RFC 2231 or RFC 2047); "" when none */
	char *content_type;  /* lower-case type/subtype */
	char *content_id;    /* without <>; NULL when none */
	bool is_inline;      /* Content-Disposition: inline or referenced by Content-ID */
	size_t size;         /* decoded bytes */
	unsigned char *data; /* decoded content, size bytes */
};

struct mime_msg; /* opaque */

/* Parses raw (len bytes, CRLF or LF line ends).  Returns NULL only when
 * nothing usable could be read, with *error_r set to a message that names
 * the place (free it with free()).  A message with problems still parses:
 * see mime_warning(). */
struct mime_msg *mime_parse(const char *raw, size_t len, const struct mime_limits *lim,
                            char **error_r) __attribute__((warn_unused_result));
/* Frees *msg and sets it to NULL. */
void mime_msg_free(struct mime_msg **msg);

/* Decoded header fields; NULL when the message lacks the field. */
const char *mime_subject(const struct mime_msg *msg);
const struct mime_address *mime_from(const struct mime_msg *msg);
const struct mime_address *mime_reply_to(const struct mime_msg *msg);
/* Recipients: kind is 't' (To) or 'c' (Cc). */
size_t mime_recipient_count(const struct mime_msg *msg, char kind);
const struct mime_address *mime_recipient(const struct mime_msg *msg, char kind, size_t i);
/* Message-IDs without the angle brackets. */
const char *mime_message_id(const struct mime_msg *msg);
const char *mime_in_reply_to(const struct mime_msg *msg);
size_t mime_reference_count(const struct mime_msg *msg);
const char *mime_reference(const struct mime_msg *msg, size_t i);
/* The Date field as an instant; false when absent or unreadable. */
bool mime_date(const struct mime_msg *msg, time_t *date_r);

/* Any top-level header field by name (case-insensitive), unfolded, RFC 2047
 * decoded, UTF-8; the first occurrence, or NULL. */
const char *mime_header(const struct mime_msg *msg, const char *name);
/* How many times the field occurs in the top-level header. */
size_t mime_header_count(const struct mime_msg *msg, const char *name);

/* The best text body: text/plain preferred, else HTML turned into readable
 * text; "" when the message has none.  Forwarded message/rfc822 parts add
 * their text after the outer one. */
const char *mime_body(const struct mime_msg *msg);
bool mime_body_from_html(const struct mime_msg *msg);

/* Lower-case type/subtype of the top-level entity, e.g. "multipart/report". */
const char *mime_content_type(const struct mime_msg *msg);
/* For multipart/report: the report-type parameter ("delivery-status"), else NULL. */
const char *mime_report_type(const struct mime_msg *msg);
/* For a delivery report: the Message-ID of the returned message (from its
 * message/rfc822 or text/rfc822-headers part), else NULL. */
const char *mime_returned_message_id(const struct mime_msg *msg);
/* For a delivery report: its first failed recipient as one line, "Status
 * Final-Recipient: Diagnostic-Code" ("5.1.1 rfc822; a@b.fi: smtp; 550 5.1.1
 * User unknown"), else NULL (no failure: delayed, delivered, relayed). */
const char *mime_report_failure(const struct mime_msg *msg);

size_t mime_attachment_count(const struct mime_msg *msg);
const struct mime_attachment *mime_attachment(const struct mime_msg *msg, size_t i);

/* Problems met and limits hit, each naming the place ("part 1.2: unknown
 * charset x-foo, read as windows-1252"). */
size_t mime_warning_count(const struct mime_msg *msg);
const char *mime_warning(const struct mime_msg *msg, size_t i);
/* True when a limit cut something off. */
bool mime_truncated(const struct mime_msg *msg);

#endif
