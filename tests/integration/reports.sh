#!/bin/bash
# The managers' reports (doc/reports.md) against figures computed without
# the daemon's SQL: a seeded history (tests/lib/report_oracle.py gen) of
# tickets across weekends, Finnish holidays and both DST changes, with
# pauses, reopenings, breaches, replies, notes, work logs, chat and mail,
# a sote ticket and agents of every role goes into a private PostgreSQL;
# the real daemon computes and fires the SLA timers under fi-office
# policies; then every figure of every report (report-run: the builder the
# API runs) must equal what report_oracle.py check computes from the
# history, minute by minute.  Also who sees what, the sote subject, the
# members without tickets, the periods and the errors naming the parameter.
: "${top_srcdir:?}" "${top_builddir:?}"
PY=/usr/bin/python3
run=$top_builddir/tests/integration/report-run
oracle=$top_srcdir/tests/lib/report_oracle.py

. "$top_srcdir/tests/lib/tap.sh"
for p in "$run" "$top_builddir/seutudeskd" "$top_builddir/seutudeskctl" "$PY"; do
	[ -x "$p" ] || { echo "1..0 # SKIP $p not built or not installed"; exit 0; }
done
. "$top_srcdir/tests/lib/pg.sh"
W=$(mktemp -d "${TMPDIR:-/tmp}/reports.XXXXXX") || exit 1
chmod 0755 "$W"
daemon=
cleanup() {
	[ -n "$daemon" ] && kill -TERM "$daemon" 2>/dev/null && wait "$daemon"
	rm -rf "$W"
}
trap cleanup EXIT
if ! pg_start >/dev/null; then
	echo "Bail out! PostgreSQL did not start"
	exit 0
fi
db=$(pg_createdb seutudesk)
sql() { pg_psql -d seutudesk -c "$1"; }
"$top_builddir/seutudeskctl" migrate --sql-dir "$top_srcdir/sql" --database "$db" \
	>"$W/migrate.log" 2>&1 || { echo "Bail out! migrate failed"; cat "$W/migrate.log"; exit 0; }

cat >"$W/seutudesk.conf" <<CONF
[daemon]
rules_dir = $top_srcdir/contrib/rules.d
pid_file = $W/seutudeskd.pid
log_level = info

[database]
conninfo = $db

[intake]
templates_dir = $top_srcdir/contrib/templates

# The tickets are from 2024: the daemon's daily retention run would scrub
# their subjects before the reports are read.
[retention]
daily = no

[queue network]

[sla normal]
priority = normal
first_response = 2h
resolution = 16h
calendar = fi-office

[sla chat]
priority = normal
channel = chat
first_response = 15m
resolution = 4h
calendar = fi-office
CONF

"$PY" "$oracle" gen "$W/history.json" >"$W/history.sql" || { echo "Bail out! gen failed"; exit 0; }
pg_psql -d seutudesk -f "$W/history.sql" >/dev/null || { echo "Bail out! history failed"; exit 0; }
"$top_builddir/seutudeskd" -f -c "$W/seutudesk.conf" >"$W/daemon.log" 2>&1 &
daemon=$!
settled="SELECT (SELECT count(*) FROM sla_recompute) + (SELECT count(*) FROM sla_timers
	WHERE next_fire_at <= now()) + (SELECT count(*) FROM tickets t WHERE priority = 'normal'
	AND NOT EXISTS (SELECT 1 FROM sla_timers s WHERE s.ticket = t.number))"
for _ in $(seq 1 300); do
	[ "$(sql "$settled" 2>/dev/null)" = 0 ] && break
	sleep 0.2
done
is "$(sql "$settled")" 0 "the daemon computed every timer and fired every breach"
kill -TERM "$daemon"
wait "$daemon"
daemon=
echo "# $(sql "SELECT count(*) FROM tickets") tickets, $(sql "SELECT count(*) FROM sla_timers
	WHERE breached_at IS NOT NULL") breached timers"

# check DESC READER KIND [NAME=VALUE ...]: the document equals the oracle's figures.
check() {
	local desc=$1
	shift
	"$run" "$db" "$@" >"$W/doc.json" 2>"$W/err"
	if [ $? != 0 ]; then
		ok 1 "$desc"
		sed 's/^/#   /' "$W/doc.json" "$W/err"
		return
	fi
	"$PY" "$oracle" check "$W/history.json" "$@" <"$W/doc.json" >"$W/diff"
	ok $? "$desc"
	head -c 4000 "$W/diff"
}
# field READER KIND [NAME=VALUE ...]: "STATUS FIELD" of a refused report.
field() {
	"$run" "$db" "$@" | "$PY" -c 'import json, sys; d = json.load(sys.stdin)
print(d.get("status"), d.get("field"))'
}
# jq-like: PY expression over the document d.
doc() {
	local expr=$1
	shift
	"$run" "$db" "$@" | "$PY" -c "import json, sys; d = json.load(sys.stdin); print($expr)"
}

Q4="from=2024-10-01 to=2024-12-31"
adm=1 adms=2 mkin=3 mkar=4 lead=5 a1=6 mall=8
# Every report, every figure, for readers of each role.
for by in municipality queue channel agent none sector priority category; do
	check "sla by $by, admin" $adm sla $Q4 by=$by
done
check "sla, 2024 Q4, admin with sote clearance" $adms sla $Q4
check "sla around Easter and the March DST change" $adm sla from=1.3.2024 to=30.4.2024
check "sla, manager of Kinnula" $mkin sla $Q4
check "sla, manager of Karstula" $mkar sla $Q4
check "sla, lead of the network queue" $lead sla $Q4 by=queue
check "sla, manager of every member with sote clearance" $mall sla $Q4
for by in municipality channel agent; do
	check "volume by $by, months" $adm volume $Q4 by=$by
	check "volume by $by, ISO weeks" $adm volume $Q4 by=$by step=week
done
check "volume, manager of Kinnula (no auto-filtered count)" $mkin volume $Q4 step=week
check "volume, lead" $lead volume $Q4
check "backlog by queue" $adm backlog
check "backlog by municipality" $adm backlog by=municipality
check "backlog, manager of Kinnula" $mkin backlog by=municipality
check "backlog, manager of Karstula" $mkar backlog by=municipality
check "backlog, sote cleared" $adms backlog
check "workload" $adm workload $Q4
check "workload, one month" $adm workload from=2024-12-01 to=2024-12-31
check "workload, manager of Kinnula" $mkin workload $Q4
check "workload, lead" $lead workload $Q4

# Who sees what.
is "$(doc '[r[0] for r in d["tables"][0]["rows"]]' $mkin sla $Q4)" "['kinnula']" \
	"a manager of Kinnula gets Kinnula's row alone"
is "$(doc 'sorted({r[6] for r in d["tables"][1]["rows"]})' $mkar sla $Q4)" "['karstula']" \
	"a manager of Karstula sees no breach of another member"
is "$(doc '{r[3] for r in d["tables"][1]["rows"]}' $mkar backlog)" "{'karstula'}" \
	"nor their open tickets"
sote_no=$(doc 'sorted({r[7] for r in d["tables"][1]["rows"] if r[0] == 3})' $adm sla $Q4)
sote_yes=$(doc 'sorted({r[7] for r in d["tables"][1]["rows"] if r[0] == 3})' $adms sla $Q4)
is "$sote_no" "[None]" "the sote ticket's breach without its subject for an admin without clearance"
is "$sote_yes" "['Potilastieto salainen']" "and with it for one with clearance"
is "$(doc '[r[4] for r in d["tables"][1]["rows"] if r[4] and "Auki 3" in r[4]]' $adm backlog)" "[]" \
	"an open sote ticket's subject is not among the oldest without clearance"
is "$(doc '"Potilastieto" in json.dumps(d)' $mkin sla $Q4)" "False" \
	"nowhere in a manager's document"
is "$(doc '[r for r in d["tables"][0]["rows"] if r[0] == "kivijarvi"]' $adm sla $Q4)" \
	"[['kivijarvi', 0, 0, 0, 0, None, None, None, 0, 0, 0, None, None, None]]" \
	"a member with no tickets is a row of zeros"
is "$(doc '[r[0] for r in d["tables"][1]["rows"] if r[0] == "kivijarvi"]' $adm volume $Q4)" \
	"['kivijarvi']" "in the volume too"
is "$(field $a1 sla $Q4)" "403 None" "a plain agent gets 403"
is "$(field 999 sla $Q4)" "403 None" "an unknown reader gets 403"

# The period and the parameters.
is "$(doc 'd["period"]' $adm sla from=1.10.2024 to=31.12.2024)" \
	"{'from': '2024-10-01', 'to': '2024-12-31'}" "d.m.yyyy dates"
prev=$("$PY" -c 'import datetime as dt, zoneinfo
t = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Helsinki")).date().replace(day=1)
p = t - dt.timedelta(days=1)
print({"from": p.replace(day=1).isoformat(), "to": p.isoformat()})')
is "$(doc 'd["period"]' $adm volume)" "$prev" "the previous calendar month by default"
is "$(field $adm sla by=member)" "400 by" "an unknown grouping names by"
is "$(field $adm volume step=day)" "400 step" "an unknown step names step"
is "$(field $adm sla lang=de)" "400 lang" "an unknown language names lang"
is "$(field $adm sla from=2024-02-30 to=2024-03-01)" "400 from" "a date that does not exist names from"
is "$(field $adm sla from=2024-01-01 to=1.13.2024)" "400 to" "a bad to names to"
is "$(field $adm sla from=2024-03-01 to=2024-02-29)" "400 to" "to before from names to"
is "$(field $adm sla from=2021-01-01 to=2024-01-01)" "400 to" "more than 3 years names to"
is "$(doc 'd["period"]["to"]' $adm sla from=2021-01-01 to=2023-12-31)" "2023-12-31" "3 years exactly"
is "$(field $adm sla $Q4 colour=red)" "400 colour" "an unknown parameter is named"
is "$(field $adm workload $Q4 by=queue)" "400 by" "the workload is per agent"
is "$(doc 'd["tables"][0]["title"] + " / " + d["tables"][0]["columns"][5]["title"]' $adm sla $Q4 lang=sv)" \
	"SLA per kommun / Första svar i tid %" "titles in Swedish"
is "$(doc 'd["definitions"].startswith("Tiketit, jotka on luotu jaksolla")' $adm sla $Q4)" \
	"True" "definitions in Finnish by default, saying which tickets count"

grep -i 'error' "$W/daemon.log" | head -5 | sed 's/^/#   daemon: /'
echo "1..$n"
