#!/bin/bash
# The terminal client on chat tickets, against the real daemon with a
# bridge: the queue marks the channel; a chat ticket open in tmux shows a
# message the visitor posts through the bridge API without a key press,
# following the end, and "typing…" while they type; the agent's reply from
# the client reaches the bridge's replies and its delivery report shows in
# the open view; after a reply the client says where it went (the chat, by
# mail too, or nowhere yet), on the screen and from `seutudesk reply`.
# The screens are kept under the build directory, client-chat-screens/.
: "${top_srcdir:?}" "${top_builddir:?}"
bin=$top_builddir
src=$top_srcdir
PY=python3

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
. "$src/tests/lib/apitest.sh"

need_cmd tmux openssl curl
sdbin=${CLIENT_BIN:-$bin/seutudesk}
[ -x "$sdbin" ] || skip_all "seutudesk is not built"

api_workdir client-chat-certs
certs=$W
# A person is "in the chat" for a minute after their last message.
STACK_EXTRA_CONF="
[api]
listen = 127.0.0.1:$port
cert_file = $certs/cert.pem
key_file = $certs/key.pem
workers = 4

[bridge]
idle = 1m
calendar = 24x7

[sla normal]
first_response = 4h
resolution = 8h
calendar = 24x7

[sla chat]
channel = chat
first_response = 15m
resolution = 8h
calendar = 24x7
"
. "$src/tests/lib/stack.sh"

echo "1..24"
if ! stack_start; then
	echo "Bail out! the test stack did not start"
	exit 0
fi
tmp=$STACK_DIR
TMUX_SOCK=$tmp/tmux.sock
shots=$bin/client-chat-screens
rm -rf "$shots"
mkdir -p "$shots"
cleanup_all() {
	tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
	stack_cleanup
	rm -rf "$certs"
}
trap cleanup_all EXIT

ctl agent add anna --name "Anna Agent" --email anna@seutu-it.fi >/dev/null &&
	ctl bridge add webchat --kind webchat >/dev/null ||
	{ echo "Bail out! agent or bridge add failed"; exit 1; }
api_token anna anna
api_token BT --bridge webchat
stack_sql "INSERT INTO tickets (requester_address, requester_name, subject, municipality)
	VALUES ('pekka@saarijarvi.fi', 'Pekka', 'Sähköposti ei kulje', 'saarijarvi')" >/dev/null
daemon_start
if ! api_wait; then
	tail -20 "$STACK_LOG" | sed 's/^/# daemon: /'
	echo "Bail out! the daemon does not serve the API on $base"
	exit 0
fi

# The visitor's side: the bridge API with the bridge's token.
bpost() { # bpost PATH JSON: the status; the answer in $tmp/body
	curl -s --max-time 20 --cacert "$certs/cert.pem" -o "$tmp/body" -w '%{http_code}' \
		-H "Authorization: Bearer $BT" -H 'Content-Type: application/json' \
		--data-binary "$2" "$base$1"
}
bget() {
	curl -s --max-time 20 --cacert "$certs/cert.pem" -o "$tmp/body" -w '%{http_code}' \
		-H "Authorization: Bearer $BT" "$base$1"
}
j() { $PY -c 'import json, sys; d = json.load(open(sys.argv[2])); print(eval(sys.argv[1]))' "$1" "$tmp/body"; }
MAIJA='{"name":"Maija Meikäläinen","handle":"maija"}'
say() { # say ID CONVERSATION TEXT [SENDER]
	bpost /bridge/v1/messages "$(printf '{"id":"%s","conversation":"%s","sender":%s,"text":"%s","site":"kinnula"}' \
		"$1" "$2" "${4:-$MAIJA}" "$3")"
}
# Three messages of a few lines each: more than a screen, so that a new one
# shows only if the view follows the end.
say m1 c1 'Hei, kirjaston asiakaskone ei tulosta.\nKone: KIR-07\nTulostin: HP toisessa kerroksessa\nVirhe: Tulostusjono on pysähtynyt' >/dev/null
chat=$(j "d['ticket']")
say m2 c1 'Kokeilin jo käynnistää koneen uudelleen.\nEi auttanut.\nMuut koneet tulostavat normaalisti.' >/dev/null
say m3 c1 'Jonossa on kolme työtä,\nensimmäinen on 40-sivuinen PDF.\nOnko se liian iso?' >/dev/null
[ -n "$chat" ] && [ "$chat" -gt 0 ] 2>/dev/null || { echo "Bail out! the bridge made no ticket"; exit 1; }
mail=$(stack_sql "SELECT number FROM tickets WHERE channel = 'email' LIMIT 1")

export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
unset SEUTUDESK_URL SEUTUDESK_TOKEN SEUTUDESK_CA SEUTUDESK_CONFIG XDG_CONFIG_HOME
mkdir -p "$tmp/anna"
sd() { HOME=$tmp/anna "$sdbin" "$@"; }
echo "$anna" | sd login "$base" --ca-file "$certs/cert.pem" >/dev/null 2>&1

# -- the scriptable side --
sd list >"$tmp/list" 2>&1
sd list --json >"$tmp/list.json" 2>&1
check "list has the channel column, titled C" 'head -1 "$tmp/list" | grep -q "^ *# *SLA *Pri *C "'
channels=$($PY -c 'import json, sys; print(" ".join(sorted(str(t.get("channel")) for t in json.load(open(sys.argv[1]))["tickets"])))' "$tmp/list.json")
if [ "$channels" = "None None" ]; then
	ok "list marks chat 'c' and mail '@' # SKIP the API's ticket list has no channel"
else
	check "list marks chat 'c' and mail '@' (--json: $channels)" \
		'[ "$channels" = "chat email" ] && grep -Eq "^ *$chat +[^ ]+ +norm +c " "$tmp/list" && grep -Eq "^ *$mail +[^ ]+ +norm +@ " "$tmp/list"'
fi
sd show "$chat" >"$tmp/show"
check "show names the channel of a chat ticket" 'grep -q "Channel: chat" "$tmp/show"'

# -- the full screen, in tmux --
cat >"$tmp/editor.sh" <<'ED'
#!/bin/sh
# A scripted editor: the answer goes above the template, kept to be seen.
cp "$1" "$SHOTS/reply-template.txt"
{ printf 'Tyhjennän jonon etänä, kokeile hetken päästä uudelleen.\n'; cat "$1"; } >"$1.new" && mv "$1.new" "$1"
ED
chmod +x "$tmp/editor.sh"
tm() { tmux -S "$TMUX_SOCK" "$@"; }
screen() { tm capture-pane -p -t anna; }
shot() { screen >"$shots/$1.txt"; }
wait_screen() { # wait_screen PATTERN SECONDS
	local i=0
	while [ $i -lt $(($2 * 10)) ]; do
		screen | grep -q -- "$1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	screen | sed 's/^/#   | /'
	return 1
}
tm new-session -d -s anna -x 80 -y 24 \
	"env HOME=$tmp/anna SHOTS=$shots EDITOR=$tmp/editor.sh LANG=C.UTF-8 LC_ALL=C.UTF-8 $sdbin; sleep 30"
wait_screen "Tab: next view" 10
check "the queue opens in 80x24" '[ $? = 0 ]'
wait_screen "Maija" 10 >/dev/null
shot 1-queue
check "the queue's header has the channel column" 'screen | sed -n 2p | grep -q "Pri *C "'
tm send-keys -t anna '/'
wait_screen "find:" 10 >/dev/null
tm send-keys -t anna "$chat" Enter
sleep 0.3
tm send-keys -t anna Enter
wait_screen "Onko se liian iso" 15
check "the chat ticket opens at its newest message" '[ $? = 0 ]'
shot 2-chat-open
# The visitor writes: the open view shows it without a key press.
t0=$(date +%s%N)
say m4 c1 'Nyt näytöllä lukee: paperi loppu.' >/dev/null
wait_screen "paperi loppu" 10
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "a message the visitor posts shows in the open view with no key press (${ms} ms)" '[ $rc = 0 ]'
check "... at the bottom: the view followed the end" \
	'screen | grep -n "paperi loppu" | cut -d: -f1 | grep -qx 23'
shot 3-chat-live
bpost "/bridge/v1/conversations/c1/typing" '{}' >/dev/null
wait_screen "is typing…" 10
check "a typing notice shows on the status line" '[ $? = 0 ] && screen | tail -1 | grep -q "Maija Meikäläi… is typing…\|Maija.*typing…"'
shot 4-typing
for _ in $(seq 100); do screen | tail -1 | grep -q "typing" || break; sleep 0.1; done
check "... and goes away after a few seconds" '! screen | tail -1 | grep -q typing'
# Scrolled back, the agent stays where they are when the visitor writes.
tm send-keys -t anna g
wait_screen "Channel: chat" 10 >/dev/null
say m5 c1 'Löysin paperia, laitan sitä lisää.' >/dev/null
stack_wait "SELECT count(*) FROM messages WHERE ticket = $chat AND body LIKE 'Löysin paperia%'" 1 10 >/dev/null
sleep 1
check "a message while scrolled back leaves the view where it was" \
	'screen | sed -n 2p | grep -q "^#$chat " && screen | tail -1 | grep -q "[0-9]\+ lines [0-9]\+%" && ! screen | grep -q "Löysin paperia"'
tm send-keys -t anna G
wait_screen "Löysin paperia" 10 >/dev/null
# The agent replies through the editor.
tm send-keys -t anna r
wait_screen "Sent to the chat" 15
check "r replies; the status line says it went to the chat" '[ $? = 0 ]'
shot 5-replied
check "the reply shows in the view as queued" 'wait_screen "reply by Anna Agent  \[queued" 10'
bget "/bridge/v1/replies?after=0" >/dev/null
rid=$(j "[r['id'] for r in d['replies'] if r['text'].startswith('Tyhjennän jonon')][0]" 2>/dev/null)
check "the bridge gets the reply (GET /bridge/v1/replies)" \
	'[ -n "$rid" ] && [ "$(j "[r[\"conversation\"] for r in d[\"replies\"] if r[\"id\"] == $rid][0]")" = c1 ]'
bpost "/bridge/v1/replies/$rid" '{"state":"delivered"}' >/dev/null
wait_screen "reply by Anna Agent  \[delivered" 10
check "the bridge reports it delivered: the open view shows it with no key press" '[ $? = 0 ]'
shot 6-delivered
bpost "/bridge/v1/replies/$rid" '{"state":"read"}' >/dev/null
wait_screen "reply by Anna Agent  \[read" 10
check "... then read" '[ $? = 0 ]'
widest=$(cat "$shots"/*.txt | $PY -c '
import sys, unicodedata
print(max(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in l) for l in sys.stdin.read().splitlines()))')
check "the reply's template quotes nothing and shows the chat below the marker" \
	'grep -q "^#     Nyt näytöllä lukee: paperi loppu.$" "$shots/reply-template.txt" && ! grep -q "^>" "$shots/reply-template.txt"'
check "every screen fits 80 columns (widest $widest)" '[ "$widest" -le 80 ]'
tm send-keys -t anna g
wait_screen "Channel: chat" 10
check "g shows the chat ticket's header: its channel, the events, then the conversation" \
	'[ $? = 0 ] && [ "$(screen | grep -n "^Events:" | cut -d: -f1)" -lt "$(screen | grep -n "^--- " | head -1 | cut -d: -f1)" ]'
shot 7-chat-top
tm send-keys -t anna q q

# -- where a reply went, from `seutudesk reply` --
printf 'Kiitos, kirjattu.\n' >"$tmp/answer.txt"
sd reply "$chat" --file "$tmp/answer.txt" >/dev/null 2>"$tmp/err"
check "reply to a person in the chat: 'Sent to the chat' on stderr" 'grep -q "Sent to the chat" "$tmp/err"'
bget "/bridge/v1/replies?after=0" >/dev/null
rid=$(j "[r['id'] for r in d['replies'] if r['text'] == 'Kiitos, kirjattu.'][0]" 2>/dev/null)
bpost "/bridge/v1/replies/$rid" '{"state":"failed","reason":"the visitor closed the page"}' >/dev/null
sd show "$chat" >"$tmp/show"
check "a failed delivery shows with its reason" \
	'grep -q "reply by Anna Agent  \[FAILED [0-9:]*: the visitor closed the page\]" "$tmp/show"'
say e1 c2 'Vesimittarin lukema ei mene läpi' '{"name":"Eero","email":"eero@example.org"}' >/dev/null
eero=$(j "d['ticket']")
say n1 c3 'Salasana unohtui' '{"name":"Nimetön"}' >/dev/null
anon=$(j "d['ticket']")
stack_sql "UPDATE chat_conversations SET last_seen_at = now() - interval '2 minutes' WHERE id IN ('c2', 'c3')" >/dev/null
sd reply "$eero" --file "$tmp/answer.txt" >/dev/null 2>"$tmp/err"
check "a person who left the chat: 'sent by e-mail too'" \
	'grep -q "The person has left the chat: sent by e-mail too" "$tmp/err"'
sd reply "$anon" --file "$tmp/answer.txt" >/dev/null 2>"$tmp/err"
check "left, no address: 'they will see it if they come back'" \
	'grep -q "gave no e-mail: they will see it if they come back" "$tmp/err"'
sd reply "$mail" --file "$tmp/answer.txt" >"$tmp/out" 2>"$tmp/err"
check "a mail ticket's reply says nothing of chats" '[ ! -s "$tmp/err" ] && grep -q "on its way" "$tmp/out"'
echo "# screens: $shots"
if [ $fails -gt 0 ]; then
	grep -v "status=200" "$STACK_LOG" | tail -30 | sed 's/^/# daemon: /'
fi
