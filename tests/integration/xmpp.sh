#!/bin/bash
# The XMPP bridge end to end: the real daemon (private PostgreSQL, [api] on
# loopback and on a Unix socket), a private Prosody on loopback with
# offline storage and stream management, seutudesk-xmpp between them, and a
# scripted person (tests/lib/xmpp_user.py, slixmpp).  A chat message makes a
# chat ticket; an agent's reply reaches the person once, is reported
# delivered, and read by a chat marker; a Prosody restart mid-conversation
# loses and doubles nothing; a message written while the bridge is stopped
# comes from offline storage; a bridge killed with SIGKILL, restarted,
# still delivers the reply queued meanwhile once, and the message written
# meanwhile; a message the daemon refuses (4xx) gets the person a short
# answer.  Bounded waits; well under two minutes.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bin=$top_builddir
PY=/usr/bin/python3

. "$top_srcdir/tests/lib/tap.sh"
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

for p in "$bin/seutudeskd" "$bin/seutudeskctl" "$bin/seutudesk-xmpp" "$PY"; do
	[ -x "$p" ] || skip_all "$p not built or not installed"
done
command -v prosody >/dev/null && command -v prosodyctl >/dev/null ||
	skip_all "prosody is not installed"
"$PY" -c 'import slixmpp' 2>/dev/null || skip_all "python3-slixmpp is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
command -v dovecot >/dev/null || skip_all "dovecot is not installed (the stack needs it)"
[ "$(id -u)" = 0 ] || skip_all "the private Dovecot needs root"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd is not installed"

W=$(mktemp -d "${TMPDIR:-/tmp}/xmpp.XXXXXX") || exit 1
. "$top_srcdir/tests/lib/tls.sh"
tls_cert "$W" || { rm -rf "$W"; echo "Bail out! openssl failed"; exit 1; }
port=$(free_port) || { rm -rf "$W"; echo "Bail out! no free port"; exit 1; }
xport=$(free_port) || { rm -rf "$W"; echo "Bail out! no free port"; exit 1; }
while [ "$xport" = "$port" ]; do xport=$(free_port); done
STACK_EXTRA_CONF="
[api]
listen = 127.0.0.1:$port
cert_file = $W/cert.pem
key_file = $W/key.pem
socket = $W/api.sock
workers = 4
"
. "$top_srcdir/tests/lib/stack.sh"
if ! stack_start >"$W/stack.log" 2>&1; then
	echo "1..0 # SKIP the stack did not start: $(tail -1 "$W/stack.log")"
	rm -rf "$W"
	exit 0
fi
LIMIT=${XMPP_TEST_LIMIT:-150}
(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$LIMIT" >/dev/null 2>&1 &
	s=$!
	wait "$s"
	echo "Bail out! xmpp.sh took over $LIMIT s"
	kill -TERM $$
) &
WATCHDOG=$!

# -- Prosody ------------------------------------------------------------------------
P=$W/prosody
PCFG=$P/prosody.cfg.lua
PROSODY_PID=
mkdir -p "$P/data" "$P/certs"
# STARTTLS offered (not required: the scripted person speaks plain), with a
# certificate for the domain "localhost" that the bridge verifies.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-keyout "$P/certs/localhost.key" -out "$P/certs/localhost.crt" 2>"$P/openssl.log" ||
	{ cat "$P/openssl.log"; echo "Bail out! openssl failed"; exit 1; }
cat >"$PCFG" <<CFG
pidfile = "$P/prosody.pid"
data_path = "$P/data"
plugin_paths = {}
run_as_root = true
interfaces = { "127.0.0.1" }
c2s_ports = { $xport }
c2s_direct_tls_ports = {}
s2s_ports = {}
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "smacks"; "offline" }
modules_disabled = { "s2s" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
log = { { levels = { min = "info" }, to = "console" } }
VirtualHost "localhost"
ssl = { certificate = "$P/certs/localhost.crt"; key = "$P/certs/localhost.key" }
CFG

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
prosody_start() {
	prosody --config "$PCFG" -F >>"$P/prosody.log" 2>&1 &
	PROSODY_PID=$!
	for _ in $(seq 100); do
		port_open "$xport" && return 0
		kill -0 "$PROSODY_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# prosody did not start:"
	tail -5 "$P/prosody.log" | sed 's/^/#   /'
	return 1
}
prosody_stop() {
	[ -n "$PROSODY_PID" ] || return 0
	kill -TERM "$PROSODY_PID" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$PROSODY_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$PROSODY_PID" 2>/dev/null
	wait "$PROSODY_PID" 2>/dev/null
	PROSODY_PID=
}

# -- the bridge and the person --------------------------------------------------------
BRIDGE_PID=
USER_PID=
# XMPP_BRIDGE_WRAPPER runs the bridge under a tool, e.g. "valgrind -q --error-exitcode=99".
XMPP_SECURITY=--no-tls
bridge_start() { # bridge_start DAEMON_URL [OPTIONS]
	# shellcheck disable=SC2086
	${XMPP_BRIDGE_WRAPPER:-} "$bin/seutudesk-xmpp" --jid tuki@localhost --password-file "$W/tuki.pass" \
		--server 127.0.0.1 --port "$xport" $XMPP_SECURITY --token-file "$W/bridge.token" \
		--spool "$W/spool" --daemon "$@" >>"$W/bridge.log" 2>&1 &
	BRIDGE_PID=$!
}
bridge_signal() { # bridge_signal SIG: sends it, waits for the exit; the ms it took in $ms
	local t0 t1
	t0=$(date +%s%N)
	kill "-$1" "$BRIDGE_PID" 2>/dev/null
	wait "$BRIDGE_PID" 2>/dev/null
	t1=$(date +%s%N)
	BRIDGE_PID=
	ms=$(((t1 - t0) / 1000000))
}
say() { echo "$*" >&7; }
# waitfor FILE PATTERN COUNT SECONDS: true once FILE has COUNT lines matching PATTERN.
waitfor() {
	local i c
	for i in $(seq $(($4 * 10))); do
		c=$(grep -c -- "$2" "$1" 2>/dev/null)
		[ "${c:-0}" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# shellcheck disable=SC2317
xmpp_cleanup() {
	exec 7>&- 2>/dev/null
	[ -n "$USER_PID" ] && kill "$USER_PID" 2>/dev/null
	[ -n "$BRIDGE_PID" ] && kill -KILL "$BRIDGE_PID" 2>/dev/null
	prosody_stop
	kill -TERM "$WATCHDOG" 2>/dev/null
	wait "$WATCHDOG" 2>/dev/null
	stack_cleanup
	[ "${STACK_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap xmpp_cleanup EXIT

ctl() { "$bin/seutudeskctl" -c "$STACK_CONF" "$@"; }
sql() { stack_sql "$1"; }

# -- set up ---------------------------------------------------------------------------
ctl bridge add xmpp --kind xmpp >>"$W/ctl.log" 2>&1 || { tail -3 "$W/ctl.log"; echo "Bail out! bridge add"; exit 1; }
ctl token issue --bridge xmpp 2>>"$W/ctl.log" | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1 >"$W/bridge.token"
[ -s "$W/bridge.token" ] || { tail -3 "$W/ctl.log"; echo "Bail out! token issue --bridge xmpp"; exit 1; }
ctl agent add anna --name "Anna Agentti" --email anna@seutu-it.fi --sote --queues triage \
	>>"$W/ctl.log" 2>&1 || { tail -3 "$W/ctl.log"; echo "Bail out! agent add"; exit 1; }
ATOK=$(ctl token issue anna 2>>"$W/ctl.log" | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1)
[ -n "$ATOK" ] || { echo "Bail out! token issue anna"; exit 1; }

daemon_start
base=https://127.0.0.1:$port
for _ in $(seq 100); do
	curl -s -o /dev/null --max-time 2 --cacert "$W/cert.pem" "$base/healthz" && break
	kill -0 "$STACK_DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
api() { # api PATH [BODY]: the agent's call; prints the status, the body in $W/body
	if [ $# -gt 1 ]; then
		curl -s --max-time 10 --cacert "$W/cert.pem" -o "$W/body" -w '%{http_code}' \
			-H "Authorization: Bearer $ATOK" --data-binary "$2" "$base$1"
	else
		curl -s --max-time 10 --cacert "$W/cert.pem" -o "$W/body" -w '%{http_code}' \
			-H "Authorization: Bearer $ATOK" "$base$1"
	fi
}
is "$(api /api/v1/me)" 200 "the daemon serves the agents' API; anna is online"

prosody_start || { echo "Bail out! prosody did not start"; exit 1; }
for u in tuki:tukisalasana maija:maijansana; do
	prosodyctl --config "$PCFG" register "${u%%:*}" localhost "${u#*:}" >>"$P/register.log" 2>&1 ||
		{ cat "$P/register.log"; echo "Bail out! prosodyctl register ${u%%:*}"; exit 1; }
done
echo tukisalasana >"$W/tuki.pass"
ok 0 "a private Prosody on 127.0.0.1:$xport with the accounts tuki and maija"

# The bridge first talks to the daemon over its Unix socket.
bridge_start "unix:$W/api.sock"
mkfifo "$W/user.in"
"$PY" "$top_srcdir/tests/lib/xmpp_user.py" maija@localhost maijansana 127.0.0.1 "$xport" \
	"$W/user.log" tuki@localhost <"$W/user.in" >"$W/user.err" 2>&1 &
USER_PID=$!
exec 7>"$W/user.in"
waitfor "$W/user.log" '^online$' 1 15
ok $? "the person's client is online"
waitfor "$W/user.log" '^presence tuki@localhost available$' 1 15
ok $? "the bridge is online and accepted the person's subscription"
kill -0 "$BRIDGE_PID" 2>/dev/null || { tail -5 "$W/bridge.log"; echo "Bail out! the bridge is not running"; exit 1; }

msgs() { sql "SELECT count(*) FROM messages WHERE bridge = 'xmpp' AND direction = 'in'"; }
reply_state() { sql "SELECT state FROM chat_replies WHERE id = ${1:-0}"; }
last_reply() { sql "SELECT coalesce(max(id), 0) FROM chat_replies"; }
received() { grep -c "^recv sd-reply-$1 " "$W/user.log"; }

# -- 1. a message makes a chat ticket; a reply comes back -------------------------------
say "send m1 Hei, kunnanviraston tulostin ei tulosta mitään."
stack_wait "SELECT count(*) FROM messages WHERE bridge = 'xmpp' AND direction = 'in'" 1 15 2>/dev/null
ok $? "the person's first message is stored"
T=$(sql "SELECT ticket FROM messages WHERE bridge = 'xmpp' AND direction = 'in'")
is "$(sql "SELECT t.channel || ' ' || m.conversation || ' ' || l.external_id FROM messages m JOIN tickets t ON t.number = m.ticket JOIN intake_log l ON l.ticket = t.number AND l.mailbox = 'chat:xmpp' WHERE m.bridge = 'xmpp'")" \
	"chat maija@localhost xmpp:maija@localhost:m1" \
	"a chat ticket; the conversation is the bare JID, the message id the stanza id"
is "$(sql "SELECT name || ' ' || handle FROM chat_conversations WHERE bridge = 'xmpp'")" \
	"maija maija@localhost" "the sender: the JID's local part as name, the bare JID as handle"

code=$(api "/api/v1/tickets/$T/reply" '{"body": "Tulostin on nyt korjattu."}')
ok "$([ "${code:0:1}" = 2 ] && echo 0 || echo 1)" "anna replies to the chat ticket ($code)"
R1=$(last_reply)
waitfor "$W/user.log" "^recv sd-reply-$R1 Tulostin on nyt korjattu.$" 1 15
ok $? "the person receives the reply as a chat message with the stanza id sd-reply-$R1"
stack_wait "SELECT state FROM chat_replies WHERE id = $R1" delivered 15 2>/dev/null
ok $? "the bridge reports the reply delivered"
say "display sd-reply-$R1"
stack_wait "SELECT state FROM chat_replies WHERE id = $R1" read 15 2>/dev/null
ok $? "a chat marker 'displayed' from the person's client is reported as read"

# The agents' event stream shows that the person is writing (XEP-0085).
curl -s -N --max-time 10 --cacert "$W/cert.pem" -H "Authorization: Bearer $ATOK" \
	"$base/api/v1/events" >"$W/events" 2>/dev/null &
sse=$!
sleep 0.5
say typing
waitfor "$W/events" typing 1 8
ok $? "a chat state 'composing' reaches the agents' event stream as typing"
kill "$sse" 2>/dev/null
wait "$sse" 2>/dev/null

# -- 2. Prosody restarts mid-conversation ------------------------------------------------
prosody_stop
waitfor "$W/bridge.log" 'XMPP connection .* lost' 1 10
ok $? "the bridge notices that the XMPP server is gone"
code=$(api "/api/v1/tickets/$T/reply" '{"body": "Kokeile nyt uudelleen."}')
R2=$(last_reply)
sleep 1
is "$(reply_state "$R2")" queued "a reply written while the XMPP server is away waits, queued"
prosody_start || { echo "Bail out! prosody did not start again"; exit 1; }
waitfor "$W/user.log" '^online$' 2 20
ok $? "the person's client is back online"
say "send m2 Nyt tulostaa, mutta raidallista."
stack_wait "SELECT count(*) FROM messages WHERE bridge = 'xmpp' AND direction = 'in'" 2 30 2>/dev/null
ok $? "the message written after the restart is stored"
waitfor "$W/user.log" "^recv sd-reply-$R2 " 1 30
ok $? "the reply queued during the outage arrives after the bridge reconnected"
stack_wait "SELECT state FROM chat_replies WHERE id = $R2" delivered 15 2>/dev/null
ok $? "and is reported delivered"

# -- 3. the bridge stopped: offline storage keeps the person's message -------------------
bridge_signal TERM
ok "$([ "$ms" -lt 2500 ] && echo 0 || echo 1)" "SIGTERM stops the bridge within 2.5 s (${ms} ms)"
waitfor "$W/user.log" '^presence tuki@localhost unavailable$' 1 10
say "send m3 Kirjoitin tämän kun tuki oli poissa."
sleep 1
is "$(msgs)" 2 "a message written while the bridge is stopped waits in Prosody"
# A CA that did not sign Prosody's certificate: refused, never logged in
# (its own resource, so that it cannot replace the bridge's session).
"$bin/seutudesk-xmpp" --jid tuki@localhost --password-file "$W/tuki.pass" --server 127.0.0.1 \
	--port "$xport" --xmpp-ca "$W/cert.pem" --resource probe --token-file "$W/bridge.token" \
	--daemon "$base" --ca "$W/cert.pem" >"$W/probe.log" 2>&1 &
probe=$!
waitfor "$W/probe.log" 'certificate .* is not trusted' 1 10
r=$?
kill -TERM "$probe" 2>/dev/null
wait "$probe" 2>/dev/null
grep -q 'session up' "$W/probe.log" && r=1
ok $r "an XMPP server certificate the CA file does not vouch for is refused"
is "$(msgs)" 2 "the refused session took nothing from offline storage"
# Back with TLS to both: STARTTLS verified against Prosody's certificate,
# HTTPS with the daemon's certificate as CA.
XMPP_SECURITY="--xmpp-ca $P/certs/localhost.crt"
bridge_start "$base" --ca "$W/cert.pem"
stack_wait "SELECT count(*) FROM messages WHERE bridge = 'xmpp' AND direction = 'in'" 3 20 2>/dev/null
ok $? "the restarted bridge (TLS, HTTPS) gets it from offline storage and stores it"
has "$W/bridge.log" 'XMPP session up as tuki@localhost/seutudesk (TLS)' \
	"the bridge's XMPP session runs over verified TLS"

# -- 4. the bridge killed: a reply queued meanwhile arrives once --------------------------
waitfor "$W/user.log" '^presence tuki@localhost available$' 2 15
bridge_signal KILL
code=$(api "/api/v1/tickets/$T/reply" '{"body": "Vaihdoin värikasetin."}')
R3=$(last_reply)
say "send m4 Kirjoitin tämän kun tuki oli kaatunut."
sleep 1
bridge_start "$base" --ca "$W/cert.pem"
waitfor "$W/user.log" "^recv sd-reply-$R3 " 1 20
ok $? "after SIGKILL and a restart, the reply queued meanwhile arrives"
stack_wait "SELECT count(*) FROM messages WHERE bridge = 'xmpp' AND direction = 'in'" 4 30 2>/dev/null
ok $? "the message written to the killed bridge's session comes too"

# -- 5. the daemon away: the message waits in the bridge's spool, across a SIGKILL ------------
daemon_stop
say "send m6 Kirjoitin tämän kun palvelin oli alhaalla."
waitfor "$W/bridge.log" 'message id=xmpp:maija@localhost:m6: the daemon did not take it' 1 15
ok $? "with the daemon away the bridge keeps the message and retries"
is "$(ls "$W/spool" | wc -l)" 1 "the message waits in the spool"
bridge_signal KILL
daemon_start
bridge_start "$base" --ca "$W/cert.pem"
stack_wait "SELECT count(*) FROM messages WHERE bridge = 'xmpp' AND direction = 'in'" 5 20 2>/dev/null
ok $? "the bridge killed meanwhile posts it from the spool once both are back"

# -- 6. a message the daemon refuses -------------------------------------------------------
say "sendlong m5 17000"
waitfor "$W/user.log" '^recv sd-notice-[0-9]* Viestiäsi ei valitettavasti' 1 20
ok $? "a message the daemon refuses (over 16,000 bytes) gets the person a short answer"
has "$W/bridge.log" 'message id=xmpp:maija@localhost:m5 .*refused by the daemon' \
	"the refusal is logged with the message id"

# -- nothing lost, nothing doubled ---------------------------------------------------------
sleep 2
is "$(msgs) $(sql "SELECT string_agg(external_id, ' ' ORDER BY at) FROM intake_log WHERE mailbox = 'chat:xmpp'")" \
	"5 xmpp:maija@localhost:m1 xmpp:maija@localhost:m2 xmpp:maija@localhost:m3 xmpp:maija@localhost:m4 xmpp:maija@localhost:m6" \
	"the five messages are stored once each, in order, under their stanza ids"
is "$(sql "SELECT count(DISTINCT ticket) FROM messages WHERE bridge = 'xmpp'")" 1 \
	"all on the conversation's one ticket"
is "$(received "$R1") $(received "$R2") $(received "$R3")" "1 1 1" \
	"the person received each of the three replies exactly once"
stack_wait "SELECT string_agg(state, ' ' ORDER BY id) FROM chat_replies" "read delivered delivered" 15 2>/dev/null
ok $? "every reply is settled in the daemon (read, delivered, delivered)"
is "$(ls "$W/spool" | wc -l)" 0 "the spool is empty once the daemon has everything"
ok "$(grep -qF -e "$(cat "$W/bridge.token")" -e tukisalasana "$W/bridge.log" && echo 1 || echo 0)" \
	"neither the token nor the password is in the bridge's log"

bridge_signal TERM
ok "$([ "$ms" -lt 2500 ] && echo 0 || echo 1)" "SIGTERM stops the bridge within 2.5 s (${ms} ms)"
"$bin/seutudesk-xmpp" --help >"$W/help" 2>&1
ok $? "--help answers"
"$bin/seutudesk-xmpp" --jid tuki@localhost --password-file "$W/tuki.pass" --token-file "$W/bridge.token" \
	--daemon "$base" --server xmpp.example.fi --no-tls >"$W/notls" 2>&1
is "$?" 2 "--no-tls to a server off loopback is refused"
if [ "$failed" -gt 0 ]; then
	tail -40 "$W/bridge.log" | sed 's/^/# bridge: /'
	sed 's/^/# user: /' "$W/user.log"
	grep -i 'bridge\|error' "$STACK_LOG" | tail -20 | sed 's/^/# daemon: /'
fi
say quit
daemon_stop
echo "1..$n"
exit 0
