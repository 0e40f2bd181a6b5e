#!/bin/bash
# The agents' API at its limits, over TLS on loopback: TRACE and CONNECT
# are answered 405 with Allow (libevent alone would say 501); a body over
# max_body is 413 and headers over 16 KiB are 431, in JSON, not libevent's
# HTML; with max_connections = 3 and three connections held open, a
# request on a fourth is answered 503 in JSON with Retry-After and the
# connection closed, counted in /metrics; once they close, requests are
# served again.  Last, a stop while a request waits on a database lock:
# its statement is cancelled and the daemon exits within seconds.
: "${top_srcdir:?}" "${top_builddir:?}"
PY=/usr/bin/python3
. "$top_srcdir/tests/lib/apitest.sh"
need_built seutudeskd seutudeskctl
need_cmd curl openssl
need_mail_stack
api_workdir api-limits
STACK_EXTRA_CONF="$(api_conf)
max_body = 4K
max_connections = 3"
. "$top_srcdir/tests/lib/stack.sh"
api_stack_start
api_watchdog 120

n=0
ok() { # ok COND-STATUS DESCRIPTION [DETAIL]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2${3:+: $3}"
	fi
}
# is_json_error STATUS: the last answer is a JSON {"error": ...} with STATUS.
is_json_error() {
	[ "$got" = "$1" ] && grep -qi '^Content-Type: application/json' "$W/headers" &&
		[ -n "$(j "d['error']")" ] && [ "$(j "d['error'][:6]")" != "error:" ]
}
header() { grep -i "^$1:" "$W/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

daemon_start
api_wait || { cat "$STACK_LOG"; echo "Bail out! the API did not answer"; exit 0; }
api_agent aino --queues triage --municipalities any --sectors any
api_token TOK aino
AUTH=$(api_bearer "$TOK")

# Methods it does not serve.
got=$(api_req -X TRACE -H "$AUTH" /api/v1/me)
is_json_error 405
ok $? "TRACE on a route: 405 in JSON" "$got $(cat "$W/body")"
ok $([ "$(header Allow)" = "GET, HEAD" ]; echo $?) "... with Allow: GET, HEAD" "$(header Allow)"
got=$(api_req -X TRACE /nowhere)
is_json_error 405
ok $? "TRACE elsewhere: 405 in JSON" "$got $(cat "$W/body")"
ok $([ -n "$(header Allow)" ]; echo $?) "... with Allow" "$(cat "$W/headers")"
got=$(api_req -X CONNECT --request-target "127.0.0.1:443" /)
is_json_error 405
ok $? "CONNECT host:port: 405 in JSON" "$got $(cat "$W/body")"
ok $([ "$(header Allow)" = "GET, HEAD, POST" ]; echo $?) "... with Allow: GET, HEAD, POST" \
	"$(header Allow)"

# Oversized requests.
"$PY" -c 'import json; print(json.dumps({"text": "x" * 10000}))' >"$W/big.json"
got=$(api_req -X POST -H "$AUTH" -H 'Content-Type: application/json' --data-binary @"$W/big.json" \
	/api/v1/tickets/1/note)
is_json_error 413
ok $? "a 10 KB body over max_body = 4K: 413 in JSON" "$got $(head -c 300 "$W/body")"
long=$("$PY" -c 'print("a" * 20000)')
got=$(api_req -H "$AUTH" -H "X-Padding: $long" /api/v1/me)
is_json_error 431
ok $? "20 KB of headers: 431 in JSON" "$got $(head -c 300 "$W/body")"
got=$(api_req -H "$AUTH" /api/v1/me)
ok $([ "$got" = 200 ]; echo $?) "an ordinary request still 200" "$got"

# max_connections = 3: hold three TLS connections open (idle, handshake
# done), then ask on a fourth.
"$PY" - "$port" "$W/cert.pem" "$W/held" "$W/release" <<'EOF_PY' &
import os, socket, ssl, sys, time
port, ca, held, release = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
conns = []
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    conns.append(ctx.wrap_socket(s, server_hostname="127.0.0.1"))
open(held, "w").close()
end = time.time() + 15  # bounded: the daemon's idle timeout is 20 s
while time.time() < end and not os.path.exists(release):
    time.sleep(0.05)
for c in conns:
    c.close()
EOF_PY
HOLDER=$!
for _ in $(seq 100); do [ -e "$W/held" ] && break; sleep 0.1; done
ok $([ -e "$W/held" ]; echo $?) "three TLS connections are held open"
got=$(api_req /healthz)
is_json_error 503
ok $? "a request on a fourth: 503 in JSON" "$got $(cat "$W/body")"
ok $([ "$(header Retry-After)" = 5 ]; echo $?) "... with Retry-After: 5" "$(header Retry-After)"
header Connection | grep -qi close
ok $? "... and the connection closed" "$(cat "$W/headers")"
grep -q 'event=over_capacity' "$STACK_LOG"
ok $? "the daemon logs it"
touch "$W/release"
wait "$HOLDER"
got=000
for _ in $(seq 50); do
	got=$(api_req /healthz)
	[ "$got" = 200 ] && break
	sleep 0.1
done
ok $([ "$got" = 200 ]; echo $?) "once they closed, requests are served again" "$got"
api_req /metrics >/dev/null
v=$(grep '^seutudesk_api_requests_total{route="healthz",code="5xx"}' "$W/body" | awk '{print $2}')
ok $([ "${v:-0}" -ge 1 ]; echo $?) "/metrics counts the 503 under its route" "${v:-absent}"
# A stop while a request waits on the database (a lock held elsewhere):
# its statement is cancelled after the pool's grace of 2 s, the request
# ends, and the daemon exits within seconds.
pg_psql -d seutudesk -c "BEGIN; LOCK TABLE api_tokens, agents IN ACCESS EXCLUSIVE MODE;
	SELECT pg_sleep(30); COMMIT" >/dev/null 2>&1 &
LOCKER=$!
stack_wait "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	WHERE c.relname IN ('api_tokens', 'agents') AND l.mode = 'AccessExclusiveLock' AND l.granted" 2 10
ok $? "a transaction holds api_tokens and agents locked"
(
	curl -s --max-time 25 --cacert "$W/cert.pem" -o /dev/null -w '%{http_code}' \
		-H "$AUTH" "$base/api/v1/me" >"$W/blocked.status"
	echo $? >"$W/blocked.rc"
) &
CURL=$!
stack_wait "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'
	AND application_name LIKE 'seutudeskd api%'" t 10
ok $? "a request waits for the lock on an API database thread"
t0=$(date +%s%N)
kill -TERM "$STACK_DAEMON_PID"
wait "$STACK_DAEMON_PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
STACK_DAEMON_PID=
ok $([ "$rc" = 0 ] && [ "$ms" -lt 10000 ]; echo $?) \
	"SIGTERM with a request stuck on the database: a clean exit within 10 s" \
	"status $rc after $ms ms"
grep -q 'dbpool=api worker=[0-9]* event=cancelled' "$STACK_LOG"
ok $? "the stuck statement was cancelled" "$(grep 'dbpool=' "$STACK_LOG" | tail -3)"
wait "$CURL"
got=$(cat "$W/blocked.status" "$W/blocked.rc" | tr '\n' ' ')
ok $([ "$(cat "$W/blocked.rc")" != 28 ] && [ "$(cat "$W/blocked.status")" != 200 ]; echo $?) \
	"the stuck request ended with the stop, not after curl's 25 s" "status and curl exit: $got"
kill "$LOCKER" 2>/dev/null
wait "$LOCKER" 2>/dev/null
echo "1..$n"
