#!/bin/sh
# The programs' command lines: --help and --version everywhere, and
# "seutudeskd -n" telling good configuration and rules from bad ones.
set -u
bin=${top_builddir:?}
src=${top_srcdir:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { desc=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$desc"; else not_ok "$desc"; sed 's/^/#   /' "$tmp/out"; fi; }

for p in seutudeskd seutudeskctl; do
	check "$p --help exits 0 and prints a usage" sh -c "'$bin/$p' --help | grep -q '^Usage: $p'"
	check "$p --version" sh -c "'$bin/$p' --version | grep -q '^$p [0-9]'"
	check "$p with an unknown option exits 2" sh -c "'$bin/$p' --no-such-option; test \$? = 2"
done
check "seutudeskctl with an unknown command exits 2 and names it" \
	sh -c "'$bin/seutudeskctl' frobnicate 2>&1 | grep -q \"unknown command 'frobnicate'\""

cat >"$tmp/good.conf" <<CONF
[daemon]
rules_dir = $src/contrib/rules.d
log_level = debug
CONF
check "seutudeskd -n accepts a good config and the default rules" \
	sh -c "'$bin/seutudeskd' -n -c '$tmp/good.conf' | grep -q 'configuration OK'"
check "SEUTUDESK_CONF names the config file" \
	sh -c "SEUTUDESK_CONF='$tmp/good.conf' '$bin/seutudeskd' -n"
check "the annotated example config is valid apart from its rules path" \
	sh -c "sed 's|^#* *rules_dir *=.*|rules_dir = $src/contrib/rules.d|' '$src/contrib/seutudesk.conf.example' >'$tmp/example.conf' && '$bin/seutudeskd' -n -c '$tmp/example.conf'"

printf '[daemon]\nrules_dir = %s/contrib/rules.d\nlog_levl = info\n' "$src" >"$tmp/typo.conf"
check "seutudeskd -n rejects an unknown key with file:line" \
	sh -c "'$bin/seutudeskd' -n -c '$tmp/typo.conf' 2>&1 | grep -q 'typo.conf:3:.*log_levl'; test \$? = 0 && ! '$bin/seutudeskd' -n -c '$tmp/typo.conf' >/dev/null 2>&1"

mkdir "$tmp/badrules"
printf 'rule broken\n    set sector sote\n    body ~ (unclosed\n' >"$tmp/badrules/10-bad.rules"
printf '[daemon]\nrules_dir = %s/badrules\n' "$tmp" >"$tmp/badrules.conf"
check "seutudeskd -n rejects a bad rule with file:line and exits 1" \
	sh -c "'$bin/seutudeskd' -n -c '$tmp/badrules.conf' 2>&1 | grep -q '10-bad.rules:3:'; test \$? = 0 && ! '$bin/seutudeskd' -n -c '$tmp/badrules.conf' >/dev/null 2>&1"
check "seutudeskd -n on a missing config file exits 1 and names it" \
	sh -c "'$bin/seutudeskd' -n -c '$tmp/none.conf' 2>&1 | grep -q 'none.conf'; test \$? = 0 && ! '$bin/seutudeskd' -n -c '$tmp/none.conf' >/dev/null 2>&1"

# The daemon runs, reloads on SIGHUP (refusing a broken file and keeping
# the old config), and stops on SIGTERM, removing its pid file.
printf '[daemon]\nrules_dir = %s/contrib/rules.d\npid_file = %s/d.pid\n' "$src" "$tmp" >"$tmp/run.conf"
"$bin/seutudeskd" -f -c "$tmp/run.conf" 2>"$tmp/d.log" &
dpid=$!
i=0
while [ ! -s "$tmp/d.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "the daemon writes its pid file" sh -c "test \"\$(cat '$tmp/d.pid')\" = $dpid"
cp "$tmp/run.conf" "$tmp/run.conf.good"
echo "bogus line" >>"$tmp/run.conf"
kill -HUP $dpid
i=0
while ! grep -q 'reload outcome=refused' "$tmp/d.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "a broken config on SIGHUP is refused and the daemon keeps running" \
	sh -c "grep -q 'run.conf:4' '$tmp/d.log' && kill -0 $dpid"
cp "$tmp/run.conf.good" "$tmp/run.conf"
kill -HUP $dpid
i=0
while ! grep -q 'reload outcome=ok' "$tmp/d.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "a good config on SIGHUP is taken" grep -q 'reload outcome=ok' "$tmp/d.log"
kill -TERM $dpid
wait $dpid
st=$?
check "SIGTERM stops the daemon with status 0 and removes the pid file" \
	sh -c "test $st = 0 && test ! -e '$tmp/d.pid'"

echo "1..$n"
[ $fails = 0 ]
