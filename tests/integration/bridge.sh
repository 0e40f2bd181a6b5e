#!/bin/bash
# The bridge API (doc/bridge-api.md) end to end against the real daemon,
# PostgreSQL and SMTP server: bridges and their tokens; a post made three
# times is one message; a conversation's messages join its ticket, which is
# classified to the member whose site the chat is on and routed like mail;
# reopen inside the window and a linked ticket after it; an agent's reply
# reaches the bridge by long poll, survives a SIGKILL of the daemon and a
# bridge that forgets its cursor, and its delivery reports show to the
# agent; a person who left gets the reply by mail with the resume link; the
# sote access matrix for chat tickets; the transcript by mail; typing on
# the agents' event stream; and bad input (JSON, fields, sizes, UTF-8,
# tokens, floods).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bin=$top_builddir

. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/apitest.sh"
need_built seutudeskd seutudeskctl
need_cmd curl openssl
need_mail_stack

api_workdir bridge
STACK_EXTRA_CONF="$(api_conf)
workers = 4
max_body = 64K

[bridge]
idle = 1m
conversation_limit = 8
calendar = 24x7

[queue sote]
assign = manual

[queue kinnula]
assign = manual

[route sote]
queue = sote
sector = sote

[route kinnula]
queue = kinnula
municipality = kinnula

[sla chat]
channel = chat
first_response = 15m
resolution = 8h
calendar = 24x7
"
. "$top_srcdir/tests/lib/stack.sh"
api_stack_start
api_watchdog "${BRIDGE_LIMIT:-150}"
sql() { stack_sql "$1"; }

# -- bridges, agents, tokens ---------------------------------------------------
ctl bridge add webchat --kind webchat >>"$W/ctl.log" 2>&1
ok $? "seutudeskctl bridge add webchat"
ctl bridge add other >>"$W/ctl.log" 2>&1
ctl bridge add webchat >>"$W/ctl.log" 2>&1
is "$?" 1 "adding a bridge twice is refused"
ctl bridge add 'Bad Name' >>"$W/ctl.log" 2>&1
is "$?" 1 "a bridge name that is no id is refused"
BT=$(ctl token issue --bridge webchat 2>>"$W/ctl.log")
OT=$(ctl token issue --bridge other 2>>"$W/ctl.log")
case "$BT" in sdt_*) ok 0 "token issue --bridge prints a token" ;; *) ok 1 "token issue --bridge" ;; esac
ctl bridge list >"$W/list.txt" 2>&1
has "$W/list.txt" '^webchat *webchat *active' "bridge list shows the bridge, its kind and state"
ctl agent add anna --name "Anna Agentti" --email anna@seutu-it.fi --sote >>"$W/ctl.log" 2>&1
ctl agent add bert --name "Bert Bertel" --email bert@seutu-it.fi --no-sote >>"$W/ctl.log" 2>&1
AT=$(ctl token issue anna 2>>"$W/ctl.log")
NT=$(ctl token issue bert 2>>"$W/ctl.log")

daemon_start
api_wait

# req TOKEN [CURL ARGS...] PATH: the status; body in $W/body, headers in $W/headers.
req() {
	local tok=$1
	shift
	api_req -H "$(api_bearer "$tok")" "$@"
}
post() { req "$1" -H 'Content-Type: application/json' --data-binary "$3" "$2"; }
# msg ID CONV TEXT [EXTRA JSON FIELDS]; the sender is $SENDER's JSON, or Maija.
MAIJA='{"name":"Maija Meikäläinen","handle":"maija"}'
msg() {
	printf '{"id":"%s","conversation":"%s","sender":%s,"text":"%s"%s}' "$1" "$2" \
		"${SENDER:-$MAIJA}" "$3" "${4:-}"
}

# -- idempotency and threading ---------------------------------------------------
M1=$(msg m1 c1 'Hei, tulostin ei tulosta mitään. Kirjaston asiakaskone.' ',"site":"kinnula","lang":"fi"')
is "$(post "$BT" /bridge/v1/messages "$M1")" 201 "the first post of a conversation is stored (201)"
T1=$(j "d['ticket']")
is "$(j "d['outcome']")" new "... as a new ticket"
is "$(post "$BT" /bridge/v1/messages "$M1")" 200 "the same post again is 200"
is "$(j "d['ticket']") $(j "d['duplicate']")" "$T1 true" "... naming the same ticket, as a duplicate"
post "$BT" /bridge/v1/messages "$M1" >/dev/null
is "$(sql "SELECT count(*) FROM messages WHERE bridge = 'webchat' AND conversation = 'c1'")" 1 \
	"three posts of one message make one message"
is "$(sql "SELECT channel, municipality, queue FROM tickets WHERE number = $T1")" "chat|kinnula|kinnula" \
	"the chat ticket is of channel chat, classified to the embedding member and routed by it"
is "$(sql "SELECT sla_policy FROM tickets WHERE number = $T1")" chat "the [sla] policy keyed by channel chat applies"
is "$(sql "SELECT count(*) FROM outbox WHERE ticket = $T1")" 0 "no acknowledgement mail goes to a chat"
is "$(post "$BT" /bridge/v1/messages "$(msg m2 c1 'Se on HP:n laite.')")" 201 "a later message of the conversation"
is "$(j "d['ticket']") $(j "d['outcome']")" "$T1 followup" "... joins its ticket"
is "$(post "$OT" /bridge/v1/messages "$(msg m1 c1 'Toisen sillan viesti')")" 201 \
	"another bridge's message with the same ids is its own"
T9=$(j "d['ticket']")
[ "$T9" != "$T1" ]
ok $? "... and opens a ticket of its own"

# Two first messages of a new conversation at once open one ticket.
post "$BT" /bridge/v1/messages "$(msg p1 c2 'Wilma ei aukea')" >"$W/p1" &
P1=$!
post "$BT" /bridge/v1/messages "$(msg p2 c2 'Wilma ei vieläkään aukea')" >"$W/p2" &
P2=$!
wait $P1 $P2
is "$(sql "SELECT count(DISTINCT ticket) || ' ' || count(*) FROM messages WHERE conversation = 'c2'")" "1 2" \
	"two first messages posted at once make one ticket with both"

# -- replies: long poll, delivery, restart of either side --------------------------
req "$BT" "/bridge/v1/replies?after=0" >/dev/null
is "$(j "len(d['replies'])") $(j "d['cursor']")" "0 0" "no replies yet"
t0=$(date +%s.%N)
( curl -s --max-time 20 --cacert "$W/cert.pem" -H "Authorization: Bearer $BT" -o "$W/poll.json" \
	"$base/bridge/v1/replies?after=0&wait=10"; date +%s.%N >"$W/poll.end" ) &
POLL=$!
sleep 1
is "$(post "$AT" "/api/v1/tickets/$T1/reply" '{"body":"Käynnistä kone uudelleen, niin tulostus toimii."}')" 200 \
	"an agent replies to the chat ticket"
is "$(j "d['reach']")" chat "... and the answer says it reaches the person in the chat"
R1=$(j "d['chat_reply']")
wait $POLL
"$PY" -c "import json,sys; d=json.load(open('$W/poll.json')); sys.exit(0 if [r['id'] for r in d['replies']]==[$R1] else 1)"
ok $? "the bridge's held long poll returns the reply"
waited=$("$PY" -c "print(round(float(open('$W/poll.end').read()) - $t0, 2))")
"$PY" -c "import sys; sys.exit(0 if $waited < 9 else 1)"
ok $? "... as soon as it was queued, not at the end of the wait (${waited} s after the poll began)"
cp "$W/poll.json" "$W/body"
is "$(j "d['replies'][0]['text']")" "Käynnistä kone uudelleen, niin tulostus toimii." "... with the agent's text"
is "$(j "d['replies'][0]['conversation']") $(j "d['replies'][0]['author']")" "c1 Anna Agentti" \
	"... its conversation and the agent's name"
req "$OT" "/bridge/v1/replies?after=0" >/dev/null
is "$(j "len(d['replies'])")" 0 "another bridge does not see the reply"

# The daemon is killed with the reply unreported: nothing is lost.  It
# comes back under valgrind where that is installed (VALGRIND=no skips it).
daemon_kill
vglog=$W/valgrind.log
if [ "${VALGRIND:-yes}" != no ] && command -v valgrind >/dev/null; then
	STACK_DAEMON_WRAPPER="valgrind -q --suppressions=$top_srcdir/tests/data/valgrind.supp
		--leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99
		--log-file=$vglog"
fi
daemon_start
api_wait 300
req "$BT" "/bridge/v1/replies?after=0" >/dev/null
is "$(j "[r['id'] for r in d['replies']]")" "[$R1]" \
	"after a SIGKILL of the daemon, a bridge starting afresh (after=0) gets the reply again, once"
is "$(post "$BT" "/bridge/v1/replies/$R1" '{"state":"delivered"}')" 200 "the bridge reports it delivered"
is "$(j "d['state']") $(j "d['changed']")" "delivered true" "... which changes its state"
post "$BT" "/bridge/v1/replies/$R1" '{"state":"delivered"}' >/dev/null
is "$(j "d['changed']")" false "a repeated report changes nothing"
post "$BT" "/bridge/v1/replies/$R1" '{"state":"read"}' >/dev/null
post "$BT" "/bridge/v1/replies/$R1" '{"state":"delivered"}' >/dev/null
is "$(j "d['state']") $(j "d['changed']")" "read false" "states only move forward"
is "$(post "$OT" "/bridge/v1/replies/$R1" '{"state":"read"}')" 404 "another bridge's reply is 404"
req "$BT" "/bridge/v1/replies?after=0" >/dev/null
is "$(j "len(d['replies'])")" 0 "a settled reply is not offered again"
req "$AT" "/api/v1/tickets/$T1" >/dev/null
is "$(j "[m['delivery']['state'] for m in d['messages'] if m['direction']=='out']")" '["read"]' \
	"the agent sees the reply's delivery state on the message"
is "$(j "sorted(e['kind'] for e in d['events'] if e['kind'].startswith('chat_'))")" \
	'["chat_delivered", "chat_read"]' "... and each report as an event"
req "$BT" /bridge/v1/conversations/c1 >/dev/null
is "$(j "[m['direction'] for m in d['messages']]")" '["in", "in", "out"]' \
	"the conversation so far: the person's messages and the agent's reply, oldest first"
is "$(j "d['messages'][2]['reply']")" "$R1" "... the reply with its id, so a page shows it once"
is "$(req "$OT" /bridge/v1/conversations/c2)" 404 "another bridge's conversation is 404"

# -- reopen inside the window, linked after it ---------------------------------------
post "$AT" "/api/v1/tickets/$T1/status" '{"status":"resolved"}' >/dev/null
post "$BT" /bridge/v1/messages "$(msg m3 c1 'Ei se auttanut.')" >/dev/null
is "$(j "d['ticket']") $(j "d['outcome']")" "$T1 reopened" "a message after resolution reopens the ticket inside the window"
post "$AT" "/api/v1/tickets/$T1/status" '{"status":"resolved"}' >/dev/null
sql "UPDATE tickets SET resolved_at = now() - interval '60 days' WHERE number = $T1" >/dev/null
post "$BT" /bridge/v1/messages "$(msg m4 c1 'Uusi ongelma: näyttö pimeä.')" >/dev/null
T2=$(j "d['ticket']")
is "$(j "d['outcome']") $(sql "SELECT follows FROM tickets WHERE number = $T2")" "linked $T1" \
	"after the window it starts a linked ticket"
post "$BT" /bridge/v1/messages "$(msg m5 c1 'Ja hiiri myös.')" >/dev/null
is "$(j "d['ticket']")" "$T2" "the conversation then continues on the linked ticket"

# -- the person has left: by mail with the resume link, or nobody -----------------
EERO='{"name":"Eero","email":"eero@example.org"}'
post "$BT" /bridge/v1/messages "$(SENDER=$EERO msg e1 c3 'Vesimittarin lukema ei mene läpi' ',"resume_url":"https://chat.example/r#c=XYZ"')" >/dev/null
T3=$(j "d['ticket']")
sql "UPDATE chat_conversations SET last_seen_at = now() - interval '2 minutes' WHERE id = 'c3'" >/dev/null
post "$AT" "/api/v1/tickets/$T3/reply" '{"body":"Lukema on nyt kirjattu."}' >/dev/null
is "$(j "d['reach']")" chat+email "a reply to a person who left the chat goes by mail too"
smtp_wait_count 1 15 >/dev/null 2>&1
grep -l 'eero@example.org' "$SMTP_MAILDIR"/new/* >"$W/eero" 2>/dev/null
ok $? "... the mail reaches the SMTP server"
$PY -c '
import email, sys
for f in sys.argv[1:]:
    m = email.message_from_binary_file(open(f, "rb"))
    if "https://chat.example/r#c=XYZ" in m.get_payload(decode=True).decode():
        sys.exit(0)
sys.exit(1)' $(cat "$W/eero")
ok $? "... with the link that resumes the conversation"
post "$BT" /bridge/v1/messages "$(msg n1 c4 'Salasana unohtui')" >/dev/null
T4=$(j "d['ticket']")
sql "UPDATE chat_conversations SET last_seen_at = now() - interval '2 minutes' WHERE id = 'c4'" >/dev/null
post "$AT" "/api/v1/tickets/$T4/reply" '{"body":"Soita tukeen."}' >/dev/null
is "$(j "d['reach']")" none "without an address the agent is told the person cannot be reached now"
R4=$(j "d['chat_reply']")
post "$BT" "/bridge/v1/replies/$R4" '{"state":"read"}' >/dev/null
is "$(sql "SELECT string_agg(kind, ',' ORDER BY id) FROM events WHERE ticket = $T4 AND kind LIKE 'chat_%'")" \
	"chat_delivered,chat_read" "a reply read straight from queued shows the agent it was delivered and read"

# -- transcript by mail ------------------------------------------------------------------
is "$(post "$BT" /bridge/v1/conversations/c1/transcript '{"email":"maija@example.org","lang":"fi"}')" 202 \
	"the transcript is queued for mail (202)"
for _ in $(seq 75); do grep -lq 'maija@example.org' "$SMTP_MAILDIR"/new/* 2>/dev/null && break; sleep 0.2; done
f=$(grep -l 'maija@example.org' "$SMTP_MAILDIR"/new/* 2>/dev/null | head -1)
[ -n "$f" ] && grep -q 'Chat-keskustelu' "$f"
ok $? "... and reaches the address with the conversation"

# -- sote: the access matrix holds for chat tickets ----------------------------------------
post "$BT" /bridge/v1/messages "$(msg s1 c5 'Saarikan kotihoidon asiakastietojärjestelmä ei toimi, kotihoitaja ei pääse kirjaamaan käyntejä.' ',"site":"saarikka"')" >/dev/null
T5=$(j "d['ticket']")
is "$(sql "SELECT sector || ' ' || queue FROM tickets WHERE number = $T5")" "sote sote" "a chat about home care is sote"
is "$(req "$AT" "/api/v1/tickets/$T5")" 200 "a cleared agent sees the chat's sote ticket"
is "$(req "$NT" "/api/v1/tickets/$T5")" 404 "an agent without clearance gets 404 for it"
is "$(post "$NT" "/api/v1/tickets/$T5/reply" '{"body":"x"}')" 404 "... and cannot reply to it"
req "$NT" "/api/v1/tickets?q=kotihoidon" >/dev/null
is "$(j "[t['number'] for t in d['tickets']]")" "[]" "... nor find it by search"
is "$(sql "SELECT count(*) FROM events WHERE ticket = $T5 AND kind = 'read' AND actor = 'anna'")" 1 \
	"the cleared agent's read is audited"

# -- typing on the agents' event stream ----------------------------------------------------
curl -s -N --max-time 4 --cacert "$W/cert.pem" -H "Authorization: Bearer $AT" "$base/api/v1/events" >"$W/events" &
EV=$!
sleep 1
is "$(post "$BT" /bridge/v1/conversations/c2/typing '{}')" 204 "typing is 204"
wait $EV
grep -q '^event: typing' "$W/events"
ok $? "the agents' event stream carries typing for the chat's ticket"

# -- status -------------------------------------------------------------------------------------
is "$(req "$BT" "/bridge/v1/status?site=kinnula")" 200 "status answers"
is "$(j "d['open_hours']") $(j "d['agents_online'] > 0") $(j "d['open']")" "true true true" \
	"... open: the 24x7 chat calendar and an agent online"
is "$(j "d['first_response_due'] is not None")" true "... with when a message written now will be answered"

# -- bad input ------------------------------------------------------------------------------
is "$(post "$BT" /bridge/v1/messages '{"id":')" 400 "malformed JSON is 400"
has "$W/body" 'line 1' "... naming where"
is "$(post "$BT" /bridge/v1/messages '{"id":"x1","conversation":"c9","sender":{"name":"A"}}')" 400 "a missing text is 400"
is "$(j "d['field']")" text "... naming the field"
is "$(post "$BT" /bridge/v1/messages "$(msg x2 c9 hei ',"colour":"red"')")" 400 "an unknown field is 400"
is "$(j "d['field']")" colour "... naming it"
is "$(post "$BT" /bridge/v1/messages "$(msg x3 c9 hei ',"sent_at":"not a time"')")" 400 "a bad time is 400"
is "$(j "d['field']")" sent_at "... naming sent_at"
is "$(post "$BT" /bridge/v1/messages "$(SENDER='{"name":"A","email":"not an address"}' msg x4 c9 hei)")" 422 \
	"a bad e-mail address is 422"
is "$(j "d['field']")" sender.email "... naming sender.email"
printf '{"id":"x5","conversation":"c9","sender":{"name":"A"},"text":"\xff\xfe"}' >"$W/bad.json"
is "$(req "$BT" -H 'Content-Type: application/json' --data-binary @"$W/bad.json" /bridge/v1/messages)" 400 \
	"text that is not UTF-8 is 400"
is "$(post "$BT" /bridge/v1/messages "$(msg x6 c9 'a\u0007b')")" 400 "a control character is 400"
big=$(head -c 17000 /dev/zero | tr '\0' 'a')
is "$(post "$BT" /bridge/v1/messages "$(msg x7 c9 "$big")")" 413 "a text over 16,000 bytes is 413"
head -c 70000 /dev/zero | tr '\0' 'a' >"$W/huge"
is "$(req "$BT" --data-binary @"$W/huge" /bridge/v1/messages)" 413 "a body over [api] max_body is 413"
is "$(post "$AT" /bridge/v1/messages "$(msg x8 c9 hei)")" 401 "an agent's token does not open the bridge API"
is "$(req "$BT" /api/v1/tickets)" 401 "a bridge's token does not open the agents' API"
ctl bridge disable other >>"$W/ctl.log" 2>&1
is "$(req "$OT" /bridge/v1/replies)" 401 "a disabled bridge's token is refused"
is "$(req "$BT" -X GET /bridge/v1/messages)" 405 "GET on messages is 405"
codes=""
for i in $(seq 1 10); do codes="$codes $(post "$BT" /bridge/v1/messages "$(msg f$i c8 "viesti $i")")"; done
is "$codes" " 201 201 201 201 201 201 201 201 429 429" "a conversation over conversation_limit a minute gets 429"
grep -qi '^Retry-After: [0-9]' "$W/headers"
ok $? "... with Retry-After"
is "$(sql "SELECT count(*) FROM messages WHERE conversation = 'c8'")" 8 "... and nothing of the refused is stored"
kill -0 "$STACK_DAEMON_PID"
ok $? "the daemon is still running"
daemon_stop
is "$?" 0 "SIGTERM stops the daemon cleanly${STACK_DAEMON_WRAPPER:+ (under valgrind: no errors, no leaks)}"
[ -s "$vglog" ] && head -40 "$vglog" | sed 's/^/#   /'

echo "1..$n"
