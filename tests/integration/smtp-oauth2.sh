#!/bin/bash
# SMTP AUTH with OAuth 2.0 (TAP), against Debian's aiosmtpd (tests/lib/
# smtp_server.py: XOAUTH2 and OAUTHBEARER, each token checked at the
# provider's introspection endpoint) and the private provider
# tests/lib/oauth2_server.py:
#   - the adapter (smtp-send): XOAUTH2 and OAUTHBEARER with a Microsoft-sized
#     token over STARTTLS (TLS 1.3) and over smtps deliver; a refused token is
#     a temporary 535 that says so and marks the token refused, no mail, and
#     the token in no output;
#   - the daemon sends its acknowledgement through a relay with auth =
#     xoauth2 (its sender fetched the token); when the relay refuses the token
#     (revoked) the mail stays queued, the log says so, and the next attempt
#     fetches a new token and sends; the provider refusing (401) is a clear
#     log line: the mail waits, and goes once it answers; no secret or token
#     in the log;
#   - seutudeskctl check fetches the relay's token and checks the relay;
#   - a stop while a sender waits in its pre-session on a relay that never
#     greets ends at the stop's cut (2 s), not at [smtp] timeout.
# top_srcdir and top_builddir come from make check.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib/tap.sh"
PY=/usr/bin/python3
send=$top_builddir/tests/integration/smtp-send

if ! command -v jq >/dev/null || ! command -v curl >/dev/null || [ ! -x "$PY" ]; then
	echo "1..0 # SKIP needs jq, curl and /usr/bin/python3"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/smtp-oauth2.XXXXXX") || exit 1
SECRET="relay-secret-$RANDOM$RANDOM"
USER_ADDR=desk@example.invalid
"$PY" "$top_srcdir/tests/lib/oauth2_server.py" --port-file "$work/provider.port" --lifetime 600 \
	--client "relay-app:$SECRET:$USER_ADDR" >"$work/provider.log" 2>&1 &
provider=$!
for _ in $(seq 100); do [ -s "$work/provider.port" ] && break; sleep 0.05; done
PP=$(cat "$work/provider.port" 2>/dev/null)
if [ -z "$PP" ]; then
	echo "Bail out! the test provider did not start"
	kill "$provider"
	exit 1
fi
provider_url=http://127.0.0.1:$PP
control() { curl -s -o /dev/null --max-time 5 -d "$1" "$provider_url/control"; }
pstat() { curl -s --max-time 5 "$provider_url/stats" | jq -r "$1"; }
token() {
	curl -s --max-time 5 -d "grant_type=client_credentials&client_id=relay-app&client_secret=$SECRET" \
		"$provider_url/token" | jq -r .access_token
}

STACK_SMTP_TLS=1
. "$top_srcdir/tests/lib/stack.sh"
# The API only for /healthz, on a Unix socket.
api_port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
STACK_EXTRA_CONF="
[api]
listen = 127.0.0.1:$api_port
tls = no
socket = $work/api.sock"
relay_health() {
	curl -s --max-time 10 --unix-socket "$work/api.sock" http://localhost/healthz | jq -c .relay
}
cleanup() {
	stack_cleanup
	kill "$provider" 2>/dev/null
	wait "$provider" 2>/dev/null
	rm -rf "$work"
}

echo "1..18"
if ! stack_start; then
	echo "Bail out! the stack does not start"
	kill "$provider"
	exit 1
fi
trap cleanup EXIT
printf '%s\n' "$provider_url/introspect" >"$SMTP_DIR/oauth2_introspect"
ok 0 "stack with a TLS relay (STARTTLS $SMTP_PORT, smtps $SMTPS_PORT) taking OAuth 2.0, provider at $PP"

printf '%s\r\n' 'From: a@example.invalid' 'To: kirjaamo@example.invalid' 'Subject: OAuth' \
	'Date: Mon, 02 Sep 2024 09:15:00 +0300' 'Message-ID: <oauth-1@example.invalid>' '' \
	'Tulostin ei toimi.' >"$work/small.eml"
# send_as TLS PORT MECH TOKEN: smtp-send; output in $out, status in $rc.
send_as() {
	out=$("$send" -h 127.0.0.1 -p "$2" -s "$1" -C "$SMTP_CA" -t 5000 -u "$USER_ADDR" -a "$3" \
		-T "$4" -f sender@example.invalid -r kirjaamo@example.invalid "$work/small.eml" 2>&1)
	rc=$?
}
has() { printf '%s\n' "$out" | grep -q -- "$1"; }
last_attempt() { tail -n 1 "$SMTP_DIR/auth_attempts" 2>/dev/null; }
last_session() { tail -n 1 "$SMTP_DIR/sessions" 2>/dev/null; }

# 2-6: both mechanisms, over STARTTLS and smtps, with a token of about the
# size Microsoft 365 issues (the provider's client_credentials tokens).
tok=$(token)
[ "${#tok}" -gt 1500 ]
ok $? "the provider's token is Microsoft-sized (${#tok} characters)"
mails=$(smtp_count)
send_as starttls "$SMTP_PORT" xoauth2 "$tok"
[ "$rc" = 0 ] && has '^delivered 250 ' && smtp_wait_count $((mails + 1)) 10 &&
	last_attempt | grep -Eq '^XOAUTH2 [0-9]{4}' && last_session | grep -q '^tls=TLSv1\.3 '
ok $? "XOAUTH2 after STARTTLS: delivered over TLS 1.3 ($(last_attempt), $(last_session)) $(grep error <<<"$out")"
send_as starttls "$SMTP_PORT" oauthbearer "$tok"
[ "$rc" = 0 ] && has '^delivered 250 ' && last_attempt | grep -q '^OAUTHBEARER '
ok $? "OAUTHBEARER after STARTTLS: delivered ($(last_attempt)) $(grep error <<<"$out")"
send_as smtps "$SMTPS_PORT" xoauth2 "$tok"
[ "$rc" = 0 ] && has '^delivered 250 ' && last_attempt | grep -q '^XOAUTH2 '
ok $? "XOAUTH2 over smtps: delivered $(grep error <<<"$out")"
send_as smtps "$SMTPS_PORT" oauthbearer "$tok"
[ "$rc" = 0 ] && has '^delivered 250 ' && last_attempt | grep -q '^OAUTHBEARER ' &&
	smtp_wait_count $((mails + 4)) 10
ok $? "OAUTHBEARER over smtps: delivered ($(($(smtp_count) - mails)) in all) $(grep error <<<"$out")"

# 7-8: a token the relay refuses: temporary 535, marked, nothing sent, no secret shown.
control revoke=all
mails=$(smtp_count)
send_as starttls "$SMTP_PORT" xoauth2 "$tok"
[ "$rc" = 1 ] && has '^temporary 535 ' && has '^auth_refused$' &&
	has "^error: smtp 127.0.0.1:$SMTP_PORT: authentication as $USER_ADDR failed: 535 "
ok $? "a refused token (XOAUTH2): temporary, marked refused: $(grep error <<<"$out")"
send_as smtps "$SMTPS_PORT" oauthbearer "$tok"
sleep 0.3
[ "$rc" = 1 ] && has '^temporary 535 ' && has '^auth_refused$' && [ "$(smtp_count)" = "$mails" ] &&
	! has "$tok"
ok $? "... OAUTHBEARER too; no mail went, and the token is in no output"

# 9-13: the daemon's acknowledgement through the OAuth relay.
printf '%s\n' "$SECRET" >"$work/relay.secret"
chmod 0600 "$work/relay.secret"
sed -i "s|^\(port = $SMTP_PORT\)$|\1\ntls_ca_file = $SMTP_CA\nuser = $USER_ADDR\nauth = xoauth2\noauth2_token_url = $provider_url/token\noauth2_client_id = relay-app\noauth2_secret_file = $work/relay.secret\noauth2_scope = https://outlook.office365.com/.default|" "$STACK_CONF"
"$top_builddir/seutudeskctl" -c "$STACK_CONF" check --no-imap --sql-dir "$top_srcdir/sql" \
	>"$work/check.out" 2>&1
grep -q "^relay 127.0.0.1:$SMTP_PORT: OAuth 2.0 token from $provider_url/token  *ok" "$work/check.out" &&
	grep -q "^relay 127.0.0.1:$SMTP_PORT  *ok" "$work/check.out"
ok $? "seutudeskctl check: the relay's token, then the relay with it ($(grep -c relay "$work/check.out") lines)"
issued0=$(pstat '.issued["relay-app"]')
mails=$(smtp_count)
dovecot_deliver test "$top_srcdir/contrib/samples/01-printer-karstula.eml"
daemon_start
stack_wait "SELECT status FROM outbox" sent 30
ok $? "the acknowledgement is sent through the relay with auth = xoauth2"
smtp_wait_count $((mails + 1)) 10 && last_attempt | grep -q '^XOAUTH2 ' &&
	grep -q "event=oauth2_token token_url=$provider_url/token" "$STACK_LOG" &&
	[ "$(pstat '.issued["relay-app"]')" -gt "$issued0" ]
ok $? "... the sender fetched its own token ($(grep -m1 'event=oauth2_token ' "$STACK_LOG" | sed 's/.*event=/event=/'))"

# A revoked token: the relay refuses it; the next attempt gets a new one.
control revoke=all
issued1=$(pstat '.issued["relay-app"]')
mails=$(smtp_count)
dovecot_deliver test "$top_srcdir/contrib/samples/02-wilma-citizen.eml"
for _ in $(seq 100); do
	grep -q "event=oauth2_token_refused" "$STACK_LOG" && grep -q "event=deferred rows=1: 535 " "$STACK_LOG" &&
		break
	sleep 0.2
done
grep -q "event=oauth2_token_refused rows=1: the relay refused the OAuth 2.0 token" "$STACK_LOG" &&
	grep -q "event=deferred rows=1: 535 5.7.3 Authentication unsuccessful" "$STACK_LOG"
ok $? "a revoked token: the relay's 535 is logged, the mail deferred: $(grep -m1 'event=deferred rows=1: 535' "$STACK_LOG" | sed 's/.*event=/event=/')"
stack_wait "SELECT count(*) FROM outbox WHERE status = 'sent'" 2 30 &&
	[ "$(pstat '.issued["relay-app"]')" -gt "$issued1" ] && smtp_wait_count $((mails + 1)) 10
ok $? "... the next attempt fetched a new token and sent it ($(pstat '.issued["relay-app"]') issued)"

# The provider refusing the client (401): a clear line, the mail waits.
control mode=refuse
control revoke=all
dovecot_deliver test "$top_srcdir/contrib/samples/03-saarikka-kotihoito.eml"
for _ in $(seq 100); do
	grep -q "OAuth 2.0 token was refused by the provider" "$STACK_LOG" && break
	sleep 0.2
done
grep -q "OAuth 2.0 token was refused by the provider, mail stays queued: oauth2 $provider_url/token: refused (HTTP 401 invalid_client" "$STACK_LOG"
ok $? "the provider refusing: $(grep -m1 'refused by the provider' "$STACK_LOG" | sed 's/.*event=/event=/')"
health=$(relay_health)
code=$(curl -s -o "$work/health.json" -w '%{http_code}' --max-time 10 --unix-socket "$work/api.sock" http://localhost/healthz)
[ "$(jq -r .auth <<<"$health")" = failed ] && [ "$code" = 503 ] &&
	jq -e '.down | index("relay: authentication")' "$work/health.json" >/dev/null
ok $? "... /healthz: 503, the relay's authentication failed ($health, down $(jq -c .down "$work/health.json"))"
control mode=ok
stack_wait "SELECT count(*) FROM outbox WHERE status = 'sent'" 3 60 && health=$(relay_health) &&
	[ "$(jq -r .auth <<<"$health")" = null ] && [ "$(jq -r .state <<<"$health")" = ok ]
ok $? "... and once it answers again the mail goes, and /healthz's relay is ok ($health)"
! grep -qF "$SECRET" "$STACK_LOG" && ! grep -qF "$tok" "$STACK_LOG" &&
	! pstat '.tokens[]' | grep -qFf - "$STACK_LOG"
ok $? "no client secret or token in the log"

# A stop while a sender waits in its pre-session (a relay that accepts and
# never greets, [smtp] timeout = 60s): the stop cuts that socket too.
"$PY" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
    open(sys.argv[1], "a").write("accepted\n")' "$work/mute.accepts" >"$work/mute.port" &
mute=$!
for _ in $(seq 50); do [ -s "$work/mute.port" ] && break; sleep 0.1; done
sed -i "s|^port = $SMTP_PORT$|port = $(cat "$work/mute.port")|; s|^timeout = 10s$|timeout = 60s|" "$STACK_CONF"
kill -HUP "$STACK_DAEMON_PID"
sleep 1
dovecot_deliver test "$top_srcdir/contrib/samples/04-sv-konto.eml"
for _ in $(seq 150); do [ -s "$work/mute.accepts" ] && break; sleep 0.2; done
sleep 0.5
start=$(date +%s%N)
daemon_stop
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
kill "$mute" 2>/dev/null
wait "$mute" 2>/dev/null
[ -s "$work/mute.accepts" ] && [ "$rc" = 0 ] && [ "$ms" -lt 8000 ] &&
	[ "$(stack_sql "SELECT count(*) FROM outbox WHERE status = 'sending'")" = 0 ]
ok $? "a stop during the pre-session with a mute relay: a clean exit in ${ms} ms, no claim left"
exit $((failed > 0))
