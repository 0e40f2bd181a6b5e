#!/bin/bash
# The demo, all private and on loopback: installs what is missing (as root on
# Debian 12), builds seutudesk, and brings up a PostgreSQL cluster, a Dovecot
# IMAP server with the sample mails of contrib/samples in the support
# mailbox, an SMTP server that receives the acknowledgements, and the
# daemon.  It prints what happened and leaves everything running.
#
#   bash contrib/demo.sh         start (a running demo is stopped first)
#   bash contrib/demo.sh stop    stop it and remove its files
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/_build/demo
state=${SEUTUDESK_DEMO_DIR:-/tmp/seutudesk-demo}

demo_stop() {
	[ -f "$state/env" ] || return 0
	# shellcheck disable=SC1091
	. "$state/env"
	[ -f "$STACK_DIR/seutudeskd.pid" ] && kill "$(cat "$STACK_DIR/seutudeskd.pid")" 2>/dev/null
	[ -n "${SMTP_PID:-}" ] && kill "$SMTP_PID" 2>/dev/null
	[ -n "${DOVECOT_CONF:-}" ] && doveadm -c "$DOVECOT_CONF" stop 2>/dev/null
	[ -n "${PG_DATA:-}" ] && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DATA" \
		-m fast -w stop >/dev/null 2>&1
	rm -rf "$STACK_DIR" "$DOVECOT_DIR" "$SMTP_DIR" "$PG_DIR" "$state"
	echo "The demo is stopped."
}

if [ "${1:-start}" = stop ]; then
	demo_stop
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: run it as root (it installs packages and starts private servers)" >&2
	exit 1
fi
demo_stop >/dev/null

sh "$top/contrib/debian-deps.sh"
echo "==> building in $build"
(cd "$top" && autoreconf -fi >/dev/null 2>&1)
mkdir -p "$build"
(cd "$build" && "$top/configure" -q && make -s -j2 >/dev/null)

echo "==> starting PostgreSQL, Dovecot and an SMTP server on loopback"
export top_srcdir=$top top_builddir=$build
export PG_NO_WATCHDOG=1 STACK_KEEP=1
mkdir -p "$state"
# The agents' API on a loopback port with a certificate of its own.
. "$top/tests/lib/tls.sh"
tls_cert "$state" 30
api_port=8443
while (exec 3<>"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null; do api_port=$((api_port + 1)); done
# The region's queues, routes and SLA policies of the example config, and the API.
STACK_EXTRA_CONF="$(awk '/^\[(queue|route|sla) / { on = 1 } /^\[(mailbox|calendar|daemon|api)/ { on = 0 }
	/^# \[/ { on = 0 } on' "$top/contrib/seutudesk.conf.example")
[api]
listen = 127.0.0.1:$api_port
cert_file = $state/cert.pem
key_file = $state/key.pem
"
export STACK_EXTRA_CONF
set +eu
# shellcheck disable=SC1091
. "$top/tests/lib/stack.sh"
stack_start || { echo "demo.sh: the servers did not start" >&2; stack_cleanup; exit 1; }
trap - EXIT INT TERM # from here on everything keeps running
{
	for v in STACK_DIR STACK_CONF STACK_LOG PG_DIR PG_DATA DOVECOT_DIR DOVECOT_CONF SMTP_DIR \
		SMTP_PID SMTP_MAILDIR; do
		printf '%s=%q\n' "$v" "${!v}"
	done
} >"$state/env"

echo "==> delivering $(ls "$top"/contrib/samples/*.eml | wc -l) sample mails to the support mailbox"
for f in "$top"/contrib/samples/*.eml; do dovecot_deliver test "$f"; done
setsid "$build/seutudeskd" -f -c "$STACK_CONF" >>"$STACK_LOG" 2>&1 </dev/null &
total=$(ls "$top"/contrib/samples/*.eml | wc -l)
stack_wait "SELECT count(*) FROM intake_log" "$total" 60
stack_wait "SELECT count(*) FROM outbox WHERE status <> 'sent'" 0 60

echo
echo "==> tickets"
stack_sql "SELECT format('%5s  %-11s %-15s %-10s %-8s %-4s %s', number, coalesce(municipality, 'unknown'),
	coalesce(sector, 'unknown'), coalesce(category, 'unknown'), priority, lang, left(subject, 50))
	FROM tickets ORDER BY number"
echo
echo "==> tickets per queue (the [route] sections of contrib/seutudesk.conf.example)"
stack_sql "SELECT format('%5s  %s', n, queue) FROM (SELECT count(*) AS n, queue FROM tickets
	GROUP BY queue) q ORDER BY n DESC, queue"
echo
echo "==> tickets per municipality and sector"
stack_sql "SELECT format('%5s  %-11s %s', n, m, s) FROM (SELECT count(*) AS n,
	coalesce(municipality, 'unknown') AS m, coalesce(sector, 'unknown') AS s
	FROM tickets GROUP BY 2, 3) t ORDER BY n DESC, m, s"
echo
echo "==> what the intake did with each mail"
stack_sql "SELECT format('%5s  %-13s %s', uid, outcome,
	concat_ws('; ', 'ticket ' || ticket, nullif(left(reason, 60), ''))) FROM intake_log ORDER BY uid"
echo
echo "==> acknowledgements: $(smtp_count) delivered to the SMTP server ($SMTP_MAILDIR/new)"
grep -h '^Subject:' "$SMTP_MAILDIR"/new/* | head -3 | sed 's/^/    /'
echo
echo "==> the classifier's decision on each sample (seutudeskctl classify --table)"
"$build/seutudeskctl" classify --rules "$top/contrib/rules.d" --table "$top"/contrib/samples/*.eml

# Two agents: Aino sees everything (cleared for sote), Olli all but sote.
ctl() { "$build/seutudeskctl" -c "$STACK_CONF" "$@"; }
ctl agent add aino --name "Aino Agentti" --email aino@seutu-it.fi --role lead --sote >/dev/null
ctl agent add olli --name "Olli Operaattori" --email olli@seutu-it.fi >/dev/null
ctl token issue aino 2>/dev/null >"$state/aino.token"
ctl token issue olli 2>/dev/null >"$state/olli.token"
chmod 0600 "$state"/*.token
echo
echo "==> the queue as agent aino sees it (seutudesk list)"
SEUTUDESK_URL=https://127.0.0.1:$api_port SEUTUDESK_CA=$state/cert.pem \
	SEUTUDESK_TOKEN=$(cat "$state/aino.token") "$build/seutudesk" list --limit 15
echo
cat <<EOF
The demo keeps running: seutudeskd picks up new mail at once (IMAP IDLE).
  Open the queue (agent aino, cleared for sote; olli.token for one who is not):
    SEUTUDESK_URL=https://127.0.0.1:$api_port SEUTUDESK_CA=$state/cert.pem \\
    SEUTUDESK_TOKEN=\$(cat $state/aino.token) $build/seutudesk
  Send another:   doveadm -c $DOVECOT_CONF save -u test < FILE.eml
  Daemon log:     $STACK_LOG
  Database:       psql "$STACK_DB"
  Explain a mail: $build/seutudeskctl classify --rules $top/contrib/rules.d FILE.eml
  Stop it all:    bash $top/contrib/demo.sh stop
EOF
