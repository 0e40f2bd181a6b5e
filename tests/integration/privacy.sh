#!/bin/bash
# The data subject's rights end to end against the real daemon, Dovecot,
# PostgreSQL and SMTP server: a person writes sote mail with an attachment
# (IMAP intake) and chats (the bridge API); an agent replies and logs work.
# seutudeskctl privacy export writes every item the database holds about
# them (checked against the database, attachments byte for byte); privacy
# erase leaves no row of the whole pg_dump holding their address, name or
# texts (plain or as bytea hex), keeps another person's data, records the
# erasure in the audit log without the address, and leaves every report's
# figures as they were.  A legal hold makes erase refuse and change nothing;
# erase --dry-run counts and changes nothing.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}

. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/apitest.sh"
need_built seutudeskd seutudeskctl tests/integration/report-run
need_cmd curl openssl sha256sum
need_mail_stack

api_workdir privacy
STACK_EXTRA_CONF="$(api_conf)

[bridge]
calendar = 24x7

[retention]
daily = no
"
. "$top_srcdir/tests/lib/stack.sh"
api_stack_start
api_watchdog "${PRIVACY_LIMIT:-150}"
sql() { stack_sql "$1"; }
dump() { "$PG_BINDIR/pg_dump" -d "$STACK_DB" --no-owner 2>/dev/null; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# found PATTERN: how many lines of the dump hold it, as text or as bytea hex
found() {
	dump >"$W/dump.sql"
	local n
	n=$(grep -ciF -- "$1" "$W/dump.sql")
	n=$((n + $(grep -ciF -- "$(hex "$1")" "$W/dump.sql")))
	echo "$n"
}

ctl bridge add webchat --kind webchat >>"$W/ctl.log" 2>&1
api_token BT --bridge webchat
api_agent anna --sote --role admin
api_token AT anna
AID=$(sql "SELECT id FROM agents WHERE login = 'anna'")
daemon_start
api_wait || { echo "Bail out! the daemon did not come up: $(tail -3 "$STACK_LOG")"; exit 1; }

req() {
	local tok=$1
	shift
	api_req -H "$(api_bearer "$tok")" "$@"
}
post() { req "$1" -H 'Content-Type: application/json' --data-binary "$3" "$2"; }

# The person: Maija Meikäläinen; her texts carry markers to look for.
ADDR=maija.meikalainen@saarikka.fi
NAME='Maija Meikäläinen'
mail() { # mail FILE FROM SUBJECT TEXT [ATTACHMENT TEXT]
	{
		printf 'From: %s\r\nTo: tuki@seutu-it.fi\r\nSubject: %s\r\n' "$2" "$3"
		printf 'Message-ID: <%s@example.org>\r\nDate: %s\r\nMIME-Version: 1.0\r\n' \
			"$(basename "$1" .eml)" "$(date -R)"
		if [ -n "${5:-}" ]; then
			printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
			printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n' "$4"
			printf -- '--b1\r\nContent-Type: text/plain; charset=utf-8\r\n'
			printf 'Content-Disposition: attachment; filename="potilas lista.txt"\r\n'
			printf 'Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--b1--\r\n' "$5"
		else
			printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n' "$4"
		fi
	} >"$1"
}
mail "$W/m1.eml" "$NAME <$ADDR>" "Kotihoidon potilastietojärjestelmä ei aukea" \
	"Hei, potilastietojärjestelmä ei aukea kotihoidossa Karstulassa. BODYMARK-MAIJA-1" \
	"Asiakas ATTACHMARK-MAIJA-2, käynnit"
mail "$W/m2.eml" "$NAME <$ADDR>" "Toinen asia: Omaolo" \
	"Omaolo kirjautuminen ei toimi vastaanotolla. BODYMARK-MAIJA-3"
mail "$W/p1.eml" "Pekka Pouta <pekka.pouta@karstula.fi>" "Tulostin ei toimi" \
	"Kunnanviraston tulostin ei tulosta. BODYMARK-PEKKA-1"
mail "$W/h1.eml" "Hilkka Holdi <hilkka.holdi@saarikka.fi>" "Vastaanoton kone" \
	"Hammashoitolan kone ei käynnisty. BODYMARK-HILKKA-1"
for f in m1 m2 p1 h1; do dovecot_deliver test "$W/$f.eml" || echo "# deliver $f failed"; done
stack_wait "SELECT count(*) FROM tickets" 4 30
ok $? "four mails through IMAP intake make four tickets"

CHAT="{\"id\":\"c1m1\",\"conversation\":\"conv-maija\",\"sender\":{\"name\":\"$NAME\",\"handle\":\"maija\",\"email\":\"$ADDR\"},\"text\":\"Chat: Wilma ei aukea. CHATMARK-MAIJA-4\",\"site\":\"karstula\",\"lang\":\"fi\"}"
is "$(post "$BT" /bridge/v1/messages "$CHAT")" 201 "a chat message through the bridge API opens a ticket"
TC=$(j "d['ticket']")

T1=$(sql "SELECT ticket FROM messages WHERE message_id = 'm1@example.org'")
TP=$(sql "SELECT ticket FROM messages WHERE message_id = 'p1@example.org'")
TH=$(sql "SELECT ticket FROM messages WHERE message_id = 'h1@example.org'")
is "$(sql "SELECT sector FROM tickets WHERE number = $T1")" sote "Maija's mail is a sote ticket"
is "$(sql "SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message WHERE m.ticket = $T1")" 1 \
	"... with its attachment stored"

# An agent replies (mail to her), logs work and resolves; Pekka's ticket too.
is "$(post "$AT" "/api/v1/tickets/$T1/reply" '{"body": "Hei Maija, korjaamme asian. REPLYMARK-5"}')" 200 \
	"an agent's reply to Maija"
post "$AT" "/api/v1/tickets/$T1/worklog" '{"minutes": 30, "note": "Maijan koneella"}' >/dev/null
post "$AT" "/api/v1/tickets/$T1/status" '{"status": "resolved"}' >/dev/null
post "$AT" "/api/v1/tickets/$TP/reply" '{"body": "Hei Pekka, tulostin on korjattu."}' >/dev/null
post "$AT" "/api/v1/tickets/$TP/worklog" '{"minutes": 15}' >/dev/null
post "$AT" "/api/v1/tickets/$TC/reply" '{"body": "Wilma toimii taas."}' >/dev/null
stack_wait "SELECT count(*) FROM outbox WHERE kind = 'reply' AND status = 'sent'" 2 30
ok $? "the mail replies went out through the outbox (the chat's goes to the bridge)"
daemon_stop

# The reports before: every kind, today and the year.
FROM=$(date +%Y-01-01)
TO=$(date +%Y-12-31)
reports() { # reports OUT: all report documents, one per line
	for kind in sla volume backlog workload costs; do
		for by in municipality sector; do
			[ "$kind" = workload ] && by=agent
			[ "$kind" = costs ] && by=municipality
			"$top_builddir/tests/integration/report-run" -c "$STACK_CONF" "$STACK_DB" "$AID" \
				"$kind" from="$FROM" to="$TO" by="$by" 2>&1 |
				"$PY" -c 'import json,sys
d = json.load(sys.stdin)
def strip(o):
    if isinstance(o, dict) and "columns" in o and "rows" in o:
        # the backlog ages with the clock; a subject is text, not a figure
        drop = [i for i, c in enumerate(o["columns"]) if c["key"] in ("age_s", "subject")]
        o = dict(o, rows=[[v for i, v in enumerate(r) if i not in drop] for r in o["rows"]])
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if k != "generated_at"}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o
print(json.dumps(strip(d), sort_keys=True))'
		done
	done >"$1"
}
reports "$W/reports.before"
[ "$(grep -c '"rows"' "$W/reports.before")" -ge 8 ]
ok $? "the reports build before the erasure ($(wc -l <"$W/reports.before") documents)"

# -- export ---------------------------------------------------------------------
ctl privacy export "$ADDR" --out "$W/export" --by admin-test >"$W/export.out" 2>"$W/export.err"
ok $? "privacy export runs"
E=$W/export/export.json
x() { "$PY" -c "import json,sys; d=json.load(open('$E')); print($1)"; }
is "$(x "' '.join(str(t['number']) for t in d['tickets'])")" \
	"$(sql "SELECT string_agg(number::text, ' ' ORDER BY number) FROM tickets WHERE number IN ($T1, $TC) OR lower(requester_address) = '$ADDR'")" \
	"the export names every ticket of hers (the mails' and the chat's)"
is "$(x "sum(len(t['messages']) for t in d['tickets'])")" \
	"$(sql "SELECT count(*) FROM messages m JOIN tickets t ON t.number = m.ticket WHERE lower(t.requester_address) = '$ADDR' OR t.number = $TC")" \
	"every message of those tickets, hers and the replies"
is "$(x "len(d['chat_conversations'])")" 1 "her chat conversation"
is "$(x "len([o for o in d['outbox'] if o['to_address'] == '$ADDR'])")" \
	"$(sql "SELECT count(*) FROM outbox WHERE lower(to_address) = '$ADDR'")" "the mail sent to her"
is "$(x "sum(len(t['events']) for t in d['tickets'])")" \
	"$(sql "SELECT count(*) FROM events WHERE ticket IN (SELECT number FROM tickets WHERE lower(requester_address) = '$ADDR' OR number = $TC)")" \
	"the events of her tickets"
att=$(x "[a['file'] for t in d['tickets'] for m in t['messages'] for a in m['attachments']][0]")
is "$(sha256sum <"$W/export/$att" | cut -d' ' -f1)" \
	"$(sql "SELECT encode(sha256(a.content), 'hex') FROM attachments a JOIN messages m ON m.id = a.message WHERE m.ticket = $T1")" \
	"the attachment is written as a file, byte for byte"
is "$(stat -c %a "$W/export") $(stat -c %a "$W/export/$att")" "700 600" \
	"the export's directory and files are the admin's alone"
src=$(x "[m['source'] for t in d['tickets'] for m in t['messages'] if m['source']][0]")
grep -q BODYMARK-MAIJA-1 "$W/export/$src"
ok $? "the mail sources are written as files"
for m in BODYMARK-MAIJA-1 BODYMARK-MAIJA-3 CHATMARK-MAIJA-4 REPLYMARK-5; do
	grep -q "$m" "$E" || echo "# $m missing"
done
! grep -q PEKKA "$E" && grep -q CHATMARK-MAIJA-4 "$E" && grep -q REPLYMARK-5 "$E" && grep -q BODYMARK-MAIJA-3 "$E"
ok $? "the export holds her texts and the replies, and nothing of Pekka's"
is "$(sql "SELECT count(*) FROM events WHERE kind = 'privacy_export' AND actor = 'admin-test' AND ticket IS NULL AND strpos(data::text, '$ADDR') = 0")" 1 \
	"the export is in the audit log, without the address"

# -- legal hold -----------------------------------------------------------------
ctl ticket hold "$TH" on --by admin-test >>"$W/ctl.log" 2>&1
is "$(sql "SELECT legal_hold FROM tickets WHERE number = $TH")" t "ticket hold ID on sets the legal hold"
before=$(sql "SELECT md5(string_agg(t::text, '')) FROM tickets t")
ctl privacy erase hilkka.holdi@saarikka.fi --dry-run >"$W/held.dry" 2>&1
is "$("$PY" -c "import json; d = json.load(open('$W/held.dry')); print(d['tickets'], d['held'])")" \
	"[$TH] $TH" "erase --dry-run names the tickets it would erase and those held"
ctl privacy erase hilkka.holdi@saarikka.fi >"$W/held.out" 2>"$W/held.err"
is "$?" 1 "erase refuses a person whose ticket is under a legal hold"
grep -q "legal hold" "$W/held.err"
ok $? "... saying so ($(head -c 120 "$W/held.err"))"
is "$(sql "SELECT md5(string_agg(t::text, '')) FROM tickets t")" "$before" "... and changes nothing"
ctl ticket hold "$TH" off >>"$W/ctl.log" 2>&1
is "$(sql "SELECT count(*) FROM events WHERE ticket = $TH AND kind = 'legal_hold'")" 2 \
	"hold on and off are in the audit log"

# -- erase ----------------------------------------------------------------------
[ "$(found BODYMARK-MAIJA-1)" -gt 0 ] && [ "$(found ATTACHMARK-MAIJA-2)" -gt 0 ] && [ "$(found "$ADDR")" -gt 0 ]
ok $? "before the erasure the dump holds her address and texts"
before=$(sql "SELECT md5(string_agg(t::text, '')) FROM tickets t")
events_before=$(sql "SELECT count(*) FROM events")
ctl privacy erase "$ADDR" --dry-run >"$W/erase.dry" 2>&1
is "$("$PY" -c "import json; d = json.load(open('$W/erase.dry')); print(len(d['tickets']), d['attachments'], d['held'])")" \
	"3 1 None" "erase --dry-run counts her 3 tickets and 1 attachment, none held"
is "$(sql "SELECT md5(string_agg(t::text, '')) FROM tickets t") $(sql "SELECT count(*) FROM events")" \
	"$before $events_before" "... and changes and records nothing"
ctl privacy erase "$ADDR" --by admin-test >"$W/erase.out" 2>"$W/erase.err"
ok $? "privacy erase runs"
for s in "$ADDR" "$NAME" Meikäläinen maija.meikalainen BODYMARK-MAIJA-1 ATTACHMARK-MAIJA-2 \
	BODYMARK-MAIJA-3 CHATMARK-MAIJA-4 REPLYMARK-5 "potilastietojärjestelmä ei aukea" "Omaolo kirjautuminen"; do
	is "$(found "$s")" 0 "after the erasure no row of the dump holds '$s'"
done
[ "$(found BODYMARK-PEKKA-1)" -gt 1 ] && [ "$(found pekka.pouta@karstula.fi)" -gt 0 ]
ok $? "Pekka's address and text are still there (as text and as the source's bytea)"
is "$(sql "SELECT count(*) FROM tickets WHERE number IN ($T1, $TC) AND scrub_reason = 'erasure'")" 2 \
	"her tickets are marked erased"
is "$(sql "SELECT count(*) FROM tickets WHERE number IN ($T1, $TC) AND sector IS NOT NULL AND status IS NOT NULL")" 2 \
	"... and keep their classification and status"
is "$(sql "SELECT data->>'attachments' || ' ' || jsonb_array_length(data->'tickets') FROM events WHERE kind = 'privacy_erase' AND actor = 'admin-test' AND ticket IS NULL")" \
	"1 3" "the erasure is in the audit log: counts and ticket numbers"
reports "$W/reports.after"
cmp -s "$W/reports.before" "$W/reports.after"
same=$?
ok $same "every report's figures are the same after the erasure"
[ $same = 0 ] || diff "$W/reports.before" "$W/reports.after" | head -5 | sed 's/^/#   /'
ctl privacy export "$ADDR" --out "$W/export2" >/dev/null 2>&1
is "$("$PY" -c "import json; d=json.load(open('$W/export2/export.json')); print(len(d['tickets']) + len(d['chat_conversations']) + len(d['outbox']))")" 0 \
	"an export after the erasure finds nothing"
ctl privacy erase not-an-address >/dev/null 2>&1
is "$?" 2 "erase of something that is no address is a usage error"

echo "1..$n"
