#!/bin/bash
# OAuth 2.0 mailboxes against a private Dovecot with TLS and its oauth2
# passdb, and a private provider (tests/lib/oauth2_server.py: token and
# introspection endpoints on loopback, tokens that live 4 s):
#   - mailbox m365 logs in with XOAUTH2 over imaps (client_credentials grant),
#     mailbox google with OAUTHBEARER over STARTTLS (refresh_token grant);
#   - 200 mails delivered in small lots over about 12 s while tokens expire:
#     the sessions are renewed with fresh tokens, each mail a ticket once;
#   - the provider failing for now (503): the token in hand serves while it
#     is valid, then the mailbox is failing (not auth_failed), and recovers;
#   - the provider refusing (401 invalid_client): a clear log line, /healthz
#     names the mailboxes' authentication, the mail waits in the folder; when
#     the provider answers again the intake goes on, nothing lost or doubled;
#   - a token the mail server refuses (revoked): a clear log line, a new token;
#   - no secret (client secret, refresh token, any access token) in the log;
#   - a secret file open to other users is refused by the config check;
#   - the daemon runs under valgrind (when installed): no errors, no leaks.
# About a minute.
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/lib/tap.sh"
PY=/usr/bin/python3
GEN=$top_srcdir/tests/lib/genmail.sh

if [ "$(id -u)" != 0 ] || ! command -v dovecot >/dev/null || ! command -v jq >/dev/null ||
	! command -v openssl >/dev/null || [ ! -x "$PY" ]; then
	echo "1..0 # SKIP needs root, dovecot, jq, openssl and /usr/bin/python3"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/oauth2-test.XXXXXX") || exit 1
chmod 0755 "$work"
SECRET="m365-secret-$RANDOM$RANDOM"
REFRESH="google-refresh-$RANDOM$RANDOM"
"$PY" "$top_srcdir/tests/lib/oauth2_server.py" --port-file "$work/provider.port" --lifetime 4 \
	--client "m365-app:$SECRET:m365" --refresh "google-app:$REFRESH:google" \
	>"$work/provider.log" 2>&1 &
provider=$!
for _ in $(seq 100); do [ -s "$work/provider.port" ] && break; sleep 0.05; done
PP=$(cat "$work/provider.port" 2>/dev/null)
if [ -z "$PP" ]; then
	echo "Bail out! the test provider did not start"
	kill "$provider"
	exit 0
fi
provider_url=http://127.0.0.1:$PP
control() { curl -s -o /dev/null --max-time 5 -d "$1" "$provider_url/control"; }
pstat() { curl -s --max-time 5 "$provider_url/stats" | jq -r "$1"; }

. "$top_srcdir/tests/lib/stack.sh"
DOVECOT_TLS=1
DOVECOT_OAUTH2_INTROSPECT=$provider_url/introspect
export DOVECOT_TLS DOVECOT_OAUTH2_INTROSPECT
printf '%s\n' "$SECRET" >"$work/m365.secret"
printf '%s\n' "$REFRESH" >"$work/google.refresh"
printf 'google-client-secret\n' >"$work/google.secret"
chmod 0600 "$work/m365.secret" "$work/google.refresh"
chmod 0640 "$work/google.secret"
STACK_EXTRA_CONF="
[mailbox m365]
host = 127.0.0.1
port = @IMAPS@
tls = imaps
tls_ca_file = @CA@
user = m365
auth = xoauth2
oauth2_token_url = $provider_url/token
oauth2_client_id = m365-app
oauth2_secret_file = $work/m365.secret
oauth2_scope = https://outlook.office365.com/.default
processed = move
processed_folder = Processed

[mailbox google]
host = 127.0.0.1
port = @IMAP@
tls = starttls
tls_ca_file = @CA@
user = google
auth = oauthbearer
oauth2_token_url = $provider_url/token
oauth2_client_id = google-app
oauth2_secret_file = $work/google.secret
oauth2_refresh_token_file = $work/google.refresh
processed = move
processed_folder = Processed

[api]
listen = 127.0.0.1:@APIPORT@
tls = no
socket = $work/api.sock"
finish() {
	# OAUTH2_LOG_COPY=FILE keeps the daemon's log for a look afterwards.
	[ -n "${OAUTH2_LOG_COPY:-}" ] && cp "$STACK_LOG" "$DOVECOT_LOG" "$(dirname "$OAUTH2_LOG_COPY")/" 2>/dev/null
	stack_cleanup
	kill "$provider" 2>/dev/null
	wait "$provider" 2>/dev/null
	rm -rf "$work"
}
if ! stack_start >"$work/stack.log" 2>&1; then
	echo "Bail out! the test stack did not start"
	sed 's/^/# /' "$work/stack.log"
	finish
	exit 0
fi
trap finish EXIT
apiport=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dovecot_user m365 "unused-$RANDOM$RANDOM"
dovecot_user google "unused-$RANDOM$RANDOM"
sed -i -e "s|@APIPORT@|$apiport|" -e "s|@IMAPS@|$DOVECOT_IMAPS_PORT|" -e "s|@IMAP@|$DOVECOT_PORT|" -e "s|@CA@|$DOVECOT_CA|" \
	"$STACK_CONF"

q() { stack_sql "$1" 2>/dev/null || echo '?'; }
in_folder() { # USER FOLDER: its message count
	doveadm -c "$DOVECOT_CONF" -f flow mailbox status -u "$1" messages "$2" 2>/dev/null |
		sed 's/.*messages=//'
}
gen() { # PREFIX N: an mbox of N mails
	"$GEN" -n "$2" -p "$1" -s "${#1}$2" -o "$STACK_DIR/$1.mbox"
}
healthz() {
	curl -s --max-time 5 -o "$work/health.json" -w '%{http_code}' --unix-socket "$work/api.sock" \
		http://localhost/healthz
}
count_log() { grep -c -- "$1" "$STACK_LOG"; }
# exactly_once MAILBOX N: "rows distinct-ids tickets" of MAILBOX's intake
exactly_once() {
	q "SELECT count(*) || ' ' || count(DISTINCT message_id) || ' ' || count(DISTINCT ticket)
	   FROM intake_log WHERE mailbox = '$1'"
}

# --- the config check refuses a secret file open to other users ---
cp "$STACK_CONF" "$work/loose.conf"
chmod 0644 "$work/m365.secret"
"$top_builddir/seutudeskd" -n -c "$work/loose.conf" >"$work/loose.out" 2>&1
rc=$?
chmod 0600 "$work/m365.secret"
ok "$([ $rc != 0 ] && grep -q "oauth2_secret_file.*open to other users" "$work/loose.out"; echo $?)" \
	"seutudeskd -n refuses an oauth2_secret_file readable by others ($(head -1 "$work/loose.out"))"

# --- first logins: XOAUTH2 over imaps, OAUTHBEARER over STARTTLS ---
gen first-m 5 && dovecot_import_many m365 "$STACK_DIR/first-m.mbox"
gen first-g 5 && dovecot_import_many google "$STACK_DIR/first-g.mbox"
# Under valgrind where it is installed (VALGRIND=no skips it).
if [ "${VALGRIND:-yes}" != no ] && command -v valgrind >/dev/null; then
	STACK_DAEMON_WRAPPER="valgrind -q --suppressions=$top_srcdir/tests/data/valgrind.supp
		--leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
		--log-file=$work/valgrind.log"
fi
daemon_start
stack_wait "SELECT count(*) FROM intake_log WHERE mailbox IN ('m365', 'google')" 10 60
is "$(exactly_once m365) / $(exactly_once google)" "5 5 5 / 5 5 5" \
	"both mailboxes took their 5 mails in, each a ticket once"
if [ "$(exactly_once m365) / $(exactly_once google)" != "5 5 5 / 5 5 5" ]; then
	grep -E "event=(retry|auth_failed)" "$STACK_LOG" | head -5 | sed 's/^/# /'
	echo "Bail out! no intake over OAuth 2.0"
	exit 0
fi
has "$DOVECOT_LOG" "Login: user=<m365>, method=XOAUTH2.*TLS" "Dovecot logged m365 in with XOAUTH2 over TLS"
has "$DOVECOT_LOG" "Login: user=<google>, method=OAUTHBEARER.*TLS" \
	"Dovecot logged google in with OAUTHBEARER over TLS (STARTTLS)"
has "$STACK_LOG" "mailbox=m365 event=oauth2_token token_url=$provider_url/token" \
	"the daemon logs each token it obtains"
is "$(healthz)" 200 "/healthz answers 200"

# seutudeskctl check logs in as the daemon does: a token, then SASL.
"$top_builddir/seutudeskctl" -c "$STACK_CONF" check --no-smtp --sql-dir "$top_srcdir/sql" >"$work/check.out" 2>&1
rc=$?
ok "$([ $rc = 0 ] && grep -q "mailbox m365: OAuth 2.0 token from $provider_url/token.* ok" "$work/check.out" &&
	grep -q "mailbox google: login.* ok" "$work/check.out"; echo $?)" \
	"seutudeskctl check: tokens and SASL logins ok (exit $rc)"
[ $rc = 0 ] || sed 's/^/# /' "$work/check.out"

# --- 200 mails while tokens expire every 4 s ---
before_tokens=$(pstat '.issued["m365-app"]')
before_reauth=$(count_log "mailbox=m365 event=reauthenticate")
before_inactive=$(pstat .inactive)
for i in $(seq 1 25); do gen "lot$i" 8; done
t0=$(date +%s)
for i in $(seq 1 25); do
	dovecot_import_many m365 "$STACK_DIR/lot$i.mbox" || echo "# import lot$i failed"
	sleep 0.5
done
stack_wait "SELECT count(*) FROM intake_log WHERE mailbox = 'm365'" 205 90
is "$(exactly_once m365)" "205 205 205" \
	"all 205 mails of m365 taken in, each a ticket exactly once ($(($(date +%s) - t0)) s)"
is "$(in_folder m365 INBOX) $(in_folder m365 Processed)" "0 205" \
	"the m365 folder is empty, 205 mails moved after their commit"
got=$(($(pstat '.issued["m365-app"]') - before_tokens))
reauth=$(($(count_log "mailbox=m365 event=reauthenticate") - before_reauth))
ok "$([ "$got" -ge 3 ] && [ "$reauth" -ge 3 ]; echo $?)" \
	"tokens renewed mid-run: $got new m365 tokens, $reauth new sessions"
is "$(($(pstat .inactive) - before_inactive))" 0 "no expired token was ever presented to Dovecot"
is "$(q "SELECT count(*) FROM intake_log WHERE outcome = 'duplicate'")" 0 "no duplicates"

# --- the provider fails for now (503): the token in hand serves while valid ---
control mode=error
for _ in $(seq 150); do
	grep -q "mailbox=m365 event=retry in_ms=[0-9]*: oauth2 .*failed (HTTP 503" "$STACK_LOG" && break
	sleep 0.1
done
has "$STACK_LOG" "mailbox=m365 event=oauth2_renewal_failed retry_in_ms=[0-9]*: oauth2 $provider_url/token: failed (HTTP 503, no OAuth error in the answer); the token in hand is still valid" \
	"a failed renewal is a warning while the token in hand is valid"
has "$STACK_LOG" "mailbox=m365 event=retry in_ms=[0-9]*: oauth2 $provider_url/token: failed (HTTP 503" \
	"once it is not, the mailbox fails and retries"
gen down-m 10 && dovecot_import_many m365 "$STACK_DIR/down-m.mbox"
code=$(healthz)
is "$code $(jq -r '.mailboxes.m365.state, (.down | index("mailbox m365") != null)' "$work/health.json" | tr '\n' ' ')" \
	"200 failing true " "/healthz: a temporary failure is failing, not auth_failed"
control mode=ok
stack_wait "SELECT count(*) FROM intake_log WHERE mailbox = 'm365'" 215 60
is "$(exactly_once m365)" "215 215 215" "the provider back, the 10 mails came in"

# --- the provider refuses: health, nothing lost, recovery ---
control mode=refuse
for _ in $(seq 150); do
	grep -q "mailbox=m365 event=auth_failed.*refused (HTTP 401 invalid_client" "$STACK_LOG" &&
		grep -q "mailbox=google event=auth_failed.*refused (HTTP 401 invalid_client" "$STACK_LOG" &&
		break
	sleep 0.1
done
has "$STACK_LOG" "mailbox=m365 event=auth_failed in_ms=[0-9]*: oauth2 $provider_url/token: refused (HTTP 401 invalid_client: AADSTS7000215" \
	"the provider's refusal is logged with the endpoint and its error"
gen outage-m 20 && dovecot_import_many m365 "$STACK_DIR/outage-m.mbox"
gen outage-g 10 && dovecot_import_many google "$STACK_DIR/outage-g.mbox"
sleep 2
code=$(healthz)
is "$code $(jq -r '.status, .mailboxes.m365.state, .mailboxes.google.state, .mailboxes.support.state' "$work/health.json" | tr '\n' ' ')" \
	"200 degraded auth_failed auth_failed idle " \
	"/healthz: degraded, both OAuth mailboxes in auth_failed, the password one idle"
is "$(jq -r '.down | join(",")' "$work/health.json")" \
	"mailbox m365: authentication,mailbox google: authentication" "/healthz names the failed authentications"
has "$work/health.json" "invalid_client" "/healthz carries the provider's error"
"$top_builddir/seutudeskctl" -c "$STACK_CONF" check --no-smtp --sql-dir "$top_srcdir/sql" >"$work/check.out" 2>&1
rc=$?
ok "$([ $rc = 1 ] && grep -q "mailbox m365: OAuth 2.0 token.*FAILED: .*invalid_client" "$work/check.out"; echo $?)" \
	"seutudeskctl check names the provider's refusal (exit $rc)"
is "$(in_folder m365 INBOX) $(in_folder google INBOX)" "20 10" "the mail waits in the folders"

control mode=ok
stack_wait "SELECT count(*) FROM intake_log WHERE mailbox IN ('m365', 'google')" 250 60
is "$(exactly_once m365) / $(exactly_once google)" "235 235 235 / 15 15 15" \
	"after the provider answered again every mail came in, each a ticket exactly once"
for _ in $(seq 50); do
	[ "$(healthz)" = 200 ] && [ "$(jq -r .status "$work/health.json")" = ok ] && break
	sleep 0.2
done
is "$(jq -r '.status, (.down | length)' "$work/health.json" | tr '\n' ' ')" "ok 0 " "/healthz is ok again"

# --- a token the mail server refuses ---
# Dovecot delays the logins from an address after a failed one by seconds:
# longer tokens, so that the fresh one is still valid when its turn comes.
control lifetime=30
before_tokens=$(pstat '.issued["m365-app"]')
control revoke_next=m365-app
for _ in $(seq 100); do
	grep -q "mailbox=m365 event=auth_failed.*AUTHENTICATE XOAUTH2" "$STACK_LOG" && break
	sleep 0.1
done
has "$STACK_LOG" "mailbox=m365 event=auth_failed in_ms=[0-9]*: imap m365@127.0.0.1:$DOVECOT_IMAPS_PORT INBOX: AUTHENTICATE XOAUTH2: login refused" \
	"a revoked token: the log names the mailbox, the server and the refused AUTHENTICATE"
gen revoked 10 && dovecot_import_many m365 "$STACK_DIR/revoked.mbox"
stack_wait "SELECT count(*) FROM intake_log WHERE mailbox = 'm365'" 245 60
is "$(exactly_once m365)" "245 245 245" "after a fresh token the next 10 mails came in"
ok "$([ $(($(pstat '.issued["m365-app"]') - before_tokens)) -ge 2 ]; echo $?)" \
	"the refused token was dropped and a new one asked for"

# --- no secret in the log ---
pstat '.tokens[]' >"$work/tokens"
printf '%s\n%s\ngoogle-client-secret\n' "$SECRET" "$REFRESH" >>"$work/tokens"
is "$(grep -c -F -f "$work/tokens" "$STACK_LOG")" 0 \
	"no secret, refresh token or any of the $(($(wc -l <"$work/tokens") - 3)) access tokens is in the daemon's log"

daemon_stop
is "$?" 0 "the daemon stops cleanly${STACK_DAEMON_WRAPPER:+ (under valgrind: no errors, no leaks)}"
[ -s "$work/valgrind.log" ] && head -40 "$work/valgrind.log" | sed 's/^/# /'
echo "1..$n"
