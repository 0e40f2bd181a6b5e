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
# directory.)  BENCH_WORKERS sets [outbox] workers.  BENCH_MODE:
#   plain    the mailbox without TLS (the default)
#   tls      the mailbox over implicit TLS (imaps), the certificate verified
#            against Dovecot's test CA
#   metrics  plain, with the API on a loopback port and GET /metrics every second
#
#   ../tests/bench/bench-daemon.sh --compare [N] [ROUNDS]
# runs ROUNDS rounds (default 3) of plain, tls and metrics, interleaved so
# that a shared machine's changing load falls on all three, each on a fresh
# stack, and prints each round's intake rate and the medians side by side.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
[ -x "$top_builddir/seutudeskd" ] || { echo "bench-daemon: no $top_builddir/seutudeskd; run it from the build directory" >&2; exit 1; }

machine() {
	echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
		"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
}

if [ "${1:-}" = --compare ]; then
	N=${2:-5000} rounds=${3:-3}
	machine
	echo "command: ${0#"$top_srcdir/"} --compare $N $rounds (in $(pwd)); load average before: $(cut -d" " -f1-3 /proc/loadavg)"
	declare -A rates
	for r in $(seq "$rounds"); do
		line="round $r:"
		for m in plain tls metrics; do
			out=$(BENCH_MODE=$m "$0" "$N" 2>&1)
			v=$(sed -n 's/^intake: .*: \([0-9]*\) messages\/s end to end$/\1/p' <<<"$out")
			[ -n "$v" ] || { echo "bench-daemon: $m gave no figure:" >&2; tail -5 <<<"$out" >&2; v=0; }
			rates[$m]+="$v "
			line+=" $m $v/s"
		done
		echo "$line (load $(cut -d" " -f1 /proc/loadavg))"
	done
	median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
	# Each round's own ratio to plain: the load that changes between rounds cancels out.
	ratios() { paste -d' ' <(tr ' ' '\n' <<<"${rates[plain]}" | sed '/^$/d') <(tr ' ' '\n' <<<"$1" | sed '/^$/d') |
		awk '$1 > 0 { printf "%.4f ", $2 / $1 }'; }
	rt=$(median "$(ratios "${rates[tls]}")") rx=$(median "$(ratios "${rates[metrics]}")")
	p=$(median "${rates[plain]}") t=$(median "${rates[tls]}") x=$(median "${rates[metrics]}")
	printf 'median of %s: plain %s messages/s | IMAP over TLS %s messages/s (%+.1f %%) | /metrics scraped every second %s messages/s (%+.1f %%)\n' \
		"$rounds" "$p" "$t" "$(awk -v a="$p" -v b="$t" 'BEGIN { print a ? 100 * (b - a) / a : 0 }')" \
		"$x" "$(awk -v a="$p" -v b="$x" 'BEGIN { print a ? 100 * (b - a) / a : 0 }')"
	printf 'median of the rounds'"'"' own ratios to plain: IMAP over TLS %+.1f %%, /metrics every second %+.1f %%\n' \
		"$(awk -v r="$rt" 'BEGIN { print 100 * (r - 1) }')" "$(awk -v r="$rx" 'BEGIN { print 100 * (r - 1) }')"
	exit 0
fi

N=${1:-5000}
mode=${BENCH_MODE:-plain}
if [ -n "${BENCH_WORKERS:-}" ]; then
	STACK_EXTRA_CONF=$(printf '\n[outbox]\nworkers = %s\n' "$BENCH_WORKERS")
fi
case $mode in
plain) ;;
tls) STACK_IMAP_TLS=1 ;;
metrics)
	. "$top_srcdir/tests/lib/tls.sh"
	api_port=$(free_port) || exit 1
	STACK_EXTRA_CONF+=$(printf '\n[api]\nlisten = 127.0.0.1:%s\ntls = no\n' "$api_port")
	;;
*) echo "bench-daemon: BENCH_MODE is plain, tls or metrics, not '$mode'" >&2; exit 1 ;;
esac
. "$top_srcdir/tests/lib/stack.sh"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

machine
echo "command: BENCH_MODE=$mode ${0#"$top_srcdir/"} $N (in $(pwd)); load average before: $(cut -d" " -f1-3 /proc/loadavg)"
stack_start || exit 1
"$top_srcdir/tests/lib/genmail.sh" -n "$N" -p bench -o "$STACK_DIR/mails.mbox" || exit 1
t=$(now)
dovecot_import_many test "$STACK_DIR/mails.mbox" || exit 1
echo "import: $N mails ($(du -m "$STACK_DIR/mails.mbox" | cut -f1) MB) into Dovecot in $(secs "$t" "$(now)") s"

t0=$(now)
daemon_start
if [ "$mode" = metrics ]; then
	(
		trap 'exit 0' TERM
		while :; do
			curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$api_port/metrics"
			sleep 1
		done
	) &
	scraper=$!
fi
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
if [ -n "${scraper:-}" ]; then
	kill "$scraper" 2>/dev/null
	wait "$scraper" 2>/dev/null
	echo "metrics: $(curl -s "http://127.0.0.1:$api_port/metrics" | grep -c '^seutudesk_') samples a scrape"
	# The daemon's CPU for one scrape, from 200 back to back (utime + stime in ticks).
	cpu() { awk '{ print $14 + $15 }' "/proc/$STACK_DAEMON_PID/stat"; }
	c0=$(cpu) s0=$(now)
	for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$api_port/metrics"; done
	c1=$(cpu) s1=$(now)
	echo "metrics: 200 scrapes back to back in $(secs "$s0" "$s1") s, daemon CPU $(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", 1000 * t / hz / 200 }') ms a scrape"
fi
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
echo "imap logins: $(grep -c "imap-login: .*Login: " "$DOVECOT_LOG"), of them over TLS: $(grep "imap-login: .*Login: " "$DOVECOT_LOG" | grep -c ", TLS")"
stack_sql "SELECT 'tickets: ' || count(*) || ', outbox sent: ' || (SELECT count(*) FROM outbox WHERE status = 'sent') FROM tickets"
