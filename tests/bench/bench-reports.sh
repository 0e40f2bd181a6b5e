#!/bin/bash
# bench-reports: the managers' reports (doc/reports.md) on a big history,
# and what they cost the agents.  Not a test: it asserts nothing.
#
# A private PostgreSQL (tests/lib/pg.sh), migrated, gets N tickets (default
# 1,000,000) over the three years up to now, generated in SQL: members
# weighted by population (../shared/domain/region.md), sectors, categories,
# priorities, channels and statuses by age; SLA timers as the daemon leaves
# them (stopped with what was left of the target, below 0 when late;
# breached and warned; paused while pending; running; the oldest year's
# stopped timers partly without `remaining`, as before it was kept);
# pauses; events (created, claim, replies, notes, status changes, reopenings,
# the timers' warnings and breaches); work logs; auto-filtered mail;
# org_years and cost_items for the costs.  Then VACUUM ANALYZE and:
#   1. each report (sla, volume, backlog, workload, costs) for the calendar
#      year before the current one, grouped by member (the workload is per
#      agent), as an admin and as a manager of Saarijärvi (the biggest
#      member), RUNS times each through tests/integration/report-run (the
#      builder GET /api/v1/reports/KIND runs): min, median and max in s;
#   2. the agents' queue listing through the real seutudeskd ([api] over
#      TLS) with tests/bench/api-load as bench-api.sh runs it (50 clients,
#      paced at 2 requests/s each), alone and then while a loop runs every
#      report one after the other beside it: p50/p90/p99/max.
#
#   tests/bench/bench-reports.sh [N [RUNS [SECONDS]]]   (from the build directory)
# BENCH_EXPLAIN=1 also prints EXPLAIN (ANALYZE, BUFFERS) of the SLA table.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
. "$top_srcdir/tests/lib/pg.sh"
N=${1:-1000000}
RUNS=${2:-5}
SECS=${3:-20}
CTL=$top_builddir/seutudeskctl
D=$top_builddir/seutudeskd
RUN=$top_builddir/tests/integration/report-run
LOAD=$top_builddir/tests/bench/api-load
for p in "$CTL" "$D" "$RUN" "$LOAD"; do
	[ -x "$p" ] || { echo "bench-reports: $p not built (make && make check builds it)" >&2; exit 1; }
done
pg_start || exit 1
W=$PG_DIR/bench
mkdir -p "$W"
db=$(pg_createdb bench) || exit 1
"$CTL" migrate --sql-dir "$top_srcdir/sql" --database "$db" >"$W/migrate.out" 2>&1 ||
	{ cat "$W/migrate.out" >&2; exit 1; }
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
	"$("$PG_BINDIR/postgres" --version), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# command: ${0#"$top_srcdir/"} $N $RUNS $SECS (in $(pwd))"

echo "# generating $N tickets over three years"
t0=$(date +%s)
pg_psql -d bench -v n="$N" -f - >/dev/null <<'SQL' || exit 1
-- Triggers and foreign keys off while loading (as a restore does): the
-- columns the triggers keep (sensitive, next_fire_at) are written here, and
-- no ticket is queued for the timers' recompute.
SET session_replication_role = replica;
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';

INSERT INTO queues (id, name) VALUES ('workstations', 'Workstations'), ('network', 'Network'),
	('accounts', 'Accounts'), ('sote', 'Sote'), ('education', 'Education')
	ON CONFLICT DO NOTHING;

-- The 50 agents of bench-api.sh (the same tokens and restrictions), each
-- working for a member, then an admin and a manager of Saarijärvi.
INSERT INTO agents (login, name, email, role, organisation, queues, municipalities, sectors,
	sote, max_open)
SELECT 'agent' || g, 'Agent ' || g, 'agent' || g || '@seutu.fi',
	CASE WHEN g % 10 = 0 THEN 'lead' ELSE 'agent' END,
	(ARRAY['saarijarvi', 'viitasaari', 'karstula', 'pihtipudas', 'kinnula', 'kannonkoski',
		'kyyjarvi', 'kivijarvi', 'saarikka'])[1 + g % 9],
	CASE WHEN g % 5 = 1 THEN ARRAY['workstations', 'network', 'triage'] END,
	CASE WHEN g % 7 = 2 THEN ARRAY['saarijarvi', 'karstula', 'kyyjarvi'] END,
	NULL, g % 3 = 0, 25
FROM generate_series(1, 50) g;
INSERT INTO agents (login, name, email, role, organisation, municipalities, sote) VALUES
	('admin', 'Admin', 'admin@seutu.fi', 'admin', 'saarijarvi', NULL, true),
	('manager', 'Manager', 'talous@saarijarvi.fi', 'manager', 'saarijarvi',
		ARRAY['saarijarvi'], false);
INSERT INTO api_tokens (agent, hash, prefix)
SELECT a.id, sha256(convert_to(tok, 'UTF8')), left(tok, 12)
FROM agents a, LATERAL (SELECT 'sdt_' || left(md5('bench-a' || a.id) || md5('bench-b' || a.id), 43)
	AS tok) t;

-- Per ticket its draws; created evenly over three years up to now.
CREATE TEMP TABLE gen AS
SELECT i, now() - (:n - i) * (interval '1095 days' / :n) - random() * interval '1 hour' AS created,
	random() AS r_mun, random() AS r_sec, random() AS r_cat, random() AS r_pri, random() AS r_ch,
	random() AS r_st, random() AS r_fr, random() AS r_res, random() AS r_x, random() AS r_y
FROM generate_series(1, :n) i;

-- Open seconds a timer took: exponential, so that about 6 % of first
-- responses and 8 % of resolutions miss their targets; an open second is
-- about 4.2 wall seconds (office hours, weekdays).
CREATE TEMP TABLE tk AS
SELECT g.i AS number, g.created, x.mun, x.sec, x.cat, x.pri, x.ch, x.st, g.r_x, g.r_y,
	CASE WHEN x.pri = 'low' THEN NULL WHEN x.ch = 'chat' THEN 'chat' ELSE x.pri END AS policy,
	CASE x.pri WHEN 'critical' THEN 1800 WHEN 'high' THEN 3600 ELSE 7200 END AS fr_target,
	CASE x.pri WHEN 'critical' THEN 14400 WHEN 'high' THEN 28800 ELSE 57600 END AS res_target,
	round(-ln(1 - g.r_fr) * 0.35 * CASE x.pri WHEN 'critical' THEN 1800 WHEN 'high' THEN 3600
		ELSE 7200 END)::int + 60 AS fr_used,
	round(-ln(1 - g.r_res) * 0.4 * CASE x.pri WHEN 'critical' THEN 14400 WHEN 'high' THEN 28800
		ELSE 57600 END)::int + 600 AS res_used
FROM gen g, LATERAL (SELECT
	-- population weights: 9200, 6000, 3800, 3700, 1500, 1250, 1200, 1050 of 27,700,
	-- scaled to the 90 % of tickets that are a town's; Saarikka 6 %, unknown 4 %
	CASE WHEN g.r_mun < 0.04 THEN NULL WHEN g.r_mun < 0.10 THEN 'saarikka'
		WHEN g.r_mun < 0.10 + 0.90 * 9200 / 27700 THEN 'saarijarvi'
		WHEN g.r_mun < 0.10 + 0.90 * 15200 / 27700 THEN 'viitasaari'
		WHEN g.r_mun < 0.10 + 0.90 * 19000 / 27700 THEN 'karstula'
		WHEN g.r_mun < 0.10 + 0.90 * 22700 / 27700 THEN 'pihtipudas'
		WHEN g.r_mun < 0.10 + 0.90 * 24200 / 27700 THEN 'kinnula'
		WHEN g.r_mun < 0.10 + 0.90 * 25450 / 27700 THEN 'kannonkoski'
		WHEN g.r_mun < 0.10 + 0.90 * 26650 / 27700 THEN 'kyyjarvi'
		ELSE 'kivijarvi' END AS mun,
	CASE WHEN g.r_mun >= 0.04 AND g.r_mun < 0.10 THEN 'sote'
		WHEN g.r_sec < 0.06 THEN NULL WHEN g.r_sec < 0.28 THEN 'keskushallinto'
		WHEN g.r_sec < 0.52 THEN 'sote' WHEN g.r_sec < 0.78 THEN 'sivistys'
		WHEN g.r_sec < 0.95 THEN 'tekninen' ELSE 'konserni' END AS sec,
	(ARRAY['tyoasema', 'tulostus', 'verkko', 'tunnukset', 'sahkoposti', 'ohjelmisto',
		'hankinta', 'tietoturva', 'mobiili', 'asiointi', NULL])[1 + floor(g.r_cat * 11)::int] AS cat,
	CASE WHEN g.r_pri < 0.10 THEN 'low' WHEN g.r_pri < 0.80 THEN 'normal'
		WHEN g.r_pri < 0.97 THEN 'high' ELSE 'critical' END AS pri,
	CASE WHEN g.r_ch < 0.15 THEN 'chat' ELSE 'email' END AS ch,
	-- the last month mostly in the works, older ones resolved and closed
	CASE WHEN g.created > now() - interval '30 days' THEN
		CASE WHEN g.r_st < 0.12 THEN 'new' WHEN g.r_st < 0.45 THEN 'open'
			WHEN g.r_st < 0.60 THEN 'pending' WHEN g.r_st < 0.85 THEN 'resolved'
			ELSE 'closed' END
	ELSE CASE WHEN g.r_st < 0.015 THEN 'open' WHEN g.r_st < 0.025 THEN 'pending'
		WHEN g.r_st < 0.03 THEN 'resolved' ELSE 'closed' END END AS st) x;

-- Wall-clock moments: a stop past now is moved back to now.
CREATE TEMP TABLE tm AS
SELECT tk.*,
	created + fr_target * 4.2 * interval '1 s' AS fr_due,
	created + fr_target * 0.8 * 4.2 * interval '1 s' AS fr_warn,
	CASE WHEN st <> 'new' THEN least(created + fr_used * 4.2 * interval '1 s', now()) END AS fr_stop,
	created + res_target * 4.2 * interval '1 s' AS res_due,
	created + res_target * 0.8 * 4.2 * interval '1 s' AS res_warn,
	CASE WHEN st IN ('resolved', 'closed')
		THEN least(created + greatest(res_used, fr_used + 60) * 4.2 * interval '1 s', now()) END
		AS res_stop
FROM tk;

INSERT INTO tickets (number, requester_address, requester_name, subject, municipality, sector,
	category, priority, channel, status, queue, assignee, sensitive, classification, created_at,
	updated_at, sla_policy, due_first_response, due_resolution, first_response_at, resolved_at,
	closed_at, follows)
OVERRIDING SYSTEM VALUE
SELECT number, 'user' || (number % 5000) || '@' || coalesce(mun, 'example') || '.fi',
	'User ' || (number % 5000),
	(ARRAY['Tulostin ei toimi', 'Salasana vanhentunut', 'VPN-yhteys katkeaa', 'Uusi työntekijä',
		'Teams-kokous ei aukea', 'Wilma ei lataudu', 'Näyttö pimeä', 'Lifecare hidas',
		'Skrivaren fungerar inte', 'Laptop slow'])[1 + number % 10] || ' #' || number,
	mun, sec, cat, pri, ch, st,
	CASE WHEN sec = 'sote' THEN 'sote' WHEN sec = 'sivistys' THEN 'education'
		WHEN cat IN ('tyoasema', 'tulostus', 'mobiili') THEN 'workstations'
		WHEN cat = 'verkko' THEN 'network'
		WHEN cat IN ('tunnukset', 'sahkoposti') THEN 'accounts' ELSE 'triage' END,
	CASE WHEN st <> 'new' AND r_x < 0.9 THEN 1 + (number % 50) END,
	sec IS NOT DISTINCT FROM 'sote',
	jsonb_build_object('municipality', jsonb_build_object('value', mun, 'rule', 'bench')),
	created, coalesce(res_stop, fr_stop, created), policy,
	CASE WHEN policy IS NOT NULL THEN fr_due END,
	CASE WHEN policy IS NOT NULL AND st <> 'pending' THEN res_due END,
	fr_stop, res_stop,
	CASE WHEN st = 'closed' THEN least(res_stop + interval '7 days', now()) END,
	CASE WHEN r_y < 0.02 AND number > 1000 THEN number - 1 - (number % 997) END
FROM tm;
SELECT setval('tickets_number_seq', (SELECT max(number) FROM tickets));

-- The timers: first response stops at the first reply; resolution at the
-- resolution, paused while pending (no due time, what was left kept),
-- running otherwise.  remaining: target minus the open time used; before
-- it was kept at the stop, stopped timers had none: half of those of the
-- oldest year still lack it.
INSERT INTO sla_timers (ticket, kind, policy, calendar, target, warn_after, started_at,
	warn_at, due_at, stopped_at, remaining, warned_at, breached_at, next_fire_at, updated_at)
SELECT number, kind, policy, 'fi-office', target, warn_after, created, warn_at, due_at, stop,
	CASE WHEN stop IS NOT NULL AND created < now() - interval '730 days' AND r_y < 0.5 THEN NULL
		WHEN stop IS NOT NULL THEN target - used
		WHEN due_at IS NULL THEN greatest(target - used / 2, 1) END,
	CASE WHEN warn_at < coalesce(stop, now()) THEN warn_at + interval '5 s' END,
	CASE WHEN due_at < coalesce(stop, now()) THEN due_at + interval '5 s' END,
	CASE WHEN due_at >= coalesce(stop, now()) THEN
		CASE WHEN warn_at >= coalesce(stop, now()) THEN warn_at ELSE due_at END END,
	coalesce(stop, created)
FROM (SELECT number, created, policy, r_y, 'first_response' AS kind, fr_target AS target,
		fr_target * 4 / 5 AS warn_after, fr_warn AS warn_at, fr_due AS due_at, fr_stop AS stop,
		fr_used AS used
	FROM tm WHERE policy IS NOT NULL
	UNION ALL
	SELECT number, created, policy, r_y, 'resolution', res_target, res_target * 4 / 5,
		CASE WHEN st <> 'pending' THEN res_warn END, CASE WHEN st <> 'pending' THEN res_due END,
		res_stop, greatest(res_used, fr_used + 60)
	FROM tm WHERE policy IS NOT NULL) s;

-- Pauses: a pending stretch for a fifth, the open one of each stopped ticket.
INSERT INTO sla_pauses (ticket, started_at, ended_at, status)
SELECT number, fr_stop + interval '1 hour', fr_stop + interval '1 day', 'pending'
FROM tm WHERE r_x < 0.2 AND st IN ('resolved', 'closed')
	AND fr_stop + interval '1 day' < res_stop
UNION ALL
SELECT number, coalesce(res_stop, fr_stop), NULL, st FROM tm WHERE st IN ('resolved', 'closed', 'pending')
	AND coalesce(res_stop, fr_stop) IS NOT NULL;

-- The audit trail.
INSERT INTO events (ticket, actor, kind, data, at)
SELECT number, actor, kind, data::jsonb, at FROM (
	SELECT number, 'intake' AS actor, 'ticket_created' AS kind, '{}' AS data, created AS at FROM tm
	UNION ALL
	SELECT number, 'agent' || (1 + number % 50), 'claim', '{}', fr_stop - interval '2 min'
	FROM tm WHERE fr_stop IS NOT NULL
	UNION ALL
	SELECT number, 'agent' || (1 + number % 50), 'reply', '{}', fr_stop FROM tm WHERE fr_stop IS NOT NULL
	UNION ALL
	SELECT number, 'agent' || (1 + number % 50), 'reply', '{}', fr_stop + (res_stop - fr_stop) / 2
	FROM tm WHERE res_stop IS NOT NULL AND r_x < 0.4
	UNION ALL
	SELECT number, 'agent' || (1 + (number * 7) % 50), 'note', '{}', fr_stop + interval '10 min'
	FROM tm WHERE fr_stop IS NOT NULL AND r_y < 0.25
	UNION ALL
	SELECT number, 'agent' || (1 + number % 50), 'status', '{"from": "open", "to": "pending"}',
		fr_stop + interval '1 hour'
	FROM tm WHERE (r_x < 0.2 AND fr_stop + interval '1 day' < res_stop) OR (st = 'pending')
	UNION ALL
	SELECT number, 'intake', 'status', '{"from": "pending", "to": "open"}', fr_stop + interval '1 day'
	FROM tm WHERE r_x < 0.2 AND fr_stop + interval '1 day' < res_stop
	UNION ALL
	SELECT number, 'agent' || (1 + number % 50), 'status', '{"from": "open", "to": "resolved"}',
		res_stop
	FROM tm WHERE res_stop IS NOT NULL
	UNION ALL
	SELECT number, 'system', 'status', '{"from": "resolved", "to": "closed"}',
		least(res_stop + interval '7 days', now())
	FROM tm WHERE st = 'closed'
	UNION ALL
	-- reopenings: by a message after the resolution, or by an agent; the
	-- ticket was resolved again later
	SELECT number, CASE WHEN r_y < 0.97 THEN 'intake' ELSE 'agent' || (1 + number % 50) END,
		CASE WHEN r_y < 0.97 THEN 'reopened' ELSE 'status' END,
		CASE WHEN r_y < 0.97 THEN '{}' ELSE '{"from": "resolved", "to": "open"}' END,
		res_stop - (res_stop - fr_stop) / 4
	FROM tm WHERE res_stop IS NOT NULL AND r_y >= 0.95
	UNION ALL
	SELECT ticket, 'sla', 'sla_warning', jsonb_build_object('timer', kind)::text, warned_at
	FROM sla_timers WHERE warned_at IS NOT NULL
	UNION ALL
	SELECT ticket, 'sla', 'sla_breach', jsonb_build_object('timer', kind)::text, breached_at
	FROM sla_timers WHERE breached_at IS NOT NULL) e(number, actor, kind, data, at);

-- Work logged on two tickets of three, charged to the ticket's member.
INSERT INTO worklog (ticket, agent, minutes, organisation, at)
SELECT number, 1 + (number + k) % 50, 5 + (number * k) % 115, mun,
	fr_stop + k * interval '20 min'
FROM tm, generate_series(1, 2) k
WHERE fr_stop IS NOT NULL AND (k = 1 AND r_x < 0.66 OR k = 2 AND r_y < 0.2);

-- Auto-generated mail the intake kept out (out-of-office and the like).
INSERT INTO intake_log (mailbox, uidvalidity, uid, outcome, reason, at)
SELECT 'tuki', 1, g, 'auto', 'auto-submitted', now() - g * (interval '1095 days' / (:n / 20))
FROM generate_series(1, :n / 20) g;

-- The members' figures for each year, and the pool's and members' costs.
INSERT INTO org_years (organisation, year, population, users, workstations)
SELECT o.id, y, coalesce(o.population + (y - 2023) * 10, 0),
	coalesce(o.population, 4000) / 12 + (y - 2023) * 3, coalesce(o.population, 4000) / 15
FROM organisations o, generate_series(extract(year FROM now())::int - 3,
	extract(year FROM now())::int) y;
INSERT INTO cost_items (organisation, period, amount_cents, text)
SELECT NULL, daterange(make_date(y, m, 1), (make_date(y, m, 1) + interval '1 month')::date),
	4200000 + m * 1000, 'licences ' || m || '/' || y
FROM generate_series(extract(year FROM now())::int - 3, extract(year FROM now())::int) y,
	generate_series(1, 12) m
UNION ALL
SELECT NULL, daterange(make_date(y, 1, 1), make_date(y + 1, 1, 1)), 98000000, 'staff ' || y
FROM generate_series(extract(year FROM now())::int - 3, extract(year FROM now())::int) y
UNION ALL
SELECT o.id, daterange(make_date(y, q * 3 - 2, 1), (make_date(y, q * 3 - 2, 1) + interval '3 months')::date),
	150000 * q, 'project ' || o.id || ' ' || y || '-Q' || q
FROM organisations o, generate_series(extract(year FROM now())::int - 3,
	extract(year FROM now())::int) y, generate_series(1, 4) q;

DELETE FROM sla_recompute;
RESET session_replication_role;
SQL
pg_psql -d bench -c "VACUUM ANALYZE" || exit 1
echo "# generated in $(($(date +%s) - t0)) s: $(pg_psql -d bench -c "SELECT
	(SELECT count(*) FROM tickets) || ' tickets, ' ||
	(SELECT count(*) FROM tickets WHERE status IN ('new', 'open', 'pending')) || ' open, ' ||
	(SELECT count(*) FROM sla_timers) || ' timers (' ||
	(SELECT count(*) FROM sla_timers WHERE breached_at IS NOT NULL) || ' breached), ' ||
	(SELECT count(*) FROM events) || ' events, ' ||
	(SELECT count(*) FROM worklog) || ' work log rows; database ' ||
	pg_size_pretty(pg_database_size('bench'))")"

. "$top_srcdir/tests/lib/tls.sh"
tls_cert "$W" || { echo "bench-reports: openssl req failed" >&2; exit 1; }
port=$(free_port) || { echo "bench-reports: no free port" >&2; exit 1; }
cat >"$W/seutudesk.conf" <<CONF
[daemon]
rules_dir = $top_srcdir/contrib/rules.d

[database]
conninfo = $db

# the generated years of closed tickets stay whole while measuring
[retention]
daily = no

[api]
listen = 127.0.0.1:$port
tls = yes
cert_file = $W/cert.pem
key_file = $W/key.pem
workers = ${BENCH_WORKERS:-8}

[costs]
population_weight = 50
users_weight = 30
workstations_weight = 20
hourly_rate = 62.00
CONF

admin=$(pg_psql -d bench -c "SELECT id FROM agents WHERE login = 'admin'")
manager=$(pg_psql -d bench -c "SELECT id FROM agents WHERE login = 'manager'")
year=$(($(date +%Y) - 1))
period="from=$year-01-01 to=$year-12-31"
echo "# period $year-01-01 to $year-12-31: $(pg_psql -d bench -c "SELECT count(*) FROM tickets
	WHERE created_at >= '$year-01-01 00:00 Europe/Helsinki'
	AND created_at < '$((year + 1))-01-01 00:00 Europe/Helsinki'") tickets created," \
	"$(pg_psql -d bench -c "SELECT count(*) FROM tickets
	WHERE created_at >= '$year-01-01 00:00 Europe/Helsinki'
	AND created_at < '$((year + 1))-01-01 00:00 Europe/Helsinki' AND municipality = 'saarijarvi'")" \
	"of them Saarijärvi's"

if [ "${BENCH_EXPLAIN:-0}" = 1 ]; then
	pg_psql -d bench -c "EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM tickets t
		JOIN sla_timers s ON s.ticket = t.number
		WHERE t.created_at >= '$year-01-01 00:00 Europe/Helsinki'
		AND t.created_at < '$((year + 1))-01-01 00:00 Europe/Helsinki'"
fi

now() { date +%s.%N; }
# report KIND READER: one run of report-run, its document thrown away; prints the seconds.
report() {
	local t k=$1 r=$2 by=municipality
	[ "$k" = workload ] && by=agent
	t=$(now)
	# shellcheck disable=SC2086
	"$RUN" -c "$W/seutudesk.conf" "$db" "$r" "$k" $period by=$by >"$W/doc.json" ||
		{ echo "bench-reports: report-run $k failed: $(head -c 300 "$W/doc.json")" >&2; return 1; }
	awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'
}
# stats: min, median and max of the numbers on standard input.
stats() {
	sort -n | awk '{ v[NR] = $1 } END { printf "min %.3f  median %.3f  max %.3f s (%d runs)\n",
		v[1], (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[NR], NR }'
}

echo "# each report for $year by member (workload: by agent), $RUNS runs each, through report-run"
for who in admin manager; do
	r=$admin
	[ "$who" = manager ] && r=$manager
	for k in sla volume backlog workload costs; do
		report "$k" "$r" >/dev/null || exit 1 # warm the cache
		for _ in $(seq 1 "$RUNS"); do report "$k" "$r" || exit 1; done >"$W/times"
		printf '%-8s %-9s %s\n' "$k" "$who" "$(stats <"$W/times")"
	done
done
"$RUN" -c "$W/seutudesk.conf" "$db" "$admin" sla $period >"$W/doc.json"
echo "# sla document as admin: $(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(", ".join("%s %d rows" % (t["name"], len(t["rows"])) for t in d["tables"]))' "$W/doc.json" 2>/dev/null)," \
	"$(wc -c <"$W/doc.json") bytes of JSON"

# The agents' listing through the daemon, alone and beside the reports.
pg_psql -d bench -c "SELECT 'sdt_' || left(md5('bench-a' || id) || md5('bench-b' || id), 43)
	FROM agents WHERE login LIKE 'agent%' ORDER BY id" >"$W/tokens"
"$D" -f -c "$W/seutudesk.conf" 2>"$W/daemon.log" &
dpid=$!
loop=
trap '[ -n "$loop" ] && kill "$loop" 2>/dev/null; kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; pg_cleanup' EXIT
for _ in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	kill -0 "$dpid" 2>/dev/null || { echo "bench-reports: seutudeskd exited:" >&2; tail "$W/daemon.log" >&2; exit 1; }
	sleep 0.1
done
RATE=${BENCH_RATE:-2}
listing() {
	"$LOAD" --port "$port" --tokens "$W/tokens" --clients 50 --seconds "$SECS" --rate "$RATE" \
		--path '/api/v1/tickets?queue=%Q' --queues triage,workstations,network,accounts,sote,education
}
echo "# queue listing, 50 clients paced at $RATE/s each, $SECS s, alone (load average $(cut -d' ' -f1 /proc/loadavg))"
listing
echo "# queue listing, the same, while every report runs in turn as the admin beside it"
: >"$W/loop"
(
	while :; do
		for k in sla volume backlog workload costs; do
			report "$k" "$admin" >>"$W/loop" || exit 1
		done
	done
) &
loop=$!
listing
kill "$loop" 2>/dev/null
wait "$loop" 2>/dev/null
loop=
echo "# reports run meanwhile: $(wc -l <"$W/loop"), each $(stats <"$W/loop")"
echo "# queue listing, alone again (load average $(cut -d' ' -f1 /proc/loadavg))"
listing
echo "# daemon peak RSS: $(grep VmHWM /proc/$dpid/status | awk '{print $2, $3}')"
