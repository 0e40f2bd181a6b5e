#!/bin/bash
# Retention ([retention], seutudeskctl retention, the daemon's daily run)
# against a private PostgreSQL, with tickets made by the real intake
# (tests/integration/intake-feed) and closed at chosen times: sote tickets
# closed over 12 months ago and others over 24 are scrubbed, younger ones
# and held ones are not touched at all; the dry run changes nothing and
# counts right per sector; the reports' figures stay the same; old audit
# events the reports do not read go; a second run meets the lock; the
# daemon runs it once a day on its own.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}

. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/apitest.sh"
. "$top_srcdir/tests/lib/pg.sh"
need_built seutudeskctl seutudeskd tests/integration/intake-feed tests/integration/report-run

db_start retention
trap pg_cleanup EXIT

CTL=$top_builddir/seutudeskctl
sql() { pg_psql -d "$db" -c "$1"; }
"$CTL" migrate --sql-dir "$top_srcdir/sql" --database "$db" >"$W/migrate.log" 2>&1 ||
	{ cat "$W/migrate.log"; echo "Bail out! migrate"; exit 1; }
CONF=$W/seutudesk.conf
cat >"$CONF" <<EOF
[daemon]
rules_dir = $top_srcdir/contrib/rules.d
[database]
conninfo = $db
[intake]
templates_dir = $top_srcdir/contrib/templates
[costs]
hourly_rate = 65.00
[retention]
daily = no
default = 2 years
sectors = sote: 12 months
batch = 1
EOF
rctl() { "$CTL" -c "$CONF" "$@"; }

# Six requests, one a person, and an automatic reply that makes no ticket.
mail() { # mail NAME FROM SUBJECT TEXT
	printf 'From: %s\r\nTo: tuki@seutu-it.fi\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="%s.txt"\r\n\r\nATTACH-%s\r\n--b--\r\n' \
		"$2" "$3" "$1" "$(date -R)" "$4" "$1" "$1" >"$W/$1.eml"
}
mail a1 "Aino Yksi <aino.yksi@saarikka.fi>" "Kotihoidon tabletti" "Kotihoidon tabletti ei käynnisty. TEXT-a1"
mail a2 "Aino Kaksi <aino.kaksi@saarikka.fi>" "Terveyskeskuksen tulostin" "Terveyskeskuksen vastaanoton tulostin jumissa. TEXT-a2"
mail a3 "Aino Kolme <aino.kolme@saarikka.fi>" "Hammashoitolan kone" "Hammashoitolan kone ei käynnisty. TEXT-a3"
mail b1 "Beata Yksi <beata.yksi@karstula.fi>" "Palkat" "Kunnanviraston palkat-ohjelma ei aukea. TEXT-b1"
mail b2 "Beata Kaksi <beata.kaksi@karstula.fi>" "Talous" "Kunnanviraston taloushallinnon ohjelma kaatuu. TEXT-b2"
mail b3 "Beata Kolme <beata.kolme@karstula.fi>" "Kirjaamo" "Kunnanviraston kirjaamon skanneri ei toimi. TEXT-b3"
printf 'From: Ei Paikalla <poissa.auto@karstula.fi>\r\nTo: tuki@seutu-it.fi\r\nSubject: Automaattinen vastaus\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <auto1@example.org>\r\nDate: %s\r\n\r\nOlen lomalla. TEXT-auto\r\n' \
	"$(date -R)" >"$W/auto.eml"
"$top_builddir/tests/integration/intake-feed" -d "$db" -r "$top_srcdir/contrib/rules.d" \
	-t "$top_srcdir/contrib/templates" "$W"/a?.eml "$W"/b?.eml "$W/auto.eml" >"$W/feed.out" 2>"$W/feed.err"
ok $? "the intake takes the seven mails"
t() { sql "SELECT ticket FROM messages WHERE message_id = '$1@example.org'"; }
A1=$(t a1) A2=$(t a2) A3=$(t a3) B1=$(t b1) B2=$(t b2) B3=$(t b3)
is "$(sql "SELECT string_agg(coalesce(sector, '-'), ' ' ORDER BY number) FROM tickets WHERE number IN ($A1, $A2, $A3)")" \
	"sote sote sote" "the saarikka.fi mails are sote tickets"
BSEC=$(sql "SELECT sector FROM tickets WHERE number = $B1")
is "$(sql "SELECT count(DISTINCT coalesce(sector, '-')) FROM tickets WHERE number IN ($B1, $B2, $B3) AND sector IS DISTINCT FROM 'sote'")" 1 \
	"the karstula.fi mails share one sector that is not sote (${BSEC:-unknown})"

# Closing times: a1 13 months ago, a2 11, a3 13 but held, b1 13, b2 25;
# b3 stays open (made 30 months ago).  Work logged on a1 and b2.
close() { # close TICKET MONTHS
	sql "UPDATE tickets SET status = 'closed', created_at = now() - interval '$2 months' - interval '3 days',
	      first_response_at = now() - interval '$2 months' - interval '2 days',
	      resolved_at = now() - interval '$2 months' - interval '1 day',
	      closed_at = now() - interval '$2 months' WHERE number = $1" >/dev/null
}
close "$A1" 13; close "$A2" 11; close "$A3" 13; close "$B1" 13; close "$B2" 25
sql "UPDATE tickets SET created_at = now() - interval '30 months' WHERE number = $B3" >/dev/null
sql "UPDATE tickets SET legal_hold = true WHERE number = $A3" >/dev/null
sql "UPDATE intake_log SET at = now() - interval '25 months' WHERE message_id = 'auto1@example.org'" >/dev/null
sql "INSERT INTO agents (login, name, email, role, sote) VALUES ('boss', 'Boss', 'boss@seutu-it.fi', 'admin', true)" >/dev/null
BOSS=$(sql "SELECT id FROM agents WHERE login = 'boss'")
sql "INSERT INTO org_years (organisation, year, population, users, workstations)
	SELECT id, y, 1000 + length(id), 100, 50 FROM organisations,
	 unnest(ARRAY[extract(year FROM now() - interval '13 months'),
	  extract(year FROM now() - interval '25 months')]::int[]) y ON CONFLICT DO NOTHING" >/dev/null
sql "INSERT INTO cost_items (organisation, period, amount_cents, text)
	SELECT NULL, daterange(make_date(y, 1, 1), make_date(y + 1, 1, 1)), 1000000, 'pool'
	FROM unnest(ARRAY[extract(year FROM now() - interval '13 months'),
	 extract(year FROM now() - interval '25 months')]::int[]) y" >/dev/null
sql "INSERT INTO worklog (ticket, agent, minutes, note, organisation, at) VALUES
	($A1, $BOSS, 40, 'Aino Yksin koneella', 'saarikka', now() - interval '13 months'),
	($B2, $BOSS, 25, 'Beatan kanssa', 'karstula', now() - interval '25 months')" >/dev/null
sql "INSERT INTO events (ticket, actor, kind, data, at) VALUES
	($B1, 'boss', 'read', '{\"what\": \"ticket\"}', now() - interval '8 years'),
	($B1, 'boss', 'status', '{\"from\": \"open\", \"to\": \"resolved\"}', now() - interval '8 years'),
	($A3, 'boss', 'read', '{\"what\": \"ticket\"}', now() - interval '8 years')" >/dev/null
is "$(sql "SELECT count(*) FROM intake_log WHERE ticket IS NULL AND raw IS NOT NULL")" 1 \
	"the automatic reply made no ticket; its source is kept in the intake log"

reports() { # reports OUT: each kind over the last 34 months, costs per year
	local from to y1 y2
	from=$(date -d '-34 months' +%Y-%m-01)
	to=$(date +%Y-%m-%d)
	y1=$(date -d '-13 months' +%Y)
	y2=$(date -d '-25 months' +%Y)
	for spec in "sla $from $to sector" "volume $from $to sector" "backlog $from $to sector" \
		"workload $from $to agent" "costs $y1-01-01 $y1-12-31 municipality" \
		"costs $y2-01-01 $y2-12-31 municipality"; do
		set -- $spec
		"$top_builddir/tests/integration/report-run" -c "$CONF" "$db" "$BOSS" "$1" \
			from="$2" to="$3" by="$4" 2>&1 |
			"$PY" -c 'import json,sys
d = json.load(sys.stdin)
def strip(o):
    if isinstance(o, dict) and "columns" in o and "rows" in o:
        drop = [i for i, c in enumerate(o["columns"]) if c["key"] in ("age_s", "subject")]
        o = dict(o, rows=[[v for i, v in enumerate(r) if i not in drop] for r in o["rows"]])
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k != "generated_at"}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
print(json.dumps(strip(d), sort_keys=True))'
	done >"$1"
}
rows() { # a ticket with its messages and attachments, as one text
	sql "SELECT t::text || coalesce((SELECT string_agg(m::text, '|' ORDER BY m.id) FROM messages m WHERE m.ticket = t.number), '')
	     || coalesce((SELECT string_agg(a::text, '|' ORDER BY a.id) FROM attachments a JOIN messages m ON m.id = a.message WHERE m.ticket = t.number), '')
	     FROM tickets t WHERE number = $1" | md5sum
}
reports "$W/reports.before"
[ "$(grep -c '"rows"' "$W/reports.before")" -ge 6 ] && ! grep -q '"error"' "$W/reports.before"
built=$?
ok $built "the reports build ($(wc -l <"$W/reports.before") documents)"
[ $built = 0 ] || cut -c1-300 "$W/reports.before" | sed 's/^/#   /'

for x in A2 A3 B1 B3; do eval "before_$x=\$(rows \$$x)"; done

# -- dry run --------------------------------------------------------------------
# (pg_dump's \restrict key is new in each dump)
"$PG_BINDIR/pg_dump" -d "$db" 2>/dev/null | grep -v '^\\\(un\)\{0,1\}restrict ' >"$W/dump.before"
rctl retention --dry-run --json >"$W/dry.json" 2>"$W/dry.err"
ok $? "retention --dry-run runs"
"$PG_BINDIR/pg_dump" -d "$db" 2>/dev/null | grep -v '^\\\(un\)\{0,1\}restrict ' >"$W/dump.after"
cmp -s "$W/dump.before" "$W/dump.after"
same=$?
grep -q "^COPY public.tickets" "$W/dump.before" || same=1
ok $same "the dry run changes nothing (the whole pg_dump is the same)"
[ $same = 0 ] || diff "$W/dump.before" "$W/dump.after" | head -6 | cut -c1-200 | sed 's/^/#   /'

d() { "$PY" -c "import json; d = json.load(open('$W/dry.json')); print($1)"; }
is "$(d "d['sectors']['sote']['tickets'], d['sectors']['sote']['held']")" "1 1" \
	"the dry run counts 1 sote ticket due and 1 held"
is "$(d "d['sectors']['${BSEC:-unknown}']['tickets']")" 1 "... and 1 ${BSEC:-unknown} ticket (closed 25 months ago)"
is "$(d "d['tickets'], d['held'], d['intake_sources'], d['audit_events']")" "2 1 1 1" \
	"... 2 tickets in all, 1 held, 1 intake source, 1 audit event"
rctl retention --dry-run >"$W/dry.txt" 2>&1
has "$W/dry.txt" '^sote  *1  *1 ' "the dry run's table has a line per sector"

# -- a run meets another's lock -------------------------------------------------
pg_psql -d "$db" -c "SELECT pg_advisory_lock(hashtext('seutudesk retention')), pg_sleep(3)" >/dev/null &
locker=$!
sleep 1
rctl retention >"$W/locked.out" 2>&1
is "$?" 1 "a run while another holds the lock does nothing and fails"
has "$W/locked.out" "another retention run" "... saying another run is under way"
wait "$locker"
is "$(sql "SELECT count(*) FROM tickets WHERE scrubbed_at IS NOT NULL")" 0 "... nothing was scrubbed"

# -- the run ---------------------------------------------------------------------
rctl retention >"$W/run.out" 2>&1
ok $? "retention runs"
is "$(sql "SELECT string_agg(number::text, ' ' ORDER BY number) FROM tickets WHERE scrub_reason = 'retention'")" \
	"$(printf '%s\n' "$A1" "$B2" | sort -n | tr '\n' ' ' | sed 's/ $//')" \
	"the sote ticket closed 13 months ago and the other closed 25 months ago are scrubbed"
is "$(sql "SELECT count(*) FROM tickets WHERE number IN ($A1, $B2) AND requester_address = '' AND requester_name = '' AND subject = ''")" 2 \
	"... their requester and subject are gone"
is "$(sql "SELECT count(*) FROM messages WHERE ticket IN ($A1, $B2) AND (body <> '' OR raw IS NOT NULL OR from_address <> '')")" 0 \
	"... their messages' text and sources are gone"
is "$(sql "SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message WHERE m.ticket IN ($A1, $B2)")" 0 \
	"... their attachments are gone"
is "$(sql "SELECT count(*) FROM outbox WHERE ticket IN ($A1, $B2) AND (to_address <> '' OR body <> '' OR raw IS NOT NULL)")" 0 \
	"... the acknowledgements sent are gone"
is "$(sql "SELECT string_agg(minutes || ':' || note, ' ' ORDER BY minutes) FROM worklog WHERE ticket IN ($A1, $B2)")" \
	"25: 40:" "... their work log keeps the minutes, not the notes"
is "$(sql "SELECT count(*) FROM tickets WHERE number IN ($A1, $B2) AND sector IS NOT NULL AND status = 'closed' AND closed_at IS NOT NULL")" 2 \
	"... and they keep their sector, status and times"
"$PG_BINDIR/pg_dump" -d "$db" >"$W/dump.run" 2>/dev/null
grep -q "beata.yksi@karstula.fi" "$W/dump.run" && grep -q "TEXT-b1" "$W/dump.run"
ok $? "the dump still holds the kept tickets' requesters and texts"
for s in aino.yksi beata.kaksi TEXT-a1 TEXT-b2 ATTACH-a1 "Aino Yksi" "Beatan kanssa"; do
	hx=$(printf '%s' "$s" | od -An -tx1 | tr -d ' \n')
	is "$(grep -ciF -e "$s" -e "$hx" "$W/dump.run")" 0 "no row of the dump holds '$s' any more"
done
for x in A2 A3 B1 B3; do
	eval "is \"\$(rows \$$x)\" \"\$before_$x\" \"ticket $x (\$$x) is untouched, with its messages and attachments\""
done
is "$(sql "SELECT count(*) FROM intake_log WHERE ticket IS NULL AND raw IS NOT NULL")" 0 \
	"the automatic reply's source, 25 months old, is gone"
is "$(sql "SELECT string_agg(kind || '@' || ticket, ' ' ORDER BY kind, ticket) FROM events WHERE at < now() - interval '7 years'")" \
	"read@$A3 status@$B1" "the old read event goes; the status event (the reports count it) and the held ticket's stay"
is "$(sql "SELECT by || ' ' || tickets || ' ' || (finished_at IS NOT NULL) FROM retention_runs")" \
	"seutudeskctl:$(id -un) 2 true" "the run is recorded"
reports "$W/reports.after"
cmp -s "$W/reports.before" "$W/reports.after"
same=$?
ok $same "every report's figures are the same after retention"
[ $same = 0 ] || diff "$W/reports.before" "$W/reports.after" | head -4 | cut -c1-300 | sed 's/^/#   /'
rctl retention --json >"$W/again.json" 2>&1
is "$("$PY" -c "import json; d = json.load(open('$W/again.json')); print(d['tickets'])")" 0 \
	"a second run finds nothing more to do"

# -- the audit log stays append-only outside a privacy transaction ----------------
sql "UPDATE events SET data = '{}' WHERE ticket = $B1" >/dev/null 2>"$W/ao.err"
is "$?" 1 "the events table still refuses an UPDATE"
has "$W/ao.err" "append-only" "... as append-only"
sql "DELETE FROM events WHERE ticket = $B1" >/dev/null 2>&1
is "$?" 1 "... and a DELETE"
sql "BEGIN; SET LOCAL seutudesk.privacy = on; UPDATE events SET kind = 'x' WHERE ticket = $B1; COMMIT" >/dev/null 2>&1
is "$?" 1 "inside a privacy transaction only data may change, not the kind"

# -- the daemon's daily run ------------------------------------------------------
close "$A2" 14
sql "DELETE FROM retention_runs" >/dev/null
sed -i 's/^daily = no/daily = yes\nhour = 0/' "$CONF"
"$top_builddir/seutudeskd" -f -c "$CONF" >"$W/daemon.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do
	[ "$(sql "SELECT count(*) FROM retention_runs WHERE finished_at IS NOT NULL")" = 1 ] && break
	sleep 0.2
done
is "$(sql "SELECT by || ' ' || tickets FROM retention_runs WHERE finished_at IS NOT NULL")" "seutudeskd 1" \
	"the daemon runs retention on its own from [retention] hour on"
is "$(sql "SELECT scrub_reason FROM tickets WHERE number = $A2")" retention "... and scrubs the ticket now due"
kill -TERM "$dpid"
wait "$dpid"
is "$?" 0 "the daemon stops cleanly"
"$top_builddir/seutudeskd" -f -c "$CONF" >>"$W/daemon.log" 2>&1 &
dpid=$!
sleep 2
kill -TERM "$dpid"
wait "$dpid"
is "$(sql "SELECT count(*) FROM retention_runs")" 1 "a daemon started again the same day does not run it twice"

# -- configuration ----------------------------------------------------------------
printf '[retention]\nsectors = sote: 12 weeks\n' >"$W/bad.conf"
"$CTL" -c "$W/bad.conf" config >/dev/null 2>"$W/bad.err"
is "$?" 1 "a retention period in weeks is refused"
has "$W/bad.err" "bad.conf:2" "... naming the file and line"
printf '[retention]\nsectors = sote: 12 months, sote: 2 years\n' >"$W/bad.conf"
"$CTL" -c "$W/bad.conf" config >/dev/null 2>&1
is "$?" 1 "a sector named twice is refused"
printf '[retention]\ndefault = never\nsectors = sote: 1 year, tekninen: 36 months\n' >"$W/good.conf"
"$CTL" -c "$W/good.conf" config >"$W/good.out" 2>&1
has "$W/good.out" "^sectors = sote: 1 year, tekninen: 36 months" "periods in years, months and never are taken"

echo "1..$n"
