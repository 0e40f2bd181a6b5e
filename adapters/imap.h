/* imap: one blocking IMAP client connection on libetpan's mailimap API.
 *
 * Meant for a worker thread per mailbox: every call blocks, bounded by the
 * settings' timeout (connect, and each read or write on the socket).  Nothing
 * is printed: a failing call returns false (or NULL, or IMAP_IDLE_ERROR) and
 * sets *error_r to a malloc'd string naming the place, e.g.
 *   "imap test@127.0.0.1:143 INBOX: UID FETCH: server said NO: ..."
 * Passwords and tokens never appear in errors.  A connection whose call failed with a
 * stream error (timeout, reset, limit hit) is unusable: close it and
 * reconnect.
 *
 * Memory is bounded whatever the server sends: every command's response is
 * capped by max_response_bytes (the connection fails when it is exceeded),
 * and message sources are fetched with a partial range of at most
 * max_message_bytes, so a larger message comes back truncated with its real
 * size, for the caller to decide.
 *
 * Folder names are passed to the server as given (IMAP modified UTF-7 for
 * non-ASCII names).
 *
 * TLS (imaps, starttls) sends SNI and, right after the handshake and before
 * anything else is read or sent (the greeting with imaps, LOGIN with
 * starttls), verifies the server's certificate chain against the system trust
 * store, or against tls_ca_file alone when that is set, and the certificate
 * against host (a DNS name, or an IP address matched to the certificate's IP
 * addresses).  There is no way to turn that off: a private CA goes in
 * tls_ca_file.  A failure names host:port and why, e.g.
 *   "imap test@mail.example.fi:993 INBOX: TLS certificate: not trusted: ..."
 *
 * The process must ignore SIGPIPE: a write to a dropped connection is then an
 * error return, not a signal.
 */
#ifndef SEUTUDESK_IMAP_H
#define SEUTUDESK_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netcut;

enum imap_tls {
	IMAP_TLS_IMAPS,    /* TLS from the start (port 993) */
	IMAP_TLS_STARTTLS, /* plain connect, then STARTTLS before LOGIN (port 143) */
	IMAP_TLS_NONE,     /* plain text: refused unless host is a loopback address */
};

/* How imap_connect() logs in. */
enum imap_auth {
	IMAP_AUTH_PASSWORD,    /* LOGIN with user and password */
	IMAP_AUTH_XOAUTH2,     /* AUTHENTICATE XOAUTH2 with user and access_token */
	IMAP_AUTH_OAUTHBEARER, /* AUTHENTICATE OAUTHBEARER (RFC 7628) with user and access_token */
};

struct imap_settings {
	const char *host;  /* name or address */
	uint16_t port;     /* 0: 993 for imaps, else 143 */
	enum imap_tls tls; /* default IMAP_TLS_IMAPS */
	const char *user;
	const char *password;      /* IMAP_AUTH_PASSWORD; never copied into an error */
	enum imap_auth auth;       /* default IMAP_AUTH_PASSWORD */
	const char *access_token;  /* the OAuth 2.0 bearer token of the SASL mechanisms */
	const char *tls_ca_file;   /* PEM CAs trusted instead of the system store; NULL: system */
	const char *folder;        /* the intake folder (default "INBOX") */
	unsigned timeout;          /* seconds, connect and each socket read/write (default 30) */
	size_t max_message_bytes;  /* most bytes of one source fetched (default 32 MiB) */
	size_t max_response_bytes; /* most bytes read for one command (default 256 MiB) */
	struct netcut *cut;        /* borrowed, NULL: none; when it fires (netcut.h, from
	                            * any thread) the connection's socket is shut down,
	                            * so the call in progress fails at once */
};

/* Fills in the documented defaults; host, user and password stay NULL. */
void imap_settings_default(struct imap_settings *s);

/* Parses "imaps", "starttls" or "none". */
bool imap_tls_parse(const char *name, enum imap_tls *tls_r) __attribute__((warn_unused_result));

/* A configuration's tls_ca_file is checked with tlsverify_ca_file_check(). */

struct imap_conn; /* opaque */

/* Connects, negotiates TLS as configured, verifies the certificate and logs
 * in.  The settings' strings are copied.  NULL with *error_r set on failure
 * (bad settings, tls=none to a host that is not loopback, an unreadable
 * tls_ca_file, connection, TLS, certificate or login failure). */
struct imap_conn *imap_connect(const struct imap_settings *s, char **error_r)
    __attribute__((warn_unused_result));
/* imap_connect(), and *login_refused_r (may be NULL) set when the server
 * refused the credentials (LOGIN or AUTHENTICATE answered NO), as opposed to
 * any other failure.
 *
 * The SASL mechanisms need the server to offer them (AUTH=XOAUTH2,
 * AUTH=OAUTHBEARER in its capabilities, asked anew after STARTTLS); the
 * client response goes with the command when the server has SASL-IR and
 * the response is short (up to 900 bytes: servers may limit the command
 * line, Dovecot's login to 1 KiB, and a Microsoft 365 token is longer),
 * else after the server's continuation.  A failing exchange is ended as the mechanism
 * says (an empty line for XOAUTH2, %x01 for OAUTHBEARER) and the server's
 * error challenge (JSON, e.g. {"status":"invalid_token"}) goes into the
 * error. */
struct imap_conn *imap_open(const struct imap_settings *s, bool *login_refused_r, char **error_r)
    __attribute__((warn_unused_result));
/* Sends LOGOUT when the connection still works, frees *conn, sets it to NULL. */
void imap_close(struct imap_conn **conn);

/* Capabilities the adapter uses, as seen after login. */
enum {
	IMAP_CAP_IDLE = 1 << 0,
	IMAP_CAP_MOVE = 1 << 1,
	IMAP_CAP_UIDPLUS = 1 << 2,
};
unsigned imap_capabilities(const struct imap_conn *conn);

/* SELECTs folder (NULL: the settings' folder) read-write.  A changed
 * UIDVALIDITY means every UID the caller knows for the folder is void. */
bool imap_select(struct imap_conn *conn, const char *folder, uint32_t *uidvalidity_r,
                 uint32_t *uidnext_r, char **error_r) __attribute__((warn_unused_result));

/* Message flags as the adapter reports them. */
enum {
	IMAP_FLAG_SEEN = 1 << 0,
	IMAP_FLAG_DELETED = 1 << 1,
	IMAP_FLAG_KEYWORD = 1 << 2, /* the keyword given to imap_list */
};

struct imap_msg_info {
	uint32_t uid;
	uint32_t size;  /* RFC822.SIZE as the server reports it */
	unsigned flags; /* IMAP_FLAG_* */
};

/* Lists the messages of the selected folder with a UID greater than
 * after_uid, ascending, at most max_count of them (the lowest UIDs; call
 * again from the last one for more).  keyword (may be NULL) is the flag
 * reported as IMAP_FLAG_KEYWORD.  *infos_r is malloc'd (NULL when none). */
bool imap_list(struct imap_conn *conn, uint32_t after_uid, size_t max_count, const char *keyword,
               struct imap_msg_info **infos_r, size_t *count_r, char **error_r)
    __attribute__((warn_unused_result));

struct imap_message {
	uint32_t uid;
	uint32_t size; /* RFC822.SIZE: the whole source's size on the server */
	char *data;    /* raw source as the server sent it (CRLF), NUL-terminated; NULL when gone */
	size_t len;    /* bytes in data */
	bool truncated; /* data is the first max_message_bytes of a larger source */
	bool gone;      /* expunged meanwhile: no data */
};

/* Frees the data of n messages and the array itself. */
void imap_messages_free(struct imap_message *msgs, size_t n);

/* Fetches one message's raw source by UID with BODY.PEEK[] (never sets
 * \Seen), capped at max_message_bytes.  A UID that no longer exists gives
 * msg_r->gone and true.  Free msg_r->data with free(). */
bool imap_fetch(struct imap_conn *conn, uint32_t uid, struct imap_message *msg_r, char **error_r)
    __attribute__((warn_unused_result));

/* Fetches a prefix of infos[0..n) in one round trip: messages are taken in
 * order while the sum of their sizes (each capped at max_message_bytes)
 * stays within budget bytes, at least one.  *msgs_r (malloc'd) has
 * *count_r entries, one for each of infos[0..*count_r), in that order. */
bool imap_fetch_batch(struct imap_conn *conn, const struct imap_msg_info *infos, size_t n,
                      size_t budget, struct imap_message **msgs_r, size_t *count_r, char **error_r)
    __attribute__((warn_unused_result));

/* Marks messages processed by moving them to folder: UID MOVE when the server
 * has MOVE, else UID COPY + UID STORE \Deleted + UID EXPUNGE of just those UIDs
 * (UIDPLUS).  Without either it fails rather than expunge other messages.  The
 * folder is created when the server answers TRYCREATE. */
bool imap_move(struct imap_conn *conn, const uint32_t *uids, size_t n, const char *folder,
               char **error_r) __attribute__((warn_unused_result));

/* Marks messages processed by adding a keyword flag (e.g. "$SeutudeskDone"). */
bool imap_flag(struct imap_conn *conn, const uint32_t *uids, size_t n, const char *keyword,
               char **error_r) __attribute__((warn_unused_result));

enum imap_idle_result {
	IMAP_IDLE_ERROR = -1,
	IMAP_IDLE_TIMEOUT = 0,     /* nothing new within the time */
	IMAP_IDLE_NEW = 1,         /* the server announced EXISTS or RECENT */
	IMAP_IDLE_INTERRUPTED = 2, /* wake_fd became readable (the caller drains it) */
};

/* IDLEs on the selected folder for up to seconds, returning as soon as the
 * server announces new mail or wake_fd (-1: none) is readable; ends IDLE with
 * DONE before returning.  Fails when the server lacks IDLE. */
enum imap_idle_result imap_idle(struct imap_conn *conn, unsigned seconds, int wake_fd,
                                char **error_r) __attribute__((warn_unused_result));

#endif
