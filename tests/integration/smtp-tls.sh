#!/bin/bash
# The SMTP adapter's TLS (TAP): STARTTLS and implicit TLS (smtps) against
# Debian's aiosmtpd on loopback with a throwaway CA; the relay's certificate
# is verified (trust store or tls_ca_file, host name or IP address, validity)
# before any mail or password is sent; plain text only with tls = none.
# Needs python3-aiosmtpd and openssl; top_srcdir and top_builddir come from
# make check.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
send=$top_builddir/tests/integration/smtp-send
. "$top_srcdir/tests/lib/smtp.sh"
. "$top_srcdir/tests/lib/tap.sh"

# send_to HOST PORT TLS [ARGS...]: smtp-send; output in $out, status in $rc.
send_to() {
	local host=$1 port=$2 tls=$3
	shift 3
	out=$("$send" -h "$host" -p "$port" -s "$tls" -t 5000 -f sender@example.invalid \
		-r kirjaamo@example.invalid "$@" 2>&1)
	rc=$?
}
has() { printf '%s\n' "$out" | grep -q -- "$1"; }
last_session() { tail -n 1 "$SMTP_DIR/sessions" 2>/dev/null; }
sessions() { [ -f "$SMTP_DIR/sessions" ] && wc -l <"$SMTP_DIR/sessions" || echo 0; }
attempts() { [ -f "$SMTP_DIR/auth_attempts" ] && wc -l <"$SMTP_DIR/auth_attempts" || echo 0; }
# refused WHAT: the last send was temporary, named the relay and said WHAT,
# and the relay got no message and no AUTH attempt.
refused() {
	local want=$1 host=$2 port=$3
	sleep 0.3
	[ "$rc" = 1 ] && has '^temporary 0 ' && has "^error: smtp $host:$port: TLS certificate: $want" &&
		[ "$(sessions)" = "$n_sessions" ] && [ "$(smtp_count)" = "$n_mail" ] &&
		[ "$(attempts)" = "$n_attempts" ]
}
mark() { n_sessions=$(sessions) n_mail=$(smtp_count) n_attempts=$(attempts); }

echo "1..23"
SMTP_TLS=1
if ! smtp_start; then
	echo "Bail out! the SMTP test server does not start with TLS"
	exit 1
fi
ok 0 "the test server: STARTTLS on $SMTP_PORT, implicit TLS on $SMTPS_PORT"
work=$SMTP_DIR/work
mkdir -p "$work"
printf '%s\r\n' 'From: a@example.invalid' 'To: kirjaamo@example.invalid' 'Subject: TLS' \
	'Date: Mon, 02 Sep 2024 09:15:00 +0300' 'Message-ID: <tls-1@example.invalid>' '' \
	'Tulostin ei toimi.' '.piste' >"$work/small.eml"
# 300 KB: many records each way through the implicit TLS tunnel.
{ printf '%s\r\n' 'From: a@example.invalid' 'Subject: big' 'Date: Mon, 02 Sep 2024 09:15:00 +0300' \
	'Message-ID: <tls-big@example.invalid>' ''
	head -c 300000 /dev/urandom | base64 -w 76 | sed 's/$/\r/'; } >"$work/big.eml"
# The stored copy without the two envelope headers the server puts first.
stored_is() { tail -n +3 "$(ls -t "$SMTP_MAILDIR"/new/* | head -n 1)" | cmp -s - "$1"; }

# 2-4: STARTTLS, verified with tls_ca_file, to the address and to a name.
send_to 127.0.0.1 "$SMTP_PORT" starttls -C "$SMTP_CA" "$work/small.eml"
[ "$rc" = 0 ] && has '^delivered 250 ' && stored_is "$work/small.eml"
ok $? "starttls to 127.0.0.1 with the test CA: delivered, byte-identical ($(head -1 <<<"$out"))"
last_session | grep -Eq '^tls=TLSv1\.3 sni=-$'
ok $? "... over TLS 1.3, no SNI for an address ($(last_session))"
send_to localhost "$SMTP_PORT" starttls -C "$SMTP_CA" "$work/small.eml"
[ "$rc" = 0 ] && last_session | grep -Eq '^tls=TLSv1\.3 sni=localhost$'
ok $? "starttls to localhost: delivered with SNI ($(last_session)) $(grep error <<<"$out")"
# TLS 1.3 sends session tickets after the handshake: no session may stall on them.
before=$(smtp_count) n_before=$(sessions) start=$(date +%s)
"$send" -h localhost -p "$SMTP_PORT" -s starttls -C "$SMTP_CA" -t 5000 -n 20 -f a@example.invalid \
	-r b@example.invalid "$work/small.eml" >"$work/twenty.out" 2>&1
rc=$?
secs=$(($(date +%s) - start))
[ "$rc" = 0 ] && smtp_wait_count $((before + 20)) 10 &&
	[ "$(tail -n +$((n_before + 1)) "$SMTP_DIR/sessions" | grep -c '^tls=TLSv1\.3 sni=localhost$')" = 20 ] &&
	[ "$secs" -lt 20 ]
ok $? "starttls: 20 sessions in a row over TLS 1.3, none stalled (${secs} s, $(($(smtp_count) - before)) delivered)"

# 5-7: implicit TLS.
send_to 127.0.0.1 "$SMTPS_PORT" smtps -C "$SMTP_CA" "$work/big.eml"
[ "$rc" = 0 ] && has '^delivered 250 ' && stored_is "$work/big.eml"
ok $? "smtps to 127.0.0.1: a 300 KB message delivered byte-identical $(grep error <<<"$out")"
last_session | grep -Eq '^tls=TLSv1\.3 sni=-$'
ok $? "... over TLS 1.3 ($(last_session))"
before=$(smtp_count)
"$send" -h localhost -p "$SMTPS_PORT" -s smtps -C "$SMTP_CA" -n 20 -f a@example.invalid \
	-r b@example.invalid "$work/small.eml" >/dev/null 2>&1
smtp_wait_count $((before + 20)) 10 && last_session | grep -q 'sni=localhost$'
ok $? "smtps to localhost: 20 sessions in a row delivered, with SNI ($(($(smtp_count) - before)))"

# 8-9: AUTH (PLAIN, allowed over TLS only) after STARTTLS and over smtps.
printf 'agent:Sal4inen-s3cret\n' >"$SMTP_DIR/auth"
send_to 127.0.0.1 "$SMTP_PORT" starttls -C "$SMTP_CA" -u agent -P 'Sal4inen-s3cret' "$work/small.eml"
[ "$rc" = 0 ] && [ "$(attempts)" -ge 1 ]
ok $? "AUTH after STARTTLS: delivered ($(tail -1 "$SMTP_DIR/auth_attempts" 2>/dev/null)) $(grep error <<<"$out")"
send_to 127.0.0.1 "$SMTPS_PORT" smtps -C "$SMTP_CA" -u agent -P 'Sal4inen-s3cret' "$work/small.eml"
[ "$rc" = 0 ] && has '^delivered 250 '
ok $? "AUTH over smtps: delivered $(grep error <<<"$out")"

# 10: tls = none sends in plain text even to a relay that offers STARTTLS.
send_to 127.0.0.1 "$SMTP_PORT" none "$work/small.eml"
[ "$rc" = 0 ] && [ "$(last_session)" = "tls=none sni=-" ]
ok $? "tls = none: plain text, only because configured ($(last_session))"

# 11-13: the system trust store does not know the test CA.
mark
send_to 127.0.0.1 "$SMTP_PORT" starttls -u agent -P 'Sal4inen-s3cret' "$work/small.eml"
refused "certificate not trusted by the system trust store (issuer unknown: CN=seutudesk test CA" \
	127.0.0.1 "$SMTP_PORT"
ok $? "starttls, system trust store: refused, no mail, no AUTH: $(grep error <<<"$out")"
! has 'Sal4inen'
ok $? "... and the password is in no output"
send_to 127.0.0.1 "$SMTPS_PORT" smtps "$work/small.eml"
refused "certificate not trusted by the system trust store" 127.0.0.1 "$SMTPS_PORT"
ok $? "smtps, system trust store: refused: $(grep error <<<"$out")"

# 14-16: a certificate from the right CA for another host name.
smtp_tls_cert other.example 192.0.2.1 && smtp_down && smtp_up
mark
send_to 127.0.0.1 "$SMTP_PORT" starttls -C "$SMTP_CA" "$work/small.eml"
refused "host name mismatch: the certificate (CN=other.example) is not for '127.0.0.1'" \
	127.0.0.1 "$SMTP_PORT"
ok $? "starttls, certificate for other.example: $(grep error <<<"$out")"
send_to localhost "$SMTPS_PORT" smtps -C "$SMTP_CA" "$work/small.eml"
refused "host name mismatch: the certificate (CN=other.example) is not for 'localhost'" \
	localhost "$SMTPS_PORT"
ok $? "smtps, certificate for other.example: $(grep error <<<"$out")"
smtp_tls_cert other.example localhost && smtp_down && smtp_up
send_to localhost "$SMTP_PORT" starttls -C "$SMTP_CA" "$work/small.eml"
[ "$rc" = 0 ]
ok $? "... the same CA's certificate with localhost in it is taken $(grep error <<<"$out")"

# 17-18: an expired certificate from the right CA.
smtp_tls_cert --expired 127.0.0.1 localhost && smtp_down && smtp_up
mark
send_to 127.0.0.1 "$SMTP_PORT" starttls -C "$SMTP_CA" "$work/small.eml"
refused "certificate expired" 127.0.0.1 "$SMTP_PORT"
ok $? "starttls, expired certificate: $(grep error <<<"$out")"
send_to 127.0.0.1 "$SMTPS_PORT" smtps -C "$SMTP_CA" "$work/small.eml"
refused "certificate expired" 127.0.0.1 "$SMTPS_PORT"
ok $? "smtps, expired certificate: $(grep error <<<"$out")"

# 19: smtps to a port that speaks plain SMTP: the handshake fails, clearly.
smtp_tls_cert 127.0.0.1 localhost && smtp_down && smtp_up
send_to 127.0.0.1 "$SMTP_PORT" smtps -C "$SMTP_CA" "$work/small.eml"
[ "$rc" = 1 ] && has "^error: smtp 127.0.0.1:$SMTP_PORT: TLS handshake failed: "
ok $? "smtps to a plain SMTP port: $(grep error <<<"$out")"

# 20: an unreadable tls_ca_file is the configuration's trouble, said so.
send_to 127.0.0.1 "$SMTP_PORT" starttls -C "$work/missing.pem" "$work/small.eml"
[ "$rc" = 1 ] && has "cannot read tls_ca_file '$work/missing.pem': No such file"
ok $? "a missing tls_ca_file: $(grep error <<<"$out")"

# 21-22: the relay down, and one that never answers the handshake.
port=$SMTPS_PORT
smtp_down
send_to 127.0.0.1 "$port" smtps -C "$SMTP_CA" "$work/small.eml"
[ "$rc" = 1 ] && has "^error: smtp 127.0.0.1:$port: cannot connect: Connection refused"
ok $? "smtps, relay down: $(grep error <<<"$out")"
/usr/bin/python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
time.sleep(20)' >"$work/mute.port" &
mute=$!
for _ in $(seq 50); do [ -s "$work/mute.port" ] && break; sleep 0.1; done
start=$(date +%s%N)
"$send" -h 127.0.0.1 -p "$(cat "$work/mute.port")" -s smtps -C "$SMTP_CA" -t 1000 \
	-f a@example.invalid -r b@example.invalid "$work/small.eml" >"$work/mute.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
kill $mute 2>/dev/null
wait $mute 2>/dev/null
out=$(cat "$work/mute.out")
[ "$rc" = 1 ] && has "TLS handshake: no answer within 1000 ms" && [ "$ms" -lt 5000 ]
ok $? "smtps to a relay that never answers the handshake: temporary in ${ms} ms: $(grep error <<<"$out")"

exit $((failed > 0))
