/* fuzz-api: libFuzzer target for what the API makes of a request before
 * any database is asked.  The input is "METHOD URI" on its first line and
 * the body after it (no newline: a GET of the whole input).  It goes
 * through the router (path, ids, query string decoding), the body parser,
 * the listing's and the reports' query checks, every ticket action's body
 * checks and the
 * bridge's post checks; a post that passes is composed into its mail and
 * that mail must parse back (mime.h) with its text intact.  Every refusal
 * must be a 4xx with a JSON error. */
#include "autoconfig.h"

#include "fuzz-util.h"

#include "api.h"
#include "apicall.h"
#include "bridge.h"
#include "mime.h"
#include "report.h"
#include "ticketact.h"
#include "ticketview.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *const actions[] = {"claim",    "release",  "reply", "note",    "status",
                                      "transfer", "classify", "merge", "worklog", "nosuch"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* A refusal: a 4xx whose body is {"error": "..."}. */
static void refused(struct api_result *res, int lo, int hi)
{
	FUZZ_ASSERT(res->status >= lo && res->status <= hi);
	FUZZ_ASSERT(json_is_object(res->json));
	const char *e = json_string_value(json_object_get(res->json, "error"));
	FUZZ_ASSERT(e != NULL && *e != '\0');
	fuzz_utf8(e);
	api_result_clear(res);
}

/* A checked post composed into its mail, parsed back. */
static void post_roundtrip(const struct bridge_post *m)
{
	size_t len;
	char *raw = bridge_compose(m, "fuzzchat", "Mon, 07 Dec 2026 10:00:00 +0200",
	                           "chat.parent@fuzzchat.invalid", &len);
	struct mime_limits lim;
	char *err = NULL;

	mime_limits_default(&lim);
	struct mime_msg *msg = mime_parse(raw, len, &lim, &err);
	if (msg == NULL) {
		fprintf(stderr, "fuzz-api: a composed post does not parse: %s\n", err);
		abort();
	}
	const struct mime_address *from = mime_from(msg);
	FUZZ_ASSERT(from != NULL && from->addr != NULL && strchr(from->addr, '@') != NULL);
	fuzz_utf8(from->name);
	fuzz_utf8(mime_subject(msg));
	FUZZ_ASSERT(mime_in_reply_to(msg) != NULL);
	const char *body = mime_body(msg);
	FUZZ_ASSERT(body != NULL);
	fuzz_utf8(body);
	/* the text's first word survives (the normaliser may change line ends) */
	char word[32];
	size_t at = strspn(m->text, " \t\r\n"), n = strcspn(m->text + at, " \t\r\n");
	if (n > 0 && n < sizeof(word)) {
		memcpy(word, m->text + at, n);
		word[n] = '\0';
		if (strstr(body, word) == NULL) {
			fprintf(stderr, "fuzz-api: '%s' lost from a composed post\n", word);
			abort();
		}
	}
	mime_msg_free(&msg);
	free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t llen = nl ? (size_t)(nl - (const char *)data) : size;
	char line[1024], method[16] = "GET";
	const char *uri = line, *body = nl ? nl + 1 : "";
	size_t blen = nl ? size - llen - 1 : 0;
	struct api_call call = {0};
	struct api_result res = {0};
	struct api_route route = {0};
	const char *allow;

	if (llen >= sizeof(line))
		return 0;
	memcpy(line, data, llen);
	line[llen] = '\0';
	if (memchr(line, '\0', llen) != NULL)
		return 0; /* libevent gives the router a C string */
	const char *sp = strchr(line, ' ');
	if (sp != NULL && (size_t)(sp - line) < sizeof(method)) {
		memcpy(method, line, (size_t)(sp - line));
		method[sp - line] = '\0';
		uri = sp + 1;
	}

	if (api_route(method, uri, &route, &call, &res, &allow)) {
		FUZZ_ASSERT(route.name != NULL);
		fuzz_utf8(call.key);
	} else {
		refused(&res, 400, 405);
		FUZZ_ASSERT(res.status != 405 || allow != NULL);
	}
	FUZZ_ASSERT(json_is_object(call.query));
	const char *k;
	json_t *v;
	json_object_foreach(call.query, k, v)
	{
		FUZZ_ASSERT(json_is_string(v));
		FUZZ_ASSERT(strlen(json_string_value(v)) <= API_MAX_QUERY_VALUE);
	}
	FUZZ_ASSERT(json_object_size(call.query) <= API_MAX_QUERY_PARAMS);
	if (!ticketview_check_list_query(call.query, &res))
		refused(&res, 400, 422);
	for (int kind = REPORT_SLA; kind <= REPORT_COSTS; kind++) {
		struct report_query rq;
		if (!report_query_parse((enum report_kind)kind, call.query, &rq, &res)) {
			refused(&res, 400, 422);
			continue;
		}
		/* a period of two dates, the first not after the second */
		FUZZ_ASSERT(strlen(rq.from) == 10 && strlen(rq.to) == 10);
		FUZZ_ASSERT(strcmp(rq.from, rq.to) <= 0);
		fuzz_utf8(rq.by);
		fuzz_utf8(rq.step);
		fuzz_utf8(rq.lang);
	}

	if (!api_parse_body(body, blen, &call, &res)) {
		refused(&res, 400, 400);
		api_call_clear(&call);
		return 0;
	}
	FUZZ_ASSERT(blen == 0 ? call.body == NULL : json_is_object(call.body));
	for (size_t i = 0; i < sizeof(actions) / sizeof(*actions); i++)
		if (!ticketact_check_body(actions[i], call.body, &res))
			refused(&res, 400, 404);
	struct bridge_post m;
	if (bridge_read_post(call.body, &m, &res)) {
		FUZZ_ASSERT(m.id != NULL && m.conversation != NULL && m.text != NULL);
		post_roundtrip(&m);
	} else {
		refused(&res, 400, 422);
	}
	api_result_clear(&res);
	api_call_clear(&call);
	return 0;
}
