#!/bin/sh
# Installs what seutudesk needs to build, run its demo and run its tests on
# Debian 12.  Run as root.  Quiet when everything is already there.
set -e
PKGS="autoconf automake pkg-config make gcc build-essential
libevent-dev libpq-dev libpcre2-dev libetpan-dev libgnutls28-dev libesmtp-dev libjansson-dev
libncurses-dev libxml2-dev libssl-dev libcurl4-gnutls-dev openssl ca-certificates curl
postgresql-15 dovecot-core dovecot-imapd python3-aiosmtpd tmux
clang libclang-rt-14-dev valgrind
libstrophe-dev prosody python3-slixmpp chromium chromium-driver nodejs jq
libxlsxwriter-dev python3-openpyxl
libvoikko-dev voikko-fi libstemmer-dev
prometheus"
# npm comes with NodeSource's nodejs; Debian's own nodejs needs the npm package.
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# Debian's packages must not start system services we do not use.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $missing
