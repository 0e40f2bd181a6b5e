# shellcheck shell=bash
# The whole stack for one test or the demo, all private and on loopback: a
# PostgreSQL with the schema migrated, a Dovecot with an empty support
# mailbox, an SMTP server that keeps what it receives, and a daemon config
# pointing at them.  Source it from bash after setting top_srcdir and
# top_builddir, then:
#
#   stack_start || exit 1   # sets STACK_DIR, STACK_CONF, STACK_DB, STACK_LOG
#   daemon_start            # seutudeskd -f in the background, log in $STACK_LOG
#   stack_wait 'SELECT count(*) FROM tickets' 168 60   # polls until equal
#   daemon_stop             # SIGTERM and wait; daemon_kill for SIGKILL
#   stack_sql 'SELECT ...'  # psql on the stack's database
#
# STACK_EXTRA_CONF is appended to the daemon's config at stack_start.
# STACK_IMAP_TLS=1: Dovecot with TLS (DOVECOT_TLS) and the mailbox over
# implicit TLS, verified against Dovecot's test CA (tls_ca_file).
# STACK_SMTP_TLS=1: the SMTP server with TLS (SMTP_TLS) and [smtp] tls =
# starttls, with no tls_ca_file (the test CA is $SMTP_CA).
# An EXIT trap stops everything and removes the directories.

. "$top_srcdir/tests/lib/pg.sh"
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/smtp.sh"

stack_cleanup() {
	daemon_kill 2>/dev/null
	smtp_stop 2>/dev/null
	dovecot_cleanup 2>/dev/null
	pg_cleanup 2>/dev/null
	[ -n "${STACK_DIR:-}" ] && [ "${STACK_KEEP:-0}" != 1 ] && rm -rf "$STACK_DIR"
}

stack_sql() {
	pg_psql -d seutudesk -c "$1"
}

# stack_wait QUERY EXPECTED SECONDS: true once QUERY prints EXPECTED.
stack_wait() {
	local q=$1 want=$2 secs=${3:-60} i=0 got
	while [ $i -lt $((secs * 5)) ]; do
		got=$(stack_sql "$q" 2>/dev/null)
		[ "$got" = "$want" ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	echo "stack_wait: '$q' gave '$got' after ${secs}s, wanted '$want'" >&2
	return 1
}

stack_start() {
	PG_NO_TRAP=1
	DOVECOT_NO_TRAP=1
	export PG_NO_TRAP DOVECOT_NO_TRAP
	STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/seutudesk-stack.XXXXXX") || return 1
	STACK_CONF=$STACK_DIR/seutudesk.conf
	STACK_LOG=$STACK_DIR/seutudeskd.log
	export STACK_DIR STACK_CONF STACK_LOG
	pg_start >/dev/null || return 1
	STACK_DB=$(pg_createdb seutudesk) || return 1
	"$top_builddir/seutudeskctl" migrate --sql-dir "$top_srcdir/sql" --database "$STACK_DB" \
		>"$STACK_DIR/migrate.log" 2>&1 || { cat "$STACK_DIR/migrate.log"; return 1; }
	[ "${STACK_IMAP_TLS:-0}" = 1 ] && DOVECOT_TLS=1
	dovecot_start >/dev/null || return 1
	local imap_tls="port = $DOVECOT_PORT
tls = none"
	[ "${STACK_IMAP_TLS:-0}" = 1 ] && imap_tls="port = $DOVECOT_IMAPS_PORT
tls = imaps
tls_ca_file = $DOVECOT_CA"
	[ "${STACK_SMTP_TLS:-0}" = 1 ] && SMTP_TLS=1
	smtp_start >/dev/null || return 1
	local smtp_tls="tls = none"
	[ "${STACK_SMTP_TLS:-0}" = 1 ] && smtp_tls="tls = starttls"
	trap stack_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	printf 'secret\n' >"$STACK_DIR/imap.pass"
	cat >"$STACK_CONF" <<CONF
[daemon]
rules_dir = $top_srcdir/contrib/rules.d
pid_file = $STACK_DIR/seutudeskd.pid
log_level = info

[database]
conninfo = $STACK_DB

[intake]
templates_dir = $top_srcdir/contrib/templates

[smtp]
host = 127.0.0.1
port = $SMTP_PORT
$smtp_tls
timeout = 10s

[outbox]
retry_initial = 2s
retry_max = 10s

[mailbox support]
host = 127.0.0.1
$imap_tls
user = test
password_file = $STACK_DIR/imap.pass
folder = INBOX
processed = move
processed_folder = Processed
poll_interval = 5s
${STACK_EXTRA_CONF:-}
CONF
}

# STACK_DAEMON_WRAPPER runs the daemon under a tool, e.g. "valgrind -q".
daemon_start() {
	# shellcheck disable=SC2086
	${STACK_DAEMON_WRAPPER:-} "$top_builddir/seutudeskd" -f -c "$STACK_CONF" >>"$STACK_LOG" 2>&1 &
	STACK_DAEMON_PID=$!
	export STACK_DAEMON_PID
}

daemon_stop() {
	[ -n "${STACK_DAEMON_PID:-}" ] || return 0
	kill -TERM "$STACK_DAEMON_PID" 2>/dev/null
	wait "$STACK_DAEMON_PID" 2>/dev/null
	local rc=$?
	STACK_DAEMON_PID=
	return $rc
}

daemon_kill() {
	[ -n "${STACK_DAEMON_PID:-}" ] || return 0
	kill -KILL "$STACK_DAEMON_PID" 2>/dev/null
	wait "$STACK_DAEMON_PID" 2>/dev/null
	STACK_DAEMON_PID=
	return 0
}
