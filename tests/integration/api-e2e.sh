#!/bin/bash
# The agents' API end to end: the real daemon with real mail in (Dovecot,
# IMAP intake) and real mail out (its outbox sender to an SMTP server), and
# every call over HTTPS with curl.  Covers routing by classification into
# the configured queues and re-routing by an agent; each assignment strategy
# at intake (round robin over online agents, least loaded within max_open,
# manual, offline agents skipped); concurrent claims with exactly one
# winner; a reply reaching the SMTP server threaded and tagged; the access
# matrix of a sote ticket with an attachment (list, view, search,
# attachment, actions, guessed numbers and ids) with its audit events; and
# bad input (JSON, size, tokens, fields and values).  All on loopback, in
# well under two minutes.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bin=$top_builddir
ROUNDS=${API_E2E_ROUNDS:-20}
API_TIMEOUT=10

. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/apitest.sh"
need_built seutudeskd seutudeskctl
need_cmd curl openssl
need_mail_stack

# Certificate, port and the sections the stack's config gets besides its own.
api_workdir api-e2e
# Routes: sote first; the network by category (an unknown sector listed, so
# a Wi-Fi mail saying nothing of its sector goes there too); one queue per
# assignment strategy by municipality; everything else to triage.
STACK_EXTRA_CONF="$(api_conf)
workers = 4
max_body = 64K
online_window = 5m
auth_limit = 50

[queue sote]
assign = manual

[queue network]
assign = manual

[queue rr]
assign = round_robin

[queue ll]
assign = least_loaded

[queue man]
assign = manual

[route sote]
queue = sote
sector = sote

[route network]
queue = network
category = verkko
sector = unknown, keskushallinto, sivistys, tekninen, konserni

[route rr]
queue = rr
municipality = karstula

[route ll]
queue = ll
municipality = viitasaari

[route man]
queue = man
municipality = pihtipudas
"
. "$top_srcdir/tests/lib/stack.sh"
api_stack_start
# A hard bound on the whole run: a stuck step ends the test, it never hangs.
# The background psql and curl runs of the claims end by themselves (bounded).
api_watchdog "${API_E2E_LIMIT:-150}"
FROM_NAME="Seutu-IT aluetuki"
FROM_ADDR="aluetuki@seutu-it.fi"
sed -i "/^\[smtp\]\$/a from = $FROM_NAME <$FROM_ADDR>" "$STACK_CONF"

# -- agents and tokens ---------------------------------------------------------
add() { api_agent "$@"; } # add LOGIN OPTIONS...
# The offline ones are added before the others, so that a strategy that
# did not skip them would pick them first (lowest id).
add anna --sote --queues triage,sote,network,man --max-open 100
add bert --no-sote --queues triage,sote,network,man --max-open 100
add roff --queues rr
add r1 --queues rr
add r2 --queues rr
add r3 --queues rr
add loff --queues ll
add l1 --queues ll
add l2 --queues ll --max-open 1
add l3 --queues ll
add gone --queues triage
declare -A TOK
for a in anna bert r1 r2 r3 l1 l2 l3 gone; do
	api_token "TOK[$a]" "$a"
done

daemon_start
api_wait

req() { api_req "$@"; } # req [CURL ARGS...] PATH: the status; $W/body, $W/headers
auth() { api_bearer "${TOK[$1]}"; }
get() { req -H "$(auth "$1")" "$2"; }               # get AGENT PATH
post() { req -H "$(auth "$1")" --data-binary "$3" "$2"; } # post AGENT PATH BODY
numbers() { j "' '.join(str(t['number']) for t in sorted(d['tickets'], key=lambda t: t['number']))"; }
sql() { stack_sql "$1"; }
tkt() { sql "SELECT ticket FROM messages WHERE message_id = '$1' AND direction = 'in'"; }

is "$(req /healthz)" 200 "the daemon serves HTTPS (healthz)"

# Agents come online by calling in; the offline ones never do.
online=0
for a in anna bert r1 r2 r3 l1 l2 l3; do
	[ "$(get "$a" /api/v1/me)" = 200 ] && online=$((online + 1))
done
is "$online $(sql "SELECT string_agg(login, ',' ORDER BY login) FROM agents WHERE last_seen_at IS NULL")" \
	"8 gone,loff,roff" "GET /api/v1/me marks 8 agents online; roff, loff and gone stay offline"

# -- the mail ---------------------------------------------------------------------
# mail MID FROM SUBJECT BODY [FILENAME TYPE FILE]: one message onto $W/in.mbox.
mail() {
	local mid=$1 from=$2 subject=$3 body=$4
	{
		echo "From e2e@seutudesk.test Mon Nov  2 09:00:00 2026"
		printf 'From: %s\nTo: Seutu-IT tuki <tuki@seutu-it.fi>\nSubject: %s\n' "$from" "$subject"
		printf 'Date: Mon, 02 Nov 2026 09:00:00 +0200\nMessage-ID: <%s>\nMIME-Version: 1.0\n' "$mid"
		if [ -z "${5:-}" ]; then
			printf 'Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n'
			printf '%s\n' "$body"
		else
			printf 'Content-Type: multipart/mixed; boundary="=_e2e"\n\n--=_e2e\n'
			printf 'Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n'
			printf '%s\n--=_e2e\nContent-Type: %s; name="%s"\n' "$body" "$6" "$5"
			printf 'Content-Disposition: attachment; filename="%s"\n' "$5"
			printf 'Content-Transfer-Encoding: base64\n\n%s\n--=_e2e--\n' "$(base64 -w 76 "$7")"
		fi
		echo
	} >>"$W/in.mbox"
}
sign() { printf '\n\nTerveisin\n%s' "$1"; }
mail e2e.sote@saarikka.fi 'Anne Kärkkäinen <anne.karkkainen@saarikka.fi>' \
	'Vastaanoton kone ei käynnisty' "Hei,

terveyskeskuksen vastaanoton työasema ei käynnisty tänä aamuna.$(sign 'Anne Kärkkäinen
lähihoitaja
Perusturvaliikelaitos Saarikka')"
mail e2e.netschool@koulu.kinnula.fi 'Eija Hakkarainen <eija.hakkarainen@koulu.kinnula.fi>' \
	'Koulun Wi-Fi katkeilee' "Hei,

koulun langaton verkko katkeilee, oppilaiden koneet eivät saa yhteyttä.$(sign 'Eija Hakkarainen
rehtori
Sivistystoimi')"
mail e2e.wifi@kinnula.fi 'Kalle Rantanen <kalle.rantanen@kinnula.fi>' 'Wi-Fi ei toimi' \
	"Hei,

Wi-Fi ei toimi, läppäri ei löydä verkkoa lainkaan.$(sign 'Kalle Rantanen')"
mail e2e.citizen@mail.gmail.com 'Pirjo Lehto <pirjo.lehto@gmail.com>' 'Kysymys' \
	"Hei,

en saa asiaa hoidettua, voisiko joku auttaa?$(sign Pirjo)"
mail e2e.omaolo@outlook.com 'Seppo Mattila <seppo.mattila@outlook.com>' 'Omaolo ei aukea' \
	"Hei,

Omaolo-palveluun kirjautuminen ei onnistu, ajanvaraus jää kesken.$(sign Seppo)"
printf 'LC-virhe 4711 kello 08.12\nkuukkeliloki rivi 2\n' >"$W/lokit.txt"
mail e2e.soteatt@saarikka.fi 'Marja Salo <marja.salo@saarikka.fi>' \
	'Potilastietojärjestelmä kaatuu' "Hei,

potilastietojärjestelmä kaatuu kirjautuessa, kuukkelivirhe joka kerta. Loki liitteenä.$(sign 'Marja Salo
sairaanhoitaja')" lokit.txt text/plain "$W/lokit.txt"
printf '\x89PNG\r\n\x1a\n e2e image bytes' >"$W/kuva.png"
for i in $(seq 1 6); do
	mail "e2e.rr$i@karstula.fi" "Liisa Korhonen <liisa.korhonen$i@karstula.fi>" \
		"Tulostin ei tulosta ($i)" "Hei,

kunnanviraston tulostin ei tulosta, jono vain kasvaa.$(sign 'Liisa Korhonen')"
done
for i in $(seq 1 5); do
	mail "e2e.ll$i@viitasaari.fi" "Jukka Nieminen <jukka.nieminen$i@viitasaari.fi>" \
		"Tulostin jumissa ($i)" "Hei,

kaupungintalon tulostin on jumissa.$(sign 'Jukka Nieminen')"
done
mail e2e.man0@pihtipudas.fi 'Sari Laine <sari.laine0@pihtipudas.fi>' 'Tulostin ei toimi' \
	"Hei,

kunnanviraston tulostin ei toimi, kuva virheilmoituksesta liitteenä.$(sign 'Sari Laine')" \
	kuva.png image/png "$W/kuva.png"
for i in $(seq 1 "$ROUNDS"); do
	mail "e2e.man$i@pihtipudas.fi" "Sari Laine <sari.laine$i@pihtipudas.fi>" \
		"Tulostin ei toimi ($i)" "Hei,

kunnanviraston tulostin ei toimi.$(sign 'Sari Laine')"
done
total=$((6 + 6 + 5 + 1 + ROUNDS))
dovecot_import_many test "$W/in.mbox" >"$W/import.log" 2>&1
ok $? "$total mails delivered into the support mailbox"
stack_wait 'SELECT count(*) FROM tickets' "$total" 40 2>"$W/wait.err"
ok $? "the daemon's intake made $total tickets from them"
[ -s "$W/wait.err" ] && sed 's/^/# /' "$W/wait.err"

T_SOTE=$(tkt e2e.sote@saarikka.fi)
T_NETSCHOOL=$(tkt e2e.netschool@koulu.kinnula.fi)
T_WIFI=$(tkt e2e.wifi@kinnula.fi)
T_CITIZEN=$(tkt e2e.citizen@mail.gmail.com)
T_OMAOLO=$(tkt e2e.omaolo@outlook.com)
T_SOTEATT=$(tkt e2e.soteatt@saarikka.fi)
T_MAN0=$(tkt e2e.man0@pihtipudas.fi)

# -- 1. routing -------------------------------------------------------------------
queue_of() { sql "SELECT queue FROM tickets WHERE number = ${1:-0}"; }
is "$(queue_of "$T_SOTE")" sote "routing: a health-centre mail from saarikka.fi goes to sote"
is "$(queue_of "$T_NETSCHOOL")" network "routing: a school's Wi-Fi problem from kinnula.fi goes to network"
is "$(queue_of "$T_WIFI")" network "routing: a Wi-Fi problem of unknown sector, listed, goes to network"
is "$(queue_of "$T_CITIZEN")" triage "routing: an unknown municipality goes to triage"
is "$(queue_of "$T_OMAOLO") $(sql "SELECT sector FROM tickets WHERE number = ${T_OMAOLO:-0}")" \
	"triage sote" "routing: a citizen's Omaolo mail (sote, municipality unknown) goes to triage"
is "$(sql "SELECT queue || ':' || count(*) FROM tickets WHERE queue IN ('rr', 'll', 'man') GROUP BY queue ORDER BY queue")" \
	"ll:5
man:$((ROUNDS + 1))
rr:6" "routing: by municipality into the strategies' queues"
get anna '/api/v1/tickets?queue=network' >"$W/st"
is "$(cat "$W/st") $(numbers)" "200 $(printf '%s\n' "$T_NETSCHOOL" "$T_WIFI" | sort -n | tr '\n' ' ' | sed 's/ $//')" \
	"GET /api/v1/tickets?queue=network lists the two network tickets"
get anna '/api/v1/tickets?queue=sote' >"$W/st"
is "$(cat "$W/st") $(numbers)" "200 $(printf '%s\n' "$T_SOTE" "$T_SOTEATT" | sort -n | tr '\n' ' ' | sed 's/ $//')" \
	"GET ?queue=sote lists both sote tickets to the cleared agent"
get anna '/api/v1/tickets?queue=triage' >"$W/st"
is "$(cat "$W/st") $(numbers)" "200 $(printf '%s\n' "$T_CITIZEN" "$T_OMAOLO" | sort -n | tr '\n' ' ' | sed 's/ $//')" \
	"GET ?queue=triage lists the unrouted tickets"

code=$(post anna "/api/v1/tickets/$T_CITIZEN/classify" \
	'{"municipality": "kinnula", "sector": "sivistys", "category": "verkko"}')
is "$code $(j "d['ticket']['queue']")" "200 network" "classify by an agent re-routes triage to network"
is "$(sql "SELECT actor || ' ' || (data->'old'->>'queue') || '>' || (data->'new'->>'queue') || ' ' || coalesce(data->'old'->>'municipality', 'null') || '>' || (data->'new'->>'municipality') || ' ' || (data->'new'->>'category') FROM events WHERE ticket = $T_CITIZEN AND kind = 'classify'")" \
	"anna triage>network null>kinnula verkko" "classify: the event records the agent, old and new"
get bert '/api/v1/tickets?queue=network' >/dev/null
case " $(numbers) " in *" $T_CITIZEN "*) r=0 ;; *) r=1 ;; esac
get bert '/api/v1/tickets?queue=triage' >/dev/null
case " $(numbers) " in *" $T_CITIZEN "*) r=1 ;; esac
ok $r "classify: the listings show the ticket in network, no longer in triage"

# -- 2. assignment at intake ----------------------------------------------------
seq_of() { # seq_of QUEUE: the assignees of its assign events, in order
	sql "SELECT string_agg(e.data->>'login', ' ' ORDER BY e.id) FROM events e
		JOIN tickets t ON t.number = e.ticket WHERE e.kind = 'assign' AND t.queue = '$1'"
}
load_of() { # load_of QUEUE: LOGIN:N for each agent of the queue
	sql "SELECT string_agg(a.login || ':' || (SELECT count(*) FROM tickets t WHERE t.assignee = a.id
		AND t.status IN ('new', 'open', 'pending')), ' ' ORDER BY a.login) FROM agents a
		WHERE '$1' = ANY (a.queues)"
}
is "$(seq_of rr)" "r1 r2 r3 r1 r2 r3" "round robin: 6 new tickets go to the 3 online agents in turn"
is "$(load_of rr)" "r1:2 r2:2 r3:2 roff:0" "round robin: the offline agent gets none"
is "$(sql "SELECT string_agg(DISTINCT status, ',') FROM tickets WHERE queue IN ('rr', 'll')")" open \
	"automatic assignment makes the tickets open"
is "$(seq_of ll)" "l1 l2 l3 l1 l3" "least loaded: fewest open first, ties by id, l2 full at its max_open"
is "$(load_of ll)" "l1:2 l2:1 l3:2 loff:0" "least loaded: max_open 1 respected, the offline agent skipped"
is "$(sql "SELECT count(*) FILTER (WHERE assignee IS NOT NULL) || ' ' || count(*) FILTER (WHERE status = 'new') FROM tickets WHERE queue IN ('man', 'sote', 'network', 'triage')")" \
	"0 $((ROUNDS + 7))" "manual queues: nothing assigned though agents are online, all still new"
is "$(sql "SELECT count(*) FROM events e JOIN tickets t ON t.number = e.ticket WHERE e.kind = 'assign' AND t.queue NOT IN ('rr', 'll')")" \
	0 "manual queues: no assign events"
get r2 /api/v1/tickets?assignee=me >/dev/null
is "$(numbers)" "$(sql "SELECT string_agg(number::text, ' ' ORDER BY number) FROM tickets WHERE assignee = (SELECT id FROM agents WHERE login = 'r2')")" \
	"GET ?assignee=me lists an agent's assigned tickets"

# -- 3. concurrent claims over HTTPS ----------------------------------------------
# Each round a psql session holds the ticket's row until both claims (two
# curl processes started together) wait for it, so that they really meet.
wins=0
met=0
for i in $(seq 1 "$ROUNDS"); do
	t=$(tkt "e2e.man$i@pihtipudas.fi")
	pg_psql -d seutudesk -c "DO \$\$ DECLARE polls int := 0; BEGIN
		PERFORM 1 FROM tickets WHERE number = $t FOR UPDATE;
		PERFORM pg_advisory_xact_lock(4242, $t);
		FOR i IN 1..800 LOOP -- ends when both wait: the bound is for a loaded machine
			polls := i;
			PERFORM pg_stat_clear_snapshot();
			EXIT WHEN (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
				AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()) >= 2;
			PERFORM pg_sleep(0.01);
		END LOOP;
		RAISE NOTICE 'waiting: % after % polls', (SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'
			AND pid <> pg_backend_pid()), polls;
	END \$\$" 2>"$W/hold.err" &
	ph=$!
	for _ in $(seq 1 300); do
		[ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 4242
			AND objid = $t AND granted")" = 1 ] && break
		sleep 0.01
	done
	# Whichever starts first waits on the held row for the other.
	pc=
	for a in anna bert; do
		curl -s --max-time 20 --cacert "$W/cert.pem" -o "$W/claim.$a" -w '%{http_code}' \
			-H "$(auth "$a")" -X POST "$base/api/v1/tickets/$t/claim" >"$W/code.$a" &
		pc="$pc $!"
	done
	wait "$ph"
	# shellcheck disable=SC2086
	wait $pc
	grep -q 'waiting: [2-9] ' "$W/hold.err" && met=$((met + 1))
	pair=$(printf '%s\n%s\n' "$(cat "$W/code.anna")" "$(cat "$W/code.bert")" | sort | tr '\n' ' ')
	winner=$(sql "SELECT a.login FROM tickets t JOIN agents a ON a.id = t.assignee WHERE number = $t")
	holder=$("$PY" -c '
import json, sys
for f in sys.argv[1:]:
    try:
        d = json.load(open(f))
    except ValueError:
        continue
    if isinstance(d, dict) and "holder" in d:
        print(d["holder"])' "$W/claim.anna" "$W/claim.bert")
	if [ "$pair" = "200 409 " ] && [ -n "$winner" ] && [ "$holder" = "$winner" ] &&
		[ "$(sql "SELECT count(*) FROM events WHERE ticket = $t AND kind = 'claim'")" = 1 ]; then
		wins=$((wins + 1))
	else
		echo "#   round $i: ticket $t: $pair winner '$winner' holder '$holder' $(grep -o 'waiting.*' "$W/hold.err")"
	fi
done
is "$met" "$ROUNDS" "concurrent claims: both HTTPS claims waited on the row together, every round"
is "$wins" "$ROUNDS" "concurrent claims: one 200 and one 409 naming the winner, in each of $ROUNDS rounds"

# -- 4. a reply through the outbox to the SMTP server -------------------------
get anna "/api/v1/tickets/$T_NETSCHOOL" >/dev/null
is "$(j "d['first_response_at']")" "" "reply: before it, no first response (the ack is none)"
code=$(post anna "/api/v1/tickets/$T_NETSCHOOL/reply" \
	'{"body": "Hei,\n\nkatsomme koulun verkkoa tänään.\n\nSeutu-IT"}')
mid=$(j "d.get('message_id')")
is "$code $(j "d['ticket']['status']")" "200 open" "reply: POST .../reply answers 200, the ticket is open"
smtp_file=
for _ in $(seq 1 200); do
	smtp_file=$(grep -l -i -m1 "^Message-ID: *<$mid>" "$SMTP_MAILDIR"/new/* 2>/dev/null | head -1)
	[ -n "$smtp_file" ] && break
	sleep 0.1
done
ok "$([ -n "$mid" ] && [ -n "$smtp_file" ]; echo $?)" "reply: the daemon's sender delivered it to the SMTP server"
if [ -n "$smtp_file" ]; then
	got=$("$PY" - "$smtp_file" <<'EOF'
import email, email.header, email.utils, re, sys
m = email.message_from_binary_file(open(sys.argv[1], 'rb'))
def h(n):
    v = str(email.header.make_header(email.header.decode_header(m[n] or '')))
    return re.sub(r'\s+', ' ', v).strip()
print(h('Subject'))
print(h('In-Reply-To'))
print(h('References'))
name, addr = email.utils.parseaddr(h('From'))
print(name + ' | ' + addr)
print(m['X-RcptTo'].strip())
body = m.get_payload(decode=True).decode(m.get_content_charset() or 'utf-8')
print('body ok' if 'katsomme koulun verkkoa' in body else 'body: ' + body[:80])
EOF
)
else
	got=
fi
subj=$(printf '%s\n' "$got" | sed -n 1p)
case $subj in *"[Seutu-IT #$T_NETSCHOOL]"*) r=0 ;; *) r=1 ;; esac
ok $r "reply: the Subject has [Seutu-IT #$T_NETSCHOOL] ($subj)"
is "$(printf '%s\n' "$got" | sed -n 2p)" "<e2e.netschool@koulu.kinnula.fi>" \
	"reply: In-Reply-To is the requester's Message-ID"
case " $(printf '%s\n' "$got" | sed -n 3p) " in *" <e2e.netschool@koulu.kinnula.fi> "*) r=0 ;; *) r=1 ;; esac
ok $r "reply: References contains it"
is "$(printf '%s\n' "$got" | sed -n 4,6p)" "$FROM_NAME | $FROM_ADDR
eija.hakkarainen@koulu.kinnula.fi
body ok" "reply: From the configured address, to the requester, with the agent's text"
get anna "/api/v1/tickets/$T_NETSCHOOL" >/dev/null
ok "$([ -n "$(j "d['first_response_at']")" ]; echo $?)" "reply: first_response_at is set"

# -- 5. the access matrix ---------------------------------------------------------
get bert /api/v1/tickets/999999 >"$W/st"
missing="$(cat "$W/st") $(cat "$W/body")"
is "${missing%% *}" 404 "a missing ticket: 404"
all='status=new,open,pending,resolved,closed&limit=200'
visible() { # visible SOTE_CLEARED: what seutudesk_may_see should let anna/bert list
	sql "SELECT string_agg(number::text, ' ' ORDER BY number) FROM tickets
		WHERE queue IN ('triage', 'sote', 'network', 'man') AND ($1 OR sector IS DISTINCT FROM 'sote')"
}
get bert "/api/v1/tickets?$all" >/dev/null
is "$(numbers)" "$(visible false)" "bert (no sote clearance) lists his queues without the 3 sote tickets"
get anna "/api/v1/tickets?$all" >/dev/null
is "$(numbers)" "$(visible true)" "anna (cleared) lists them all, sote included"
get bert '/api/v1/tickets?queue=sote' >/dev/null
r1=$(numbers)
get bert '/api/v1/tickets?sector=sote' >/dev/null
is "$r1|$(numbers)" "|" "bert: ?queue=sote and ?sector=sote are empty"
get bert '/api/v1/tickets?q=kuukkelivirhe' >"$W/st"
r1="$(cat "$W/st") $(numbers)"
get bert '/api/v1/tickets?q=potilastietoj%C3%A4rjestelm%C3%A4' >/dev/null
is "$r1|$(numbers)" "200 |" "bert: searching the sote ticket's body or subject finds nothing"
get bert '/api/v1/tickets?q=tulostin' >/dev/null
is "$(numbers | wc -w)" "$((ROUNDS + 1))" "bert: search itself works for him (the man queue's printers)"
get anna '/api/v1/tickets?q=kuukkelivirhe' >/dev/null
is "$(numbers)" "$T_SOTEATT" "anna: the search finds the sote ticket"
is "$(sql "SELECT count(*) FROM events WHERE kind = 'read'")" 0 "listing and searching write no read event"

get anna "/api/v1/tickets/$T_SOTEATT" >"$W/st"
is "$(cat "$W/st") $(j "d['sensitive'], [a['filename'] for a in d['attachments']]")" \
	"200 (True, ['lokit.txt'])" "anna reads the sote ticket, its attachment listed"
ATT=$(j "d['attachments'][0]['id']")
is "$(sql "SELECT actor || ' ' || count(*) FROM events WHERE kind = 'read' AND ticket = $T_SOTEATT GROUP BY actor")" \
	"anna 1" "anna's view wrote a read event"
code=$(curl -s --max-time 10 --cacert "$W/cert.pem" -H "$(auth anna)" -o "$W/att" -w '%{http_code}' \
	"$base/api/v1/tickets/$T_SOTEATT/attachments/$ATT")
ok "$([ "$code" = 200 ] && cmp -s "$W/att" "$W/lokit.txt"; echo $?)" \
	"anna downloads the sote attachment, byte for byte"
is "$(sql "SELECT count(*) || ' ' || max(data->>'attachment') FROM events WHERE kind = 'read' AND ticket = $T_SOTEATT AND actor = 'anna'")" \
	"2 $ATT" "the download wrote a second read event naming the attachment"

get bert "/api/v1/tickets/$T_MAN0" >/dev/null
MANATT=$(j "d['attachments'][0]['id']")
get bert "/api/v1/tickets/$T_SOTEATT" >"$W/st"
is "$(cat "$W/st") $(cat "$W/body")" "$missing" "bert: the sote ticket is the very 404 of a missing one"
get bert "/api/v1/tickets/$T_SOTEATT/attachments/$ATT" >"$W/st"
is "$(cat "$W/st") $(cat "$W/body")" "$missing" "bert: its attachment is the same 404"
get bert "/api/v1/tickets/$T_MAN0/attachments/$ATT" >"$W/st"
is "$(cat "$W/st") $(cat "$W/body")" "$missing" "bert: the sote attachment id under a ticket he sees: the same 404"
code=$(curl -s --max-time 10 --cacert "$W/cert.pem" -H "$(auth bert)" -o "$W/att" -w '%{http_code}' \
	"$base/api/v1/tickets/$T_MAN0/attachments/$MANATT")
ok "$([ "$code" = 200 ] && cmp -s "$W/att" "$W/kuva.png"; echo $?)" "bert downloads a plain ticket's attachment"
# Guessed numbers and ids: every ticket number up to past the last, every
# attachment id, under the sote ticket and under one he sees.
max_t=$(sql "SELECT max(number) + 3 FROM tickets")
max_a=$(sql "SELECT max(id) + 2 FROM attachments")
bad_guess=0
for t in $(seq 1 "$max_t"); do
	st=$(get bert "/api/v1/tickets/$t")
	want=$(sql "SELECT CASE WHEN sector = 'sote' OR queue NOT IN ('triage', 'sote', 'network', 'man')
		THEN 'hidden' ELSE 'seen' END FROM tickets WHERE number = $t")
	if [ "$want" = seen ]; then
		[ "$st" = 200 ] || { bad_guess=$((bad_guess + 1)); echo "#   ticket $t: $st"; }
	elif [ "$st $(cat "$W/body")" != "$missing" ]; then
		bad_guess=$((bad_guess + 1))
		echo "#   ticket $t (${want:-missing}): $st $(head -c 200 "$W/body")"
	fi
done
for a in $(seq 1 "$max_a"); do
	get bert "/api/v1/tickets/$T_SOTEATT/attachments/$a" >"$W/st"
	[ "$(cat "$W/st") $(cat "$W/body")" = "$missing" ] ||
		{ bad_guess=$((bad_guess + 1)); echo "#   sote ticket, attachment $a: $(cat "$W/st")"; }
	[ "$a" = "$MANATT" ] && continue
	get bert "/api/v1/tickets/$T_MAN0/attachments/$a" >"$W/st"
	[ "$(cat "$W/st") $(cat "$W/body")" = "$missing" ] ||
		{ bad_guess=$((bad_guess + 1)); echo "#   ticket $T_MAN0, attachment $a: $(cat "$W/st")"; }
done
is "$bad_guess" 0 "bert: guessed numbers 1-$max_t and attachment ids 1-$max_a: hidden ones are the missing 404"
same=0
for ab in 'claim {}' 'note {"body": "x"}' 'status {"status": "open"}' 'reply {"body": "x"}'; do
	act=${ab%% *}
	body=${ab#* }
	[ "$body" = "{}" ] && body=
	code=$(req -H "$(auth bert)" -X POST ${body:+--data-binary "$body"} "/api/v1/tickets/$T_SOTE/$act")
	hidden="$code $(cat "$W/body")"
	code=$(req -H "$(auth bert)" -X POST ${body:+--data-binary "$body"} "/api/v1/tickets/999999/$act")
	if [ "$hidden" = "$code $(cat "$W/body")" ] && [ "$code" = 404 ]; then
		same=$((same + 1))
	else
		echo "#   $act: hidden: $hidden, missing: $code $(cat "$W/body")"
	fi
done
is "$same" 4 "bert: claim, note, status and reply on a sote ticket are the missing 404"
is "$(sql "SELECT count(*) FROM events WHERE ticket IN ($T_SOTE, $T_SOTEATT, $T_OMAOLO) AND actor = 'bert'")" \
	0 "bert's refused reads and actions wrote nothing"
refusals=
for what in 'what=ticket' 'what=attachment' 'action=claim'; do
	grep -E "event=(api_refused|access_denied)" "$STACK_LOG" | grep -E "(login|agent)=bert( |\$)" |
		grep -q "$what " && refusals="$refusals $what"
done
is "$refusals" " what=ticket what=attachment action=claim" \
	"the refusals (view, attachment, action) are logged"

# -- 6. bad input -------------------------------------------------------------------
t=$T_MAN0
code=$(post anna "/api/v1/tickets/$t/note" '{"body": ')
is "$code $(j "d['error'] != ''")" "400 true" "malformed JSON: 400 with a message"
code=$(post anna "/api/v1/tickets/$t/note" '["body"]')
is "$code" 400 "a JSON array for a body: 400"
head -c 70000 /dev/zero | tr '\0' a >"$W/big"
# Expect: 100-continue: the client waits for the server's answer to the
# headers, as a careful client does, instead of racing its own upload
# against the server's 413 and close.
code=$(req -H "$(auth anna)" -H 'Expect: 100-continue' --data-binary @"$W/big" \
	"/api/v1/tickets/$t/note")
is "$code" 413 "a body over max_body (64K): 413"
code=$(req /api/v1/me)
is "$code" 401 "no token: 401"
code=$(req -H "Authorization: Bearer sdt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" /api/v1/me)
is "$code" 401 "a bad token: 401"
c1=$(get gone /api/v1/me)
ctl token revoke gone >>"$W/ctl.log" 2>&1
c2=$(get gone /api/v1/me)
is "$c1 $c2" "200 401" "a token revoked while the daemon runs: 200 before, 401 after"
code=$(post anna "/api/v1/tickets/$t/status" '{"status": "open", "colour": "red"}')
is "$code $(j "d.get('field')")" "400 colour" "an unknown field: 400 naming it"
code=$(post anna "/api/v1/tickets/$t/status" '{"status": 3}')
is "$code $(j "d.get('field')")" "400 status" "a wrong type: 400 naming the field"
code=$(post anna "/api/v1/tickets/$t/status" '{"status": "done"}')
is "$code $(j "d.get('field')")" "422 status" "an unknown status value: 422 naming the field"
code=$(post anna "/api/v1/tickets/$t/classify" '{"sector": "avaruus"}')
is "$code $(j "d.get('field')")" "422 sector" "classify with an unknown sector: 422 naming it"
code=$(get anna '/api/v1/tickets?queue=nosuch')
r1="$code $(j "d.get('field')")"
code=$(get anna '/api/v1/tickets?colour=red')
is "$r1, $code $(j "d.get('field')")" "422 queue, 422 colour" \
	"listing: an unknown queue and an unknown parameter: 422 naming them"
is "$(sql "SELECT status || ' ' || (SELECT count(*) FROM messages WHERE ticket = $t) FROM tickets WHERE number = $t")" \
	"new 1" "the refused calls changed nothing"

# -- the backlog: an agent who comes online is offered what waited ----------
# r1-r3 go offline, two karstula mails arrive with nobody online in rr, then
# roff (offline until now) gets a token and calls in.
sql "UPDATE agents SET last_seen_at = now() - interval '1 hour' WHERE login IN ('r1', 'r2', 'r3')" >/dev/null
: >"$W/in.mbox"
for i in 1 2; do
	mail "e2e.backlog$i@karstula.fi" "Liisa Korhonen <liisa.korhonen$i@karstula.fi>" \
		"Tulostin ei tulosta taas ($i)" "Hei,

kunnanviraston tulostin ei tulosta taaskaan.$(sign 'Liisa Korhonen')"
done
dovecot_import_many test "$W/in.mbox" >"$W/import.log" 2>&1
backlog() { sql "SELECT count(*) || ' ' || coalesce(string_agg(a.login, ' ' ORDER BY t.number), '-')
	FROM messages m JOIN tickets t ON t.number = m.ticket LEFT JOIN agents a ON a.id = t.assignee
	WHERE m.message_id LIKE 'e2e.backlog%'"; }
stack_wait "SELECT count(*) FROM messages WHERE message_id LIKE 'e2e.backlog%'" 2 30 2>/dev/null
is "$(backlog) $(queue_of "$(tkt e2e.backlog1@karstula.fi)")" "2 - rr" \
	"backlog: with nobody online in rr the two rr tickets wait unassigned"
TOK[roff]=$(ctl token issue roff 2>>"$W/ctl.log" | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1)
get roff /api/v1/me >/dev/null
is "$(backlog)" "2 roff roff" "backlog: roff, coming online, is offered both by the queue's strategy"
is "$(sql "SELECT count(*) FROM events e JOIN messages m ON m.ticket = e.ticket WHERE e.kind = 'assign' AND m.message_id LIKE 'e2e.backlog%'")" \
	2 "backlog: each assignment is an event"
# roff at capacity: a third waits; when roff resolves one, it is offered again
sql "UPDATE agents SET max_open = 2 WHERE login = 'roff'" >/dev/null
: >"$W/in.mbox"
mail "e2e.backlog3@karstula.fi" "Liisa Korhonen <liisa.korhonen3@karstula.fi>" \
	"Tulostin ei tulosta taas (3)" "Hei,

kunnanviraston tulostin ei tulosta vieläkään.$(sign 'Liisa Korhonen')"
dovecot_import_many test "$W/in.mbox" >"$W/import.log" 2>&1
stack_wait "SELECT count(*) FROM messages WHERE message_id LIKE 'e2e.backlog%'" 3 30 2>/dev/null
is "$(backlog)" "3 roff roff" "backlog: with roff at max_open the third waits unassigned"
code=$(post roff "/api/v1/tickets/$(tkt e2e.backlog1@karstula.fi)/status" '{"status": "resolved"}')
is "$code $(backlog)" "200 3 roff roff roff" \
	"backlog: roff resolving one is offered the third, his load down again"

kill -0 "$STACK_DAEMON_PID" 2>/dev/null
ok $? "the daemon is still running"
if [ "$failed" -gt 0 ]; then
	grep -v 'status=200' "$STACK_LOG" | tail -30 | sed 's/^/# daemon: /'
fi
daemon_stop
echo "1..$n"
exit 0
