#!/bin/bash
# The web chat end to end in Chromium: a private PostgreSQL, SMTP server and
# daemon (bridge API on its Unix socket, agents' API over HTTPS), the web
# chat bridge, and a member's page on another loopback origin that embeds
# the widget with data-municipality="kinnula" under a strict CSP.
# tests/browser/webchat-e2e.js (puppeteer-core + axe-core, versions pinned in
# tests/browser/package-lock.json) drives it: with no agent online the widget
# says when the question will be answered and asks for an e-mail; an agent
# comes online; a visitor asks in Finnish, the ticket is classified to
# kinnula, the agent's reply shows in the page within a second and is
# reported delivered and read, a retried post makes one message, a reload
# and a resume link in another browser show the conversation, the
# transcript goes by mail; axe-core finds no WCAG 2.1 AA violation, closed
# and open; keyboard, focus and reflow at 400 % are checked.  Screenshots
# (360x640, 1280x800, 320x256) are kept in $top_builddir/tests/artefacts/webchat/.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bin=$top_builddir
PY=/usr/bin/python3
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

. "$top_srcdir/tests/lib/tap.sh"
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}
for p in "$bin/seutudeskd" "$bin/seutudeskctl" "$bin/seutudesk-webchat" "$PY" "$CHROMIUM"; do
	[ -x "$p" ] || skip_all "$p not built or not installed"
done
command -v node >/dev/null || skip_all "node is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
command -v dovecot >/dev/null || skip_all "dovecot is not installed (the stack needs it)"
[ "$(id -u)" = 0 ] || skip_all "the private Dovecot needs root"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd is not installed"

W=$(mktemp -d "${TMPDIR:-/tmp}/webchat.XXXXXX") || exit 1
# puppeteer-core and axe-core, installed once into a cache outside the tree.
if ! NODE_MODULES=$(bash "$top_srcdir/tests/browser/install.sh" 2>"$W/install.log"); then
	echo "1..0 # SKIP the browser tools could not be installed: $(tail -1 "$W/install.log")"
	rm -rf "$W"
	exit 0
fi
. "$top_srcdir/tests/lib/tls.sh"
tls_cert "$W" || { rm -rf "$W"; echo "Bail out! openssl failed"; exit 1; }
port=$(free_port) || { rm -rf "$W"; echo "Bail out! no free port"; exit 1; }
bport=$(free_port) && pport=$(free_port) || { rm -rf "$W"; echo "Bail out! no free port"; exit 1; }
while [ "$bport" = "$port" ] || [ "$pport" = "$port" ] || [ "$pport" = "$bport" ]; do
	bport=$(free_port)
	pport=$(free_port)
done
# Chat hours round the clock: "closed" comes from no agent being online.
STACK_EXTRA_CONF="
[api]
listen = 127.0.0.1:$port
cert_file = $W/cert.pem
key_file = $W/key.pem
socket = $W/api.sock
workers = 4

[bridge]
calendar = 24x7

[sla chat]
channel = chat
first_response = 1h
resolution = 8h
calendar = 24x7
"
. "$top_srcdir/tests/lib/stack.sh"
if ! stack_start >"$W/stack.log" 2>&1; then
	echo "1..0 # SKIP the stack did not start: $(tail -1 "$W/stack.log")"
	rm -rf "$W"
	exit 0
fi
LIMIT=${WEBCHAT_TEST_LIMIT:-150}
(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$LIMIT" >/dev/null 2>&1 &
	s=$!
	wait "$s"
	echo "Bail out! webchat.sh took over $LIMIT s"
	kill -TERM $$
) &
WATCHDOG=$!
BRIDGE_PID=
PAGE_PID=
# shellcheck disable=SC2317
webchat_cleanup() {
	[ -n "$BRIDGE_PID" ] && kill -KILL "$BRIDGE_PID" 2>/dev/null
	[ -n "$PAGE_PID" ] && kill "$PAGE_PID" 2>/dev/null
	kill -TERM "$WATCHDOG" 2>/dev/null
	wait "$WATCHDOG" 2>/dev/null
	stack_cleanup
	[ "${STACK_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap webchat_cleanup EXIT
ctl() { "$bin/seutudeskctl" -c "$STACK_CONF" "$@"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# -- set up ---------------------------------------------------------------------------
ctl bridge add webchat --kind webchat >>"$W/ctl.log" 2>&1 ||
	{ tail -3 "$W/ctl.log"; echo "Bail out! bridge add"; exit 1; }
ctl token issue --bridge webchat 2>>"$W/ctl.log" | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1 >"$W/bridge.token"
[ -s "$W/bridge.token" ] || { tail -3 "$W/ctl.log"; echo "Bail out! token issue --bridge"; exit 1; }
ctl agent add anna --name "Anna Agentti" --email anna@seutu-it.fi --no-sote --queues triage \
	>>"$W/ctl.log" 2>&1 || { tail -3 "$W/ctl.log"; echo "Bail out! agent add"; exit 1; }
ATOK=$(ctl token issue anna 2>>"$W/ctl.log" | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1)
[ -n "$ATOK" ] || { echo "Bail out! token issue anna"; exit 1; }
daemon_start
for _ in $(seq 100); do
	[ -S "$W/api.sock" ] && port_open "$port" && break
	kill -0 "$STACK_DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
[ -S "$W/api.sock" ] || { tail -5 "$STACK_LOG"; echo "Bail out! the daemon did not start"; exit 1; }

# The member's page, on an origin of its own.
mkdir -p "$W/site"
sed "s|@BRIDGE@|http://127.0.0.1:$bport|g" "$top_srcdir/tests/browser/webchat-page.html" >"$W/site/kinnula.html"
cp "$top_srcdir/tests/browser/webchat-page.css" "$W/site/page.css"
: >"$W/site/favicon.ico"
"$PY" -m http.server "$pport" --bind 127.0.0.1 --directory "$W/site" >"$W/page.log" 2>&1 &
PAGE_PID=$!

"$bin/seutudesk-webchat" --listen "127.0.0.1:$bport" --daemon-socket "$W/api.sock" \
	--token-file "$W/bridge.token" --www "$top_srcdir/bridges/webchat/www" \
	--origin "http://127.0.0.1:$pport" --log-level debug >"$W/bridge.log" 2>&1 &
BRIDGE_PID=$!
for _ in $(seq 100); do port_open "$bport" && port_open "$pport" && break; sleep 0.1; done
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$bport/widget.js")" 200 \
	"the bridge serves the widget on 127.0.0.1:$bport"

# The widget's weight: JS + CSS + one text table, gzipped.
www=$top_srcdir/bridges/webchat/www
gz=$(cat "$www/widget.js" "$www/widget.css" "$www/texts/fi.json" | gzip -9 | wc -c)
echo "# widget gzipped (widget.js + widget.css + texts/fi.json): $gz bytes"
ok "$([ "$gz" -lt 15360 ] && echo 0 || echo 1)" "the widget is under 15 KB gzipped ($gz bytes)"

# -- the browser ------------------------------------------------------------------------
ART=$top_builddir/tests/artefacts/webchat
mkdir -p "$ART"
while IFS= read -r line; do
	case "$line" in
	"ok - "*) ok 0 "${line#ok - }" ;;
	"not ok - "*) ok 1 "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done < <(cd "$W" && NODE_PATH=$NODE_MODULES WC_PAGE="http://127.0.0.1:$pport/kinnula.html" \
	WC_BRIDGE="http://127.0.0.1:$bport" WC_API="https://127.0.0.1:$port" WC_CA="$W/cert.pem" \
	WC_AGENT_TOKEN="$ATOK" WC_ARTEFACTS="$ART" WC_TMP="$W" WC_CHROMIUM="$CHROMIUM" \
	WC_PSQL="$PG_BINDIR/psql" timeout 120 node "$top_srcdir/tests/browser/webchat-e2e.js" 2>"$W/node.err")
[ -s "$W/node.err" ] && sed 's/^/# node: /' "$W/node.err" | grep -v 'Failed to connect to the bus\|unexpected operator' | head -20

# The transcript reached the SMTP server.
got=
for _ in $(seq 100); do
	got=$(grep -l '^To:.*maija.transcript@example.fi' "$SMTP_MAILDIR"/new/* 2>/dev/null | head -1)
	[ -n "$got" ] && break
	sleep 0.1
done
ok "$([ -n "$got" ] && echo 0 || echo 1)" "the transcript mail reached the SMTP server"

# -- the bridge itself ------------------------------------------------------------------
grep -q "$(cat "$W/bridge.token")" "$W/bridge.log"
is $? 1 "the bridge token is nowhere in the bridge's log"
kill -0 "$BRIDGE_PID" 2>/dev/null
ok $? "the bridge is still running"
t0=$(date +%s%N)
kill -TERM "$BRIDGE_PID"
wait "$BRIDGE_PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
BRIDGE_PID=
is "$rc" 0 "SIGTERM stops the bridge cleanly (${ms} ms)"
if [ "$failed" != 0 ]; then
	echo "# bridge log (last lines):"
	tail -15 "$W/bridge.log" | sed 's/^/#   /'
	echo "# daemon log (last lines):"
	tail -15 "$STACK_LOG" | sed 's/^/#   /'
fi
echo "1..$n"
