#!/bin/bash
# intake: the intake pipeline's store step against a private PostgreSQL.
# Feeds the labelled corpus (SEUTUDESK_CORPUS, default ../shared/corpus/dev)
# through tests/integration/intake-feed and checks tickets, threading,
# duplicates and acknowledgements against labels.tsv; feeds it again with the
# same and with other source keys; then runs small scenarios: reopen inside
# and after the window, pending to open, subject tag, replies to our ack,
# auto replies, the ack rate limit, garbage, an oversized mail, suppression,
# and two feeders racing over the same mail.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/tests/lib/pg.sh"

CTL=$top_builddir/seutudeskctl
FEED=$top_builddir/tests/integration/intake-feed
RULES=$top_srcdir/contrib/rules.d
TEMPLATES=$top_srcdir/contrib/templates
CORPUS=${SEUTUDESK_CORPUS:-$top_srcdir/../shared/corpus/dev}
. "$top_srcdir/tests/lib/tap.sh"

if [ ! -x "$CTL" ] || [ ! -x "$FEED" ]; then
	echo "1..0 # SKIP $CTL or $FEED not built"
	exit 0
fi
if [ ! -f "$CORPUS/labels.tsv" ]; then
	echo "1..0 # SKIP no corpus at $CORPUS"
	exit 0
fi
if ! pg_start 2>"${TMPDIR:-/tmp}/intake-pg.$$"; then
	echo "1..0 # SKIP no private PostgreSQL: $(head -1 "${TMPDIR:-/tmp}/intake-pg.$$")"
	rm -f "${TMPDIR:-/tmp}/intake-pg.$$"
	exit 0
fi
rm -f "${TMPDIR:-/tmp}/intake-pg.$$"
W=$PG_DIR/work
mkdir -p "$W"

newdb() { # newdb NAME: a migrated database; prints its conninfo
	local db
	db=$(pg_createdb "$1") || return 1
	"$CTL" migrate --sql-dir "$top_srcdir/sql" --database "$db" >"$W/migrate.out" 2>&1 ||
		{ cat "$W/migrate.out" >&2; return 1; }
	echo "$db"
}
feed() { # feed CONNINFO ARGS... FILES: the per-file lines on stdout, summary in $W/feed.err
	local db=$1
	shift
	"$FEED" -d "$db" -r "$RULES" -t "$TEMPLATES" "$@" 2>"$W/feed.err"
}
q() { # q DB SQL
	pg_psql -d "$1" -c "$2"
}
rate() { # the messages per second of the last feed
	sed -n 's/.*(\([0-9]*\)\/s).*/\1/p' "$W/feed.err"
}

files=$(ls "$CORPUS"/*.eml)
nfiles=$(echo "$files" | wc -l)
nnew=$(awk -F'\t' '$2 == "new"' "$CORPUS/labels.tsv" | wc -l)
nauto=$(awk -F'\t' '$2 == "auto"' "$CORPUS/labels.tsv" | wc -l)

# -- the corpus, one message per transaction -------------------------------------
db=$(newdb corpus) || { echo "1..0 # SKIP cannot create the database"; exit 0; }
# shellcheck disable=SC2086
feed "$db" -b 1 $files >"$W/first"
ok $? "the corpus feeds without an error (batch 1)"
rate1=$(rate)
echo "# corpus, batch 1: $(sed 's/^intake-feed: //' "$W/feed.err")"
# outcome and ticket per file, joined with the labels:
# file expect thread_of outcome ticket ack thread_ticket
awk -F'\t' 'NR == FNR { f = $1; sub(".*/", "", f); oc[f] = $2; tk[f] = $3; ack[f] = $4; next }
	FNR > 1 { print $1 "\t" $2 "\t" $3 "\t" oc[$1] "\t" tk[$1] "\t" ack[$1] "\t" \
		($3 != "" ? tk[$3] : "") }' "$W/first" "$CORPUS/labels.tsv" >"$W/joined"
check() { # check DESCRIPTION AWK-CONDITION-FOR-A-BAD-ROW
	local bad
	bad=$(awk -F'\t' "$2 { print \$1 \" \" \$2 \" -> \" \$4 \" ticket \" \$5 \" (\" \$3 \": \" \$7 \") ack \" \$6 }" "$W/joined")
	[ -z "$bad" ]
	ok $? "$1"
	[ -z "$bad" ] || echo "$bad" | head -10 | sed 's/^/#   /'
}
is "$(q corpus 'SELECT count(*) FROM tickets')" "$nnew" "tickets = the $nnew new labels"
is "$(q corpus 'SELECT count(*) FROM intake_log')" "$nfiles" "every file has its intake_log row"
check "every new mail made a ticket" '$2 == "new" && $4 != "new"'
check "every followup lands on the ticket of its thread" \
	'$2 == "followup" && ($4 != "followup" || $5 != $7 || $5 == 0)'
check "every duplicate is a duplicate of its original's ticket" \
	'$2 == "duplicate" && ($4 != "duplicate" || $5 != $7)'
check "auto mail that refers to a ticket is attached to it" \
	'$2 == "auto" && $3 != "" && ($4 != "auto_attached" || $5 != $7)'
check "other auto mail makes no ticket" '$2 == "auto" && $3 == "" && ($4 != "auto" || $5 != 0)'
check "no ack for any auto mail" '$2 == "auto" && $6 == "queued"'
check "an ack for every new mail" '$2 == "new" && $6 != "queued"'
is "$(q corpus "SELECT count(*), count(DISTINCT ticket) FROM outbox WHERE kind = 'ack'")" \
	"$nnew|$nnew" "exactly one ack per new ticket in the outbox"
is "$(q corpus "SELECT count(*) FROM intake_log WHERE outcome = 'auto' AND raw IS NULL")" 0 \
	"auto mail without a ticket keeps its source in intake_log"
is "$(q corpus "SELECT count(*) FROM messages WHERE direction = 'system'")" \
	"$(awk -F'\t' '$2 == "auto" && $3 != ""' "$CORPUS/labels.tsv" | wc -l)" \
	"auto mail attached as system messages"
is "$(q corpus "SELECT count(*) FROM events WHERE kind = 'ticket_created'")" "$nnew" \
	"an audit event per ticket"
is "$(q corpus "SELECT count(*) FROM tickets WHERE classification ? 'municipality'
	AND classification ? 'rules'")" "$nnew" "every ticket keeps its classification explanation"
is "$(q corpus "SELECT count(*) FROM tickets WHERE queue <> 'triage'")" 0 \
	"new tickets wait in triage"
is "$(q corpus "SELECT count(*) FROM attachments")" \
	"$(q corpus "SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message")" \
	"attachments belong to messages"
echo "# outcomes: $(q corpus "SELECT string_agg(outcome || ' ' || c, ', ' ORDER BY outcome)
	FROM (SELECT outcome, count(*) c FROM intake_log GROUP BY 1) x")"

snapshot() { # counts of everything intake writes
	q "$1" "SELECT (SELECT count(*) FROM tickets), (SELECT count(*) FROM messages),
		(SELECT count(*) FROM attachments), (SELECT count(*) FROM outbox),
		(SELECT count(*) FROM events)"
}
before=$(snapshot corpus)
logs=$(q corpus 'SELECT count(*) FROM intake_log')

# -- again with the same keys: nothing changes ----------------------------------
# shellcheck disable=SC2086
feed "$db" -b 100 $files >"$W/second"
ok $? "feeding the corpus again succeeds"
is "$(cut -f2 "$W/second" | sort | uniq -c | awk '{print $2 " " $1}')" "duplicate $nfiles" \
	"the same keys again: every file is a duplicate"
is "$(snapshot corpus)" "$before" "and nothing changes"
is "$(q corpus 'SELECT count(*) FROM intake_log')" "$logs" "not even intake_log"

# -- another mailbox: duplicates by Message-ID (or by source hash) ---------------------
# shellcheck disable=SC2086
feed "$db" -b 100 -m other -v 7 $files >"$W/third"
ok $? "feeding the corpus from another mailbox succeeds"
is "$(cut -f2 "$W/third" | sort | uniq -c | awk '{print $2 " " $1}')" "duplicate $nfiles" \
	"another mailbox: every file is a duplicate"
nomid=0 # files whose own header (not a returned or forwarded one) lacks a Message-ID
for f in $files; do
	awk '/^\r?$/ { exit } tolower($0) ~ /^message-id:/ { found = 1 } END { exit !found }' "$f" ||
		nomid=$((nomid + 1))
done
is "$(grep -c 'no Message-ID' "$W/third")" "$nomid" \
	"the $nomid files without Message-ID are recognised by the hash of their source"
is "$(snapshot corpus)" "$before" "and nothing changes but the log"
is "$(q corpus "SELECT count(*) FROM intake_log WHERE mailbox = 'other' AND outcome = 'duplicate'")" \
	"$nfiles" "each is logged as a duplicate"
is "$(paste <(cut -f1,3 "$W/first") <(cut -f1,3 "$W/third") | awk -F'\t' '$1 != $3 || $2 != $4' | wc -l)" 0 \
	"each duplicate names the ticket of its original"

# -- the corpus in batches of 100 --------------------------------------------------------
db2=$(newdb batch)
# shellcheck disable=SC2086
feed "$db2" -b 100 $files >"$W/batch"
ok $? "the corpus feeds in batches of 100"
rate100=$(rate)
echo "# corpus, batch 100: $(sed 's/^intake-feed: //' "$W/feed.err")"
is "$(cut -f2,3 "$W/batch" | md5sum)" "$(cut -f2,3 "$W/first" | md5sum)" \
	"batches give the same outcomes and tickets as single messages"
# the same without messages over 1 MB (one 5 MB mail costs a fifth of the whole)
small=$(find "$CORPUS" -name '*.eml' -size -1024k | sort)
for b in 1 100; do
	db5=$(newdb "small$b")
	# shellcheck disable=SC2086
	feed "$db5" -q -b $b $small
	echo "# corpus without mails over 1 MB, batch $b: $(sed 's/^intake-feed: //' "$W/feed.err")"
done

# -- a synthetic set: 5,000 small varied mails at batch 100 (a figure, not an assertion)
# Each is a contrib/samples mail with a Message-ID of its own and its sender's
# address plus-tagged, so that neither dedupe nor the ack rate limit folds them.
G=$W/synth
mkdir -p "$G"
awk -v dir="$G" -v n=5000 'FNR == 1 { ns++ } { line[ns, ++len[ns]] = $0 } END {
	for (i = 1; i <= n; i++) {
		s = (i - 1) % ns + 1; f = dir "/" sprintf("%05d.eml", i); hdr = 1
		printf "Message-ID: <synth.%d@seutu.test>\n", i >f
		for (k = 1; k <= len[s]; k++) {
			l = line[s, k]
			if (hdr && l ~ /^\r?$/)
				hdr = 0
			if (hdr && tolower(l) ~ /^message-id:/)
				continue
			if (hdr && tolower(l) ~ /^from:/)
				sub(/@/, "+" i "@", l)
			print l >f
		}
		close(f)
	}
}' "$top_srcdir"/contrib/samples/*.eml
db6=$(newdb synth)
feed "$db6" -q -b 100 "$G"/*.eml
ratesynth=$(rate)
echo "# synthetic 5000 small mails, batch 100: $(sed 's/^intake-feed: //' "$W/feed.err")"
rm -rf "$G"

# -- scenarios --------------------------------------------------------------------------
S=$W/mails
mkdir -p "$S"
mail() { # mail FILE FROM MESSAGE-ID SUBJECT [EXTRA-HEADER-LINES [BODY]]
	{
		printf 'From: %s\nTo: tuki@seutu-it.fi\nSubject: %s\n' "$2" "$4"
		printf 'Date: Mon, 3 Feb 2025 09:00:00 +0200\n'
		[ -n "$3" ] && printf 'Message-ID: <%s>\n' "$3"
		[ -n "$5" ] && printf '%s\n' "$5"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
		printf '%s\n' "${6:-Tulostin ei tulosta. Terveisin Matti}"
	} >"$S/$1"
}
db3=$(newdb scen)
# one scenario mail per call, each with its own uid (counted in a file:
# one runs in command substitutions)
echo 0 >"$W/uid"
one() { # one FILE [ARGS]: prints "outcome ticket ack"
	local f=$1 uid
	shift
	uid=$(($(cat "$W/uid") + 1))
	echo "$uid" >"$W/uid"
	feed "$db3" -o "$uid" -m scen "$@" "$S/$f" | cut -f2-4 | tr '\t' ' '
}
mail a1 'Matti Virtanen <matti.virtanen@karstula.fi>' a1@karstula.fi 'Tulostin jumissa'
set -- $(one a1)
is "$1" new "a first mail makes a ticket"
T=$2
ackid=$(q scen "SELECT message_id FROM outbox WHERE ticket = $T")
is "$(q scen "SELECT subject, to_address FROM outbox WHERE ticket = $T")" \
	"[Seutu-IT #$T] Tulostin jumissa|matti.virtanen@karstula.fi" "its ack carries the subject tag"
is "$(q scen "SELECT headers @> '[[\"Auto-Submitted\", \"auto-replied\"]]'
	AND headers @> '[[\"In-Reply-To\", \"<a1@karstula.fi>\"]]' FROM outbox WHERE ticket = $T")" t \
	"the ack is Auto-Submitted and answers the requester's Message-ID"
q scen "SELECT encode(raw, 'escape') FROM outbox WHERE ticket = $T" >"$W/ack.raw"
grep -q "^Auto-Submitted: auto-replied" "$W/ack.raw" && grep -q "Hei Matti Virtanen" "$W/ack.raw"
ok $? "the ack is composed in Finnish and addresses the requester by name"

mail a2 'Matti Virtanen <matti.virtanen@karstula.fi>' a2@karstula.fi "Re: [Seutu-IT #$T] Tulostin jumissa" \
	"In-Reply-To: <$ackid>"
is "$(one a2)" "followup $T none" "a reply to our ack is a followup, without an ack"

mail a3 'Matti Virtanen <matti.virtanen@karstula.fi>' a3@karstula.fi "Lisätietoa [seutu-it #$T]"
is "$(one a3)" "followup $T none" "the subject tag alone threads (tag case-insensitive)"

q scen "UPDATE tickets SET status = 'pending', paused_at = now() - interval '1 hour' WHERE number = $T"
mail a4 'Matti Virtanen <matti.virtanen@karstula.fi>' a4@karstula.fi 'Re: Tulostin jumissa' \
	'References: <a1@karstula.fi>'
is "$(one a4)" "followup $T none" "the requester's reply to a pending ticket is a followup"
is "$(q scen "SELECT status, paused_at IS NULL, pause_total >= interval '59 minutes' FROM tickets WHERE number = $T")" \
	"open|t|t" "and sets it open, ending the pause"

q scen "UPDATE tickets SET status = 'resolved', paused_at = NULL, resolved_at = now() - interval '2 days' WHERE number = $T"
mail a5 'Matti Virtanen <matti.virtanen@karstula.fi>' a5@karstula.fi 'Re: Tulostin jumissa' \
	'In-Reply-To: <a1@karstula.fi>'
is "$(one a5)" "reopened $T none" "a reply inside the reopen window reopens the ticket"
is "$(q scen "SELECT status, resolved_at IS NULL FROM tickets WHERE number = $T")" "open|t" \
	"the ticket is open again"

q scen "UPDATE tickets SET status = 'resolved', paused_at = NULL, resolved_at = now() - interval '20 days' WHERE number = $T"
mail a6 'Matti Virtanen <matti.virtanen@karstula.fi>' a6@karstula.fi 'Re: Tulostin jumissa' \
	'In-Reply-To: <a1@karstula.fi>'
set -- $(one a6)
is "$1 $3" "linked queued" "a reply after the window starts a new ticket, acknowledged"
is "$(q scen "SELECT follows, status FROM tickets WHERE number = ${2:-0}")" "$T|new" \
	"linked to the old one"
is "$(q scen "SELECT status FROM tickets WHERE number = $T")" resolved "the old one stays resolved"
is "$(q scen "SELECT count(*) FROM events WHERE ticket = $T AND kind = 'continued'")" 1 \
	"the old ticket's log says where it continues"
T2=${2:-0}
# the window is a setting
q scen "UPDATE tickets SET status = 'resolved', paused_at = NULL, resolved_at = now() - interval '20 days' WHERE number = $T2"
mail a7 'Matti Virtanen <matti.virtanen@karstula.fi>' a7@karstula.fi 'Re: Tulostin jumissa' \
	'In-Reply-To: <a6@karstula.fi>'
is "$(one a7 -w $((30 * 86400)))" "reopened $T2 none" "with a 30-day window the same reply reopens"

outbox_before=$(q scen 'SELECT count(*) FROM outbox')
status_before=$(q scen "SELECT status FROM tickets WHERE number = $T2")
mail o1 'Matti Virtanen <matti.virtanen@karstula.fi>' o1@karstula.fi 'Automaattinen vastaus: Tulostin' \
	"Auto-Submitted: auto-replied
In-Reply-To: <$(q scen "SELECT message_id FROM outbox WHERE ticket = $T2")>" 'Olen lomalla.'
set -- $(one o1)
is "$1 $2 $3" "auto_attached $T2 none" "an auto reply to our ack is attached to its ticket"
is "$(q scen "SELECT direction FROM messages WHERE message_id = 'o1@karstula.fi'")" system \
	"as a system message"
is "$(q scen 'SELECT count(*) FROM outbox') $(q scen "SELECT status FROM tickets WHERE number = $T2")" \
	"$outbox_before $status_before" "and triggers nothing: no mail, no status change"
# a delivery report for our ack: attached, and the outbox row marked bounced
dsn() { # dsn FILE MESSAGE-ID ACTION STATUS RETURNED-ID
	printf '%s\n' 'From: Mail Delivery System <MAILER-DAEMON@mx.karstula.fi>' \
		'To: tuki@seutu-it.fi' 'Subject: Undelivered Mail Returned to Sender' \
		"Message-ID: <$2>" 'Date: Mon, 3 Feb 2025 09:05:00 +0200' 'MIME-Version: 1.0' \
		'Content-Type: multipart/report; report-type=delivery-status; boundary="R"' '' \
		'--R' 'Content-Type: text/plain' '' 'Could not deliver.' '--R' \
		'Content-Type: message/delivery-status' '' 'Reporting-MTA: dns; mx.karstula.fi' '' \
		'Final-Recipient: rfc822; matti.virtanen@karstula.fi' "Action: $3" "Status: $4" \
		"Diagnostic-Code: smtp; 550 $4 User unknown" '--R' 'Content-Type: text/rfc822-headers' '' \
		'From: Seutu-IT <tuki@seutu-it.fi>' "Message-ID: <$5>" '--R--' >"$S/$1"
}
ack2=$(q scen "SELECT message_id FROM outbox WHERE ticket = $T2 ORDER BY id LIMIT 1")
dsn d0 d0@mx.karstula.fi delayed 4.4.7 "$ack2"
is "$(one d0 | cut -d' ' -f1,2)" "auto_attached $T2" "a delay report for our ack is attached to its ticket"
is "$(q scen "SELECT bounced_at IS NULL FROM outbox WHERE message_id = '$ack2'")" t \
	"and marks nothing"
dsn d1 d1@mx.karstula.fi failed 5.1.1 "$ack2"
is "$(one d1 | cut -d' ' -f1,2)" "auto_attached $T2" "a bounce of our ack is attached to its ticket"
is "$(q scen "SELECT bounced_at IS NOT NULL, bounce FROM outbox WHERE message_id = '$ack2'")" \
	"t|5.1.1 rfc822; matti.virtanen@karstula.fi: smtp; 550 5.1.1 User unknown" \
	"and marks the outbox row bounced, with the reason"
is "$(q scen "SELECT count(*), min(data->>'to') FROM events WHERE ticket = $T2 AND kind = 'mail_bounced'")" \
	"1|matti.virtanen@karstula.fi" "with a mail_bounced event on the ticket"
dsn d2 d2@mx.karstula.fi failed 5.1.1 "$ack2"
one d2 >/dev/null
is "$(q scen "SELECT count(*) FROM events WHERE ticket = $T2 AND kind = 'mail_bounced'")" 1 \
	"a second report of the same bounce records nothing more"
dsn d3 d3@mx.karstula.fi failed 5.1.1 "$ackid"
long=$(printf 'ä%.0s' $(seq 1 1500))
sed -i "s/User unknown/Käyttäjää ei ole $long/" "$S/d3"
one d3 >/dev/null
is "$(q scen "SELECT octet_length(bounce) BETWEEN 1990 AND 2000, bounce LIKE '%Käyttäjää ei ole ää%',
	position('?' IN bounce) = 0 FROM outbox WHERE message_id = '$ackid'")" "t|t|t" \
	"a long reason is cut at a character, its UTF-8 kept"

mail o2 'Lista <news@lista.example>' o2@lista.example 'Uutiskirje' 'Precedence: bulk
List-Id: <news.lista.example>' 'Tervetuloa.'
is "$(one o2)" "auto 0 none" "auto mail that refers to nothing makes no ticket"
is "$(q scen "SELECT outcome, length(raw) > 0, reason <> '' FROM intake_log WHERE message_id = 'o2@lista.example'")" \
	"auto|t|t" "it is kept in intake_log with its source and reason"

mail x1 'Liisa Laine <liisa.laine@gmail.com>' x1@gmail.com 'Kokouskutsu' 'X-Auto-Response-Suppress: All'
is "$(one x1 | cut -d' ' -f1,3)" "new suppressed" \
	"X-Auto-Response-Suppress: a ticket, but no ack"
mail x2 'Seutu-IT <tuki@seutu-it.fi>' x2@seutu-it.fi 'Testi'
is "$(one x2 | cut -d' ' -f1,3)" "new own_address" "never an ack to our own address"

# -- the ack rate limit -------------------------------------------------------------------------
for i in 1 2 3 4 5 6; do
	mail "r$i" 'Pekka Puro <pekka.puro@gmail.com>' "r$i@gmail.com" "Pyyntö $i"
done
feed "$db3" -m rate -b 1 "$S"/r[1-6] >"$W/rate"
is "$(cut -f2,4 "$W/rate" | tr '\t\n' ' ')" \
	"new queued new queued new queued new queued new queued new rate_limited " \
	"six mails from one address within an hour: six tickets, five acks"
is "$(q scen "SELECT count(*) FROM outbox WHERE lower(to_address) = 'pekka.puro@gmail.com'")" 5 \
	"five acks in the outbox"
is "$(q scen "SELECT count(*) FROM events WHERE kind = 'ack_rate_limited'")" 1 \
	"the ticket without an ack says why"
mail r7 'Pekka Puro <Pekka.Puro@GMAIL.com>' r7@gmail.com 'Pyyntö 7'
is "$(one r7 | cut -d' ' -f1,3)" "new rate_limited" "the limit ignores the address's case"
# the same within one batch: the acks go in as one statement
for i in 1 2 3 4 5 6 7; do
	case $i in 4) from='Riikka Rinne <riikka.rinne@gmail.com>' ;;
	6) from='Sami Saari <SAMI.saari@gmail.com>' ;; *) from='Sami Saari <sami.saari@gmail.com>' ;; esac
	mail "s$i" "$from" "s$i@gmail.com" "Pyyntö $i"
done
q scen "INSERT INTO outbox (ticket, message_id, to_address, kind, status, sent_at)
	VALUES ($T, 'old.ack@seutu-it.fi', 'Sami.Saari@gmail.com', 'ack', 'sent', now())" >/dev/null
feed "$db3" -m rate2 -b 10 "$S"/s[1-7] >"$W/rate2"
is "$(cut -f2,4 "$W/rate2" | tr '\t\n' ' ')" \
	"new queued new queued new queued new queued new queued new rate_limited new rate_limited " \
	"in one batch, one ack sent earlier: the fifth and later to one address are limited, not others"
is "$(q scen "SELECT count(*) FROM outbox WHERE lower(to_address) = 'sami.saari@gmail.com'") \
$(q scen "SELECT string_agg(m.message_id, ' ' ORDER BY m.message_id) FROM events e
	JOIN messages m ON m.ticket = e.ticket WHERE e.kind = 'ack_rate_limited'
	AND m.message_id LIKE 's_@gmail.com'")" "5 s6@gmail.com s7@gmail.com" \
	"five acks to the address in the outbox; each limited ticket says why"

# -- garbage, then a good mail ---------------------------------------------------------------------
head -c 4000 /dev/urandom | tr -d 'A-Za-z:' >"$S/g1"
: >"$S/g2"
mail g3 'Anna Aho <anna.aho@viitasaari.fi>' g3@viitasaari.fi 'Näyttö pimeänä'
feed "$db3" -m garbage "$S/g1" "$S/g2" "$S/g3" >"$W/garbage"
ok $? "garbage does not stop the feed"
is "$(cut -f2 "$W/garbage" | tr '\n' ' ')" "rejected rejected new " \
	"garbage and an empty file are rejected, the next mail is fine"
is "$(q scen "SELECT count(*) FROM intake_log WHERE mailbox = 'garbage' AND outcome = 'rejected'
	AND reason <> ''")" 2 "each rejection is logged with its reason"
is "$(q scen "SELECT length(raw) FROM intake_log WHERE mailbox = 'garbage' AND uid = 1")" \
	"$(wc -c <"$S/g1")" "and the source is kept"

# -- over the size limit --------------------------------------------------------------------------
mail big 'Anna Aho <anna.aho@viitasaari.fi>' big@viitasaari.fi 'Iso liite' '' \
	"$(printf 'Rivi numero %d tekstiä.\n' $(seq 1 400))"
set -- $(one big -s 4000)
is "$1" new "a mail over the size limit still makes a ticket"
is "$(q scen "SELECT raw IS NULL, length(body) > 1000 FROM messages WHERE message_id = 'big@viitasaari.fi'")" \
	"t|t" "with its text, without the source"
is "$(q scen "SELECT count(*) FROM events WHERE ticket = ${2:-0} AND kind = 'warning'")" 1 \
	"and a warning on the ticket"

# -- many new tickets in one statement ------------------------------------------------------------
# A batch's new mails that refer to nothing go to the database together; a
# twin within the batch, an oversized one and the order must come out as
# they do one by one.
mail m1 'Anna Aho <anna.aho@viitasaari.fi>' m1@viitasaari.fi 'Näppäimistö rikki'
mail m2 'Olli Oja <olli.oja@karstula.fi>' m2@karstula.fi 'Salasana vanhentunut'
mail m3 'Eeva Salo <eeva.salo@kyyjarvi.fi>' m1@viitasaari.fi 'Sama tunniste toisella'
mail m4 'Anna Aho <anna.aho@viitasaari.fi>' m4@viitasaari.fi 'Iso viesti' '' \
	"$(printf 'Rivi numero %d tekstiä.\n' $(seq 1 400))"
mail m5 'Olli Oja <olli.oja@karstula.fi>' m5@karstula.fi 'Näyttö vilkkuu'
feed "$db3" -m many -b 10 -s 4000 "$S"/m[1-5] >"$W/many"
ok $? "a batch of new mails feeds"
is "$(cut -f2 "$W/many" | tr '\n' ' ')" "new new duplicate new new " \
	"each is new but the twin of the first"
is "$(cut -f3 "$W/many" | sed -n 3p)" "$(cut -f3 "$W/many" | sed -n 1p)" \
	"the twin names the first one's ticket"
is "$(cut -f3 "$W/many" | sed -n '1p;2p;4p;5p' | sort -n | tr '\n' ' ')" \
	"$(cut -f3 "$W/many" | sed -n '1p;2p;4p;5p' | tr '\n' ' ')" "ticket numbers follow the mails' order"
is "$(q scen "SELECT string_agg(t.subject || ':' || (m.raw IS NULL) || ':' || e.n, ' ' ORDER BY t.number)
	FROM tickets t JOIN messages m ON m.ticket = t.number
	JOIN (SELECT ticket, count(*) AS n FROM events WHERE kind IN ('ticket_created', 'warning')
	GROUP BY ticket) e ON e.ticket = t.number
	WHERE m.message_id IN ('m1@viitasaari.fi', 'm2@karstula.fi', 'm4@viitasaari.fi', 'm5@karstula.fi')")" \
	"Näppäimistö rikki:false:1 Salasana vanhentunut:false:1 Iso viesti:true:2 Näyttö vilkkuu:false:1" \
	"each has its message and audit event; the oversized one its warning, not its source"
is "$(q scen "SELECT count(DISTINCT o.ticket) FROM outbox o JOIN messages m ON m.ticket = o.ticket
	WHERE o.kind = 'ack' AND m.message_id IN ('m1@viitasaari.fi', 'm2@karstula.fi',
	'm4@viitasaari.fi', 'm5@karstula.fi')")" 4 "and its ack"
feed "$db3" -m many -b 10 -s 4000 "$S"/m[1-5] >"$W/many2"
is "$(cut -f2 "$W/many2" | tr '\n' ' ')" "duplicate duplicate duplicate duplicate duplicate " \
	"the same batch again: all duplicates"

# a mail the database refuses inside such a statement: the batch goes again
# one by one, and only that mail is rejected
q scen "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
	IF NEW.subject = 'Myrkkyä' THEN RAISE EXCEPTION 'poisoned' USING ERRCODE = '22023'; END IF;
	RETURN NEW; END \$\$; CREATE TRIGGER poison BEFORE INSERT ON tickets
	FOR EACH ROW EXECUTE FUNCTION poison()" >/dev/null
for i in 1 2 3; do
	mail "p$i" 'Olli Oja <olli.oja@karstula.fi>' "p$i@karstula.fi" "$([ $i = 2 ] && echo Myrkkyä || echo "Pyyntö p$i")"
done
feed "$db3" -m poison -b 10 "$S"/p[1-3] >"$W/poison"
ok $? "a refused mail in a batch does not stop the feed"
is "$(cut -f2 "$W/poison" | tr '\n' ' ')" "new rejected new " "only the refused one is rejected"
is "$(q scen "SELECT outcome, reason LIKE '%poisoned%' FROM intake_log WHERE mailbox = 'poison' AND uid = 2")" \
	"rejected|t" "its log row says why"
q scen "DROP TRIGGER poison ON tickets; DROP FUNCTION poison()" >/dev/null

# -- two feeders race over the same mail ----------------------------------------------------------
db4=$(newdb race)
# shellcheck disable=SC2086
"$FEED" -q -d "$db4" -r "$RULES" -t "$TEMPLATES" -b 10 -m inbox-a $files 2>"$W/race.a" &
pa=$!
# shellcheck disable=SC2086
"$FEED" -q -d "$db4" -r "$RULES" -t "$TEMPLATES" -b 10 -m inbox-b $files 2>"$W/race.b" &
pb=$!
wait $pa
ra=$?
wait $pb
rb=$?
is "$ra $rb" "0 0" "two feeders over the same mail both succeed"
[ "$ra $rb" = "0 0" ] || cat "$W/race.a" "$W/race.b" | sed 's/^/#   /'
is "$(q race 'SELECT count(*) FROM tickets')" "$nnew" "and make each ticket once"
is "$(q race "SELECT count(*), count(DISTINCT ticket) FROM outbox")" "$nnew|$nnew" \
	"and each ack once"
is "$(q race "SELECT count(*) FROM intake_log WHERE outcome <> 'duplicate'")" \
	"$(q corpus "SELECT count(*) FROM intake_log WHERE mailbox = 'test' AND outcome <> 'duplicate'")" \
	"every message is claimed by exactly one of them"

echo "# figures: tickets $nnew of $nfiles files; corpus mails/s: batch 1 $rate1, batch 100 $rate100;" \
	"synthetic 5000 at batch 100: $ratesynth mails/s"
echo "1..$n"
[ "$failed" = 0 ]
