#!/bin/bash
# ticketact: the write side of the agents' API (POST /api/v1/tickets/N/ACTION)
# and seutudesk_assign() against a private PostgreSQL, through the driver
# tests/integration/api-call (one routed call without HTTP).  Every action;
# bad bodies (the right 4xx, the field named); hidden tickets answering like
# missing ones; a reply's outbox row (subject tag, In-Reply-To, References,
# first response, the ack not counting); every assignment strategy; and
# concurrent claims with exactly one winner per round.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/tests/lib/pg.sh"

CTL=$top_builddir/seutudeskctl
CALL=$top_builddir/tests/integration/api-call
FEED=$top_builddir/tests/integration/intake-feed
PY=/usr/bin/python3
ROUNDS=${TICKETACT_ROUNDS:-20}
. "$top_srcdir/tests/lib/tap.sh"

for p in "$CTL" "$CALL" "$FEED" "$PY"; do
	if [ ! -x "$p" ]; then
		echo "1..0 # SKIP $p not built or not installed"
		exit 0
	fi
done
if ! pg_start 2>"${TMPDIR:-/tmp}/ticketact-pg.$$"; then
	echo "1..0 # SKIP no private PostgreSQL: $(head -1 "${TMPDIR:-/tmp}/ticketact-pg.$$")"
	rm -f "${TMPDIR:-/tmp}/ticketact-pg.$$"
	exit 0
fi
rm -f "${TMPDIR:-/tmp}/ticketact-pg.$$"
W=$PG_DIR/work
mkdir -p "$W"

db=$(pg_createdb ticketact) || { echo "1..0 # SKIP cannot create the database"; exit 0; }
if ! "$CTL" migrate --sql-dir "$top_srcdir/sql" --database "$db" >"$W/migrate.out" 2>&1; then
	echo "1..0 # SKIP migrate failed: $(tail -1 "$W/migrate.out")"
	exit 0
fi
q() { # q SQL: one value or rows, unaligned
	pg_psql -d ticketact -c "$1"
}

cat >"$W/t.conf" <<CONF
[daemon]
rules_dir = $top_srcdir/contrib/rules.d

[database]
conninfo = $db

[smtp]
from = Seutu-IT tuki <tuki@seutu-it.fi>

[api]
online_window = 5m

[queue workstations]
assign = manual

[queue network]
assign = least_loaded

[queue sote]
assign = manual

[queue rr]
assign = round_robin

[queue ll]
assign = least_loaded

[queue man]
assign = manual

[queue unsynced]

[route sote]
queue = sote
sector = sote

[route net]
queue = network
category = verkko

[route ws]
queue = workstations
category = tyoasema
CONF
C=$W/t.conf

# The queues as the daemon's sync would leave them (route_sync_queues); one
# configured queue is missing from the table.
q "INSERT INTO queues (id, name, strategy) VALUES ('workstations', 'W', 'manual'),
	('network', 'N', 'least_loaded'), ('sote', 'S', 'manual'), ('rr', 'RR', 'round_robin'),
	('ll', 'LL', 'least_loaded'), ('man', 'M', 'manual')"

# Agents.  The general ones are offline (never assigned automatically); the
# strategy ones work only their own queue and are online.
q "INSERT INTO agents (login, name, email, role, queues, municipalities, sote, max_open,
	last_seen_at) VALUES
	('alice', 'Alice A', 'alice@seutu-it.fi', 'agent', NULL, NULL, false, 25, NULL),
	('bob', 'Bob B', 'bob@seutu-it.fi', 'agent', NULL, NULL, false, 25, NULL),
	('dave', 'Dave D', 'dave@seutu-it.fi', 'lead', NULL, NULL, true, 25, NULL),
	('vera', 'Vera V', 'vera@seutu-it.fi', 'agent', NULL, '{viitasaari}', false, 25, NULL),
	('tiny', 'Tiny T', 'tiny@seutu-it.fi', 'agent', NULL, NULL, false, 1, NULL),
	('r1', 'R 1', 'r1@seutu-it.fi', 'agent', '{rr}', NULL, false, 25, now()),
	('r2', 'R 2', 'r2@seutu-it.fi', 'agent', '{rr}', NULL, false, 25, now()),
	('r3', 'R 3', 'r3@seutu-it.fi', 'agent', '{rr}', NULL, false, 25, now()),
	('l1', 'L 1', 'l1@seutu-it.fi', 'agent', '{ll,network}', NULL, false, 25, now()),
	('l2', 'L 2', 'l2@seutu-it.fi', 'agent', '{ll,network}', NULL, false, 2, now()),
	('l3', 'L 3', 'l3@seutu-it.fi', 'agent', '{ll,network}', NULL, false, 25, now()),
	('loff', 'L off', 'loff@seutu-it.fi', 'agent', '{ll,rr}', NULL, false, 25,
		now() - interval '1 hour')" >/dev/null
aid() { q "SELECT id FROM agents WHERE login = '$1'"; }

mk() { # mk QUEUE [SECTOR [MUNICIPALITY [CATEGORY [STATUS]]]]: a ticket's number
	q "INSERT INTO tickets (requester_address, requester_name, subject, queue, sector,
		municipality, category, status) VALUES ('pekka@saarijarvi.fi', 'Pekka P',
		'Tulostin ei toimi', '$1', NULLIF('${2:-}', ''), NULLIF('${3:-saarijarvi}', ''),
		NULLIF('${4:-}', ''), '${5:-new}') RETURNING number"
}

# call LOGIN ACTION N [BODY]: status in $st, JSON in $W/out.json
call() {
	local login=$1 action=$2 num=$3
	if [ $# -ge 4 ]; then
		printf '%s' "$4" >"$W/body.json"
		"$CALL" "$C" "$login" POST "/api/v1/tickets/$num/$action" "$W/body.json" \
			>"$W/out" 2>"$W/err"
	else
		"$CALL" "$C" "$login" POST "/api/v1/tickets/$num/$action" >"$W/out" 2>"$W/err"
	fi
	local rc=$?
	st=$(head -1 "$W/out")
	tail -n +2 "$W/out" >"$W/out.json"
	[ -n "$st" ] || sed 's/^/#   stderr: /' "$W/err"
	dirty_check "$rc" "$W/err" "$login $action $num"
}
calls=0
dirty=0
dirty_check() { # dirty_check EXIT_STATUS STDERR_FILE WHAT: counts unclean driver runs
	calls=$((calls + 1))
	if [ "$1" != 0 ] || grep -q 'Sanitizer\|runtime error\|left a transaction open' "$2"; then
		dirty=$((dirty + 1))
		echo "#   api-call $3: exit $1"
		grep -m5 'Sanitizer\|runtime error\|SUMMARY\|transaction' "$2" | sed 's/^/#     /'
	fi
}
j() { # j KEY.KEY...: a value of the last answer ("" for null or absent)
	"$PY" - "$1" "$W/out.json" <<'EOF'
import json, sys
try:
    v = json.load(open(sys.argv[2]))
except ValueError:
    v = None
for k in sys.argv[1].split('.'):
    v = v.get(k) if isinstance(v, dict) else None
print('' if v is None else (json.dumps(v) if isinstance(v, (dict, list, bool)) else v))
EOF
}
# expect DESC STATUS FIELD LOGIN ACTION N [BODY]: the call answers STATUS, naming FIELD ("-": none)
expect() {
	local desc=$1 want=$2 field=$3
	shift 3
	call "$@"
	local got_field
	got_field=$(j field)
	[ "$field" = - ] && field=
	if [ "$st" = "$want" ] && [ "$got_field" = "$field" ]; then
		ok 0 "$desc"
	else
		ok 1 "$desc"
		printf '#   got:  %s field %s: %s\n' "$st" "$got_field" "$(tr -d '\n' <"$W/out.json")"
		printf '#   want: %s field %s\n' "$want" "$field"
	fi
}
events() { # events N KIND: how many
	q "SELECT count(*) FROM events WHERE ticket = $1 AND kind = '$2'"
}

# -- claim ---------------------------------------------------------------------
t1=$(mk man)
call alice claim "$t1"
is "$st $(j ticket.assignee) $(j ticket.status) $(j changed)" "200 alice open true" \
	"claim: a new ticket is the claimer's, and open"
is "$(events "$t1" claim)" 1 "claim: an event"
is "$(q "SELECT actor || ' ' || (data->>'login') FROM events WHERE ticket = $t1 AND kind = 'claim'")" \
	"alice alice" "claim: the event's actor is the agent"
call bob claim "$t1"
is "$st $(j holder)" "409 alice" "claim: a held ticket is 409 naming the holder"
call alice claim "$t1"
is "$st $(j changed) $(events "$t1" claim)" "200 false 1" "claim: again by the holder changes nothing"
expect "claim: a body is refused" 400 x alice claim "$t1" '{"x": 1}'

t_tiny1=$(mk man)
t_tiny2=$(mk man)
call tiny claim "$t_tiny1"
call tiny claim "$t_tiny2"
is "$st $(q "SELECT assignee IS NULL FROM tickets WHERE number = $t_tiny2")" "409 t" \
	"claim: refused beyond max_open"
is "$(j error)" "you have 1 open tickets, your maximum is 1" "claim: max_open refusal says why"

t_closed=$(mk man '' saarijarvi '' closed)
expect "claim: a closed ticket is 409" 409 - alice claim "$t_closed"

# -- hidden tickets answer like missing ones ---------------------------------------
t_sote=$(mk sote sote)
t_viita=$(mk man '' saarijarvi)
# each action, with a valid body, answers alike for a hidden and a missing ticket
same=0
for ab in 'claim' 'release' 'note {"body": "x"}' 'status {"status": "open"}' \
	'transfer {"queue": "man"}' 'classify {"priority": "low"}' "merge {\"into\": $t1}" \
	'worklog {"minutes": 1}' 'reply {"body": "x"}'; do
	act=${ab%% *}
	body=${ab#"$act"}
	body=${body# }
	call alice "$act" "$t_sote" ${body:+"$body"}
	hidden="$st $(tr -d ' \n' <"$W/out.json")"
	call alice "$act" 999999 ${body:+"$body"}
	gone="$st $(tr -d ' \n' <"$W/out.json")"
	if [ "$hidden" = "$gone" ] && [ "$st" = 404 ]; then
		same=$((same + 1))
	else
		echo "#   $act: hidden: $hidden, missing: $gone"
	fi
done
is "$same" 9 "every action: a sote ticket without clearance is the same 404 as a missing one"
is "$(q "SELECT count(*) FROM events WHERE ticket = $t_sote") $(q "SELECT count(*) FROM messages WHERE ticket = $t_sote")" \
	"0 0" "hidden ticket: nothing written"
call vera claim "$t_viita"
is "$st" 404 "another municipality's ticket: 404"
call dave claim "$t_sote"
is "$st $(j ticket.assignee)" "200 dave" "sote ticket with clearance: claimed"

# -- release ---------------------------------------------------------------------------
expect "release: by another agent is 403" 403 - bob release "$t1"
call alice release "$t1"
is "$st $(q "SELECT assignee IS NULL FROM tickets WHERE number = $t1") $(events "$t1" release)" \
	"200 t 1" "release: unassigned (manual queue), an event"
expect "release: an unassigned ticket is 409" 409 - alice release "$t1"
call alice claim "$t1"
call dave release "$t1"
is "$st $(q "SELECT assignee IS NULL FROM tickets WHERE number = $t1")" "200 t" \
	"release: a lead may release another's ticket"

# -- status --------------------------------------------------------------------------
t2=$(mk man)
expect "status: 'new' is not allowed" 422 status alice status "$t2" '{"status": "new"}'
expect "status: an unknown status" 422 status alice status "$t2" '{"status": "done"}'
expect "status: a number is the wrong type" 400 status alice status "$t2" '{"status": 3}'
expect "status: required" 400 status alice status "$t2" '{}'
expect "status: no body" 400 status alice status "$t2"
expect "status: unknown field named" 400 colour alice status "$t2" '{"status": "open", "colour": "red"}'
call alice status "$t2" '{"status": "pending"}'
is "$st $(q "SELECT status || ' ' || (paused_at IS NOT NULL) FROM tickets WHERE number = $t2")" \
	"200 pending true" "status: pending sets paused_at"
is "$(q "SELECT count(*) FROM sla_pauses WHERE ticket = $t2 AND ended_at IS NULL")" 1 \
	"status: pending opens an SLA pause (006's trigger)"
q "UPDATE tickets SET paused_at = paused_at - interval '10 minutes' WHERE number = $t2"
call alice status "$t2" '{"status": "open"}'
is "$st $(q "SELECT status || ' ' || (paused_at IS NULL) || ' ' || (pause_total >= interval '10 minutes') FROM tickets WHERE number = $t2")" \
	"200 open true true" "status: open again ends the pause into pause_total"
call alice status "$t2" '{"status": "resolved"}'
is "$st $(q "SELECT status || ' ' || (resolved_at IS NOT NULL) || ' ' || (closed_at IS NULL) FROM tickets WHERE number = $t2")" \
	"200 resolved true true" "status: resolved sets resolved_at"
call alice status "$t2" '{"status": "closed"}'
is "$st $(q "SELECT status || ' ' || (resolved_at IS NOT NULL) || ' ' || (closed_at IS NOT NULL) FROM tickets WHERE number = $t2")" \
	"200 closed true true" "status: closed sets closed_at"
call alice status "$t2" '{"status": "open"}'
is "$st $(q "SELECT status || ' ' || (resolved_at IS NULL) || ' ' || (closed_at IS NULL) FROM tickets WHERE number = $t2")" \
	"200 open true true" "status: reopening clears resolved_at and closed_at"
is "$(q "SELECT string_agg((data->>'from') || '>' || (data->>'to'), ' ' ORDER BY id) FROM events WHERE ticket = $t2 AND kind = 'status'")" \
	"new>pending pending>open open>resolved resolved>closed closed>open" "status: an event per change"
call alice status "$t2" '{"status": "open"}'
is "$st $(j changed) $(events "$t2" status)" "200 false 5" "status: the same status changes nothing"

# -- note --------------------------------------------------------------------------
call alice note "$t2" '{"body": "Soitin käyttäjälle."}'
is "$st $(q "SELECT direction || ' ' || channel || ' ' || from_address || ' ' || body FROM messages WHERE ticket = $t2")" \
	"200 note api alice@seutu-it.fi Soitin käyttäjälle." "note: an internal message"
is "$(q "SELECT count(*) FROM outbox WHERE ticket = $t2") $(events "$t2" note)" "0 1" \
	"note: no mail, an event"
expect "note: an empty body" 422 body alice note "$t2" '{"body": "  \n"}'
expect "note: the body must be a string" 400 body alice note "$t2" '{"body": ["x"]}'
big=$(head -c 70000 /dev/zero | tr '\0' a)
expect "note: a body over the limit" 422 body alice note "$t2" "{\"body\": \"$big\"}"
expect "note: not an object" 400 - alice note "$t2" '["body"]'
expect "note: malformed JSON" 400 - alice note "$t2" '{"body": '

# -- reply ------------------------------------------------------------------------------
# A real ticket from intake: its ack is in the outbox, and the requester
# answered the ack.
mkdir -p "$W/mail"
cat >"$W/mail/1.eml" <<'EOF'
From: Pekka Virtanen <pekka.virtanen@saarijarvi.fi>
To: tuki@seutu-it.fi
Subject: Tulostin ei tulosta
Message-ID: <first.1@saarijarvi.fi>
Date: Mon, 02 Nov 2026 09:00:00 +0200
Content-Type: text/plain; charset=utf-8

Kaupungintalon tulostin ei tulosta.
EOF
"$FEED" -d "$db" -r "$top_srcdir/contrib/rules.d" -t "$top_srcdir/contrib/templates" \
	-m ta "$W/mail/1.eml" >"$W/feed1" 2>"$W/feed.err"
t3=$(cut -f3 "$W/feed1")
ack=$(q "SELECT message_id FROM outbox WHERE ticket = $t3 AND kind = 'ack'")
cat >"$W/mail/2.eml" <<EOF
From: Pekka Virtanen <pekka.virtanen@saarijarvi.fi>
To: tuki@seutu-it.fi
Subject: Re: [Seutu-IT #$t3] Tulostin ei tulosta
Message-ID: <second.2@saarijarvi.fi>
In-Reply-To: <$ack>
References: <first.1@saarijarvi.fi> <$ack>
Date: Mon, 02 Nov 2026 09:10:00 +0200
Content-Type: text/plain; charset=utf-8

Vielä: se on kolmannessa kerroksessa.
EOF
"$FEED" -d "$db" -r "$top_srcdir/contrib/rules.d" -t "$top_srcdir/contrib/templates" \
	-m ta -o 1 "$W/mail/2.eml" >"$W/feed2" 2>>"$W/feed.err"
is "$(cut -f2,3 "$W/feed2" | tr '\t' ' ')" "followup $t3" "reply: the requester's answer to the ack joined the ticket"
is "$(q "SELECT first_response_at IS NULL FROM tickets WHERE number = $t3")" t \
	"reply: the ack is no first response"
q "UPDATE tickets SET queue = 'man' WHERE number = $t3"
expect "reply: status must be pending or resolved" 422 status alice reply "$t3" '{"body": "x", "status": "closed"}'
expect "reply: body required" 400 body alice reply "$t3" '{"status": "pending"}'
call alice reply "$t3" '{"body": "Hei,\n\nkatsomme tulostinta tänään.\n\nSeutu-IT"}'
is "$st $(j ticket.status) $(j changed)" "200 open true" "reply: 200, a new ticket becomes open"
row="SELECT %s FROM outbox WHERE ticket = $t3 AND kind = 'reply'"
is "$(q "$(printf "$row" "count(*)")")" 1 "reply: one outbox row, kind reply"
is "$(q "$(printf "$row" "subject")")" "Re: [Seutu-IT #$t3] Tulostin ei tulosta" \
	"reply: the subject has the ticket's tag once"
is "$(q "$(printf "$row" "to_address")")" "pekka.virtanen@saarijarvi.fi" "reply: to the requester"
raw=$(q "$(printf "$row" "convert_from(raw, 'UTF8')")" | tr -d '\r')
hdr() { # the field $1 of $raw, unfolded
	printf '%s' "$raw" | "$PY" -c 'import email, sys, re
m = email.message_from_string(sys.stdin.read())
print(re.sub(r"\s+", " ", str(m[sys.argv[1]] or "")).strip())' "$1"
}
is "$(hdr In-Reply-To)" "<second.2@saarijarvi.fi>" "reply: In-Reply-To the last inbound Message-ID"
is "$(hdr References)" "<first.1@saarijarvi.fi> <$ack> <second.2@saarijarvi.fi>" \
	"reply: References the chain"
is "$(hdr From)" '"Seutu-IT tuki" <tuki@seutu-it.fi>' "reply: From the configured address"
is "$(hdr Message-ID)" "<$(q "$(printf "$row" "message_id")")>" "reply: our own Message-ID"
is "$(q "SELECT m.direction || ' ' || m.message_id || ' ' || m.in_reply_to || ' ' || array_length(m.refs, 1) FROM messages m JOIN outbox o ON o.message = m.id WHERE o.ticket = $t3 AND o.kind = 'reply'")" \
	"out $(q "$(printf "$row" "message_id")") second.2@saarijarvi.fi 3" \
	"reply: an out message with the same Message-ID, threaded"
is "$(q "SELECT first_response_at IS NOT NULL FROM tickets WHERE number = $t3") $(q "SELECT data->>'first_response' FROM events WHERE ticket = $t3 AND kind = 'reply'")" \
	"t true" "reply: the first agent reply is the first response"
fr=$(q "SELECT first_response_at FROM tickets WHERE number = $t3")
call alice reply "$t3" '{"body": "Korjattu.", "status": "resolved"}'
is "$st $(j ticket.status)" "200 resolved" "reply: with status resolved"
is "$(q "SELECT first_response_at = '$fr' FROM tickets WHERE number = $t3") $(q "SELECT string_agg(data->>'first_response', ' ' ORDER BY id) FROM events WHERE ticket = $t3 AND kind = 'reply'")" \
	"t true false" "reply: a second reply leaves first_response_at"
is "$(q "SELECT count(*) FROM outbox WHERE ticket = $t3 AND kind = 'reply'")" 2 "reply: two rows"
t_plain=$(mk man)
call alice reply "$t_plain" '{"body": "Hei", "status": "pending"}'
is "$st $(j ticket.status) $(q "SELECT subject || ' | ' || (headers::text LIKE '%In-Reply-To%') FROM outbox WHERE ticket = $t_plain")" \
	"200 pending Re: [Seutu-IT #$t_plain] Tulostin ei toimi | false" \
	"reply: no inbound Message-ID, no In-Reply-To; pending"
t_odd=$(mk man)
q "INSERT INTO messages (ticket, direction, message_id, refs) VALUES ($t_odd, 'in',
	'\"odd,id\"\\x@example.org', ARRAY['\"r{1}\"@example.org'])"
call alice reply "$t_odd" '{"body": "Hei"}'
is "$st $(q "SELECT m.in_reply_to || ' ' || array_to_string(m.refs, ' ') FROM messages m WHERE m.ticket = $t_odd AND m.direction = 'out'")" \
	"200 \"odd,id\"\\x@example.org \"r{1}\"@example.org \"odd,id\"\\x@example.org" \
	"reply: Message-IDs with quotes, commas and braces are stored as they are"
expect "reply: a closed ticket is 409" 409 - alice reply "$t_closed" '{"body": "x"}'
t_noaddr=$(q "INSERT INTO tickets (requester_address, queue) VALUES ('', 'man') RETURNING number")
expect "reply: no usable requester address is 422" 422 - alice reply "$t_noaddr" '{"body": "x"}'
is "$(q "SELECT count(*) FROM messages WHERE ticket = $t_noaddr")" 0 "reply: refused, nothing written"

# -- transfer ------------------------------------------------------------------------
t4=$(mk man)
call alice claim "$t4"
expect "transfer: an unknown queue" 422 queue alice transfer "$t4" '{"queue": "nope"}'
expect "transfer: a queue missing from the table" 422 queue alice transfer "$t4" '{"queue": "unsynced"}'
expect "transfer: queue required" 400 queue alice transfer "$t4" '{}'
call alice transfer "$t4" '{"queue": "workstations"}'
is "$st $(j ticket.queue) $(j ticket.assignee)" "200 workstations " \
	"transfer: moved, unassigned (a manual queue assigns nobody)"
is "$(q "SELECT data->>'from' || '>' || (data->>'to') || ' ' || (data->>'unassigned') FROM events WHERE ticket = $t4 AND kind = 'transfer'")" \
	"man>workstations alice" "transfer: the event"
call alice transfer "$t4" '{"queue": "ll"}'
is "$st $(j ticket.queue) $(j assigned)" "200 ll l1" "transfer: a least-loaded queue assigns"

# -- classify ------------------------------------------------------------------------
t5=$(mk triage '' saarijarvi)
call alice classify "$t5" '{"category": "verkko", "sector": "tekninen", "priority": "high"}'
is "$st $(j ticket.queue) $(j ticket.category) $(j ticket.priority)" "200 network verkko high" \
	"classify: re-routed by the [route] sections"
is "$(q "SELECT (data->'old'->>'queue') || '>' || (data->'new'->>'queue') || ' ' || (data->>'route') || ' ' || coalesce(data->'old'->>'category', 'null') || '>' || (data->'new'->>'category') FROM events WHERE ticket = $t5 AND kind = 'classify'")" \
	"triage>network net null>verkko" "classify: the event records old and new"
expect "classify: a sector that does not exist" 422 sector alice classify "$t5" '{"sector": "avaruus"}'
expect "classify: a category that does not exist" 422 category alice classify "$t5" '{"category": "x"}'
expect "classify: a municipality that does not exist" 422 municipality alice classify "$t5" '{"municipality": "helsinki"}'
expect "classify: a priority not allowed" 422 priority alice classify "$t5" '{"priority": "urgent"}'
expect "classify: priority cannot be null" 400 priority alice classify "$t5" '{"priority": null}'
expect "classify: an unknown field" 400 status alice classify "$t5" '{"status": "open"}'
expect "classify: nothing given" 422 - alice classify "$t5" '{}'
expect "classify: a queue not configured" 422 queue alice classify "$t5" '{"queue": "nope"}'
call alice classify "$t5" '{"category": null}'
is "$st $(j ticket.queue) $(j ticket.category)" "200 triage " "classify: null is unknown; routed back to triage"
call alice classify "$t5" '{"category": "tyoasema", "queue": "man"}'
is "$st $(j ticket.queue) $(j ticket.category)" "200 man tyoasema" "classify: a queue given wins over routing"
call alice classify "$t5" '{"category": "tyoasema", "queue": "man"}'
is "$st $(j changed) $(events "$t5" classify)" "200 false 3" "classify: no change, no event"
call alice claim "$t5"
call alice classify "$t5" '{"sector": "sote"}'
is "$st $(j ticket.queue) $(j ticket.assignee)" "200 sote " \
	"classify: to sote, the assignee without clearance loses it"
is "$(q "SELECT data->>'unassigned' FROM events WHERE ticket = $t5 AND kind = 'classify' ORDER BY id DESC LIMIT 1")" \
	alice "classify: the event says who lost it"
call alice note "$t5" '{"body": "x"}'
is "$st" 404 "classify: and the ticket is hidden from them now"

# -- merge --------------------------------------------------------------------------
t6=$(mk man)
t7=$(mk man)
q "INSERT INTO messages (ticket, direction, body) VALUES ($t6, 'in', 'eka'), ($t6, 'in', 'toka')"
expect "merge: into itself" 422 into alice merge "$t6" "{\"into\": $t6}"
expect "merge: into must be an integer" 400 into alice merge "$t6" "{\"into\": \"$t7\"}"
expect "merge: into a hidden ticket" 422 into alice merge "$t6" "{\"into\": $t_sote}"
hidden=$(j error | sed "s/$t_sote/N/")
expect "merge: into a missing ticket" 422 into alice merge "$t6" '{"into": 999999}'
is "$(j error | sed 's/999999/N/')" "$hidden" "merge: hidden and missing targets read alike"
call alice merge "$t6" "{\"into\": $t7}"
is "$st $(j ticket.status) $(j ticket.merged_into)" "200 closed $t7" "merge: closed, merged_into set"
is "$(q "SELECT count(*) FROM messages WHERE ticket = $t6") $(events "$t6" merge) $(events "$t7" merge)" \
	"2 1 1" "merge: messages stay, an event on both"
expect "merge: again is 409" 409 - alice merge "$t6" "{\"into\": $t7}"
t8=$(mk man)
expect "merge: into a merged ticket" 422 into alice merge "$t8" "{\"into\": $t6}"
expect "status: a merged ticket cannot reopen" 409 status alice status "$t6" '{"status": "open"}'

# -- worklog --------------------------------------------------------------------------
t9=$(mk man '' kinnula)
call alice worklog "$t9" '{"minutes": 45, "note": "Etätuki"}'
is "$st $(q "SELECT minutes || ' ' || organisation || ' ' || note || ' ' || agent FROM worklog WHERE ticket = $t9")" \
	"200 45 kinnula Etätuki $(aid alice)" "worklog: charged to the ticket's municipality"
is "$(events "$t9" worklog)" 1 "worklog: an event"
expect "worklog: zero minutes" 422 minutes alice worklog "$t9" '{"minutes": 0}'
expect "worklog: more than a day" 422 minutes alice worklog "$t9" '{"minutes": 1441}'
expect "worklog: minutes as a string" 400 minutes alice worklog "$t9" '{"minutes": "45"}'
expect "worklog: minutes as a fraction" 400 minutes alice worklog "$t9" '{"minutes": 4.5}'
expect "worklog: minutes required" 400 minutes alice worklog "$t9" '{"note": "x"}'
expect "worklog: a note too long" 422 note alice worklog "$t9" "{\"minutes\": 5, \"note\": \"$big\"}"
expect "unknown action" 404 - alice frobnicate "$t9" '{}'

# -- assignment strategies (seutudesk_assign) ------------------------------------------
assign() { # assign N: whom seutudesk_assign() gave ticket N to, "-" for nobody
	q "WITH s AS MATERIALIZED (SELECT seutudesk_assign($1, '5 minutes') AS id)
		SELECT coalesce(a.login, '-') FROM s LEFT JOIN agents a ON a.id = s.id"
}
got=
for i in 1 2 3 4 5 6; do
	t=$(mk rr)
	got="$got $(assign "$t")"
done
is "$got" " r1 r2 r3 r1 r2 r3" "round robin: in turn over 3 online agents, the offline one skipped"
is "$(q "SELECT last_assigned FROM queues WHERE id = 'rr'")" "$(aid r3)" "round robin: last_assigned"
q "UPDATE agents SET last_seen_at = now() - interval '1 hour' WHERE login = 'r2'"
got=
for i in 1 2 3; do
	t=$(mk rr)
	got="$got $(assign "$t")"
done
is "$got" " r1 r3 r1" "round robin: an agent gone offline is skipped"
q "UPDATE agents SET last_seen_at = now() WHERE login = 'r2'"
t=$(mk rr '' saarijarvi '' resolved)
is "$(assign "$t")" - "assignment: a resolved ticket stays unassigned"
t=$(mk rr)
q "UPDATE tickets SET assignee = $(aid alice) WHERE number = $t"
is "$(assign "$t")" - "assignment: an assigned ticket is not assigned again"
is "$(q "SELECT assignee = $(aid alice) FROM tickets WHERE number = $t")" t \
	"assignment: an assigned ticket is left alone"
is "$(q "SELECT status || ' ' || (SELECT actor || ' ' || (data->>'strategy') FROM events e WHERE e.ticket = t.number AND kind = 'assign') FROM tickets t WHERE number = (SELECT min(number) FROM tickets WHERE queue = 'rr')")" \
	"open system round_robin" "assignment: status open, an event by 'system'"

# least loaded: l1 already has one (the transfer above); loads l1 1, l2 0, l3 0
got=
for i in 1 2 3 4 5 6 7; do
	t=$(mk ll)
	got="$got $(assign "$t")"
done
# loads l1 1, l2 0, l3 0; l2 is full at 2, so the last goes to l3, not l2
is "$got" " l2 l3 l1 l2 l3 l1 l3" "least loaded: fewest open first, ties by id, max_open respected"
is "$(q "SELECT count(*) FROM tickets WHERE assignee = $(aid l2) AND status IN ('new', 'open', 'pending')")" 2 \
	"least loaded: l2 holds no more than its max_open"
is "$(q "SELECT count(*) FROM tickets WHERE assignee = $(aid loff)")" 0 "least loaded: offline agents get nothing"
t=$(mk man)
is "$(assign "$t")" - "manual: nobody is assigned"
is "$(events "$t" assign)" 0 "manual: no event"
q "UPDATE agents SET last_seen_at = NULL WHERE queues && '{ll,network}'"
t=$(mk ll)
is "$(assign "$t")" - "least loaded: nobody online, nobody assigned"
q "UPDATE agents SET last_seen_at = now() WHERE queues && '{ll,network}'"

# release re-offers to somebody else; a sote ticket only to the cleared
t=$(mk rr)
call r1 claim "$t"
call r1 release "$t"
is "$st $(j assigned)" "200 r2" "release: re-offered to the next agent, not the releaser"
q "UPDATE agents SET sote = true WHERE login = 'r3'"
q "UPDATE queues SET last_assigned = $(aid r3) WHERE id = 'rr'"
t=$(mk rr sote)
is "$(assign "$t")" r3 "assignment: a sote ticket only to an agent with clearance"
q "UPDATE agents SET sote = false WHERE login = 'r3'"

# -- concurrent claims -----------------------------------------------------------------
# Each round a third session holds the ticket's row until both claims wait
# for it (seen in pg_stat_activity), so the two really meet; then one wins.
wins=0
met=0
for i in $(seq 1 "$ROUNDS"); do
	t=$(mk man)
	q "DO \$\$ DECLARE polls int := 0; BEGIN
		PERFORM 1 FROM tickets WHERE number = $t FOR UPDATE;
		PERFORM pg_advisory_xact_lock(4242, $t); -- tells the script it holds the row
		FOR i IN 1..1500 LOOP -- ends when both wait: the bound is for a loaded machine
			polls := i;
			PERFORM pg_stat_clear_snapshot();
			EXIT WHEN (SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'
				AND query LIKE '%FOR UPDATE%') >= 2;
			PERFORM pg_sleep(0.01);
		END LOOP;
		RAISE NOTICE 'waiting: % after % polls', (SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'
			AND query LIKE '%FOR UPDATE%'), polls;
	END \$\$" 2>"$W/hold.err" &
	ph=$!
	for k in $(seq 1 500); do
		[ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 4242
			AND objid = $t AND granted")" = 1 ] && break
		sleep 0.01
	done
	"$CALL" "$C" alice POST "/api/v1/tickets/$t/claim" >"$W/ca" 2>"$W/ca.err" &
	pa=$!
	"$CALL" "$C" bob POST "/api/v1/tickets/$t/claim" >"$W/cb" 2>"$W/cb.err" &
	pb=$!
	wait "$ph"
	wait "$pa"
	dirty_check $? "$W/ca.err" "alice claim $t"
	wait "$pb"
	dirty_check $? "$W/cb.err" "bob claim $t"
	if grep -q 'waiting: 2 ' "$W/hold.err"; then
		met=$((met + 1))
	else
		echo "#   round $i: $(grep -o 'waiting.*' "$W/hold.err")"
	fi
	pair=$(printf '%s\n%s\n' "$(head -1 "$W/ca")" "$(head -1 "$W/cb")" | sort | tr '\n' ' ')
	winner=$(q "SELECT a.login FROM tickets t JOIN agents a ON a.id = t.assignee WHERE number = $t")
	holder=$(grep -h '"holder"' "$W/ca" "$W/cb" | sed 's/.*: "\(.*\)".*/\1/')
	if [ "$pair" = "200 409 " ] && [ "$holder" = "$winner" ] && [ "$(events "$t" claim)" = 1 ]; then
		wins=$((wins + 1))
	else
		echo "#   round $i: $pair winner $winner holder $holder"
	fi
done
is "$met" "$ROUNDS" "concurrent claims: both claims waited on the row at once, in every round"
is "$wins" "$ROUNDS" "concurrent claims: one 200 and one 409 naming the winner, in each of $ROUNDS rounds"

# -- the replies through a real SMTP server ---------------------------------------
. "$top_srcdir/tests/lib/smtp.sh"
RUN=$top_builddir/tests/integration/outbox-run
if [ -x "$RUN" ] && smtp_start 2>/dev/null; then
	trap 'smtp_stop; pg_cleanup' EXIT
	timeout 120 "$RUN" send -d "$db" -p "$SMTP_PORT" -t 2000 -L 90 -w 60 >"$W/send.out" 2>"$W/send.err"
	ok $? "smtp: the outbox is delivered ($(cat "$W/send.out"))"
	mid=$(q "SELECT message_id FROM outbox WHERE ticket = $t3 AND kind = 'reply' ORDER BY id LIMIT 1")
	f=$(grep -l -m1 "^Message-ID: <$mid>" "$SMTP_MAILDIR"/new/* 2>/dev/null | head -1)
	if [ -n "$f" ]; then
		got=$("$PY" - "$f" <<'EOF'
import email, email.header, re, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'))
def h(n):
    v = str(email.header.make_header(email.header.decode_header(m[n] or '')))
    return re.sub(r'\s+', ' ', v).strip()
print(h('Subject'))
print(h('In-Reply-To'))
print(h('References'))
print(m['X-RcptTo'].strip())
print(m.get_payload(decode=True).decode('utf-8').splitlines()[2])
EOF
)
	else
		got="no mail with Message-ID <$mid>"
	fi
	is "$got" "Re: [Seutu-IT #$t3] Tulostin ei tulosta
<second.2@saarijarvi.fi>
<first.1@saarijarvi.fi> <$ack> <second.2@saarijarvi.fi>
pekka.virtanen@saarijarvi.fi
katsomme tulostinta tänään." "smtp: the reply arrived with its tag, threading and body"
	smtp_stop
	trap pg_cleanup EXIT
else
	echo "# smtp: skipped (no outbox-run or no SMTP test server)"
fi

is "$dirty" 0 "api-call exited cleanly on all $calls calls (no sanitizer report, no open transaction)"

echo "1..$n"
exit 0
