#!/bin/bash
# migrate: seutudeskctl migrate against a private PostgreSQL: applies all,
# is idempotent, reports status, refuses a newer database, rolls back a
# failing file, and serialises concurrent runs.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/tests/lib/pg.sh"

CTL=$top_builddir/seutudeskctl
SQL=$top_srcdir/sql
NFILES=0
for f in "$SQL"/[0-9][0-9][0-9]*_*.sql; do
	[ -f "$f" ] && NFILES=$((NFILES + 1))
done
. "$top_srcdir/tests/lib/tap.sh"

if [ ! -x "$CTL" ]; then
	echo "1..0 # SKIP $CTL not built"
	exit 0
fi
if ! pg_start 2>"${TMPDIR:-/tmp}/migrate-pg.$$"; then
	echo "1..0 # SKIP no private PostgreSQL: $(head -1 "${TMPDIR:-/tmp}/migrate-pg.$$")"
	rm -f "${TMPDIR:-/tmp}/migrate-pg.$$"
	exit 0
fi
rm -f "${TMPDIR:-/tmp}/migrate-pg.$$"
W=$PG_DIR/work
mkdir -p "$W"
out=$W/out
err=$W/err

migrate() { # migrate CONNINFO [ARGS]: stdout in $out, stderr in $err, returns its status
	local db=$1
	shift
	"$CTL" -c /nonexistent/seutudesk.conf migrate --database "$db" --sql-dir "$SQL" "$@" \
		>"$out" 2>"$err"
}

# -- a fresh database ------------------------------------------------------
db=$(pg_createdb fresh)
migrate "$db"
ok $? "migrate on a fresh database succeeds"
is "$(grep -c '^applied ' "$out")" "$NFILES" "it applies all $NFILES files"
has "$out" "applied 001_core.sql" "it names each file"
is "$(pg_psql -d fresh -c 'SELECT version, name FROM schema_migrations ORDER BY 1' | head -2 | tr '\n' ' ')" \
	"1|core 2|region " "schema_migrations records version and name"
is "$(pg_psql -d fresh -c 'SELECT count(*) FROM schema_migrations WHERE applied_at <= now()')" \
	"$NFILES" "every row has applied_at"
is "$(pg_psql -d fresh -c 'SELECT count(*) FROM organisations')" 9 "nine members seeded"
is "$(pg_psql -d fresh -c "SELECT string_agg(id, ',' ORDER BY id) FROM queues")" triage \
	"the triage queue is seeded"
is "$(pg_psql -d fresh -c "INSERT INTO tickets (requester_address, subject) VALUES ('a@karstula.fi', 'x') RETURNING number, status, queue")" \
	"1|new|triage" "a ticket gets a number, status new, queue triage"

# -- idempotent --------------------------------------------------------------
migrate "$db"
ok $? "a second run succeeds"
is "$(grep -c '^applied ' "$out")" 0 "and applies nothing"
has "$out" "up to date" "it says the schema is up to date"
is "$(pg_psql -d fresh -c 'SELECT count(*) FROM schema_migrations')" "$NFILES" \
	"schema_migrations unchanged"

# -- status ---------------------------------------------------------------------
migrate "$db" --status
ok $? "--status succeeds"
has "$out" "^001  001_core.sql  *20[0-9][0-9]-" "--status shows 001 applied with its time"
has "$out" "$NFILES applied, 0 pending" "--status sums up"
db2=$(pg_createdb other)
migrate "$db2" --status
ok $? "--status on an empty database succeeds"
has "$out" "^001  001_core.sql  *pending" "--status shows 001 pending"
is "$(pg_psql -d other -c "SELECT to_regclass('schema_migrations') IS NULL")" t \
	"--status changes nothing"

# -- through the configuration file ------------------------------------------------
echo secret >"$W/db.pass"
cat >"$W/seutudesk.conf" <<EOF
[database]
conninfo = $db2
password_file = db.pass
EOF
"$CTL" -c "$W/seutudesk.conf" migrate --sql-dir "$SQL" >"$out" 2>"$err"
ok $? "migrate with [database] from the config file"
is "$(pg_psql -d other -c 'SELECT count(*) FROM schema_migrations')" "$NFILES" \
	"it applied everything"
printf '[database]\nconninfo = %s\nhots = x\n' "$db2" >"$W/bad.conf"
"$CTL" -c "$W/bad.conf" migrate --sql-dir "$SQL" >"$out" 2>"$err"
is $? 1 "a broken config file fails with status 1"
has "$err" "bad.conf:3: unknown key 'hots' in \[database\]" "and names file and line"

# -- a newer database is refused --------------------------------------------------
pg_psql -d fresh -c "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')"
migrate "$db"
is $? 1 "a database with version 999 is refused with status 1"
has "$err" "schema is at version 999, newer than the newest migration known here" \
	"with a clear message"
migrate "$db" --status
is $? 1 "--status on a newer database exits 1"
has "$out" "^999  (no file here)" "--status lists the unknown version"

# -- seutudeskd refuses a schema it does not know ------------------------------------
# conf DBNAME: a daemon config on that database; daemon CONF: runs seutudeskd
# in the foreground for at most 20 s, stderr in $err, returns its status.
conf() {
	printf '[daemon]\nrules_dir = %s\n[database]\nconninfo = %s\n[intake]\ntemplates_dir = %s\n' \
		"$top_srcdir/contrib/rules.d" "host=$PG_DIR port=$PGPORT user=postgres dbname=$1" \
		"$top_srcdir/contrib/templates" >"$W/d-$1.conf"
	echo "$W/d-$1.conf"
}
daemon() {
	timeout 20 "$top_builddir/seutudeskd" -f -c "$1" >"$out" 2>"$err"
}
pg_createdb empty >/dev/null
daemon "$(conf empty)"
is $? 1 "seutudeskd on a database without the schema exits 1"
has "$err" "no seutudesk schema.*run seutudeskctl migrate" "and says to run seutudeskctl migrate"
daemon "$(conf fresh)"
is $? 1 "seutudeskd on a database with version 999 exits 1"
has "$err" "schema version 999, which this seutudeskd .* does not know: it belongs to a newer" \
	"and says the database belongs to a newer seutudesk"
has "$err" "seutudeskctl migrate --status" "and names seutudeskctl migrate --status"
latest=$(pg_psql -d other -c 'SELECT max(version) FROM schema_migrations')
pg_psql -d other -c "DELETE FROM schema_migrations WHERE version = $latest"
daemon "$(conf other)"
is $? 1 "seutudeskd on a database lacking the newest version exits 1"
has "$err" "lacks version $(printf %03u "$latest").*run seutudeskctl migrate" \
	"and names the missing version and seutudeskctl migrate"
pg_psql -d other -c "INSERT INTO schema_migrations (version, name) VALUES ($latest, 'back')"
"$top_builddir/seutudeskd" -f -c "$W/d-other.conf" >"$out" 2>"$err" &
dpid=$!
i=0
while ! grep -q "event=start" "$err" && kill -0 $dpid 2>/dev/null && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
has "$err" "event=start" "seutudeskd on the migrated database starts"
kill -TERM $dpid 2>/dev/null
wait $dpid
is $? 0 "and runs until stopped"


# -- a failing file leaves nothing of itself ----------------------------------------------
mkdir -p "$W/sql"
cp "$SQL/001_core.sql" "$W/sql/"
printf -- '-- two statements, the second wrong\nCREATE TABLE half (a int);\n\nSELEC 1;\n' \
	>"$W/sql/002_broken.sql"
echo 'not a migration' >"$W/sql/README"
db3=$(pg_createdb broken)
"$CTL" migrate --database "$db3" --sql-dir "$W/sql" >"$out" 2>"$err"
is $? 1 "a failing migration exits 1"
has "$err" "$W/sql/002_broken.sql:4: syntax error at or near \"SELEC\"" \
	"the error names file and line"
is "$(pg_psql -d broken -c "SELECT string_agg(version::text, ',') FROM schema_migrations")" 1 \
	"the files before it stay applied"
is "$(pg_psql -d broken -c "SELECT to_regclass('half') IS NULL")" t \
	"nothing of the failing file remains"
printf 'BEGIN;\nCREATE TABLE t (a int);\nCOMMIT;\n' >"$W/sql/002_broken.sql"
"$CTL" migrate --database "$db3" --sql-dir "$W/sql" >"$out" 2>"$err"
is $? 1 "a file with its own COMMIT is refused"
has "$err" "ends the transaction itself" "with a clear message"
rm "$W/sql/002_broken.sql"
echo 'SELECT 1;' >"$W/sql/2_bad-name.sql"
"$CTL" migrate --database "$db3" --sql-dir "$W/sql" >"$out" 2>"$err"
is $? 1 "a malformed file name is refused"
has "$err" "2_bad-name.sql: expected a name like 001_core.sql" "and named"
rm "$W/sql/2_bad-name.sql"
"$CTL" migrate --database "$db3" --sql-dir "$W/nonexistent" >"$out" 2>"$err"
is $? 1 "a missing directory fails"
has "$err" "cannot read the migration directory" "with a clear message"

# -- concurrent runs apply each file once ---------------------------------------------------
db4=$(pg_createdb race)
pids=
for i in 1 2 3 4; do
	"$CTL" migrate --database "$db4" --sql-dir "$SQL" >"$W/race.$i" 2>&1 &
	pids="$pids $!"
done
rcs=
for p in $pids; do
	wait "$p"
	rcs="$rcs$?"
done
is "$rcs" 0000 "four concurrent migrations all succeed"
is "$(cat "$W"/race.* | grep -c '^applied 001_core.sql')" 1 "001 is applied by exactly one"
is "$(pg_psql -d race -c 'SELECT count(*) FROM schema_migrations')" "$NFILES" \
	"schema_migrations holds each version once"
is "$(pg_psql -d race -c 'SELECT count(*) FROM organisations')" 9 "seeds inserted once"
# One holds the lock: the next must wait, not fail.
pg_psql -d race -c "SELECT pg_advisory_lock(x'0073657574750001'::bigint); SELECT pg_sleep(1.5)" \
	>/dev/null &
holder=$!
sleep 0.5
migrate "$db4"
rc=$?
wait "$holder"
is $rc 0 "a migration waits for the lock holder"
has "$out" "waiting for another migration to finish" "and says it waits"

# -- usage ------------------------------------------------------------------------------------
"$CTL" migrate --help >"$out" 2>"$err"
ok $? "--help exits 0"
has "$out" "--sql-dir DIR" "--help lists --sql-dir"
"$CTL" migrate --bogus >"$out" 2>"$err"
is $? 2 "an unknown option exits 2"
"$CTL" migrate extra >"$out" 2>"$err"
is $? 2 "a stray argument exits 2"
"$CTL" migrate --database "host=$PG_DIR port=1 dbname=x" --sql-dir "$SQL" >"$out" 2>"$err"
is $? 1 "an unreachable database exits 1"
has "$err" "cannot connect to the database" "with a clear message"

echo "1..$n"
[ "$failed" = 0 ]
