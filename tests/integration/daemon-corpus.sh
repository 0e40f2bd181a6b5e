#!/bin/bash
# The labelled corpus through the whole stack: delivered into a private
# Dovecot in file order, taken in by seutudeskd into a private PostgreSQL,
# acknowledgements delivered to a private SMTP server.  Asserted from
# labels.tsv: tickets = the `new` labels; every `followup` on its original's
# ticket; duplicates add nothing; no acknowledgement to any `auto`; exactly
# one acknowledgement per `new` arrives.
corpus=${SEUTUDESK_CORPUS:-$top_srcdir/../shared/corpus/dev}
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   got '$2', want '$3'"; fi; }

if [ ! -f "$corpus/labels.tsv" ] || [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root and the corpus ($corpus)"
	exit 0
fi
. "$top_srcdir/tests/lib/stack.sh"
stack_start >/dev/null || { echo "1..1"; echo "not ok 1 - the stack starts"; exit 0; }

# UID i is the i-th file: Dovecot numbers a fresh folder's mail from 1.
files=$(awk -F'\t' 'NR > 1 {print $1}' "$corpus/labels.tsv")
t0=$(date +%s.%N)
for f in $files; do dovecot_deliver test "$corpus/$f" || not_ok "deliver $f"; done
total=$(echo "$files" | wc -l)
new=$(awk -F'\t' '$2 == "new"' "$corpus/labels.tsv" | wc -l)
t1=$(date +%s.%N)
# The daemon runs under valgrind where it is installed (VALGRIND=no skips it).
vglog=$STACK_DIR/valgrind.log
if [ "${VALGRIND:-yes}" != no ] && command -v valgrind >/dev/null; then
	STACK_DAEMON_WRAPPER="valgrind -q --suppressions=$top_srcdir/tests/data/valgrind.supp
		--leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
		--log-file=$vglog"
fi
daemon_start
stack_wait "SELECT count(*) FROM intake_log" "$total" 120 && ok "all $total mails taken in" ||
	not_ok "all $total mails taken in"
t2=$(date +%s.%N)
stack_wait "SELECT count(*) FROM outbox WHERE status <> 'sent'" 0 60
smtp_wait_count "$new" 30 >/dev/null
sleep 1 # anything extra would arrive now
t3=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
	printf "# delivered into Dovecot in %.2f s; taken in %.2f s; acks delivered %.2f s later\n", b - a, c - b, d - c }'

check "tickets = the new labels" "$(stack_sql 'SELECT count(*) FROM tickets')" "$new"
check "the INBOX is empty (all moved after commit)" \
	"$(find "$(dovecot_maildir test)"/cur "$(dovecot_maildir test)"/new -type f | wc -l)" 0
check "mailbox_state records the last UID taken in" \
	"$(stack_sql "SELECT last_uid FROM mailbox_state WHERE mailbox = 'support'")" "$total"
check "the daemon is still running" "$(kill -0 "$STACK_DAEMON_PID" && echo yes)" yes

# One line per file: uid, outcome, ticket.
stack_sql "SELECT uid, outcome, coalesce(ticket, 0) FROM intake_log ORDER BY uid" |
	tr '|' '\t' >"$STACK_DIR/log.tsv"
awk -F'\t' 'NR > 1 {print NR - 1 "\t" $0}' "$corpus/labels.tsv" >"$STACK_DIR/labels.tsv"
bad=$(awk -F'\t' '
	NR == FNR { outcome[$1] = $2; ticket[$1] = $3; next }
	{ uid[$2] = $1 }
	{
		u = $1; want = $3; got = outcome[u]
		if (want == "new" && got != "new") print $2 ": new became " got
		if (want == "auto" && got != "auto" && got != "auto_attached") print $2 ": auto became " got
		if (want == "duplicate" && got != "duplicate") print $2 ": duplicate became " got
		if (want == "followup") {
			orig = uid[$4]
			if (got != "followup" && got != "reopened") print $2 ": followup became " got
			else if (ticket[u] != ticket[orig]) print $2 ": followup on ticket " ticket[u] ", its original " $4 " is on " ticket[orig]
		}
		if (want == "duplicate" && ticket[u] != 0 && ticket[u] != ticket[uid[$4]]) print $2 ": duplicate names ticket " ticket[u]
	}' "$STACK_DIR/log.tsv" "$STACK_DIR/labels.tsv")
check "every file has the outcome its label says, followups on their original's ticket" \
	"$(echo -n "$bad" | grep -c .)" 0
[ -n "$bad" ] && echo "$bad" | sed 's/^/#   /'

check "one ack per new ticket, queued" \
	"$(stack_sql "SELECT count(DISTINCT ticket) || ' ' || count(*) FROM outbox WHERE kind = 'ack'")" "$new $new"
check "every ack belongs to a new ticket" \
	"$(stack_sql "SELECT count(*) FROM outbox o WHERE kind = 'ack' AND NOT EXISTS
		(SELECT 1 FROM intake_log l WHERE l.ticket = o.ticket AND l.outcome = 'new')")" 0
stack_sql "SELECT '<' || message_id || '>' FROM intake_log WHERE outcome IN ('auto', 'auto_attached')
	AND message_id IS NOT NULL" | sort -u >"$STACK_DIR/auto-ids"
grep -h -i '^In-Reply-To:' "$SMTP_MAILDIR"/new/* | sed 's/^[^:]*: *//; s/\r$//' | sort -u >"$STACK_DIR/ack-irt"
check "no ack answers an auto-generated mail" "$(comm -12 "$STACK_DIR/auto-ids" "$STACK_DIR/ack-irt" | wc -l)" 0
check "the auto-generated mails are known by Message-ID" "$(test -s "$STACK_DIR/auto-ids" && echo yes)" yes
check "exactly one ack per new ticket arrived at the SMTP server" "$(smtp_count)" "$new"
in_reply=$(grep -h -i '^In-Reply-To:' "$SMTP_MAILDIR"/new/* | sort -u | wc -l)
check "the acks answer $new distinct requester messages (In-Reply-To)" "$in_reply" \
	"$(stack_sql "SELECT count(*) FROM tickets t JOIN messages m ON m.ticket = t.number
		AND m.direction = 'in' AND m.message_id IS NOT NULL
		WHERE m.id = (SELECT min(id) FROM messages WHERE ticket = t.number)")"

# Classification through the whole pipeline, for the record (corpus.sh asserts it).
agree=$(stack_sql "SELECT uid, coalesce(municipality, 'unknown'), coalesce(sector, 'unknown')
	FROM intake_log l JOIN tickets t ON t.number = l.ticket WHERE l.outcome = 'new'" | tr '|' '\t' |
	awk -F'\t' 'NR == FNR { m[$1] = $2; s[$1] = $3; next }
		$3 == "new" { n++; if (m[$1] == $5) am++; if (s[$1] == $6) as++ }
		END { printf "%d/%d municipality, %d/%d sector", am, n, as, n }' - "$STACK_DIR/labels.tsv")
echo "# stored classification of the new tickets agrees with the labels: $agree"

daemon_stop
check "SIGTERM stops the daemon cleanly${STACK_DAEMON_WRAPPER:+ (under valgrind: no errors, no leaks)}" "$?" 0
[ -s "$vglog" ] && head -40 "$vglog" | sed 's/^/#   /'
grep -q 'error' "$STACK_LOG" && { echo "# errors in the daemon's log:"; grep error "$STACK_LOG" | head -5 | sed 's/^/#   /'; }
echo "1..$n"
