#!/bin/bash
# The durable outbox against a private PostgreSQL and a private SMTP server
# (TAP): delivery, retries with backoff, permanent failures, the server down,
# loop protection, bounce matching, two senders at once and senders killed
# with SIGKILL, the end-of-data mark held back, the database failing after
# a 250 (no duplicate), no reply after the end of data.  top_srcdir and top_builddir come from make check.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
RUN=$top_builddir/tests/integration/outbox-run
. "$top_srcdir/tests/lib/pg.sh"
. "$top_srcdir/tests/lib/smtp.sh"

. "$top_srcdir/tests/lib/tap.sh"

if [ ! -x "$RUN" ]; then
	echo "1..0 # SKIP $RUN not built"
	exit 0
fi
PG_NO_TRAP=1
if ! smtp_start 2>/dev/null; then
	echo "1..0 # SKIP the SMTP test server does not start (python3-aiosmtpd)"
	exit 0
fi
if ! pg_start 2>/dev/null; then
	smtp_stop
	echo "1..0 # SKIP no private PostgreSQL"
	exit 0
fi
trap 'pg_cleanup; smtp_stop' EXIT
db=$(pg_createdb outbox) || exit 1
for f in "$top_srcdir"/sql/[0-9][0-9][0-9]*_*.sql; do
	pg_psql -d outbox -1 -f "$f" >/dev/null || {
		echo "Bail out! $f does not apply"
		exit 1
	}
done
q() { pg_psql -d outbox -c "$1"; }
W=$PG_DIR/work
mkdir -p "$W"
# Every test sender: lease 90 s (it must outlast 12 steps of 2 s plus a minute).
send() { # send [ARGS]: output in $W/out, stderr in $W/err, status in $rc
	timeout 120 "$RUN" send -d "$db" -p "$SMTP_PORT" -t 2000 -L 90 -w 60 "$@" \
		>"$W/out" 2>"$W/err"
	rc=$?
}
# The Message-IDs of the mails received for recipients starting with $1.
received_ids() {
	grep -l -m1 "^X-RcptTo: $1" "$SMTP_MAILDIR"/new/* 2>/dev/null |
		xargs -r grep -h -m1 -i '^Message-ID:' | tr -d '\r' |
		sed 's/^[Mm]essage-[Ii][Dd]: *<\(.*\)>$/\1/' | sort
}
rate() { sed -n 's/.*: \([0-9]*\) mails\/s$/\1/p' "$W/err"; }

echo "1..55"
ticket=$(q "INSERT INTO tickets (requester_address, subject) VALUES ('asiakas@example.invalid', 'Tulostin') RETURNING number")

# -- 100 queued, 100 received, each once ------------------------------------
"$RUN" enqueue -d "$db" -n 100 -T "$ticket" -r bulk >"$W/bulk.ids"
is "$(wc -l <"$W/bulk.ids" | tr -d ' ')" 100 "100 mails queued in one transaction"
send
ok $rc "the sender empties the queue (exit $rc)"
bulk_rate=$(rate)
echo "# 100 mails: $(cat "$W/out"), $bulk_rate mails/s"
smtp_wait_count 100 10
received_ids bulk >"$W/bulk.got"
sort "$W/bulk.ids" | cmp -s - "$W/bulk.got"
ok $? "exactly the 100 queued Message-IDs arrived, each once ($(wc -l <"$W/bulk.got") mails)"
is "$(q "SELECT count(*) FROM outbox WHERE status = 'sent' AND attempts = 1 AND sent_at IS NOT NULL")" 100 \
	"all 100 rows are sent, after one attempt"
is "$(q "SELECT count(DISTINCT attempt_id) FROM outbox")" 100 "each attempt had its own attempt id"
send
is "$(cat "$W/out")" "claimed 0 sent 0 deferred 0 failed 0 recovered 0 lost 0 unconfirmed 0" \
	"a second run sends nothing again"
q "UPDATE outbox SET status = 'queued', sent_at = NULL WHERE id = 1" >/dev/null 2>"$W/err"
ok $((! $?)) "the schema refuses to make a sent row sendable again"
grep -q 'stays sent' "$W/err"
ok $? "... saying why"
f=$(grep -l -m1 '^X-RcptTo: bulk0@' "$SMTP_MAILDIR"/new/* | head -1)
grep -q '^X-MailFrom: bounces@seutu.example' "$f" && grep -q '^Auto-Submitted: auto-replied' "$f" &&
	grep -q '^Subject: =?utf-8?B?' "$f" && grep -q '^Content-Transfer-Encoding: quoted-printable' "$f"
ok $? "the envelope sender is the bounce address; headers are encoded and kept"

# -- temporary failure: queued with backoff, then delivered once --------------
"$RUN" enqueue -d "$db" -n 5 -T "$ticket" -r temp >/dev/null
smtp_mode tempfail
send -o
ok $rc "a run against a relay that answers 451 ends (exit $rc)"
is "$(cat "$W/out")" "claimed 5 sent 0 deferred 5 failed 0 recovered 0 lost 0 unconfirmed 0" "5 deferred"
is "$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'temp%' AND status = 'queued'
	AND attempts = 1 AND last_code = 451 AND last_error LIKE '451 4.3.0 %'
	AND next_attempt_at BETWEEN last_attempt_at + interval '47 s'
	AND last_attempt_at + interval '75 s'")" 5 \
	"rows stay queued: attempts 1, the 451 kept, next attempt in 48-60 s (60 s minus jitter)"
is "$(received_ids temp | wc -l | tr -d ' ')" 0 "nothing arrived"
send -o
is "$(cat "$W/out")" "claimed 0 sent 0 deferred 0 failed 0 recovered 0 lost 0 unconfirmed 0" \
	"nothing is retried before its time"
smtp_mode accept
q "UPDATE outbox SET next_attempt_at = now() WHERE status = 'queued'" >/dev/null
send
is "$(cat "$W/out")" "claimed 5 sent 5 deferred 0 failed 0 recovered 0 lost 0 unconfirmed 0" \
	"after time travel the 5 are sent"
is "$(received_ids temp | uniq | wc -l | tr -d ' ') $(received_ids temp | wc -l | tr -d ' ')" "5 5" \
	"each arrived exactly once"
is "$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'temp%' AND status = 'sent' AND attempts = 2")" 5 \
	"rows sent at the second attempt"
"$RUN" backoff >"$W/backoff"
is "$(awk '{printf "%s ", $3}' "$W/backoff")" "60 120 240 480 960 1920 3600 3600 3600 3600 " \
	"backoff doubles from 1 min and is capped at 1 h"

# -- permanent failure: failed, the 5xx kept, an event on the ticket ----------
"$RUN" enqueue -d "$db" -n 3 -T "$ticket" -r perm >/dev/null
smtp_mode permfail
send -o
is "$(cat "$W/out")" "claimed 3 sent 0 deferred 0 failed 3 recovered 0 lost 0 unconfirmed 0" "554: 3 failed"
is "$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'perm%' AND status = 'failed'
	AND failed_at IS NOT NULL AND last_code = 554
	AND last_error = '554 5.6.0 Message content rejected'")" 3 "rows failed with the 5xx text"
is "$(q "SELECT count(*) FROM events WHERE ticket = $ticket AND kind = 'mail_failed'
	AND data->>'code' = '554' AND data->>'to' LIKE 'perm%'")" 3 "an event per failed mail on the ticket"
smtp_mode accept
send -o
is "$(received_ids perm | wc -l | tr -d ' ')" 0 "failed mail is never retried"

# -- server down: temporary, nothing lost -------------------------------------
"$RUN" enqueue -d "$db" -n 4 -r down >/dev/null
port=$SMTP_PORT
SMTP_PORT=1 send -o
SMTP_PORT=$port
is "$(cat "$W/out")" "claimed 4 sent 0 deferred 4 failed 0 recovered 0 lost 0 unconfirmed 0" \
	"no server: the 4 are deferred"
is "$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'down%' AND status = 'queued'
	AND last_code = 0 AND last_error LIKE '%refused%'")" 4 "... with the connection error kept"
q "UPDATE outbox SET next_attempt_at = now() WHERE status = 'queued'" >/dev/null
send
is "$(received_ids down | wc -l | tr -d ' ')" 4 "the server back: all 4 arrive"

# -- giving up after the age limit --------------------------------------------
"$RUN" enqueue -d "$db" -n 1 -T "$ticket" -r old >/dev/null
q "UPDATE outbox SET created_at = now() - interval '3 days' WHERE to_address LIKE 'old%'" >/dev/null
smtp_mode tempfail
send -o
smtp_mode accept
is "$(q "SELECT status || ' ' || (last_error LIKE 'gave up after 1 attempts over 72 h: 451 %')
	FROM outbox WHERE to_address LIKE 'old%'")" "failed true" "a 451 after 2 days: failed, given up"
is "$(q "SELECT count(*) FROM events WHERE ticket = $ticket AND kind = 'mail_failed'
	AND data->>'gave_up' = 'true'")" 1 "... with an event"

# -- loop protection -----------------------------------------------------------
r1=$("$RUN" enqueue-to -d "$db" tuki@seutu.example)
r2=$("$RUN" enqueue-to -d "$db" BOUNCES@seutu.example)
r3=$("$RUN" enqueue-to -d "$db" '')
r4=$("$RUN" enqueue-to -d "$db" 'x@example.invalid>
Bcc: victim@example.invalid')
case "$r1|$r2|$r3|$r4" in
refused*loop*\|refused*loop*\|refused*\|refused*) ok 0 "our own, the bounce, an empty and an injected address are refused" ;;
*) ok 1 "our own, the bounce, an empty and an injected address are refused: $r1 | $r2 | $r3 | $r4" ;;
esac
q "INSERT INTO outbox (message_id, to_address, raw, kind) VALUES ('loop@seutu.example',
	'noreply@seutu.example', convert_to(E'Subject: x\r\n\r\nx\r\n', 'UTF8'), 'reply')" >/dev/null
send -o
is "$(q "SELECT status || ' ' || last_error FROM outbox WHERE message_id = 'loop@seutu.example'")" \
	"failed not sent (loop protection): the recipient is one of our own addresses" \
	"a row to our own address that bypassed enqueue is failed by the sender, not sent"

# -- a complete message from the caller ---------------------------------------
printf '%s\r\n' 'From: tuki@seutu.example' 'To: raw@example.invalid' 'Subject: raw' \
	'Date: Mon, 02 Sep 2024 09:15:00 +0300' \
	'Message-ID: <raw-1@seutu.example>' '' 'valmis viesti' >"$W/raw1.eml"
printf '%s\r\n' 'From: tuki@seutu.example' 'To: raw@example.invalid' 'Subject: raw' \
	'Date: Mon, 02 Sep 2024 09:15:00 +0300' \
	'' 'ilman tunnistetta' >"$W/raw2.eml"
m1=$("$RUN" enqueue-raw -d "$db" "$W/raw1.eml")
m2=$("$RUN" enqueue-raw -d "$db" "$W/raw2.eml")
send
is "$m1" raw-1@seutu.example "a complete message keeps its own Message-ID"
f1=$(grep -l -m1 '^Message-ID: <raw-1@seutu.example>' "$SMTP_MAILDIR"/new/* | head -1)
f2=$(grep -l -m1 "^Message-ID: <$m2>" "$SMTP_MAILDIR"/new/* | head -1)
[ -n "$f1" ] && [ -n "$f2" ] && tail -n +3 "$f1" | cmp -s - "$W/raw1.eml" &&
	{ printf 'Message-ID: <%s>\r\n' "$m2"; cat "$W/raw2.eml"; } | cmp -s - <(tail -n +3 "$f2")
ok $? "... and goes out byte for byte; one without gets ours in front"

# -- bounces are matched back to their ticket ---------------------------------
mid=$(head -1 "$W/bulk.ids")
out=$("$RUN" match -d "$db" " <$mid> ")
is "$out" "outbox 1 ticket $ticket kind ack status sent" "a returned Message-ID finds its ticket"
is "$(q "SELECT count(*) FROM events WHERE ticket = $ticket AND kind = 'mail_bounced'")
$(q "SELECT bounce FROM outbox WHERE id = 1")" "1
550 5.1.1 user unknown (test)" "... and the bounce is recorded on the row and the ticket"
is "$("$RUN" match -d "$db" '<not-ours@example.invalid>')" none "a foreign Message-ID matches nothing"

# -- two senders at once on 200 rows -------------------------------------------
"$RUN" enqueue -d "$db" -n 200 -r pair >"$W/pair.ids"
start=$(date +%s%N)
timeout 120 "$RUN" send -d "$db" -p "$SMTP_PORT" -t 2000 -L 90 -b 4 >"$W/a.out" 2>"$W/a.err" &
a=$!
timeout 120 "$RUN" send -d "$db" -p "$SMTP_PORT" -t 2000 -L 90 -b 4 >"$W/b.out" 2>"$W/b.err" &
b=$!
wait $a
ra=$?
wait $b
rb=$?
ms=$((($(date +%s%N) - start) / 1000000))
pair_rate=$((200 * 1000 / (ms > 0 ? ms : 1)))
echo "# two senders: A $(cat "$W/a.out"); B $(cat "$W/b.out"); ${ms} ms, $pair_rate mails/s"
ok $((ra + rb)) "both senders finish (exit $ra, $rb)"
smtp_wait_count $(($(smtp_count))) 1
received_ids pair >"$W/pair.got"
sort "$W/pair.ids" | cmp -s - "$W/pair.got"
ok $? "each of the 200 mails arrived exactly once ($(wc -l <"$W/pair.got") received)"
sa=$(sed -n 's/.* sent \([0-9]*\) .*/\1/p' "$W/a.out")
sb=$(sed -n 's/.* sent \([0-9]*\) .*/\1/p' "$W/b.out")
[ $((sa + sb)) -eq 200 ] && [ "$sa" -gt 0 ] && [ "$sb" -gt 0 ]
ok $? "the work was shared ($sa + $sb)"

# -- a sender killed with SIGKILL, three times, then a final run -------------
"$RUN" enqueue -d "$db" -n 300 -r kill >"$W/kill.ids"
kills=0
recovered=0
for k in 1 2 3; do
	"$RUN" send -d "$db" -p "$SMTP_PORT" -t 2000 -L 90 -b 8 >/dev/null 2>&1 &
	pid=$!
	sleep "0.$((3 + RANDOM % 5))"
	if kill -9 $pid 2>/dev/null; then
		kills=$((kills + 1))
	fi
	wait $pid 2>/dev/null
	held=$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'kill%' AND status = 'sending'")
	echo "# kill $k: $held rows left 'sending', $(received_ids kill | wc -l | tr -d ' ') received"
	# Time travel: the dead sender's lease ends now.
	q "UPDATE outbox SET next_attempt_at = now() WHERE status = 'sending'" >/dev/null
done
send
ok $rc "after $kills kills a final run finishes (exit $rc)"
is "$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'kill%' AND status = 'sent'")" 300 \
	"every one of the 300 rows ends sent"
received_ids kill >"$W/kill.got"
total=$(wc -l <"$W/kill.got" | tr -d ' ')
distinct=$(uniq <"$W/kill.got" | wc -l | tr -d ' ')
dups=$((total - distinct))
recovered=$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'kill%' AND last_error LIKE '%did not finish%'")
after=$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'kill%' AND last_error LIKE '%did not finish%after the end of data%'")
echo "# $kills kills: $total received, $distinct distinct, $dups duplicates; $recovered rows retaken" \
	"after an expired lease, $after of them after the end of data"
sort -u "$W/kill.ids" | cmp -s - <(uniq "$W/kill.got")
ok $? "every queued mail arrived at least once"
[ "$dups" -le "$kills" ] && [ "$dups" -le "$after" ]
ok $? "at most one duplicate per kill, each a row retaken after the end of data ($dups duplicates, $kills kills)"

# -- the end of data cannot be recorded: the "." is held back -----------------
"$RUN" enqueue -d "$db" -n 3 -r abort >"$W/abort.ids"
q "CREATE FUNCTION test_refuse_dot() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.data_end_at IS NOT NULL AND OLD.data_end_at IS NULL AND NEW.to_address LIKE 'abort%' THEN
		RAISE EXCEPTION 'test: no end of data for %', NEW.to_address;
	END IF;
	IF NEW.status = 'sent' AND OLD.status = 'sending' AND NEW.to_address LIKE 'outage%' THEN
		RAISE EXCEPTION 'test: no sent for %', NEW.to_address;
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER test_refuse_dot BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION test_refuse_dot()" >/dev/null
before=$(smtp_count)
send -o
is "$(cat "$W/out")" "claimed 3 sent 0 deferred 3 failed 0 recovered 0 lost 0 unconfirmed 0" \
	"the end of data not recorded: the 3 are deferred"
is "$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'abort%' AND status = 'queued'
	AND data_end_at IS NULL AND last_error LIKE 'not sent: the end of data could not be recorded: %test: no end of data%'")" 3 \
	"... with why"
sleep 0.5
is "$(smtp_count) $(received_ids abort | wc -l | tr -d ' ')" "$before 0" "... and the relay stored nothing"
q "DROP TRIGGER test_refuse_dot ON outbox; UPDATE outbox SET next_attempt_at = now() WHERE status = 'queued'" >/dev/null
send
received_ids abort >"$W/abort.got"
sort "$W/abort.ids" | cmp -s - "$W/abort.got"
ok $? "retried later, each arrives exactly once ($(wc -l <"$W/abort.got") received)"

# -- the database fails at the commit of 'sent' after the relay's 250 ---------
"$RUN" enqueue -d "$db" -n 1 -r outage >"$W/outage.ids"
q "CREATE TRIGGER test_refuse_dot BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION test_refuse_dot()" >/dev/null
send -o -S outage-sender
ok $((rc == 0)) "recording 'sent' fails: the sender reports database trouble (exit $rc)"
is "$(q "SELECT count(*) FROM outbox WHERE to_address LIKE 'outage%' AND status = 'sending' AND data_end_at IS NOT NULL")" 1 \
	"... and its row stays 'sending', past the end of data"
q "DROP TRIGGER test_refuse_dot ON outbox; UPDATE outbox SET next_attempt_at = now() WHERE status = 'sending'" >/dev/null
send -S outage-sender
is "$(cat "$W/out")" "claimed 0 sent 0 deferred 0 failed 0 recovered 0 lost 0 unconfirmed 1" \
	"the same sender's next run settles it as sent, unconfirmed, without sending it again"
received_ids outage >"$W/outage.got"
sort "$W/outage.ids" | cmp -s - "$W/outage.got"
ok $? "it arrived exactly once"
is "$(q "SELECT status || ' ' || (sent_at = data_end_at) || ' ' || (last_error LIKE 'delivery not confirmed: the sender stopped after the end of data%') FROM outbox WHERE to_address LIKE 'outage%'")" \
	"sent true true" "... noted on the row, sent at the end of data"

# -- the database fails at the record of a 554: kept, recorded when it is back --
"$RUN" enqueue -d "$db" -n 1 -T "$ticket" -r refused >/dev/null
q "CREATE SEQUENCE test_refuse_n;
CREATE FUNCTION test_refuse_failed() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.status = 'failed' AND OLD.status = 'sending' AND NEW.to_address LIKE 'refused%'
	   AND nextval('test_refuse_n') <= 2 THEN
		RAISE EXCEPTION 'test: no record for %', NEW.to_address;
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER test_refuse_failed BEFORE UPDATE ON outbox FOR EACH ROW
	EXECUTE FUNCTION test_refuse_failed()" >/dev/null
smtp_mode permfail
send -K
smtp_mode accept
is "$(cat "$W/out")" "claimed 1 sent 0 deferred 0 failed 1 recovered 0 lost 0 unconfirmed 0" \
	"a 554 whose record fails twice is recorded failed by the same process, not settled as sent"
is "$(q "SELECT o.status || ' ' || o.last_code || ' ' || count(e.id) FROM outbox o
	LEFT JOIN events e ON e.kind = 'mail_failed' AND (e.data->>'outbox')::bigint = o.id
	WHERE o.to_address LIKE 'refused%' GROUP BY o.id")" "failed 554 1" \
	"... with its 5xx and one mail_failed event on the ticket"
is "$(grep -c 'recording that failed' "$W/err")" 2 "... after two refused records"
q "DROP TRIGGER test_refuse_failed ON outbox" >/dev/null

# -- no reply after the end of data: the relay may have it; retried, noted --
"$RUN" enqueue -d "$db" -n 1 -r stall >/dev/null
smtp_mode stall
send -o
smtp_mode accept
is "$(cat "$W/out")" "claimed 1 sent 0 deferred 1 failed 0 recovered 0 lost 0 unconfirmed 0" \
	"a timeout waiting for the reply to the '.': retried (a duplicate rather than a loss)"
is "$(q "SELECT status || ' ' || (last_error LIKE 'no reply after the end of data, so the relay may have it already; sent again: %') FROM outbox WHERE to_address LIKE 'stall%'")" \
	"queued true" "... noted on the row"

echo "# figures: 100 mails at $bulk_rate mails/s by one sender; 200 at $pair_rate mails/s by two"
exit $((failed > 0))
