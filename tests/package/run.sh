#!/bin/bash
# The Debian packages, built and used as an admin would: builds them with
# dpkg-buildpackage from a clean copy of the tree, runs lintian, installs
# them with apt-get, runs the INSTALLED seutudeskd and seutudeskctl as the
# user seutudesk with the installed /etc/seutudesk/seutudesk.conf pointed at
# a private PostgreSQL, Dovecot and SMTP server (tests/lib), takes a mail in
# and sees its ticket and acknowledgement, checks the schema handling of an
# upgrade, then purges the packages and checks nothing of them is left.
#
# TAP on standard output.  Needs root and the tools of contrib/debian-deps.sh
# (dpkg-dev, debhelper, lintian); skipped when not root, when SKIP_PACKAGE=1,
# or when seutudesk is already installed on this machine (it would be
# purged).  systemd is not PID 1 here, so the daemon runs directly; the unit
# is checked to be installed and enabled.  Bounded: the build by
# PACKAGE_BUILD_TIMEOUT seconds (default 900), every wait by its own limit.

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
. "$top_srcdir/tests/lib/tap.sh"

PKGS="seutudesk seutudesk-client seutudesk-webchat seutudesk-xmpp"

skip() {
	echo "1..0 # SKIP $*"
	exit 0
}
[ "${SKIP_PACKAGE:-0}" = 1 ] && skip "SKIP_PACKAGE=1"
[ "$(id -u)" = 0 ] || skip "needs root (installs and purges Debian packages)"
for t in dpkg-buildpackage dh lintian apt-get; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not found (contrib/debian-deps.sh installs it)"
done
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed" &&
		skip "$p is installed on this machine; the test would purge it"
done
[ -e /etc/seutudesk ] && skip "/etc/seutudesk exists on this machine; the test would remove it"

. "$top_srcdir/tests/lib/pg.sh"
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/smtp.sh"

W=$(mktemp -d "${TMPDIR:-/tmp}/seutudesk-package.XXXXXX") || exit 1
chmod 0755 "$W"
out=$W/out
DAEMON_PID=
user_existed=no
getent passwd seutudesk >/dev/null && user_existed=yes

cleanup() {
	[ -n "$DAEMON_PID" ] && kill -KILL "$DAEMON_PID" 2>/dev/null
	rm -f /usr/share/seutudesk/sql/999_package_test.sql
	for p in $PKGS; do
		if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
			DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $PKGS >/dev/null 2>&1
			break
		fi
	done
	[ "$user_existed" = no ] && getent passwd seutudesk >/dev/null &&
		deluser --system --quiet seutudesk >/dev/null 2>&1
	smtp_stop 2>/dev/null
	dovecot_cleanup 2>/dev/null
	pg_cleanup 2>/dev/null
	[ "${PACKAGE_KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# waitfor SECONDS COMMAND...: true once COMMAND succeeds.
waitfor() {
	local secs=$1 i=0
	shift
	while [ $i -lt $((secs * 5)) ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# -- a clean copy of the tree, and the packages built from it ---------------------
# The working tree's tracked and new files, without what git ignores (build
# directories, generated autotools files); a tree without git is copied
# whole but for its build directories.
mkdir "$W/src"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top_srcdir" && git ls-files -z -c -o --exclude-standard |
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -x -C "$W/src"
else
	tar -C "$top_srcdir" --exclude=./_build --exclude=./autom4te.cache -cf - . | tar -x -C "$W/src"
fi
ok $? "a clean copy of the tree"
(cd "$W/src" && DEB_BUILD_OPTIONS="nocheck parallel=${JOBS:-2}" \
	timeout "${PACKAGE_BUILD_TIMEOUT:-900}" dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1
rc=$?
ok $rc "dpkg-buildpackage -us -uc -b builds the packages"
[ $rc = 0 ] || { tail -40 "$W/build.log" | sed 's/^/#   /'; echo "1..$n"; exit 1; }
changes=$(ls "$W"/seutudesk_*.changes)
for p in $PKGS; do
	ls "$W/${p}_"*.deb >/dev/null 2>&1
	ok $? "$p is built"
done

timeout 300 lintian --fail-on error,warning --display-level ">=warning" "$changes" \
	>"$W/lintian.log" 2>&1
rc=$?
grep -v 'running with root privileges' "$W/lintian.log" >"$out"
ok $rc "lintian finds no error or warning (overrides in debian/*.lintian-overrides)"
[ $rc = 0 ] && [ -s "$out" ] && sed 's/^/#   /' "$out"
[ $rc = 0 ] || sed 's/^/#   /' "$out"

# -- installed with apt-get, dependencies resolved ----------------------------------------
debs=
for p in $PKGS; do debs="$debs $(ls "$W/${p}_"*.deb)"; done
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive timeout 600 apt-get -o DPkg::Lock::Timeout=300 install -y -q \
	--no-install-recommends $debs >"$W/install.log" 2>&1
rc=$?
ok $rc "apt-get install ./seutudesk*.deb"
[ $rc = 0 ] || { tail -30 "$W/install.log" | sed 's/^/#   /'; echo "1..$n"; exit 1; }
has "$W/install.log" "seutudesk: configure the database in /etc/seutudesk/seutudesk.conf" \
	"without a database the installation succeeds and says what to configure"
getent passwd seutudesk >"$out"
has "$out" "^seutudesk:x:[0-9]*:[0-9]*::/nonexistent:/usr/sbin/nologin" \
	"the system user seutudesk exists, without a home or shell"
for f in /usr/sbin/seutudeskd /usr/sbin/seutudeskctl /usr/bin/seutudesk \
	/usr/bin/seutudesk-webchat /usr/bin/seutudesk-xmpp; do
	[ -x "$f" ]
	ok $? "$f is installed"
done
for f in /usr/share/seutudesk/sql/001_core.sql /usr/share/seutudesk/rules.d/10-municipality.rules \
	/usr/share/seutudesk/rules.d/05-names.dict /usr/share/seutudesk/templates/ack.fi.txt \
	/usr/share/seutudesk/webchat/widget.js /usr/share/seutudesk/webchat/texts/fi.json \
	/usr/share/man/man8/seutudeskd.8.gz /usr/share/man/man1/seutudesk.1.gz \
	/usr/share/man/man5/seutudesk.conf.5.gz /usr/share/man/man8/seutudesk-xmpp.8.gz; do
	[ -f "$f" ]
	ok $? "$f is installed"
done
grep -qx /etc/seutudesk/seutudesk.conf /var/lib/dpkg/info/seutudesk.conffiles
ok $? "/etc/seutudesk/seutudesk.conf is a conffile"
grep -qx /etc/default/seutudesk /var/lib/dpkg/info/seutudesk.conffiles
ok $? "/etc/default/seutudesk is a conffile"
for u in seutudeskd seutudesk-webchat seutudesk-xmpp; do
	[ -f /lib/systemd/system/$u.service ]
	ok $? "the unit $u.service is installed"
	[ -L /etc/systemd/system/multi-user.target.wants/$u.service ]
	ok $? "and enabled (the bridges' start only once their settings exist)"
done
if command -v systemd-analyze >/dev/null 2>&1; then
	(cd /lib/systemd/system && systemd-analyze verify --man=no seutudeskd.service \
		seutudesk-webchat.service seutudesk-xmpp.service) >"$out" 2>&1
	ok $? "systemd-analyze verify passes the installed units"
	[ -s "$out" ] && sed 's/^/#   /' "$out"
else
	echo "ok $((n + 1)) - # SKIP systemd-analyze not found"
	n=$((n + 1))
fi
dpkg -L $PKGS 2>/dev/null | sort -u >"$W/files"

# The installed programs find their data without flags.
runuser -u seutudesk -- seutudeskd -n >"$out" 2>&1
has "$out" "/etc/seutudesk/seutudesk.conf: configuration OK, [1-9][0-9]* rules from /usr/share/seutudesk/rules.d" \
	"seutudeskd -n as seutudesk reads the installed config and rules"
runuser -u seutudesk -- seutudeskctl migrate --help >"$out" 2>&1
has "$out" "default: /usr/share/seutudesk/sql" "seutudeskctl migrate takes the installed migrations"
printf 'token\n' >/etc/seutudesk/webchat.token
printf 'daemon-socket = /run/seutudesk/api.sock\ntoken-file = /etc/seutudesk/webchat.token\norigin = https://www.kinnula.fi\n' \
	>/etc/seutudesk/webchat.conf
runuser -u seutudesk -- seutudesk-webchat -n -c /etc/seutudesk/webchat.conf >"$out" 2>&1
rc=$?
ok $rc "seutudesk-webchat -n as seutudesk finds the installed widget without --www"
[ $rc = 0 ] || sed 's/^/#   /' "$out"

# -- the installed configuration pointed at private servers ------------------------------
PG_NO_TRAP=1 DOVECOT_NO_TRAP=1
export PG_NO_TRAP DOVECOT_NO_TRAP
pg_start >/dev/null 2>"$out" || { sed 's/^/#   /' "$out"; echo "Bail out! no PostgreSQL"; exit 1; }
pg_createdb seutudesk >/dev/null
dovecot_start >/dev/null 2>"$out" || { sed 's/^/#   /' "$out"; echo "Bail out! no Dovecot"; exit 1; }
smtp_start >/dev/null 2>"$out" || { sed 's/^/#   /' "$out"; echo "Bail out! no SMTP server"; exit 1; }
trap cleanup EXIT

printf 'secret\n' >/etc/seutudesk/imap.pass
chown root:seutudesk /etc/seutudesk/imap.pass
chmod 0640 /etc/seutudesk/imap.pass
conf=/etc/seutudesk/seutudesk.conf
sed -i -e "s|^#conninfo = dbname=seutudesk\$|conninfo = host=$PGHOST port=$PGPORT user=postgres dbname=seutudesk|" \
	-e "s|^#host = localhost\$|host = 127.0.0.1|" -e "s|^#port = 25\$|port = $SMTP_PORT|" \
	-e "s|^#tls = starttls\$|tls = none|" "$conf"
cat >>"$conf" <<EOF

[mailbox support]
host = 127.0.0.1
port = $DOVECOT_PORT
tls = none
user = test
password_file = /etc/seutudesk/imap.pass
processed = move
poll_interval = 2s
EOF
grep -c "^conninfo = host=\|^host = 127.0.0.1\|^port = $SMTP_PORT\|^tls = none" "$conf" >"$out"
is "$(cat "$out")" 6 "the installed config is set to the private servers"

# daemon: the installed seutudeskd as seutudesk with the installed config, in
# the background; its log in $W/daemon.log.
daemon_start() {
	setpriv --reuid=seutudesk --regid=seutudesk --init-groups /usr/sbin/seutudeskd -f \
		>>"$W/daemon.log" 2>&1 &
	DAEMON_PID=$!
}
daemon_stop() {
	kill -TERM "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID"
	local rc=$?
	DAEMON_PID=
	return $rc
}

timeout 30 setpriv --reuid=seutudesk --regid=seutudesk --init-groups /usr/sbin/seutudeskd -f \
	>"$out" 2>&1
is $? 1 "before the schema exists seutudeskd refuses to start"
has "$out" "run seutudeskctl migrate" "and says to run seutudeskctl migrate"

timeout 120 runuser -u seutudesk -- seutudeskctl migrate >"$out" 2>&1
ok $? "seutudeskctl migrate as seutudesk, without flags"
has "$out" "applied 001_core.sql" "it applies the installed migrations"

# -- a mail becomes a ticket and is acknowledged ------------------------------------------
daemon_start
cat >"$W/mail.eml" <<'EOF'
From: Maija Meikäläinen <maija@kinnula.fi>
To: tuki@seutu-it.fi
Subject: Tulostin ei tulosta
Message-ID: <package-test-1@kinnula.fi>
Date: Mon, 07 Dec 2026 09:00:00 +0200
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hei, kunnantalon tulostin ei tulosta.  Maija, Kinnulan kunta
EOF
dovecot_deliver test "$W/mail.eml"
ok $? "a mail delivered to Dovecot"
tickets() { pg_psql -d seutudesk -c "SELECT count(*) FROM tickets WHERE subject = 'Tulostin ei tulosta'"; }
waitfor 60 test "$(tickets)" = 1
is "$(tickets)" 1 "the installed daemon makes its ticket"
smtp_wait_count 1 60 >/dev/null 2>&1
is "$(smtp_count)" 1 "the acknowledgement reaches the SMTP server"
grep -l "^Subject: .*\[Seutu-IT #[0-9]*\]" "$SMTP_MAILDIR"/new/* >/dev/null 2>&1
ok $? "it carries the ticket's tag"
grep -l "^To: .*maija@kinnula.fi" "$SMTP_MAILDIR"/new/* >/dev/null 2>&1
ok $? "and goes to the requester"
daemon_stop
is $? 0 "SIGTERM stops the daemon with status 0"
grep -q "event=start" "$W/daemon.log" || sed 's/^/#   /' "$W/daemon.log"

# -- an upgrade that brings a migration ---------------------------------------------------
# A migration the installed package did not have stands for a newer
# package's; the postinst is run as dpkg runs it on an upgrade.
echo "CREATE TABLE package_test_upgrade (a int);" >/usr/share/seutudesk/sql/999_package_test.sql
/var/lib/dpkg/info/seutudesk.postinst configure 0.1.0 >"$out" 2>&1
ok $? "the postinst of an upgrade succeeds with the migration pending"
has "$out" "needs 1 migration(s): run" "it says a migration is needed"
has "$out" "seutudeskctl migrate" "and names seutudeskctl migrate"
is "$(pg_psql -d seutudesk -c "SELECT to_regclass('package_test_upgrade') IS NULL")" t \
	"and migrates nothing by itself"
sed -i 's/^SEUTUDESK_MIGRATE=no$/SEUTUDESK_MIGRATE=yes/' /etc/default/seutudesk
/var/lib/dpkg/info/seutudesk.postinst configure 0.1.0 >"$out" 2>&1
ok $? "with SEUTUDESK_MIGRATE=yes in /etc/default/seutudesk the postinst succeeds"
has "$out" "applied 999_package_test.sql" "and applies the migration"
is "$(pg_psql -d seutudesk -c "SELECT to_regclass('package_test_upgrade') IS NULL")" f \
	"the migration's table exists"
rm -f /usr/share/seutudesk/sql/999_package_test.sql
timeout 30 setpriv --reuid=seutudesk --regid=seutudesk --init-groups /usr/sbin/seutudeskd -f \
	>"$out" 2>&1
is $? 1 "seutudeskd refuses a schema newer than its own"
has "$out" "schema version 999, which this seutudeskd .* belongs to a newer seutudesk" \
	"and says so"

# -- purged, nothing is left --------------------------------------------------------------------
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive timeout 300 apt-get purge -y -q $PKGS >"$W/purge.log" 2>&1
ok $? "apt-get purge the packages"
left=0
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed" && left=$((left + 1))
done
is $left 0 "no package is left installed"
[ ! -e /etc/seutudesk ]
ok $? "/etc/seutudesk is gone, with the password file the admin added"
[ ! -e /etc/default/seutudesk ]
ok $? "/etc/default/seutudesk is gone"
[ ! -e /usr/share/seutudesk ]
ok $? "/usr/share/seutudesk is gone"
left=
for u in seutudeskd seutudesk-webchat seutudesk-xmpp; do
	[ -e /etc/systemd/system/multi-user.target.wants/$u.service ] && left="$left $u (enabled)"
	[ -e /lib/systemd/system/$u.service ] && left="$left $u"
done
is "$left" "" "the units and their enablement are gone"
: >"$out"
while read -r f; do
	[ -e "$f" ] || continue
	# Directories the packages share with the system stay.
	[ -d "$f" ] && [ -n "$(ls -A "$f" 2>/dev/null)" ] && continue
	echo "$f" >>"$out"
done <"$W/files"
is "$(cat "$out")" "" "no file of the packages is left"
getent passwd seutudesk >/dev/null
ok $? "the user seutudesk stays after purge (Debian practice: ids are not reused)"

echo "1..$n"
[ "$failed" = 0 ]
