/* agent: agents and API tokens in PostgreSQL. */
#include "autoconfig.h"

#include "agent.h"
#include "db.h"
#include "xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define TOKEN_MAGIC "sdt_"
#define TOKEN_MAGIC_LEN 4
#define TOKEN_RANDOM 32
#define TOKEN_HASH AGENT_TOKEN_HASH
#define REVOKE_PREFIX_MIN 8
#define NAME_MAX_BYTES 200
#define EMAIL_MAX 254
#define LIST_TEXT_MAX 4096
#define ID_MAX 32
#define LOGIN_MAX 64
#define BYTEAOID 17

/* Timestamps leave the database as ISO 8601 in UTC. */
#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The columns row_agent() reads, agents aliased a. */
#define AGENT_COLUMNS                                                                              \
	"a.id, a.login, a.name, a.email, a.role, a.organisation, array_to_json(a.queues)::text, "  \
	"array_to_json(a.municipalities)::text, array_to_json(a.sectors)::text, a.sote, "          \
	"a.max_open, a.active, " ISO("a.created_at") ", " ISO("a.last_seen_at")
#define AGENT_NCOLUMNS 14
/* The columns of agent_token_list(), api_tokens aliased t. */
#define TOKEN_COLUMNS                                                                              \
	"t.id, t.agent, a.login, t.prefix, " ISO("t.created_at") ", " ISO(                         \
	    "t.last_used_at") ", " ISO("t.revoked_at")
#define AGENT_TOKEN_COUNT                                                                          \
	"(SELECT count(*) FROM api_tokens t WHERE t.agent = a.id AND t.revoked_at IS NULL)"

static const char *const role_names[] = {"agent", "lead", "manager", "admin"};

const char *agent_role_name(enum agent_role role)
{
	return (unsigned)role < sizeof(role_names) / sizeof(role_names[0]) ? role_names[role] : "?";
}

bool agent_role_parse(const char *s, enum agent_role *role_r)
{
	for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*role_r = (enum agent_role)i;
			return true;
		}
	}
	return false;
}

static void ids_clear(struct agent_ids *ids)
{
	for (size_t i = 0; i < ids->n; i++)
		free(ids->ids[i]);
	free(ids->ids);
	memset(ids, 0, sizeof(*ids));
}

static bool ids_has(const struct agent_ids *ids, const char *id)
{
	for (size_t i = 0; i < ids->n; i++)
		if (strcmp(ids->ids[i], id) == 0)
			return true;
	return false;
}

void agent_clear(struct agent *a)
{
	free(a->login);
	free(a->name);
	free(a->email);
	free(a->organisation);
	ids_clear(&a->queues);
	ids_clear(&a->municipalities);
	ids_clear(&a->sectors);
	free(a->created_at);
	free(a->last_seen_at);
	memset(a, 0, sizeof(*a));
}

void agent_array_free(struct agent **agents, size_t n)
{
	if (*agents == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		agent_clear(&(*agents)[i]);
	free(*agents);
	*agents = NULL;
}

void agent_token_array_free(struct agent_token **tokens, size_t n)
{
	if (*tokens == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		struct agent_token *t = &(*tokens)[i];
		free(t->login);
		free(t->prefix);
		free(t->created_at);
		free(t->last_used_at);
		free(t->revoked_at);
	}
	free(*tokens);
	*tokens = NULL;
}

void agent_identity_clear(struct agent_identity *id)
{
	agent_clear(&id->agent);
	id->token_id = 0;
}

/* ---- validation ---------------------------------------------------------- */

/* The ids of organisations, sectors and queues: ^[a-z][a-z0-9_-]{0,31}$. */
static bool id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > ID_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* agents.login: ^[a-z][a-z0-9._-]{0,63}$. */
static bool login_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LOGIN_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static bool check_login(const char *s, char **error_r)
{
	if (login_valid(s))
		return true;
	*error_r = xasprintf("login '%.64s': expected a to z, 0 to 9, '.', '_' and '-', starting "
	                     "with a letter, at most %d characters",
	                     s, LOGIN_MAX);
	return false;
}

/* A display name: printable UTF-8 (jansson decides what valid UTF-8 is, as
 * the name must also survive JSON output). */
static bool check_name(const char *s, char **error_r)
{
	size_t n = strlen(s);
	bool blank = true;
	json_t *j;

	if (n > NAME_MAX_BYTES) {
		*error_r = xasprintf("--name: longer than %d bytes", NAME_MAX_BYTES);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			*error_r = xasprintf("--name: control characters are not allowed");
			return false;
		}
		blank &= c == ' ';
	}
	if (blank) {
		*error_r = xasprintf("--name: must not be empty");
		return false;
	}
	j = json_stringn(s, n);
	if (j == NULL) {
		*error_r = xasprintf("--name: not valid UTF-8");
		return false;
	}
	json_decref(j);
	return true;
}

static bool email_char(unsigned char c, bool domain)
{
	if (domain)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		       c == '-' || c == '.';
	/* The dot-atom of RFC 5322: no quoting, no comments. */
	return c > 0x20 && c < 0x7f && strchr("\"(),:;<>@[\\]", c) == NULL;
}

/* An address to write to: local@domain.tld, no display name, no quoting. */
static bool check_email(const char *s, char **error_r)
{
	const char *at = strchr(s, '@'), *p;
	size_t n = strlen(s);
	bool ok = at != NULL && at != s && (size_t)(at - s) <= 64 && n <= EMAIL_MAX &&
	          strchr(at + 1, '@') == NULL;

	for (p = s; ok && *p; p++)
		ok = p == at || email_char((unsigned char)*p, p > at);
	if (ok) {
		const char *dom = at + 1;
		size_t dn = strlen(dom);
		ok = dn >= 3 && strchr(dom, '.') != NULL && dom[0] != '.' && dom[0] != '-' &&
		     dom[dn - 1] != '.' && dom[dn - 1] != '-' && strstr(dom, "..") == NULL &&
		     s[0] != '.' && at[-1] != '.' && strstr(s, "..") == NULL;
	}
	if (!ok)
		*error_r =
		    xasprintf("--email '%.64s': expected an address like name@example.fi", s);
	return ok;
}

static bool check_max_open(const char *s, int *max_r, char **error_r)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v > AGENT_MAX_OPEN_MAX) {
		*error_r = xasprintf("--max-open '%.64s': expected a number from 0 to %d", s,
		                     AGENT_MAX_OPEN_MAX);
		return false;
	}
	*max_r = (int)v;
	return true;
}

static char *trim_dup(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return xstrndup(s, n);
}

/* "any", "none" or "a, b, c" into *out (ids_clear()ed first). */
static bool parse_ids(const char *opt, const char *text, struct agent_ids *out, char **error_r)
{
	struct agent_ids r = {0};
	char *whole;
	const char *p;

	if (strlen(text) > LIST_TEXT_MAX) {
		*error_r = xasprintf("--%s: longer than %d bytes", opt, LIST_TEXT_MAX);
		return false;
	}
	whole = trim_dup(text, strlen(text));
	if (strcmp(whole, "any") == 0 || strcmp(whole, "none") == 0 || whole[0] == '\0') {
		r.any = strcmp(whole, "any") == 0;
		free(whole);
		ids_clear(out);
		*out = r;
		return true;
	}
	free(whole);
	r.ids = xmalloc(AGENT_LIST_MAX * sizeof(*r.ids));
	for (p = text;; p++) {
		const char *end = strchr(p, ',');
		char *id = trim_dup(p, end ? (size_t)(end - p) : strlen(p));

		bool word = strcmp(id, "any") == 0 || strcmp(id, "none") == 0;

		if (word || !id_valid(id)) {
			if (word)
				*error_r =
				    xasprintf("--%s '%.64s': '%s' stands alone, not in a list", opt,
				              text, id);
			else if (id[0] == '\0')
				*error_r =
				    xasprintf("--%s '%.64s': an empty id in the list", opt, text);
			else
				*error_r =
				    xasprintf("--%s '%.64s': '%.40s' is not an id (a to z, 0 to 9, "
				              "'_' and '-', "
				              "starting with a letter, at most %d characters)",
				              opt, text, id, ID_MAX);
			free(id);
			ids_clear(&r);
			return false;
		}
		if (ids_has(&r, id)) {
			free(id);
		} else if (r.n == AGENT_LIST_MAX) {
			free(id);
			ids_clear(&r);
			*error_r = xasprintf("--%s: more than %d ids", opt, AGENT_LIST_MAX);
			return false;
		} else {
			r.ids[r.n++] = id;
		}
		if (end == NULL)
			break;
		p = end;
	}
	ids_clear(out);
	*out = r;
	return true;
}

/* A PostgreSQL array literal of ids (NULL for any), every element quoted. */
static char *ids_literal(const struct agent_ids *ids)
{
	size_t cap = 3, k = 0;
	char *r;

	if (ids->any)
		return NULL;
	for (size_t i = 0; i < ids->n; i++)
		cap += 2 * strlen(ids->ids[i]) + 3;
	r = xmalloc(cap);
	r[k++] = '{';
	for (size_t i = 0; i < ids->n; i++) {
		if (i > 0)
			r[k++] = ',';
		r[k++] = '"';
		for (const char *c = ids->ids[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				r[k++] = '\\';
			r[k++] = *c;
		}
		r[k++] = '"';
	}
	r[k++] = '}';
	r[k] = '\0';
	return r;
}

/* ---- database helpers ---------------------------------------------------- */

static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params)
{
	return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

static bool tx_begin(PGconn *conn, char **error_r) { return db_exec(conn, "BEGIN", error_r); }

/* Ends the transaction: commits when ok, else rolls back, keeping the first error. */
static bool tx_end(PGconn *conn, bool ok, char **error_r)
{
	char *error = NULL;

	if (db_exec(conn, ok ? "COMMIT" : "ROLLBACK", &error))
		return ok;
	if (ok)
		*error_r = error;
	else
		free(error);
	return false;
}

/* The id of an organisations or sectors row, or the message listing the known ones. */
static bool check_known(PGconn *conn, const char *opt, const char *what, bool sectors,
                        const struct agent_ids *ids, char **error_r)
{
	PGresult *res;
	bool ok = true;
	int n;

	if (ids->n == 0)
		return true;
	res = PQexec(conn, sectors ? "SELECT id FROM sectors ORDER BY id"
	                           : "SELECT id FROM organisations ORDER BY id");
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	n = PQntuples(res);
	for (size_t i = 0; ok && i < ids->n; i++) {
		ok = false;
		for (int r = 0; !ok && r < n; r++)
			ok = strcmp(PQgetvalue(res, r, 0), ids->ids[i]) == 0;
		if (!ok) {
			size_t len = 0, cap = 1;
			char *known;

			for (int r = 0; r < n; r++)
				cap += strlen(PQgetvalue(res, r, 0)) + 2;
			known = xmalloc(cap);
			known[0] = '\0';
			for (int r = 0; r < n; r++)
				len += (size_t)sprintf(known + len, "%s%s", r ? ", " : "",
				                       PQgetvalue(res, r, 0));
			*error_r = xasprintf("--%s: unknown %s '%s' (known: %s)", opt, what,
			                     ids->ids[i], n ? known : "none");
			free(known);
		}
	}
	PQclear(res);
	return ok;
}

/* A sensitive sector in the list of an agent without clearance would never be
 * visible to them: refused, so that the admin decides which was meant. */
static bool check_sensitive(PGconn *conn, const struct agent *a, char **error_r)
{
	PGresult *res;
	bool ok = true;

	if (a->sote || a->sectors.any || a->sectors.n == 0)
		return true;
	res = PQexec(conn, "SELECT id FROM sectors WHERE sensitive ORDER BY id");
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	for (int r = 0; ok && r < PQntuples(res); r++) {
		if (ids_has(&a->sectors, PQgetvalue(res, r, 0))) {
			*error_r = xasprintf("--sectors: '%s' is a sensitive sector, visible only "
			                     "with --sote: give --sote or leave it out",
			                     PQgetvalue(res, r, 0));
			ok = false;
		}
	}
	PQclear(res);
	return ok;
}

static char *dup_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

/* A JSON array of strings from array_to_json(), NULL being any. */
static bool ids_from_json(const PGresult *res, int row, int col, struct agent_ids *out)
{
	json_t *j, *v;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (PQgetisnull(res, row, col)) {
		out->any = true;
		return true;
	}
	j = json_loads(PQgetvalue(res, row, col), 0, NULL);
	if (!json_is_array(j)) {
		json_decref(j);
		return false;
	}
	out->ids = xmalloc((json_array_size(j) + 1) * sizeof(*out->ids));
	json_array_foreach(j, i, v)
	{
		if (json_is_string(v))
			out->ids[out->n++] = xstrdup(json_string_value(v));
	}
	json_decref(j);
	return true;
}

/* The AGENT_COLUMNS of a row from column col0 on. */
static bool row_agent(const PGresult *res, int row, int col0, struct agent *a, char **error_r)
{
	const int c = col0;

	memset(a, 0, sizeof(*a));
	a->id = strtoll(PQgetvalue(res, row, c), NULL, 10);
	a->login = xstrdup(PQgetvalue(res, row, c + 1));
	a->name = xstrdup(PQgetvalue(res, row, c + 2));
	a->email = xstrdup(PQgetvalue(res, row, c + 3));
	if (!agent_role_parse(PQgetvalue(res, row, c + 4), &a->role))
		a->role = AGENT_ROLE_AGENT; /* the CHECK constraint allows no other */
	a->organisation = dup_or_null(res, row, c + 5);
	if (!ids_from_json(res, row, c + 6, &a->queues) ||
	    !ids_from_json(res, row, c + 7, &a->municipalities) ||
	    !ids_from_json(res, row, c + 8, &a->sectors)) {
		*error_r = xasprintf("agent %lld: unreadable restriction lists", a->id);
		agent_clear(a);
		return false;
	}
	a->sote = PQgetvalue(res, row, c + 9)[0] == 't';
	a->max_open = atoi(PQgetvalue(res, row, c + 10));
	a->active = PQgetvalue(res, row, c + 11)[0] == 't';
	a->created_at = xstrdup(PQgetvalue(res, row, c + 12));
	a->last_seen_at = dup_or_null(res, row, c + 13);
	return true;
}

/* AGENT: a login or a numeric id; *where_r is the SQL condition on a for $1. */
static bool parse_ref(const char *ref, const char **where_r, char **error_r)
{
	size_t n = strlen(ref), digits = strspn(ref, "0123456789");

	if (n > 0 && digits == n && n <= 18) {
		*where_r = "a.id = $1::bigint";
		return true;
	}
	if (login_valid(ref)) {
		*where_r = "a.login = $1";
		return true;
	}
	*error_r = xasprintf("AGENT '%.64s': expected a login or a numeric id", ref);
	return false;
}

static char *no_such_agent(const char *ref)
{
	return xasprintf("AGENT '%.64s': no such agent", ref);
}

/* Reads the agent ref, with FOR UPDATE when lock (inside a transaction). */
static bool get_agent(PGconn *conn, const char *ref, bool lock, struct agent *out, char **error_r)
{
	const char *where;
	PGresult *res;
	char *sql;
	bool ok;

	if (!parse_ref(ref, &where, error_r))
		return false;
	sql = xasprintf("SELECT " AGENT_COLUMNS ", " AGENT_TOKEN_COUNT " FROM agents a WHERE %s%s",
	                where, lock ? " FOR UPDATE OF a" : "");
	res = query(conn, sql, 1, &ref);
	free(sql);
	ok = db_result_ok(conn, res, PGRES_TUPLES_OK, error_r);
	if (ok && PQntuples(res) != 1) {
		*error_r = no_such_agent(ref);
		ok = false;
	}
	if (ok && (ok = row_agent(res, 0, 0, out, error_r)))
		out->tokens = (unsigned)strtoul(PQgetvalue(res, 0, AGENT_NCOLUMNS), NULL, 10);
	PQclear(res);
	return ok;
}

bool agent_get(PGconn *conn, const char *ref, struct agent *out, char **error_r)
{
	return get_agent(conn, ref, false, out, error_r);
}

bool agent_list(PGconn *conn, struct agent **agents_r, size_t *n_r, char **error_r)
{
	PGresult *res = PQexec(conn, "SELECT " AGENT_COLUMNS ", " AGENT_TOKEN_COUNT
	                             " FROM agents a ORDER BY a.login");
	struct agent *v;
	size_t n = 0;

	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	v = xmalloc(((size_t)PQntuples(res) + 1) * sizeof(*v));
	for (int r = 0; r < PQntuples(res); r++, n++) {
		if (!row_agent(res, r, 0, &v[n], error_r)) {
			agent_array_free(&v, n);
			PQclear(res);
			return false;
		}
		v[n].tokens = (unsigned)strtoul(PQgetvalue(res, r, AGENT_NCOLUMNS), NULL, 10);
	}
	PQclear(res);
	*agents_r = v;
	*n_r = n;
	return true;
}

/* Applies spec to *a, validating every value given. */
static bool apply_spec(PGconn *conn, const struct agent_spec *spec, struct agent *a, char **error_r)
{
	if (spec->login) {
		if (!check_login(spec->login, error_r))
			return false;
		free(a->login);
		a->login = xstrdup(spec->login);
	}
	if (spec->name) {
		if (!check_name(spec->name, error_r))
			return false;
		free(a->name);
		a->name = xstrdup(spec->name);
	}
	if (spec->email) {
		if (!check_email(spec->email, error_r))
			return false;
		free(a->email);
		a->email = xstrdup(spec->email);
	}
	if (spec->role && !agent_role_parse(spec->role, &a->role)) {
		*error_r =
		    xasprintf("--role '%.64s': expected agent, lead, manager or admin", spec->role);
		return false;
	}
	if (spec->organisation) {
		free(a->organisation);
		a->organisation = NULL;
		if (strcmp(spec->organisation, "none") != 0) {
			struct agent_ids one = {.n = 1, .ids = (char **)&spec->organisation};

			if (!id_valid(spec->organisation)) {
				*error_r = xasprintf("--organisation '%.64s': expected an "
				                     "organisation id or none",
				                     spec->organisation);
				return false;
			}
			if (!check_known(conn, "organisation", "organisation", false, &one,
			                 error_r))
				return false;
			a->organisation = xstrdup(spec->organisation);
		}
	}
	if (spec->queues && !parse_ids("queues", spec->queues, &a->queues, error_r))
		return false;
	if (spec->municipalities &&
	    (!parse_ids("municipalities", spec->municipalities, &a->municipalities, error_r) ||
	     !check_known(conn, "municipalities", "municipality", false, &a->municipalities,
	                  error_r)))
		return false;
	if (spec->sectors && (!parse_ids("sectors", spec->sectors, &a->sectors, error_r) ||
	                      !check_known(conn, "sectors", "sector", true, &a->sectors, error_r)))
		return false;
	if (spec->sote >= 0)
		a->sote = spec->sote > 0;
	if (spec->max_open && !check_max_open(spec->max_open, &a->max_open, error_r))
		return false;
	return check_sensitive(conn, a, error_r);
}

/* Turns a unique violation on the login into a message that says so. */
static char *write_error(PGconn *conn, PGresult *res, const struct agent *a)
{
	const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;

	if (strcmp(db_sqlstate(res), "23505") == 0 && constraint &&
	    strcmp(constraint, "agents_login_key") == 0)
		return xasprintf("login '%s': an agent with this login exists already", a->login);
	return db_error(conn, res);
}

/* Writes *a: an INSERT when id is 0, else an UPDATE of that row. */
static bool write_agent(PGconn *conn, const struct agent *a, long long *id_r, char **error_r)
{
	static const char insert[] =
	    "INSERT INTO agents (login, name, email, role, organisation, queues, municipalities, "
	    "sectors, sote, max_open) VALUES ($1, $2, $3, $4, $5, $6::text[], $7::text[], "
	    "$8::text[], $9::boolean, $10::integer) RETURNING id";
	static const char update[] =
	    "UPDATE agents SET login = $1, name = $2, email = $3, role = $4, organisation = $5, "
	    "queues = $6::text[], municipalities = $7::text[], sectors = $8::text[], "
	    "sote = $9::boolean, max_open = $10::integer WHERE id = $11::bigint RETURNING id";
	char max_open[16], id[24];
	char *q = ids_literal(&a->queues), *m = ids_literal(&a->municipalities),
	     *s = ids_literal(&a->sectors);
	const char *params[11] = {
	    a->login, a->name, a->email, agent_role_name(a->role),   a->organisation,
	    q,        m,       s,        a->sote ? "true" : "false", max_open,
	    id};
	PGresult *res;
	bool ok;

	snprintf(max_open, sizeof(max_open), "%d", a->max_open);
	snprintf(id, sizeof(id), "%lld", a->id);
	res = query(conn, a->id ? update : insert, a->id ? 11 : 10, params);
	ok = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	if (ok && id_r)
		*id_r = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else if (!ok)
		*error_r = write_error(conn, res, a);
	PQclear(res);
	free(q);
	free(m);
	free(s);
	return ok;
}

bool agent_add(PGconn *conn, const struct agent_spec *spec, long long *id_r, char **error_r)
{
	struct agent a = {.role = AGENT_ROLE_AGENT,
	                  .queues.any = true,
	                  .municipalities.any = true,
	                  .sectors.any = true,
	                  .max_open = 25};
	bool ok;

	if (spec->login == NULL || spec->name == NULL || spec->email == NULL) {
		*error_r = xasprintf("%s is required",
		                     spec->login ? spec->name ? "--email" : "--name" : "login");
		return false;
	}
	a.login = xstrdup("");
	a.name = xstrdup("");
	a.email = xstrdup("");
	ok = apply_spec(conn, spec, &a, error_r) && write_agent(conn, &a, id_r, error_r);
	agent_clear(&a);
	return ok;
}

bool agent_modify(PGconn *conn, const char *ref, const struct agent_spec *spec, char **error_r)
{
	struct agent a;
	bool ok;

	if (!tx_begin(conn, error_r))
		return false;
	ok = get_agent(conn, ref, true, &a, error_r);
	if (ok) {
		ok = apply_spec(conn, spec, &a, error_r) && write_agent(conn, &a, NULL, error_r);
		agent_clear(&a);
	}
	return tx_end(conn, ok, error_r);
}

bool agent_set_active(PGconn *conn, const char *ref, bool active, bool *changed_r, char **error_r)
{
	const char *where, *params[2] = {ref, active ? "true" : "false"};
	PGresult *res;
	char *sql;
	bool ok;

	if (!parse_ref(ref, &where, error_r))
		return false;
	sql = xasprintf("WITH old AS (SELECT a.id, a.active FROM agents a WHERE %s FOR UPDATE) "
	                "UPDATE agents SET active = $2::boolean FROM old WHERE agents.id = old.id "
	                "RETURNING old.active",
	                where);
	res = query(conn, sql, 2, params);
	free(sql);
	ok = db_result_ok(conn, res, PGRES_TUPLES_OK, error_r);
	if (ok && PQntuples(res) != 1) {
		*error_r = no_such_agent(ref);
		ok = false;
	}
	if (ok)
		*changed_r = (PQgetvalue(res, 0, 0)[0] == 't') != active;
	PQclear(res);
	return ok;
}

/* ---- tokens -------------------------------------------------------------- */

static bool b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static bool token_well_formed(const char *token)
{
	if (strnlen(token, AGENT_TOKEN_LEN + 1) != AGENT_TOKEN_LEN ||
	    strncmp(token, TOKEN_MAGIC, TOKEN_MAGIC_LEN) != 0)
		return false;
	for (size_t i = TOKEN_MAGIC_LEN; i < AGENT_TOKEN_LEN; i++)
		if (!b64url_char(token[i]))
			return false;
	return true;
}

static bool token_hash(const char *token, unsigned char hash[TOKEN_HASH], char **error_r)
{
	unsigned len = 0;

	if (!EVP_Digest(token, strlen(token), hash, &len, EVP_sha256(), NULL) ||
	    len != TOKEN_HASH) {
		*error_r = xasprintf("SHA-256 failed");
		return false;
	}
	return true;
}

/* A fresh token: "sdt_" and the base64url of 32 bytes from the kernel. */
static bool token_make(char token[AGENT_TOKEN_LEN + 1], char **error_r)
{
	unsigned char rnd[TOKEN_RANDOM], b64[((TOKEN_RANDOM + 2) / 3) * 4 + 1];
	size_t got = 0;
	int n;

	while (got < sizeof(rnd)) {
		ssize_t r = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*error_r = xasprintf("getrandom: %s", strerror(errno));
			return false;
		}
		got += (size_t)r;
	}
	n = EVP_EncodeBlock(b64, rnd, sizeof(rnd));
	explicit_bzero(rnd, sizeof(rnd));
	if (n != (int)sizeof(b64) - 1 || b64[AGENT_TOKEN_LEN - TOKEN_MAGIC_LEN] != '=') {
		*error_r = xasprintf("base64 encoding failed");
		return false;
	}
	memcpy(token, TOKEN_MAGIC, TOKEN_MAGIC_LEN);
	for (int i = 0; i < n && b64[i] != '='; i++)
		token[TOKEN_MAGIC_LEN + i] = b64[i] == '+'   ? '-'
		                             : b64[i] == '/' ? '_'
		                                             : (char)b64[i];
	token[AGENT_TOKEN_LEN] = '\0';
	explicit_bzero(b64, sizeof(b64));
	return true;
}

bool agent_token_new(char token_r[AGENT_TOKEN_LEN + 1], unsigned char hash_r[AGENT_TOKEN_HASH],
                     char **error_r)
{
	if (token_make(token_r, error_r) && token_hash(token_r, hash_r, error_r))
		return true;
	explicit_bzero(token_r, AGENT_TOKEN_LEN + 1);
	return false;
}

bool agent_token_digest(const char *token, unsigned char hash_r[AGENT_TOKEN_HASH], char **error_r)
{
	if (token == NULL || !token_well_formed(token)) {
		*error_r = xasprintf("malformed token");
		return false;
	}
	return token_hash(token, hash_r, error_r);
}

bool agent_token_issue(PGconn *conn, const char *ref, char token_r[AGENT_TOKEN_LEN + 1],
                       char **prefix_r, char **error_r)
{
	static const Oid types[3] = {20 /* int8 */, BYTEAOID, 25 /* text */};
	static const int formats[3] = {0, 1, 0};
	unsigned char hash[TOKEN_HASH];
	char id[24], prefix[AGENT_TOKEN_PREFIX_LEN + 1];
	const char *params[3] = {id, (const char *)hash, prefix};
	const int lengths[3] = {0, TOKEN_HASH, 0};
	struct agent a;
	PGresult *res;
	bool ok;

	if (!tx_begin(conn, error_r))
		return false;
	ok = get_agent(conn, ref, true, &a, error_r);
	if (!ok)
		return tx_end(conn, false, error_r);
	if (!a.active) {
		*error_r = xasprintf("agent '%s' is disabled: enable it first", a.login);
		ok = false;
	} else if (a.tokens >= AGENT_TOKENS_MAX) {
		*error_r = xasprintf("agent '%s' has %u active tokens already, the most allowed: "
		                     "revoke some first",
		                     a.login, a.tokens);
		ok = false;
	}
	snprintf(id, sizeof(id), "%lld", a.id);
	agent_clear(&a);
	if (ok)
		ok = token_make(token_r, error_r) && token_hash(token_r, hash, error_r);
	if (ok) {
		memcpy(prefix, token_r, AGENT_TOKEN_PREFIX_LEN);
		prefix[AGENT_TOKEN_PREFIX_LEN] = '\0';
		res = PQexecParams(
		    conn, "INSERT INTO api_tokens (agent, hash, prefix) VALUES ($1, $2, $3)", 3,
		    types, params, lengths, formats, 0);
		ok = db_result_ok(conn, res, PGRES_COMMAND_OK, error_r);
		PQclear(res);
	}
	ok = tx_end(conn, ok, error_r);
	if (!ok)
		explicit_bzero(token_r, AGENT_TOKEN_LEN + 1);
	else if (prefix_r)
		*prefix_r = xstrdup(prefix);
	return ok;
}

/* The id of the agent ref as text, into id[24]. */
static bool agent_id_of(PGconn *conn, const char *ref, char id[24], char **error_r)
{
	const char *where;
	PGresult *res;
	char *sql;
	bool ok;

	if (!parse_ref(ref, &where, error_r))
		return false;
	sql = xasprintf("SELECT a.id FROM agents a WHERE %s", where);
	res = query(conn, sql, 1, &ref);
	free(sql);
	ok = db_result_ok(conn, res, PGRES_TUPLES_OK, error_r);
	if (ok && PQntuples(res) != 1) {
		*error_r = no_such_agent(ref);
		ok = false;
	}
	if (ok)
		snprintf(id, 24, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return ok;
}

bool agent_token_revoke(PGconn *conn, const char *ref, unsigned *n_r, char **error_r)
{
	char id[24];
	const char *param = id;
	PGresult *res;
	bool ok;

	if (!agent_id_of(conn, ref, id, error_r))
		return false;
	res = query(conn,
	            "UPDATE api_tokens SET revoked_at = now() WHERE agent = $1::bigint AND "
	            "revoked_at IS NULL",
	            1, &param);
	ok = db_result_ok(conn, res, PGRES_COMMAND_OK, error_r);
	if (ok)
		*n_r = (unsigned)strtoul(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return ok;
}

bool agent_token_revoke_prefix(PGconn *conn, const char *prefix, unsigned *n_r, char **error_r)
{
	size_t n = strlen(prefix);
	PGresult *res;
	bool ok = n >= REVOKE_PREFIX_MIN && n <= AGENT_TOKEN_PREFIX_LEN &&
	          strncmp(prefix, TOKEN_MAGIC, TOKEN_MAGIC_LEN) == 0;

	*n_r = 0;
	for (size_t i = TOKEN_MAGIC_LEN; ok && i < n; i++)
		ok = b64url_char(prefix[i]);
	if (!ok) {
		*error_r =
		    xasprintf("--prefix '%.64s': expected the first %d to %d characters of a "
		              "token, as token list shows them (sdt_...)",
		              prefix, REVOKE_PREFIX_MIN, AGENT_TOKEN_PREFIX_LEN);
		return false;
	}
	if (!tx_begin(conn, error_r))
		return false;
	res = query(conn,
	            "SELECT t.id FROM api_tokens t WHERE starts_with(t.prefix, $1) AND "
	            "t.revoked_at IS NULL FOR UPDATE",
	            1, &prefix);
	ok = db_result_ok(conn, res, PGRES_TUPLES_OK, error_r);
	if (ok && PQntuples(res) != 1) {
		if (PQntuples(res) == 0)
			*error_r = xasprintf("--prefix '%s': no active token starts so", prefix);
		else
			*error_r = xasprintf("--prefix '%s': %d active tokens start so: give more "
			                     "characters, or revoke by agent",
			                     prefix, PQntuples(res));
		ok = false;
	}
	if (ok) {
		const char *id = PQgetvalue(res, 0, 0);
		PGresult *upd =
		    query(conn, "UPDATE api_tokens SET revoked_at = now() WHERE id = $1", 1, &id);
		ok = db_result_ok(conn, upd, PGRES_COMMAND_OK, error_r);
		PQclear(upd);
	}
	PQclear(res);
	ok = tx_end(conn, ok, error_r);
	if (ok)
		*n_r = 1;
	return ok;
}

bool agent_token_list(PGconn *conn, const char *ref, bool all, struct agent_token **tokens_r,
                      size_t *n_r, char **error_r)
{
	static const char sql[] =
	    "SELECT " TOKEN_COLUMNS " FROM api_tokens t JOIN agents a ON a.id = t.agent "
	    "WHERE ($1::bigint IS NULL OR t.agent = $1::bigint) AND ($2::boolean OR "
	    "t.revoked_at IS NULL) ORDER BY t.created_at DESC, t.id DESC";
	char id[24];
	const char *params[2] = {ref ? id : NULL, all ? "true" : "false"};
	struct agent_token *v;
	PGresult *res;

	if (ref && !agent_id_of(conn, ref, id, error_r))
		return false;
	res = query(conn, sql, 2, params);
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		PQclear(res);
		return false;
	}
	v = xmalloc(((size_t)PQntuples(res) + 1) * sizeof(*v));
	for (int r = 0; r < PQntuples(res); r++) {
		v[r].id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
		v[r].agent = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		v[r].login = xstrdup(PQgetvalue(res, r, 2));
		v[r].prefix = xstrdup(PQgetvalue(res, r, 3));
		v[r].created_at = xstrdup(PQgetvalue(res, r, 4));
		v[r].last_used_at = dup_or_null(res, r, 5);
		v[r].revoked_at = dup_or_null(res, r, 6);
	}
	*n_r = (size_t)PQntuples(res);
	*tokens_r = v;
	PQclear(res);
	return true;
}

enum agent_lookup agent_token_lookup(PGconn *conn, const char *token, struct agent_identity *out,
                                     char **error_r)
{
	/* One round trip; the use is written only when the last one is a
	 * minute old, so that a busy client does not write on every call. */
	static const char sql[] =
	    "WITH hit AS (SELECT t.id AS token_id, t.prefix, t.revoked_at IS NOT NULL AS "
	    "revoked, " AGENT_COLUMNS
	    " FROM api_tokens t JOIN agents a ON a.id = t.agent WHERE t.hash = $1), "
	    "touch AS (UPDATE api_tokens SET last_used_at = now() WHERE id IN (SELECT token_id "
	    "FROM hit WHERE NOT revoked AND active) AND (last_used_at IS NULL OR last_used_at < "
	    "now() - interval '1 minute')) SELECT * FROM hit";
	static const Oid types[1] = {BYTEAOID};
	static const int formats[1] = {1}, lengths[1] = {TOKEN_HASH};
	unsigned char hash[TOKEN_HASH];
	const char *params[1] = {(const char *)hash};
	enum agent_lookup rc = AGENT_LOOKUP_ERROR;
	PGresult *res;

	memset(out, 0, sizeof(*out));
	if (token == NULL || !token_well_formed(token)) {
		*error_r = xasprintf("malformed token");
		return AGENT_LOOKUP_DENIED;
	}
	if (!token_hash(token, hash, error_r))
		return AGENT_LOOKUP_ERROR;
	/* Every API call makes it: prepared once per connection, on first use. */
	res = PQexecPrepared(conn, "agent_token_lookup", 1, params, lengths, formats, 0);
	if (PQresultStatus(res) == PGRES_FATAL_ERROR &&
	    strcmp(db_sqlstate(res), "26000") == 0) { /* invalid_sql_statement_name */
		PQclear(res);
		res = PQprepare(conn, "agent_token_lookup", sql, 1, types);
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			res = PQexecPrepared(conn, "agent_token_lookup", 1, params, lengths,
			                     formats, 0);
		}
	}
	if (!db_result_ok(conn, res, PGRES_TUPLES_OK, error_r)) {
		rc = AGENT_LOOKUP_ERROR;
	} else if (PQntuples(res) != 1) {
		*error_r = xasprintf("unknown token");
		rc = AGENT_LOOKUP_DENIED;
	} else if (PQgetvalue(res, 0, 2)[0] == 't') {
		*error_r = xasprintf("token %s revoked", PQgetvalue(res, 0, 1));
		rc = AGENT_LOOKUP_DENIED;
	} else if (!row_agent(res, 0, 3, &out->agent, error_r)) {
		rc = AGENT_LOOKUP_ERROR;
	} else if (!out->agent.active) {
		*error_r = xasprintf("token %s: agent '%s' disabled", PQgetvalue(res, 0, 1),
		                     out->agent.login);
		agent_clear(&out->agent);
		rc = AGENT_LOOKUP_DENIED;
	} else {
		out->token_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		rc = AGENT_LOOKUP_OK;
	}
	PQclear(res);
	return rc;
}
