#!/bin/bash
# The agents' API over HTTPS against the real daemon and PostgreSQL: health,
# me, queues, authentication (missing, bad and revoked tokens, the rate
# limit), bad input (JSON, size, paths, methods), the Unix socket, and the
# event stream (a commit on another connection reaches the client; sote
# events only reach cleared agents; Last-Event-ID replays; a stalled client
# delays nobody).  Prints the delay from commit to event.
bin=${top_builddir:?}
src=${top_srcdir:?}
. "$src/tests/lib/pg.sh"

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
. "$src/tests/lib/apitest.sh"

need_cmd curl openssl
[ -x "$bin/seutudeskd" ] || skip_all "seutudeskd is not built"

api_workdir api
tmp=$W
API_CONF=$tmp/seutudesk.conf
pg_start >/dev/null || { echo "Bail out! PostgreSQL did not start"; exit 1; }
DAEMON_PID=
PIDS=
cleanup() {
	for p in $PIDS $DAEMON_PID; do kill -KILL "$p" 2>/dev/null; done
	for p in $PIDS $DAEMON_PID; do wait "$p" 2>/dev/null; done
	pg_cleanup
	[ "${API_KEEP:-0}" = 1 ] || rm -rf "$tmp"
}
PG_NO_TRAP=1
trap cleanup EXIT
db=$(pg_createdb seutudesk) || exit 1
"$bin/seutudeskctl" migrate --sql-dir "$src/sql" --database "$db" >"$tmp/migrate.log" 2>&1 ||
	{ cat "$tmp/migrate.log"; echo "Bail out! migrate failed"; exit 1; }
sql() { pg_psql -d seutudesk -c "$1"; }

cat >"$tmp/seutudesk.conf" <<CONF
[daemon]
rules_dir = $src/contrib/rules.d
log_level = debug

[database]
conninfo = $db

[intake]
templates_dir = $src/contrib/templates

[api]
listen = 127.0.0.1:$port
cert_file = $tmp/cert.pem
key_file = $tmp/key.pem
socket = $tmp/api.sock
workers = 4
max_body = 64K
auth_limit = 5
CONF

ctl agent add anna --name "Anna Agent" --email anna@example.org --sote >/dev/null ||
	{ echo "Bail out! agent add failed"; exit 1; }
ctl agent add bert --name "Bert Agent" --email bert@example.org >/dev/null ||
	{ echo "Bail out! agent add failed"; exit 1; }
ctl agent add cara --name "Cara Agent" --email cara@example.org >/dev/null ||
	{ echo "Bail out! agent add failed"; exit 1; }
api_token anna anna
api_token bert bert
api_token cara cara
ctl token revoke cara >/dev/null 2>&1 || { echo "Bail out! token revoke failed"; exit 1; }

"$bin/seutudeskd" -f -c "$tmp/seutudesk.conf" >"$tmp/daemon.log" 2>&1 &
DAEMON_PID=$!
api_wait

echo "1..27"
# req [CURL ARGS...] PATH: prints "STATUS" then the body in $tmp/body.
req() {
	local path=${*: -1}
	curl -s --cacert "$tmp/cert.pem" -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' \
		"${@:1:$#-1}" "$base$path"
}
auth() { echo "Authorization: Bearer $1"; }

check "GET /healthz answers 200 without a token" \
	'[ "$(req /healthz)" = 200 ] && grep -q "\"database\":\"ok\"" "$tmp/body"'
check "TLS 1.1 is refused" \
	'! curl -s -o /dev/null --cacert "$tmp/cert.pem" --tls-max 1.1 "$base/healthz"'
check "GET /api/v1/me names the agent" \
	'[ "$(req -H "$(auth "$anna")" /api/v1/me)" = 200 ] && grep -q "\"login\":\"anna\"" "$tmp/body" && grep -q "\"sote\":true" "$tmp/body"'
check "GET /api/v1/queues lists triage with counts" \
	'[ "$(req -H "$(auth "$anna")" /api/v1/queues)" = 200 ] && grep -q "\"id\":\"triage\"" "$tmp/body" && grep -q "\"open\":" "$tmp/body"'
check "a call marks the agent online (last_seen_at)" \
	'[ "$(sql "SELECT last_seen_at IS NOT NULL FROM agents WHERE login = '\''anna'\''")" = t ]'
check "no token: 401 with WWW-Authenticate" \
	'[ "$(req /api/v1/me)" = 401 ] && grep -qi "^WWW-Authenticate: Bearer" "$tmp/headers"'
check "a bad token: 401" \
	'[ "$(req -H "$(auth sdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA)" /api/v1/me)" = 401 ]'
check "a revoked token: 401" '[ "$(req -H "$(auth "$cara")" /api/v1/me)" = 401 ]'
# The rate limit is per client address: 127.0.0.2 spends its allowance.
for i in 1 2 3 4 5; do
	req --interface 127.0.0.2 -H "$(auth "sdt_bad$i")" /api/v1/me >/dev/null
done
check "after auth_limit failures a client gets 429, even with a good token" \
	'[ "$(req --interface 127.0.0.2 -H "$(auth "$anna")" /api/v1/me)" = 429 ] && grep -qi "^Retry-After:" "$tmp/headers"'
check "another client address is not limited" '[ "$(req -H "$(auth "$anna")" /api/v1/me)" = 200 ]'
printf '{"body": "x",\n  "oops" }' >"$tmp/bad.json"
check "malformed JSON: 400 naming line and column" \
	'[ "$(req -H "$(auth "$anna")" --data-binary @"$tmp/bad.json" /api/v1/tickets/1/note)" = 400 ] && grep -q "line 2, column" "$tmp/body"'
check "a JSON array body: 400" \
	'[ "$(req -H "$(auth "$anna")" --data-binary "[1]" /api/v1/tickets/1/note)" = 400 ]'
head -c 70000 /dev/zero | tr '\0' 'a' >"$tmp/big"
check "a body over max_body: 413" \
	'[ "$(req -H "$(auth "$anna")" -H "Expect: 100-continue" --data-binary @"$tmp/big" \
		/api/v1/tickets/1/note)" = 413 ]'
check "an unknown path: 404" '[ "$(req -H "$(auth "$anna")" /api/v1/nothing)" = 404 ]'
check "GET on an action: 405 with Allow: POST" \
	'[ "$(req -H "$(auth "$anna")" /api/v1/tickets/1/claim)" = 405 ] && grep -qi "^Allow: POST" "$tmp/headers"'
check "HEAD on a listing: 200, the headers without the body" \
	'[ "$(req -I -H "$(auth "$anna")" /api/v1/tickets)" = 200 ] &&
	grep -qi "^Content-Type: application/json" "$tmp/body" && ! grep -q "^[[{]" "$tmp/body"'
check "POST on a listing: 405 with Allow: GET, HEAD" \
	'[ "$(req -X POST -H "$(auth "$anna")" /api/v1/tickets)" = 405 ] && grep -qi "^Allow: GET, HEAD" "$tmp/headers"'
check "a query parameter twice: 400" \
	'[ "$(req -H "$(auth "$anna")" "/api/v1/tickets?queue=a&queue=b")" = 400 ]'
check "the Unix socket serves plain HTTP" \
	'[ "$(curl -s -o /dev/null -w "%{http_code}" --unix-socket "$tmp/api.sock" http://localhost/healthz)" = 200 ]'

# The event stream.  A triage ticket anyone may see, and a sote one.
t1=$(sql "INSERT INTO tickets (requester_address, subject) VALUES ('a@example.org', 'one') RETURNING number")
t2=$(sql "INSERT INTO tickets (requester_address, subject, sector) VALUES ('b@example.org', 'two', 'sote') RETURNING number")
stream() { # stream FILE TOKEN [LAST-EVENT-ID]
	local extra=()
	[ -n "${3:-}" ] && extra=(-H "Last-Event-ID: $3")
	curl -s -N --cacert "$tmp/cert.pem" -H "$(auth "$2")" "${extra[@]}" "$base/api/v1/events" >"$1" &
	PIDS="$PIDS $!"
}
wait_for() { # wait_for FILE PATTERN SECONDS
	local i=0
	while [ $i -lt $(($3 * 100)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.01
		i=$((i + 1))
	done
	return 1
}
stream "$tmp/anna.sse" "$anna"
stream "$tmp/bert.sse" "$bert"
wait_for "$tmp/anna.sse" "seutudesk events" 15 && wait_for "$tmp/bert.sse" "seutudesk events" 15
check "the event stream opens for each agent" '[ $? = 0 ]'
# A stalled client: connects and never finishes its TLS handshake.
for i in 1 2 3 4 5 6 7 8; do
	{ exec 3<>"/dev/tcp/127.0.0.1/$port"; sleep 30; } 2>/dev/null &
	PIDS="$PIDS $!"
done
sleep 0.2
start=$(date +%s%N)
e1=$(sql "INSERT INTO events (ticket, actor, kind) VALUES ($t1, 'test', 'note') RETURNING id")
wait_for "$tmp/anna.sse" "^id: $e1\$" 15
got=$?
end=$(date +%s%N)
delay=$(((end - start) / 1000000))
check "an event committed elsewhere reaches the stream (${delay} ms, stalled clients open)" \
	'[ $got = 0 ] && grep -q "data: {\"id\":$e1,\"ticket\":$t1,\"kind\":\"note\"}" "$tmp/anna.sse"'
echo "# commit to event: $delay ms"
wait_for "$tmp/bert.sse" "^id: $e1\$" 15
check "every agent who may see the ticket gets it" '[ $? = 0 ]'
e2=$(sql "INSERT INTO events (ticket, actor, kind) VALUES ($t2, 'test', 'note') RETURNING id")
e3=$(sql "INSERT INTO events (ticket, actor, kind) VALUES ($t1, 'test', 'status') RETURNING id")
wait_for "$tmp/bert.sse" "^id: $e3\$" 15 && wait_for "$tmp/anna.sse" "^id: $e2\$" 15
check "a sote event reaches the cleared agent only" \
	'[ $? = 0 ] && ! grep -q "^id: $e2\$" "$tmp/bert.sse"'
stream "$tmp/replay.sse" "$bert" "$e1"
wait_for "$tmp/replay.sse" "^id: $e3\$" 15
check "Last-Event-ID replays what was missed, sote left out" \
	'[ $? = 0 ] && ! grep -q "^id: $e2\$" "$tmp/replay.sse" && ! grep -q "^id: $e1\$" "$tmp/replay.sse"'
s=$(date +%s%N)
code=$(req -H "$(auth "$anna")" /api/v1/me)
ms=$((($(date +%s%N) - s) / 1000000))
check "a call is not delayed by the stalled clients (${ms} ms)" '[ "$code" = 200 ] && [ $ms -lt 5000 ]'
check "api-call runs a routed call without HTTP" \
	'"$bin/tests/integration/api-call" "$tmp/seutudesk.conf" anna GET /api/v1/me >"$tmp/call" 2>&1 && [ "$(head -1 "$tmp/call")" = 200 ] && grep -q "\"login\": \"anna\"" "$tmp/call"'
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
rc=$?
DAEMON_PID=
check "the daemon stops cleanly on SIGTERM" '[ $rc = 0 ] && grep -q "api event=stopped" "$tmp/daemon.log"'
if [ $fails -gt 0 ]; then
	sed 's/^/# daemon: /' "$tmp/daemon.log" | grep -v "status=200" | tail -40
fi
