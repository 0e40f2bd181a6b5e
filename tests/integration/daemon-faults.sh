#!/bin/bash
# seutudeskd under faults, one daemon process throughout: (a) PostgreSQL
# stopped for 20 s during intake, (b) Dovecot restarted during intake, (c)
# the SMTP relay down for a minute during sending, (d) malformed and
# oversized mails in the middle of the mailbox.  After each, the counts are
# exact: one intake_log row and one ticket per mail, the folder empty, one
# acknowledgement per request at the SMTP server.  About two and a half
# minutes.  FAULTS_PG_DOWN and FAULTS_SMTP_DOWN (seconds) shorten the
# outages for a quick look.
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/stack.sh"

PG_DOWN=${FAULTS_PG_DOWN:-20}
SMTP_DOWN=${FAULTS_SMTP_DOWN:-60}
PY=/usr/bin/python3
GEN=$top_srcdir/tests/lib/genmail.sh
T0=$(date +%s)

# Mail over 1 MiB keeps its header and first text part only.
STACK_EXTRA_CONF=$(printf '\n[limits]\nmax_message_size = 1M\n')
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	exit 0
fi

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
elapsed() { echo "$(($(date +%s) - T0)) s"; }
folder_count() {
	doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u test messages "$1" 2>/dev/null |
		sed 's/.*messages=//'
}
# gen PREFIX N [genmail options]: a mailbox file and its Message-IDs.
gen() {
	local p=$1 count=$2
	shift 2
	"$GEN" -n "$count" -p "$p" -s "${#p}$count" -o "$STACK_DIR/$p.mbox" -l "$STACK_DIR/$p.ids" "$@"
}
# Waits until intake_log has N rows; prints how long it took.
wait_intake() {
	stack_wait 'SELECT count(*) FROM intake_log' "$1" "${2:-90}"
}
# Waits until nothing is left to send and the SMTP server holds every outbox mail.
wait_acks() {
	stack_wait "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')" 0 "${1:-90}" &&
		smtp_wait_count "$(q 'SELECT count(*) FROM outbox')" 20
}
# acks_for PREFIX: "deliveries distinct" of acks answering PREFIX's requests.
acks_for() {
	"$PY" - "$SMTP_MAILDIR/new" "$1" <<'EOF'
import email, os, sys
from email import policy
top, prefix = sys.argv[1], sys.argv[2] + "."
total, mids = 0, set()
for name in os.listdir(top):
    with open(os.path.join(top, name), "rb") as f:
        m = email.message_from_binary_file(f, policy=policy.compat32)
    if (m.get("In-Reply-To") or "").strip().strip("<>").startswith(prefix):
        total += 1
        mids.add(m.get("Message-ID"))
print(total, len(mids))
EOF
}
# stored PREFIX: how many of PREFIX's Message-IDs have their message stored.
stored() {
	q "SELECT count(*) FROM messages WHERE direction = 'in' AND message_id LIKE '$1.%'"
}
# check_phase NAME PREFIX COUNT: tickets, folder and acks of one phase.
check_phase() {
	local name=$1 p=$2 want=$3 got
	got=$(stored "$p")
	ok $([ "$got" = "$want" ]; echo $?) "$name: $want requests stored, one ticket each" "$got"
	got=$(folder_count INBOX)
	ok $([ "$got" = 0 ]; echo $?) "$name: INBOX is empty" "$got left"
	read -r deliveries distinct < <(acks_for "$p")
	echo "# $name: $deliveries acks delivered, $distinct distinct, at $(elapsed)"
	# A relay that dies between storing a mail and answering its "." (the
	# SMTP case) gets that one mail again: a duplicate, never a loss.
	local extra=0
	case $name in "(c)"*) extra=1 ;; esac
	ok $([ "$distinct" = "$want" ] && [ "$deliveries" -le $((want + extra)) ]; echo $?) \
		"$name: one ack per request at the SMTP server" "$deliveries deliveries, $distinct distinct"
}

daemon_start
PID=$STACK_DAEMON_PID
total=0

# (a) PostgreSQL away for PG_DOWN seconds while mail is being taken in: the
# first part is in progress when it stops, the second arrives meanwhile.
gen pga 300 && gen pgb 100 || { echo "Bail out! genmail failed"; exit 0; }
dovecot_import_many test "$STACK_DIR/pga.mbox"
stack_wait "SELECT count(*) > 0 FROM intake_log" t 30
echo "# (a) stopping PostgreSQL with intake_log at $(q 'SELECT count(*) FROM intake_log'), $(elapsed)"
pg_stop
dovecot_import_many test "$STACK_DIR/pgb.mbox"
sleep "$PG_DOWN"
pg_start >/dev/null || { echo "Bail out! PostgreSQL did not come back"; exit 0; }
echo "# (a) PostgreSQL is back after ${PG_DOWN} s (INBOX: $(folder_count INBOX)), $(elapsed)"
total=$((total + 400))
wait_intake $total 90
wait_acks 60
kill -0 $PID 2>/dev/null
ok $? "(a) the daemon kept running through the outage (pid $PID)"
check_phase "(a) PostgreSQL down" pga 300
check_phase "(a) PostgreSQL down, mail meanwhile" pgb 100
retries=$(grep -c 'event=retry' "$STACK_LOG")
echo "# (a) $retries retries logged"

# (b) Dovecot restarted while a batch is in progress.
gen imapa 400 || { echo "Bail out! genmail failed"; exit 0; }
before=$(q 'SELECT count(*) FROM intake_log')
dovecot_import_many test "$STACK_DIR/imapa.mbox"
stack_wait "SELECT count(*) > $before FROM intake_log" t 30
echo "# (b) restarting Dovecot with intake_log at $(q 'SELECT count(*) FROM intake_log'), $(elapsed)"
dovecot_restart >/dev/null || { echo "Bail out! Dovecot did not come back"; exit 0; }
total=$((total + 400))
wait_intake $total 90
wait_acks 60
kill -0 $PID 2>/dev/null
ok $? "(b) the daemon kept running through the restart"
check_phase "(b) Dovecot restarted" imapa 400
got=$(q "SELECT count(*) FROM intake_log WHERE outcome <> 'new'")
ok $([ "$got" = 0 ]; echo $?) "(a, b) every intake_log row is a new ticket, none twice" "$got others"

# (c) The relay down for SMTP_DOWN seconds while acks are being sent; the
# second part's acks are queued during the outage.
gen smtpa 400 && gen smtpb 100 || { echo "Bail out! genmail failed"; exit 0; }
sent0=$(smtp_count)
dovecot_import_many test "$STACK_DIR/smtpa.mbox"
smtp_wait_count $((sent0 + 1)) 30
smtp_down
down_at=$(date +%s)
echo "# (c) SMTP server down with $(($(smtp_count) - sent0)) of 400 acks delivered, $(elapsed)"
dovecot_import_many test "$STACK_DIR/smtpb.mbox"
total=$((total + 500))
wait_intake $total 60
deferred=$(q "SELECT count(*) FROM outbox WHERE status = 'queued' AND attempts > 0")
echo "# (c) all mail taken in; $deferred acks deferred; $(q "SELECT count(*) FROM outbox WHERE status <> 'sent'") unsent"
sleep $((SMTP_DOWN - ($(date +%s) - down_at)))
smtp_up || { echo "Bail out! the SMTP server did not come back"; exit 0; }
echo "# (c) SMTP server back after $(($(date +%s) - down_at)) s, $(elapsed)"
wait_acks 60
kill -0 $PID 2>/dev/null
ok $? "(c) the daemon kept running through the relay outage"
ok $([ "${deferred:-0}" -gt 0 ]; echo $?) "(c) the outage deferred acks ($deferred)" "none deferred"
check_phase "(c) SMTP down" smtpa 400
check_phase "(c) SMTP down, mail meanwhile" smtpb 100
got=$(q "SELECT count(*) FROM outbox WHERE status <> 'sent'")
ok $([ "$got" = 0 ]; echo $?) "(c) the outbox is sent, nothing failed" "$got unsent"

# (d) Malformed mails and one of 3 MiB (over max_message_size = 1M) in the
# middle of the mailbox: the mails after them are taken in.
gen bad 200 -k 6 -b 3145728 -a 100 || { echo "Bail out! genmail failed"; exit 0; }
last_id=$(q 'SELECT max(id) FROM intake_log')
dovecot_import_many test "$STACK_DIR/bad.mbox"
total=$((total + 207))
wait_intake $total 60
wait_acks 60
kill -0 $PID 2>/dev/null
ok $? "(d) the daemon kept running"
got=$(q "SELECT count(*) FROM messages m JOIN intake_log l ON l.message_id = m.message_id
	WHERE m.direction = 'in' AND m.message_id ~ '^bad\.0001[0-9][0-9]@'")
ok $([ "$got" = 100 ]; echo $?) "(d) the 100 mails after the bad ones are stored" "$got"
check_phase "(d) malformed and oversized" bad 201
big=$(tail -1 "$STACK_DIR/bad.ids")
got=$(q "SELECT count(*) FROM events e JOIN messages m ON m.ticket = e.ticket
	WHERE m.message_id = '$big' AND e.kind = 'warning'")
ok $([ "$got" -ge 1 ] 2>/dev/null; echo $?) "(d) the oversized mail has its ticket, with a warning event" \
	"$got warning events"
q "SELECT e.data FROM events e JOIN messages m ON m.ticket = e.ticket
	WHERE m.message_id = '$big' AND e.kind = 'warning'" | head -2 | sed 's/^/# (d) oversized: /'
echo "# (d) the 6 malformed: $(q "SELECT string_agg(outcome || '=' || c, ' ') FROM (SELECT outcome,
	count(*) c FROM intake_log WHERE id > $last_id AND coalesce(message_id, '') NOT LIKE 'bad.%'
	GROUP BY 1) s")"

daemon_stop
ok $? "the daemon (same pid throughout) stops cleanly"
got=$(grep -cE 'AddressSanitizer|runtime error|Assertion' "$STACK_LOG")
ok $([ "$got" = 0 ]; echo $?) "no sanitizer report or assertion in the daemon's log"
grep -E 'event=retry|event=recover|warn' "$STACK_LOG" | cut -c1-200 | sort -k3 | uniq -c -f3 | head -12 |
	sed 's/^/# log: /'
echo "1..$n"
echo "# done in $(elapsed)"
