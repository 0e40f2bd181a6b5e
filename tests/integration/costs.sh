#!/bin/bash
# costs: seutudeskctl org and cost against a private PostgreSQL (good input
# and refusals that name what is wrong), then costs_report() for several
# periods: the shared parts sum to the pool cost to the cent and equal an
# independent largest remainder split in exact fractions (Python), items
# are prorated by days so the months of a year sum to the year's items.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/tests/lib/pg.sh"

CTL=$top_builddir/seutudeskctl
RUN=$top_builddir/tests/integration/costs-run
. "$top_srcdir/tests/lib/tap.sh"

if [ ! -x "$CTL" ] || [ ! -x "$RUN" ]; then
	echo "1..0 # SKIP $CTL or $RUN not built"
	exit 0
fi
. "$top_srcdir/tests/lib/apitest.sh"
db_start costs
sql() { pg_psql -d costs -c "$1"; }
ctl() { db_ctl "$@"; } # ctl SUB CMD ARGS...: seutudeskctl on $db; stdout in $out, stderr in $err

"$CTL" migrate --sql-dir "$top_srcdir/sql" --database "$db" >"$out" 2>"$err"
ok $? "the database migrates"

# -- org ---------------------------------------------------------------------
members="saarijarvi viitasaari karstula pihtipudas kinnula kannonkoski kyyjarvi kivijarvi saarikka"
i=0
all=0
for m in $members; do
	i=$((i + 1))
	# figures chosen so that no share comes out round
	ctl org set "$m" --year 2026 --population $((1000 + i * 997)) --users $((i * 131 + 7)) \
		--workstations $((i * 89 + 3)) || all=1
done
ok $all "org set for the nine members in 2026"
ctl org set kinnula --year 2026 --population 1657 --users 270 --workstations 181
ok $? "org set again replaces the year's figures"
ctl org list --year 2026 --json
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d), [r for r in d if r["member"]=="kinnula"][0]["population"])' "$out")" \
	"9 1657" "org list --json: nine members, kinnula's replaced figures"
ctl org list
has "$out" "^kinnula  *2026  *1657  *270  *181" "org list as text"
refused "org set: an unknown member is named" "unknown member 'nowhere'" \
	org set nowhere --year 2026 --population 1 --users 1 --workstations 1
refused "org set: --year is required" "\-\-year is required" \
	org set kinnula --population 1 --users 1 --workstations 1
refused "org set: a negative population" "expected a whole number of 0 or more, got '-5'" \
	org set kinnula --year 2026 --population -5 --users 1 --workstations 1
refused "org set: a bad year" "expected a year from 2000 to 2999, got '26'" \
	org set kinnula --year 26 --population 5 --users 1 --workstations 1
ctl org set kinnula --year 2026 --population 5 --users 1 --workstations 1 --colour red
is "$?" 2 "org set: an unknown option is a usage error"

# -- cost --------------------------------------------------------------------
ctl cost add pool 2026 123456.78 "Yhteiset palvelimet"
ok $? "cost add pool for a year"
ctl cost add pool 2026-Q1 "3000,01" "Lisenssit Q1"
ok $? "cost add pool for a quarter, with a decimal comma"
ctl cost add pool 2026-03 999.99 "Maaliskuun verkkolaitteet"
ok $? "cost add pool for a month"
ctl cost add kinnula 2026-03 1234.5 "Kinnulan projekti"
ok $? "cost add for a member"
ctl cost add karstula 2026-Q2 777 "Karstulan koulutus"
ok $? "cost add for a member, a quarter"
ctl cost add pool 2026-12 0.05 "Poistettava"
id=$(sed -n 's/^cost item \([0-9]*\) added.*/\1/p' "$out")
refused "cost add: a negative amount" "may not be negative, got '-5'" cost add pool 2026 -5 x
refused "cost add: a bad amount" "expected AMOUNT like 1234.50 or 1234,50, got '12.345'" \
	cost add pool 2026 12.345 x
refused "cost add: a bad period" "expected PERIOD .*got '2026-Q5'" cost add pool 2026-Q5 5 x
refused "cost add: a month 13" "got '2026-13'" cost add pool 2026-13 5 x
refused "cost add: an unknown member is named" "unknown member 'nowhere'" \
	cost add nowhere 2026 5 x
refused "cost add: an empty text" "TEXT may not be empty" cost add pool 2026 5 " "
ctl cost add pool 2026 5
is "$?" 2 "cost add: a missing TEXT is a usage error"
ctl cost list 2026-03 --json
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sorted((r["member"], r["period"], r["amount_cents"]) for r in d))' "$out")" \
	"[('kinnula', '2026-03', 123450), ('pool', '2026', 12345678), ('pool', '2026-03', 99999), ('pool', '2026-Q1', 300001)]" \
	"cost list 2026-03: the items overlapping March, amounts in cents"
ctl cost list
has "$out" "karstula  *2026-Q2  *777.00" "cost list as text"
ctl cost remove "$id"
ok $? "cost remove"
refused "cost remove: no such item" "no cost item $id" cost remove "$id"
refused "cost remove: not an id" "expected the ID of a cost item" cost remove abc

# -- the report ----------------------------------------------------------------
# Logged work on tickets of two members, one entry on the boundary of March.
sql "INSERT INTO agents (login, name, email) VALUES ('aino', 'Aino', 'aino@seutu-it.fi');
INSERT INTO tickets (requester_address, municipality) VALUES ('a@kinnula.fi', 'kinnula'), ('b@karstula.fi', 'karstula');
INSERT INTO worklog (ticket, agent, minutes, organisation, at)
SELECT t.number, a.id, m, t.municipality, at::timestamptz
FROM agents a, tickets t, (VALUES ('kinnula', 47, '2026-03-10 12:00+02'), ('kinnula', 13, '2026-03-31 23:59+03'),
	('kinnula', 20, '2026-04-01 00:00+03'), ('karstula', 95, '2026-02-02 08:00+02')) v(mun, m, at)
WHERE a.login = 'aino' AND t.municipality = v.mun" >/dev/null
cat >"$W/costs.conf" <<'CONF'
[costs]
population_weight = 45
users_weight = 35
workstations_weight = 20
hourly_rate = 65.55
CONF
pg_psql -d costs -c "COPY (SELECT organisation, lower(period), upper(period), amount_cents
	FROM cost_items) TO STDOUT" >"$W/items.tsv"
pg_psql -d costs -c "COPY (SELECT organisation, minutes, at AT TIME ZONE 'Europe/Helsinki'
	FROM worklog) TO STDOUT" >"$W/work.tsv"

# check FROM TO: the report against the independent computation.
check() {
	pg_psql -d costs -c "COPY (SELECT organisation, population, users, workstations
		FROM org_years WHERE year = ${1%%-*}) TO STDOUT" >"$W/org.tsv"
	pg_psql -d costs -c "COPY (SELECT organisation, lower(period), upper(period), amount_cents
		FROM cost_items) TO STDOUT" >"$W/items.tsv"
	"$RUN" "$db" "$W/costs.conf" "$1" "$2" en >"$W/doc.json" 2>"$err"
	python3 - "$W" "$1" "$2" <<'PY' >"$W/check" 2>&1
import json, sys, datetime as dt
from fractions import Fraction as F
w, lo, hi = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
hi1 = hi + dt.timedelta(days=1)
org = {}
for line in open(w + "/org.tsv"):
    m, p, u, s = line.split("\t")
    org[m] = (int(p), int(u), int(s))
members = sorted(org)
pool, direct = 0, {m: 0 for m in members}
for line in open(w + "/items.tsv"):
    m, a, b, cents = line.rstrip("\n").split("\t")
    a, b, cents = dt.date.fromisoformat(a), dt.date.fromisoformat(b), int(cents)
    s, e = max(a, lo), min(b, hi1)
    if s >= e:
        continue
    n = (b - a).days
    part = cents * (e - a).days // n - cents * (s - a).days // n
    if m == "\\N":
        pool += part
    else:
        direct[m] += part
weights = (45, 35, 20)
sums = [sum(org[m][k] for m in members) for k in range(3)]
share = {m: sum(F(weights[k] * org[m][k], 100 * sums[k]) for k in range(3)) for m in members}
exact = {m: pool * share[m] for m in members}
parts = {m: exact[m].numerator // exact[m].denominator for m in members}
left = pool - sum(parts.values())
for m in sorted(members, key=lambda m: (-(exact[m] - parts[m]), m))[:left]:
    parts[m] += 1
work = {m: 0 for m in members}
for line in open(w + "/work.tsv"):
    m, minutes, at = line.rstrip("\n").split("\t")
    if lo <= dt.datetime.fromisoformat(at).date() <= hi:
        work[m] += int(minutes)
doc = json.load(open(w + "/doc.json"))
t = {x["name"]: x for x in doc["tables"]}["costs"]
keys = [c["key"] for c in t["columns"]]
rows = {r[0]: dict(zip(keys, r)) for r in t["rows"]}
bad = []
for m in members:
    r = rows[m]
    want_work = (work[m] * 6555 + 30) // 60
    if r["shared"] != parts[m]: bad.append(f"{m} shared {r['shared']} != {parts[m]}")
    if r["direct_work"] != want_work: bad.append(f"{m} work {r['direct_work']} != {want_work}")
    if r["direct_items"] != direct[m]: bad.append(f"{m} items {r['direct_items']} != {direct[m]}")
    if r["total"] != parts[m] + want_work + direct[m]: bad.append(f"{m} total")
    if abs(r["weighted_pct"] - float(share[m] * 100)) > 0.006: bad.append(f"{m} weighted_pct")
tot = dict(zip(keys, t["totals"]))
if sum(r["shared"] for r in rows.values()) != pool or tot["shared"] != pool:
    bad.append(f"shared sum {tot['shared']} != pool {pool}")
print("pool", pool, "OK" if not bad else "BAD: " + "; ".join(bad))
PY
	grep -q OK "$W/check"
	ok $? "costs $1..$2: $(cat "$W/check" "$err" | head -3 | tr '\n' ' ')"
}
check 2026-01-01 2026-01-31
check 2026-03-01 2026-03-31
check 2026-01-01 2026-03-31
check 2026-02-10 2026-05-20
check 2026-01-01 2026-12-31
check 2026-12-31 2026-12-31

# The months of the year sum to the year's items, cent for cent.
total=0
for mth in 01 02 03 04 05 06 07 08 09 10 11 12; do
	last=$(date -d "2026-$mth-01 +1 month -1 day" +%F)
	"$RUN" "$db" "$W/costs.conf" "2026-$mth-01" "$last" fi >"$W/m.json"
	total=$((total + $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["tables"][0]["totals"][5] + d["tables"][0]["totals"][7])' "$W/m.json")))
done
is "$total" "$(sql "SELECT sum(amount_cents) FROM cost_items")" \
	"the twelve months' shared and direct items sum to the items of the year"

"$RUN" "$db" "$W/costs.conf" 2026-03-01 2026-03-31 sv kinnula >"$W/doc.json" 2>"$err"
is "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); t=d["tables"][0]; print([r[0] for r in t["rows"]], t["columns"][0]["title"], sorted({r[0] for r in d["tables"][1]["rows"] if r[4] is not None}))' "$W/doc.json")" \
	"['kinnula'] Medlem ['kinnula', 'pool']" "one member: its row, Swedish titles, the pool's and its own items"
grep -q '"definitions": "Medlemmarnas andelar' "$W/doc.json"
ok $? "definitions in Swedish"

"$RUN" "$db" "$W/costs.conf" 2026-12-01 2027-01-31 en 2>"$err" >/dev/null
rc=$?
[ "$rc" = 1 ] && grep -q "^422: the costs period must lie within one calendar year" "$err"
ok $? "a period across two years is refused with 422"
sql "INSERT INTO org_years VALUES ('kinnula', 2025, 1, 1, 1)" >/dev/null
"$RUN" "$db" "$W/costs.conf" 2025-01-01 2025-01-31 en 2>"$err" >/dev/null
rc=$?
[ "$rc" = 1 ] && grep -q "^422: no org data for kannonkoski, karstula, .* in 2025" "$err"
ok $? "missing org data names the members and the year: $(cat "$err")"
"$RUN" "$db" "$W/costs.conf" 2026-01-01 2026-01-31 en nowhere 2>"$err" >/dev/null
[ $? = 1 ] && grep -q "^422: 'nowhere' is not an active member" "$err"
ok $? "an unknown member is refused with 422"

# A second year: its own figures (a member grew, one shrank) and its own
# pool cost; each year's split reads that year's figures.
i=0
for m in $(sql "SELECT id FROM organisations WHERE active ORDER BY id"); do
	i=$((i + 1))
	ctl org set "$m" --year 2025 --population $((900 + i * 1013)) --users $((i * 127 + 11)) \
		--workstations $((i * 89 + 5)) || break
done
ok $? "org set for the nine members in 2025"
ctl cost add pool 2025 98765.43 "Vuoden 2025 yhteiset kulut" && ctl cost add pool 2025-06 111.11 "Kesäkuu"
ok $? "cost add pool for 2025"
check 2025-01-01 2025-12-31
check 2025-06-01 2025-06-30
check 2026-01-01 2026-12-31
"$RUN" "$db" "$W/costs.conf" 2025-01-01 2025-12-31 en >"$W/y25.json" 2>"$err"
"$RUN" "$db" "$W/costs.conf" 2026-01-01 2026-12-31 en >"$W/y26.json" 2>>"$err"
python3 -c 'import json,sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
pct = lambda d: [r[4] for r in d["tables"][0]["rows"]]
sys.exit(0 if pct(a) != pct(b) else 1)' "$W/y25.json" "$W/y26.json"
ok $? "the two years' weighted shares differ, each from its own figures"

echo "1..$n"
