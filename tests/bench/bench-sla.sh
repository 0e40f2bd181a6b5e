#!/bin/bash
# bench-sla.sh: SLA timers at scale, on the private test stack.  N open
# tickets (default 200,000) under a policy on fi-office; the daemon computes
# their timers (the recompute rate), is stopped and started again (the
# start-up time to a ready timer worker, which must not recompute
# anything), then F timers (default 20,000) are moved to fall due at once
# and fire (the daemon's CPU per fired timer).  Finally EXPLAIN shows the
# plans of the next-due query and of the firing query, which must use the
# partial index sla_timers_next_fire.  Not a test: it asserts nothing.
#
#   cd _build && ../tests/bench/bench-sla.sh [N [F]]
N=${1:-200000}
F=${2:-20000}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
export top_srcdir top_builddir
[ -x "$top_builddir/seutudeskd" ] || { echo "bench-sla: no $top_builddir/seutudeskd; run it from the build directory" >&2; exit 1; }
STACK_EXTRA_CONF='
[sla bench]
first_response = 4h
resolution = 16h
calendar = fi-office
'
. "$top_srcdir/tests/lib/stack.sh"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# CPU time of a process, all its threads, in ns.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
wait_log() { # wait_log PATTERN SECONDS
	local i=0
	while ! grep -q "$1" "$STACK_LOG" && [ $i -lt $(($2 * 20)) ]; do sleep 0.05; i=$((i + 1)); done
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "command: ${0#"$top_srcdir/"} $N $F (in $(pwd))"
stack_start || exit 1
# No mailbox: this is about the timers alone.
sed -i '/^\[mailbox support\]/,/^poll_interval/d' "$STACK_CONF"

t=$(now)
stack_sql "INSERT INTO tickets (requester_address, subject, priority, status, created_at)
	SELECT 'r' || g || '@karstula.fi', 'bench ' || g,
	 (ARRAY['low', 'normal', 'normal', 'high'])[1 + g % 4],
	 (ARRAY['new', 'open', 'open', 'pending'])[1 + g % 4],
	 now() - make_interval(mins => g % 20000)
	FROM generate_series(1, $N) g" >/dev/null
stack_sql "ANALYZE" >/dev/null
echo "setup: $N tickets inserted in $(secs "$t" "$(now)") s"

t=$(now)
daemon_start
stack_wait "SELECT count(*) FROM sla_recompute" 0 1200 || exit 1
echo "recompute: $N tickets' timers computed in $(secs "$t" "$(now)") s" \
	"($(awk -v n="$N" -v s="$(secs "$t" "$(now)")" 'BEGIN { printf "%.0f", n / s }') tickets/s)"
# The old tickets' warnings and breaches are due at once: let them fire.
t=$(now)
stack_wait "SELECT count(*) FROM sla_timers WHERE next_fire_at <= now()" 0 600 || exit 1
echo "catch-up: $(stack_sql "SELECT count(*) FROM events WHERE kind LIKE 'sla_%'") warnings and" \
	"breaches of the old tickets fired in $(secs "$t" "$(now)") s after the recompute"
daemon_stop
stack_sql "VACUUM ANALYZE sla_timers" >/dev/null
echo "timers: $(stack_sql "SELECT count(*) FROM sla_timers") rows," \
	"$(stack_sql "SELECT count(*) FROM sla_timers WHERE next_fire_at IS NOT NULL") to fire"

: >"$STACK_LOG"
t=$(now)
daemon_start
wait_log 'timers event=ready' 120
echo "start-up: $(secs "$t" "$(now)") s from exec to a ready timer worker," \
	"$(awk '/event=start/ { a = $1 } /timers event=ready/ && !b { b = $1 }
		END { split(a, x, /[T:Z]/); split(b, y, /[T:Z]/);
		printf "%.3f s", (y[2] * 3600 + y[3] * 60 + y[4]) - (x[2] * 3600 + x[3] * 60 + x[4]) }' "$STACK_LOG")" \
	"of it inside the daemon"
echo "  ($(grep -o 'next_due_in=[^ ]*' "$STACK_LOG" | head -1); recomputed:" \
	"$(stack_sql "SELECT count(*) FROM sla_recompute") queued)"

before=$(stack_sql "SELECT count(*) FROM events WHERE kind LIKE 'sla_%'")
backend=$(stack_sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'seutudeskd timers'")
c0=$(cpu_ns "$STACK_DAEMON_PID")
b0=$(cpu_ns "$backend")
# F timers whose warning is still ahead (and their breach further) now warn in 1 s.
ahead=$(stack_sql "SELECT count(*) FROM sla_timers WHERE warned_at IS NULL AND warn_at > now()
	AND due_at > now() + interval '1 hour'")
[ "$ahead" -lt "$F" ] && F=$ahead
stack_sql "UPDATE sla_timers SET warn_at = clock_timestamp() + interval '1 s'
	WHERE (ticket, kind) IN (SELECT ticket, kind FROM sla_timers WHERE warned_at IS NULL
	 AND warn_at > now() AND due_at > now() + interval '1 hour' LIMIT $F);
	NOTIFY seutudesk_sla" >/dev/null
t=$(now)
i=0
while [ "$(stack_sql "SELECT count(*) - $before FROM events WHERE kind LIKE 'sla_%'")" -lt "$F" ] &&
	[ $i -lt 6000 ]; do
	sleep 0.1
	i=$((i + 1))
done
c1=$(cpu_ns "$STACK_DAEMON_PID")
b1=$(cpu_ns "$backend")
echo "fire: $F warnings fired within $(secs "$t" "$(now)") s of the update; CPU per fired timer:" \
	"$(awk -v c=$((c1 - c0)) -v f="$F" 'BEGIN { printf "%.1f µs", c / f / 1000 }') in the daemon," \
	"$(awk -v c=$((b1 - b0)) -v f="$F" 'BEGIN { printf "%.1f µs", c / f / 1000 }') in its database backend"
daemon_stop

echo "plan of the next-due query:"
stack_sql "EXPLAIN SELECT min(next_fire_at) FROM sla_timers WHERE next_fire_at IS NOT NULL" | sed 's/^/  /'
echo "plan of the firing query:"
stack_sql "EXPLAIN SELECT s.ticket FROM sla_timers s JOIN tickets t ON t.number = s.ticket
	WHERE s.next_fire_at <= now() ORDER BY s.next_fire_at LIMIT 200
	FOR UPDATE OF s SKIP LOCKED" | sed 's/^/  /'
