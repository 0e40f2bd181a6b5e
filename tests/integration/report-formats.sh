#!/bin/sh
# report-formats: renders every report fixture (tests/data/reports) in every
# format and reads each back as its reader would: the CSV with Python's csv
# module (';', utf-8-sig), the XLSX with openpyxl, each value compared with
# the JSON; the HTML in headless Chromium, a screenshot and an A4 PDF of each
# kept under tests/artefacts/reports in the build tree (TAP).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
. "$top_srcdir/tests/lib/tap.sh"

run=$top_builddir/tests/integration/report-render-run
check=$top_srcdir/tests/lib/report_check.py
py=/usr/bin/python3
chromium=/usr/bin/chromium
out=$top_builddir/tests/artefacts/reports
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out" "$tmp/home" || exit 1

have_openpyxl=no
"$py" -c 'import openpyxl' 2>/dev/null && have_openpyxl=yes

# Chromium with a profile and HOME of its own, so that it writes nothing
# outside $tmp; its dbus and /dev/shm complaints are harmless and dropped.
browse() {
	HOME=$tmp/home timeout 120 "$chromium" --headless --no-sandbox \
		--user-data-dir="$tmp/profile" --hide-scrollbars "$@" >/dev/null 2>"$tmp/chromium.err"
}

# png_size FILE: "WIDTHxHEIGHT" from the PNG header.
png_size() {
	"$py" -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24)
print("%dx%d" % struct.unpack(">II", d[16:24]) if d[:8] == b"\x89PNG\r\n\x1a\n" else "none")' "$1"
}

# pdf_pages FILE: the pages' sizes in points, e.g. "595x842 595x842".
pdf_pages() {
	"$py" -c 'import re,sys; d=open(sys.argv[1],"rb").read()
print(" ".join("%.0fx%.0f" % (float(m[2]) - float(m[0]), float(m[3]) - float(m[1]))
      for m in re.findall(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", d)))' "$1"
}

for name in sla volume backlog workload costs; do
	doc=$top_srcdir/tests/data/reports/$name.json
	for f in text csv xlsx html json; do
		ext=$f
		[ "$f" = text ] && ext=txt
		"$run" "$f" "$doc" "$out/$name.$ext" 2>"$tmp/err"
		rc=$?
		ok $rc "$name: renders as $f"
		[ $rc = 0 ] || sed 's/^/#   /' "$tmp/err"
	done

	"$py" "$check" csv "$doc" "$out/$name.csv"
	ok $? "$name.csv read back with csv (';', utf-8-sig): every value as in the JSON"
	if [ $have_openpyxl = yes ]; then
		"$py" "$check" xlsx "$doc" "$out/$name.xlsx"
		ok $? "$name.xlsx read back with openpyxl: sheets, values, formats and charts"
	else
		ok 0 "# SKIP $name.xlsx: no python3-openpyxl"
	fi
	"$py" -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
sys.exit(a != b)' "$doc" "$out/$name.json"
	ok $? "$name.json is the document"

	if [ ! -x "$chromium" ]; then
		ok 0 "# SKIP $name.html in a browser: no $chromium"
		continue
	fi
	rm -f "$out/$name.png" "$out/$name.pdf"
	browse --window-size=1280,1800 --screenshot="$out/$name.png" "file://$out/$name.html"
	is "$(png_size "$out/$name.png")" 1280x1800 "$name.html: a 1280x1800 screenshot in Chromium"
	browse --no-pdf-header-footer --print-to-pdf="$out/$name.pdf" "file://$out/$name.html"
	pages=$(pdf_pages "$out/$name.pdf")
	# A4 is 595x842 points; Chromium rounds it to whole pixels at 96 dpi.
	a4=$(echo "$pages" | tr ' ' '\n' | grep -cvE '^59[56]x84[123]$')
	[ -n "$pages" ] && [ "$a4" = 0 ]
	ok $? "$name.html prints on A4 ($(echo "$pages" | wc -w) pages: $(echo "$pages" | cut -c1-20))"
done

# The checks themselves must notice a wrong value.
"$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); d["tables"][0]["rows"][2][4] = 91.6
json.dump(d, open(sys.argv[2], "w"))' "$top_srcdir/tests/data/reports/sla.json" "$tmp/changed.json"
"$py" "$check" csv "$tmp/changed.json" "$out/sla.csv" >/dev/null
[ $? = 1 ]
ok $? "the CSV check notices a percentage that differs"
if [ $have_openpyxl = yes ]; then
	"$py" "$check" xlsx "$tmp/changed.json" "$out/sla.xlsx" >/dev/null
	[ $? = 1 ]
	ok $? "the XLSX check notices a percentage that differs"
fi

echo "# artefacts: $out"
echo "1..$n"
