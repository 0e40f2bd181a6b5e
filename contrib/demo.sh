#!/bin/bash
# The demo, all private and on loopback: installs what is missing (as root on
# Debian 12), builds seutudesk, and brings up a PostgreSQL cluster, a Dovecot
# IMAP server with the sample mails of contrib/samples in the support
# mailbox, an SMTP server that receives the acknowledgements, the daemon,
# and the web chat: the bridge seutudesk-webchat and a member's page
# (contrib/webchat-demo.html) that embeds its widget, each on a loopback
# port of its own.  An agent sets the sector of the samples whose sector the
# rules leave unknown, through the API, so that the daemon learns from it
# (the second stage, seutudeskctl rules suggest).  It prints what happened
# and leaves everything running.
#
#   bash contrib/demo.sh         start (a running demo is stopped first)
#   bash contrib/demo.sh stop    stop it and remove its files
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/_build/demo
state=${SEUTUDESK_DEMO_DIR:-/tmp/seutudesk-demo}

demo_stop() {
	[ -f "$state/env" ] || return 0
	# shellcheck disable=SC1091
	. "$state/env"
	# The web chat first: the agent kept online, the page, the bridge.
	[ -n "${PRESENCE_PID:-}" ] && kill -- "-$PRESENCE_PID" 2>/dev/null
	[ -n "${PAGE_PID:-}" ] && kill "$PAGE_PID" 2>/dev/null
	[ -n "${BRIDGE_PID:-}" ] && kill "$BRIDGE_PID" 2>/dev/null
	[ -f "$STACK_DIR/seutudeskd.pid" ] && kill "$(cat "$STACK_DIR/seutudeskd.pid")" 2>/dev/null
	[ -n "${SMTP_PID:-}" ] && kill "$SMTP_PID" 2>/dev/null
	[ -n "${DOVECOT_CONF:-}" ] && doveadm -c "$DOVECOT_CONF" stop 2>/dev/null
	[ -n "${PG_DATA:-}" ] && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PG_DATA" \
		-m fast -w stop >/dev/null 2>&1
	rm -rf "$STACK_DIR" "$DOVECOT_DIR" "$SMTP_DIR" "$PG_DIR" "$state"
	echo "The demo is stopped."
}

if [ "${1:-start}" = stop ]; then
	demo_stop
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: run it as root (it installs packages and starts private servers)" >&2
	exit 1
fi
demo_stop >/dev/null

sh "$top/contrib/debian-deps.sh"
echo "==> building in $build"
(cd "$top" && autoreconf -fi >/dev/null 2>&1)
mkdir -p "$build"
(cd "$build" && "$top/configure" -q && make -s -j2 >/dev/null)

echo "==> starting PostgreSQL, Dovecot and an SMTP server on loopback"
export top_srcdir=$top top_builddir=$build
export PG_NO_WATCHDOG=1 STACK_KEEP=1
mkdir -p "$state"
# The agents' API on a loopback port with a certificate of its own.
. "$top/tests/lib/tls.sh"
tls_cert "$state" 30
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
api_port=8443
while port_busy $api_port; do api_port=$((api_port + 1)); done
# The web chat bridge and the member's page (PostgreSQL, Dovecot and the
# SMTP server take ports of 20000-40000).
chat_port=8480
while port_busy $chat_port || [ $chat_port = $api_port ]; do chat_port=$((chat_port + 1)); done
page_port=8080
while port_busy $page_port || [ $page_port = $api_port ] || [ $page_port = $chat_port ]; do
	page_port=$((page_port + 1))
done
# The region's queues, routes and SLA policies of the example config, and the API.
STACK_EXTRA_CONF="$(awk '/^\[(queue|route|sla) / { on = 1 } /^\[(mailbox|calendar|daemon|api)/ { on = 0 }
	/^# \[/ { on = 0 } on' "$top/contrib/seutudesk.conf.example")
[api]
listen = 127.0.0.1:$api_port
cert_file = $state/cert.pem
key_file = $state/key.pem

# The chat is staffed whenever an agent is online, at any hour of the demo.
[bridge]
calendar = 24x7

# The cost split among the members (seutudesk report costs): logged work at 65 euros an hour.
[costs]
population_weight = 50
users_weight = 25
workstations_weight = 25
hourly_rate = 65.00
currency = EUR
"
export STACK_EXTRA_CONF
set +eu
# shellcheck disable=SC1091
. "$top/tests/lib/stack.sh"
stack_start || { echo "demo.sh: the servers did not start" >&2; stack_cleanup; exit 1; }
trap - EXIT INT TERM # from here on everything keeps running
{
	for v in STACK_DIR STACK_CONF STACK_LOG PG_DIR PG_DATA DOVECOT_DIR DOVECOT_CONF SMTP_DIR \
		SMTP_PID SMTP_MAILDIR; do
		printf '%s=%q\n' "$v" "${!v}"
	done
} >"$state/env"

echo "==> delivering $(ls "$top"/contrib/samples/*.eml | wc -l) sample mails to the support mailbox"
for f in "$top"/contrib/samples/*.eml; do dovecot_deliver test "$f"; done
setsid "$build/seutudeskd" -f -c "$STACK_CONF" >>"$STACK_LOG" 2>&1 </dev/null &
total=$(ls "$top"/contrib/samples/*.eml | wc -l)
stack_wait "SELECT count(*) FROM intake_log" "$total" 60
stack_wait "SELECT count(*) FROM outbox WHERE status <> 'sent'" 0 60

echo
echo "==> tickets"
stack_sql "SELECT format('%5s  %-11s %-15s %-10s %-8s %-4s %s', number, coalesce(municipality, 'unknown'),
	coalesce(sector, 'unknown'), coalesce(category, 'unknown'), priority, lang, left(subject, 50))
	FROM tickets ORDER BY number"
echo
echo "==> tickets per queue (the [route] sections of contrib/seutudesk.conf.example)"
stack_sql "SELECT format('%5s  %s', n, queue) FROM (SELECT count(*) AS n, queue FROM tickets
	GROUP BY queue) q ORDER BY n DESC, queue"
echo
echo "==> tickets per municipality and sector"
stack_sql "SELECT format('%5s  %-11s %s', n, m, s) FROM (SELECT count(*) AS n,
	coalesce(municipality, 'unknown') AS m, coalesce(sector, 'unknown') AS s
	FROM tickets GROUP BY 2, 3) t ORDER BY n DESC, m, s"
echo
echo "==> what the intake did with each mail"
stack_sql "SELECT format('%5s  %-13s %s', uid, outcome,
	concat_ws('; ', 'ticket ' || ticket, nullif(left(reason, 60), ''))) FROM intake_log ORDER BY uid"
echo
echo "==> acknowledgements: $(smtp_count) delivered to the SMTP server ($SMTP_MAILDIR/new)"
# the subjects decoded (RFC 2047), as a mail program shows them
/usr/bin/python3 -c '
import email, email.header, sys
for f in sys.argv[1:4]:
    m = email.message_from_binary_file(open(f, "rb"))
    print("    Subject: " + str(email.header.make_header(email.header.decode_header(m["Subject"] or ""))))
' $(ls "$SMTP_MAILDIR"/new/* | head -3)
echo
echo "==> the classifier's decision on each sample (seutudeskctl classify --table)"
"$build/seutudeskctl" classify --rules "$top/contrib/rules.d" --table "$top"/contrib/samples/*.eml

# Two agents: Aino sees everything (cleared for sote), Olli all but sote.
ctl() { "$build/seutudeskctl" -c "$STACK_CONF" "$@"; }
ctl agent add aino --name "Aino Agentti" --email aino@seutu-it.fi --role lead --sote >/dev/null
ctl agent add olli --name "Olli Operaattori" --email olli@seutu-it.fi >/dev/null
ctl token issue aino 2>/dev/null >"$state/aino.token"
ctl token issue olli 2>/dev/null >"$state/olli.token"
chmod 0600 "$state"/*.token
echo
echo "==> the queue as agent aino sees it (seutudesk list)"
SEUTUDESK_URL=https://127.0.0.1:$api_port SEUTUDESK_CA=$state/cert.pem \
	SEUTUDESK_TOKEN=$(cat "$state/aino.token") "$build/seutudesk" list --limit 15

# The managers' reports: Tuula manages the pool (every member), Maija
# Kinnula's share of it (her reports show Kinnula alone).  The members'
# figures for this year (the region's populations; users and workstations
# as a member might report them; Saarikka's people live in its members) and
# the pool's shared cost of the year give the costs report something to
# split; aino answers two tickets and logs work on one, so that the SLA
# report has met timers besides the running ones.
ctl agent add maija --name "Maija Mäkinen" --email maija@kinnula.fi --role manager \
	--municipalities kinnula --organisation kinnula >/dev/null
ctl agent add tuula --name "Tuula Seutu" --email tuula@seutu-it.fi --role manager >/dev/null
ctl token issue maija 2>/dev/null >"$state/maija.token"
ctl token issue tuula 2>/dev/null >"$state/tuula.token"
chmod 0600 "$state/maija.token" "$state/tuula.token"
year=$(TZ=Europe/Helsinki date +%Y)
month_from=$(TZ=Europe/Helsinki date +%Y-%m-01)
month_to=$(TZ=Europe/Helsinki date -d "$month_from +1 month -1 day" +%Y-%m-%d)
while read -r m pop users ws; do
	ctl org set "$m" --year "$year" --population "$pop" --users "$users" --workstations "$ws" >/dev/null
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
ctl cost add pool "$year" 480000.00 "Seutu-IT: henkilöstö, lisenssit ja palvelimet" >/dev/null
aino() {
	SEUTUDESK_URL=https://127.0.0.1:$api_port SEUTUDESK_CA=$state/cert.pem \
		SEUTUDESK_TOKEN=$(cat "$state/aino.token") "$build/seutudesk" "$@"
}
first=$(stack_sql "SELECT min(number) FROM tickets WHERE municipality = 'karstula'")
second=$(stack_sql "SELECT min(number) FROM tickets WHERE municipality = 'kinnula'")
[ -n "$first" ] && printf 'Hei,\n\ntulostin toimii taas.\n\nSeutu-IT, Aino\n' |
	aino reply "$first" --file - --status resolved >/dev/null 2>&1
[ -n "$second" ] && printf 'Hello,\n\nwe are looking into it.\n\nSeutu-IT, Aino\n' |
	aino reply "$second" --file - >/dev/null 2>&1
[ -n "$second" ] && curl -s -o /dev/null --max-time 10 --cacert "$state/cert.pem" \
	-H "Authorization: Bearer $(cat "$state/aino.token")" -H 'Content-Type: application/json' \
	--data '{"minutes": 45, "note": "Etätuki"}' "https://127.0.0.1:$api_port/api/v1/tickets/$second/worklog"

# Learning from the agents' work: the rules leave the sector of samples
# 11-34 unknown (the land survey's maps and instruments, the sports halls'
# bookings and gym cards: services no sector rule names yet).  Aino sets it
# through the API as she triages them (11-22 tekninen, 23-34 sivistys) and
# resolves the tickets whose sector the rules decided (but the one she is
# still working on): each is a labelled example, 30 in all, as many as the
# model needs of a field (LEARN_MIN_EXAMPLES in daemon/learn.h).  The daemon reloads its model within a couple of seconds; then
# the second stage decides such mails, and seutudeskctl rules suggest
# prints rule lines for the words that told the sectors apart.
api() { # api PATH JSON: prints the HTTP status
	curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$state/cert.pem" \
		-H "Authorization: Bearer $(cat "$state/aino.token")" -H 'Content-Type: application/json' \
		--data "$2" "https://127.0.0.1:$api_port/api/v1/$1"
}
taught=0 resolved=0 failed=0
for t in $(stack_sql "SELECT number FROM tickets WHERE sector IS NOT NULL AND status <> 'resolved'
	AND number <> ${second:-0} ORDER BY number"); do
	if [ "$(api "tickets/$t/status" '{"status": "resolved"}')" = 200 ]; then
		resolved=$((resolved + 1))
	else
		failed=$((failed + 1))
	fi
done
for n in $(seq 11 34); do
	t=$(stack_sql "SELECT ticket FROM messages WHERE message_id LIKE 'sample-$n@%' AND direction = 'in'")
	[ -n "$t" ] || continue
	if [ "$n" -le 22 ]; then s=tekninen; else s=sivistys; fi
	if [ "$(api "tickets/$t/classify" "{\"sector\": \"$s\"}")" = 200 ]; then
		taught=$((taught + 1))
	else
		failed=$((failed + 1))
	fi
done
examples=$(stack_sql "SELECT count(*) FROM learn_examples WHERE field = 'sector'")
# The daemon logs each model it loads (its examples of every field): wait
# for the one with all of these.
all=$(stack_sql "SELECT count(*) FROM learn_examples")
loaded=
for _ in $(seq 100); do
	loaded=$(grep -o 'event=learn_loaded examples=[0-9]* sector_threshold=[0-9.]* sector_covered=[0-9]*' \
		"$STACK_LOG" | tail -1)
	case $loaded in *" examples=$all "*) break ;; esac
	sleep 0.1
done
echo
echo "==> learning from the agents' work: aino set the sector of $taught tickets the rules left"
echo "    unknown (seutudesk's API: POST /api/v1/tickets/N/classify) and resolved $resolved others"
[ "$failed" = 0 ] || echo "    ($failed of the API calls failed: see $STACK_LOG)"
echo "    $examples sector examples; the daemon's model: ${loaded#event=learn_loaded }"
echo
echo "==> two new mails of the same kinds (contrib/samples/new): the rules say unknown, the"
echo "    second stage decides (* marks it; seutudeskctl classify --learned)"
ctl classify --rules "$top/contrib/rules.d" --learned --table "$top"/contrib/samples/new/*.eml
echo
echo "==> rule lines learned from them (seutudeskctl rules suggest --field sector --min-tickets 5)"
ctl rules suggest --field sector --min-tickets 5 | sed 's/^/    /'

# The web chat: the bridge in the daemon with a token of its own, the bridge
# on a loopback port against the agents' API, and the member's page on
# another, the only origin the bridge lets use its visitor API (with
# localhost for it).  Agent aino is kept online by an event stream held
# open for two hours, so that the widget shows the chat open; after that it
# shows it closed until an agent opens the terminal client.  Each of the
# three runs in a session of its own, and demo.sh stop ends them by their ids.
ctl bridge add webchat --kind webchat >/dev/null 2>"$state/ctl.log" || cat "$state/ctl.log" >&2
(umask 077 && ctl token issue --bridge webchat 2>/dev/null >"$state/webchat.token")
mkdir -p "$state/www"
sed "s|@BRIDGE@|http://127.0.0.1:$chat_port|g" "$top/contrib/webchat-demo.html" >"$state/www/index.html"
: >"$state/www/favicon.ico"
setsid "$build/seutudesk-webchat" --listen "127.0.0.1:$chat_port" \
	--daemon "https://127.0.0.1:$api_port" --ca "$state/cert.pem" --token-file "$state/webchat.token" \
	--www "$top/bridges/webchat/www" --origin "http://127.0.0.1:$page_port" \
	--origin "http://localhost:$page_port" --max-streams 256 \
	>"$state/webchat.log" 2>&1 </dev/null &
BRIDGE_PID=$!
setsid /usr/bin/python3 -m http.server "$page_port" --bind 127.0.0.1 --directory "$state/www" \
	>"$state/page.log" 2>&1 </dev/null &
PAGE_PID=$!
(umask 077 && printf 'Authorization: Bearer %s\n' "$(cat "$state/aino.token")" >"$state/aino.header")
# shellcheck disable=SC2016
setsid bash -c 'end=$((SECONDS + 7200))
	while [ $SECONDS -lt $end ]; do
		curl -sN --max-time $((end - SECONDS)) --cacert "$1" -H "@$2" "$3" >/dev/null 2>&1
		sleep 5
	done' presence "$state/cert.pem" "$state/aino.header" "https://127.0.0.1:$api_port/api/v1/events" \
	>/dev/null 2>&1 </dev/null &
PRESENCE_PID=$!
printf '%s=%q\n' BRIDGE_PID "$BRIDGE_PID" PAGE_PID "$PAGE_PID" PRESENCE_PID "$PRESENCE_PID" >>"$state/env"
chat_status=
for _ in $(seq 50); do
	chat_status=$(curl -s --max-time 5 -H "Origin: http://127.0.0.1:$page_port" \
		"http://127.0.0.1:$chat_port/chat/v1/status?site=kinnula") && port_busy "$page_port" && break
	chat_status=
	sleep 0.2
done
echo
echo "==> the web chat: seutudesk-webchat on 127.0.0.1:$chat_port, Kinnula's page on 127.0.0.1:$page_port"
echo "    bridge webchat added in the daemon, its token in $state/webchat.token (mode 0600)"
if [ -z "$chat_status" ]; then
	echo "    the bridge or the page did not answer: see $state/webchat.log and $state/page.log"
elif [ "$(jq -r .open <<<"$chat_status" 2>/dev/null)" = true ]; then
	echo "    the chat is open: agent aino is online (kept online for 2 hours)"
else
	echo "    the chat shows closed (no agent online): it takes the question and asks for an e-mail"
fi
# The newest sign-in link of the report pages among the mails the demo's
# SMTP server kept (quoted-printable, so read with Python's email module).
cat >"$state/signin-link" <<EOF
#!/bin/sh
exec /usr/bin/python3 - "$SMTP_MAILDIR/new" <<'PY'
import email, email.policy, glob, os, re, sys
links = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*")), key=os.path.getmtime):
    with open(f, "rb") as fp:
        body = email.message_from_binary_file(fp, policy=email.policy.default).get_body(("plain",))
    if body is not None:
        links += re.findall(r"https://\\S+/reports/auth\\?\\S+", body.get_content())
print(links[-1] if links else "no sign-in link yet: ask for one on the page")
PY
EOF
chmod 0755 "$state/signin-link"
echo
cat <<EOF
The demo keeps running: seutudeskd picks up new mail at once (IMAP IDLE).
  Open the queue (agent aino, cleared for sote; olli.token for one who is not):
    SEUTUDESK_URL=https://127.0.0.1:$api_port SEUTUDESK_CA=$state/cert.pem \\
    SEUTUDESK_TOKEN=\$(cat $state/aino.token) $build/seutudesk
  Web chat:       http://127.0.0.1:$page_port/  (Kinnulan kunta's page; the chat button is
    at the bottom right).  A question there becomes a ticket with channel chat; answer
    it as aino in the client above (open the ticket, r), or:
    SEUTUDESK_URL=https://127.0.0.1:$api_port SEUTUDESK_CA=$state/cert.pem \\
    SEUTUDESK_TOKEN=\$(cat $state/aino.token) $build/seutudesk reply N
    (N the ticket's number), and the answer shows on the page at once.  Aino is kept
    online for 2 hours; after that the chat shows it is closed (it still takes the
    question, tells when it will be answered and asks for an e-mail) until an agent
    opens the client.
    From another machine: ssh -L $page_port:127.0.0.1:$page_port -L $chat_port:127.0.0.1:$chat_port
  Reports (manager tuula, every member; maija.token for Kinnula's manager, her rows only):
    SEUTUDESK_URL=https://127.0.0.1:$api_port SEUTUDESK_CA=$state/cert.pem \\
    SEUTUDESK_TOKEN=\$(cat $state/tuula.token) $build/seutudesk report sla \\
      --by municipality --from $month_from --to $month_to
    and likewise: report costs --from $year-01-01 --to $year-12-31  (the members' cost split);
    report volume|backlog|workload; --lang en; --format csv|xlsx|json|html -o FILE
  Reports in a browser: https://127.0.0.1:$api_port/reports/  (the certificate is the
    demo's own: accept it in the browser, or give curl --cacert $state/cert.pem).
    Sign in as maija@kinnula.fi or tuula@seutu-it.fi: the link goes by mail to the
    demo's SMTP server (its maildir: $SMTP_MAILDIR/new).
    The newest sign-in link:  $state/signin-link
  Bridge log:     $state/webchat.log
  Send another:   doveadm -c $DOVECOT_CONF save -u test < FILE.eml
  Daemon log:     $STACK_LOG
  Database:       psql "$STACK_DB"
  Explain a mail: $build/seutudeskctl classify --rules $top/contrib/rules.d FILE.eml
    and with the second stage, the model learned from the agents' work (--table: one line):
    $build/seutudeskctl -c $STACK_CONF classify --learned FILE.eml
  Rule lines learned from the agents' work, for an admin to review and add to
    $top/contrib/rules.d (nothing is added by itself):
    $build/seutudeskctl -c $STACK_CONF rules suggest --field sector --min-tickets 5
  Stop it all:    bash $top/contrib/demo.sh stop
EOF
