#!/bin/bash
# PostgreSQL failover under intake: a primary and a synchronous streaming
# standby (two private PostgreSQL 15 clusters on loopback), the daemon
# connected with a multi-host conninfo (host=127.0.0.1,127.0.0.1
# port=P,S target_session_attrs=read-write).  1,000 mails arrive in ten
# chunks; after the fourth the primary is killed with SIGKILL (the
# postmaster and every backend), the remaining chunks arrive while there is
# no primary, seutudeskctl says the database is read-only, and after
# FAILOVER_GAP seconds (default 3) the standby is promoted.  The daemon must
# reconnect on its own and carry on.
#
# At the end, on the promoted node: every mail is exactly one ticket, the
# INBOX is empty and Processed has every mail (nothing was moved whose
# commit the new primary lacks: commits wait for the standby), every
# acknowledgement went out exactly once (the daemon lived on, so the
# outbox's duplicate window, a daemon crash after the relay's 250, does
# not open), and the daemon stops cleanly.  FAILOVER_SEED repeats the
# moment of the kill.

: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/stack.sh"

CHUNKS=10
CHUNK=100
MAILS=$((CHUNKS * CHUNK))
KILL_AFTER=4
GAP=${FAILOVER_GAP:-3}
SEED=${FAILOVER_SEED:-$RANDOM}
RANDOM=$SEED
PY=/usr/bin/python3
SB_DIR=
SB_DATA=

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP the standby is made as the postgres user, which needs root"
	exit 0
fi
echo "1..15"
echo "# $MAILS mails in $CHUNKS chunks; the primary is killed after chunk $KILL_AFTER," \
	"the standby promoted $GAP s later; seed $SEED"
# The agents' API, for the client's view of the failover.
. "$top_srcdir/tests/lib/apitest.sh"
api_workdir failover
STACK_EXTRA_CONF="$(api_conf)"
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	rm -rf "$W"
	exit 0
fi

as_postgres() { (cd / && runuser -u postgres -- "$@"); }
standby_cleanup() {
	[ -n "$SB_DATA" ] && [ -f "$SB_DATA/postmaster.pid" ] &&
		as_postgres "$PG_BINDIR/pg_ctl" -D "$SB_DATA" -m immediate -w stop >/dev/null 2>&1
	[ -n "$SB_DIR" ] && rm -rf "$SB_DIR"
}
trap '[ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null; standby_cleanup; stack_cleanup; rm -rf "$W"' EXIT
# A commit waiting for a standby that is gone would wait for ever: bound the run.
api_watchdog 300

# The standby: a base backup of the primary, streaming through a slot.
SB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pg-standby.XXXXXX") && chmod 0755 "$SB_DIR" &&
	chown postgres:postgres "$SB_DIR" || { echo "Bail out! no standby directory"; exit 0; }
SB_DATA=$SB_DIR/data
P_PORT=$PGPORT
if ! as_postgres "$PG_BINDIR/pg_basebackup" -h 127.0.0.1 -p "$P_PORT" -U postgres -D "$SB_DATA" \
	-R -X stream -c fast -C -S standby1 >"$SB_DIR/basebackup.log" 2>&1; then
	echo "Bail out! pg_basebackup failed: $(tail -3 "$SB_DIR/basebackup.log")"
	exit 0
fi
for try in 1 2 3 4 5 6 7 8 9 10; do
	S_PORT=$((20000 + RANDOM % 20001))
	(exec 3<>"/dev/tcp/127.0.0.1/$S_PORT") 2>/dev/null && continue
	as_postgres "$PG_BINDIR/pg_ctl" -D "$SB_DATA" -l "$SB_DIR/postgres.log" -w -t 60 \
		-o "-p $S_PORT -k $SB_DIR -c listen_addresses=127.0.0.1 -c cluster_name=standby1" \
		start >/dev/null 2>&1 && break
	S_PORT=
done
[ -n "$S_PORT" ] || { echo "Bail out! the standby did not start: $(tail -3 "$SB_DIR/postgres.log")"; exit 0; }

# Synchronous: a COMMIT returns once the standby has the WAL on disk.
stack_sql "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" >/dev/null &&
	stack_sql "SELECT pg_reload_conf()" >/dev/null
stack_wait "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'" \
	sync 30 && echo "ok 1 - a synchronous streaming standby follows the primary" ||
	echo "not ok 1 - the standby is not a synchronous one"

MULTI="host=127.0.0.1,127.0.0.1 port=$P_PORT,$S_PORT user=postgres dbname=seutudesk target_session_attrs=read-write connect_timeout=2"
sed -i "s|^conninfo = .*|conninfo = $MULTI|" "$STACK_CONF"

for c in $(seq 1 $CHUNKS); do
	"$top_srcdir/tests/lib/genmail.sh" -n $CHUNK -s "$c" -p "fo$c" \
		-o "$STACK_DIR/chunk$c.mbox" -l "$STACK_DIR/ids$c" ||
		{ echo "Bail out! genmail failed"; exit 0; }
done
cat "$STACK_DIR"/ids[0-9]* | sort >"$STACK_DIR/ids.sorted"

folder_count() {
	doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u test messages "$1" 2>/dev/null |
		sed 's/.*messages=//'
}
count_sql() { stack_sql "$1" 2>/dev/null || echo '?'; }
batches() { grep -c 'mailbox=support event=batch' "$STACK_LOG" 2>/dev/null; }

"$top_builddir/seutudeskctl" -c "$STACK_CONF" agent add anna --name 'Agent anna' \
	--email anna@seutu-it.fi >"$W/ctl.log" 2>&1 || echo "# agent add failed: $(tail -1 "$W/ctl.log")"
TOKEN=$("$top_builddir/seutudeskctl" -c "$STACK_CONF" token issue anna 2>>"$W/ctl.log" |
	grep -o 'sdt_[A-Za-z0-9_-]*' | head -1)
sd() { # the terminal client's list, as the agent anna
	HOME=$W SEUTUDESK_URL=$base SEUTUDESK_TOKEN=$TOKEN SEUTUDESK_CA=$W/cert.pem \
		"$top_builddir/seutudesk" list
}

daemon_start
api_wait || echo "# the daemon does not serve the API on $base"
for c in $(seq 1 $KILL_AFTER); do
	dovecot_import_many test "$STACK_DIR/chunk$c.mbox" || echo "# import of chunk $c failed"
	[ $c -lt $KILL_AFTER ] && sleep 0.3
done
# The kill comes 0 to 150 ms after the last import: intake is under way.
ms=$((RANDOM % 151))
sleep "$(printf '0.%03d' "$ms")"

# Kill the primary outright: the postmaster and all its children at once.
pm=$(head -1 "$PG_DATA/postmaster.pid")
# shellcheck disable=SC2046
kill -KILL "$pm" $(ps -o pid= --ppid "$pm") 2>/dev/null
t_kill=$(date +%s%3N)
before=$(batches)
echo "# primary killed ${ms} ms after the last import: $(grep -c 'event=batch' "$STACK_LOG") batches stored before, inbox=$(folder_count INBOX)"
for c in $(seq $((KILL_AFTER + 1)) $CHUNKS); do
	dovecot_import_many test "$STACK_DIR/chunk$c.mbox" || echo "# import of chunk $c failed"
done

# With no primary, the admin's tool says what is wrong in plain words.
out=$("$top_builddir/seutudeskctl" -c "$STACK_CONF" agent list 2>&1)
rc=$?
echo "# seutudeskctl with no primary: $(echo "$out" | head -1)"
[ $rc != 0 ] && echo "$out" | grep -q 'the database is read-only (a standby)' &&
	echo "ok 2 - seutudeskctl says the database is read-only when only the standby answers" ||
	echo "not ok 2 - seutudeskctl with no primary: rc=$rc: $out"
out=$("$top_builddir/seutudeskctl" agent add --database \
	"host=127.0.0.1 port=$S_PORT user=postgres dbname=seutudesk" --name 'Failover Test' \
	--email fo@example.org fo-test 2>&1)
rc=$?
[ $rc != 0 ] && echo "$out" | grep -q 'the database is read-only (a standby)' &&
	echo "ok 3 - a write on the standby itself is refused as read-only, in plain words" ||
	echo "not ok 3 - seutudeskctl agent add on the standby: rc=$rc: $out"
sd >/dev/null 2>"$W/sd.err"
rc=$?
echo "# seutudesk list with no primary: rc=$rc: $(head -1 "$W/sd.err")"
[ $rc != 0 ] && grep -q 'the database is read-only (a standby)' "$W/sd.err" &&
	echo "ok 4 - the client says the database is read-only" ||
	echo "not ok 4 - seutudesk list with no primary: rc=$rc: $(cat "$W/sd.err")"
[ "$(batches)" = "$before" ] &&
	echo "ok 5 - nothing was stored while there was no primary" ||
	echo "not ok 5 - $(($(batches) - before)) batches logged as stored with no primary"

now=$(date +%s%3N)
[ $((now - t_kill)) -lt $((GAP * 1000)) ] && sleep "$(printf '%d.%03d' $(((GAP * 1000 - now + t_kill) / 1000)) $(((GAP * 1000 - now + t_kill) % 1000)))"
as_postgres "$PG_BINDIR/pg_ctl" -D "$SB_DATA" -w -t 60 promote >/dev/null 2>&1
t_promote=$(date +%s%3N)
# From now on the stack's psql talks to the promoted node.
PGHOST=$SB_DIR
PGPORT=$S_PORT
export PGHOST PGPORT
[ "$(count_sql 'SELECT pg_is_in_recovery()')" = f ] && echo "ok 6 - the standby was promoted" ||
	echo "not ok 6 - the standby is still in recovery after pg_ctl promote"

took=
while [ $(($(date +%s%3N) - t_promote)) -le 60000 ]; do
	if [ "$(batches)" -gt "$before" ]; then
		took=$(($(date +%s%3N) - t_promote))
		break
	fi
	sleep 0.1
done
echo "# the first batch after the failover stored ${took:-never} ms after the promotion" \
	"($((t_promote - t_kill)) ms after the kill)"
[ -n "$took" ] && [ "$took" -le 30000 ] &&
	echo "ok 7 - the daemon reconnected to the promoted node and stored mail within 30 s" ||
	echo "not ok 7 - no mail stored within 30 s of the promotion (${took:-never} ms)"

# The API's database workers wait out their backoff (at most 15 s).
for i in $(seq 1 60); do
	sd >/dev/null 2>"$W/sd.err"
	rc=$?
	[ $rc = 0 ] && break
	sleep 0.5
done
[ $rc = 0 ] && echo "ok 8 - the client works again $(($(date +%s%3N) - t_promote)) ms after the promotion" ||
	echo "not ok 8 - seutudesk list 30 s after the failover: rc=$rc: $(cat "$W/sd.err")"

stack_wait 'SELECT count(*) FROM intake_log' "$MAILS" 120
stack_wait "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')" 0 120
smtp_wait_count "$MAILS" 30
sleep 1 # anything still on its way
pid=$STACK_DAEMON_PID
kill -0 "$pid" 2>/dev/null
alive=$?
daemon_stop
rc=$?
[ $alive = 0 ] && [ $rc = 0 ] && echo "ok 9 - the daemon stayed up through the failover and stopped cleanly" ||
	echo "not ok 9 - the daemon: alive=$alive exit=$rc"

got=$(count_sql "SELECT count(*) FILTER (WHERE outcome = 'new') || ' ' || count(*) FROM intake_log")
[ "$got" = "$MAILS $MAILS" ] && echo "ok 10 - intake_log: $MAILS rows, all new" ||
	echo "not ok 10 - intake_log (new, all): $got, want $MAILS $MAILS"

got=$(count_sql "SELECT count(*) || ' ' || count(DISTINCT m.message_id) FROM tickets t
	JOIN messages m ON m.ticket = t.number AND m.direction = 'in'")
stack_sql "SELECT m.message_id FROM messages m WHERE m.direction = 'in'" 2>/dev/null |
	sort >"$STACK_DIR/stored"
[ "$got" = "$MAILS $MAILS" ] && cmp -s "$STACK_DIR/stored" "$STACK_DIR/ids.sorted" &&
	echo "ok 11 - $MAILS tickets, one first message each, exactly the mailbox's Message-IDs" ||
	{ echo "not ok 11 - tickets (first messages, distinct Message-IDs): $got, want $MAILS $MAILS";
	  diff "$STACK_DIR/ids.sorted" "$STACK_DIR/stored" | head -5 | sed 's/^/#   /'; }

inbox=$(folder_count INBOX) processed=$(folder_count Processed)
[ "$inbox" = 0 ] && [ "$processed" = "$MAILS" ] &&
	echo "ok 12 - the IMAP server: INBOX empty, the $MAILS mails in Processed once each" ||
	echo "not ok 12 - INBOX has $inbox, Processed $processed (want 0, $MAILS)"

got=$(count_sql "SELECT count(*) FILTER (WHERE status = 'sent') || ' ' || count(*) FROM outbox")
[ "$got" = "$MAILS $MAILS" ] && echo "ok 13 - outbox: $MAILS rows, all sent" ||
	echo "not ok 13 - outbox (sent, all): $got, want $MAILS $MAILS"

"$PY" "$top_srcdir/tests/lib/acks.py" "$SMTP_MAILDIR/new" "$STACK_DIR/acks"
read -r deliveries distinct distinct_irt <"$STACK_DIR/acks"
echo "# acks: $deliveries deliveries, $distinct distinct Message-IDs"
[ "$deliveries" = "$MAILS" ] && [ "$distinct" = "$MAILS" ] &&
	cmp -s "$STACK_DIR/acks.irt" "$STACK_DIR/ids.sorted" &&
	echo "ok 14 - $MAILS acks, each sent once, each answering a different request" ||
	echo "not ok 14 - acks: $deliveries deliveries, $distinct distinct, $distinct_irt requests answered; want $MAILS each"

bad=$(grep -cE 'AddressSanitizer|runtime error|Assertion|event=not_started|event=rejected' "$STACK_LOG")
[ "$bad" = 0 ] && echo "ok 15 - the daemon's log shows no crash of its own" ||
	{ echo "not ok 15 - the daemon's log:"; grep -E 'AddressSanitizer|runtime error|Assertion|event=not_started|event=rejected' "$STACK_LOG" | head -5 | sed 's/^/#   /'; }
grep -E 'event=retry|connect_failed|unconfirmed|recover' "$STACK_LOG" | head -8 | sed 's/^/# log: /'
