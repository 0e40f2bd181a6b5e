#!/bin/bash
# The agents' event stream under concurrent writers: event ids are taken at
# INSERT but commit in another order, and transactions roll back.  Several
# psql sessions write events whose commits are out of id order (A inserts
# and waits, B inserts and commits, then A commits or rolls back), and many
# at once with random delays; every committed event must reach a live
# stream exactly once and in id order, and so must it reach a client that
# reconnects with Last-Event-ID, whether it reconnects while a transaction
# holding a lower id is still open or in the middle of the writes.
bin=${top_builddir:?}
src=${top_srcdir:?}
. "$src/tests/lib/pg.sh"
. "$src/tests/lib/tap.sh"
. "$src/tests/lib/apitest.sh"

need_cmd curl openssl
[ -x "$bin/seutudeskd" ] || skip_all "seutudeskd is not built"

api_workdir events-order
tmp=$W
API_CONF=$tmp/seutudesk.conf
pg_start >/dev/null || { echo "Bail out! PostgreSQL did not start"; exit 1; }
DAEMON_PID=
PIDS=
cleanup() {
	for p in $PIDS $DAEMON_PID; do kill -KILL "$p" 2>/dev/null; done
	for p in $PIDS $DAEMON_PID; do wait "$p" 2>/dev/null; done
	pg_cleanup
	[ "${EVENTS_KEEP:-0}" = 1 ] || rm -rf "$tmp"
}
PG_NO_TRAP=1
trap cleanup EXIT
db=$(pg_createdb seutudesk) || exit 1
"$bin/seutudeskctl" migrate --sql-dir "$src/sql" --database "$db" >"$tmp/migrate.log" 2>&1 ||
	{ cat "$tmp/migrate.log"; echo "Bail out! migrate failed"; exit 1; }
sql() { pg_psql -d seutudesk -c "$1"; }

cat >"$tmp/seutudesk.conf" <<CONF
[daemon]
rules_dir = $src/contrib/rules.d
log_level = info

[database]
conninfo = $db

[intake]
templates_dir = $src/contrib/templates

[api]
listen = 127.0.0.1:$port
cert_file = $tmp/cert.pem
key_file = $tmp/key.pem
workers = 2
CONF
ctl agent add anna --name "Anna Agent" --email anna@example.org --sote >/dev/null ||
	{ echo "Bail out! agent add failed"; exit 1; }
api_token anna anna
t1=$(sql "INSERT INTO tickets (requester_address, subject) VALUES ('a@example.org', 'one') RETURNING number")

"$bin/seutudeskd" -f -c "$tmp/seutudesk.conf" >"$tmp/daemon.log" 2>&1 &
DAEMON_PID=$!
api_wait

# stream NAME [LAST-EVENT-ID]: the agent's stream into $tmp/NAME.sse; its pid in $tmp/NAME.pid.
stream() {
	local extra=()
	[ -n "${2:-}" ] && extra=(-H "Last-Event-ID: $2")
	: >"$tmp/$1.sse"
	for _ in 1 2 3 4 5 6 7 8 9 10; do # 503 while the daemon reads where the events are
		curl -s -N --cacert "$tmp/cert.pem" -H "Authorization: Bearer $anna" "${extra[@]}" \
			"$base/api/v1/events" >"$tmp/$1.sse" &
		echo $! >"$tmp/$1.pid"
		PIDS="$PIDS $!"
		wait_for "$tmp/$1.sse" "seutudesk events" 2 && return 0
		kill "$(cat "$tmp/$1.pid")" 2>/dev/null
	done
	return 1
}
wait_for() { # wait_for FILE PATTERN SECONDS
	local i=0
	while [ $i -lt $(($3 * 50)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
		i=$((i + 1))
	done
	return 1
}
ids() { grep '^id: ' "$tmp/$1.sse" | cut -d' ' -f2; }
# exactly NAME ID...: the stream has each id once, in id order, and no other id.
exactly() {
	local name=$1
	shift
	local want got
	want=$(printf '%s\n' "$@" | sort -n)
	got=$(ids "$name")
	[ "$got" = "$want" ] && return 0
	echo "#   $name got: $(echo $got | head -c 600)"
	echo "#   wanted:   $(echo $want | head -c 600)"
	return 1
}
# Sessions that stay open: session NAME starts psql reading $tmp/NAME.in.
session() {
	mkfifo "$tmp/$1.in"
	pg_psql -d seutudesk <"$tmp/$1.in" >"$tmp/$1.out" 2>&1 &
	PIDS="$PIDS $!"
	eval "exec {fd_$1}>\"\$tmp/\$1.in\""
}
say() { local v="fd_$1"; echo "$2" >&"${!v}"; }
# said NAME LINES: waits until psql printed LINES lines; prints the last.
said() {
	local i=0
	while [ "$(grep -c . "$tmp/$1.out")" -lt "$2" ] && [ $i -lt 500 ]; do
		sleep 0.01
		i=$((i + 1))
	done
	tail -1 "$tmp/$1.out"
}
insert="INSERT INTO events (ticket, actor, kind) VALUES ($t1, 'test', 'note') RETURNING id;"

stream live
ok $? "a live stream opens"
session A
session B

# 1. A takes the lower id and commits after B.
say A "BEGIN;"
say A "$insert"
a=$(said A 1)
say B "$insert"
b=$(said B 1)
wait_for "$tmp/live.sse" "^id: $b\$" 1
is "$(ids live | grep -c .)" 0 "the higher id waits while the lower one's transaction is open ($a < $b)"
# A client that had everything up to a-1 reconnects now.
stream early "$((a - 1))"
say A "COMMIT;"
wait_for "$tmp/live.sse" "^id: $b\$" 10 && wait_for "$tmp/early.sse" "^id: $b\$" 10
ok $? "both reach the stream once the lower one commits"
exactly live "$a" "$b"
ok $? "live: each once, in id order"
exactly early "$a" "$b"
ok $? "Last-Event-ID while the lower id was open: each once, none lost"

# 2. A takes an id and rolls back: B's later event must not wait forever.
say A "BEGIN;"
say A "$insert"
c=$(said A 2)
say B "$insert"
d=$(said B 2)
say A "ROLLBACK;"
wait_for "$tmp/live.sse" "^id: $d\$" 10
ok $? "a rolled-back id ($c) does not hold up the next one ($d)"
exactly live "$a" "$b" "$d"
ok $? "live: the rolled-back id never appears, nothing twice"

# 3. Many writers at once, commits in random order, some rollbacks; a
# client drops in the middle and comes back with the last id it got.
start=$(sql "SELECT max(id) FROM events")
stream middle
for w in $(seq 8); do
	{
		for r in 1 2 3; do
			end=COMMIT
			[ $(((w + r) % 5)) = 0 ] && end=ROLLBACK
			pg_psql -d seutudesk -c "BEGIN" -c "$insert" \
				-c "SELECT pg_sleep(random() * 0.3)" -c "$insert" \
				-c "SELECT pg_sleep(random() * 0.2)" -c "$end" >/dev/null
		done
	} &
	WRITERS="$WRITERS $!"
done
sleep 0.6
kill "$(cat "$tmp/middle.pid")" 2>/dev/null
wait "$(cat "$tmp/middle.pid")" 2>/dev/null
resume=$(ids middle | tail -1)
stream middle2 "${resume:-$start}"
for w in $WRITERS; do wait "$w"; done
want=$(sql "SELECT id FROM events WHERE id > $start ORDER BY id")
last=$(echo "$want" | tail -1)
[ -n "$last" ] && wait_for "$tmp/live.sse" "^id: $last\$" 15 &&
	wait_for "$tmp/middle2.sse" "^id: $last\$" 15
ok $? "$(echo "$want" | grep -c .) events from 8 concurrent writers reach the streams"
# shellcheck disable=SC2046
exactly live "$a" "$b" "$d" $want
ok $? "live: every committed event once, in id order"
echo "$(ids middle; ids middle2)" >"$tmp/both.sse.ids"
if [ "$(sort -n "$tmp/both.sse.ids" | grep .)" = "$(echo "$want" | grep .)" ] &&
	[ "$(grep -c . "$tmp/both.sse.ids")" = "$(echo "$want" | grep -c .)" ]; then
	ok 0 "a client that reconnected with Last-Event-ID ${resume:-none} mid-way got each once"
else
	ok 1 "a client that reconnected with Last-Event-ID ${resume:-none} mid-way got each once"
	echo "#   got:  $(sort -n "$tmp/both.sse.ids" | tr '\n' ' ' | head -c 600)"
	echo "#   want: $(echo $want | head -c 600)"
fi
stream replay "$start"
[ -n "$last" ] && wait_for "$tmp/replay.sse" "^id: $last\$" 10
# shellcheck disable=SC2046
exactly replay $want
ok $? "a replay from before the writes: every committed event once"
rolled=$(sql "SELECT count(*) FROM generate_series($start + 1, $last) g WHERE NOT EXISTS (SELECT 1 FROM events WHERE id = g)")
echo "# rolled-back ids among them: $rolled"

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
rc=$?
DAEMON_PID=
is "$rc" 0 "the daemon stops cleanly"
if [ "$failed" -gt 0 ]; then
	sed 's/^/# daemon: /' "$tmp/daemon.log" | grep -v "status=200" | tail -30
fi
echo "1..$n"
