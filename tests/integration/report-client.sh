#!/bin/bash
# report-client: `seutudesk report` end to end against the real daemon (the
# private stack with the agents' API over HTTPS): tickets of several members
# by mail through Dovecot, a reply, a resolution and logged work through the
# API, the members' figures and cost items (seutudeskctl org set, cost add);
# then every report in every format written with -o, each file compared
# with what the API gives for the same query (curl) and read back as its
# reader would (the JSON parsed, the CSV with Python's csv module, the XLSX
# with openpyxl, each value against the JSON); the refusals naming the
# option; xlsx refused to a terminal; a manager sees only their member's
# rows; a plain agent is refused (TAP).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bin=$top_builddir
check=$top_srcdir/tests/lib/report_check.py

. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/apitest.sh"
need_built seutudeskd seutudeskctl seutudesk
need_cmd curl openssl
need_mail_stack

api_workdir report-client
STACK_EXTRA_CONF="$(api_conf)
workers = 2

[costs]
population_weight = 50
users_weight = 25
workstations_weight = 25
hourly_rate = 65.00
currency = EUR

[queue workstations]

[route workstations]
queue = workstations
category = tyoasema, tulostus, ohjelmisto, hankinta, mobiili

[sla normal]
priority = normal
first_response = 4h
resolution = 24h
calendar = 24x7

[calendar 24x7]
timezone = Europe/Helsinki
holidays = none
monday = 00:00-24:00
tuesday = 00:00-24:00
wednesday = 00:00-24:00
thursday = 00:00-24:00
friday = 00:00-24:00
saturday = 00:00-24:00
sunday = 00:00-24:00
"
. "$top_srcdir/tests/lib/stack.sh"
api_stack_start
# A hard bound on the whole run: a stuck step ends the test, it never hangs.
api_watchdog "${REPORT_CLIENT_LIMIT:-150}"
daemon_start
api_wait

# -- agents, tokens, the members' figures and cost items -----------------------
add() { # add LOGIN OPTIONS...
	api_agent "$@"
	ctl token issue "$1" 2>>"$W/ctl.log" >"$W/$1.token" || { echo "Bail out! token issue $1"; exit 1; }
}
add ada --role admin
add maija --role manager --municipalities kinnula --organisation kinnula
add olli

year=$(TZ=Europe/Helsinki date +%Y)
all=0
# member population users workstations (saarikka: its people live in the members)
while read -r m pop users ws; do
	ctl org set "$m" --year "$year" --population "$pop" --users "$users" --workstations "$ws" \
		>>"$W/ctl.log" 2>&1 || all=1
done <<'ORG'
saarijarvi 9200 610 540
viitasaari 6000 420 380
karstula 3800 260 230
pihtipudas 3700 250 220
kinnula 1500 110 95
kannonkoski 1250 90 80
kyyjarvi 1200 85 75
kivijarvi 1050 75 70
saarikka 0 720 650
ORG
ok $all "org set for the nine members in $year"
ctl cost add pool "$year" 480000.00 "Palvelupoolin yhteiset kulut" >>"$W/ctl.log" 2>&1 &&
	ctl cost add kinnula "$year-Q4" 1250.50 "Kinnulan koulun verkkouudistus" >>"$W/ctl.log" 2>&1
ok $? "cost add: a pool item for the year and a direct item of Kinnula"

# -- tickets by mail -------------------------------------------------------------
# mail N ADDRESS SUBJECT BODY: one request into the support mailbox.
mail() {
	cat >"$W/mail$1.eml" <<EOF
From: Pyytäjä $1 <$2>
To: tuki@seutu-it.fi
Subject: $3
Date: $(date -R)
Message-ID: <report-client-$1@example.fi>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hei,

$4

Terveisin
Pyytäjä $1
EOF
	dovecot_deliver test "$W/mail$1.eml"
}
mail 1 anna@kinnula.fi "Tulostin ei tulosta" "Kunnanviraston tulostin ei tulosta Kinnulassa."
mail 2 pekka@kinnula.fi "Kannettava ei käynnisty" "Kinnulan kunnan kannettava tietokone ei käynnisty."
mail 3 ville@kinnula.fi "Näppäimistö rikki" "Kinnulan kunnanviraston näppäimistö on rikki."
mail 4 liisa@karstula.fi "Tulostimen värikasetti" "Karstulan kunnanviraston tulostimesta loppui väri."
mail 5 matti@karstula.fi "Näyttö pimeänä" "Karstulan kunnantalon työaseman näyttö on pimeä."
mail 6 sari@viitasaari.fi "Ohjelmiston asennus" "Viitasaaren kaupungintalolle tarvitaan ohjelmisto asennettuna."
stack_wait "SELECT count(*) FROM tickets" 6 60
ok $? "six tickets from the mails"
stack_wait "SELECT count(*) FROM tickets WHERE municipality = 'kinnula'" 3 10
ok $? "three of them Kinnula's"
kin=$(stack_sql "SELECT string_agg(number::text, ' ' ORDER BY number) FROM tickets
	WHERE municipality = 'kinnula'")
read -r k1 k2 _ <<<"$kin"
kar=$(stack_sql "SELECT min(number) FROM tickets WHERE municipality = 'karstula'")

# client AGENT ARGS...: the terminal client as AGENT (stdout $W/out, stderr $W/err).
client() {
	local who=$1
	shift
	HOME=$W SEUTUDESK_CONFIG=$W/none SEUTUDESK_URL=$base SEUTUDESK_CA=$W/cert.pem \
		SEUTUDESK_TOKEN=$(cat "$W/$who.token") "$bin/seutudesk" "$@" >"$W/out" 2>"$W/err" </dev/null
}
# act AGENT N ACTION JSON: a ticket action through the API.
act() {
	curl -s --max-time 10 --cacert "$W/cert.pem" -H "Authorization: Bearer $(cat "$W/$1.token")" \
		-H 'Content-Type: application/json' -o "$W/act" -w '%{http_code}' \
		-X POST --data "$4" "$base/api/v1/tickets/$2/$3"
}
printf 'Tulostin on korjattu, kokeilkaa uudelleen.\n' >"$W/reply.txt"
client ada reply "$k1" --file "$W/reply.txt" --status resolved
ok $? "ada replies to Kinnula's ticket $k1 and resolves it"
is "$(act ada "$k2" note '{"body": "Tilataan uusi."}')" 200 "a note on $k2"
is "$(act ada "$k2" worklog '{"minutes": 90, "note": "Vianetsintä"}')" 200 "90 minutes logged on $k2"
is "$(act ada "$kar" worklog '{"minutes": 30}')" 200 "30 minutes logged on Karstula's $kar"

# -- every report in every format, as the admin --------------------------------
# The backlog's ages are whole seconds from creation to now: created on a
# whole second, they all step at the start of a second, which the rounds
# below wait for, so that the formats fetched one after another agree.
stack_sql "UPDATE tickets SET created_at = date_trunc('second', created_at)" >/dev/null
FROM=$year-01-01
TO=$year-12-31
Q="from=$FROM&to=$TO"
# api AGENT QUERYPATH FILE: what the API gives, for comparison.
api() {
	curl -s --max-time 20 --cacert "$W/cert.pem" -H "Authorization: Bearer $(cat "$W/$1.token")" \
		-o "$3" -w '%{http_code}' "$base/api/v1/reports/$2"
}
# same_doc A B: two JSON documents equal but for generated_at.
same_doc() {
	"$PY" - "$1" "$2" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for d in (a, b):
    d.pop("generated_at", None)
sys.exit(a != b)
EOF
}
# same_bytes A B: equal files but for the generation time (the XLSX's
# docProps and the time in the text, CSV and HTML footers).
same_bytes() {
	"$PY" - "$1" "$2" <<'EOF'
import io, re, sys, zipfile
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
def norm(d):
    if d[:2] == b"PK":
        z = zipfile.ZipFile(io.BytesIO(d))
        return {n: norm(z.read(n)) for n in sorted(z.namelist())}
    d = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?", b"T", d)
    return re.sub(rb"\d{1,2}\.\d{1,2}\.\d{4}( klo)? \d{1,2}[.:]\d\d([.:]\d\d)?", b"T", d)
sys.exit(norm(a) != norm(b))
EOF
}
have_openpyxl=no
"$PY" -c 'import openpyxl' 2>/dev/null && have_openpyxl=yes
# round KIND BY: every format through the client and through the API, each
# file read back; the results in R ("STATUS DESCRIPTION"), what differed in
# $W/diag.  A round that straddles a second may differ in the backlog's
# ages: it runs again, from the start of a second.
round() {
	local kind=$1 by=$2 f o rc code
	R=()
	: >"$W/diag"
	for f in json text csv xlsx html; do
		o=$W/$kind.$f
		client ada report "$kind" --from "$FROM" --to "$TO" --by "$by" --format $f -o "$o"
		rc=$?
		[ $rc = 0 ] && [ -s "$o" ] && [ ! -s "$W/out" ]
		R+=("$? report $kind --by $by --format $f -o FILE")
		[ $rc = 0 ] || sed 's/^/#   /' "$W/err" >>"$W/diag"
		code=$(api ada "$kind?$Q&by=$by&format=$f" "$W/api.$kind.$f")
		if [ $f = json ]; then
			[ "$code" = 200 ] && same_doc "$o" "$W/api.$kind.$f"
		else
			[ "$code" = 200 ] && same_bytes "$o" "$W/api.$kind.$f"
		fi
		R+=("$? $kind.$f is what the API gives ($code)")
	done
	"$PY" "$check" csv "$W/$kind.json" "$W/$kind.csv" >>"$W/diag"
	R+=("$? $kind.csv read back with csv (';', utf-8-sig) equals the JSON")
	if [ $have_openpyxl = yes ]; then
		"$PY" "$check" xlsx "$W/$kind.json" "$W/$kind.xlsx" >>"$W/diag"
		R+=("$? $kind.xlsx read back with openpyxl equals the JSON")
	else
		R+=("0 # SKIP $kind.xlsx: no python3-openpyxl")
	fi
	grep -qi '<html' "$W/$kind.html" && ! grep -qi '<script' "$W/$kind.html"
	R+=("$? $kind.html is a page without script")
}
round_ok() {
	local r
	for r in "${R[@]}"; do
		[ "${r%% *}" = 0 ] || return 1
	done
}
for kind in sla volume backlog workload costs; do
	by=municipality
	[ $kind = workload ] && by=agent
	[ $kind = backlog ] && by=queue
	for try in 1 2 3; do
		while [ "$(date +%N | cut -c1)" != 0 ]; do sleep 0.02; done
		round $kind $by
		round_ok && break
		echo "# $kind: round $try differed, again"
	done
	for r in "${R[@]}"; do
		ok "${r%% *}" "${r#* }"
	done
	cat "$W/diag"
done

# json FILE EXPR: a Python expression over the document d in FILE.
json() {
	"$PY" -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"
}
is "$(json "$W/sla.json" 'sorted(r[0] for r in d["tables"][0]["rows"])')" \
	"['kannonkoski', 'karstula', 'kinnula', 'kivijarvi', 'kyyjarvi', 'pihtipudas', 'saarijarvi', 'saarikka', 'viitasaari']" \
	"sla by municipality: a row for every member"
is "$(json "$W/sla.json" '{r[0]: r[1] for r in d["tables"][0]["rows"]}["kinnula"], d["tables"][0]["totals"][1]')" \
	"3 6" "sla: Kinnula's three tickets of six"
is "$(json "$W/volume.json" 'd["period"]')" "{'from': '$FROM', 'to': '$TO'}" \
	"--from and --to reach the server"
is "$(json "$W/workload.json" '[(r[0], r[1:]) for r in d["tables"][0]["rows"] if r[0] == "ada"]')" \
	"[('ada', [1, 1, 1, 120])]" "workload: ada resolved one, replied once, one note, 120 minutes"
costs_total=$(json "$W/costs.json" 'd["tables"][0]["totals"][5]')
is "$costs_total" 48000000 "costs: the members' shared parts sum to the pool cost to the cent"
is "$(json "$W/costs.json" '{r[0]: r[6:9] for r in d["tables"][0]["rows"]}["kinnula"]')" \
	"[9750, 125050, $(json "$W/costs.json" '{r[0]: r[8] for r in d["tables"][0]["rows"]}["kinnula"]')]" \
	"costs: Kinnula's 90 minutes at 65.00 and its direct item"
grep -q kinnula "$W/sla.text"
ok $? "the text report names the members"

# Without -o the text goes to standard output; json to a pipe too.
client ada report sla --from "$FROM" --to "$TO"
[ $? = 0 ] && grep -q kinnula "$W/out"
ok $? "report sla without -o: the text on standard output"
client ada report volume --from "$FROM" --to "$TO" --format json -o -
same_doc "$W/out" "$W/volume.json"
ok $? "-o -: the JSON on standard output"

# -- refusals ------------------------------------------------------------------------
# refused DESC CODE PATTERN AGENT ARGS...
refused() {
	local desc=$1 want=$2 pattern=$3 rc
	shift 3
	client "$@"
	rc=$?
	[ "$rc" = "$want" ] && grep -q -- "$pattern" "$W/err"
	ok $? "$desc"
	[ "$rc" = "$want" ] && grep -q -- "$pattern" "$W/err" || sed "s/^/#   exit $rc: /" "$W/err"
}
refused "--to before --from is refused naming --to" 1 "(--to)" \
	ada report sla --from "$year-03-01" --to "$year-02-01"
refused "a bad --by is refused naming --by" 1 "(--by)" ada report sla --by member
refused "the workload by queue names --by" 1 "(--by)" ada report workload --by queue
refused "a date that does not exist names --from" 1 "(--from)" \
	ada report sla --from "$year-02-30" --to "$year-03-01"
refused "costs across two years is refused" 1 "within one calendar year" \
	ada report costs --from "$((year - 1))-12-01" --to "$year-01-31"
refused "costs of a year without the members' figures names the year" 1 "$((year - 1))" \
	ada report costs --from "$((year - 1))-01-01" --to "$((year - 1))-12-31"
refused "an unknown format is a usage error" 2 "--format is" ada report sla --format pdf
refused "an unknown report is a usage error" 2 "the report is one of" ada report sales
ls "$W"/*.part >/dev/null 2>&1
is $? 2 "no half-written file left behind"

# xlsx to a terminal: standard output a tty (script's pseudo-terminal).
if command -v script >/dev/null; then
	HOME=$W SEUTUDESK_CONFIG=$W/none SEUTUDESK_URL=$base SEUTUDESK_CA=$W/cert.pem \
		SEUTUDESK_TOKEN=$(cat "$W/ada.token") script -qec \
		"'$bin/seutudesk' report sla --format xlsx; echo EXIT=\$?" /dev/null >"$W/tty" 2>&1 </dev/null
	grep -q 'EXIT=2' "$W/tty" && grep -q 'not for a terminal; give -o' "$W/tty" &&
		! grep -q 'PK' "$W/tty"
	ok $? "xlsx refused to a terminal without -o"
	[ $? = 0 ] || sed 's/^/#   /' "$W/tty" | head -5
	HOME=$W SEUTUDESK_CONFIG=$W/none SEUTUDESK_URL=$base SEUTUDESK_CA=$W/cert.pem \
		SEUTUDESK_TOKEN=$(cat "$W/ada.token") script -qec \
		"'$bin/seutudesk' report sla --format xlsx -o '$W/tty.xlsx'; echo EXIT=\$?" /dev/null \
		>"$W/tty" 2>&1 </dev/null
	grep -q 'EXIT=0' "$W/tty" && [ "$(head -c 2 "$W/tty.xlsx")" = PK ]
	ok $? "and written with -o from a terminal"
else
	ok 0 "# SKIP xlsx to a terminal: no script(1)"
	ok 0 "# SKIP xlsx with -o from a terminal: no script(1)"
fi
client ada report sla --from "$FROM" --to "$TO" --format xlsx
[ $? = 0 ] && [ "$(head -c 2 "$W/out")" = PK ]
ok $? "xlsx to a file or pipe without -o"

# -- who sees what -----------------------------------------------------------------
for kind in sla volume backlog costs; do
	client maija report $kind --from "$FROM" --to "$TO" --by municipality --format json -o "$W/m.$kind.json"
	ok $? "manager maija: report $kind"
done
is "$(json "$W/m.sla.json" '([r[:2] for r in d["tables"][0]["rows"]], d["tables"][0]["totals"][1])')" \
	"([['kinnula', 3]], 3)" "the manager of Kinnula: Kinnula's row alone, its three tickets"
is "$(json "$W/m.volume.json" 'sorted({r[0] for t in d["tables"] for r in t["rows"] if t["columns"][0]["key"] == "group" and r[0] in ("karstula", "viitasaari")})')" \
	"[]" "no other member in the volume"
is "$(json "$W/m.backlog.json" 'sorted({r[3] for r in d["tables"][1]["rows"]})')" "['kinnula']" \
	"nor among the oldest open tickets"
is "$(json "$W/m.costs.json" '[r[0] for r in d["tables"][0]["rows"]]')" "['kinnula']" \
	"the costs: Kinnula's row alone"
is "$(json "$W/m.costs.json" '{r[0]: r[5] for r in d["tables"][0]["rows"]}["kinnula"]')" \
	"$(json "$W/costs.json" '{r[0]: r[5] for r in d["tables"][0]["rows"]}["kinnula"]')" \
	"with its share of the whole split"
client maija report sla --from "$FROM" --to "$TO" --by queue --format csv -o "$W/m.sla.csv" &&
	client maija report sla --from "$FROM" --to "$TO" --by queue --format json -o "$W/mq.sla.json" &&
	"$PY" "$check" csv "$W/mq.sla.json" "$W/m.sla.csv"
ok $? "the manager's CSV by queue reads back as their JSON"
is "$(json "$W/mq.sla.json" 'd["tables"][0]["totals"][1]')" 3 "Kinnula's three tickets by queue"
! grep -q 'karstula\|viitasaari\|Karstula\|Viitasaari' "$W/m.sla.csv"
ok $? "names no other member"
refused "a plain agent is refused" 1 "manager\|admin\|not allowed\|403" \
	olli report sla --from "$FROM" --to "$TO"
[ ! -e "$W/o.json" ]
client olli report costs --format json -o "$W/o.json"
[ $? = 1 ] && [ ! -e "$W/o.json" ]
ok $? "and no file is written"
sed 's/^/# olli: /' "$W/err"

grep -E 'level=(error|crit)' "$STACK_LOG" | head -5 | sed 's/^/#   daemon: /'
echo "1..$n"
[ "$failed" = 0 ]
