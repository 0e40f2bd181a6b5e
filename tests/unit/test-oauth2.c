/* test-oauth2: the token endpoint's answers (table-driven: tokens, OAuth
 * errors told apart from temporary failures, bounds), the renewal moment,
 * the endpoint URL rule, the request body, and a request to a closed port.
 * tests/integration/oauth2.sh runs the whole path against a real provider
 * and Dovecot. */
#include "autoconfig.h"

#include "oauth2.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const struct {
	long status;
	const char *body;
	enum oauth2_status want;
	const char *token;    /* OAUTH2_OK: the access token */
	long long expires_in; /* OAUTH2_OK */
	const char *refresh;  /* OAUTH2_OK: the rotated refresh token, or NULL */
	const char *error;    /* else: the error */
} answers[] = {
    {200, "{\"access_token\":\"eyJ0.abc-_~+/=\",\"token_type\":\"Bearer\",\"expires_in\":3599}",
     OAUTH2_OK, "eyJ0.abc-_~+/=", 3599, NULL, NULL},
    {200, "{\"access_token\":\"t\",\"token_type\":\"bearer\",\"expires_in\":\"3600\"}", OAUTH2_OK,
     "t", 3600, NULL, NULL},
    {200, "{\"access_token\":\"t\",\"expires_in\":60,\"refresh_token\":\"r2\"}", OAUTH2_OK, "t", 60,
     "r2", NULL},
    {200, "{\"access_token\":\"t\"}", OAUTH2_OK, "t", 300, NULL, NULL},
    {200, "{\"access_token\":\"t\",\"expires_in\":0}", OAUTH2_OK, "t", 1, NULL, NULL},
    {200, "{\"access_token\":\"t\",\"expires_in\":999999999}", OAUTH2_OK, "t", 86400, NULL, NULL},
    {200, "{\"access_token\":\"t\",\"expires_in\":\"soon\"}", OAUTH2_OK, "t", 300, NULL, NULL},
    {400,
     "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been expired or revoked.\"}",
     OAUTH2_REFUSED, NULL, 0, NULL,
     "refused (HTTP 400 invalid_grant: Token has been expired or revoked.)"},
    {401, "{\"error\":\"invalid_client\"}", OAUTH2_REFUSED, NULL, 0, NULL,
     "refused (HTTP 401 invalid_client)"},
    {401, "{\"error\":\"invalid_client\",\"error_description\":\"line\\none\\u0007\"}",
     OAUTH2_REFUSED, NULL, 0, NULL, "refused (HTTP 401 invalid_client: line?one?)"},
    {503, "{\"error\":\"temporarily_unavailable\"}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (HTTP 503 temporarily_unavailable)"},
    {500, "<html>oops</html>", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (HTTP 500, no OAuth error in the answer)"},
    {401, "", OAUTH2_FAILED, NULL, 0, NULL, "failed (HTTP 401, no OAuth error in the answer)"},
    {200, "{\"error\":\"invalid_scope\"}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (HTTP 200 invalid_scope)"},
    {200, "[1,2]", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (HTTP 200 but the answer is not a JSON object)"},
    {200, "{\"access_token\":\"t\",\"access_token\":\"u\"}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (HTTP 200 but the answer is not a JSON object)"},
    {200, "{\"token_type\":\"Bearer\"}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (the answer has no usable access_token)"},
    {200, "{\"access_token\":\"two words\"}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (the answer has no usable access_token)"},
    {200, "{\"access_token\":\"\"}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (the answer has no usable access_token)"},
    {200, "{\"access_token\":42}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (the answer has no usable access_token)"},
    {200, "{\"access_token\":\"t\",\"token_type\":\"mac\"}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (token_type is not Bearer)"},
    {200, "{\"access_token\":\"t\",\"refresh_token\":\"a b\"}", OAUTH2_FAILED, NULL, 0, NULL,
     "failed (the answer's refresh_token is unusable)"},
};

static void test_answers(void)
{
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		struct oauth2_answer a;
		char *error = NULL;
		enum oauth2_status st = oauth2_parse_answer(answers[i].status, answers[i].body,
		                                            strlen(answers[i].body), &a, &error);
		tap_ok(st == answers[i].want, "answer %zu: status %d", i, (int)st);
		if (answers[i].want == OAUTH2_OK) {
			tap_str(a.access_token, answers[i].token, "answer %zu: the token", i);
			tap_ok(a.expires_in == answers[i].expires_in, "answer %zu: expires_in %lld",
			       i, a.expires_in);
			tap_str(a.refresh_token, answers[i].refresh,
			        "answer %zu: the refresh token", i);
			tap_ok(error == NULL, "answer %zu: no error", i);
		} else {
			tap_str(error, answers[i].error, "answer %zu: the error", i);
			tap_ok(a.access_token == NULL, "answer %zu: no token", i);
		}
		oauth2_answer_free(&a);
		free(error);
	}
	/* A long description is cut at 200 bytes. */
	char body[1200], *error = NULL;
	struct oauth2_answer a;
	snprintf(body, sizeof(body),
	         "{\"error\":\"invalid_client\",\"error_description\":\"%0900d\"}", 0);
	enum oauth2_status st = oauth2_parse_answer(401, body, strlen(body), &a, &error);
	tap_ok(st == OAUTH2_REFUSED && error != NULL && strlen(error) < 260,
	       "the provider's text is bounded in the error (%zu bytes)",
	       error ? strlen(error) : 0);
	free(error);
}

static void test_refresh_point(void)
{
	tap_ok(oauth2_refresh_point(1000, 3600) == 1000 + 3300 * 1000,
	       "an hour's token is renewed 5 minutes before its end");
	tap_ok(oauth2_refresh_point(0, 600) == 450 * 1000,
	       "a 10-minute token is renewed with a quarter of its life left");
	tap_ok(oauth2_refresh_point(0, 3) == 2250, "a 3-second token after 2.25 s");
	tap_ok(oauth2_refresh_point(5, 1) == 5 + 750, "a 1-second token after 0.75 s");
}

static void test_urls(void)
{
	static const struct {
		const char *url;
		int ok;
	} urls[] = {
	    {"https://login.microsoftonline.com/tenant/oauth2/v2.0/token", 1},
	    {"https://oauth2.googleapis.com/token", 1},
	    {"http://127.0.0.1:8080/token", 1},
	    {"http://127.1.2.3/token", 1},
	    {"http://localhost/token", 1},
	    {"http://[::1]:9/token", 1},
	    {"http://login.example.com/token", 0},
	    {"http://10.0.0.1/token", 0},
	    {"http://[::2]/token", 0},
	    {"ftp://127.0.0.1/token", 0},
	    {"https://", 0},
	    {"login.example.com/token", 0},
	    {"https://login.example.com/a b", 0},
	    {"", 0},
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		const char *why = oauth2_url_check(urls[i].url);
		tap_ok((why == NULL) == urls[i].ok, "url '%s': %s", urls[i].url,
		       why ? why : "taken");
	}
}

static void test_body(void)
{
	struct oauth2_settings s;
	char *b;

	oauth2_settings_default(&s);
	s.client_id = "00000000-app";
	s.client_secret = "a+b/c=d&e f";
	s.scope = "https://outlook.office365.com/.default";
	b = oauth2_request_body(&s);
	tap_str(b,
	        "grant_type=client_credentials&client_id=00000000-app&client_secret=a%2Bb%2Fc%3Dd%"
	        "26e%20f&scope=https%3A%2F%2Foutlook.office365.com%2F.default",
	        "client_credentials: every value form-encoded");
	free(b);
	s.refresh_token = "1//0g-x";
	s.client_secret = NULL;
	s.scope = NULL;
	b = oauth2_request_body(&s);
	tap_str(b, "grant_type=refresh_token&refresh_token=1%2F%2F0g-x&client_id=00000000-app",
	        "refresh_token without a client secret or scope");
	free(b);
}

static bool stop_now(void *arg) { return *(bool *)arg; }

static void test_requests(void)
{
	struct oauth2_settings s;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	char url[64], *error = NULL;
	const char *token = (const char *)1;
	struct oauth2 *o;
	bool stop = false;
	int fd;

	oauth2_settings_default(&s);
	s.token_url = "http://login.example.com/token";
	s.client_id = "app";
	s.client_secret = "x";
	o = oauth2_new(&s, &error);
	tap_ok(o == NULL && error != NULL && strstr(error, "not https") != NULL,
	       "oauth2_new refuses a plain http endpoint elsewhere: %s", error ? error : "-");
	free(error);
	error = NULL;
	s.token_url = "https://login.example.com/token";
	s.client_secret = NULL;
	o = oauth2_new(&s, &error);
	tap_str(error,
	        "oauth2 https://login.example.com/token: the client_credentials grant needs a "
	        "client secret",
	        "client_credentials needs a secret");
	free(error);
	error = NULL;

	/* A port nobody listens on: bound, never listened to. */
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		tap_ok(0, "a local port for the refused request");
		return;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/token", ntohs(sa.sin_port));
	s.token_url = url;
	s.client_secret = "secret-value";
	s.timeout = 5;
	s.stopping = stop_now;
	s.stopping_arg = &stop;
	o = oauth2_new(&s, &error);
	tap_ok(o != NULL, "oauth2_new takes a loopback http endpoint");
	if (o != NULL) {
		tap_ok(oauth2_token(o, 0, &token, &error) == OAUTH2_FAILED && token == NULL,
		       "a refused connection is a temporary failure");
		tap_ok(error != NULL && strncmp(error, "oauth2 http://127.0.0.1:", 24) == 0 &&
		           strstr(error, "secret-value") == NULL,
		       "the error names the endpoint, never the secret: %s", error ? error : "-");
		tap_ok(oauth2_refresh_at(o) == 0 && oauth2_fetches(o) == 0, "nothing cached");
		oauth2_free(&o);
		tap_ok(o == NULL, "oauth2_free clears the pointer");
	}
	free(error);
	close(fd);
}

int main(void)
{
	test_answers();
	test_refresh_point();
	test_urls();
	test_body();
	test_requests();
	return tap_done();
}
