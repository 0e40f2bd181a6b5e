#!/bin/bash
# The daemon's outbox against a relay whose certificate it cannot verify
# (TAP): the acknowledgement stays queued with the reason on its row and in
# the log, nothing reaches the relay; once [smtp] tls_ca_file names the
# relay's CA and the daemon reloads, it goes out over STARTTLS.
# top_srcdir and top_builddir come from make check.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib/tap.sh"
STACK_SMTP_TLS=1
. "$top_srcdir/tests/lib/stack.sh"

echo "1..6"
if ! stack_start; then
	echo "Bail out! the stack does not start"
	exit 1
fi
ok 0 "stack with a TLS relay on 127.0.0.1:$SMTP_PORT, [smtp] tls = starttls"
dovecot_deliver test "$top_srcdir/contrib/samples/01-printer-karstula.eml"
daemon_start

q="SELECT status || ' ' || coalesce(last_error, '') FROM outbox"
for _ in $(seq 150); do
	row=$(stack_sql "$q" 2>/dev/null)
	case $row in *"TLS certificate"*) break ;; esac
	sleep 0.2
done
want="queued smtp 127.0.0.1:$SMTP_PORT: TLS certificate: certificate not trusted by the system trust store"
case $row in "$want"*) ok 0 "the ack stays queued with the reason: $row" ;;
*) ok 1 "the ack stays queued with the reason: '$row'" ;; esac
for _ in $(seq 50); do
	grep -q "event=deferred rows=1: smtp 127.0.0.1:$SMTP_PORT: TLS certificate: " "$STACK_LOG" && break
	sleep 0.2
done
grep -q "event=deferred rows=1: smtp 127.0.0.1:$SMTP_PORT: TLS certificate: certificate not trusted" "$STACK_LOG"
ok $? "the log says why: $(grep -m1 'event=deferred' "$STACK_LOG")"
[ "$(smtp_count)" = 0 ] && [ ! -e "$SMTP_DIR/sessions" ]
ok $? "nothing reached the relay"

# The relay's CA, and a reload: the next retry (retry_initial = 2s) goes out.
sed -i "s|^\(port = $SMTP_PORT\)$|\1\ntls_ca_file = $SMTP_CA|" "$STACK_CONF"
kill -HUP "$STACK_DAEMON_PID"
stack_wait "SELECT status FROM outbox" sent 30
ok $? "with tls_ca_file and a reload the ack is sent"
smtp_wait_count 1 10 && grep -Eq '^tls=TLSv1\.3 sni=-$' "$SMTP_DIR/sessions"
ok $? "... over STARTTLS ($(cat "$SMTP_DIR/sessions" 2>/dev/null))"
daemon_stop
exit $((failed > 0))
