# shellcheck shell=bash
# A private PostgreSQL 15 for one test, sourced by bash test scripts.
#
#   . "$top_srcdir/tests/lib/pg.sh"
#   pg_start || exit 1     # sets PGHOST PGPORT PGUSER PGDATABASE, PG_CONNINFO, PG_DIR
#   db=$(pg_createdb NAME) # a fresh database; prints its conninfo
#   pg_psql -d NAME -c 'SELECT 1'   # psql -X -q -At -v ON_ERROR_STOP=1
#   pg_stop; pg_start      # a restart keeps data and port
#   pg_cleanup             # stops it and removes everything (the EXIT trap does this)
#
# The cluster lives in a fresh directory under ${TMPDIR:-/tmp} owned by the
# postgres user (initdb refuses to run as root): data/, the log and the Unix
# socket.  It listens on 127.0.0.1 on a random port in 20000-40000 (retried
# when taken) and on the socket in that directory, so parallel tests never
# collide and never touch a system PostgreSQL.  fsync stays on: commits cost
# what they cost in production.  Set PG_LISTEN='' for the socket only.
#
# pg_start adds pg_cleanup to the script's EXIT trap (keeping a trap already
# set); a script that sets its own EXIT trap later sets PG_NO_TRAP=1 and calls
# pg_cleanup from it.  Should the script die without running its traps, a
# watchdog stops the cluster once the script's process is gone.
# PG_KEEP=1 keeps the directory for a post-mortem; PG_NO_WATCHDOG=1 lets the
# cluster outlive the script (the demo does that).

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
PG_DIR=
PG_DATA=
PG_LOG=
PG_CONNINFO=
PG_WATCHDOG=

# Runs a command as the cluster's owner: postgres when we are root.
_pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then
		(cd "$PG_DIR" && runuser -u postgres -- "$@")
	else
		(cd "$PG_DIR" && "$@")
	fi
}

_pg_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prepends pg_cleanup to whatever EXIT trap the script has.
_pg_trap() {
	local prev
	local -a words
	prev=$(trap -p EXIT) # trap -- 'COMMAND' EXIT
	if [ -n "$prev" ]; then
		eval "words=($prev)"
		# shellcheck disable=SC2064
		trap "pg_cleanup; ${words[2]}" EXIT
	else
		trap pg_cleanup EXIT
	fi
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# Stops the cluster when the process $1 (the test script) has gone.
_pg_watchdog() {
	local parent=$1 dir=$PG_DIR data=$PG_DATA bindir=$PG_BINDIR
	(
		trap '' INT
		while kill -0 "$parent" 2>/dev/null; do
			sleep 1
		done
		if [ -f "$data/postmaster.pid" ]; then
			PG_DIR=$dir
			_pg_as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w stop
		fi
		[ "${PG_KEEP:-0}" = 1 ] || rm -rf "$dir"
	) </dev/null >/dev/null 2>&1 &
	PG_WATCHDOG=$!
}

_pg_init() {
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pg.XXXXXX") || return 1
	chmod 0755 "$PG_DIR"
	if [ "$(id -u)" = 0 ]; then
		chown postgres:postgres "$PG_DIR" || return 1
		if ! runuser -u postgres -- test -w "$PG_DIR"; then
			echo "pg_start: the postgres user cannot write $PG_DIR; set TMPDIR to a" \
				"directory it can reach" >&2
			rm -rf "$PG_DIR"
			PG_DIR=
			return 1
		fi
	fi
	PG_DATA=$PG_DIR/data
	PG_LOG=$PG_DIR/postgres.log
	# --no-sync only skips initdb's final flush of a throwaway cluster; the
	# server itself runs with fsync on.
	if ! _pg_as_owner "$PG_BINDIR/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 \
		--locale=C.UTF-8 --no-sync --no-instructions >"$PG_DIR/initdb.log" 2>&1; then
		echo "pg_start: initdb failed:" >&2
		cat "$PG_DIR/initdb.log" >&2
		return 1
	fi
	export PG_DIR PG_DATA PG_LOG
	[ "${PG_NO_TRAP:-0}" = 1 ] || _pg_trap
	[ "${PG_NO_WATCHDOG:-0}" = 1 ] || _pg_watchdog $$
}

# Starts the cluster (creating it on the first call).
pg_start() {
	local tries port listen=${PG_LISTEN-127.0.0.1}
	if [ ! -x "$PG_BINDIR/initdb" ]; then
		echo "pg_start: PostgreSQL 15 not found in $PG_BINDIR (Debian: apt-get install postgresql-15)" >&2
		return 1
	fi
	if [ -z "$PG_DIR" ]; then
		_pg_init || return 1
	fi
	for tries in 1 2 3 4 5 6 7 8 9 10; do
		if [ -n "$PGPORT" ] && [ "$tries" = 1 ] && [ "$PGHOST" = "$PG_DIR" ]; then
			port=$PGPORT # a restart keeps its port
		else
			port=$((20000 + RANDOM % 20001))
		fi
		if [ -n "$listen" ] && _pg_port_open "$port"; then
			continue
		fi
		rm -f "$PG_LOG"
		if _pg_as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
			-o "-p $port -k $PG_DIR -c listen_addresses='$listen'" start >/dev/null 2>&1; then
			PGHOST=$PG_DIR
			PGPORT=$port
			PGUSER=postgres
			PGDATABASE=postgres
			PG_CONNINFO="host=$PG_DIR port=$port user=postgres dbname=postgres"
			export PGHOST PGPORT PGUSER PGDATABASE PG_CONNINFO
			return 0
		fi
		grep -q "already in use" "$PG_LOG" 2>/dev/null && continue
		echo "pg_start: postgres did not start:" >&2
		tail -20 "$PG_LOG" >&2 2>/dev/null
		return 1
	done
	echo "pg_start: no free port found" >&2
	return 1
}

# Stops the cluster by its own data directory (never by process name).
pg_stop() {
	[ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ] || return 0
	_pg_as_owner "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
}

# Stops the cluster and removes its directory (PG_KEEP=1 keeps it).
pg_cleanup() {
	[ -n "$PG_DIR" ] || return 0
	pg_stop
	if [ -n "$PG_WATCHDOG" ]; then
		kill "$PG_WATCHDOG" 2>/dev/null
		wait "$PG_WATCHDOG" 2>/dev/null
		PG_WATCHDOG=
	fi
	if [ "${PG_KEEP:-0}" = 1 ]; then
		echo "# pg_cleanup: kept $PG_DIR" >&2
	else
		rm -rf "$PG_DIR"
	fi
	PG_DIR=
	PG_DATA=
}

# psql against the private cluster: no psqlrc, quiet, unaligned, stops at the first error.
pg_psql() {
	"$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# pg_createdb NAME: creates a database and prints its conninfo.
pg_createdb() {
	pg_psql -d postgres -c "CREATE DATABASE \"$1\"" >/dev/null || return 1
	echo "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$1"
}
