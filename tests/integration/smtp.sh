#!/bin/bash
# The SMTP adapter against a private SMTP server on loopback (TAP).
# Needs python3-aiosmtpd; top_srcdir and top_builddir come from make check.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
send=$top_builddir/tests/integration/smtp-send
. "$top_srcdir/tests/lib/smtp.sh"

. "$top_srcdir/tests/lib/tap.sh"
# Runs smtp-send against the test server; output in $out, status in $rc.
run() {
	out=$("$send" -h 127.0.0.1 -p "$SMTP_PORT" -s none -f sender@example.invalid "$@" 2>&1)
	rc=$?
}
has() { printf '%s\n' "$out" | grep -q -- "$1"; }

echo "1..31"
if ! smtp_start; then
	echo "Bail out! the SMTP test server does not start"
	exit 1
fi
ok 0 "the test server listens on 127.0.0.1:$SMTP_PORT"
work=$SMTP_DIR/work
mkdir -p "$work"

# A message with UTF-8 in headers and body, lines starting with ".", and a
# line that is a single "." (which must not end DATA).
printf '%s\r\n' \
	'From: Äijä Virtanen <sender@example.invalid>' \
	'To: Kirjaamo <kirjaamo@example.invalid>' \
	'Subject: Tulostin ei toimi – skrivaren fungerar inte' \
	'Date: Mon, 02 Sep 2024 09:15:00 +0300' \
	'Message-ID: <smtp-test-1@example.invalid>' \
	'MIME-Version: 1.0' \
	'Content-Type: text/plain; charset=utf-8' \
	'Content-Transfer-Encoding: 8bit' \
	'' \
	'Hyvää huomenta, Åsa ja Öljy!' \
	'.piste rivin alussa' \
	'..kaksi pistettä' \
	'.' \
	'Loppu. 你好 ✓' >"$work/utf8.eml"

run -r kirjaamo@example.invalid "$work/utf8.eml"
ok $((rc != 0)) "a UTF-8 message is delivered (exit $rc)"
has '^delivered 250 ' && ok 0 "the outcome is 'delivered' with 250" ||
	ok 1 "the outcome is 'delivered' with 250: $out"
smtp_wait_count 1 15
ok $? "the server kept one message"
got=$(find "$SMTP_MAILDIR/new" -type f | head -n 1)
# The server adds two envelope headers in front; the rest must be the bytes sent.
tail -n +3 "$got" >"$work/got.eml"
cmp -s "$work/utf8.eml" "$work/got.eml"
ok $? "the received copy is byte-identical (dot-stuffing undone, UTF-8 intact)"
head -n 2 "$got" | tr -d '\r' >"$work/envelope"
grep -qx 'X-MailFrom: sender@example.invalid' "$work/envelope" &&
	grep -qx 'X-RcptTo: kirjaamo@example.invalid' "$work/envelope"
ok $? "the envelope is the one given"

# Bare LF line ends go out as CRLF, and "." lines are still stuffed.
printf 'From: a@example.invalid\nDate: Mon, 02 Sep 2024 09:15:00 +0300\nMessage-ID: <lf@example.invalid>\nSubject: lf\n\nrivi\n.\n.piste\n' >"$work/lf.eml"
before=$(smtp_count)
run -r lf@example.invalid "$work/lf.eml"
smtp_wait_count $((before + 1)) 15
got=$(grep -l 'lf@example.invalid' "$SMTP_MAILDIR"/new/* | head -n 1)
printf 'rivi\r\n.\r\n.piste\r\n' >"$work/lf-body"
tail -c 17 "$got" | cmp -s - "$work/lf-body"
ok $? "a bare-LF message arrives with CRLF and its '.' lines whole (exit $rc)"

# 50 messages, one session each.
before=$(smtp_count)
start=$(date +%s%N)
i=0
bad=0
while [ $i -lt 50 ]; do
	run -r "loop$i@example.invalid" "$work/utf8.eml"
	[ $rc -eq 0 ] || bad=$((bad + 1))
	i=$((i + 1))
done
ms=$((($(date +%s%N) - start) / 1000000))
ok $bad "50 sends in a loop all delivered (${ms} ms)"
smtp_wait_count $((before + 50)) 10
ok $? "the server counted 50 more messages ($(($(smtp_count) - before)))"

# The before_dot hook: it runs once, after the whole message and before
# the final "."; when it says no, the relay never gets the "." and keeps
# nothing (a large message and one without a final CRLF too).
{ printf '%s\r\n' 'From: a@example.invalid' 'Message-ID: <hook-big@example.invalid>' ''
	head -c 300000 /dev/zero | tr '\0' 'x' | fold -w 76 | sed 's/$/\r/'
	printf 'no final line end'; } >"$work/big.eml"
before=$(smtp_count)
run -X -r hook-yes@example.invalid "$work/big.eml"
smtp_wait_count $((before + 1)) 15
[ $rc -eq 0 ] && has '^hook 1$' && [ "$(smtp_count)" -eq $((before + 1)) ]
ok $? "a hook that lets the '.' go runs once and the message is delivered"
before=$(smtp_count)
run -x -r hook-no@example.invalid "$work/big.eml"
r1=$rc o1=$out
run -x -r hook-no@example.invalid "$work/utf8.eml"
sleep 0.5
[ $r1 -eq 1 ] && [ $rc -eq 1 ] && has '^hook 1 refused$' && has 'held back' &&
	printf '%s\n' "$o1" | grep -q '^hook 1 refused$'
ok $? "a hook that holds the '.' back: temporary, once, says so"
[ "$(smtp_count)" -eq "$before" ] && ! grep -qs 'hook-no@' "$SMTP_MAILDIR"/new/*
ok $? "... and the relay stored nothing"
run -X -r hook-after@example.invalid "$work/utf8.eml"
smtp_wait_count $((before + 1)) 15
[ $rc -eq 0 ] && [ "$(smtp_count)" -eq $((before + 1)) ]
ok $? "... and the relay takes the next message as usual"

smtp_mode tempfail
run -r kirjaamo@example.invalid "$work/utf8.eml"
[ $rc -eq 1 ] && has '^temporary 451 4\.3\.0 '
ok $? "a 451 after DATA is temporary with its code"
has "^error: smtp 127.0.0.1:$SMTP_PORT: " && ok 0 "the error names host:port" ||
	ok 1 "the error names host:port: $out"

smtp_mode permfail
run -r kirjaamo@example.invalid "$work/utf8.eml"
[ $rc -eq 2 ] && has '^permanent 554 5\.6\.0 Message content rejected'
ok $? "a 554 after DATA is permanent with its code and text"

smtp_mode rcpt-tempfail
run -r a@example.invalid -r b@example.invalid "$work/utf8.eml"
[ $rc -eq 1 ] && has '^temporary 450 ' && has '^rcpt b@example.invalid temporary'
ok $? "450 to every RCPT is temporary, per recipient too"

smtp_mode rcpt-permfail
run -r a@example.invalid "$work/utf8.eml"
[ $rc -eq 2 ] && has '^permanent 550 5\.1\.1 '
ok $? "550 to every RCPT is permanent"

smtp_mode mail-permfail
run -r a@example.invalid "$work/utf8.eml"
[ $rc -eq 2 ] && has '^permanent 553 ' && has 'MAIL FROM refused'
ok $? "553 to MAIL FROM is permanent"

smtp_mode accept
before=$(smtp_count)
run -s starttls -r a@example.invalid "$work/utf8.eml"
[ $rc -eq 1 ] && has '^temporary ' && has 'does not offer STARTTLS'
ok $? "tls = starttls without STARTTLS: temporary, says why"
sleep 0.2
[ "$(smtp_count)" -eq "$before" ]
ok $? "... and nothing was sent"

printf 'agent:Sal4inen-s3cret\n' >"$SMTP_DIR/auth"
run -u agent -P 'Sal4inen-s3cret' -c -r a@example.invalid "$work/utf8.eml"
[ $rc -eq 0 ] && has '^delivered 250 '
ok $? "AUTH with the right password delivers"
before=$(smtp_count)
run -u agent -P 'Wr0ng-s3cret' -c -r a@example.invalid "$work/utf8.eml"
[ $rc -eq 1 ] && has '^temporary 535 ' && has 'authentication as agent failed'
ok $? "a refused login is temporary with the 535"
sleep 0.2
[ "$(smtp_count)" -eq "$before" ] && ! has 'Wr0ng'
ok $? "... nothing was sent unauthenticated, and no password in the outcome or error"
smtp_mode tempfail
run -u agent -P 'Sal4inen-s3cret' -c -r a@example.invalid "$work/utf8.eml"
[ $rc -eq 1 ] && has '^temporary 451 ' && ! has 'Sal4inen'
ok $? "no password in a failure after a good login"
run -u agent -P 'Sal4inen-s3cret' -r a@example.invalid "$work/utf8.eml"
[ $rc -eq 64 ] && has 'in clear' && ! has 'Sal4inen'
ok $? "AUTH without TLS needs an explicit allowance"
smtp_mode stall
start=$(date +%s%N)
run -t 1000 -r a@example.invalid "$work/utf8.eml"
ms=$((($(date +%s%N) - start) / 1000000))
[ $rc -eq 1 ] && [ $ms -lt 5000 ]
ok $? "a relay that stalls after DATA times out as temporary (${ms} ms)"
smtp_mode accept

port=$SMTP_PORT
smtp_stop
SMTP_PORT=$port
start=$(date +%s%N)
printf '%s\r\n' 'From: a@example.invalid' '' 'x' >/tmp/seutudesk-smtp-down.$$
run -r a@example.invalid /tmp/seutudesk-smtp-down.$$
ms=$((($(date +%s%N) - start) / 1000000))
rm -f /tmp/seutudesk-smtp-down.$$
[ $rc -eq 1 ] && has '^temporary 0 ' && has 'Connection refused'
ok $? "the server down is temporary: connection refused"
[ $ms -lt 2000 ]
ok $? "... and that is known quickly (${ms} ms)"

# A relay that drops SYNs: a listener that never accepts, its queue full.
# (smtp_stop took the work directory with it.)
hole_dir=$(mktemp -d)
printf '%s\r\n' 'From: a@example.invalid' '' 'x' >"$hole_dir/mail"
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False); c.connect_ex(s.getsockname()); fill.append(c)
print(s.getsockname()[1], flush=True)
time.sleep(30)' >"$hole_dir/port" &
hole=$!
for _ in $(seq 50); do [ -s "$hole_dir/port" ] && break; sleep 0.1; done
sleep 0.3 # the queue fills
SMTP_PORT=$(cat "$hole_dir/port")
start=$(date +%s%N)
run -t 1000 -r a@example.invalid "$hole_dir/mail"
ms=$((($(date +%s%N) - start) / 1000000))
kill $hole 2>/dev/null
wait $hole 2>/dev/null
rm -rf "$hole_dir"
[ $rc -eq 1 ] && has '^temporary 0 ' && has 'no answer within 1000 ms' && [ $ms -lt 5000 ]
ok $? "a relay that never answers the connect: temporary after the timeout (${ms} ms)"
SMTP_PORT=$port

"$send" -p 0 -f a@example.invalid -r b@example.invalid /dev/null >/dev/null 2>&1
[ $? -eq 64 ]
ok $? "a bad port is refused by the settings check"

exit $((failed > 0))
