#!/bin/sh
# Installs what seutudesk needs to build, run its demo and run its tests on
# Debian 12.  Run as root.  Quiet when everything is already there.
#
# When another apt-get, dpkg or unattended-upgrades holds the package
# manager's lock, it waits (up to DEPS_LOCK_TIMEOUT seconds, default 600)
# and says which program holds it; the lock is looked at only when
# something is to be installed.  DEPS_DRY_RUN=1 waits the same way, then
# only prints what it would install.  (For tests: DEPS_LOCKS replaces the
# list of lock files, DEPS_EXTRA adds package names.)
set -e
PKGS="autoconf automake pkg-config make gcc build-essential
libevent-dev libpq-dev libpcre2-dev libetpan-dev libgnutls28-dev libesmtp-dev libjansson-dev
libncurses-dev libxml2-dev libssl-dev libcurl4-gnutls-dev openssl ca-certificates curl
postgresql-15 dovecot-core dovecot-imapd python3-aiosmtpd tmux
clang libclang-rt-14-dev valgrind
libstrophe-dev prosody python3-slixmpp chromium chromium-driver nodejs jq
libxlsxwriter-dev python3-openpyxl
libvoikko-dev voikko-fi libstemmer-dev
prometheus
dpkg-dev debhelper lintian fakeroot"
PKGS="$PKGS ${DEPS_EXTRA:-}"
# npm comes with NodeSource's nodejs; Debian's own nodejs needs the npm package.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

LOCKS=${DEPS_LOCKS:-/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock}
LOCK_TIMEOUT=${DEPS_LOCK_TIMEOUT:-600}

# The program holding a lock on FILE, "NAME (pid N)", from /proc/locks
# (dpkg and apt take POSIX locks, flock(1) takes BSD ones: both are there).
lock_holder() {
	[ -e "$1" ] || return 1
	ino=$(stat -c %i "$1") || return 1
	pid=$(awk -v ino="$ino" '{ split($6, d, ":"); if (d[3] == ino) { print $5; exit } }' /proc/locks)
	[ -n "$pid" ] || return 1
	echo "$(cat "/proc/$pid/comm" 2>/dev/null || echo unknown) (pid $pid)"
}

# Waits until no lock of LOCKS is held, saying what it waits for.
wait_for_locks() {
	waited=0
	for lock in $LOCKS; do
		said=""
		while holder=$(lock_holder "$lock"); do
			if [ "$holder" != "$said" ]; then
				echo "Waiting for the package manager's lock $lock, held by $holder" \
					"(another apt-get, dpkg or unattended-upgrades; up to ${LOCK_TIMEOUT}s) ..."
				said=$holder
			fi
			if [ "$waited" -ge "$LOCK_TIMEOUT" ]; then
				echo "The lock $lock is still held by $holder after ${LOCK_TIMEOUT}s;" \
					"run this again when it has finished." >&2
				exit 1
			fi
			sleep 1
			waited=$((waited + 1))
		done
		[ -z "$said" ] || echo "The lock $lock is free now."
	done
}

wait_for_locks
if [ "${DEPS_DRY_RUN:-0}" = 1 ]; then
	echo "Would install:$missing"
	exit 0
fi
echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" update -q
# Debian's packages must not start system services we do not use.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" install -y -q --no-install-recommends $missing
