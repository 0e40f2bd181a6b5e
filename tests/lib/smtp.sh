# A private SMTP server on loopback that keeps what it receives, for the
# integration tests.  Source it (POSIX sh or bash), then:
#
#   smtp_start            start the server in a fresh temp dir; exports
#                         SMTP_PORT, SMTP_DIR and SMTP_MAILDIR (a maildir:
#                         accepted messages land in $SMTP_MAILDIR/new)
#   smtp_mode MODE        what it answers from now on: accept | tempfail |
#                         permfail | rcpt-tempfail | rcpt-permfail |
#                         mail-permfail | stall | stall-all  (see smtp_server.py)
#   smtp_count            prints how many messages it has accepted
#   smtp_wait_count N [S] waits up to S seconds (default 10) for N messages
#   smtp_down             stops the server only, keeping its directory, mail
#                         and port (a relay outage)
#   smtp_up               starts it again on the same port and directory
#   smtp_stop             stops it (by its own pid) and removes the temp dir
#
# TLS (bash only): SMTP_TLS=1 at smtp_start makes a throwaway CA ($SMTP_CA,
# PEM) and a server certificate from it for 127.0.0.1 and localhost; the
# server then offers STARTTLS (not required) on SMTP_PORT and speaks TLS from
# the start on SMTPS_PORT, and notes each message's TLS version and server
# name (SNI) in $SMTP_DIR/sessions ("tls=TLSv1.3 sni=localhost").
#   smtp_tls_cert [--expired] NAME...  reissues the server certificate for
#   other DNS names or IP addresses (or one already expired); it takes effect
#   at the next smtp_down; smtp_up.
#
# smtp_start installs an EXIT trap that calls smtp_stop; a script with its own
# EXIT trap should call smtp_stop from it.  Each caller has its own port and
# directory, so tests may run in parallel.  Debian's /usr/bin/python3 runs
# the server: a python3 earlier on PATH may not see python3-aiosmtpd.

SMTP_PYTHON=${SMTP_PYTHON:-/usr/bin/python3}
_smtp_lib_dir=${top_srcdir:+$top_srcdir/tests/lib}
_smtp_lib_dir=${_smtp_lib_dir:-$(dirname "$0")/../lib}
SMTP_PID=
SMTP_DIR=
SMTPS_PORT=
SMTP_CA=

# True when something accepts TCP connections on 127.0.0.1:$1.
_smtp_listening() {
	"$SMTP_PYTHON" - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.close()
EOF
}

smtp_start() {
	if [ ! -x "$SMTP_PYTHON" ] || ! "$SMTP_PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
		echo "smtp_start: $SMTP_PYTHON cannot import aiosmtpd (package python3-aiosmtpd)" >&2
		return 1
	fi
	SMTP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/seutudesk-smtp.XXXXXX") || return 1
	SMTP_MAILDIR=$SMTP_DIR/maildir
	if [ "${SMTP_TLS:-0}" = 1 ]; then
		. "$_smtp_lib_dir/tls.sh"
		tls_ca "$SMTP_DIR/tls" && tls_ca_cert "$SMTP_DIR/tls" 127.0.0.1 localhost || {
			smtp_stop
			return 1
		}
		SMTP_CA=$SMTP_DIR/tls/ca.pem
	fi
	"$SMTP_PYTHON" "$_smtp_lib_dir/smtp_server.py" "$SMTP_DIR" \
		>"$SMTP_DIR/server.log" 2>&1 &
	SMTP_PID=$!
	trap smtp_stop EXIT
	_smtp_i=0
	while [ ! -s "$SMTP_DIR/port" ]; do
		if ! kill -0 "$SMTP_PID" 2>/dev/null; then
			echo "smtp_start: the server died:" >&2
			cat "$SMTP_DIR/server.log" >&2
			SMTP_PID=
			smtp_stop
			return 1
		fi
		_smtp_i=$((_smtp_i + 1))
		if [ "$_smtp_i" -gt 200 ]; then
			echo "smtp_start: the server did not start within 20 s" >&2
			smtp_stop
			return 1
		fi
		sleep 0.1
	done
	SMTP_PORT=$(cat "$SMTP_DIR/port")
	[ -z "$SMTP_CA" ] || SMTPS_PORT=$(cat "$SMTP_DIR/smtps_port")
	if ! _smtp_listening "$SMTP_PORT"; then
		echo "smtp_start: nothing listens on 127.0.0.1:$SMTP_PORT" >&2
		smtp_stop
		return 1
	fi
	export SMTP_PORT SMTP_DIR SMTP_MAILDIR SMTPS_PORT SMTP_CA
}

# Kills the server process (by its own pid) and waits until it has gone.
_smtp_kill() {
	[ -n "$SMTP_PID" ] || return 0
	kill "$SMTP_PID" 2>/dev/null
	_smtp_i=0
	while kill -0 "$SMTP_PID" 2>/dev/null && [ "$_smtp_i" -lt 50 ]; do
		_smtp_i=$((_smtp_i + 1))
		sleep 0.1
	done
	kill -9 "$SMTP_PID" 2>/dev/null
	wait "$SMTP_PID" 2>/dev/null
	SMTP_PID=
}

smtp_down() {
	_smtp_kill
}

smtp_up() {
	[ -n "$SMTP_DIR" ] && [ -n "$SMTP_PORT" ] || { echo "smtp_up: no server to restart" >&2; return 1; }
	[ -z "$SMTP_PID" ] || return 0
	rm -f "$SMTP_DIR/port" "$SMTP_DIR/smtps_port"
	"$SMTP_PYTHON" "$_smtp_lib_dir/smtp_server.py" "$SMTP_DIR" "$SMTP_PORT" $SMTPS_PORT \
		>>"$SMTP_DIR/server.log" 2>&1 &
	SMTP_PID=$!
	_smtp_i=0
	while [ ! -s "$SMTP_DIR/port" ]; do
		if ! kill -0 "$SMTP_PID" 2>/dev/null || [ "$_smtp_i" -gt 200 ]; then
			echo "smtp_up: the server did not come back on port $SMTP_PORT:" >&2
			tail -5 "$SMTP_DIR/server.log" >&2
			_smtp_kill
			return 1
		fi
		_smtp_i=$((_smtp_i + 1))
		sleep 0.1
	done
}

smtp_tls_cert() {
	tls_ca_cert "$SMTP_DIR/tls" "$@"
}

smtp_mode() {
	printf '%s\n' "$1" >"$SMTP_DIR/mode.tmp" && mv "$SMTP_DIR/mode.tmp" "$SMTP_DIR/mode"
}

smtp_count() {
	find "$SMTP_MAILDIR/new" -type f | wc -l | tr -d ' '
}

smtp_wait_count() {
	_smtp_i=0
	_smtp_max=$((${2:-10} * 10))
	while [ "$(smtp_count)" -lt "$1" ] && [ "$_smtp_i" -lt "$_smtp_max" ]; do
		_smtp_i=$((_smtp_i + 1))
		sleep 0.1
	done
	[ "$(smtp_count)" -ge "$1" ]
}

smtp_stop() {
	_smtp_kill
	if [ -n "$SMTP_DIR" ] && [ -d "$SMTP_DIR" ]; then
		rm -rf "$SMTP_DIR"
	fi
	SMTP_DIR=
	SMTP_CA=
}
