# shellcheck shell=bash
# A private Dovecot 2.3 for one test, on loopback, sourced by bash test scripts.
#
#   . "$top_srcdir/tests/lib/dovecot.sh"
#   dovecot_start || exit 1        # sets DOVECOT_PORT, DOVECOT_CONF, DOVECOT_DIR
#   dovecot_user alice secret      # optional: the default user is "test" / "secret"
#   dovecot_deliver test msg.eml [FOLDER]
#   dovecot_import_many test MBOXFILE [FOLDER]
#   dovecot_restart; dovecot_stop
#
# DOVECOT_EXTRA_CONF, when set at start or restart, is appended to the config
# (e.g. "imap_capability = IMAP4rev1 IDLE UIDPLUS" to hide MOVE).
#
# OAuth 2.0: DOVECOT_OAUTH2_INTROSPECT, an introspection URL (RFC 7662, e.g.
# tests/lib/oauth2_server.py's), adds the XOAUTH2 and OAUTHBEARER mechanisms
# with an oauth2 passdb that asks it about every token (the passwd-file
# passdb then serves PLAIN, LOGIN and lookups only: give the OAuth users an
# entry with dovecot_user too, so that doveadm finds them).
#
# TLS: DOVECOT_TLS=1 at the first start makes a throwaway CA ($DOVECOT_CA, PEM)
# and a server certificate it issued for 127.0.0.1 and localhost, and turns on
# ssl = yes: STARTTLS on DOVECOT_PORT and implicit TLS on DOVECOT_IMAPS_PORT.
# DOVECOT_SSL=required (read at each start and restart) makes it ssl =
# required: no login before TLS, on either port.
#   dovecot_tls_cert [--expired] NAME...   reissues the server certificate for
#   other DNS names or IP addresses (or one already expired); it takes effect
#   on the next dovecot_restart.
# Needs the openssl command (Debian's openssl package).
#
# Everything lives in a fresh directory under ${TMPDIR:-/tmp}: config, base_dir,
# state_dir, log, passwd file and the maildirs, with its own instance name and
# a random port, so tests run in parallel and never touch a system Dovecot
# (/run/dovecot, /var/lib/dovecot, /etc/dovecot).  Needs root (Dovecot's
# master drops to the dovecot user).  dovecot_start installs an EXIT trap that
# calls dovecot_cleanup; a script with its own EXIT trap sets
# DOVECOT_NO_TRAP=1 and calls dovecot_cleanup from it.

# The test CA (tls_ca, tls_ca_cert).
# shellcheck source=tls.sh
. "${BASH_SOURCE[0]%/*}/tls.sh"

DOVECOT_DIR=
DOVECOT_CONF=
DOVECOT_PORT=
DOVECOT_IMAPS_PORT=
DOVECOT_LOG=
DOVECOT_CA=

# The TLS part of the config: none, or ssl = yes with the test certificate.
_dovecot_ssl_conf() {
	if [ -z "$DOVECOT_CA" ]; then
		echo "ssl = no"
		return
	fi
	echo "ssl = ${DOVECOT_SSL:-yes}"
	echo "ssl_cert = <$DOVECOT_DIR/tls/server.pem"
	echo "ssl_key = <$DOVECOT_DIR/tls/server.key"
}

# The oauth2 passdb and its settings file, when DOVECOT_OAUTH2_INTROSPECT is set.
_dovecot_oauth2_conf() {
	[ -n "${DOVECOT_OAUTH2_INTROSPECT:-}" ] || return 0
	printf '%s\n' "introspection_mode = post" "introspection_url = $DOVECOT_OAUTH2_INTROSPECT" \
		"username_attribute = username" "active_attribute = active" "active_value = true" \
		"force_introspection = yes" >"$DOVECOT_DIR/oauth2.conf.ext"
	printf '%s\n' "passdb {" "  driver = oauth2" "  mechanisms = xoauth2 oauthbearer" \
		"  args = $DOVECOT_DIR/oauth2.conf.ext" "}"
}

# Writes the config for port $1 (and the imaps port $2; 0: none).
_dovecot_write_conf() {
	cat >"$DOVECOT_CONF" <<EOF
# Private test instance; nothing here refers to the system's Dovecot.
instance_name = seutudesk-test-$$-${DOVECOT_DIR##*.}
base_dir = $DOVECOT_DIR/run
state_dir = $DOVECOT_DIR/state
protocols = imap
listen = 127.0.0.1
$(_dovecot_ssl_conf)
disable_plaintext_auth = no
auth_mechanisms = plain login${DOVECOT_OAUTH2_INTROSPECT:+ xoauth2 oauthbearer}
log_path = $DOVECOT_DIR/dovecot.log
info_log_path = $DOVECOT_DIR/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:$DOVECOT_DIR/mail/%u
mail_fsync = never
# "IDLE" in the imap processes' titles: tests can wait for a client to idle.
verbose_proctitle = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVECOT_DIR/passwd
${DOVECOT_OAUTH2_INTROSPECT:+  mechanisms = plain login none}
}
$(_dovecot_oauth2_conf)
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$DOVECOT_DIR/home/%u
}
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $1
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${2:-0}
    ssl = yes
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
${DOVECOT_EXTRA_CONF:-}
EOF
}

# True when something accepts connections on 127.0.0.1:$1.
_dovecot_port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True when 127.0.0.1:$1 greets with a ready Dovecot (its auth process up).
_dovecot_ready() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		while IFS= read -r -t 2 line <&3; do
			case $line in *"Dovecot"*"ready."*) exit 0 ;; esac
		done
		exit 1
	) 2>/dev/null
}

# dovecot_tls_cert [--expired] NAME...: a fresh server key and certificate
# from the test CA, for these DNS names or IP addresses (the first is also the
# CN); --expired: valid only for a day in 2020.
dovecot_tls_cert() {
	[ -f "$DOVECOT_DIR/tls/ca.key" ] || { echo "dovecot_tls_cert: no test CA (DOVECOT_TLS=1)" >&2; return 1; }
	tls_ca_cert "$DOVECOT_DIR/tls" "$@"
}

# The throwaway CA, and a server certificate for 127.0.0.1 and localhost.
_dovecot_tls_init() {
	tls_ca "$DOVECOT_DIR/tls" || return 1
	DOVECOT_CA=$DOVECOT_DIR/tls/ca.pem
	export DOVECOT_CA
	dovecot_tls_cert 127.0.0.1 localhost
}

# Adds (or replaces) a user with a plain-text password.
dovecot_user() {
	local user=$1 pass=$2
	[ -n "$DOVECOT_DIR" ] || { echo "dovecot_user: no instance" >&2; return 1; }
	grep -v "^$user:" "$DOVECOT_DIR/passwd" >"$DOVECOT_DIR/passwd.new" 2>/dev/null
	printf '%s:{PLAIN}%s::::::\n' "$user" "$pass" >>"$DOVECOT_DIR/passwd.new"
	chmod 0644 "$DOVECOT_DIR/passwd.new"
	mv "$DOVECOT_DIR/passwd.new" "$DOVECOT_DIR/passwd"
}

# Starts the instance; retries with another random port when the one picked
# is taken.  Prints the log on failure.
dovecot_start() {
	local tries port sport i
	if [ "$(id -u)" != 0 ]; then
		echo "dovecot_start: needs root" >&2
		return 1
	fi
	command -v dovecot >/dev/null || { echo "dovecot_start: dovecot not installed" >&2; return 1; }
	if [ -z "$DOVECOT_DIR" ]; then
		DOVECOT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/dovecot.XXXXXX") || return 1
		# The imap processes run as dovecot and must reach the maildirs.
		chmod 0755 "$DOVECOT_DIR"
		mkdir -p "$DOVECOT_DIR/run" "$DOVECOT_DIR/state" "$DOVECOT_DIR/mail" \
			"$DOVECOT_DIR/home" "$DOVECOT_DIR/import"
		chown dovecot:dovecot "$DOVECOT_DIR/mail" "$DOVECOT_DIR/home" "$DOVECOT_DIR/import"
		: >"$DOVECOT_DIR/passwd"
		dovecot_user test secret
		DOVECOT_CONF=$DOVECOT_DIR/dovecot.conf
		DOVECOT_LOG=$DOVECOT_DIR/dovecot.log
		export DOVECOT_DIR DOVECOT_CONF DOVECOT_LOG
		if [ "${DOVECOT_NO_TRAP:-0}" != 1 ]; then
			trap dovecot_cleanup EXIT
			trap 'exit 130' INT
			trap 'exit 143' TERM
		fi
		if [ "${DOVECOT_TLS:-0}" = 1 ]; then
			_dovecot_tls_init || return 1
		fi
	fi
	for tries in 1 2 3 4 5 6 7 8 9 10; do
		if [ -n "$DOVECOT_PORT" ] && [ "$tries" = 1 ]; then
			port=$DOVECOT_PORT # a restart keeps its ports
			sport=${DOVECOT_IMAPS_PORT:-0}
		else
			port=$((20000 + RANDOM % 20001))
			sport=0
			# Another port of the same range.
			[ -n "$DOVECOT_CA" ] && sport=$((20000 + (port - 20000 + 1 + RANDOM % 20000) % 20001))
		fi
		_dovecot_port_open "$port" && continue
		[ "$sport" != 0 ] && _dovecot_port_open "$sport" && continue
		_dovecot_write_conf "$port" "$sport" || return 1
		# Never start on a broken config: Dovecot's defaults are the
		# system instance's (/run/dovecot, port 143).
		if [ "$(doveconf -c "$DOVECOT_CONF" -h base_dir 2>>"$DOVECOT_LOG")" != "$DOVECOT_DIR/run" ] ||
			[ "$(doveconf -c "$DOVECOT_CONF" -h state_dir 2>>"$DOVECOT_LOG")" != "$DOVECOT_DIR/state" ]; then
			echo "dovecot_start: $DOVECOT_CONF is not a private config; not starting" >&2
			tail -5 "$DOVECOT_LOG" >&2
			return 1
		fi
		if ! dovecot -c "$DOVECOT_CONF" 2>>"$DOVECOT_LOG"; then
			grep -q "Address already in use" "$DOVECOT_LOG" && continue
			echo "dovecot_start: dovecot failed to start:" >&2
			tail -20 "$DOVECOT_LOG" >&2
			return 1
		fi
		for i in $(seq 1 100); do
			if _dovecot_ready "$port" &&
				{ [ "$sport" = 0 ] || _dovecot_port_open "$sport"; }; then
				DOVECOT_PORT=$port
				DOVECOT_IMAPS_PORT=$sport
				export DOVECOT_PORT DOVECOT_IMAPS_PORT
				return 0
			fi
			[ -f "$DOVECOT_DIR/run/master.pid" ] || [ "$i" -lt 20 ] || break
			sleep 0.05
		done
		doveadm -c "$DOVECOT_CONF" stop 2>/dev/null
		grep -q "Address already in use" "$DOVECOT_LOG" && continue
		echo "dovecot_start: dovecot does not listen on $port:" >&2
		tail -20 "$DOVECOT_LOG" >&2
		return 1
	done
	echo "dovecot_start: no free port found" >&2
	return 1
}

# Stops the instance by its own base_dir (never by process name) and waits
# until its master has gone.
dovecot_stop() {
	local pid i
	[ -n "$DOVECOT_CONF" ] && [ -f "$DOVECOT_DIR/run/master.pid" ] || return 0
	[ "$(doveconf -c "$DOVECOT_CONF" -h base_dir 2>/dev/null)" = "$DOVECOT_DIR/run" ] || return 1
	pid=$(cat "$DOVECOT_DIR/run/master.pid" 2>/dev/null)
	doveadm -c "$DOVECOT_CONF" stop 2>/dev/null
	for i in $(seq 1 100); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	rm -f "$DOVECOT_DIR/run/master.pid"
}

dovecot_restart() {
	dovecot_stop && dovecot_start
}

# Stops the instance and removes its directory (set DOVECOT_KEEP=1 to keep it).
dovecot_cleanup() {
	dovecot_stop
	if [ -n "$DOVECOT_DIR" ] && [ "${DOVECOT_KEEP:-0}" != 1 ]; then
		rm -rf "$DOVECOT_DIR"
	fi
	DOVECOT_DIR=
	DOVECOT_CA=
}

# dovecot_deliver USER FILE [FOLDER]: saves one message without SMTP.
dovecot_deliver() {
	local user=$1 file=$2 folder=${3:-INBOX}
	doveadm -c "$DOVECOT_CONF" save -u "$user" -m "$folder" <"$file"
}

# dovecot_import_many USER SOURCE [FOLDER]: bulk load in one doveadm run.
# SOURCE is an mbox file or a maildir (a directory with cur/ or new/); its
# messages go into FOLDER (default INBOX), which is created when missing.
dovecot_import_many() {
	local user=$1 src=$2 folder=${3:-INBOX} dir loc box rc
	dir=$(mktemp -d "$DOVECOT_DIR/import/src.XXXXXX") || return 1
	if [ -d "$src" ]; then
		box=$dir/md
		[ "$folder" = INBOX ] || box="$dir/md/.${folder//\//.}"
		mkdir -p "$dir/md/cur" "$dir/md/new" "$dir/md/tmp" "$box/cur" "$box/new" "$box/tmp"
		cp -p "$src"/cur/* "$box/cur/" 2>/dev/null
		cp -p "$src"/new/* "$box/new/" 2>/dev/null
		loc="maildir:$dir/md"
	else
		mkdir -p "$dir/mbox"
		if [ "$folder" = INBOX ]; then
			cp "$src" "$dir/mbox/inbox"
		else
			: >"$dir/mbox/inbox"
			mkdir -p "$(dirname "$dir/mbox/$folder")"
			cp "$src" "$dir/mbox/$folder"
		fi
		loc="mbox:$dir/mbox:INBOX=$dir/mbox/inbox"
	fi
	chown -R dovecot:dovecot "$dir"
	doveadm -c "$DOVECOT_CONF" import -u "$user" "$loc" "" mailbox "$folder"
	rc=$?
	rm -rf "$dir"
	return $rc
}

# dovecot_maildir USER [FOLDER]: the maildir of a folder (for direct checks).
dovecot_maildir() {
	local user=$1 folder=${2:-INBOX}
	if [ "$folder" = INBOX ]; then
		echo "$DOVECOT_DIR/mail/$user"
	else
		echo "$DOVECOT_DIR/mail/$user/.${folder//\//.}"
	fi
}
