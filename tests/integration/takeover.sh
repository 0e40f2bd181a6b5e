#!/bin/bash
# Several daemons, one database: two seutudeskd share one PostgreSQL and
# one Dovecot mailbox.  1,000 mails arrive in ten chunks of 100; three
# times during the intake the daemon holding the mailbox (the one whose
# session holds its advisory lock) is killed with SIGKILL, the next chunk
# arrives at once, and the other daemon must take the mailbox over and
# store mail within TAKEOVER_BOUND seconds of the kill (default 10: the
# standby tries the lock every 2 s, and a killed client's backend ends, and
# releases the lock, as soon as it sees the closed socket).  The killed
# daemon is then restarted, so that two run again.
#
# At the end: every mail is exactly one ticket, the INBOX is empty and
# Processed has every mail, every acknowledgement went out, and the SMTP
# server got one per request; the only copies allowed are the outbox's
# documented window (a kill between the relay's 250 and the commit of
# 'sent'), at most one per kill, each with the same Message-ID.
#
# TAKEOVER_SEED repeats the kill moments; TAKEOVER_BOUND changes the bound.

: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/stack.sh"

CHUNKS=10
CHUNK=100
MAILS=$((CHUNKS * CHUNK))
KILL_AFTER="3 6 9" # the chunks after which the holder is killed
KILLS=3
BOUND=${TAKEOVER_BOUND:-10}
SEED=${TAKEOVER_SEED:-$RANDOM}
RANDOM=$SEED
PY=/usr/bin/python3

echo "1..13"
echo "# $MAILS mails in $CHUNKS chunks, $KILLS kills of the mailbox's holder, bound ${BOUND} s," \
	"seed $SEED"
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	exit 0
fi

for c in $(seq 1 $CHUNKS); do
	"$top_srcdir/tests/lib/genmail.sh" -n $CHUNK -s "$((SEED + c))" -p "ha$c" \
		-o "$STACK_DIR/chunk$c.mbox" -l "$STACK_DIR/ids$c" ||
		{ echo "Bail out! genmail failed"; exit 0; }
done
cat "$STACK_DIR"/ids[0-9]* | sort >"$STACK_DIR/ids.sorted"

# Two configurations that differ in the pid file and in the name each
# daemon's sessions carry (application_name), which tells the holder.
for d in a b; do
	sed -e "s|^pid_file = .*|pid_file = $STACK_DIR/seutudeskd-$d.pid|" \
		-e "s|^conninfo = .*|conninfo = $STACK_DB application_name=ha-$d|" \
		"$STACK_CONF" >"$STACK_DIR/$d.conf"
done

declare -A PID
start() { # start a|b
	"$top_builddir/seutudeskd" -f -c "$STACK_DIR/$1.conf" >>"$STACK_DIR/$1.log" 2>&1 &
	PID[$1]=$!
}
kill_daemon() { # kill_daemon a|b SIGNAL
	[ -n "${PID[$1]:-}" ] || return 0
	kill "-$2" "${PID[$1]}" 2>/dev/null
	wait "${PID[$1]}" 2>/dev/null
	local rc=$?
	PID[$1]=
	return $rc
}
cleanup() {
	kill_daemon a KILL
	kill_daemon b KILL
	stack_cleanup
}
trap cleanup EXIT

holder() { # the daemon whose session holds the mailbox's lock, or nothing
	stack_sql "SELECT substr(a.application_name, 4) FROM pg_locks l
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted
		AND a.application_name LIKE 'ha-_'" 2>/dev/null | head -1
}
batches() { grep -c 'mailbox=support event=batch' "$STACK_DIR/$1.log" 2>/dev/null; }
folder_count() {
	doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u test messages "$1" 2>/dev/null |
		sed 's/.*messages=//'
}
count_sql() { stack_sql "$1" 2>/dev/null || echo '?'; }
now_ms() { date +%s%3N; }

start a
start b
h=
for i in $(seq 1 100); do
	h=$(holder)
	[ -n "$h" ] && break
	sleep 0.1
done
[ -n "$h" ] && echo "ok 1 - daemon $h holds the mailbox, the other stands by" ||
	echo "not ok 1 - no daemon took the mailbox's lock within 10 s"

takeovers=()
worst=0
c=1
while [ $c -le $CHUNKS ]; do
	dovecot_import_many test "$STACK_DIR/chunk$c.mbox" || echo "# import of chunk $c failed"
	if [[ " $KILL_AFTER " == *" $c "* ]]; then
		# 0 to 200 ms after the import: the holder is storing that chunk.
		ms=$((RANDOM % 201))
		sleep "$(printf '0.%03d' "$ms")"
		h=$(holder)
		[ -n "$h" ] || { echo "# no holder before the kill after chunk $c"; h=a; }
		o=$([ "$h" = a ] && echo b || echo a)
		before=$(batches "$o")
		t0=$(now_ms)
		kill_daemon "$h" KILL
		echo "# chunk $c: killed $h ${ms} ms after the import: intake_log=$(count_sql 'SELECT count(*) FROM intake_log')" \
			"inbox=$(folder_count INBOX)"
		# Mail waits for the new holder.
		c=$((c + 1))
		dovecot_import_many test "$STACK_DIR/chunk$c.mbox" || echo "# import of chunk $c failed"
		took=
		while [ $(($(now_ms) - t0)) -le $((BOUND * 1000 + 5000)) ]; do
			if [ "$(batches "$o")" -gt "$before" ]; then
				took=$(($(now_ms) - t0))
				break
			fi
			sleep 0.05
		done
		takeovers+=("${took:-none}")
		echo "# takeover by $o: first batch stored ${took:-never} ms after the kill;" \
			"holder now $(holder)"
		[ -n "$took" ] && [ "$took" -gt "$worst" ] && worst=$took
		[ -z "$took" ] && worst=999999
		start "$h"
	else
		sleep 0.3
	fi
	c=$((c + 1))
done

n_ok=0
for t in "${takeovers[@]}"; do
	[ "$t" != none ] && [ "$t" -le $((BOUND * 1000)) ] && n_ok=$((n_ok + 1))
done
[ $n_ok = $KILLS ] &&
	echo "ok 2 - each of the $KILLS takeovers stored mail within ${BOUND} s of the kill (${takeovers[*]} ms)" ||
	echo "not ok 2 - takeovers (ms from kill to the other's first batch): ${takeovers[*]}; bound ${BOUND} s"

# Both run until every mail is in and every ack is out.
stack_wait 'SELECT count(*) FROM intake_log' "$MAILS" 120
stack_wait "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')" 0 120
smtp_wait_count "$MAILS" 30
sleep 1 # anything still on its way

alive=0
for d in a b; do kill -0 "${PID[$d]}" 2>/dev/null || alive=1; done
rc=0
for d in a b; do kill_daemon $d TERM || rc=$?; done
[ $alive = 0 ] && [ $rc = 0 ] && echo "ok 3 - both daemons stayed up to the end and stopped cleanly" ||
	echo "not ok 3 - the daemons at the end: alive=$alive exit=$rc"

got=$(count_sql "SELECT count(*) FILTER (WHERE outcome = 'new') || ' ' || count(*) FROM intake_log")
[ "$got" = "$MAILS $MAILS" ] && echo "ok 4 - intake_log: $MAILS rows, all new" ||
	echo "not ok 4 - intake_log (new, all): $got, want $MAILS $MAILS"

got=$(count_sql "SELECT count(*) || ' ' || count(DISTINCT m.message_id) FROM tickets t
	JOIN messages m ON m.ticket = t.number AND m.direction = 'in'")
[ "$got" = "$MAILS $MAILS" ] && echo "ok 5 - $MAILS tickets, one first message each" ||
	echo "not ok 5 - tickets (first messages, distinct Message-IDs): $got, want $MAILS $MAILS"

stack_sql "SELECT m.message_id FROM messages m WHERE m.direction = 'in'" 2>/dev/null |
	sort >"$STACK_DIR/stored"
if cmp -s "$STACK_DIR/stored" "$STACK_DIR/ids.sorted"; then
	echo "ok 6 - the stored Message-IDs are exactly the mailbox's"
else
	echo "not ok 6 - the stored Message-IDs differ from the mailbox's:"
	diff "$STACK_DIR/ids.sorted" "$STACK_DIR/stored" | head -5 | sed 's/^/#   /'
fi

inbox=$(folder_count INBOX) processed=$(folder_count Processed)
[ "$inbox" = 0 ] && [ "$processed" = "$MAILS" ] &&
	echo "ok 7 - the IMAP server: INBOX empty, the $MAILS mails in Processed once each" ||
	echo "not ok 7 - INBOX has $inbox, Processed $processed (want 0, $MAILS)"

got=$(count_sql "SELECT count(*) FILTER (WHERE status = 'sent') || ' ' || count(*) FROM outbox")
[ "$got" = "$MAILS $MAILS" ] && echo "ok 8 - outbox: $MAILS rows, all sent" ||
	echo "not ok 8 - outbox (sent, all): $got, want $MAILS $MAILS"

# What the SMTP server received: deliveries, distinct Message-IDs, and the
# In-Reply-To of each (the requester's Message-ID).
"$PY" "$top_srcdir/tests/lib/acks.py" "$SMTP_MAILDIR/new" "$STACK_DIR/acks"
read -r deliveries distinct distinct_irt <"$STACK_DIR/acks"
dups=$((deliveries - distinct))
echo "# acks: $deliveries deliveries, $distinct distinct Message-IDs, $dups duplicate deliveries"

[ "$distinct" = "$MAILS" ] && [ "$distinct_irt" = "$MAILS" ] &&
	echo "ok 9 - $MAILS distinct acks, each answering a different request" ||
	echo "not ok 9 - distinct acks $distinct, distinct In-Reply-To $distinct_irt; want $MAILS"

if cmp -s "$STACK_DIR/acks.irt" "$STACK_DIR/ids.sorted"; then
	echo "ok 10 - the acks' In-Reply-To are exactly the requests' Message-IDs"
else
	echo "not ok 10 - the acks' In-Reply-To differ from the requests' Message-IDs:"
	diff "$STACK_DIR/ids.sorted" "$STACK_DIR/acks.irt" | head -5 | sed 's/^/#   /'
fi

[ "$dups" -le "$KILLS" ] && echo "ok 11 - $dups duplicate deliveries, at most one per kill ($KILLS)" ||
	echo "not ok 11 - $dups duplicate deliveries after $KILLS kills"

# Each kill shows in the survivor's log as a takeover.
taken=$(cat "$STACK_DIR/a.log" "$STACK_DIR/b.log" | grep -c 'event=locked reason="taken over')
[ "$taken" -ge "$KILLS" ] && echo "ok 12 - the logs show $taken takeovers of the mailbox" ||
	echo "not ok 12 - the logs show $taken takeovers, want at least $KILLS"

bad=$(cat "$STACK_DIR/a.log" "$STACK_DIR/b.log" |
	grep -cE 'AddressSanitizer|runtime error|Assertion|event=not_started|event=rejected')
[ "$bad" = 0 ] && echo "ok 13 - the daemons' logs show no crash of their own" ||
	{ echo "not ok 13 - the daemons' logs:"; cat "$STACK_DIR/a.log" "$STACK_DIR/b.log" |
		grep -E 'AddressSanitizer|runtime error|Assertion|event=not_started|event=rejected' |
		head -5 | sed 's/^/#   /'; }
grep -hE 'event=locked|event=standby' "$STACK_DIR/a.log" "$STACK_DIR/b.log" | head -12 |
	sed 's/^/# log: /'
