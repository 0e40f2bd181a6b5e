#!/bin/bash
# bench-client: the terminal client's start-up (not a timed test).  A
# private PostgreSQL with N tickets (default 100,000 over two years; the
# newest tenth mostly active, with due times), the real seutudeskd with
# [api] over TLS on loopback, and `seutudesk` in a tmux terminal of 80x24
# run R times (default 10) from exec to the first drawn queue
# (SEUTUDESK_EXIT_AFTER_DRAW ends it there).  Prints the wall time
# (median, max) and the client's peak memory (max RSS).
# Targets: start-up under 300 ms, memory under 30 MB.
#
#   tests/bench/bench-client.sh [N] [RUNS]      (from the build directory)
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
. "$top_srcdir/tests/lib/pg.sh"
N=${1:-100000}
RUNS=${2:-10}
CTL=$top_builddir/seutudeskctl
D=$top_builddir/seutudeskd
C=$top_builddir/seutudesk
for p in "$CTL" "$D" "$C"; do
	[ -x "$p" ] || { echo "bench-client: $p not built" >&2; exit 1; }
done
command -v tmux >/dev/null || { echo "bench-client: tmux is not installed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-client: /usr/bin/time is not installed" >&2; exit 1; }
PG_NO_TRAP=1
pg_start >/dev/null || exit 1
W=$(mktemp -d "${TMPDIR:-/tmp}/bench-client.XXXXXX")
chmod 0755 "$W"
DPID=
cleanup() {
	tmux -S "$W/tmux.sock" kill-server 2>/dev/null
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	pg_cleanup
	rm -rf "$W"
}
trap cleanup EXIT
db=$(pg_createdb bench) || exit 1
"$CTL" migrate --sql-dir "$top_srcdir/sql" --database "$db" >"$W/migrate.out" 2>&1 ||
	{ cat "$W/migrate.out" >&2; exit 1; }

echo "# generating $N tickets"
t0=$(date +%s)
pg_psql -d bench -v n="$N" -f - >/dev/null <<'SQL' || exit 1
INSERT INTO tickets (requester_address, requester_name, subject, municipality, sector, category,
	priority, status, created_at, due_first_response, due_resolution, resolved_at, queue)
SELECT 'user' || g || '@' || m || '.fi', 'Käyttäjä ' || g,
	(ARRAY['Tulostin ei toimi', 'Salasana vanhentunut', 'VPN katkeaa', 'Skrivaren fungerar inte',
	       'Teams-kokous ei aukea', 'Uusi työntekijä aloittaa'])[1 + g % 6] || ' #' || g,
	m, (ARRAY['keskushallinto', 'sivistys', 'tekninen', 'konserni'])[1 + g % 4],
	(ARRAY['tulostus', 'tunnukset', 'verkko', 'ohjelmisto', 'tyoasema'])[1 + g % 5],
	(ARRAY['low', 'normal', 'normal', 'high', 'critical'])[1 + g % 5],
	CASE WHEN g > :n * 0.9 THEN (ARRAY['new', 'open', 'pending', 'open'])[1 + g % 4]
	     ELSE (ARRAY['resolved', 'closed'])[1 + g % 2] END,
	c, c + interval '4 hours', c + interval '2 days',
	CASE WHEN g <= :n * 0.9 THEN c + interval '1 day' END, 'triage'
FROM (SELECT g, now() - (:n - g) * interval '10 minutes' AS c,
	(ARRAY['saarijarvi', 'viitasaari', 'karstula', 'pihtipudas', 'kinnula', 'kannonkoski',
	       'kyyjarvi', 'kivijarvi'])[1 + g % 8] AS m
	FROM generate_series(1, :n) g) s;
ANALYZE;
SQL
echo "# $(pg_psql -d bench -c "SELECT count(*) || ' tickets, ' || count(*) FILTER (WHERE status IN ('new', 'open', 'pending')) || ' active' FROM tickets") in $(($(date +%s) - t0)) s"

. "$top_srcdir/tests/lib/tls.sh"
tls_cert "$W" || exit 1
port=$(free_port) || exit 1
cat >"$W/seutudesk.conf" <<CONF
[daemon]
rules_dir = $top_srcdir/contrib/rules.d
log_level = warn

[database]
conninfo = $db

[intake]
templates_dir = $top_srcdir/contrib/templates

[api]
listen = 127.0.0.1:$port
cert_file = $W/cert.pem
key_file = $W/key.pem
workers = 4
CONF
"$CTL" -c "$W/seutudesk.conf" agent add anna --name "Anna Agent" --email anna@seutu.fi >/dev/null ||
	exit 1
token=$("$CTL" -c "$W/seutudesk.conf" token issue anna | grep -o 'sdt_[A-Za-z0-9_-]*')
"$D" -f -c "$W/seutudesk.conf" >"$W/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do
	curl -s -o /dev/null --cacert "$W/cert.pem" "https://127.0.0.1:$port/healthz" && break
	sleep 0.1
done

run_once() { # prints "MS KB"
	rm -f "$W/done"
	tmux -S "$W/tmux.sock" new-session -d -x 80 -y 24 "env SEUTUDESK_URL=https://127.0.0.1:$port \
		SEUTUDESK_TOKEN=$token SEUTUDESK_CA=$W/cert.pem SEUTUDESK_EXIT_AFTER_DRAW=1 \
		LANG=C.UTF-8 TERM=xterm-256color HOME=$W \
		sh -c 's=\$(date +%s%N); /usr/bin/time -f %M -o $W/rss $C; e=\$(date +%s%N); \
		echo \$(((e - s) / 1000000)) \$(cat $W/rss) >$W/done.tmp; mv $W/done.tmp $W/done'"
	for _ in $(seq 200); do
		[ -s "$W/done" ] && break
		sleep 0.05
	done
	cat "$W/done" 2>/dev/null || echo "- -"
}
run_once >/dev/null # warm the caches once
: >"$W/runs"
for _ in $(seq "$RUNS"); do run_once >>"$W/runs"; done
sort -n "$W/runs" | awk -v n="$RUNS" '
	{ ms[NR] = $1; if ($2 > kb) kb = $2 }
	END {
		printf "start-up to a drawn queue (%d runs): median %d ms, max %d ms (target < 300 ms)\n",
			n, ms[int((NR + 1) / 2)], ms[NR]
		printf "client peak memory (max RSS): %.1f MB (target < 30 MB)\n", kb / 1024
	}'
# The server's share: each call the start-up makes, timed alone by curl.
for path in /api/v1/me "/api/v1/tickets?limit=50" "/api/v1/tickets?limit=200" /api/v1/queues; do
	curl -s -o /dev/null --cacert "$W/cert.pem" -H "Authorization: Bearer $token" \
		-w "GET $path: %{time_total} s (TLS done at %{time_appconnect} s)\n" \
		"https://127.0.0.1:$port$path"
done
echo "(the first screen needs one screenful of the listing; /me, the rest of the page and /queues come after it is drawn)"
