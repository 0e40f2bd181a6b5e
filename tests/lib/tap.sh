# shellcheck shell=bash
# TAP output for the integration test scripts.  Source it, then:
#
#   ok STATUS DESCRIPTION        "ok N - ..." when STATUS is 0, else "not ok N - ..."
#   is GOT WANT DESCRIPTION      ok when GOT equals WANT; else shows both (2,000 bytes)
#   has FILE PATTERN DESCRIPTION ok when FILE has a line matching PATTERN; else shows FILE
#
# n counts the tests and failed the failures: print "1..$n" at the end.
n=0
failed=0

ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}

is() {
	[ "$1" = "$2" ]
	ok $? "$3"
	[ "$1" = "$2" ] || printf '#   got:  %s\n#   want: %s\n' "$1" "$2" | head -c 2000
}

has() {
	grep -q -- "$2" "$1"
	ok $? "$3"
	grep -q -- "$2" "$1" || sed 's/^/#   /' "$1"
}
