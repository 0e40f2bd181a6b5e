#!/bin/bash
# seutudeskctl status and check against the real stack (PostgreSQL, Dovecot,
# the SMTP server, seutudeskd):
#   status on an empty database without and with a daemon, on a busy one,
#   with a failing relay; a crash after the intake commit and before the
#   IMAP ack (SEUTUDESKD_TEST_DIE_AFTER_COMMIT) leaves mailbox_state true,
#   and a state left behind is corrected when the daemon takes the mailbox;
#   check with everything up, a wrong password, a missing folder, imaps with
#   the test CA and STARTTLS without it, AUTH at the relay with the right and
#   a wrong password, the relay down, the database down and a bad config;
#   status's exit 2.

: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/stack.sh"
. "$top_srcdir/tests/lib/tap.sh"

for t in doveadm jq openssl; do
	command -v $t >/dev/null || { echo "1..0 # SKIP $t is not installed"; exit 0; }
done
DOVECOT_TLS=1 # a test CA, STARTTLS and imaps besides the plain port
export DOVECOT_TLS
STACK_EXTRA_CONF=$(printf '\n[sla all]\npriority = critical, high, normal, low\nfirst_response = 4h\nresolution = 8h\ncalendar = 24x7\n')
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	exit 0
fi

CTL=$top_builddir/seutudeskctl
SQL=$top_srcdir/sql
OUT=$STACK_DIR/out

status() { "$CTL" -c "${CONF:-$STACK_CONF}" status --sql-dir "$SQL" "$@" >"$OUT" 2>&1; }
check() { "$CTL" -c "${CONF:-$STACK_CONF}" check --sql-dir "$SQL" "$@" >"$OUT" 2>&1; }
jq_out() { jq -r "$1" "$OUT" 2>/dev/null; }
inbox_count() {
	doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u test messages INBOX 2>/dev/null |
		sed 's/.*messages=//'
}
mails() { # mails N PREFIX SEED: N new mails into the INBOX
	"$top_srcdir/tests/lib/genmail.sh" -n "$1" -p "$2" -s "$3" -o "$STACK_DIR/$2.mbox" &&
		dovecot_import_many test "$STACK_DIR/$2.mbox"
}
# Waits up to 30 s until a daemon holds the mailbox's lock.
wait_polled() {
	local i=0
	while [ $i -lt 150 ]; do
		status --json
		[ "$(jq_out '.mailboxes[0].polled_by != null')" = true ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# -- status: an empty database ----------------------------------------------------------
status
is "$?" 1 "status without a daemon needs attention: exit 1"
has "$OUT" '^Schema .*matches' "the schema version matches the program's"
has "$OUT" '^  support *no intake yet' "the mailbox has no intake yet"
has "$OUT" 'mailbox support: no daemon polls it' "a mailbox no daemon polls is named"
status --json
is "$(jq_out '[.schema.matches, .schema.database == .schema.program, .outbox.queued,
	.mailboxes[0].last_uid, (.attention | length)] | @tsv')" \
	"$(printf 'true\ttrue\t0\t\t1')" "--json: schema, outbox, mailbox and one attention item"

daemon_start
wait_polled
ok $? "a started daemon takes the mailbox"
status
is "$?" 0 "status on an empty database with a daemon: exit 0"
has "$OUT" '^All is well' "and says all is well"
has "$OUT" 'polled by .*pid [0-9]' "the mailbox is polled by a daemon (its pid)"
status --json
is "$(jq_out '(.daemons | length) > 0 and .daemons[0].connections > 0')" true \
	"the daemon's connections are listed"

# -- status: a busy database ------------------------------------------------------------
mails 6 busy 1 || echo "Bail out! the mails did not go in"
stack_wait 'SELECT count(*) FROM tickets' 6 60
stack_wait "SELECT count(*) FROM outbox WHERE status = 'sent'" 6 60
"$CTL" -c "$STACK_CONF" bridge add webchat --kind webchat >/dev/null 2>&1
stack_sql "UPDATE bridges SET last_seen_at = now() - interval '1 hour' WHERE name = 'webchat'"
status --json
rc=$?
want=$(stack_sql "SELECT s.last_uid || ' ' || l.outcome FROM mailbox_state s JOIN intake_log l
	ON l.mailbox = s.mailbox AND l.uidvalidity = s.uidvalidity AND l.uid = s.last_uid")
is "$(jq_out '"\(.mailboxes[0].last_uid) \(.mailboxes[0].last_outcome)"')" "$want" \
	"the last intake is the state's UID with its outcome ($want)"
is "$(jq_out '.mailboxes[0].last_uid')" 6 "six mails: the last UID is 6"
is "$(jq_out '[.queues[] | .new + .open + .pending] | add')" \
	"$(stack_sql "SELECT count(*) FROM tickets WHERE status IN ('new', 'open', 'pending')")" \
	"the open tickets per queue add up to the database's"
is "$(jq_out '[.outbox.queued, .outbox.sent_24h] | @tsv')" "$(printf '0\t6')" \
	"outbox: nothing queued, six acks sent"
stack_wait 'SELECT count(*) FROM sla_timers' 12 30
status --json
is "$(jq_out '.sla_timers.running')" \
	"$(stack_sql 'SELECT count(*) FROM sla_timers WHERE stopped_at IS NULL')" \
	"the running SLA timers are counted"
is "$rc $(jq_out '.attention[]')" "1 bridge webchat: not heard from for 1 h 0 min" \
	"an active bridge silent for an hour needs attention"
is "$(jq_out '.bridges[0] | [.name, .kind, .active, .silent_seconds >= 3600] | @tsv')" \
	"$(printf 'webchat\twebchat\ttrue\ttrue')" "--json: the bridge"
status
sed 's/^/#   /' "$OUT"
has "$OUT" '^  webchat *webchat *active, last call ' "the bridge's line"
has "$OUT" '^  support *last intake .* UID 6, new, ticket [0-9]' "the mailbox's line"
"$CTL" -c "$STACK_CONF" bridge disable webchat >/dev/null 2>&1
status
is "$?" 0 "a disabled bridge's silence is no concern: exit 0"

sleep 2
status --json --stale 1s
got="$? $(jq_out '.attention[]')"
[[ $got =~ ^1\ mailbox\ support:\ no\ intake\ for\ [0-9]+\ s$ ]]
ok $? "--stale 1s: a mailbox without intake for seconds needs attention ($got)"

# A relay that refuses: the ack waits for a retry.
smtp_mode tempfail
mails 1 retry 2
stack_wait "SELECT count(*) FROM outbox WHERE status = 'queued' AND attempts > 0" 1 60
status
is "$?" 1 "a message waiting for a retry needs attention: exit 1"
has "$OUT" 'outbox: 1 message(s) waiting for a retry' "and is named"
smtp_mode accept
stack_wait "SELECT count(*) FROM outbox WHERE status = 'sent'" 7 60
status
is "$?" 0 "once it is sent all is well again"

# -- SLA timers: past the warning, overdue, and late to fire without a daemon ------------
daemon_stop
stack_sql "UPDATE sla_timers SET warned_at = now() WHERE ticket = 1 AND kind = 'first_response';
	UPDATE sla_timers SET warned_at = now(), breached_at = now()
		WHERE ticket = 2 AND kind = 'resolution';
	UPDATE sla_timers SET warn_at = now() - interval '10 minutes'
		WHERE ticket = 3 AND kind = 'first_response'" >/dev/null
status --json
is "$? $(jq_out '[.sla_timers.running, .sla_timers.due, .sla_timers.overdue,
	.sla_timers.late] | @tsv')" "$(printf '1 14\t1\t1\t1')" \
	"SLA timers: 14 running, one past its warning, one overdue, one late (exit 1)"
has "$OUT" 'SLA: 1 timer(s) should have fired over 5 minutes ago' "the late timer is named"
status
has "$OUT" '^SLA timers *14 running: 1 past the warning, 1 overdue, 1 late to fire' \
	"the SLA timers' line"

# -- a crash between the intake commit and the IMAP ack ---------------------------------
mails 3 crash 3
SEUTUDESKD_TEST_DIE_AFTER_COMMIT=1 daemon_start
pid=$STACK_DAEMON_PID
for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
kill -0 "$pid" 2>/dev/null
is "$? $(stack_sql 'SELECT count(*) FROM intake_log') $(inbox_count)" "1 10 3" \
	"the daemon died after committing the three mails and before moving them"
wait "$pid" 2>/dev/null
STACK_DAEMON_PID=
status --json
is "$(jq_out '"\(.mailboxes[0].last_uid) \(.mailboxes[0].last_outcome)"')" "10 new" \
	"status after the crash: the last intake is UID 10, new"
is "$(stack_sql 'SELECT last_uid FROM mailbox_state')" \
	"$(stack_sql 'SELECT max(uid) FROM intake_log')" "mailbox_state is not behind intake_log"
daemon_start
wait_polled
for _ in $(seq 1 100); do [ "$(inbox_count)" = 0 ] && break; sleep 0.2; done
is "$(inbox_count) $(stack_sql 'SELECT count(*) FROM tickets')" "0 10" \
	"restarted, the daemon moves them as duplicates: no ticket twice"
status --json
is "$(jq_out '"\(.mailboxes[0].last_uid) \(.mailboxes[0].last_outcome)"')" "10 new" \
	"and the empty mailbox's last intake stays UID 10"
is "$(jq_out '.sla_timers.late')" 0 "a running daemon fired the late timer"

# A state left behind (by a daemon that updated it after the IMAP ack) is
# corrected from intake_log when a daemon takes the mailbox, though it is empty.
daemon_stop
stack_sql "UPDATE mailbox_state SET last_uid = 4"
daemon_start
stack_wait 'SELECT last_uid FROM mailbox_state' 10 30
ok $? "a state left behind is corrected when the daemon takes the empty mailbox"
has "$STACK_LOG" 'event=state_corrected' "and the daemon logs the correction"

# A program with a migration the database lacks.
mkdir "$STACK_DIR/newer-sql"
cp "$SQL"/*.sql "$STACK_DIR/newer-sql/"
echo 'SELECT 1;' >"$STACK_DIR/newer-sql/999_future.sql"
"$CTL" -c "$STACK_CONF" status --sql-dir "$STACK_DIR/newer-sql" >"$OUT" 2>&1
is "$?" 1 "a migration pending: status exits 1"
has "$OUT" "^Schema .*(this program's 999): DOES NOT MATCH" "status says the schema does not match"
has "$OUT" "1 migration(s) pending: run 'seutudeskctl migrate'" "and what to do"
"$CTL" -c "$STACK_CONF" check --no-network --sql-dir "$STACK_DIR/newer-sql" >"$OUT" 2>&1
is "$?" 1 "a migration pending: check exits 1"
has "$OUT" "^database schema version  *FAILED: version [0-9]*, 1 migration(s) pending" \
	"check's schema line fails"

# -- check ------------------------------------------------------------------------------
stack_wait "SELECT count(*) FROM outbox WHERE status = 'sent'" 10 60
sent=$(smtp_count)
check
rc=$?
is "$rc $(grep -c ' ok' "$OUT") $(grep -c FAILED "$OUT")" "0 8 0" \
	"check with everything up: eight lines ok, exit 0"
sed 's/^/#   /' "$OUT"
has "$OUT" '^mailbox support: login  *ok' "the mailbox's login line"
has "$OUT" "^relay 127.0.0.1:$SMTP_PORT  *ok" "the relay's line"
sleep 1
is "$(smtp_count)" "$sent" "check sent no mail"

printf 'wrong\n' >"$STACK_DIR/bad.pass"
CONF=$STACK_DIR/badpass.conf
sed "s|^password_file = .*|password_file = $STACK_DIR/bad.pass|" "$STACK_CONF" >"$CONF"
check
ok $((1 - $?)) "a wrong password: exit 1"
sed 's/^/#   /' "$OUT"
has "$OUT" '^mailbox support: login  *FAILED: .*' "a wrong password: the login line fails"
grep -q wrong "$OUT"
ok $((1 - $?)) "the password appears nowhere"

CONF=$STACK_DIR/nofolder.conf
sed "s|^folder = INBOX|folder = Nowhere|" "$STACK_CONF" >"$CONF"
check
ok $((1 - $?)) "a missing folder: exit 1"
has "$OUT" '^mailbox support: folder Nowhere  *FAILED: ' "a missing folder: its line fails"
has "$OUT" '^mailbox support: login  *ok' "while the login is ok"

# The mailbox over TLS, as configured: the test CA trusted, then not.
CONF=$STACK_DIR/imaps.conf
sed -e "/^\[mailbox support\]/,/^\[/s|^tls = none|tls = imaps\ntls_ca_file = $DOVECOT_CA|" \
	-e "s|^port = $DOVECOT_PORT|port = $DOVECOT_IMAPS_PORT|" "$STACK_CONF" >"$CONF"
check --no-smtp
is "$?" 0 "imaps with the CA that issued the certificate: exit 0"
has "$OUT" '^mailbox support: login  *ok' "imaps: the login line is ok"
CONF=$STACK_DIR/starttls.conf
sed -e "/^\[mailbox support\]/,/^\[/s|^tls = none|tls = starttls|" "$STACK_CONF" >"$CONF"
check --no-smtp
ok $((1 - $?)) "STARTTLS with a certificate the system does not trust: exit 1"
grep '^mailbox' "$OUT" | sed 's/^/#   /'
has "$OUT" '^mailbox support: login  *FAILED: .*certificate' \
	"STARTTLS: the login line names the certificate"

# AUTH at the relay, as configured: the right password, then a wrong one.
printf 'relay:right\n' >"$SMTP_DIR/auth"
printf 'right\n' >"$STACK_DIR/smtp-right.pass"
printf 'wrong\n' >"$STACK_DIR/smtp-wrong.pass"
for pw in right wrong; do
	sed "s|^timeout = 10s|timeout = 10s\nuser = relay\npassword_file = $STACK_DIR/smtp-$pw.pass|" \
		"$STACK_CONF" >"$STACK_DIR/auth-$pw.conf"
done
CONF=$STACK_DIR/auth-right.conf
check --no-imap
is "$?" 0 "AUTH with the right password: exit 0"
CONF=$STACK_DIR/auth-wrong.conf
check --no-imap
ok $((1 - $?)) "AUTH with a wrong password: exit 1"
grep '^relay' "$OUT" | sed 's/^/#   /'
has "$OUT" "^relay 127.0.0.1:$SMTP_PORT  *FAILED: .*authentication as relay failed: 535" \
	"AUTH with a wrong password: the relay's line says the authentication failed"
rm -f "$SMTP_DIR/auth"

CONF=
smtp_down
check
ok $((1 - $?)) "the relay down: exit 1"
grep '^relay' "$OUT" | sed 's/^/#   /'
has "$OUT" "^relay 127.0.0.1:$SMTP_PORT  *FAILED: .*cannot connect" "the relay down: its line fails"
check --no-smtp
is "$?" 0 "--no-smtp skips the relay"
smtp_up

CONF=$STACK_DIR/nodb.conf
sed "s|^conninfo = .*|conninfo = host=127.0.0.1 port=1 dbname=seutudesk connect_timeout=3|" \
	"$STACK_CONF" >"$CONF"
check --no-network
ok $((1 - $?)) "the database down: exit 1"
has "$OUT" '^database connection  *FAILED: cannot connect' "the database down: its line fails"
status
is "$?" 2 "status cannot reach the database: exit 2"
has "$OUT" 'cannot connect to the database' "and says so"

CONF=$STACK_DIR/empty.conf
sed "s|^conninfo = .*|conninfo = $(pg_createdb empty)|" "$STACK_CONF" >"$CONF"
status
is "$?" 2 "a database without the schema: status exits 2"
has "$OUT" "no seutudesk schema yet: run 'seutudeskctl migrate'" "and says what to do"

CONF=$STACK_DIR/bad.conf
printf '[nonsense]\nkey = 1\n' >"$CONF"
check
ok $((1 - $?)) "a bad config: check exits 1"
has "$OUT" '^configuration  *FAILED: ' "a bad config: the configuration line fails"
status
is "$?" 2 "a bad config: status exits 2"
CONF=

daemon_stop
ok $? "the daemon stopped cleanly"
echo "1..$n"
