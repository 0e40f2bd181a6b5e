#!/bin/bash
# The outbox across a COMMIT whose outcome the sender cannot know (TAP): the
# commit of data_end_at, just before the final ".", happens on the server
# but its connection breaks before the answer (as when a primary is lost
# mid-commit and its synchronous standby, promoted, has the commit), and
# the database then stays away for longer than the sender's reconnects.
# The sender held the "." back, so the relay has nothing; the row must be
# sent later, once, and never be taken for sent.
#
# How: with synchronous_standby_names naming a standby that never comes,
# a trigger makes only the data_end_at commit wait for it (the session
# commits with synchronous_commit = local otherwise).  The test ends that
# backend while it waits (the commit is then already done locally), and
# refuses connections to the database for 8 s.
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
SENDER=
trap '[ -n "$SENDER" ] && kill "$SENDER" 2>/dev/null; pg_cleanup; smtp_stop' EXIT
db=$(pg_createdb indoubt) || exit 1
for f in "$top_srcdir"/sql/[0-9][0-9][0-9]*_*.sql; do
	pg_psql -d indoubt -1 -f "$f" >/dev/null || {
		echo "Bail out! $f does not apply"
		exit 1
	}
done
# The test's own sessions never wait for the missing standby.
q() { PGOPTIONS='-c synchronous_commit=local' pg_psql -d indoubt -c "$1"; }
qp() { PGOPTIONS='-c synchronous_commit=local' pg_psql -d postgres -c "$1"; }
W=$PG_DIR/work
mkdir -p "$W"

echo "1..6"
ticket=$(q "INSERT INTO tickets (requester_address, subject) VALUES ('asiakas@example.invalid', 'Tulostin') RETURNING number")
"$RUN" enqueue -d "$db" -n 1 -T "$ticket" -r indoubt >"$W/ids"
mid=$(head -1 "$W/ids")

q "CREATE FUNCTION test_wait_at_data_end() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.data_end_at IS NOT NULL AND OLD.data_end_at IS NULL THEN
		PERFORM set_config('synchronous_commit', 'on', true);
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER test_wait_at_data_end BEFORE UPDATE ON outbox
	FOR EACH ROW EXECUTE FUNCTION test_wait_at_data_end();" >/dev/null
qp "CREATE ROLE sender LOGIN SUPERUSER" >/dev/null
qp "ALTER DATABASE indoubt SET synchronous_commit = local" >/dev/null
qp "ALTER SYSTEM SET synchronous_standby_names = 'nobody'" >/dev/null
qp "SELECT pg_reload_conf()" >/dev/null

sdb=${db/user=postgres/user=sender}
"$RUN" send -d "$sdb" -p "$SMTP_PORT" -t 2000 -L 90 -w 60 -K >"$W/out" 2>"$W/err" &
SENDER=$!

pid=
for i in $(seq 1 100); do
	pid=$(qp "SELECT pid FROM pg_stat_activity WHERE datname = 'indoubt'
		AND wait_event = 'SyncRep'")
	[ -n "$pid" ] && break
	sleep 0.1
done
ok "$([ -n "$pid" ]; echo $?)" "the data_end_at commit waits for the standby (done locally)"

# The commit stays; the sender's connection breaks, and it cannot log in
# again for 8 s (longer than its reconnects while recording).
qp "ALTER ROLE sender NOLOGIN" >/dev/null
qp "SELECT pg_terminate_backend($pid)" >/dev/null
qp "ALTER SYSTEM RESET synchronous_standby_names" >/dev/null
qp "SELECT pg_reload_conf()" >/dev/null
q "DROP TRIGGER test_wait_at_data_end ON outbox" >/dev/null
sleep 1
is "$(q "SELECT status || ' ' || (data_end_at IS NOT NULL) FROM outbox")" "sending true" \
	"the row was left sending with data_end_at committed"
sleep 7
is "$(find "$SMTP_MAILDIR/new" -type f | wc -l | tr -d ' ')" 0 \
	"the relay got nothing: the \".\" was held back"
qp "ALTER ROLE sender LOGIN" >/dev/null

# The sender records what it kept (queued again, after its backoff, which
# the test skips), then sends the row.
for i in $(seq 1 150); do
	[ "$(q "SELECT status FROM outbox")" != sending ] && break
	sleep 0.1
done
q "UPDATE outbox SET next_attempt_at = now() WHERE status = 'queued'" >/dev/null
for i in $(seq 1 200); do
	[ "$(q "SELECT status FROM outbox")" = sent ] && break
	sleep 0.1
done
kill "$SENDER" 2>/dev/null
wait "$SENDER" 2>/dev/null
SENDER=
is "$(q "SELECT status || ' ' || attempts FROM outbox")" "sent 2" \
	"the row was sent on a second attempt, not taken for sent"
is "$(grep -l "$mid" "$SMTP_MAILDIR"/new/* 2>/dev/null | wc -l | tr -d ' ')" 1 \
	"the relay got the mail exactly once"
got=$(q "SELECT coalesce(last_error, '') FROM outbox")
[[ $got != *"delivery not confirmed"* ]]
ok $? "the row's record is no unconfirmed delivery"
[ "$failed" = 0 ] || sed 's/^/# sender: /' "$W/err" | tail -10
