#!/bin/bash
# SLA timers with the real daemon and PostgreSQL: tickets under a test
# policy with targets of seconds on the 24x7 calendar get exactly one
# warning and one breach per timer, on time (within 2 s, room for a loaded
# machine; the worst lateness is printed); the same when the
# daemon is stopped across the due moments and started again, and with two
# daemons on one database.  Pending stops the resolution clock, a first
# reply stops the first-response clock, a reclassification recomputes, and
# the queue's lead is mailed.

: "${top_srcdir:?}" "${top_builddir:?}"
STACK_EXTRA_CONF='
[queue network]
[sla test]
first_response = 3s
resolution = 6s
calendar = 24x7
warn = 50
notify = lead

[sla critical]
priority = critical
resolution = 2s
calendar = 24x7
warn = 50
'
. "$top_srcdir/tests/lib/stack.sh"

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check DESC WANT QUERY
	local got
	got=$(stack_sql "$3" 2>&1)
	if [ "$got" = "$2" ]; then ok "$1"; else not_ok "$1"; echo "#   got '$got', want '$2'"; fi
}

echo "1..22"
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	exit 0
fi

# TICKETS N TAG: N new tickets whose subject starts with TAG.
tickets() {
	stack_sql "INSERT INTO tickets (requester_address, subject)
		SELECT 'r' || g || '@kinnula.fi', '$2 ' || g FROM generate_series(1, $1) g" >/dev/null
}
# The events of the tickets tagged TAG that broke a rule: not exactly one
# sla_warning and one sla_breach per timer.
exactly_once() {
	echo "SELECT count(*) FROM (SELECT t.number, k.kind, e.kind AS ev, count(e.id)
		FROM tickets t CROSS JOIN (VALUES ('first_response'), ('resolution')) k(kind)
		CROSS JOIN (VALUES ('sla_warning'), ('sla_breach')) w(kind)
		LEFT JOIN events e ON e.ticket = t.number AND e.kind = w.kind
			AND e.data->>'timer' = k.kind
		WHERE t.subject LIKE '$1 %' GROUP BY 1, 2, 3 HAVING count(e.id) <> 1) x"
}
late() { # LATE TAG SECONDS: events more than SECONDS from their moment
	echo "SELECT count(*) FROM events e JOIN tickets t ON t.number = e.ticket
		JOIN sla_timers s ON s.ticket = e.ticket AND s.kind = e.data->>'timer'
		WHERE t.subject LIKE '$1 %' AND e.kind IN ('sla_warning', 'sla_breach')
		AND abs(extract(epoch FROM e.at - CASE e.kind WHEN 'sla_warning' THEN s.warn_at
			ELSE s.due_at END)) > $2"
}
# Due moments off the arithmetic: created + target (rounded to the second).
misdue() {
	echo "SELECT count(*) FROM sla_timers s JOIN tickets t ON t.number = s.ticket
		WHERE t.subject LIKE '$1 %' AND (abs(extract(epoch FROM s.due_at
			- (t.created_at + make_interval(secs => s.target)))) > 0.5
		OR abs(extract(epoch FROM s.warn_at
			- (t.created_at + make_interval(secs => s.warn_after)))) > 0.5)"
}

stack_sql "INSERT INTO agents (login, name, email, role, queues)
	VALUES ('lead1', 'Lea Lead', 'lea.lead@seutu-it.fi', 'lead', '{triage}'),
	       ('lead2', 'Other Lead', 'other.lead@seutu-it.fi', 'lead', '{network}')" >/dev/null
daemon_start

# 1. On time, exactly once.
tickets 20 ontime
if stack_wait "SELECT count(*) FROM events e JOIN tickets t ON t.number = e.ticket
	WHERE t.subject LIKE 'ontime %' AND e.kind LIKE 'sla_%'" 80 30; then
	ok "20 tickets: 80 warnings and breaches fired"
else
	not_ok "20 tickets: 80 warnings and breaches fired"
fi
check "due moments are creation plus the targets" 0 "$(misdue ontime)"
check "exactly one warning and one breach per timer" 0 "$(exactly_once ontime)"
check "each fired within 2 s of its moment" 0 "$(late ontime 2)"
echo "# worst lateness (s): $(stack_sql "SELECT round(max(extract(epoch FROM e.at -
	CASE e.kind WHEN 'sla_warning' THEN s.warn_at ELSE s.due_at END))::numeric, 3)
	FROM events e JOIN sla_timers s ON s.ticket = e.ticket AND s.kind = e.data->>'timer'
	WHERE e.kind LIKE 'sla_%'")"
check "the policy and due times are on the tickets" 20 \
	"SELECT count(*) FROM tickets WHERE subject LIKE 'ontime %' AND sla_policy = 'test'
	 AND due_resolution = (SELECT due_at FROM sla_timers WHERE ticket = number
	 AND kind = 'resolution')"
check "the triage lead got a notice per warning and breach" 80 \
	"SELECT count(*) FROM outbox WHERE kind = 'notice' AND to_address = 'lea.lead@seutu-it.fi'"
check "the other queue's lead got none" 0 \
	"SELECT count(*) FROM outbox WHERE kind = 'notice' AND to_address = 'other.lead@seutu-it.fi'"
if smtp_wait_count 80 30; then ok "the notices reached the SMTP server"; else
	not_ok "the notices reached the SMTP server (got $(smtp_count))"; fi

# 2. Stopped across the due moments.
daemon_stop
tickets 10 downtime
sleep 7
check "nothing fires while no daemon runs" 0 \
	"SELECT count(*) FROM events e JOIN tickets t ON t.number = e.ticket
	 WHERE t.subject LIKE 'downtime %' AND e.kind LIKE 'sla_%'"
start=$(date +%s.%N)
daemon_start
if stack_wait "SELECT count(*) FROM events e JOIN tickets t ON t.number = e.ticket
	WHERE t.subject LIKE 'downtime %' AND e.kind LIKE 'sla_%'" 40 30; then
	ok "after the restart the missed warnings and breaches fire"
else
	not_ok "after the restart the missed warnings and breaches fire"
fi
echo "# caught up $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s after the start"
check "each once" 0 "$(exactly_once downtime)"
check "the earlier tickets fired nothing again" 0 "$(exactly_once ontime)"

# 3. Two daemons.
sed "s|^pid_file = .*|pid_file = $STACK_DIR/second.pid|" "$STACK_CONF" >"$STACK_DIR/second.conf"
"$top_builddir/seutudeskd" -f -c "$STACK_DIR/second.conf" >>"$STACK_DIR/second.log" 2>&1 &
second=$!
sleep 1
tickets 30 twice
if stack_wait "SELECT count(*) FROM events e JOIN tickets t ON t.number = e.ticket
	WHERE t.subject LIKE 'twice %' AND e.kind LIKE 'sla_%'" 120 30; then
	ok "two daemons: 120 warnings and breaches for 30 tickets"
else
	not_ok "two daemons: 120 warnings and breaches for 30 tickets"
fi
sleep 1
check "two daemons: each fired once" 0 "$(exactly_once twice)"
check "two daemons: on time" 0 "$(late twice 2)"
echo "# fired by the second daemon: $(grep -c 'event=fired' "$STACK_DIR/second.log")" \
	"rounds, by the first: $(grep -c 'event=fired' "$STACK_LOG") rounds"
kill -TERM $second
wait $second
if grep -qi 'error' "$STACK_DIR/second.log"; then
	not_ok "the second daemon logged no error"
	grep -i error "$STACK_DIR/second.log" | head -5 | sed 's/^/#   /'
else
	ok "the second daemon logged no error"
fi

# 4. Pending stops the resolution clock; the requester's reply resumes it.
tickets 1 paused
sleep 1
stack_sql "UPDATE tickets SET status = 'pending' WHERE subject = 'paused 1'" >/dev/null
sleep 4
stack_sql "UPDATE tickets SET status = 'open' WHERE subject = 'paused 1'" >/dev/null
moved="SELECT abs(extract(epoch FROM s.due_at - t.created_at - interval '6 s'
	 - (p.ended_at - p.started_at))) <= 1
	 FROM sla_timers s JOIN tickets t ON t.number = s.ticket JOIN sla_pauses p
	 ON p.ticket = t.number WHERE t.subject = 'paused 1' AND s.kind = 'resolution'"
stack_wait "$moved" t 30
check "the resolution due moment moved by the pause (4 s)" t "$moved"
check "the first-response clock did not pause" t \
	"SELECT abs(extract(epoch FROM s.due_at - t.created_at - interval '3 s')) <= 0.5
	 FROM sla_timers s JOIN tickets t ON t.number = s.ticket
	 WHERE t.subject = 'paused 1' AND s.kind = 'first_response'"

# 5. A first reply in time stops the first-response clock; resolving stops the other.
tickets 1 answered
stack_sql "UPDATE tickets SET first_response_at = now(), status = 'resolved', resolved_at = now()
	WHERE subject = 'answered 1'" >/dev/null
sleep 7
check "an answered and resolved ticket gets no breach" 0 \
	"SELECT count(*) FROM events e JOIN tickets t ON t.number = e.ticket
	 WHERE t.subject = 'answered 1' AND e.kind = 'sla_breach'"

# 6. Reclassification recomputes from the ticket's history.
tickets 1 reclass
sleep 0.5
stack_sql "UPDATE tickets SET priority = 'critical' WHERE subject = 'reclass 1'" >/dev/null
# Its resolution is due 2 s after creation: wait for the breach, not a fixed time.
stack_wait "SELECT count(*) FROM sla_timers s JOIN tickets t ON t.number = s.ticket
	WHERE t.subject = 'reclass 1' AND s.kind = 'resolution' AND s.breached_at IS NOT NULL" 1 30
check "a critical ticket moves to the critical policy" "critical|0" \
	"SELECT sla_policy || '|' || (SELECT count(*) FROM sla_timers WHERE ticket = number
	 AND kind = 'first_response') FROM tickets WHERE subject = 'reclass 1'"
check "its resolution is due 2 s after creation and has breached" t \
	"SELECT abs(extract(epoch FROM s.due_at - t.created_at - interval '2 s')) <= 0.5
	 AND s.breached_at IS NOT NULL FROM sla_timers s JOIN tickets t ON t.number = s.ticket
	 WHERE t.subject = 'reclass 1' AND s.kind = 'resolution'"

daemon_stop
if grep -q 'ERROR\|error' "$STACK_LOG"; then
	not_ok "the daemon logged no error"
	grep -i error "$STACK_LOG" | head -5 | sed 's/^/#   /'
else
	ok "the daemon logged no error"
fi
[ "$n" = 22 ] || echo "# ran $n tests, planned 22"
exit 0
