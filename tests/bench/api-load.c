/* api-load: a small load client for the agents' API over HTTPS.
 *
 *   api-load --port PORT --tokens FILE [--host 127.0.0.1] [--clients 50] [--seconds 10]
 *            [--rate R] (--path PATH | --view FILE)
 *            [--events CONNINFO --event-ticket N --event-count 50]
 *
 * Each client is a thread with one keep-alive TLS connection (OpenSSL; the
 * certificate is not verified: the bench makes its own), its own token
 * (FILE: one a line, used in turn) and requests one after another for
 * --seconds: GET PATH ("%Q" in it is replaced by a queue of the list
 * QUEUES, in turn, from --queues), or GET /api/v1/tickets/N for numbers of
 * FILE (one a line) in turn: back to back, or with --rate R paced at R
 * requests a second per client (an agent's client, not a flood).  Prints
 * the count, the statuses, the TLS connections opened (one per client when
 * keep-alive holds), and p50, p90, p99 and the largest latency in
 * milliseconds, of every answer and of the 2xx ones alone.  Paced, a
 * request's latency runs from when it was due, not from when it could be
 * sent: a client held up by a slow answer counts the wait of the requests
 * behind it too (no coordinated omission).  A failed request (connection
 * lost, no answer) is counted as an error and the connection reopened.
 *
 * With --events, one more client holds GET /api/v1/events open while the
 * load runs, and a libpq connection inserts --event-count events on ticket
 * N, one every 100 ms; each delay from before the INSERT's commit to the
 * event's arrival on the stream is measured (p50, p99, max).
 */
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 512
#define MAX_LAT 2000000
#define BUF_MAX (16 * 1024 * 1024)

static const char *host = "127.0.0.1", *port, *path, *queues = "triage";
static char **tokens, **views, **queue_list;
static size_t ntokens, nviews, nqueues;
static int seconds = 10;
static double rate; /* requests per second per client; 0: back to back */
static SSL_CTX *ctx;
static atomic_bool stop;

static pthread_mutex_t lat_lock = PTHREAD_MUTEX_INITIALIZER;
static double *lat;
static size_t nlat;
static double *lat_ok; /* 2xx only */
static size_t nlat_ok;
static long statuses[600];
static long errors, connects, closes;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char **read_lines(const char *file, size_t *n_r)
{
	FILE *f = fopen(file, "r");
	char line[1024];
	char **v = NULL;
	size_t n = 0;

	if (f == NULL) {
		fprintf(stderr, "api-load: %s: %s\n", file, strerror(errno));
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = strdup(line);
	}
	fclose(f);
	*n_r = n;
	return v;
}

static char **split(const char *list, size_t *n_r)
{
	char *copy = strdup(list), *save = NULL, **v = NULL;
	size_t n = 0;

	for (char *w = strtok_r(copy, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
		v = realloc(v, (n + 1) * sizeof(*v));
		v[n++] = strdup(w);
	}
	free(copy);
	*n_r = n;
	return v;
}

struct conn {
	int fd;
	SSL *ssl;
	char *buf;
	size_t len; /* bytes in buf not yet consumed */
};

static bool conn_open(struct conn *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return false;
	c->fd = socket(ai->ai_family, ai->ai_socktype, 0);
	if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		freeaddrinfo(ai);
		return false;
	}
	freeaddrinfo(ai);
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, host);
	c->buf = malloc(BUF_MAX);
	__atomic_add_fetch(&connects, 1, __ATOMIC_RELAXED);
	return SSL_connect(c->ssl) == 1;
}

static void conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static bool fill(struct conn *c)
{
	if (c->len >= BUF_MAX)
		return false;
	int n = SSL_read(c->ssl, c->buf + c->len, (int)(BUF_MAX - c->len));
	if (n <= 0)
		return false;
	c->len += (size_t)n;
	return true;
}

static void consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* One request and its whole response; the status, or -1.  *close_r: the
 * server ends the connection after this response. */
static int request(struct conn *c, const char *target, const char *token, bool *close_r)
{
	char req[2048];
	int n = snprintf(req, sizeof(req),
	                 "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
	                 "Accept: application/json\r\n\r\n",
	                 target, host, token);
	if (SSL_write(c->ssl, req, n) != n)
		return -1;
	char *end;
	for (;;) {
		if (c->len > 0 && (end = memmem(c->buf, c->len, "\r\n\r\n", 4)) != NULL)
			break;
		if (!fill(c))
			return -1;
	}
	size_t hlen = (size_t)(end - c->buf) + 4;
	int status = 0;
	long clen = -1;
	bool chunked = false;
	*close_r = false;
	sscanf(c->buf, "HTTP/1.%*d %d", &status);
	for (char *p = c->buf; p < end; p = strstr(p, "\r\n") + 2) {
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtol(p + 15, NULL, 10);
		else if (strncasecmp(p, "Transfer-Encoding: chunked", 26) == 0)
			chunked = true;
		else if (strncasecmp(p, "Connection: close", 17) == 0)
			*close_r = true;
	}
	consume(c, hlen);
	if (chunked) {
		for (;;) {
			char *crlf;
			while ((crlf = memmem(c->buf, c->len, "\r\n", 2)) == NULL)
				if (!fill(c))
					return -1;
			long size = strtol(c->buf, NULL, 16);
			size_t need = (size_t)(crlf - c->buf) + 2 + (size_t)size + 2;
			while (c->len < need)
				if (!fill(c))
					return -1;
			consume(c, need);
			if (size == 0)
				break;
		}
	} else if (clen > 0) {
		while (c->len < (size_t)clen)
			if (!fill(c))
				return -1;
		consume(c, (size_t)clen);
	}
	return status;
}

static void *client(void *arg)
{
	size_t id = (size_t)arg, i = id;
	struct conn c;
	const char *token = tokens[id % ntokens];
	char target[1024];

	if (!conn_open(&c)) {
		fprintf(stderr, "api-load: client %zu: cannot connect\n", id);
		conn_close(&c);
		return NULL;
	}
	/* paced: the clients start spread over one period */
	double next = now_ms() + (rate > 0 ? (double)(id % 50) * 1e3 / rate / 50 : 0);
	while (!atomic_load(&stop)) {
		double due = 0;
		if (rate > 0) { /* paced: a request every 1/rate s, like an agent's client */
			double wait = next - now_ms();
			if (wait > 0)
				usleep((useconds_t)(wait * 1e3));
			due = next;
			next += 1e3 / rate;
		}
		if (views != NULL) {
			snprintf(target, sizeof(target), "/api/v1/tickets/%s", views[i % nviews]);
		} else {
			const char *q = strstr(path, "%Q");
			if (q != NULL)
				snprintf(target, sizeof(target), "%.*s%s%s", (int)(q - path), path,
				         queue_list[i % nqueues], q + 2);
			else
				snprintf(target, sizeof(target), "%s", path);
		}
		i += 7919;
		double t0 = now_ms();
		bool closing = false;
		int st = request(&c, target, token, &closing);
		double dt = now_ms() - (due > 0 && due < t0 ? due : t0);
		pthread_mutex_lock(&lat_lock);
		if (st < 0) {
			errors++;
		} else {
			statuses[st < 600 ? st : 0]++;
			if (nlat < MAX_LAT)
				lat[nlat++] = dt;
			if (st >= 200 && st < 300 && nlat_ok < MAX_LAT)
				lat_ok[nlat_ok++] = dt;
		}
		if (closing)
			closes++;
		pthread_mutex_unlock(&lat_lock);
		if (st < 0 || closing) {
			conn_close(&c);
			if (!conn_open(&c))
				break;
		}
	}
	conn_close(&c);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t k = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[k];
}

/* -- the event stream ------------------------------------------------------------- */

static const char *ev_conninfo;
static long ev_ticket;
static int ev_count = 50;
static double ev_delay[1000];
static int ev_got;

static void *events(void *arg)
{
	struct conn c;
	char req[1024];
	(void)arg;

	bool opened = conn_open(&c);
	__atomic_sub_fetch(&connects, 1, __ATOMIC_RELAXED); /* the count is the load's */
	if (!opened) {
		fprintf(stderr, "api-load: events: cannot connect\n");
		conn_close(&c);
		return NULL;
	}
	PGconn *db = PQconnectdb(ev_conninfo);
	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "api-load: events: %s", PQerrorMessage(db));
		PQfinish(db);
		conn_close(&c);
		return NULL;
	}
	int n = snprintf(req, sizeof(req),
	                 "GET /api/v1/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
	                 "Accept: text/event-stream\r\n\r\n",
	                 host, tokens[0]);
	SSL_write(c.ssl, req, n);
	/* the response head and the greeting comment */
	while (memmem(c.buf, c.len, "seutudesk events", 16) == NULL)
		if (!fill(&c)) {
			fprintf(stderr, "api-load: events: the stream did not open\n");
			goto out;
		}
	c.len = 0;
	for (int i = 0; i < ev_count && ev_got < (int)(sizeof(ev_delay) / sizeof(ev_delay[0]));
	     i++) {
		char sql[256], want[64];
		usleep(100000);
		snprintf(sql, sizeof(sql),
		         "INSERT INTO events (ticket, actor, kind) VALUES (%ld, 'bench', 'note')"
		         " RETURNING id",
		         ev_ticket);
		double t0 = now_ms();
		PGresult *r = PQexec(db, sql);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "api-load: events: %s", PQerrorMessage(db));
			PQclear(r);
			break;
		}
		snprintf(want, sizeof(want), "id: %s\n", PQgetvalue(r, 0, 0));
		PQclear(r);
		while (memmem(c.buf, c.len, want, strlen(want)) == NULL)
			if (!fill(&c)) {
				fprintf(stderr, "api-load: events: the stream ended\n");
				goto out;
			}
		ev_delay[ev_got++] = now_ms() - t0;
		c.len = 0;
	}
out:
	PQfinish(db);
	conn_close(&c);
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"host", required_argument, NULL, 'h'},
	                                     {"port", required_argument, NULL, 'p'},
	                                     {"tokens", required_argument, NULL, 't'},
	                                     {"clients", required_argument, NULL, 'c'},
	                                     {"seconds", required_argument, NULL, 's'},
	                                     {"path", required_argument, NULL, 'P'},
	                                     {"view", required_argument, NULL, 'v'},
	                                     {"queues", required_argument, NULL, 'q'},
	                                     {"events", required_argument, NULL, 'e'},
	                                     {"event-ticket", required_argument, NULL, 'T'},
	                                     {"event-count", required_argument, NULL, 'n'},
	                                     {"help", no_argument, NULL, 'H'},
	                                     {"rate", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	int clients = 50, o;
	const char *tokfile = NULL, *viewfile = NULL;

	while ((o = getopt_long(argc, argv, "h:p:t:c:s:P:v:q:e:T:n:r:", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 't':
			tokfile = optarg;
			break;
		case 'c':
			clients = atoi(optarg);
			break;
		case 's':
			seconds = atoi(optarg);
			break;
		case 'P':
			path = optarg;
			break;
		case 'v':
			viewfile = optarg;
			break;
		case 'q':
			queues = optarg;
			break;
		case 'e':
			ev_conninfo = optarg;
			break;
		case 'T':
			ev_ticket = atol(optarg);
			break;
		case 'n':
			ev_count = atoi(optarg);
			break;
		case 'r':
			rate = atof(optarg);
			break;
		default:
			fprintf(
			    stderr,
			    "usage: api-load --port PORT --tokens FILE [--host H] [--clients N]"
			    " [--seconds S] [--rate R] (--path PATH [--queues A,B] | --view FILE)"
			    " [--events CONNINFO --event-ticket N [--event-count N]]\n");
			return o == 'H' ? 0 : 64;
		}
	}
	if (port == NULL || tokfile == NULL || (path == NULL) == (viewfile == NULL) ||
	    clients < 1 || clients > MAX_CLIENTS || seconds < 1) {
		fprintf(stderr,
		        "api-load: --port, --tokens and one of --path, --view are required\n");
		return 64;
	}
	tokens = read_lines(tokfile, &ntokens);
	if (viewfile != NULL)
		views = read_lines(viewfile, &nviews);
	queue_list = split(queues, &nqueues);
	if (ntokens == 0 || (views != NULL && nviews == 0) || nqueues == 0) {
		fprintf(stderr, "api-load: no tokens, tickets or queues\n");
		return 64;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	lat = malloc(MAX_LAT * sizeof(*lat));
	lat_ok = malloc(MAX_LAT * sizeof(*lat_ok));

	pthread_t th[MAX_CLIENTS], evth;
	for (int i = 0; i < clients; i++)
		pthread_create(&th[i], NULL, client, (void *)(size_t)i);
	if (ev_conninfo != NULL)
		pthread_create(&evth, NULL, events, NULL);
	double t0 = now_ms();
	sleep((unsigned)seconds);
	atomic_store(&stop, true);
	for (int i = 0; i < clients; i++)
		pthread_join(th[i], NULL);
	double elapsed = (now_ms() - t0) / 1e3;
	if (ev_conninfo != NULL)
		pthread_join(evth, NULL);

	qsort(lat, nlat, sizeof(*lat), cmp);
	qsort(lat_ok, nlat_ok, sizeof(*lat_ok), cmp);
	printf("requests %zu in %.1f s (%.0f/s), %d clients%s, errors %ld, statuses", nlat, elapsed,
	       (double)nlat / elapsed, clients, rate > 0 ? " paced" : " back to back", errors);
	for (int s = 0; s < 600; s++)
		if (statuses[s])
			printf(" %d:%ld", s, statuses[s]);
	printf("\nTLS connections opened %ld (closed by the server %ld)\n", connects, closes);
	printf("latency ms: p50 %.2f p90 %.2f p99 %.2f max %.2f\n", pct(lat, nlat, 50),
	       pct(lat, nlat, 90), pct(lat, nlat, 99), nlat ? lat[nlat - 1] : 0.0);
	printf("latency ms, 2xx only: p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
	       pct(lat_ok, nlat_ok, 50), pct(lat_ok, nlat_ok, 90), pct(lat_ok, nlat_ok, 99),
	       nlat_ok ? lat_ok[nlat_ok - 1] : 0.0);
	if (ev_conninfo != NULL) {
		qsort(ev_delay, (size_t)ev_got, sizeof(double), cmp);
		printf("events %d/%d: commit to stream ms: p50 %.2f p99 %.2f max %.2f\n", ev_got,
		       ev_count, pct(ev_delay, (size_t)ev_got, 50),
		       pct(ev_delay, (size_t)ev_got, 99), ev_got ? ev_delay[ev_got - 1] : 0.0);
	}
	SSL_CTX_free(ctx);
	return 0;
}
