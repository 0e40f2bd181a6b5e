#!/bin/bash
# seutudeskd under systemd's eyes: the unit file passes systemd-analyze
# verify, and the daemon speaks the sd_notify protocol to a socket this
# test listens on: READY=1 only once the API answers, STATUS lines,
# WATCHDOG=1 pings, RELOADING=1 and READY=1 around SIGHUP, STOPPING=1 on
# SIGTERM and an exit within 10 s.
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/stack.sh"

PY=/usr/bin/python3
n=0
ok() { # ok COND-STATUS DESCRIPTION [DETAIL]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2${3:+: $3}"
	fi
}
skip() {
	n=$((n + 1))
	echo "ok $n # SKIP $1"
}

# The unit, with ExecStart pointing at this build (verify wants it to exist).
if command -v systemd-analyze >/dev/null; then
	unit=$(mktemp -d "${TMPDIR:-/tmp}/seutudesk-unit.XXXXXX")
	sed "s#/usr/sbin/seutudeskd#$(cd "$top_builddir" && pwd)/seutudeskd#" \
		"$top_srcdir/contrib/systemd/seutudeskd.service" >"$unit/seutudeskd.service"
	out=$(cd "$unit" && systemd-analyze verify --man=no ./seutudeskd.service 2>&1)
	ok $? "systemd-analyze verify: clean" "$out"
	[ -z "$out" ]
	ok $? "systemd-analyze verify: no warnings" "$out"
	rm -rf "$unit"
else
	skip "systemd-analyze is not installed"
	skip "systemd-analyze is not installed"
fi

STACK_EXTRA_CONF=$(printf '\n[api]\nsocket = %s\n' '$STACK_DIR/api.sock')
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	exit 0
fi
sed -i "s#\$STACK_DIR#$STACK_DIR#" "$STACK_CONF"

# The listener: one line per datagram; at READY=1 it notes whether the
# API's socket answered HTTP by then.
NOTES=$STACK_DIR/notify.log
"$PY" - "@seutudesk-test-$$" "$NOTES" "$STACK_DIR/api.sock" <<'EOF' &
import socket, sys
name, out, api = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:])
with open(out, "a", buffering=1) as f:
    f.write("listening\n")
    while True:
        msg = s.recv(4096).decode()
        f.write(msg + "\n")
        if msg == "READY=1":
            try:
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.settimeout(2)
                c.connect(api)
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                answered = c.recv(12).startswith(b"HTTP/")
            except OSError:
                answered = False
            f.write("api_answered=%s\n" % ("yes" if answered else "no"))
EOF
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; stack_cleanup' EXIT
for _ in $(seq 50); do grep -q listening "$NOTES" 2>/dev/null && break; sleep 0.1; done

# wait_line PATTERN [S]: waits for a line matching PATTERN (grep -E).
wait_line() {
	local i
	for i in $(seq $((${2:-10} * 10 + 1))); do
		grep -Eq "$1" "$NOTES" && return 0
		sleep 0.1
	done
	return 1
}
count() { grep -Ec "$1" "$NOTES"; }

NOTIFY_SOCKET="@seutudesk-test-$$" WATCHDOG_USEC=1000000 daemon_start
wait_line '^READY=1$' 20 || cat "$STACK_LOG" >&2
ok $? "READY=1 sent"
grep -A1 '^READY=1$' "$NOTES" | grep -q '^api_answered=yes$'
ok $? "the API answered when READY=1 came" "$(cat "$NOTES")"
grep -q '^STATUS=intake: 1 mailboxes, api on .*api.sock, outbox backlog 0' "$NOTES"
ok $? "STATUS names the mailboxes, the API and the outbox backlog" "$(grep STATUS "$NOTES")"
wait_line '^WATCHDOG=1$' 5 && sleep 1.2
w=$(count '^WATCHDOG=1$')
[ "$w" -ge 2 ]
ok $? "WATCHDOG=1 pings at half of WATCHDOG_USEC" "$w pings"

kill -HUP "$STACK_DAEMON_PID"
wait_line '^RELOADING=1$' 10
ok $? "RELOADING=1 on SIGHUP"
sleep 1
[ "$(sed -n '/^RELOADING=1$/,$p' "$NOTES" | grep -c '^READY=1$')" -ge 1 ]
ok $? "READY=1 again after the reload"

t0=$(date +%s%N)
kill -TERM "$STACK_DAEMON_PID"
wait "$STACK_DAEMON_PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
STACK_DAEMON_PID=
ok $([ "$rc" = 0 ] && [ "$ms" -lt 10000 ]; echo $?) "SIGTERM: a clean exit within 10 s" \
	"status $rc after $ms ms"
grep -q '^STOPPING=1$' "$NOTES"
ok $? "STOPPING=1 on SIGTERM"
w=$(count '^WATCHDOG=1$')
sleep 1.2
[ "$(count '^WATCHDOG=1$')" = "$w" ]
ok $? "no WATCHDOG=1 once the daemon stopped"
echo "1..$n"
