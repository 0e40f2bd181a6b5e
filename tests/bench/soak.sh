#!/bin/bash
# soak.sh: the daemon under a steady, realistic mixed load for a long time
# (SOAK_MINUTES, default 60), to see whether anything grows that should not.
# One seutudeskd on the private stack (tests/lib/stack.sh: PostgreSQL,
# Dovecot, the SMTP server; the API over TLS on loopback), and at the same
# time, until the end:
#
#   mail     every 30 s: 4 new requests (tests/lib/genmail.sh), 1 or 2
#            requesters' replies to their tickets ("Re: [Seutu-IT #N]"), and
#            every other time an out-of-office auto-reply to one; all imported
#            into Dovecot's INBOX; the daemon acknowledges the new ones
#   chat     every 6 s a message through the bridge API (/bridge/v1/messages):
#            one in five opens a conversation, the rest continue one; the
#            bridge's loop takes the agents' replies (/bridge/v1/replies) and
#            reports each delivered
#   agents   every 3 s one action of an agent through the API, in turn: list
#            the triage queue, view a ticket, claim a new one, reply to one of
#            theirs, resolve one they replied to; the agent's event stream
#            (GET /api/v1/events) open throughout; and 5 more agents' clients
#            (tests/bench/api-load) listing the queue, each every 5 s
#   SLA      first response 3 min, resolution 10 min, warning at 50 %, on
#            24x7: warnings and breaches fire all along, and their notices
#            to the lead go out through the outbox
#
# Every minute it samples the daemon's RSS, its open descriptors, its
# database connections (pg_stat_activity) and the outbox backlog (queued or
# sending), with the day's counts beside them, into a CSV (SOAK_CSV, default
# soak-DATE.csv in the current directory) and a row of the printed table.
# At the end, for each of the four, the least-squares slope over the last
# half of the run and whether it stayed flat:
#   RSS        growth over the last half under max(2 MiB, 5 %)
#   fds        growth under 3 descriptors
#   db conns   growth under 1 and at most 2 apart over the last half
#   outbox     growth under 10 and the last sample under 50
# A short run (SOAK_MINUTES=3) shows that it works; its RSS is still warming
# up, so the verdicts mean something only over a long run.
# Not a test: it asserts nothing (the exit status is 0 unless it could not
# run).  Needs root (Dovecot).
#
#   cd _build && SOAK_MINUTES=60 ../tests/bench/soak.sh
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
bin=$top_builddir
MINUTES=${SOAK_MINUTES:-60}
CSV=${SOAK_CSV:-$PWD/soak-$(date -u +%Y%m%dT%H%M).csv}
case $MINUTES in '' | *[!0-9]* | 0 | 1) echo "soak: SOAK_MINUTES must be a whole number, 2 or more" >&2; exit 2 ;; esac
for p in seutudeskd seutudeskctl tests/bench/api-load; do
	[ -x "$bin/$p" ] || { echo "soak: $bin/$p not built (run from the build directory after make check)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "soak: curl is not installed" >&2; exit 1; }
PY=/usr/bin/python3

W=$(mktemp -d "${TMPDIR:-/tmp}/soak.XXXXXX") || exit 1
. "$top_srcdir/tests/lib/tls.sh"
tls_cert "$W" || exit 1
port=$(free_port) || exit 1
base=https://127.0.0.1:$port
STACK_EXTRA_CONF="
[api]
listen = 127.0.0.1:$port
cert_file = $W/cert.pem
key_file = $W/key.pem
workers = 4
online_window = 1h

[bridge]
calendar = 24x7

[sla soak]
first_response = 3m
resolution = 10m
calendar = 24x7
warn = 50
notify = lead
"
. "$top_srcdir/tests/lib/stack.sh"
stack_start >"$W/stack.log" 2>&1 || { tail -5 "$W/stack.log"; exit 1; }
PIDS=()
soak_cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	stack_cleanup
	[ "${STACK_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap soak_cleanup EXIT
ctl() { "$bin/seutudeskctl" -c "$STACK_CONF" "$@"; }
tok() { ctl token issue "$@" 2>/dev/null | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1; }
ctl bridge add soakchat --kind webchat >/dev/null || exit 1
BTOK=$(tok --bridge soakchat)
ctl agent add anna --name "Anna Agentti" --email anna@seutu-it.fi --sote --queues triage >/dev/null || exit 1
ctl agent add leo --name "Leo Lead" --email leo@seutu-it.fi --role lead --sote >/dev/null || exit 1
ATOK=$(tok anna)
for i in 1 2 3 4 5; do
	ctl agent add "lister$i" --name "Lister $i" --email "lister$i@seutu-it.fi" --queues triage >/dev/null || exit 1
	tok "lister$i" >>"$W/tokens"
done
daemon_start
for _ in $(seq 100); do
	curl -s -o /dev/null --max-time 2 --cacert "$W/cert.pem" "$base/healthz" && break
	sleep 0.1
done
END=$(($(date +%s) + MINUTES * 60))
running() { [ "$(date +%s)" -lt "$END" ]; }
sql() { stack_sql "$1" 2>/dev/null; }
# api TOKEN [CURL ARGS...] PATH: the body on stdout.
api() {
	local t=$1 path=${*: -1}
	shift
	curl -s --max-time 20 --cacert "$W/cert.pem" -H "Authorization: Bearer $t" \
		-H 'Content-Type: application/json' "${@:1:$#-1}" "$base$path"
}
count() { [ -n "$2" ] && echo "$1" >>"$W/actions"; }

# -- mail: new requests, replies, auto-replies into Dovecot --------------------------
mail_loop() {
	local i=0 box n addr
	while running; do
		i=$((i + 1))
		box=$W/mail.$i.mbox
		"$top_srcdir/tests/lib/genmail.sh" -n 4 -p "soak$i" -s "$i" -o "$box" || return
		sql "SELECT number || ' ' || requester_address FROM tickets
			WHERE channel = 'email' AND requester_address IS NOT NULL
			ORDER BY random() LIMIT $((1 + i % 2 + (i % 2 == 0)))" >"$W/mail.targets"
		n=0
		while read -r num addr; do
			n=$((n + 1))
			[ -n "$addr" ] || continue
			printf 'From %s Mon Dec  7 00:00:00 2026\n' "$addr"
			printf 'From: <%s>\nTo: <support@seutu-it.fi>\nDate: %s\n' "$addr" "$(date -R)"
			if [ $((i % 2)) = 0 ] && [ "$n" = 1 ]; then
				printf 'Subject: Automaattinen vastaus: Re: [Seutu-IT #%s]\n' "$num"
				printf 'Auto-Submitted: auto-replied\nX-Autoreply: yes\n'
				printf 'Message-ID: <soak-auto-%s-%s@soak.invalid>\n' "$i" "$n"
				printf 'Content-Type: text/plain; charset=utf-8\n\nOlen lomalla 14.12. asti.\n\n'
			else
				printf 'Subject: Re: [Seutu-IT #%s] Tulostin\n' "$num"
				printf 'Message-ID: <soak-re-%s-%s@soak.invalid>\n' "$i" "$n"
				printf 'Content-Type: text/plain; charset=utf-8\n\nKiitos, mutta vika jatkuu yhä.\n\n'
			fi
		done <"$W/mail.targets" >>"$box"
		dovecot_import_many test "$box" >/dev/null 2>&1 || echo "soak: import $i failed" >&2
		rm -f "$box"
		sleep 30
	done
}

# -- chat: a bridge posting messages and settling the agents' replies ----------------
chat_loop() {
	local i=0 conv cursor=0 body ids id
	while running; do
		i=$((i + 1))
		if [ $((i % 5)) = 1 ] || [ ! -s "$W/convs" ]; then
			conv=soak-c$i
			echo "$conv" >>"$W/convs"
		else
			conv=$(shuf -n 1 "$W/convs")
		fi
		body=$(printf '{"id":"soak-m%s","conversation":"%s","sender":{"name":"Maija %s","email":"maija%s@kinnula.fi"},"text":"Hei, tulostin ei tulosta (viesti %s)","site":"kinnula","lang":"fi"}' \
			"$i" "$conv" "$conv" "$i" "$i")
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$W/cert.pem" \
			-H "Authorization: Bearer $BTOK" -H 'Content-Type: application/json' \
			-d "$body" "$base/bridge/v1/messages")
		echo "chat_post $code" >>"$W/actions"
		body=$(api "$BTOK" "/bridge/v1/replies?after=$cursor")
		ids=$("$PY" -c 'import json,sys
d = json.loads(sys.argv[1]); print(d.get("cursor", 0)); [print(r["id"]) for r in d.get("replies", [])]' "$body" 2>/dev/null)
		if [ -n "$ids" ]; then
			cursor=$(echo "$ids" | head -1)
			for id in $(echo "$ids" | tail -n +2); do
				code=$(api "$BTOK" -o /dev/null -w '%{http_code}' -d '{"state":"delivered"}' "/bridge/v1/replies/$id")
				echo "chat_delivered $code" >>"$W/actions"
			done
		fi
		sleep 6
	done
}

# -- an agent working the queue --------------------------------------------------------
agent_loop() {
	local i=0 n code
	local me
	me=$(sql "SELECT id FROM agents WHERE login = 'anna'")
	while running; do
		i=$((i + 1))
		code=
		case $((i % 6)) in
		0) code=$(api "$ATOK" -o /dev/null -w '%{http_code}' "/api/v1/tickets?queue=triage"); n=list ;;
		1 | 4)
			n=$(sql "SELECT number FROM tickets WHERE status <> 'closed' ORDER BY random() LIMIT 1")
			[ -n "$n" ] && code=$(api "$ATOK" -o /dev/null -w '%{http_code}' "/api/v1/tickets/$n")
			n=view ;;
		2)
			n=$(sql "SELECT number FROM tickets WHERE status = 'new' AND assignee IS NULL ORDER BY random() LIMIT 1")
			[ -n "$n" ] && code=$(api "$ATOK" -o "$W/claim.out" -w '%{http_code}' -X POST "/api/v1/tickets/$n/claim")
			# a 409 says why: held by another, the agent's maximum, or closed
			[ "$code" = 409 ] && code="409 ($(sed -n 's/.*"error": *"\(the ticket is [a-z]*\|you have\)[^"]*".*/\1/p' "$W/claim.out"))"
			n=claim ;;
		3)
			n=$(sql "SELECT number FROM tickets WHERE assignee = $me AND status = 'open' AND first_response_at IS NULL ORDER BY random() LIMIT 1")
			[ -n "$n" ] && code=$(api "$ATOK" -o /dev/null -w '%{http_code}' \
				-d '{"body":"Hei, katson asiaa. Kokeilkaa käynnistää laite uudelleen."}' "/api/v1/tickets/$n/reply")
			n=reply ;;
		5)
			n=$(sql "SELECT number FROM tickets WHERE assignee = $me AND status IN ('open', 'pending') AND first_response_at IS NOT NULL ORDER BY random() LIMIT 1")
			[ -n "$n" ] && code=$(api "$ATOK" -o /dev/null -w '%{http_code}' \
				-d '{"status":"resolved"}' "/api/v1/tickets/$n/status")
			n=resolve ;;
		esac
		count "$n $code" "$code"
		sleep 3
	done
}

# -- the agent's event stream, reopened if it ends ---------------------------------------
events_loop() {
	while running; do
		curl -s -N --max-time $((END - $(date +%s) + 1)) --cacert "$W/cert.pem" \
			-H "Authorization: Bearer $ATOK" "$base/api/v1/events" >>"$W/events" 2>/dev/null
		echo "events_reconnect" >>"$W/actions"
		sleep 1
	done
}

# -- sampling ----------------------------------------------------------------------------
sample() { # sample MINUTE: one CSV row
	local pid=$STACK_DAEMON_PID rss fds
	rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	echo "$1,$(date -u +%H:%M:%S),${rss:-0},$fds,$(sql "SELECT
		(SELECT count(*) FROM pg_stat_activity WHERE datname = 'seutudesk' AND backend_type = 'client backend'
			AND coalesce(application_name, '') <> 'psql')
		|| ',' || (SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending'))
		|| ',' || (SELECT count(*) FROM tickets)
		|| ',' || (SELECT count(*) FROM messages)
		|| ',' || (SELECT count(*) FROM outbox WHERE status = 'sent')
		|| ',' || (SELECT count(*) FILTER (WHERE warned_at IS NOT NULL) + count(*) FILTER (WHERE breached_at IS NOT NULL) FROM sla_timers)"),$(cut -d' ' -f1 /proc/loadavg)"
}

echo "# soak: $MINUTES minutes; machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# csv: $CSV"
mail_loop & PIDS+=($!)
chat_loop & PIDS+=($!)
agent_loop & PIDS+=($!)
events_loop & PIDS+=($!)
"$bin/tests/bench/api-load" --port "$port" --tokens "$W/tokens" --clients 5 --rate 0.2 \
	--seconds $((MINUTES * 60)) --path '/api/v1/tickets?queue=%Q' --queues triage >"$W/api-load.out" 2>&1 &
PIDS+=($!)

echo "minute,time,rss_kib,fds,db_conns,outbox_backlog,tickets,messages,outbox_sent,sla_fired,load1" >"$CSV"
printf '%6s %8s %9s %5s %8s %7s %8s %8s %7s %9s %6s\n' minute time "RSS KiB" fds "db conns" outbox tickets messages sent "sla fired" load
for m in $(seq 0 "$MINUTES"); do
	wait_s=$((END - (MINUTES - m) * 60 - $(date +%s)))
	[ "$wait_s" -gt 0 ] && sleep "$wait_s"
	kill -0 "$STACK_DAEMON_PID" 2>/dev/null || { echo "soak: the daemon has gone (log: $STACK_LOG)" >&2; tail -5 "$STACK_LOG" >&2; exit 1; }
	row=$(sample "$m")
	echo "$row" >>"$CSV"
	echo "$row" | awk -F, '{ printf "%6s %8s %9s %5s %8s %7s %8s %8s %7s %9s %6s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }'
done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
PIDS=()

echo "# actions in the run (kind status count):"
sort "$W/actions" | uniq -c | awk '{ n = $1; $1 = ""; printf "#  %s: %s\n", $0, n }'
echo "# listing clients (api-load, 5 agents every 5 s):"
sed 's/^/#   /' "$W/api-load.out"
echo "# daemon log: $(grep -c . "$STACK_LOG") lines, $(grep -c ' \(warn\|error\): ' "$STACK_LOG") at warn or error"
grep ' \(warn\|error\): ' "$STACK_LOG" | sed 's/^[^ ]* //; s/[0-9][0-9]*/N/g' | cut -c1-160 | sort | uniq -c | sort -rn | head -5 | sed 's/^/#   /'
echo "# flat over the last half (minutes $((MINUTES / 2))-$MINUTES)? slope by least squares:"
awk -F, -v half=$((MINUTES / 2)) '
NR == 1 { next }
{
	m = $1
	if (m < half) next
	for (c = 3; c <= 6; c++) {
		sy[c] += $c; sxy[c] += m * $c; last[c] = $c
		if ($c > mx[c]) mx[c] = $c
		if (n == 0 || $c < mn[c]) mn[c] = $c
	}
	n++; sx += m; sxx += m * m
	if (n == 1) x0 = m
	x1 = m
}
END {
	span = x1 - x0
	name[3] = "RSS (KiB)"; name[4] = "open fds"; name[5] = "db conns"; name[6] = "outbox backlog"
	for (c = 3; c <= 6; c++) {
		slope = (n * sxy[c] - sx * sy[c]) / (n * sxx - sx * sx)
		growth = slope * span
		mean = sy[c] / n
		if (c == 3) flat = growth < (mean * 0.05 > 2048 ? mean * 0.05 : 2048)
		else if (c == 4) flat = growth < 3
		else if (c == 5) flat = growth < 1 && mx[c] - mn[c] <= 2
		else flat = growth < 10 && last[c] < 50
		printf "#   %-15s slope %+.2f/min, growth %+.1f over %d min, mean %.1f, max %d: %s\n",
			name[c], slope, growth, span, mean, mx[c], flat ? "flat" : "GROWING"
	}
}' "$CSV"
echo "# csv: $CSV"
