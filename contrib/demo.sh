#!/bin/bash
# The demo: installs what is missing (as root on Debian 12), builds seutudesk,
# and classifies the sample mails of contrib/samples with the region's
# default rules, printing one line per mail and then one mail's full decision.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/_build/demo

if [ "$(id -u)" = 0 ]; then
	sh "$top/contrib/debian-deps.sh"
fi
echo "==> building in $build"
(cd "$top" && autoreconf -fi >/dev/null 2>&1)
mkdir -p "$build"
(cd "$build" && "$top/configure" -q && make -s -j2 >/dev/null)

ctl="$build/seutudeskctl"
rules="$top/contrib/rules.d"
echo
echo "==> seutudeskctl classify --table contrib/samples/*.eml"
"$ctl" classify --rules "$rules" --table "$top"/contrib/samples/*.eml
echo
echo "==> seutudeskctl classify contrib/samples/03-saarikka-kotihoito.eml (the full decision)"
"$ctl" classify --rules "$rules" "$top/contrib/samples/03-saarikka-kotihoito.eml"
echo
echo "Classify any mail yourself:  $ctl classify --rules $rules FILE.eml"
