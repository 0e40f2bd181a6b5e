#!/bin/sh
# corpus: classifies the labelled corpus with the default rules and compares
# with the labels (TAP).  SEUTUDESK_CORPUS names the corpus directory (with
# labels.tsv); default: the shared DEV set next to the source tree.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
corpus=${SEUTUDESK_CORPUS:-$top_srcdir/../shared/corpus/dev}
rules=${SEUTUDESK_RULES:-$top_srcdir/contrib/rules.d}
ctl=$top_builddir/seutudeskctl

if [ ! -f "$corpus/labels.tsv" ]; then
	echo "1..0 # SKIP no corpus at $corpus"
	exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

start=$(date +%s.%N)
"$ctl" classify --rules "$rules" --table "$corpus"/*.eml >"$tmp/table" 2>"$tmp/err"
rc=$?
end=$(date +%s.%N)
nfiles=$(ls "$corpus"/*.eml | wc -l)

echo "1..7"
n=$(($(wc -l <"$tmp/table") - 1))
if [ "$rc" -eq 0 ] && [ "$n" -eq "$nfiles" ]; then
	echo "ok 1 - all $nfiles files classified without an error"
else
	echo "not ok 1 - classify exit status $rc, $n of $nfiles rows"
	sed 's/^/# /' "$tmp/err" | head -20
fi
awk -v s="$start" -v e="$end" -v n="$nfiles" \
	'BEGIN { t = e - s; if (t > 0) printf "# %d files in %.2f s (%.0f files/s, with MIME parsing and process start)\n", n, t, n / t }'

# Joins labels (file expect thread mun sector category lang priority) with the table.
awk -F'\t' 'NR == FNR { if (FNR > 1) { lab[$1] = $2 "\t" $4 "\t" $5 "\t" $6 "\t" $7 "\t" $8 } ; next }
	FNR == 1 { next }
	{
		split($0, c, " +"); f = c[1]; sub(".*/", "", f)
		subj = $0; for (i = 1; i <= 7; i++) sub("^[^ ]+ +", "", subj)
		if (f in lab) print f "\t" lab[f] "\t" c[2] "\t" c[3] "\t" c[4] "\t" c[5] "\t" c[6] "\t" c[7] "\t" subj
	}' "$corpus/labels.tsv" FS=' ' "$tmp/table" >"$tmp/joined"
# joined: 1 file 2 expect 3 mun 4 sector 5 category 6 lang 7 priority
#         8 auto 9 got_mun 10 got_sector 11 got_category 12 got_priority 13 got_lang 14 subject

awk -F'\t' '$2 == "auto" && $8 != "auto" { print "#   missed auto: " $1 " " $14; bad++ }
	$2 == "auto" { n++ }
	END { if (bad) print "not ok 2 - auto-detection missed " bad " of " n " auto mails";
	      else print "ok 2 - auto-detection flags all " n " auto mails" }' "$tmp/joined"
awk -F'\t' '$2 != "auto" && $8 == "auto" { print "#   wrongly auto: " $1 " (" $2 ") " $14; bad++ }
	$2 != "auto" { n++ }
	END { if (bad) print "not ok 3 - auto-detection flags " bad " of " n " human mails";
	      else print "ok 3 - auto-detection flags none of " n " human mails" }' "$tmp/joined"

# check NUM NAME LABELCOL GOTCOL FILTER MIN [MAXWRONG]: agreement on the
# filtered rows; a wrong value costs more than unknown (human triage).
check() {
	awk -F'\t' -v num="$1" -v name="$2" -v lc="$3" -v gc="$4" -v which="$5" -v min="$6" \
		-v maxwrong="${7:-}" '
		which == "all" || $2 == which {
			n++
			if ($lc == $gc) ok++
			else {
				d[++nd] = sprintf("#   %s %s: label %s, got %s  (%s)", name, $1, $lc, $gc, $14)
				if ($gc == "unknown") unk++; else wrong++
			}
		}
		END {
			pct = n ? 100 * ok / n : 0
			line = sprintf("%s agrees on %d of %d %s mails (%.1f%%; %d wrong, %d unknown)",
				       name, ok, n, which, pct, wrong, unk)
			if (maxwrong != "") line = line ", need " min "% and at most " maxwrong " wrong"
			else if (min != "") line = line ", need " min "%"
			if (min == "") print "ok " num " - " line " (informational)"
			else if (pct >= min && (maxwrong == "" || wrong + 0 <= maxwrong)) print "ok " num " - " line
			else print "not ok " num " - " line
			for (i = 1; i <= nd; i++) print d[i]
		}' "$tmp/joined"
}
check 4 municipality 3 9 new 99
check 5 sector 4 10 new 99 0
check 6 lang 6 13 all 95
check 7 category 5 11 new ""
check 8 priority 7 12 new "" | sed 's/^ok 8 - /# /'
