#!/bin/sh
# seutudeskctl sla due / sla elapsed / holidays: their output, their errors
# naming the bad argument, and the calendars of the example config.
set -u
bin=${top_builddir:?}
src=${top_srcdir:?}
ctl="$bin/seutudeskctl"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
# expect DESC WANT CMD...: stdout of CMD (exit 0) is exactly WANT.
expect() {
	desc=$1 want=$2
	shift 2
	if got=$("$@" 2>"$tmp/err") && [ "$got" = "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc"
		printf '%s\n' "$got" | sed 's/^/#   got:  /'
		printf '%s\n' "$want" | sed 's/^/#   want: /'
		sed 's/^/#   stderr: /' "$tmp/err"
	fi
}
# fails DESC STATUS PATTERN CMD...: CMD exits STATUS with PATTERN on stderr.
fails() {
	desc=$1 status=$2 pattern=$3
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" = "$status" ] && grep -q -- "$pattern" "$tmp/err"; then
		ok "$desc"
	else
		not_ok "$desc (exit $rc)"
		sed 's/^/#   stderr: /' "$tmp/err"
	fi
}

cat >"$tmp/t.conf" <<CONF
[daemon]
rules_dir = $src/contrib/rules.d

[calendar kunta]
timezone = Europe/Helsinki
holidays = finland
monday = 08:00-16:00
tuesday = 08:00-16:00
wednesday = 08:00-16:00
thursday = 08:00-16:00
friday = 08:00-12:00,13:00-15:00
closed = 2026-12-28, 2026-12-29
short = 2026-12-23 08:00-12:00, 2026-12-31 09:00-11:00,12:00-13:00

[calendar ny]
timezone = America/New_York
holidays = none
monday = 09:00-17:00
CONF
c="$tmp/t.conf"

expect "due: the example of the manual" "2026-12-28T09:30:00+02:00" \
	"$ctl" -c "$c" sla due --calendar fi-office --start 2026-12-24T10:00 --add 90m
expect "due: exactly at closing" "2026-11-02T16:00:00+02:00" \
	"$ctl" -c "$c" sla due --calendar fi-office --start 2026-11-02T15:00:00+02:00 --add 1h
expect "due: 1h30m after closing is the next morning" "2026-11-03T09:30:00+02:00" \
	"$ctl" -c "$c" sla due --calendar fi-office --start 2026-11-02T14:00Z --add 1h30m
expect "due: 24x7 over spring forward" "2026-03-29T06:00:00+03:00" \
	"$ctl" -c "$c" sla due --calendar 24x7 --start 2026-03-29T01:00+02:00 --add 4h
expect "due: closed and short days of a configured calendar" "2026-12-30T09:00:00+02:00" \
	"$ctl" -c "$c" sla due --calendar kunta --start 2026-12-23T11:00 --add 2h
expect "due: a lunch break on Fridays" "2026-11-06T13:30:00+02:00" \
	"$ctl" -c "$c" sla due --calendar kunta --start 2026-11-06T11:30 --add 1h
expect "due: prints in the calendar's own zone" "2026-11-09T10:00:00-05:00" \
	"$ctl" -c "$c" sla due --calendar ny --start 2026-11-02T16:00-05:00 --add 2h
expect "due: short options and @seconds" "2026-12-28T09:30:00+02:00" \
	"$ctl" -c "$c" sla due -C fi-office -s @1798099200 -a 90m
expect "elapsed: minutes over a weekend" "960" \
	"$ctl" -c "$c" sla elapsed --calendar fi-office --from 2026-11-06T08:00 --to 2026-11-09T16:00
expect "elapsed: the 24x7 autumn day has 25 h" "1500" \
	"$ctl" -c "$c" sla elapsed --calendar 24x7 --from 2026-10-25 --to 2026-10-26
expect "elapsed: --seconds" "5400" \
	"$ctl" -c "$c" sla elapsed --calendar fi-office --from 2026-12-24T10:00 --to 2026-12-28T09:30 --seconds
expect "elapsed: fractions of a minute" "1.50" \
	"$ctl" -c "$c" sla elapsed --calendar 24x7 --from 2026-01-01T10:00:00 --to 2026-01-01T10:01:30
expect "elapsed: backwards is 0" "0" \
	"$ctl" -c "$c" sla elapsed --calendar 24x7 --from 2026-01-02 --to 2026-01-01

expect "holidays 2026" "2026-01-01  Thu  New Year's Day / Uudenvuodenpäivä / Nyårsdagen
2026-01-06  Tue  Epiphany / Loppiainen / Trettondedag jul
2026-04-03  Fri  Good Friday / Pitkäperjantai / Långfredagen
2026-04-05  Sun  Easter Sunday / Pääsiäispäivä / Påskdagen
2026-04-06  Mon  Easter Monday / 2. pääsiäispäivä / Annandag påsk
2026-05-01  Fri  May Day / Vappu / Första maj
2026-05-14  Thu  Ascension Day / Helatorstai / Kristi himmelsfärdsdag
2026-05-24  Sun  Whit Sunday / Helluntaipäivä / Pingstdagen
2026-06-19  Fri  Midsummer Eve / Juhannusaatto / Midsommarafton
2026-06-20  Sat  Midsummer Day / Juhannuspäivä / Midsommardagen
2026-10-31  Sat  All Saints' Day / Pyhäinpäivä / Alla helgons dag
2026-12-06  Sun  Independence Day / Itsenäisyyspäivä / Självständighetsdagen
2026-12-24  Thu  Christmas Eve / Jouluaatto / Julafton
2026-12-25  Fri  Christmas Day / Joulupäivä / Juldagen
2026-12-26  Sat  St Stephen's Day / Tapaninpäivä / Annandag jul" \
	"$ctl" holidays 2026
expect "holidays --lang fi" "2027-06-25  Fri  Juhannusaatto" \
	sh -c "'$ctl' holidays 2027 --lang fi | grep Juhannusaatto"
expect "holidays --calendar lists closed and short days" "2026-12-06  Sun  Independence Day
2026-12-23  Wed  short day 08:00-12:00
2026-12-24  Thu  Christmas Eve
2026-12-25  Fri  Christmas Day
2026-12-26  Sat  St Stephen's Day
2026-12-28  Mon  closed
2026-12-29  Tue  closed
2026-12-31  Thu  short day 09:00-11:00,12:00-13:00" \
	sh -c "'$ctl' -c '$c' holidays 2026 --calendar kunta --lang en | grep '^2026-12'"
expect "holidays --calendar without holidays" "" \
	"$ctl" -c "$c" holidays 2026 --calendar 24x7

fails "unknown calendar named, with the ones there are" 1 "calendar 'nope': no such calendar.*kunta ny fi-office 24x7" \
	"$ctl" -c "$c" sla due --calendar nope --start 2026-12-24 --add 1h
fails "bad --start named" 2 "^seutudeskctl sla due: --start '2026-13-01': expected a time like" \
	"$ctl" -c "$c" sla due --calendar fi-office --start 2026-13-01 --add 1h
fails "bad --add named" 2 "^seutudeskctl sla due: --add '90 min': expected a duration" \
	"$ctl" -c "$c" sla due --calendar fi-office --start 2026-12-24 --add '90 min'
fails "bad --to named" 2 "^seutudeskctl sla elapsed: --to 'yesterday': expected a time" \
	"$ctl" -c "$c" sla elapsed --calendar fi-office --from 2026-12-24 --to yesterday
fails "a skipped local time" 2 "no such time in Europe/Helsinki" \
	"$ctl" -c "$c" sla due --calendar fi-office --start 2026-03-29T03:30 --add 1h
fails "--calendar is required" 2 "--calendar NAME is required" \
	"$ctl" -c "$c" sla due --start 2026-12-24 --add 1h
fails "due needs --add" 2 "needs --start TIME and --add DURATION" \
	"$ctl" -c "$c" sla due --calendar fi-office --start 2026-12-24
fails "unknown sla subcommand" 2 "unknown subcommand 'later'" "$ctl" -c "$c" sla later
fails "a target beyond the horizon" 1 "more than .* days ahead" \
	"$ctl" -c "$c" sla due --calendar fi-office --start 2026-12-24 --add 100000h
fails "bad YEAR named" 2 "YEAR '1899': expected a year from 1900 to 2200" "$ctl" holidays 1899
fails "bad --lang named" 2 "--lang 'de': expected fi, sv or en" "$ctl" holidays 2026 --lang de
fails "a bad calendar in the config names file and line" 1 "bad.conf:2: expected opening hours" \
	sh -c "printf '[calendar x]\nmonday = 8-16\n' >'$tmp/bad.conf'; '$ctl' -c '$tmp/bad.conf' sla due --calendar x --start 2026-12-24 --add 1h"
for sub in "sla --help" "sla due --help" "sla elapsed --help" "holidays --help"; do
	# shellcheck disable=SC2086
	if "$ctl" $sub | grep -q '^Usage: seutudeskctl'; then ok "$sub"; else not_ok "$sub"; fi
done

# The example config's calendars.
sed "s|^#* *rules_dir *=.*|rules_dir = $src/contrib/rules.d|" "$src/contrib/seutudesk.conf.example" >"$tmp/example.conf"
expect "example: fi-office" "2027-01-04T09:00:00+02:00" \
	"$ctl" -c "$tmp/example.conf" sla due --calendar fi-office --start 2026-12-31T15:00 --add 2h
expect "example: 24x7" "2026-10-25T04:00:00+02:00" \
	"$ctl" -c "$tmp/example.conf" sla due --calendar 24x7 --start 2026-10-25T01:00+03:00 --add 4h

echo "1..$n"
[ "$fails" = 0 ]
