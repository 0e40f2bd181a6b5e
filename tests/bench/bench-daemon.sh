#!/bin/bash
# bench-daemon.sh: seutudeskd end to end on the private test stack.  N
# synthetic mails (default 5,000, tests/lib/genmail.sh) are imported into
# Dovecot's INBOX, then the daemon is started; it prints the time from the
# start until all N are committed (the daemon's log line for the batch that
# made intake_log hold N rows: polling is slow, so that it costs the
# machine next to nothing) as messages per second,
# the time until every acknowledgement reached the SMTP server, and the
# daemon's peak RSS (VmHWM just before it is stopped).  Not a test: it
# asserts nothing.
#
#   cd _build && ../tests/bench/bench-daemon.sh [N]
# (top_srcdir and top_builddir default to the script's tree and the current
# directory.)  BENCH_WORKERS sets [outbox] workers.
N=${1:-5000}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
[ -x "$top_builddir/seutudeskd" ] || { echo "bench-daemon: no $top_builddir/seutudeskd; run it from the build directory" >&2; exit 1; }
if [ -n "${BENCH_WORKERS:-}" ]; then
	STACK_EXTRA_CONF=$(printf '\n[outbox]\nworkers = %s\n' "$BENCH_WORKERS")
fi
. "$top_srcdir/tests/lib/stack.sh"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "command: ${0#"$top_srcdir/"} $N (in $(pwd)); load average before: $(cut -d" " -f1-3 /proc/loadavg)"
stack_start || exit 1
"$top_srcdir/tests/lib/genmail.sh" -n "$N" -p bench -o "$STACK_DIR/mails.mbox" || exit 1
t=$(now)
dovecot_import_many test "$STACK_DIR/mails.mbox" || exit 1
echo "import: $N mails ($(du -m "$STACK_DIR/mails.mbox" | cut -f1) MB) into Dovecot in $(secs "$t" "$(now)") s"

t0=$(now)
daemon_start
t_in=
while :; do
	got=$(stack_sql 'SELECT count(*) FROM intake_log' 2>/dev/null)
	if [ -z "$t_in" ] && [ "$got" = "$N" ]; then
		t_in=$(sed -n 's/^\([0-9T:.-]*\)Z .* event=batch .*/\1/p' "$STACK_LOG" | tail -1)
		t_in=$(date -u -d "${t_in/T/ }" +%s.%N)
	fi
	if [ -n "$t_in" ] && [ "$(smtp_count)" -ge "$N" ]; then
		t_ack=$(now)
		break
	fi
	if awk -v d="$(secs "$t0" "$(now)")" 'BEGIN { exit !(d > 600) }' || ! kill -0 "$STACK_DAEMON_PID" 2>/dev/null; then
		echo "bench-daemon: gave up: intake_log=$got acks=$(smtp_count)" >&2
		break
	fi
	sleep 0.5
done
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$STACK_DAEMON_PID/status" 2>/dev/null)
daemon_stop
if [ -n "$t_in" ]; then
	d=$(secs "$t0" "$t_in")
	echo "intake: $N mails committed in $d s: $(awk -v n="$N" -v d="$d" 'BEGIN { printf "%.0f", n / d }') messages/s end to end"
fi
if [ -n "${t_ack:-}" ]; then
	d=$(secs "$t0" "$t_ack")
	echo "acks: $N delivered to the SMTP server $d s after the start ($(awk -v n="$N" -v d="$d" 'BEGIN { printf "%.0f", n / d }')/s)"
fi
echo "peak RSS: $((${rss:-0} / 1024)) MiB (VmHWM ${rss:-?} kB)"
stack_sql "SELECT 'tickets: ' || count(*) || ', outbox sent: ' || (SELECT count(*) FROM outbox WHERE status = 'sent') FROM tickets"
