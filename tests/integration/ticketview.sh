#!/bin/bash
# ticketview: the read side of the agents' API (GET /api/v1/tickets,
# /tickets/N, /tickets/N/attachments/ID) through tests/integration/api-call
# against a private PostgreSQL: the access matrix (sote clearance, queue,
# municipality and sector restrictions; guessed numbers and attachment ids
# answer the very 404 of a missing ticket), the audit 'read' events of
# sensitive reads, the filters, parameter validation, full-text search and
# cursor pagination returning every row once.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/tests/lib/pg.sh"

CTL=$top_builddir/seutudeskctl
CALL=$top_builddir/tests/integration/api-call
. "$top_srcdir/tests/lib/tap.sh"

if [ ! -x "$CTL" ] || [ ! -x "$CALL" ]; then
	echo "1..0 # SKIP $CTL or $CALL not built"
	exit 0
fi
if ! command -v python3 >/dev/null; then
	echo "1..0 # SKIP no python3 to read JSON"
	exit 0
fi
if ! pg_start 2>"${TMPDIR:-/tmp}/ticketview-pg.$$"; then
	echo "1..0 # SKIP no private PostgreSQL: $(head -1 "${TMPDIR:-/tmp}/ticketview-pg.$$")"
	rm -f "${TMPDIR:-/tmp}/ticketview-pg.$$"
	exit 0
fi
rm -f "${TMPDIR:-/tmp}/ticketview-pg.$$"
W=$PG_DIR/work
mkdir -p "$W"

db=$(pg_createdb tv) || exit 1
if ! "$CTL" migrate --sql-dir "$top_srcdir/sql" --database "$db" >"$W/migrate.out" 2>&1; then
	echo "1..0 # SKIP migrate failed: $(tail -1 "$W/migrate.out")"
	exit 0
fi
cat >"$W/t.conf" <<CONF
[daemon]
rules_dir = $top_srcdir/contrib/rules.d

[database]
conninfo = $db
CONF
sql() { pg_psql -d tv -c "$1"; }

# Tickets: 1 sote (with an attachment), 2 education/karstula, 3 workstations
# assigned to ville, 4 closed, 5 viitasaari/tekninen, 6 unclassified in
# triage; 101-140 in queue 'paging' with spread due times (some none, some
# equal) for pagination.
sql "
INSERT INTO queues (id, name) VALUES ('sote', 'Sote'), ('education', 'Education'),
	('workstations', 'Workstations'), ('paging', 'Paging');
INSERT INTO agents (login, name, email, queues, municipalities, sectors, sote) VALUES
	('anna', 'Anna', 'anna@seutu.fi', NULL, NULL, NULL, false),
	('sara', 'Sara', 'sara@seutu.fi', NULL, NULL, NULL, true),
	('kalle', 'Kalle', 'kalle@seutu.fi', '{workstations}', NULL, NULL, false),
	('mia', 'Mia', 'mia@seutu.fi', NULL, '{viitasaari}', NULL, true),
	('sami', 'Sami', 'sami@seutu.fi', NULL, NULL, '{sivistys}', false),
	('ville', 'Ville', 'ville@seutu.fi', NULL, NULL, NULL, false);
INSERT INTO agents (login, name, email, active) VALUES ('olli', 'Olli', 'olli@seutu.fi', false);
INSERT INTO tickets (number, requester_address, subject, municipality, sector, category,
	priority, status, queue, assignee, due_first_response, due_resolution, created_at)
OVERRIDING SYSTEM VALUE VALUES
	(1, 'hoitaja@saarijarvi.fi', 'Potilastietojärjestelmä ei aukea', 'saarijarvi', 'sote',
		'ohjelmisto', 'high', 'open', 'sote', NULL, now() - interval '1 hour',
		now() + interval '1 day', now() - interval '2 hours'),
	(2, 'opettaja@karstula.fi', 'Wilma kirjautuminen', 'karstula', 'sivistys', 'tunnukset',
		'normal', 'new', 'education', NULL, now() + interval '1 hour', now() + interval '2 days',
		now() - interval '1 hour'),
	(3, 'sihteeri@saarijarvi.fi', 'Tulostin jumissa', 'saarijarvi', 'keskushallinto',
		'tulostus', 'normal', 'open', 'workstations',
		(SELECT id FROM agents WHERE login = 'ville'), now() + interval '1 hour',
		now() - interval '1 minute', now() - interval '3 days'),
	(4, 'insinoori@viitasaari.fi', 'Vanha asia', 'viitasaari', 'tekninen', NULL, 'low',
		'closed', 'workstations', NULL, NULL, now() - interval '9 days', now() - interval '10 days'),
	(5, 'insinoori@viitasaari.fi', 'Kaavoitus ohjelma', 'viitasaari', 'tekninen', 'ohjelmisto',
		'normal', 'open', 'workstations', NULL, NULL, now() + interval '5 days', now()),
	(6, 'joku@example.com', 'Apua', NULL, NULL, NULL, 'normal', 'new', 'triage', NULL, NULL,
		NULL, now());
INSERT INTO tickets (number, requester_address, subject, status, queue, due_resolution)
OVERRIDING SYSTEM VALUE
SELECT 100 + i, 'p' || i || '@example.com', 'Sivutus ' || i, 'open', 'paging',
	CASE WHEN i % 7 = 0 THEN NULL ELSE now() + (1 + i % 5) * interval '1 hour' END
FROM generate_series(1, 40) i;
SELECT setval('tickets_number_seq', 200);
INSERT INTO messages (ticket, direction, message_id, from_address, subject, body) VALUES
	(1, 'in', 'm1@saarijarvi.fi', 'hoitaja@saarijarvi.fi', 'Potilastietojärjestelmä ei aukea',
		'Lifecare kaatuu kirjautuessa, henkilötunnus 010101-123A näkyy ruudulla'),
	(1, 'out', 'm1r@seutu.fi', 'tuki@seutu.fi', 'Re: Potilastietojärjestelmä ei aukea',
		'Katsomme asiaa'),
	(2, 'in', 'm2@karstula.fi', 'opettaja@karstula.fi', 'Wilma kirjautuminen',
		'Salasana vanhentunut, Wilma ei päästä sisään'),
	(3, 'in', 'm3@saarijarvi.fi', 'sihteeri@saarijarvi.fi', 'Tulostin jumissa',
		'Paperi juuttui kakkoskerroksen tulostimeen');
INSERT INTO attachments (message, filename, content_type, size, content)
SELECT id, 'lokit.txt', 'text/plain; charset=utf-8', 12, convert_to(E'sote-lokit\n!', 'UTF8')
FROM messages WHERE message_id = 'm1@saarijarvi.fi';
INSERT INTO attachments (message, filename, content_type, size, content)
SELECT id, 'tulostin\"/kuva.png', 'image/png', 4, '\\x89504e47'::bytea
FROM messages WHERE message_id = 'm3@saarijarvi.fi';
INSERT INTO events (ticket, actor, kind) VALUES (1, 'intake', 'ticket_created');
INSERT INTO sla_timers (ticket, kind, policy, calendar, target, warn_after, started_at, due_at,
	breached_at)
VALUES (2, 'first_response', 'p', '24x7', 60, 30, now() - interval '1 hour', now(), now());
" >/dev/null || { echo "1..0 # SKIP seeding failed"; exit 0; }
att1=$(pg_psql -d tv -c "SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message WHERE m.ticket = 1")
att3=$(pg_psql -d tv -c "SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message WHERE m.ticket = 3")
reads() { pg_psql -d tv -c "SELECT count(*) FROM events WHERE kind = 'read' AND ticket = $1 AND actor = '$2'"; }

# call LOGIN PATH: the status into $W/status, the body into $W/body.
call() {
	"$CALL" "$W/t.conf" "$1" GET "$2" >"$W/out" 2>"$W/err"
	head -1 "$W/out" >"$W/status"
	tail -n +2 "$W/out" >"$W/body"
}
status() { cat "$W/status"; }
# j EXPR: a Python expression over the body's JSON d.
j() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$W/body" 2>&1; }
numbers() { j "' '.join(str(t['number']) for t in d['tickets'])"; }

# -- the access matrix --------------------------------------------------------------
call anna '/api/v1/tickets?status=new,open,pending,resolved,closed&limit=200'
is "$(status)" 200 "anna lists"
case " $(numbers) " in *" 1 "*) ok 1 "anna's listing leaves out the sote ticket" ;;
*) ok 0 "anna's listing leaves out the sote ticket" ;; esac
call anna '/api/v1/tickets?queue=sote'
is "$(status) $(numbers)" "200 " "anna: the sote queue is empty to her"
call anna '/api/v1/tickets?sector=sote'
is "$(status) $(numbers)" "200 " "anna: the sote sector is empty to her"
call anna '/api/v1/tickets?q=lifecare'
is "$(status) $(numbers)" "200 " "anna: searching a sote message body finds nothing"
call anna '/api/v1/tickets?q=potilastieto'
is "$(status) $(numbers)" "200 " "anna: searching a sote subject finds nothing"

call anna /api/v1/tickets/999999
missing_status=$(status)
missing_body=$(cat "$W/body")
is "$missing_status" 404 "a missing ticket is 404"
call anna /api/v1/tickets/1
is "$(status)" 404 "anna: the sote ticket is 404"
is "$(cat "$W/body")" "$missing_body" "anna: ... with the body of a missing ticket"
call anna "/api/v1/tickets/1/attachments/$att1"
is "$(status) $(cat "$W/body")" "404 $missing_body" "anna: its attachment is the same 404"
call anna "/api/v1/tickets/3/attachments/$att1"
is "$(status) $(cat "$W/body")" "404 $missing_body" \
	"anna: the sote attachment id under a ticket she sees is the same 404"
call anna "/api/v1/tickets/999999/attachments/$att1"
is "$(status) $(cat "$W/body")" "404 $missing_body" "a missing ticket's attachment: same 404"
call anna "/api/v1/tickets/3/attachments/999999"
is "$(status) $(cat "$W/body")" "404 $missing_body" "a missing attachment id: same 404"
is "$(reads 1 anna)" 0 "refused reads write no read event"
call anna /api/v1/tickets/1
grep -q 'event=api_refused what=ticket .*login=anna ticket=1 ' "$W/err"
ok $? "a refusal is logged"
call anna /api/v1/tickets/999999
grep -q 'event=api_refused' "$W/err"
ok $((!$?)) "a missing ticket is no refusal"

call sara /api/v1/tickets
case " $(numbers) " in *" 1 "*) ok 0 "sara (cleared) lists the sote ticket" ;;
*) ok 1 "sara (cleared) lists the sote ticket" ;; esac
call sara '/api/v1/tickets?q=lifecar'
is "$(numbers)" 1 "sara: a prefix of a body word finds it"
call sara '/api/v1/tickets?q=POTILASTIETO%20aukea'
is "$(numbers)" 1 "sara: subject words, any case, all required"
call sara '/api/v1/tickets?q=potilastieto%20wilma'
is "$(numbers)" "" "sara: words of different tickets find neither"
call sara /api/v1/tickets/1
is "$(status)" 200 "sara reads the sote ticket"
is "$(j "[m['body'][:8] for m in d['messages']], d['sensitive'], [a['filename'] for a in d['attachments']]")" \
	"['Lifecare', 'Katsomme'] True ['lokit.txt']" "... with messages in order and attachment metadata"
is "$(j "d['events'][0]['kind'], d['classification'], d['queue']")" "ticket_created {} sote" \
	"... events and classification"
is "$(reads 1 sara)" 1 "sara's read wrote an audit event"
call sara "/api/v1/tickets/1/attachments/$att1"
is "$(status)" 200 "sara fetches the sote attachment"
is "$(tail -n +2 "$W/out")" "$(printf 'sote-lokit\n!')" "... its bytes"
grep -q '^content-type: text/plain$' "$W/err" && grep -q '^filename: lokit.txt$' "$W/err"
ok $? "... its type (parameters left out) and name"
is "$(reads 1 sara)" 2 "... and the attachment read is audited too"
is "$(pg_psql -d tv -c "SELECT data->>'attachment' FROM events WHERE kind = 'read' AND actor = 'sara' ORDER BY id DESC LIMIT 1")" \
	"$att1" "... naming the attachment"

# A ticket's sensitivity is its sector's, kept by triggers (010_sensitive.sql):
# a reclassified ticket and a sector made sensitive carry it along.
sens() { pg_psql -d tv -c "SELECT string_agg(number || ':' || sensitive, ' ' ORDER BY number) FROM tickets WHERE number IN (1, 2)"; }
is "$(sens)" "1:true 2:false" "sensitive: the sote ticket is, the education one is not"
sql "UPDATE tickets SET sector = 'sivistys' WHERE number = 1; UPDATE sectors SET sensitive = true WHERE id = 'sivistys'" >/dev/null
is "$(sens)" "1:true 2:true" "... a sector made sensitive makes its tickets so, and a ticket moved into it"
call anna /api/v1/tickets
case " $(numbers) " in *" 1 "* | *" 2 "*) ok 1 "... anna lists neither" ;; *) ok 0 "... anna lists neither" ;; esac
sql "UPDATE sectors SET sensitive = false WHERE id = 'sivistys'; UPDATE tickets SET sector = 'sote' WHERE number = 1" >/dev/null
is "$(sens)" "1:true 2:false" "... and back"
call anna "/api/v1/tickets/3/attachments/$att3"
is "$(status)" 200 "anna fetches a plain attachment"
grep -q '^filename: tulostin__kuva.png$' "$W/err"
ok $? "... its name cleaned of quotes and slashes"
is "$(pg_psql -d tv -c "SELECT count(*) FROM events WHERE kind = 'read'")" 2 \
	"non-sensitive reads write no read event"

call kalle '/api/v1/tickets?status=new,open,pending,resolved,closed'
is "$(numbers)" "4 3 5" "kalle (workstations only) lists the workstations queue"
call kalle /api/v1/tickets/2
is "$(status) $(cat "$W/body")" "404 $missing_body" "kalle: another queue's ticket is 404"
call mia '/api/v1/tickets?status=new,open,pending,resolved,closed&limit=200'
is "$(j "sorted(set(str(t['municipality']) for t in d['tickets']))")" "['None', 'viitasaari']" \
	"mia (viitasaari) sees viitasaari and unclassified tickets"
call mia /api/v1/tickets/3
is "$(status)" 404 "mia: a saarijarvi ticket is 404"
call sami '/api/v1/tickets?queue=education,workstations'
is "$(numbers)" "2" "sami (sivistys) sees sivistys, not keskushallinto/tekninen"
call olli /api/v1/tickets
is "$(status)" "" "a disabled agent is no caller at all (api-call refuses)"

# -- filters and validation ---------------------------------------------------------
call anna '/api/v1/tickets?status=closed'
is "$(numbers)" 4 "status=closed"
call ville '/api/v1/tickets?assignee=me'
is "$(numbers)" 3 "assignee=me"
ville=$(pg_psql -d tv -c "SELECT id FROM agents WHERE login = 'ville'")
call anna "/api/v1/tickets?assignee=$ville"
is "$(numbers)" 3 "assignee=ID"
call anna '/api/v1/tickets?assignee=none&queue=workstations'
is "$(numbers)" 5 "assignee=none"
call anna '/api/v1/tickets?municipality=karstula'
is "$(numbers)" 2 "municipality"
call anna '/api/v1/tickets?municipality=unknown&sector=unknown&queue=triage'
is "$(numbers)" 6 "municipality=unknown, sector=unknown"
call anna '/api/v1/tickets?sector=sivistys,tekninen'
is "$(numbers)" "2 5" "a sector list"
call sara '/api/v1/tickets?breaching=1'
is "$(numbers)" "3 1 2" "breaching=1: resolution passed, first response passed, a breached timer"
is "$(j "[(t['number'], t['breached']['first_response'], t['breached']['resolution']) for t in d['tickets']]")" \
	"[(3, False, True), (1, True, False), (2, True, False)]" "... and their breached flags"
call anna '/api/v1/tickets?breaching=0&queue=workstations'
is "$(numbers)" 5 "breaching=0"
call ville /api/v1/tickets/3
is "$(j "d['assignee']['login'], d['requester']['address'], type(d['age']).__name__")" \
	"ville sihteeri@saarijarvi.fi int" "an item's assignee, requester and age"

bad() { # bad PATH FIELD STATUS DESCRIPTION
	call anna "$1"
	is "$(status) $(j "d.get('field')")" "${3:-422} $2" "$4"
}
bad '/api/v1/tickets?limit=0' limit 422 "limit=0 is refused, naming limit"
bad '/api/v1/tickets?limit=201' limit 422 "limit over 200"
bad '/api/v1/tickets?limit=1x' limit 422 "limit not a number"
bad '/api/v1/tickets?status=open,bogus' status 422 "an unknown status"
bad '/api/v1/tickets?status=' status 422 "an empty status"
bad '/api/v1/tickets?assignee=someone' assignee 422 "assignee not me/none/id"
bad '/api/v1/tickets?breaching=yes' breaching 422 "breaching not 1/0"
bad '/api/v1/tickets?cursor=abc' cursor 422 "a malformed cursor"
bad '/api/v1/tickets?cursor=99999999999999999999.1' cursor 422 "a cursor out of range"
bad '/api/v1/tickets?queue=nosuch' queue 422 "an unknown queue"
bad '/api/v1/tickets?municipality=Helsinki' municipality 422 "a malformed municipality"
bad '/api/v1/tickets?sector=nosuch' sector 422 "an unknown sector"
bad '/api/v1/tickets?q=%2B%2B%2B' q 422 "a search without words"
bad "/api/v1/tickets?q=$(printf 'a%.0s' $(seq 1 201))" q 422 "a search text too long"
bad '/api/v1/tickets?colour=red' colour 422 "an unknown parameter"
bad '/api/v1/tickets/3?x=1' x 422 "an unknown parameter of the view"
call anna "/api/v1/tickets?q=tulost%20%26%20%7C%20!%20%27%20%5C%20(%3A*"
is "$(status) $(numbers)" "200 3" "search text with tsquery syntax is taken as words"

# -- pagination ----------------------------------------------------------------------
want=$(pg_psql -d tv -c "SELECT string_agg(number::text, ' ' ORDER BY due_resolution NULLS LAST, number) FROM tickets WHERE queue = 'paging'")
got=
cursor=
pages=0
while :; do
	call anna "/api/v1/tickets?queue=paging&limit=7${cursor:+&cursor=$cursor}"
	[ "$(status)" = 200 ] || break
	got="$got $(numbers)"
	pages=$((pages + 1))
	cursor=$(j "d['next_cursor'] or ''")
	[ -n "$cursor" ] && [ "$pages" -lt 20 ] || break
done
got=${got# }
is "$got" "$want" "pagination returns every row once, in SLA order (ties and no due included)"
is "$pages" 6 "... in 6 pages of 7"
call anna '/api/v1/tickets?queue=paging&limit=40'
is "$(j "d['next_cursor']")" None "no next cursor after the last page"

echo "1..$n"
[ "$failed" = 0 ]
