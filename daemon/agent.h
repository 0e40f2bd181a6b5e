/* agent: the pool's agents and their API tokens in PostgreSQL (blocking
 * libpq), for seutudeskctl and the API's database workers.
 *
 * An agent is named by an AGENT reference: its login, or its numeric id.
 * Settings arrive as text, the way an admin types them, and every value is
 * validated here; an error names the option it is about ("--role 'boss':
 * ...").  Restriction lists are "any" (every value: NULL in the database),
 * "none" (no value) or ids separated by commas.  Queue ids are not checked
 * against a table (the configuration declares queues); municipality,
 * organisation and sector ids must exist in organisations and sectors.
 *
 * A token is "sdt_" and 43 characters of base64url (32 random bytes).  Only
 * its SHA-256 and its first AGENT_TOKEN_PREFIX_LEN characters are stored;
 * the token itself exists only in what agent_token_issue() returns.
 */
#ifndef SEUTUDESK_AGENT_H
#define SEUTUDESK_AGENT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define AGENT_TOKEN_LEN 47        /* "sdt_" + 43 */
#define AGENT_TOKEN_PREFIX_LEN 12 /* "sdt_" + 8: shown in listings, revoke --prefix */
#define AGENT_TOKENS_MAX 16       /* active tokens per agent */
#define AGENT_LIST_MAX 64         /* ids in one restriction list */
#define AGENT_MAX_OPEN_MAX 1000   /* the largest max_open */

enum agent_role {
	AGENT_ROLE_AGENT,   /* works tickets */
	AGENT_ROLE_LEAD,    /* and leads queues: assigns, gets SLA warnings */
	AGENT_ROLE_MANAGER, /* and reads reports */
	AGENT_ROLE_ADMIN,   /* everything */
};

/* "agent", "lead", "manager", "admin". */
const char *agent_role_name(enum agent_role role);
bool agent_role_parse(const char *s, enum agent_role *role_r) __attribute__((warn_unused_result));

/* A restriction: any value, or just those listed (maybe none). */
struct agent_ids {
	bool any;
	size_t n;
	char **ids;
};

struct agent {
	long long id;
	char *login;
	char *name;
	char *email;
	enum agent_role role;
	char *organisation; /* NULL: none */
	struct agent_ids queues, municipalities, sectors;
	bool sote; /* cleared for sensitive sectors */
	int max_open;
	bool active;
	char *created_at;   /* ISO 8601 in UTC: 2026-12-28T07:30:00Z */
	char *last_seen_at; /* NULL: never */
	unsigned tokens;    /* active tokens */
};

/* Frees what a filled-in agent holds and zeroes it. */
void agent_clear(struct agent *a);
/* Frees an array from agent_list() and sets *agents to NULL. */
void agent_array_free(struct agent **agents, size_t n);

/* The settings of agent add and agent modify.  A NULL string (or sote -1)
 * means the default for add, and no change for modify.  login, name and
 * email are required for add; modify may rename with login.  organisation
 * "none" clears it. */
struct agent_spec {
	const char *login;
	const char *name;
	const char *email;
	const char *role;           /* default agent */
	const char *organisation;   /* default none */
	const char *queues;         /* default any */
	const char *municipalities; /* default any */
	const char *sectors;        /* default any; a sensitive one needs sote */
	int sote;                   /* 1 cleared, 0 not (the default), -1 unset */
	const char *max_open;       /* 0 to AGENT_MAX_OPEN_MAX, default 25 */
};

/* Adds an agent; *id_r is its id.  False with *error_r set when a value is
 * invalid, the login is taken or the database fails. */
bool agent_add(PGconn *conn, const struct agent_spec *spec, long long *id_r, char **error_r)
    __attribute__((warn_unused_result));
/* Changes what spec sets of the agent ref. */
bool agent_modify(PGconn *conn, const char *ref, const struct agent_spec *spec, char **error_r)
    __attribute__((warn_unused_result));
/* Disables (active false) or enables the agent ref; *changed_r is false when
 * it already was so.  A disabled agent's tokens stop working until enabled. */
bool agent_set_active(PGconn *conn, const char *ref, bool active, bool *changed_r, char **error_r)
    __attribute__((warn_unused_result));
/* Reads the agent ref into *out (agent_clear() it after). */
bool agent_get(PGconn *conn, const char *ref, struct agent *out, char **error_r)
    __attribute__((warn_unused_result));
/* Every agent, by login. */
bool agent_list(PGconn *conn, struct agent **agents_r, size_t *n_r, char **error_r)
    __attribute__((warn_unused_result));

struct agent_token {
	long long id;
	long long agent;
	char *login;        /* the agent's */
	char *prefix;       /* the token's first AGENT_TOKEN_PREFIX_LEN characters */
	char *created_at;   /* ISO 8601 in UTC */
	char *last_used_at; /* NULL: never (updated at most once a minute) */
	char *revoked_at;   /* NULL: active */
};

void agent_token_array_free(struct agent_token **tokens, size_t n);

/* Issues a token for the active agent ref into token_r (NUL-terminated);
 * the caller shows it once and wipes it.  *prefix_r (may be NULL) gets the
 * stored prefix, malloc'd. */
bool agent_token_issue(PGconn *conn, const char *ref, char token_r[AGENT_TOKEN_LEN + 1],
                       char **prefix_r, char **error_r) __attribute__((warn_unused_result));
/* Revokes every active token of the agent ref; *n_r counts them. */
bool agent_token_revoke(PGconn *conn, const char *ref, unsigned *n_r, char **error_r)
    __attribute__((warn_unused_result));
/* Revokes the active token whose prefix starts with prefix (at least 8
 * characters, "sdt_" included); refused when it matches several.  *n_r is
 * 1, or 0 when none matched (then *error_r is set and false returned). */
bool agent_token_revoke_prefix(PGconn *conn, const char *prefix, unsigned *n_r, char **error_r)
    __attribute__((warn_unused_result));
/* The tokens of the agent ref (NULL: of every agent), newest first;
 * revoked ones too when all is set. */
bool agent_token_list(PGconn *conn, const char *ref, bool all, struct agent_token **tokens_r,
                      size_t *n_r, char **error_r) __attribute__((warn_unused_result));

/* The bytes of a token's SHA-256. */
#define AGENT_TOKEN_HASH 32
/* A fresh token into token_r and its SHA-256 into hash_r (for bridges'
 * tokens, which live in the same table). */
bool agent_token_new(char token_r[AGENT_TOKEN_LEN + 1], unsigned char hash_r[AGENT_TOKEN_HASH],
                     char **error_r) __attribute__((warn_unused_result));
/* The SHA-256 of a presented token; false with *error_r "malformed token"
 * when it is not shaped like one of ours. */
bool agent_token_digest(const char *token, unsigned char hash_r[AGENT_TOKEN_HASH], char **error_r)
    __attribute__((warn_unused_result));

/* Who a presented token belongs to. */
struct agent_identity {
	long long token_id;
	struct agent agent; /* its tokens field is not filled in */
};

void agent_identity_clear(struct agent_identity *id);

enum agent_lookup {
	AGENT_LOOKUP_OK,     /* *out is filled in */
	AGENT_LOOKUP_DENIED, /* malformed, unknown or revoked token, or a disabled agent */
	AGENT_LOOKUP_ERROR,  /* the database failed: try again later */
};

/* Hashes token and finds its active agent, and notes the use in
 * api_tokens.last_used_at (at most once a minute, so that every request
 * does not write).  *error_r is set unless AGENT_LOOKUP_OK: for DENIED a
 * reason for the log, never to be shown to the client. */
enum agent_lookup agent_token_lookup(PGconn *conn, const char *token, struct agent_identity *out,
                                     char **error_r) __attribute__((warn_unused_result));

#endif
