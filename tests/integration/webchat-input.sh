#!/bin/bash
# seutudesk-webchat against bad input, on its own (its daemon's socket leads
# nowhere, so nothing here reaches a database): an unknown Origin gets 403,
# a flood 429 with Retry-After, an oversized body 413, malformed JSON and
# bad fields 400 naming the field, a wrong method 405 with Allow; the
# widget's files come with their types and a Content-Security-Policy; and
# the program still answers after all of it.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bin=$top_builddir/seutudesk-webchat
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/tls.sh"

[ -x "$bin" ] || { echo "1..0 # SKIP $bin not built"; exit 0; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }

W=$(mktemp -d "${TMPDIR:-/tmp}/webchat-input.XXXXXX") || exit 1
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
echo "sdt_not_a_real_token" >"$W/token"
port=$(free_port) || { echo "Bail out! no free port"; exit 1; }
ORIGIN=http://127.0.0.1:1
"$bin" --listen "127.0.0.1:$port" --daemon-socket "$W/nowhere.sock" --token-file "$W/token" \
	--www "$top_srcdir/bridges/webchat/www" --origin "$ORIGIN" --rate-address 600 \
	--rate-conversation 6 --max-body 4096 >"$W/log" 2>&1 &
PID=$!
U=http://127.0.0.1:$port
for _ in $(seq 50); do curl -s -o /dev/null "$U/healthz" && break; sleep 0.1; done

# req METHOD PATH [BODY [ORIGIN]]: prints "STATUS BODY", headers in $W/h
req() {
	local o=${4-$ORIGIN}
	curl -s -D "$W/h" -o "$W/b" -w '%{http_code}' -X "$1" ${o:+-H "Origin: $o"} \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "$U$2"
	printf ' %s' "$(tr -d '\n' <"$W/b")"
}
field_of() { sed -n 's/.*"field": *"\([^"]*\)".*/\1/p' <<<"$1"; }

r=$(req GET /widget.js "" "")
is "${r%% *}" 200 "the widget is served"
grep -qi '^content-type: text/javascript' "$W/h"
ok $? "widget.js as JavaScript"
grep -qi "^content-security-policy: default-src 'none'" "$W/h"
ok $? "with a Content-Security-Policy"
r=$(req GET /texts/sv.json "" "")
is "${r%% *}" 200 "the Swedish texts are served"

r=$(req POST /chat/v1/conversations '{}' "https://evil.example")
is "${r%% *}" 403 "an unknown Origin: 403"
is "$(field_of "$r")" Origin "  naming the Origin"
r=$(req POST /chat/v1/conversations '{}' "")
is "${r%% *}" 403 "no Origin: 403"
r=$(req OPTIONS /chat/v1/messages "" "$ORIGIN")
is "${r%% *}" 204 "a preflight from an allowed origin: 204"
grep -qi "^access-control-allow-origin: $ORIGIN" "$W/h"
ok $? "  with Access-Control-Allow-Origin for it"

r=$(req POST /chat/v1/conversations '{}')
is "${r%% *}" 201 "a new conversation: 201"
secret=$(sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p' <<<"$r")
is "${#secret}" 32 "  its secret is 32 characters (192 bits)"

r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m1", "text": "hei"')
is "${r%% *} $(field_of "$r")" "400 body" "malformed JSON: 400 naming the body"
r=$(req POST /chat/v1/messages '[1,2]')
is "${r%% *} $(field_of "$r")" "400 body" "not an object: 400"
r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m1", "name": "Maija", "site": "kinnula"}')
is "${r%% *} $(field_of "$r")" "400 text" "no text: 400 naming text"
r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m1", "name": "Maija", "text": 5, "site": "kinnula"}')
is "${r%% *} $(field_of "$r")" "400 text" "a number as text: 400 naming text"
r=$(req POST /chat/v1/messages '{"secret": "short", "id": "m1", "name": "Maija", "text": "hei", "site": "kinnula"}')
is "${r%% *} $(field_of "$r")" "400 secret" "a made-up secret: 400 naming secret"
r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m 1", "name": "Maija", "text": "hei", "site": "kinnula"}')
is "${r%% *} $(field_of "$r")" "400 id" "a message id with a space: 400 naming id"
r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m1", "name": "Maija", "text": "hei", "site": "helsinki"}')
is "${r%% *} $(field_of "$r")" "400 site" "a site that is no member: 400 naming site"
r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m1", "name": "Maija", "email": "not-mail", "text": "hei", "site": "kinnula"}')
is "${r%% *} $(field_of "$r")" "400 email" "a bad e-mail: 400 naming email"
r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m1", "name": "Maija\u0007", "text": "hei", "site": "kinnula"}')
is "${r%% *} $(field_of "$r")" "400 name" "a control character in the name: 400 naming name"
r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m1", "name": "Maija", "text": "hei", "site": "kinnula", "resume_url": "javascript:alert(1)"}')
is "${r%% *} $(field_of "$r")" "400 resume_url" "a javascript: resume URL: 400 naming resume_url"
big=$(head -c 5000 /dev/zero | tr '\0' a)
r=$(req POST /chat/v1/messages '{"secret": "'"$secret"'", "id": "m1", "name": "Maija", "text": "'"$big"'", "site": "kinnula"}')
is "${r%% *} $(field_of "$r")" "413 body" "a body over --max-body: 413"
r=$(req GET /chat/v1/messages)
is "${r%% *}" 405 "GET on messages: 405"
grep -qi '^allow: POST' "$W/h"
ok $? "  with Allow: POST"
r=$(req GET /chat/v1/stream?secret=nope)
is "${r%% *} $(field_of "$r")" "400 secret" "a stream for a bad secret: 400"
r=$(req POST /chat/v1/read '{"secret": "'"$secret"'", "reply": 99}')
is "${r%% *} $(field_of "$r")" "404 reply" "reading a reply that is not this conversation's: 404"

# The daemon is not there: a good message gets 503 with Retry-After (the
# page retries with the same id), never a crash.
good='{"secret": "'"$secret"'", "id": "m2", "name": "Maija", "text": "hei", "site": "kinnula"}'
r=$(req POST /chat/v1/messages "$good")
is "${r%% *}" 503 "the daemon unreachable: 503"
grep -qi '^retry-after: [0-9]' "$W/h"
ok $? "  with Retry-After"

# Per conversation: 6 a minute (burst 5) -> the flood gets 429.
codes=""
for _ in $(seq 8); do
	r=$(req POST /chat/v1/messages "$good")
	codes="$codes ${r%% *}"
done
case "$codes" in *429*) ok 0 "a flood in one conversation: 429 ($codes)" ;; *) ok 1 "a flood in one conversation: 429 ($codes)" ;; esac
grep -qi '^retry-after: [1-9]' "$W/h"
ok $? "  with Retry-After"

# Per address: 600 a minute, burst 300.
n429=0
for _ in $(seq 40); do
	c=$(for _ in $(seq 10); do echo "url = \"$U/chat/v1/status?site=kinnula\""; echo 'header = "Origin: '"$ORIGIN"'"'; echo 'output = "/dev/null"'; echo 'write-out = "%{http_code}\n"'; done | curl -s -K - | grep -c 429)
	n429=$((n429 + c))
done
[ "$n429" -gt 0 ]
ok $? "a flood from one address: 429 ($n429 of 400)"
# The bucket refills at 10 a second: a busy machine may have refilled a
# few by now, so a short burst uses those up and its last one is refused.
last=$(for _ in $(seq 20); do echo "url = \"$U/chat/v1/status?site=kinnula\""; echo 'header = "Origin: '"$ORIGIN"'"'; echo 'output = "/dev/null"'; echo 'write-out = "%{http_code}\n"'; done | curl -s -K - | tail -1)
is "$last" 429 "  the address is still held back"
grep -qi '^retry-after: [1-9]' "$W/h"
ok $? "  with Retry-After"

kill -0 "$PID" 2>/dev/null
ok $? "the bridge still runs"
r=$(req GET /widget.css "" "")
is "${r%% *}" 200 "  and serves"
grep -q 'sdt_not_a_real_token' "$W/log"
is $? 1 "the token is nowhere in the log"
echo "1..$n"
