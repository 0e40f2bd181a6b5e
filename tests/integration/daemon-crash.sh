#!/bin/bash
# Crash safety of seutudeskd: 1,000 mails in the support mailbox; the daemon
# is killed with SIGKILL at random moments while intake and sending are in
# progress, restarted each time, and finally run until it is quiet.  Then
# there are exactly 1,000 tickets, the mailbox is empty, every
# acknowledgement is sent, and the SMTP server got one per request: the only
# copies allowed are the outbox's documented window (a kill between the
# relay's 250 and the commit of 'sent'), at most one per sender per kill.
#
# CRASH_MAILS, CRASH_KILLS and CRASH_SEED change the defaults (1000, 4,
# random).  Prints the figures as TAP comments.

: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/stack.sh"

MAILS=${CRASH_MAILS:-1000}
KILLS=${CRASH_KILLS:-4}
SEED=${CRASH_SEED:-$RANDOM}
RANDOM=$SEED
PY=/usr/bin/python3

echo "1..10"
echo "# $MAILS mails, $KILLS kills, seed $SEED (CRASH_SEED=$SEED repeats the kill times)"
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	exit 0
fi

"$top_srcdir/tests/lib/genmail.sh" -n "$MAILS" -s "$SEED" -p crash -o "$STACK_DIR/mails.mbox" \
	-l "$STACK_DIR/ids" || { echo "Bail out! genmail failed"; exit 0; }
dovecot_import_many test "$STACK_DIR/mails.mbox" || { echo "Bail out! import failed"; exit 0; }

folder_count() {
	doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u test messages "$1" 2>/dev/null |
		sed 's/.*messages=//'
}

count_sql() {
	stack_sql "$1" 2>/dev/null || echo '?'
}

# Kills at random moments, 0.2 to 1.5 s after each start.
for k in $(seq 1 "$KILLS"); do
	daemon_start
	ms=$((200 + RANDOM % 1301))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	daemon_kill
	echo "# kill $k after ${ms} ms: intake_log=$(count_sql 'SELECT count(*) FROM intake_log')" \
		"sent=$(count_sql "SELECT count(*) FROM outbox WHERE status = 'sent'")" \
		"sending=$(count_sql "SELECT count(*) FROM outbox WHERE status = 'sending'")" \
		"smtp=$(smtp_count) inbox=$(folder_count INBOX)"
done

# The final run, until every mail is in and every ack is out.
t0=$(date +%s)
daemon_start
final_pid=$STACK_DAEMON_PID
stack_wait 'SELECT count(*) FROM intake_log' "$MAILS" 120
stack_wait "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')" 0 120
smtp_wait_count "$MAILS" 30
sleep 1 # anything still on its way
kill -0 "$final_pid" 2>/dev/null
alive=$?
daemon_stop
rc=$?
echo "# final run: quiet after $(($(date +%s) - t0)) s"

[ $alive = 0 ] && [ $rc = 0 ] && echo "ok 1 - the final run stayed up and stopped cleanly" ||
	echo "not ok 1 - the final run: alive=$alive exit=$rc"

got=$(count_sql "SELECT count(*) FILTER (WHERE outcome = 'new') || ' ' || count(*) FROM intake_log")
[ "$got" = "$MAILS $MAILS" ] && echo "ok 2 - intake_log: $MAILS rows, all new" ||
	echo "not ok 2 - intake_log (new, all): $got, want $MAILS $MAILS"

got=$(count_sql "SELECT count(*) || ' ' || count(DISTINCT m.message_id) FROM tickets t
	JOIN messages m ON m.ticket = t.number AND m.direction = 'in'")
[ "$got" = "$MAILS $MAILS" ] && echo "ok 3 - $MAILS tickets, one first message each" ||
	echo "not ok 3 - tickets (first messages, distinct Message-IDs): $got, want $MAILS $MAILS"

stack_sql "SELECT m.message_id FROM messages m WHERE m.direction = 'in'" 2>/dev/null |
	sort >"$STACK_DIR/stored"
sort "$STACK_DIR/ids" >"$STACK_DIR/ids.sorted"
if cmp -s "$STACK_DIR/stored" "$STACK_DIR/ids.sorted"; then
	echo "ok 4 - the stored Message-IDs are exactly the mailbox's"
else
	echo "not ok 4 - the stored Message-IDs differ from the mailbox's:"
	diff "$STACK_DIR/ids.sorted" "$STACK_DIR/stored" | head -5 | sed 's/^/#   /'
fi

inbox=$(folder_count INBOX) processed=$(folder_count Processed)
[ "$inbox" = 0 ] && [ "$processed" = "$MAILS" ] &&
	echo "ok 5 - every mail moved out of INBOX, $MAILS in Processed" ||
	echo "not ok 5 - INBOX has $inbox, Processed $processed (want 0, $MAILS)"

got=$(count_sql "SELECT count(*) FILTER (WHERE status = 'sent') || ' ' || count(*) FROM outbox")
[ "$got" = "$MAILS $MAILS" ] && echo "ok 6 - outbox: $MAILS rows, all sent" ||
	echo "not ok 6 - outbox (sent, all): $got, want $MAILS $MAILS"

# What the SMTP server received: deliveries, distinct Message-IDs, and the
# In-Reply-To of each (the requester's Message-ID).
"$PY" "$top_srcdir/tests/lib/acks.py" "$SMTP_MAILDIR/new" "$STACK_DIR/acks"
read -r deliveries distinct distinct_irt <"$STACK_DIR/acks"
dups=$((deliveries - distinct))
recovered=$(count_sql "SELECT count(*) FROM outbox WHERE last_error LIKE '%did not finish%'")
echo "# acks: $deliveries deliveries, $distinct distinct Message-IDs, $dups duplicate deliveries," \
	"$recovered outbox rows taken over from a killed sender"

[ "$distinct" = "$MAILS" ] && [ "$distinct_irt" = "$MAILS" ] &&
	echo "ok 7 - $MAILS distinct acks, each answering a different request" ||
	echo "not ok 7 - distinct acks $distinct, distinct In-Reply-To $distinct_irt; want $MAILS"

if cmp -s "$STACK_DIR/acks.irt" "$STACK_DIR/ids.sorted"; then
	echo "ok 8 - the acks' In-Reply-To are exactly the requests' Message-IDs"
else
	echo "not ok 8 - the acks' In-Reply-To differ from the requests' Message-IDs:"
	diff "$STACK_DIR/ids.sorted" "$STACK_DIR/acks.irt" | head -5 | sed 's/^/#   /'
fi

[ "$dups" -le "$KILLS" ] && echo "ok 9 - $dups duplicate deliveries, at most one per kill ($KILLS)" ||
	echo "not ok 9 - $dups duplicate deliveries after $KILLS kills"

# Nothing went wrong inside the daemon beyond what the kills explain.
bad=$(grep -cE 'AddressSanitizer|runtime error|Assertion|event=not_started|outcome=rejected' \
	"$STACK_LOG")
[ "$bad" = 0 ] && echo "ok 10 - the daemon's log shows no crash of its own" ||
	{ echo "not ok 10 - the daemon's log:"; grep -E 'AddressSanitizer|runtime error|Assertion|event=not_started|rejected' "$STACK_LOG" | head -5 | sed 's/^/#   /'; }
grep -E 'event=recover_claims|event=retry' "$STACK_LOG" | head -10 | sed 's/^/# log: /'
