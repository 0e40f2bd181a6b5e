#!/bin/bash
# The monthly report mail (daemon/report_mail.c) with two daemons on one
# database and the real SMTP server: on the first working day of January
# 2027 (Friday 1 January is New Year's Day, so Monday 4 January) at
# fi-office's opening, each [report NAME] section mails December's report
# to its recipients (the addresses listed and the managers of the member),
# each mail once, with the report attached: the XLSX opens in openpyxl and
# holds the member's rows only, without the sote subject; the CSV of member
# all has every member.  A daemon started later that day sends nothing
# more.  A section whose report is refused (the costs without the year's
# member figures) is logged and held back, the others go.  The clock is
# the test-only SEUTUDESKD_TEST_NOW (report_mail.h).
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bin=$top_builddir

. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/apitest.sh"

need_built seutudeskd seutudeskctl
need_mail_stack openpyxl

W=$(mktemp -d "${TMPDIR:-/tmp}/report-mail.XXXXXX") || exit 1
chmod 0755 "$W"
STACK_EXTRA_CONF="
[reports]
calendar = fi-office

[report kinnula-backlog]
kind = backlog
member = kinnula
to = managers, talous@kinnula.fi
format = xlsx
lang = fi

[report all-volume]
kind = volume
member = all
to = johto@seutu-it.fi
format = csv
lang = en
by = municipality

# Refused: no member figures for 2026 (seutudeskctl org set).
[report kinnula-costs]
kind = costs
member = kinnula
to = talous@kinnula.fi
"
. "$top_srcdir/tests/lib/stack.sh"
api_stack_start
second=
mail_cleanup() {
	[ -n "$second" ] && kill -KILL "$second" 2>/dev/null && wait "$second" 2>/dev/null
	api_cleanup
}
trap mail_cleanup EXIT
sed -i "/^\[smtp\]\$/a from = Seutu-IT raportit <raportit@seutu-it.fi>" "$STACK_CONF"
# The second daemon: the same database and SMTP server, its own pid file.
sed "s|^pid_file = .*|pid_file = $W/second.pid|" "$STACK_CONF" >"$W/second.conf"
sql() { stack_sql "$1"; }
ctl() { "$bin/seutudeskctl" -c "$STACK_CONF" "$@" >>"$W/ctl.log" 2>&1; }

# Managers: of Kinnula, of every member (any), of Karstula; and an agent.
ctl agent add mkin --name "Maija Kinnula" --email mkin@kinnula.fi --role manager \
	--municipalities kinnula &&
	ctl agent add many --name "Anna Kaikki" --email many@seutu-it.fi --role manager &&
	ctl agent add mkar --name "Kalle Karstula" --email mkar@karstula.fi --role manager \
		--municipalities karstula &&
	ctl agent add plain --name "Pekka Agent" --email plain@seutu-it.fi ||
	{ tail -3 "$W/ctl.log"; echo "Bail out! agent add"; exit 1; }
sql "INSERT INTO tickets (requester_address, subject, municipality, sector, created_at) VALUES
 ('a@kinnula.fi', 'Kinnulan tulostin KIN-PRINTER', 'kinnula', NULL, '2026-12-02 10:00+02'),
 ('b@kinnula.fi', 'Potilastieto SOTE-SECRET', 'kinnula', 'sote', '2026-12-03 10:00+02'),
 ('c@karstula.fi', 'Karstulan VPN KAR-ONLY', 'karstula', NULL, '2026-12-04 10:00+02')" \
	>/dev/null || { echo "Bail out! tickets"; exit 1; }

# Both start a few seconds before fi-office opens on Monday 4 January 2027.
SEUTUDESKD_TEST_NOW=2027-01-04T07:59:56 daemon_start
SEUTUDESKD_TEST_NOW=2027-01-04T07:59:56 "$bin/seutudeskd" -f -c "$W/second.conf" \
	>>"$W/second.log" 2>&1 &
second=$!
sleep 2
is "$(smtp_count)" 0 "before the opening time nothing is sent"
smtp_wait_count 4 30
sleep 5 # time for a duplicate to arrive, if there were one
is "$(smtp_count)" 4 "at the opening: 4 mails (3 for Kinnula's managers and address, 1 for all)"
is "$(sql "SELECT string_agg(name || ' ' || period || ' ' || recipients, ', ' ORDER BY name)
 FROM report_mailings")" "all-volume 2026-12-01 1, kinnula-backlog 2026-12-01 3" \
	"each section claimed once, for December"
queued=$(cat "$STACK_LOG" "$W/second.log" | grep -c 'report_mail .*event=queued')
is "$queued" 2 "the two daemons queued each section once between them"
is "$(cat "$STACK_LOG" "$W/second.log" | grep -c 'report_mail event=retry')" 0 "without errors"
is "$(cat "$STACK_LOG" "$W/second.log" | grep -c 'report_mail report=kinnula-costs period=2026-12-01 event=refused retry_in=1h')" \
	2 "the refused costs report is logged once by each daemon, to be tried in an hour"

"$PY" - "$SMTP_MAILDIR/new" >"$W/mails.txt" 2>&1 <<'EOF'
import csv, email, email.policy, io, os, sys, openpyxl
d = sys.argv[1]
for f in sorted(os.listdir(d)):
    m = email.message_from_binary_file(open(os.path.join(d, f), 'rb'), policy=email.policy.default)
    parts = [p for p in m.iter_attachments()]
    text = m.get_body(('plain',)).get_content()
    line = [m['To'], m.get_content_type(), str(m['Subject']), str(len(parts))]
    for p in parts:
        data = p.get_content()
        line += [p.get_filename(), p.get_content_type()]
        if p.get_filename().endswith('.xlsx'):
            wb = openpyxl.load_workbook(io.BytesIO(data))
            cells = ' '.join(str(c) for ws in wb for row in ws.iter_rows(values_only=True)
                             for c in row if c is not None)
        else:
            cells = data.decode('utf-8-sig') if isinstance(data, bytes) else data
        line += ['KIN' if 'KIN-PRINTER' in cells else '-', 'KAR' if 'KAR-ONLY' in cells else '-',
                 'SOTE' if 'SOTE-SECRET' in cells else '-',
                 'kinnula' if 'kinnula' in cells else '-', 'karstula' if 'karstula' in cells else '-']
    line.append('text:' + text.split('\n')[2][:40])
    print(' | '.join(line))
EOF
sort "$W/mails.txt" >"$W/mails.sorted"
sed 's/^/# /' "$W/mails.sorted"
is "$(grep -c . "$W/mails.sorted")" 4 "four mails parsed"
want_kin="multipart/mixed | Kuukausiraportti 12/2026 avoimet tiketit: kinnula | 1 | backlog-kinnula-2026-12.xlsx | application/vnd.openxmlformats-officedocument.spreadsheetml.sheet | KIN | - | - | kinnula | - | text:liitteenä on raportti avoimet tiketit (k"
for to in mkin@kinnula.fi many@seutu-it.fi talous@kinnula.fi; do
	is "$(grep "^<$to>\|^$to\|<$to>" "$W/mails.sorted" | cut -d'|' -f2- | sed 's/^ //')" "$want_kin" \
		"$to: the XLSX of Kinnula's backlog, Kinnula's ticket only, no sote subject"
done
is "$(grep 'johto@seutu-it.fi' "$W/mails.sorted" | cut -d'|' -f2- | sed 's/^ //')" \
	"multipart/mixed | Monthly report 12/2026 volume: all members | 1 | volume-all-2026-12.csv | text/csv | - | - | - | kinnula | karstula | text:attached is the volume report for all me" \
	"johto@: the CSV of every member's volume, in English"
is "$(grep -c 'mkar@\|plain@' "$W/mails.sorted")" 0 "no mail to Karstula's manager or a plain agent"

# A daemon started later the same day finds the month sent.
daemon_stop
kill -TERM "$second" && wait "$second"
second=
SEUTUDESKD_TEST_NOW=2027-01-04T15:00:00 daemon_start
sleep 4
is "$(smtp_count)" 4 "a daemon started later that day sends nothing more"
is "$(grep -c 'report_mail event=test_clock' "$STACK_LOG")" 2 "the test clock is logged as such"
daemon_stop
echo "1..$n"
exit 0
