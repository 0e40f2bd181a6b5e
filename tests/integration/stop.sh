#!/bin/bash
# A bounded stop: SIGTERM ends seutudeskd within seconds whatever its peers
# do.  The daemon has acknowledgements queued, the SMTP relay answers
# nothing from MAIL FROM on (smtp_server.py's stall-all, with [smtp]
# timeout = 60s), and a second mailbox's IMAP server accepts the
# connection and never says a word.  SIGTERM: a clean exit (status 0, the
# log says so) within 10 s; the senders gave back their claims (every row
# queued, none sending, no attempt counted, nothing at the relay); after a
# restart with a working relay every row is sent, each exactly once.  The
# daemon runs under valgrind where it is installed.
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/stack.sh"

PY=/usr/bin/python3
GEN=$top_srcdir/tests/lib/genmail.sh
MAILS=12

n=0
ok() { # ok COND-STATUS DESCRIPTION [DETAIL]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2${3:+: $3}"
	fi
}
q() { stack_sql "$1" 2>/dev/null || echo '?'; }

# The IMAP server that never answers: accepts, holds, logs each accept.
STALL=$(mktemp -d "${TMPDIR:-/tmp}/seutudesk-stall.XXXXXX")
"$PY" - "$STALL" <<'EOF_PY' &
import os, socket, sys, time
top = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
held = []
with open(os.path.join(top, "port.tmp"), "w") as f:
    f.write("%d\n" % s.getsockname()[1])
os.rename(os.path.join(top, "port.tmp"), os.path.join(top, "port"))
s.settimeout(1)
end = time.time() + 300  # bounded: it stops by itself
with open(os.path.join(top, "accepted"), "a", buffering=1) as log:
    while time.time() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        held.append(c)
        log.write("accepted\n")
EOF_PY
STALL_PID=$!
for _ in $(seq 50); do [ -s "$STALL/port" ] && break; sleep 0.1; done
STALL_PORT=$(cat "$STALL/port" 2>/dev/null)
if [ -z "$STALL_PORT" ]; then
	kill "$STALL_PID" 2>/dev/null
	rm -rf "$STALL"
	echo "Bail out! the stalled IMAP listener did not start"
	exit 0
fi

STACK_EXTRA_CONF=$(printf '\n[mailbox stalled]\nhost = 127.0.0.1\nport = %s\ntls = none\nuser = nobody\npassword_file = $STACK_DIR/imap.pass\npoll_interval = 5s\n' "$STALL_PORT")
if ! stack_start; then
	kill "$STALL_PID" 2>/dev/null
	rm -rf "$STALL"
	echo "Bail out! the test stack did not start"
	exit 0
fi
trap 'kill $STALL_PID 2>/dev/null; rm -rf "$STALL"; stack_cleanup' EXIT
sed -i -e "s#\$STACK_DIR#$STACK_DIR#" -e 's/^timeout = 10s$/timeout = 60s/' \
	-e 's/^\[outbox\]$/[outbox]\nworkers = 2/' "$STACK_CONF"

# The daemon runs under valgrind where it is installed (VALGRIND=no skips
# it): the stop path must leave no error and no leak (status 99 otherwise).
vglog=$STACK_DIR/valgrind.log
if [ "${VALGRIND:-yes}" != no ] && command -v valgrind >/dev/null; then
	STACK_DAEMON_WRAPPER="valgrind -q --suppressions=$top_srcdir/tests/data/valgrind.supp
		--leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
		--log-file=$vglog"
fi

"$GEN" -n $MAILS -p stop -s 7 -o "$STACK_DIR/stop.mbox" -l "$STACK_DIR/stop.ids" >/dev/null ||
	{ echo "Bail out! genmail failed"; exit 0; }
smtp_mode stall-all
dovecot_import_many test "$STACK_DIR/stop.mbox"
daemon_start
stack_wait "SELECT count(*) FROM outbox" $MAILS 60
ok $? "$MAILS acknowledgements queued"
# Both senders are inside a session that waits for the relay, and the
# stalled mailbox's worker waits for a greeting.
stack_wait "SELECT count(*) >= 2 FROM outbox WHERE status = 'sending'" t 30
ok $? "the senders hold claims while the relay stalls" \
	"$(q "SELECT status, count(*) FROM outbox GROUP BY 1")"
grep -q accepted "$STALL/accepted" 2>/dev/null
ok $? "the stalled IMAP server has a connection waiting for its greeting"
sleep 1

t0=$(date +%s%N)
kill -TERM "$STACK_DAEMON_PID"
wait "$STACK_DAEMON_PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
STACK_DAEMON_PID=
ok $([ "$rc" = 0 ] && [ "$ms" -lt 10000 ]; echo $?) \
	"SIGTERM: a clean exit within 10 s${STACK_DAEMON_WRAPPER:+ (under valgrind: no errors, no leaks)}" \
	"status $rc after $ms ms$([ -s "$vglog" ] && printf '; %s' "$(head -c 2000 "$vglog")")"
grep -q 'event=exit' "$STACK_LOG"
ok $? "the log says the daemon stopped"
grep -Eq 'sender=[0-9]+ event=stopped .*released=[1-9]' "$STACK_LOG"
ok $? "the senders released their unsent claims" "$(grep 'sender=.*event=stopped' "$STACK_LOG")"
grep -q 'mailbox=stalled event=stopped' "$STACK_LOG"
ok $? "the stalled mailbox's worker stopped" "$(grep 'mailbox=stalled' "$STACK_LOG" | tail -3)"
got=$(q "SELECT count(*) FILTER (WHERE status = 'queued' AND attempts = 0 AND next_attempt_at <= now()),
	count(*) FILTER (WHERE status = 'sending'), count(*) FILTER (WHERE status = 'sent')
	FROM outbox" | tr '|' ' ')
ok $([ "$got" = "$MAILS 0 0" ]; echo $?) \
	"after the stop every row is queued, due, its attempt not counted; none sending or sent" \
	"queued/sending/sent: $got"
ok $([ "$(smtp_count)" = 0 ]; echo $?) "nothing reached the relay" "$(smtp_count) mails"

# A restart with a working relay sends each row once.
smtp_mode accept
daemon_start
stack_wait "SELECT count(*) FROM outbox WHERE status = 'sent'" $MAILS 60
ok $? "after a restart every row is sent" "$(q "SELECT status, count(*) FROM outbox GROUP BY 1")"
smtp_wait_count $MAILS 10
read -r total distinct < <("$PY" - "$SMTP_MAILDIR/new" <<'EOF_PY'
import email, os, sys
top = sys.argv[1]
mids = []
for name in os.listdir(top):
    with open(os.path.join(top, name), "rb") as f:
        mids.append(email.message_from_binary_file(f).get("Message-ID"))
print(len(mids), len(set(mids)))
EOF_PY
)
ok $([ "$total" = $MAILS ] && [ "$distinct" = $MAILS ]; echo $?) \
	"the relay got each acknowledgement exactly once" "$total mails, $distinct distinct"
daemon_stop
rc=$?
ok $rc "the second stop is clean too" "status $rc$([ -s "$vglog" ] && printf '; %s' "$(head -c 2000 "$vglog")")"
echo "1..$n"
