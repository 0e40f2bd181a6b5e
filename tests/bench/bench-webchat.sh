#!/bin/bash
# The web chat under load: one seutudesk-webchat and one seutudeskd (private
# PostgreSQL, SMTP and Dovecot on loopback, the bridge talking HTTPS to the
# daemon), CONVERSATIONS visitors at once sending MESSAGES messages in all
# (tests/bench/webchat-load.js), twice: paced (the visitors together write
# RATE messages a second, default 150, and an agent answers every
# conversation meanwhile at 20 a second), then saturated (each visitor posts
# as soon as its last post was answered; the replies follow, 16 at a time).
# Prints for each: messages stored, duplicated and lost (counted in
# PostgreSQL), p50/p99 from a visitor's post to the agents' event stream and
# from an agent's reply to the visitor's stream, and the peak RSS of the
# bridge and of the daemon so far.  Asserts nothing.
#   usage (from the build directory): ../tests/bench/bench-webchat.sh [CONVERSATIONS [MESSAGES [RATE]]]
#   RATE 0 runs the saturated phase only.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
bin=$top_builddir
NCONV=${1:-500}
NMSG=${2:-10000}
RATE=${3:-150}
for p in "$bin/seutudeskd" "$bin/seutudeskctl" "$bin/seutudesk-webchat"; do
	[ -x "$p" ] || { echo "bench-webchat: $p not built (run from the build directory)" >&2; exit 1; }
done
command -v node >/dev/null || { echo "bench-webchat: node is not installed" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n 8192

W=$(mktemp -d "${TMPDIR:-/tmp}/bench-webchat.XXXXXX") || exit 1
. "$top_srcdir/tests/lib/tls.sh"
tls_cert "$W" || exit 1
port=$(free_port) && bport=$(free_port) || exit 1
while [ "$bport" = "$port" ]; do bport=$(free_port); done
STACK_EXTRA_CONF="
[api]
listen = 127.0.0.1:$port
cert_file = $W/cert.pem
key_file = $W/key.pem
socket = $W/api.sock
workers = 4
online_window = 1h

[bridge]
calendar = 24x7
conversation_limit = 10000
"
. "$top_srcdir/tests/lib/stack.sh"
stack_start >"$W/stack.log" 2>&1 || { tail -5 "$W/stack.log"; exit 1; }
BRIDGE_PID=
bench_cleanup() {
	[ -n "$BRIDGE_PID" ] && kill "$BRIDGE_PID" 2>/dev/null && wait "$BRIDGE_PID" 2>/dev/null
	stack_cleanup
	rm -rf "$W"
}
trap bench_cleanup EXIT
sed -i 's/^log_level = info/log_level = warn/' "$STACK_CONF"
ctl() { "$bin/seutudeskctl" -c "$STACK_CONF" "$@"; }
ctl bridge add webchat --kind webchat >/dev/null || exit 1
ctl token issue --bridge webchat | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1 >"$W/bridge.token"
ctl agent add anna --name "Anna Agentti" --email anna@seutu-it.fi --sote --queues triage >/dev/null || exit 1
ATOK=$(ctl token issue anna | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1)
daemon_start
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
ORIGIN=http://bench.kinnula.invalid
# BENCH_UPSTREAM=socket: the bridge talks to the daemon's Unix socket, not HTTPS.
if [ "${BENCH_UPSTREAM:-https}" = socket ]; then
	UPSTREAM="--daemon-socket $W/api.sock"
else
	UPSTREAM="--daemon https://127.0.0.1:$port --ca $W/cert.pem"
fi
"$bin/seutudesk-webchat" --listen "127.0.0.1:$bport" $UPSTREAM --token-file "$W/bridge.token" --www "$top_srcdir/bridges/webchat/www" \
	--origin "$ORIGIN" --rate-address 1000000 --rate-conversation 100000 --max-streams 100000 \
	--log-level warn >"$W/bridge.log" 2>&1 &
BRIDGE_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$bport") 2>/dev/null && break; sleep 0.1; done

echo "# $NCONV conversations, $NMSG visitor messages a run, one bridge, one daemon ($(nproc) cores), bridge to daemon: ${BENCH_UPSTREAM:-https}"
hwm() { awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status"; }
run() { # run TAG RATE
	WC_BRIDGE="http://127.0.0.1:$bport" WC_ORIGIN=$ORIGIN WC_API="https://127.0.0.1:$port" \
		WC_CA="$W/cert.pem" WC_AGENT_TOKEN="$ATOK" WC_CONV=$NCONV WC_MSG=$NMSG WC_TAG=$1 WC_RATE=$2 \
		WC_PSQL="$PG_BINDIR/psql" node "$top_srcdir/tests/bench/webchat-load.js"
	sleep 1
	local in="bridge = 'webchat' AND direction = 'in' AND body LIKE 'bench $1 %'" stored distinct
	stored=$(stack_sql "SELECT count(*) FROM messages WHERE $in")
	distinct=$(stack_sql "SELECT count(DISTINCT (conversation, body)) FROM messages WHERE $in")
	echo "# stored in PostgreSQL: $stored messages ($distinct distinct, so $((stored - distinct)) duplicated, $((NMSG - distinct)) lost)"
	echo "# peak RSS so far: bridge $(hwm "$BRIDGE_PID"), daemon $(hwm "$STACK_DAEMON_PID")"
}
[ "$RATE" != 0 ] && run p "$RATE"
run s 0
tickets=$(stack_sql "SELECT count(DISTINCT ticket) FROM messages WHERE bridge = 'webchat'")
echo "# $tickets tickets in all"
grep -c . "$W/bridge.log" | xargs -I{} echo "# bridge log lines at warn: {}"
head -3 "$W/bridge.log" | sed 's/^/#   /'
