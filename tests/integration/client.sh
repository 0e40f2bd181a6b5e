#!/bin/bash
# The terminal client against the real daemon, PostgreSQL and an SMTP
# server: login, the commands (list, show, note, reply, status) with their
# errors and exit codes, and the full-screen queue driven in tmux
# (send-keys, capture-pane): the breaching ticket first and marked, open a
# ticket, claim it, reply through $EDITOR (a scripted editor) and the mail
# reaches the SMTP server, log work, reclassify, transfer, reply with a
# canned response, save an attachment, merge, and a change made in one
# client shows up live in a second one.
: "${top_srcdir:?}" "${top_builddir:?}"
bin=$top_builddir
src=$top_srcdir

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }

command -v tmux >/dev/null || skip_all "tmux is not installed"
command -v openssl >/dev/null || skip_all "openssl is not installed"
# CLIENT_BIN runs another build of the client (a sanitizer build).
sdbin=${CLIENT_BIN:-$bin/seutudesk}
[ -x "$sdbin" ] || skip_all "seutudesk is not built"

certs=$(mktemp -d "${TMPDIR:-/tmp}/client-certs.XXXXXX")
chmod 0755 "$certs"
. "$src/tests/lib/tls.sh"
tls_cert "$certs" || { echo "Bail out! openssl failed"; exit 1; }
port=$(free_port) || { echo "Bail out! no free port"; exit 1; }
# Normal tickets have hours; a critical one breaches in two seconds.
STACK_EXTRA_CONF="
[api]
listen = 127.0.0.1:$port
cert_file = $certs/cert.pem
key_file = $certs/key.pem
workers = 4

[queue network]

[sla normal]
first_response = 4h
resolution = 8h
calendar = 24x7

[sla critical]
priority = critical
resolution = 2s
calendar = 24x7
"
. "$src/tests/lib/stack.sh"

echo "1..34"
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	exit 0
fi
tmp=$STACK_DIR
TMUX_SOCK=$tmp/tmux.sock
cleanup_all() {
	tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
	stack_cleanup
	rm -rf "$certs"
}
trap cleanup_all EXIT

ctl() { "$bin/seutudeskctl" -c "$STACK_CONF" "$@"; }
ctl agent add anna --name "Anna Agent" --email anna@seutu-it.fi >/dev/null &&
	ctl agent add bert --name "Bert Agent" --email bert@seutu-it.fi >/dev/null ||
	{ echo "Bail out! agent add failed"; exit 1; }
token() { ctl token issue "$1" 2>/dev/null | grep -o 'sdt_[A-Za-z0-9_-]*' | head -1; }
anna=$(token anna)
bert=$(token bert)
[ -n "$anna" ] && [ -n "$bert" ] || { echo "Bail out! token issue failed"; exit 1; }

# Three ordinary tickets, then a critical one, and one far down the list.
stack_sql "INSERT INTO tickets (requester_address, requester_name, subject, municipality, sector, category)
	VALUES ('maija@kinnula.fi', 'Maija Meikäläinen', 'Tulostin ei toimi, pyydän apua', 'kinnula', 'sivistys', 'tulostus'),
	       ('åsa@kyyjarvi.fi', 'Åsa Öberg', 'Skrivaren på andra våningen', 'kyyjarvi', 'keskushallinto', 'tulostus'),
	       ('li@karstula.fi', '李小龍', '全角の件名テスト wide subject', 'karstula', 'tekninen', 'verkko')" >/dev/null
crit=$(stack_sql "INSERT INTO tickets (requester_address, requester_name, subject, priority, municipality)
	VALUES ('pekka@saarijarvi.fi', 'Pekka', 'Koko verkko alhaalla', 'critical', 'saarijarvi') RETURNING number")
stack_sql "INSERT INTO messages (ticket, direction, from_address, from_name, subject, body)
	VALUES ($crit, 'in', 'pekka@saarijarvi.fi', 'Pekka', 'Koko verkko alhaalla',
	 E'Hei,\nverkko ei toimi missään.\n\n> vanha viesti 1\n> vanha viesti 2\n> vanha viesti 3\n> vanha viesti 4')" >/dev/null
daemon_start
base=https://127.0.0.1:$port
served=no
for _ in $(seq 100); do
	curl -s -o /dev/null --cacert "$certs/cert.pem" "$base/healthz" && { served=yes; break; }
	sleep 0.1
done
if [ $served = no ]; then
	tail -20 "$STACK_LOG" | sed 's/^/# daemon: /'
	echo "Bail out! the daemon does not serve the API on $base"
	exit 0
fi
stack_wait "SELECT count(*) FROM events WHERE ticket = $crit AND kind = 'sla_breach'" 1 20 ||
	echo "# the critical ticket did not breach"

# Each agent a home of their own; the client runs in a UTF-8 locale.
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
unset SEUTUDESK_URL SEUTUDESK_TOKEN SEUTUDESK_CA SEUTUDESK_CONFIG XDG_CONFIG_HOME
mkdir -p "$tmp/anna" "$tmp/bert"
sd() { # sd HOME ARGS...
	local h=$1
	shift
	HOME=$h "$sdbin" "$@"
}
out=$(echo "$anna" | sd "$tmp/anna" login "$base" --ca-file "$certs/cert.pem" 2>&1)
check "login checks the token and says who" '[[ $out == *"as anna"* ]]'
check "login writes the config and the token file, mode 0600" \
	'[ "$(stat -c %a "$tmp/anna/.config/seutudesk/token")" = 600 ] && [ "$(stat -c %a "$tmp/anna/.config/seutudesk/config")" = 600 ] && grep -q "^url = $base" "$tmp/anna/.config/seutudesk/config"'
echo "sdt_notarealtoken000000000000000000000000000" | sd "$tmp/bert" login "$base" --ca-file "$certs/cert.pem" >"$tmp/out" 2>&1
rc=$?
check "login with a bad token fails (exit 4) and writes nothing" \
	'[ $rc = 4 ] && [ ! -e "$tmp/bert/.config/seutudesk/token" ]'
echo "$bert" | sd "$tmp/bert" login "$base" --ca-file "$certs/cert.pem" >/dev/null 2>&1

sd "$tmp/anna" list >"$tmp/list" 2>&1
rc=$?
first=$(sed -n 2p "$tmp/list")
check "list: the breaching ticket first, marked with '!'" \
	'[ $rc = 0 ] && [[ $first =~ ^\ *$crit\ +! ]]'
check "list: Finnish, Swedish and wide characters line up" \
	'[ "$(awk "NR > 1" "$tmp/list" | while IFS= read -r l; do printf "%s" "$l" | cut -c1-1 >/dev/null; echo "${l%%Tulostin*}"; done | wc -l)" -ge 4 ] && grep -q "Åsa Öberg" "$tmp/list" && grep -q "李小龍" "$tmp/list"'
sd "$tmp/anna" list --json >"$tmp/list.json"
check "list --json is JSON with the tickets" \
	'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"tickets\"][0][\"number\"] == $crit and d[\"tickets\"][0][\"breached\"]" "$tmp/list.json"'
sd "$tmp/anna" list --queue nosuchqueue >/dev/null 2>"$tmp/err"
rc=$?
check "list --queue with an unknown queue: exit 1 and the server's words" \
	'[ $rc = 1 ] && grep -q "nosuchqueue" "$tmp/err"'
sd "$tmp/anna" show "$crit" >"$tmp/show"
check "show prints the header and the conversation" \
	'grep -q "^#$crit  Koko verkko alhaalla" "$tmp/show" && grep -q "verkko ei toimi missään" "$tmp/show"'
sd "$tmp/anna" show 999999 >/dev/null 2>"$tmp/err"
check "show of a missing ticket: exit 1" '[ $? = 1 ] && grep -q "no such ticket" "$tmp/err"'
printf 'Soitin käyttäjälle.\n' >"$tmp/note.txt"
sd "$tmp/anna" note "$crit" --file "$tmp/note.txt" >/dev/null 2>&1
check "note --file saves an internal note" \
	'[ "$(stack_sql "SELECT count(*) FROM messages WHERE ticket = $crit AND direction = '\''note'\'' AND body LIKE '\''Soitin%'\''")" = 1 ]'
: >"$tmp/empty.txt"
sd "$tmp/anna" reply "$crit" --file "$tmp/empty.txt" >/dev/null 2>"$tmp/err"
check "reply with an empty file aborts (exit 1), nothing sent" \
	'[ $? = 1 ] && grep -q "nothing was sent" "$tmp/err" && [ "$(stack_sql "SELECT count(*) FROM messages WHERE ticket = $crit AND direction = '\''out'\''")" = 0 ]'
sd "$tmp/anna" status "$crit" bogus >/dev/null 2>&1
check "status with a bad value: exit 2" '[ $? = 2 ]'
SEUTUDESK_TOKEN=sdt_revokedorwrong00000000000000000000000000 sd "$tmp/anna" list >/dev/null 2>"$tmp/err"
check "a refused token: exit 4, and how to log in again" \
	'[ $? = 4 ] && grep -q "seutudesk login $base" "$tmp/err"'
SEUTUDESK_URL=https://127.0.0.1:1 sd "$tmp/anna" list >/dev/null 2>"$tmp/err"
check "no server: exit 3 in plain words" '[ $? = 3 ] && grep -q "cannot reach the server" "$tmp/err"'
SEUTUDESK_CA=/dev/null sd "$tmp/anna" list >/dev/null 2>"$tmp/err"
check "an untrusted certificate is refused (TLS verification is on)" \
	'[ $? = 3 ] && grep -qi "not trusted\|cannot reach" "$tmp/err"'

# -- the full screen, in tmux --
# Canned responses in the default canned_dir, an attachment on the first message.
mkdir -p "$tmp/anna/.config/seutudesk/canned"
printf 'Hei,\n\nkiitos viestistä.\n' >"$tmp/anna/.config/seutudesk/canned/a-kiitos"
printf 'Vika on korjattu: verkko toimii taas koko kunnassa.\n' \
	>"$tmp/anna/.config/seutudesk/canned/b-verkko-kunnossa"
stack_sql "INSERT INTO attachments (message, filename, content_type, size, content)
	SELECT id, 'reititin-loki.txt', 'text/plain', 22, convert_to(E'linkki alhaalla 09:14\n', 'UTF8')
	FROM messages WHERE ticket = $crit AND direction = 'in'" >/dev/null
cat >"$tmp/editor.sh" <<'ED'
#!/bin/sh
# A scripted editor: the answer goes above the template.
{ printf 'Verkko toimii taas, kiitos ilmoituksesta.\n'; cat "$1"; } >"$1.new" && mv "$1.new" "$1"
ED
chmod +x "$tmp/editor.sh"
tm() { tmux -S "$TMUX_SOCK" "$@"; }
screen() { tm capture-pane -p -t "$1"; }
wait_screen() { # wait_screen TARGET PATTERN SECONDS
	local i=0
	while [ $i -lt $(($3 * 10)) ]; do
		screen "$1" | grep -q -- "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	screen "$1" | sed 's/^/#   | /'
	return 1
}
wait_true() { # wait_true SECONDS COMMAND: polls, for what has no text to wait for
	local i=0
	while [ $i -lt $(($1 * 10)) ]; do
		eval "$2" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
client_cmd() { echo "env HOME=$tmp/$1 EDITOR=$tmp/editor.sh LANG=C.UTF-8 LC_ALL=C.UTF-8 $sdbin; sleep 30"; }
tm new-session -d -s anna -x 80 -y 24 "$(client_cmd anna)"
tm new-session -d -s bert -x 120 -y 30 "$(client_cmd bert)"
wait_screen anna "Tab: next view" 10
check "the queue opens in 80x24" '[ $? = 0 ]'
# CLIENT_CAPTURE_DIR=DIR keeps text captures of the screens (for the docs).
capture() { [ -n "${CLIENT_CAPTURE_DIR:-}" ] && screen anna >"$CLIENT_CAPTURE_DIR/$1.txt"; }
wait_true 5 '[[ $(screen anna | sed -n 3p) =~ ^\ *$crit\ +! ]]'
capture queue
row=$(screen anna | sed -n 3p)
check "the breaching ticket is first and marked" '[[ $row =~ ^\ *$crit\ +! ]]'
check "the status line has counts" 'screen anna | tail -1 | grep -q "breached"'
# Every row's assignee column ("-" for all) starts at the same display column.
cols=$(screen anna | sed -n '3,6p' | python3 -c '
import sys, unicodedata
w = lambda s: sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
for l in sys.stdin.read().splitlines():
	print(w(l.rstrip().rsplit(" ", 1)[0].rstrip()), max(w(l), 0) <= 80)' | sort -u)
check "rows with wide and Nordic characters line up in 80 columns" \
	'screen anna | grep -q "李小龍" && screen anna | grep -q "Åsa Öbe" && [ "$(echo "$cols" | wc -l)" = 1 ] && [[ $cols == *True ]]'
tm send-keys -t anna Enter
wait_screen anna "Koko verkko alhaalla" 15 && wait_screen anna "quoted lines folded" 15
check "Enter opens the ticket, quoted text folded" '[ $? = 0 ]'
capture ticket
tm send-keys -t anna c
wait_screen anna "claimed" 15
check "c claims it" '[ $? = 0 ] && [ "$(stack_sql "SELECT a.login FROM tickets t JOIN agents a ON a.id = t.assignee WHERE t.number = $crit")" = anna ]'
before=$(smtp_count)
tm send-keys -t anna r
wait_screen anna "on its way" 10
check "r replies through \$EDITOR" \
	'[ $? = 0 ] && [ "$(stack_sql "SELECT count(*) FROM messages WHERE ticket = $crit AND direction = '\''out'\'' AND body LIKE '\''Verkko toimii taas%'\''")" = 1 ]'
smtp_wait_count $((before + 1)) 20
check "the requester's mail reaches the SMTP server" \
	'[ $? = 0 ] && grep -l "pekka@saarijarvi.fi" "$SMTP_MAILDIR"/new/* 2>/dev/null | xargs grep -l "Verkko toimii taas" >/dev/null 2>&1'
# The ticket view's other actions, each through its prompt.
tm send-keys -t anna w
wait_screen anna "minutes worked" 15 >/dev/null
tm send-keys -t anna 15 Enter
wait_screen anna "what was done" 15 >/dev/null
tm send-keys -t anna "Reititin vaihdettu" Enter
wait_screen anna "work time logged" 15
check "w logs work time" '[ $? = 0 ] && [ "$(stack_sql "SELECT minutes || note FROM worklog WHERE ticket = $crit")" = "15Reititin vaihdettu" ]'
tm send-keys -t anna e
wait_screen anna "reclassify" 15 >/dev/null
tm send-keys -t anna "category=verkko sector=tekninen" Enter
wait_screen anna "reclassified" 15
check "e reclassifies" '[ $? = 0 ] && [ "$(stack_sql "SELECT category || sector FROM tickets WHERE number = $crit")" = verkkotekninen ]'
tm send-keys -t anna t
wait_screen anna "transfer to queue" 15 >/dev/null
tm send-keys -t anna network Enter
wait_screen anna "transferred" 15
check "t transfers to another queue" '[ $? = 0 ] && [ "$(stack_sql "SELECT queue FROM tickets WHERE number = $crit")" = network ]'
tm send-keys -t anna a
wait_screen anna "Canned responses" 15 >/dev/null
tm send-keys -t anna j Enter
wait_screen anna "on its way" 15
check "a replies with the canned response picked (the second of two)" \
	'[ $? = 0 ] && [ "$(stack_sql "SELECT count(*) FROM messages WHERE ticket = $crit AND direction = '\''out'\'' AND body LIKE '\''%verkko toimii taas koko kunnassa%'\''")" = 1 ]'
tm send-keys -t anna s
wait_screen anna "save to: reititin-loki.txt" 15 >/dev/null
tm send-keys -t anna C-u "$tmp/saved.txt" Enter
wait_screen anna "saved 22 bytes" 15
check "s saves the attachment where asked (its name offered)" \
	'[ $? = 0 ] && [ "$(cat "$tmp/saved.txt")" = "linkki alhaalla 09:14" ]'
# The second client: bert's queue follows anna's changes live.
wait_screen bert "Tab: next view" 10 >/dev/null
other=$(stack_sql "SELECT number FROM tickets WHERE subject LIKE 'Skrivaren%'")
tm send-keys -t anna q
wait_screen anna "Tab: next view" 15 >/dev/null
sd "$tmp/anna" status "$other" pending >/dev/null
wait_screen bert "^ *$other  *pend" 15
check "a status change shows up live in a second client (pending)" '[ $? = 0 ]'
tm send-keys -t anna '/'
wait_screen anna "find:" 15 >/dev/null
tm send-keys -t anna 'Skrivaren' Enter
wait_true 5 '! screen anna | grep -q "find:"' # the cursor is on it when the prompt is gone
tm send-keys -t anna Enter
wait_screen anna "Skrivaren på andra" 15 >/dev/null
tm send-keys -t anna R
wait_screen anna "resolved" 15 >/dev/null
t0=$(date +%s%N)
for _ in $(seq 50); do
	screen bert | grep -q "Skrivaren" || break
	sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
check "resolving in the first client removes it from the second's queue (${ms} ms)" \
	'! screen bert | grep -q "Skrivaren"'
# Merge the wide-subject ticket into the critical one.
wide=$(stack_sql "SELECT number FROM tickets WHERE subject LIKE '%wide subject'")
tm send-keys -t anna q
wait_screen anna "Tab: next view" 15 >/dev/null
tm send-keys -t anna '/'
wait_screen anna "find:" 15 >/dev/null
tm send-keys -t anna 'wide subject' Enter
wait_true 5 '! screen anna | grep -q "find:"'
tm send-keys -t anna Enter
wait_screen anna "^#$wide " 15 >/dev/null
tm send-keys -t anna M
wait_screen anna "merge this ticket into" 15 >/dev/null
tm send-keys -t anna "$crit" Enter
wait_screen anna "merge and close" 15 >/dev/null
tm send-keys -t anna y Enter
wait_screen anna "merged" 15
check "M merges into the ticket named, after a confirmation" \
	'[ $? = 0 ] && [ "$(stack_sql "SELECT merged_into || status FROM tickets WHERE number = $wide")" = "${crit}closed" ]'
dwidth() { python3 -c '
import sys, unicodedata
print(max(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in l) for l in sys.stdin.read().splitlines()))'; }
tm set-option -t bert window-size manual 2>/dev/null
tm resize-window -t bert -x 100 -y 20 2>/dev/null
wait_true 5 '[ "$(screen bert | tail -1 | dwidth)" = 100 ]'
check "a resize redraws at the new size (the status line's counts end at column 100)" \
	'[ "$(screen bert | tail -1 | dwidth)" = 100 ] && screen bert | grep -q "Tab: next view"'
tm send-keys -t bert '?'
wait_screen bert "every key\|this help" 15
check "? shows the help" '[ $? = 0 ]'
tm send-keys -t bert q q
wait_true 5 '! tm list-panes -t bert -F "#{pane_current_command}" 2>/dev/null | grep -q seutudesk'
check "q leaves the client" '! tm list-panes -t bert -F "#{pane_current_command}" 2>/dev/null | grep -q seutudesk'
if [ $fails -gt 0 ]; then
	grep -v "status=200" "$STACK_LOG" | tail -30 | sed 's/^/# daemon: /'
fi
