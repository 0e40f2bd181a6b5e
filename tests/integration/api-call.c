/* api-call: runs one call of the agents' API without HTTP, for the tests of
 * the handlers.
 *
 * usage: api-call CONFIG LOGIN METHOD PATH [BODYFILE]
 *
 * Loads CONFIG (as seutudeskd does), connects to its database, takes the
 * active agent LOGIN as the caller (no token needed), routes METHOD and PATH
 * (a query string included, e.g. "/api/v1/tickets?queue=sote") exactly as
 * the server does, parses BODYFILE ("-": standard input) as the JSON body,
 * and runs the handler on the connection.  Prints the status on the first
 * line, then the JSON body (indented), or a raw body (an attachment) as it
 * is, its type and name on standard error.  Exit status: 0 when a status
 * was printed (whatever it is), 1 when the call could not be made, 64 usage.
 */
#include "api.h"
#include "config.h"
#include "db.h"
#include "fileio.h"
#include "runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, char *error)
{
	fprintf(stderr, "api-call: %s%s%s\n", what, error ? ": " : "", error ? error : "");
	free(error);
	return 1;
}

/* Reads the body from a file or standard input, bounded by [api] max_body. */
static bool read_body(const char *path, size_t max, char **data_r, size_t *len_r)
{
	if (strcmp(path, "-") != 0) {
		int e = fileio_read(path, max, data_r, len_r);
		if (e != 0)
			fprintf(stderr, "api-call: %s: %s\n", path, strerror(e));
		return e == 0;
	}
	char *buf = malloc(max + 1);
	size_t n = buf ? fread(buf, 1, max + 1, stdin) : 0;
	if (buf == NULL || n > max || ferror(stdin)) {
		fprintf(stderr, "api-call: standard input: %s\n",
		        buf ? "over [api] max_body or unreadable" : "out of memory");
		free(buf);
		return false;
	}
	*data_r = buf;
	*len_r = n;
	return true;
}

static void print_result(const struct api_result *res)
{
	printf("%d\n", res->status);
	if (res->json != NULL) {
		json_dumpf(res->json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else if (res->json_text) {
		/* Printed as the server's own JSON would be, indented. */
		json_t *doc = json_loadb(res->bytes, res->len, 0, NULL);
		if (doc == NULL) {
			printf("(not JSON) %.*s\n", (int)res->len, res->bytes);
			return;
		}
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(doc);
	} else if (res->bytes != NULL) {
		fprintf(stderr, "content-type: %s\nfilename: %s\nlength: %zu\n", res->content_type,
		        res->filename, res->len);
		fwrite(res->bytes, 1, res->len, stdout);
	}
}

int main(int argc, char **argv)
{
	char *error = NULL, *body = NULL;
	size_t blen = 0;
	const char *allow;
	struct api_route route;
	struct api_call call = {0};
	struct api_result res = {0};

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: api-call CONFIG LOGIN METHOD PATH [BODYFILE]\n");
		return 64;
	}
	struct runtime *rt = runtime_load(argv[1], &error);
	if (rt == NULL)
		return fail(argv[1], error);
	PGconn *conn = db_connect_config(rt->cfg, "api-call", &error);
	if (conn == NULL) {
		runtime_unref(&rt);
		return fail("database", error);
	}
	const char *params[1] = {argv[2]};
	PGresult *r = PQexecParams(conn,
	                           "SELECT id, login, role, sote FROM agents"
	                           " WHERE login = $1 AND active",
	                           1, NULL, params, NULL, NULL, 0);
	if (!db_result_ok(conn, r, PGRES_TUPLES_OK, &error) || PQntuples(r) != 1) {
		PQclear(r);
		PQfinish(conn);
		runtime_unref(&rt);
		return fail(error ? "agent lookup" : "no active agent with that login", error);
	}
	call.agent = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	call.login = PQgetvalue(r, 0, 1);
	call.role = PQgetvalue(r, 0, 2);
	call.sote = PQgetvalue(r, 0, 3)[0] == 't';
	call.rt = rt;

	int status = 0;
	if (argc == 6 && !read_body(argv[5], rt->cfg->api.max_body, &body, &blen)) {
		status = 1;
	} else if (api_route(argv[3], argv[4], &route, &call, &res, &allow) &&
	           api_parse_body(body, blen, &call, &res)) {
		if (route.kind == API_ROUTE_EVENTS)
			api_result_error(&res, 501, NULL, "the event stream needs the server");
		else
			route.handler(conn, &call, &res);
		if (PQtransactionStatus(conn) != PQTRANS_IDLE)
			fprintf(stderr, "api-call: warning: the handler left a transaction open\n");
	}
	if (status == 0) {
		if (allow != NULL)
			fprintf(stderr, "allow: %s\n", allow);
		print_result(&res);
	}
	api_result_clear(&res);
	api_call_clear(&call);
	free(body);
	PQclear(r);
	PQfinish(conn);
	runtime_unref(&rt);
	return status;
}
