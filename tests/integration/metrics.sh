#!/bin/bash
# /metrics and /healthz of the real daemon: the labelled corpus delivered
# into a private Dovecot and taken in (as daemon-corpus.sh does), /metrics
# scraped over the API's Unix socket while it runs and after, every scrape
# checked by `promtool check metrics`, and the counters compared with what
# the database says happened.  Then /healthz: 200, a mailbox named as
# failing when Dovecot is stopped, 503 naming the database when
# PostgreSQL is stopped.
corpus=${SEUTUDESK_CORPUS:-$top_srcdir/../shared/corpus/dev}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; echo "#   got '$2', want '$3'"; fi; }

if [ ! -f "$corpus/labels.tsv" ] || [ "$(id -u)" != 0 ] || ! command -v promtool >/dev/null ||
	! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, the corpus ($corpus), promtool (prometheus) and jq"
	exit 0
fi
. "$top_srcdir/tests/lib/stack.sh"
# Every ticket warns and breaches on both clocks within seconds.
STACK_EXTRA_CONF="
[sla fast]
first_response = 2s
resolution = 4s
calendar = 24x7
warn = 50

[api]
listen = 127.0.0.1:0
tls = no
socket = \$STACK_DIR/api.sock"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
STACK_EXTRA_CONF=${STACK_EXTRA_CONF/:0/:$port}
stack_start >/dev/null || { echo "1..1"; echo "not ok 1 - the stack starts"; exit 0; }
sed -i "s|\\\$STACK_DIR|$STACK_DIR|" "$STACK_CONF"
sock=$STACK_DIR/api.sock

# get PATH [FILE]: the status code; the body in FILE (default $STACK_DIR/body).
get() {
	curl -s -o "${2:-$STACK_DIR/body}" -w '%{http_code}' --max-time 10 --unix-socket "$sock" \
		"http://localhost$1"
}
# metric NAME{LABELS}: its value in the last scrape (0 when absent).
metric() {
	awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' "$STACK_DIR/after.prom"
}

files=$(awk -F'\t' 'NR > 1 {print $1}' "$corpus/labels.tsv")
for f in $files; do dovecot_deliver test "$corpus/$f" || not_ok "deliver $f"; done
total=$(echo "$files" | wc -l)
daemon_start
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done

# Scrapes while the mail is taken in, until the outbox is empty.
mkdir -p "$STACK_DIR/scrapes"
(
	i=0
	while [ ! -e "$STACK_DIR/scrapes/stop" ] && [ $i -lt 2000 ]; do
		i=$((i + 1))
		get /metrics "$STACK_DIR/scrapes/$i.prom" >"$STACK_DIR/scrapes/$i.code"
		sleep 0.1
	done
) &
scraper=$!
stack_wait "SELECT count(*) FROM intake_log" "$total" 120 && ok "all $total mails taken in" ||
	not_ok "all $total mails taken in"
stack_wait "SELECT count(*) FROM outbox WHERE status <> 'sent'" 0 60
stack_wait "SELECT count(*) = 4 * (SELECT count(*) FROM tickets) FROM events
	WHERE kind IN ('sla_warning', 'sla_breach')" t 60 ||
	not_ok "every ticket's warnings and breaches fired"
touch "$STACK_DIR/scrapes/stop"
wait "$scraper"
sleep 1
check "GET /metrics over the Unix socket answers 200" "$(get /metrics "$STACK_DIR/after.prom")" 200

nscrapes=$(find "$STACK_DIR/scrapes" -name '*.prom' | wc -l)
bad=0
for f in "$STACK_DIR"/scrapes/*.prom "$STACK_DIR/after.prom"; do
	[ "$(cat "${f%.prom}.code" 2>/dev/null || echo 200)" = 200 ] || { bad=$((bad + 1)); continue; }
	promtool check metrics <"$f" >"$STACK_DIR/promtool.out" 2>&1 ||
		{ bad=$((bad + 1)); sed 's/^/#   /' "$STACK_DIR/promtool.out" | head -5; }
done
check "promtool check metrics is clean on all $nscrapes scrapes during the run and the last" "$bad" 0
mid=$(grep -l 'outcome="new"} [1-9]' "$STACK_DIR"/scrapes/*.prom | head -1)
check "a scrape during the run saw mail being taken in" "$([ -n "$mid" ] && echo yes)" yes

check "the scrape's statement worked (database_up 1)" "$(metric seutudesk_database_up)" 1
# Every outcome's counter equals the intake_log rows.
diff=""
for o in new followup reopened linked auto auto_attached duplicate rejected; do
	db=$(stack_sql "SELECT count(*) FROM intake_log WHERE outcome = '$o'")
	got=$(metric "seutudesk_intake_messages_total{source=\"support\",outcome=\"$o\"}")
	[ "$db" = "$got" ] || diff="$diff $o:$got/$db"
done
check "intake outcomes equal intake_log's ($(stack_sql "SELECT string_agg(outcome || '=' || n, ' ')
	FROM (SELECT outcome, count(*) n FROM intake_log GROUP BY 1 ORDER BY 1) x"))" "$diff" ""
check "the latency histogram counts what was taken in" \
	"$(($(metric seutudesk_intake_latency_seconds_count) + $(metric seutudesk_intake_latency_unknown_total)))" \
	"$(stack_sql "SELECT count(*) FROM intake_log WHERE outcome NOT IN ('duplicate', 'rejected')")"
for f in municipality sector category; do
	check "unknown $f equals the tickets without one" \
		"$(metric "seutudesk_classify_unknown_total{field=\"$f\"}")" \
		"$(stack_sql "SELECT count(*) FROM tickets WHERE $f IS NULL")"
done
check "sent equals the sent outbox rows" "$(metric seutudesk_outbox_sent_total)" \
	"$(stack_sql "SELECT count(*) FROM outbox WHERE status = 'sent'")"
check "queued and failed equal the outbox's" \
	"$(metric 'seutudesk_outbox_messages{status="queued"}') $(metric 'seutudesk_outbox_messages{status="failed"}')" \
	"$(stack_sql "SELECT count(*) FILTER (WHERE status = 'queued') || ' ' ||
		count(*) FILTER (WHERE status = 'failed') FROM outbox")"
check "SLA warnings and breaches equal the fired events ($(metric seutudesk_sla_breaches_total) breaches)" \
	"$(metric seutudesk_sla_warnings_total) $(metric seutudesk_sla_breaches_total)" \
	"$(stack_sql "SELECT count(*) FILTER (WHERE kind = 'sla_warning') || ' ' ||
		count(*) FILTER (WHERE kind = 'sla_breach') FROM events")"
diff=""
while IFS='|' read -r q cnt; do
	got=$(metric "seutudesk_open_tickets{queue=\"$q\"}")
	[ "$got" = "$cnt" ] || diff="$diff $q:$got/$cnt"
done < <(stack_sql "SELECT q.name, count(t.number) FROM queues q LEFT JOIN tickets t ON t.queue = q.id
	AND t.status IN ('new', 'open', 'pending') AND t.merged_into IS NULL WHERE q.active GROUP BY 1")
check "open tickets per queue equal the tickets table's" "$diff" ""
check "the metrics requests are counted by route" \
	"$(($(metric 'seutudesk_api_requests_total{route="metrics",code="2xx"}') >= nscrapes))" 1
get /api/v1/me >/dev/null
get /no/such/path >/dev/null
get /metrics "$STACK_DIR/after.prom" >/dev/null
check "a call without a token counts under its route, an unknown path as unrouted" \
	"$(metric 'seutudesk_api_requests_total{route="me",code="4xx"}') $(metric 'seutudesk_api_requests_total{route="unrouted",code="4xx"}')" \
	"1 1"
check "the mailbox is idle" "$(metric 'seutudesk_mailbox_state{mailbox="support",state="idle"}')" 1
check "the database pool's waits are measured" \
	"$(($(metric 'seutudesk_dbpool_wait_seconds_count{pool="api"}') > 0))" 1

check "GET /metrics over TCP from loopback answers 200" \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")" 200
check "GET /healthz answers 200 when all is well" "$(get /healthz)" 200
check "and says so" "$(jq -r '.status + " " + .database + " " + .mailboxes.support.state + " " + .relay.state' "$STACK_DIR/body")" \
	"ok ok idle ok"

dovecot_stop
code=""
for _ in $(seq 150); do
	code=$(get /healthz)
	[ "$(jq -r .mailboxes.support.state "$STACK_DIR/body")" = failing ] && break
	sleep 0.2
done
check "with Dovecot stopped the mailbox is named as failing" \
	"$(jq -r '[.down[]] | join(",")' "$STACK_DIR/body") $(jq -r '.mailboxes.support.error | length > 0' "$STACK_DIR/body")" \
	"mailbox support true"
check "and the only mailbox failing makes it 503" "$code" 503
dovecot_start >/dev/null

pg_stop
code=$(get /healthz)
check "with PostgreSQL stopped /healthz answers 503" "$code" 503
check "naming the database" "$(jq -r '.database + " " + .down[0]' "$STACK_DIR/body")" "failed database"
check "/metrics still answers, database_up 0" \
	"$(get /metrics "$STACK_DIR/down.prom") $(awk '$1 == "seutudesk_database_up" {print $2}' "$STACK_DIR/down.prom")" \
	"200 0"
check "promtool is clean on it too" "$(promtool check metrics <"$STACK_DIR/down.prom" 2>&1)" ""

daemon_stop
check "SIGTERM stops the daemon cleanly" "$?" 0
echo "1..$n"
