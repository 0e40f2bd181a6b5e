#!/bin/bash
# contrib/debian-deps.sh and the package manager's lock: with nothing to
# install it never looks at the lock; with something to install it waits
# while another program holds it (a BSD lock as flock(1) takes, a POSIX lock
# as apt and dpkg take), names the holder, and goes on once it is free; it
# gives up with a clear message after DEPS_LOCK_TIMEOUT.  Runs in dry-run
# mode on lock files of its own, so it installs nothing and never holds the
# system's lock.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/tap.sh"

DEPS=$top_srcdir/contrib/debian-deps.sh
PY=/usr/bin/python3
for t in flock dpkg-query "$PY"; do
	command -v "$t" >/dev/null 2>&1 || { echo "1..0 # SKIP $t not found"; exit 0; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/deps-lock.XXXXXX") || exit 1
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$W"' EXIT
out=$W/out
front=$W/lock-frontend
lists=$W/lists-lock
: >"$front"
: >"$lists"
export DEPS_LOCKS="$front $lists" DEPS_DRY_RUN=1
# A package name that is never installed, so there is always something to do.
none=seutudesk-deps-lock-test-none

# deps [ENV=VALUE...]: runs the script (at most 60 s), output in $out.
deps() {
	env "$@" timeout 60 sh "$DEPS" >"$out" 2>&1
}
# hold_flock FILE SECONDS / hold_posix FILE SECONDS: hold a lock in the
# background ($holder) and return once it is taken.
hold_flock() {
	rm -f "$W/taken"
	# -o: flock itself holds the lock, so killing it frees the lock.
	flock -x -o "$1" sh -c "touch '$W/taken'; sleep $2" >/dev/null 2>&1 &
	holder=$!
	while [ ! -e "$W/taken" ]; do sleep 0.05; done
}
hold_posix() {
	rm -f "$W/taken"
	"$PY" -c '
import fcntl, sys, time
f = open(sys.argv[1], "w")
fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))' "$1" "$W/taken" "$2" >/dev/null 2>&1 &
	holder=$!
	while [ ! -e "$W/taken" ]; do sleep 0.05; done
}

# -- nothing to install: the lock is not looked at -----------------------------
hold_flock "$front" 30
# Every package of the list installed is this machine's normal state only
# where the suite ran before; the check needs it, so it is skipped otherwise.
if DEPS_LOCKS=/nonexistent timeout 60 sh "$DEPS" >"$out" 2>&1 && ! grep -q "Would install" "$out"; then
	deps
	ok $? "with everything installed it succeeds while the lock is held"
	is "$(cat "$out")" "" "and says nothing: it did not wait"
else
	echo "ok $((n + 1)) - # SKIP not every package of the list is installed here"
	echo "ok $((n + 2)) - # SKIP not every package of the list is installed here"
	n=$((n + 2))
fi
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=

# -- a BSD lock (flock) on the frontend lock: it waits, names it, goes on ------
hold_flock "$front" 3
hpid=$holder
deps DEPS_EXTRA=$none
rc=$?
ok $rc "with a package to install it succeeds once the lock is free"
has "$out" "Waiting for the package manager's lock $front, held by flock (pid $hpid)" \
	"it says it waits and names the holder"
has "$out" "The lock $front is free now" "it says when the lock is free"
has "$out" "Would install: $none" "then it goes on"
kill -0 "$hpid" 2>/dev/null
is $? 1 "it went on only after the holder had finished"
wait "$holder" 2>/dev/null
holder=

# -- a POSIX lock (as apt and dpkg take) on the second lock ---------------------------
hold_posix "$lists" 3
hpid=$holder
deps DEPS_EXTRA=$none
ok $? "a POSIX lock is waited for as well"
has "$out" "Waiting for the package manager's lock $lists, held by python3 (pid $hpid)" \
	"it names that holder"
kill -0 "$hpid" 2>/dev/null
is $? 1 "it went on only after that holder had finished"
wait "$holder" 2>/dev/null
holder=

# -- a lock held too long: it gives up, saying so -----------------------------------
hold_flock "$front" 30
deps DEPS_EXTRA=$none DEPS_LOCK_TIMEOUT=2
is $? 1 "a lock held beyond DEPS_LOCK_TIMEOUT fails with status 1"
has "$out" "The lock $front is still held by flock (pid $holder) after 2s" \
	"and says which program still holds it"
if grep -q "Would install" "$out"; then ok 1 "it installs nothing then"; else ok 0 "it installs nothing then"; fi

echo "1..$n"
[ "$failed" = 0 ]
