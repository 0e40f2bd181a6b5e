# shellcheck shell=bash
# The setup the integration tests of the daemon's HTTPS API share: the
# prerequisite checks, a work directory with a certificate and a free port,
# a bound on the run, the cleanup, waiting for /healthz, curl and JSON
# helpers, agents and tokens.  Source it from bash after setting
# top_srcdir and top_builddir (and PY, the Python with the test's modules;
# /usr/bin/python3 if unset), beside tap.sh or the test's own ok, then:
#
#   need_built seutudeskd seutudeskctl   # skip_all unless $top_builddir has them
#   need_cmd curl openssl                # skip_all unless they are installed
#   need_mail_stack [MODULE...]          # dovecot, root, aiosmtpd (and MODULEs) in $PY
#   api_workdir NAME        # W: a new directory with cert.pem and key.pem;
#                           # port: a free one; base: https://127.0.0.1:$port
#   STACK_EXTRA_CONF="$(api_conf)
#   workers = 2"            # the [api] section for $port and $W's certificate
#   . "$top_srcdir/tests/lib/stack.sh"
#   api_stack_start         # stack_start or skip; the EXIT trap is api_cleanup
#   api_watchdog LIMIT      # Bail out and SIGTERM the test after LIMIT seconds
#   daemon_start; api_wait  # true once $base/healthz answers
#   api_agent LOGIN OPT...  # seutudeskctl agent add, named "Agent LOGIN"
#   api_token VAR LOGIN     # VAR=the agent's new token (or --bridge NAME)
#   api_req [CURL ARGS...] PATH   # prints the status; $W/body, $W/headers
#   api_req -H "$(api_bearer "$TOK")" /api/v1/me
#   j "d['ticket']"         # a Python expression over the last body's JSON d
#
# A test with its own daemon and configuration sets API_CONF for ctl and
# the token helpers.  For seutudeskctl alone on a private PostgreSQL (no
# daemon): db_start NAME, then db_ctl SUB CMD ARGS... (stdout in $out,
# stderr in $err) and refused DESC PATTERN SUB CMD ARGS....
# STACK_KEEP=1 keeps $W after the run.

PY=${PY:-/usr/bin/python3}

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

# need_built PROGRAM...: the programs of the build tree, and $PY.
need_built() {
	local p
	for p in "$@"; do
		[ -x "$top_builddir/$p" ] || skip_all "$top_builddir/$p not built or not installed"
	done
	[ -x "$PY" ] || skip_all "$PY not built or not installed"
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || skip_all "$c is not installed"
	done
}

# need_mail_stack [MODULE...]: what stack.sh needs besides PostgreSQL.
need_mail_stack() {
	need_cmd dovecot
	[ "$(id -u)" = 0 ] || skip_all "the private Dovecot needs root"
	if [ $# = 0 ]; then
		"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd is not installed"
	else
		"$PY" -c "import aiosmtpd, $(echo "$@" | sed 's/ /, /g')" 2>/dev/null ||
			skip_all "python3-aiosmtpd or python3-$(echo "$@" | sed 's/ / or python3-/g') is not installed"
	fi
}

api_workdir() {
	W=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
	chmod 0755 "$W"
	. "$top_srcdir/tests/lib/tls.sh"
	tls_cert "$W" || { rm -rf "$W"; echo "Bail out! openssl failed"; exit 1; }
	port=$(free_port) || { rm -rf "$W"; echo "Bail out! no free port"; exit 1; }
	base=https://127.0.0.1:$port
}

api_conf() {
	printf '\n[api]\nlisten = 127.0.0.1:%s\ncert_file = %s/cert.pem\nkey_file = %s/key.pem' \
		"$port" "$W" "$W"
}

api_stack_start() {
	if ! stack_start >"$W/stack.log" 2>&1; then
		echo "1..0 # SKIP the stack did not start: $(tail -1 "$W/stack.log")"
		rm -rf "$W"
		exit 0
	fi
	trap api_cleanup EXIT
}

WATCHDOG=
api_watchdog() {
	local limit=$1 name
	name=$(basename "$0")
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep "$limit" >/dev/null 2>&1 &
		s=$!
		wait "$s"
		echo "Bail out! $name took over $limit s"
		kill -TERM $$
	) &
	WATCHDOG=$!
}

# shellcheck disable=SC2317
api_cleanup() {
	if [ -n "$WATCHDOG" ]; then
		kill -TERM "$WATCHDOG" 2>/dev/null
		wait "$WATCHDOG" 2>/dev/null
	fi
	declare -F stack_cleanup >/dev/null && stack_cleanup
	[ "${STACK_KEEP:-0}" = 1 ] || rm -rf "$W"
}

# api_wait [TRIES]: polls $base/healthz every 0.1 s (100 times); false if it
# never answers or the daemon ($STACK_DAEMON_PID or $DAEMON_PID) has gone.
api_wait() {
	local _ pid
	for _ in $(seq "${1:-100}"); do
		curl -s -o /dev/null --max-time 2 --cacert "$W/cert.pem" "$base/healthz" && return 0
		pid=${STACK_DAEMON_PID:-${DAEMON_PID:-}}
		[ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

ctl() { "$top_builddir/seutudeskctl" -c "${API_CONF:-$STACK_CONF}" "$@"; }

# api_agent LOGIN OPTIONS...: "Agent LOGIN" <LOGIN@seutu-it.fi>; Bail out if refused.
api_agent() {
	local login=$1
	shift
	"$top_builddir/seutudeskctl" -c "${API_CONF:-$STACK_CONF}" agent add "$login" \
		--name "Agent $login" --email "$login@seutu-it.fi" "$@" >>"$W/ctl.log" 2>&1 ||
		{ tail -3 "$W/ctl.log"; echo "Bail out! agent add $login"; exit 1; }
}

# api_token VAR LOGIN | VAR --bridge NAME: a new token into VAR; Bail out if none.
api_token() {
	local var=$1 tok
	shift
	tok=$("$top_builddir/seutudeskctl" -c "${API_CONF:-$STACK_CONF}" token issue "$@" 2>>"$W/ctl.log" |
		grep -o 'sdt_[A-Za-z0-9_-]*' | head -1)
	[ -n "$tok" ] || { echo "Bail out! token issue $*"; exit 1; }
	printf -v "$var" '%s' "$tok"
}

api_bearer() { echo "Authorization: Bearer $1"; }

# api_req [CURL ARGS...] PATH: prints the status; the body in $W/body, the
# headers in $W/headers.  API_TIMEOUT bounds a call (20 s).
api_req() {
	local path=${*: -1}
	curl -s --max-time "${API_TIMEOUT:-20}" --cacert "$W/cert.pem" -o "$W/body" -D "$W/headers" \
		-w '%{http_code}' "${@:1:$#-1}" "$base$path"
}

# j EXPR: a Python expression over the last body's JSON d ("" for None,
# JSON for a dict, list or bool, "error: ..." when it fails).
j() {
	"$PY" - "$1" "$W/body" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[2]))
except ValueError:
    d = None
try:
    v = eval(sys.argv[1])
except Exception as e:
    v = "error: %s" % e
print('' if v is None else (json.dumps(v) if isinstance(v, (dict, bool, list)) else v))
EOF
}

# db_start NAME: a private PostgreSQL (pg.sh, sourced first) with database
# NAME, or skip_all; W is a work directory in it, out and err files there,
# db the conninfo.
db_start() {
	local log=${TMPDIR:-/tmp}/$1-pg.$$
	if ! pg_start 2>"$log"; then
		echo "1..0 # SKIP no private PostgreSQL: $(head -1 "$log")"
		rm -f "$log"
		exit 0
	fi
	rm -f "$log"
	W=$PG_DIR/work
	mkdir -p "$W"
	out=$W/out
	err=$W/err
	db=$(pg_createdb "$1") || { echo "1..0 # SKIP cannot create the database"; exit 0; }
}

# db_ctl SUB CMD ARGS...: seutudeskctl on $db; stdout in $out, stderr in $err.
db_ctl() {
	local sub=$1 cmd=$2
	shift 2
	"$top_builddir/seutudeskctl" -c /nonexistent/seutudesk.conf "$sub" "$cmd" --database "$db" "$@" \
		>"$out" 2>"$err"
}

# refused DESC PATTERN SUB CMD ARGS...: db_ctl exits 1 with PATTERN on stderr.
refused() {
	local desc=$1 pattern=$2 rc
	shift 2
	db_ctl "$@"
	rc=$?
	[ "$rc" = 1 ] && grep -q -- "$pattern" "$err"
	ok $? "$desc"
	[ "$rc" = 1 ] && grep -q -- "$pattern" "$err" || sed "s/^/#   exit $rc: /" "$err"
}
