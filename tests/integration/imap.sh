#!/bin/bash
# The IMAP adapter against a private Dovecot on loopback (TAP).
# Mail comes from contrib/samples/*.eml, so the corpus is not needed.
# Needs root and dovecot-core + dovecot-imapd; skips otherwise.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
client=$top_builddir/tests/integration/imap-client

if [ "$(id -u)" != 0 ] || ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/imap ] ||
	! command -v openssl >/dev/null; then
	echo "1..0 # SKIP needs root, Dovecot (dovecot-core, dovecot-imapd) and openssl"
	exit 0
fi
if [ ! -x "$client" ]; then
	echo "1..0 # SKIP $client not built (make check builds it)"
	exit 0
fi

# shellcheck source=../lib/dovecot.sh
. "$top_srcdir/tests/lib/dovecot.sh"

. "$top_srcdir/tests/lib/tap.sh"
diag() { sed 's/^/# /'; }
ms() { echo $(($(date +%s%N) / 1000000)); }

echo "1..25"
# With a test CA: STARTTLS on DOVECOT_PORT, implicit TLS on DOVECOT_IMAPS_PORT.
DOVECOT_TLS=1
if ! dovecot_start 2> >(diag); then
	echo "Bail out! private Dovecot did not start"
	exit 1
fi
w=$DOVECOT_DIR/work
mkdir -p "$w/out" "$w/out2"
echo secret >"$w/pw"
echo wrong-secret-xyz >"$w/badpw"
A=(--port "$DOVECOT_PORT" --user test --pass-file "$w/pw")
samples=("$top_srcdir"/contrib/samples/*.eml)
for f in "${samples[@]}"; do
	dovecot_deliver test "$f" || echo "# deliver $f failed"
done

# 1-2: UIDVALIDITY is reported and stays the same on reconnect.
"$client" "${A[@]}" info >"$w/info1" 2>"$w/err"
ok $? "info: connect, login, select"
diag <"$w/err"
uv1=$(awk '/^uidvalidity/{print $2}' "$w/info1")
"$client" "${A[@]}" info >"$w/info2" 2>&1
uv2=$(awk '/^uidvalidity/{print $2}' "$w/info2")
[ -n "$uv1" ] && [ "$uv1" != 0 ] && [ "$uv1" = "$uv2" ]
ok $? "UIDVALIDITY reported and stable ($uv1)"
grep -q '^caps.*IDLE' "$w/info1"
ok $? "capabilities seen: $(grep '^caps' "$w/info1")"

# 4-5: fetched sources are byte-identical to what was saved; one batch.
"$client" "${A[@]}" fetch-all "$w/out" >"$w/fetch" 2>&1
ok $? "fetch-all: $(cat "$w/fetch")"
same=0
i=0
for f in "${samples[@]}"; do
	i=$((i + 1))
	if cmp -s "$f" "$w/out/$i.eml"; then
		same=$((same + 1))
	else
		echo "# UID $i differs from $f"
	fi
done
[ "$same" = "${#samples[@]}" ] && grep -q "fetched ${#samples[@]} in 1 batches" "$w/fetch"
ok $? "$same of ${#samples[@]} raw sources byte-identical, in one round trip"

# 6: a small byte budget splits into more batches, same bytes.
"$client" "${A[@]}" --budget 1000 fetch-all "$w/out2" >"$w/fetch2" 2>&1 &&
	diff -r "$w/out" "$w/out2" >/dev/null
ok $? "byte budget 1000: $(cat "$w/fetch2"), same sources"

# 7: fetching did not set \Seen (checked by the server's own tool).
seen=$(doveadm -c "$DOVECOT_CONF" fetch -u test flags mailbox INBOX all | grep -c 'Seen')
ok "$seen" "fetching set no \\Seen flag ($seen seen)"

# 8: a size cap truncates and reports the real size.
"$client" "${A[@]}" --max-message 100 fetch-one 1 "$w/one" >"$w/one.out" 2>&1
size1=$(stat -c %s "${samples[0]}")
grep -q "^size $size1 len 100 truncated 1$" "$w/one.out" && [ "$(stat -c %s "$w/one")" = 100 ]
ok $? "max_message_bytes 100: $(cat "$w/one.out") (real $size1)"

# 9: flag mode sets the keyword.
"$client" "${A[@]}" flag-all '$SeutudeskDone' >/dev/null 2>"$w/err"
kw=$(doveadm -c "$DOVECOT_CONF" fetch -u test flags mailbox INBOX all | grep -c 'SeutudeskDone')
[ "$kw" = "${#samples[@]}" ]
ok $? "flag mode: \$SeutudeskDone on $kw of ${#samples[@]}"
diag <"$w/err"

# 10: IDLE wakes on a delivery, long before its 10 s timeout (the bound leaves
# room for doveadm's start on a loaded machine).
"$client" "${A[@]}" idle 10 >"$w/idle" 2>&1 &
idle_pid=$!
# A delivery before the IDLE command would be in SELECT's count, not news.
master=$(cat "$DOVECOT_DIR/run/master.pid")
for _ in $(seq 100); do
	ps --ppid "$master" -o args= | grep -q ' IDLE\]' && break
	sleep 0.1
done
t0=$(ms)
dovecot_deliver test "${samples[0]}"
wait "$idle_pid"
t1=$(ms)
woke=$((t1 - t0))
grep -q '^new ' "$w/idle" && [ "$woke" -lt 5000 ]
ok $? "IDLE woke ${woke} ms after the delivery started ($(cat "$w/idle"))"

# 11: IDLE with nothing new times out on time.
"$client" "${A[@]}" idle 1 >"$w/idle2" 2>&1
grep -Eq '^timeout 1[0-9]{3}$' "$w/idle2"
ok $? "IDLE timeout: $(cat "$w/idle2")"

# 12-13: move mode: gone from INBOX, all in the target (created on TRYCREATE).
total=$((${#samples[@]} + 1))
"$client" "${A[@]}" move-all Done >"$w/move" 2>&1
ok $? "move-all: $(cat "$w/move")"
inbox=$(doveadm -c "$DOVECOT_CONF" search -u test mailbox INBOX all | wc -l)
done_n=$(doveadm -c "$DOVECOT_CONF" search -u test mailbox Done all | wc -l)
[ "$inbox" = 0 ] && [ "$done_n" = "$total" ]
ok $? "after move: INBOX $inbox, Done $done_n (of $total)"

# 14: without MOVE: COPY + STORE \Deleted + UID EXPUNGE of just those UIDs;
# also UIDVALIDITY survives a server restart.
DOVECOT_EXTRA_CONF="imap_capability = IMAP4rev1 IDLE UIDPLUS"
dovecot_restart 2> >(diag)
for f in "${samples[@]:0:3}"; do dovecot_deliver test "$f"; done
"$client" "${A[@]}" info >"$w/info3" 2>&1
uv3=$(awk '/^uidvalidity/{print $2}' "$w/info3")
"$client" "${A[@]}" move-all Done >"$w/move2" 2>&1
inbox=$(doveadm -c "$DOVECOT_CONF" search -u test mailbox INBOX all | wc -l)
done_n=$(doveadm -c "$DOVECOT_CONF" search -u test mailbox Done all | wc -l)
! grep -q MOVE "$w/info3" && [ "$inbox" = 0 ] && [ "$done_n" = $((total + 3)) ] && [ "$uv3" = "$uv1" ]
ok $? "no MOVE: copy+expunge, INBOX $inbox, Done $done_n; UIDVALIDITY after restart $uv3"

# 15: a wrong password gives a clear error without the password.
"$client" --port "$DOVECOT_PORT" --user test --pass-file "$w/badpw" info >/dev/null 2>"$w/err"
rc=$?
[ "$rc" = 1 ] && grep -q "imap test@127.0.0.1:$DOVECOT_PORT INBOX: LOGIN: " "$w/err" &&
	! grep -q wrong-secret "$w/err"
ok $? "wrong password: $(cat "$w/err")"

# 16: tls=none to a host that is not loopback is refused before connecting.
"$client" --host 192.0.2.1 --port 143 --user test --pass-file "$w/pw" info >/dev/null 2>"$w/err"
rc=$?
[ "$rc" = 1 ] && grep -q "loopback" "$w/err"
ok $? "tls=none to 192.0.2.1 refused: $(cat "$w/err")"

# From here on Dovecot requires TLS (ssl = required), as a municipality's
# mail server does.
DOVECOT_SSL=required
dovecot_restart 2> >(diag)
grep -q "^ssl = required" "$DOVECOT_CONF" || echo "Bail out! Dovecot is not at ssl = required"

# 17-18: imaps with the test CA as tls_ca_file: verified, logged in, fetched.
T=(--user test --pass-file "$w/pw")
log_from() { tail -c +$(($1 + 1)) "$DOVECOT_LOG"; }
mkdir -p "$w/tls"
dovecot_deliver test "${samples[1]}"
off=$(stat -c %s "$DOVECOT_LOG")
"$client" --tls imaps --port "$DOVECOT_IMAPS_PORT" --ca-file "$DOVECOT_CA" "${T[@]}" \
	fetch-all "$w/tls" >"$w/tls.out" 2>"$w/err"
ok $? "imaps with tls_ca_file = the test CA: $(cat "$w/tls.out")"
diag <"$w/err"
got=("$w/tls"/*.eml)
[ "${#got[@]}" = 1 ] && cmp -s "${got[0]}" "${samples[1]}" &&
	log_from "$off" | grep -q 'imap-login: .*Login: user=<test>.*TLS'
ok $? "imaps: the source came over TLS byte-identical (${#got[@]} fetched)"

# 19: STARTTLS to a DNS name (localhost, a DNS name in the certificate).
"$client" --host localhost --tls starttls --port "$DOVECOT_PORT" --ca-file "$DOVECOT_CA" \
	"${T[@]}" info >"$w/tls.out" 2>"$w/err"
rc=$?
[ "$rc" = 0 ] && grep -q '^uidvalidity [1-9]' "$w/tls.out"
ok $? "starttls to localhost with tls_ca_file: $(head -1 "$w/tls.out")"
diag <"$w/err"

# 20-22: the system trust store does not know the test CA: imaps and STARTTLS
# are refused after the handshake, and no login reached Dovecot.
off=$(stat -c %s "$DOVECOT_LOG")
"$client" --tls imaps --port "$DOVECOT_IMAPS_PORT" "${T[@]}" info >/dev/null 2>"$w/err"
rc=$?
[ "$rc" = 1 ] && grep -q "^imap test@127.0.0.1:$DOVECOT_IMAPS_PORT INBOX: TLS certificate: certificate not trusted" "$w/err"
ok $? "imaps, system trust store: $(cat "$w/err")"
"$client" --tls starttls --port "$DOVECOT_PORT" "${T[@]}" info >/dev/null 2>"$w/err"
rc=$?
[ "$rc" = 1 ] && grep -q "^imap test@127.0.0.1:$DOVECOT_PORT INBOX: TLS certificate: certificate not trusted" "$w/err"
ok $? "starttls, system trust store: $(cat "$w/err")"
# Right after a restart Dovecot may say "disconnected before auth was
# ready" instead: no login either way.
noauth_re='imap-login: .*Disconnected.*\((no auth attempts|disconnected before auth was ready).*TLS'
for i in $(seq 1 150); do
	[ "$(log_from "$off" | grep -Ec "$noauth_re")" -ge 2 ] && break
	sleep 0.1
done
noauth=$(log_from "$off" | grep -Ec "$noauth_re")
[ "$noauth" = 2 ] && ! log_from "$off" | grep -Eq 'Login: user=|auth failed|user=<test>|Aborted login'
ok $? "Dovecot saw no login on the 2 refused connections ($noauth 'no auth attempts')"
log_from "$off" | grep 'imap-login' | diag

# 23: a certificate from the right CA for another host name.
dovecot_tls_cert other.example 192.0.2.1 && dovecot_restart 2> >(diag)
"$client" --tls imaps --port "$DOVECOT_IMAPS_PORT" --ca-file "$DOVECOT_CA" "${T[@]}" \
	info >/dev/null 2>"$w/err"
rc=$?
[ "$rc" = 1 ] && grep -q "INBOX: TLS certificate: host name mismatch: .* is not for '127.0.0.1'" "$w/err"
ok $? "certificate for other.example: $(cat "$w/err")"

# 24: an expired certificate from the right CA.
dovecot_tls_cert --expired 127.0.0.1 localhost && dovecot_restart 2> >(diag)
"$client" --tls starttls --port "$DOVECOT_PORT" --ca-file "$DOVECOT_CA" "${T[@]}" \
	info >/dev/null 2>"$w/err"
rc=$?
[ "$rc" = 1 ] && grep -q "INBOX: TLS certificate: certificate expired" "$w/err"
ok $? "expired certificate: $(cat "$w/err")"

# 25: nothing listening: the error names the place.
dovecot_stop
"$client" "${A[@]}" --timeout 2 info >/dev/null 2>"$w/err"
rc=$?
[ "$rc" = 1 ] && grep -q "imap test@127.0.0.1:$DOVECOT_PORT INBOX: connect: " "$w/err"
ok $? "server down: $(cat "$w/err")"

exit $((failed > 0))
