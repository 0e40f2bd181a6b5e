#!/bin/bash
# Installs the browser tools of the tests (puppeteer-core, axe-core: the exact
# versions of package-lock.json, no browser download: Debian's Chromium is
# used) and prints the node_modules directory.  The install goes to a cache
# outside the source tree, keyed by the lock file's hash, so a read-only
# source tree (make distcheck) works and a second run is instant:
#   ${SEUTUDESK_BROWSER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/seutudesk-browser}/HASH/node_modules
# Exit status 1 (and a reason on stderr) when npm is missing or fails.
set -u
here=$(cd "$(dirname "$0")" && pwd)
command -v npm >/dev/null || { echo "install.sh: npm is not installed" >&2; exit 1; }
hash=$(sha256sum "$here/package-lock.json" | cut -c1-16)
root=${SEUTUDESK_BROWSER_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/seutudesk-browser}
dir=$root/$hash
if [ -f "$dir/.complete" ]; then
	echo "$dir/node_modules"
	exit 0
fi
mkdir -p "$root" || exit 1
tmp=$(mktemp -d "$root/.install.XXXXXX") || exit 1
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
if ! (cd "$tmp" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error \
	--cache "$tmp/.npm") >"$tmp/npm.log" 2>&1; then
	echo "install.sh: npm ci failed:" >&2
	tail -5 "$tmp/npm.log" >&2
	rm -rf "$tmp"
	exit 1
fi
rm -rf "$tmp/.npm"
touch "$tmp/.complete"
# Another run may have finished first: keep whichever is there.
mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
echo "$dir/node_modules"
