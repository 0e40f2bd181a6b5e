#!/bin/bash
# agents: seutudeskctl agent and token against a private PostgreSQL: add,
# list, show, modify, disable and enable agents; the refusals name the bad
# option; tokens are stored only as their SHA-256, work until revoked or the
# agent is disabled, and the token itself is nowhere in the database.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
. "$top_srcdir/tests/lib/pg.sh"

CTL=$top_builddir/seutudeskctl
. "$top_srcdir/tests/lib/tap.sh"

if [ ! -x "$CTL" ]; then
	echo "1..0 # SKIP $CTL not built"
	exit 0
fi
. "$top_srcdir/tests/lib/apitest.sh"
db_start agents
sql() { pg_psql -d agents -c "$1"; }
ctl() { db_ctl "$@"; } # ctl SUB CMD ARGS...: seutudeskctl on $db; stdout in $out, stderr in $err
check() { # check TOKEN: token check; stdout in $out, stderr in $err
	printf '%s\n' "$1" | "$CTL" -c /nonexistent/seutudesk.conf token check --database "$db" \
		>"$out" 2>"$err"
}
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

"$CTL" migrate --sql-dir "$top_srcdir/sql" --database "$db" >"$out" 2>"$err"
ok $? "the database migrates"

# -- add ---------------------------------------------------------------------
ctl agent add mvirtanen --name "Maija Virtanen" --email maija.virtanen@saarijarvi.fi \
	--role lead --organisation saarijarvi --queues "triage, tyoasemat" \
	--municipalities saarijarvi,karstula --sectors sivistys,keskushallinto --max-open 10
ok $? "agent add with every option"
has "$out" "added agent mvirtanen (id 1)" "add reports the login and the id"
is "$(sql "SELECT login, name, email, role, organisation, queues, municipalities, sectors, sote,
	max_open, active FROM agents WHERE login = 'mvirtanen'")" \
	"mvirtanen|Maija Virtanen|maija.virtanen@saarijarvi.fi|lead|saarijarvi|{triage,tyoasemat}|{saarijarvi,karstula}|{sivistys,keskushallinto}|f|10|t" \
	"the row holds what was given"

ctl agent add --login kjarvinen --name "Kalle Järvinen" --email kalle@saarikka.fi --sote \
	--sectors sote,sivistys
ok $? "agent add with --login, --sote and a sensitive sector"
is "$(sql "SELECT role, organisation IS NULL, queues IS NULL, municipalities IS NULL,
	sectors, sote, max_open FROM agents WHERE login = 'kjarvinen'")" \
	"agent|t|t|t|{sote,sivistys}|t|25" "defaults: agent, no organisation, any, 25"

ctl agent add ttriage --name "Triage Only" --email triage@seutu-it.fi --queues triage \
	--municipalities none --sectors none
ok $? "agent add with empty lists"
is "$(sql "SELECT municipalities, sectors FROM agents WHERE login = 'ttriage'")" "{}|{}" \
	"none is an empty list, not any"

# -- refusals ----------------------------------------------------------------
refused "a duplicate login is refused" "login 'mvirtanen': an agent with this login exists" \
	agent add mvirtanen --name X --email x@example.fi
refused "a bad role is refused" "--role 'boss': expected agent, lead, manager or admin" \
	agent add abc --name X --email x@example.fi --role boss
refused "an unknown municipality is refused with the known ones" \
	"--municipalities: unknown municipality 'helsinki' (known: kannonkoski, karstula, kinnula, kivijarvi, kyyjarvi, pihtipudas, saarijarvi, saarikka, viitasaari)" \
	agent add abc --name X --email x@example.fi --municipalities karstula,helsinki
refused "an unknown sector is refused with the known ones" \
	"--sectors: unknown sector 'terveys' (known: keskushallinto, konserni, sivistys, sote, tekninen)" \
	agent add abc --name X --email x@example.fi --sectors terveys
refused "an unknown organisation is refused" "--organisation: unknown organisation 'espoo' (known: " \
	agent add abc --name X --email x@example.fi --organisation espoo
refused "a sensitive sector without --sote is refused" "--sectors: 'sote' is a sensitive sector" \
	agent add abc --name X --email x@example.fi --sectors sote
refused "a malformed list id is refused" "--queues 'triage,Bad Queue': 'Bad Queue' is not an id" \
	agent add abc --name X --email x@example.fi --queues "triage,Bad Queue"
refused "any inside a list is refused" "--sectors 'any,sote': 'any' stands alone" \
	agent add abc --name X --email x@example.fi --sectors any,sote
refused "a bad e-mail is refused" "--email 'not-an-address'" \
	agent add abc --name X --email not-an-address
refused "a bad max-open is refused" "--max-open '5000': expected a number from 0 to 1000" \
	agent add abc --name X --email x@example.fi --max-open 5000
refused "a bad login is refused" "login 'Bad.Login'" \
	agent add Bad.Login --name X --email x@example.fi
refused "an empty name is refused" "--name: must not be empty" \
	agent add abc --name " " --email x@example.fi
ctl agent add abc --email x@example.fi
ok $(($? != 2)) "add without --name is a usage error"
is "$(sql "SELECT count(*) FROM agents")" "3" "nothing refused was added"

# -- list and show -----------------------------------------------------------
ctl agent list
ok $? "agent list"
has "$out" "^ID  *LOGIN  *NAME" "the table has a header"
has "$out" "^1  *mvirtanen  *Maija Virtanen  *lead  *saarijarvi  *no  *10  *active  *0  *triage, tyoasemat$" \
	"a row per agent, aligned"
has "$out" "kjarvinen  *Kalle Järvinen  *agent  *-  *yes  *25  *active  *0  *any$" \
	"a name with ä is aligned too"
ctl agent list --json
ok $? "agent list --json"
is "$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print(len(a), a[0]["login"], a[0]["municipalities"], a[2]["municipalities"], a[0]["sote"])' "$out")" \
	"3 kjarvinen None [] True" "list --json: null is any, [] is none"
ctl agent show mvirtanen
ok $? "agent show"
has "$out" "^municipalities  saarijarvi, karstula$" "show lists the municipalities"
has "$out" "^sote            not cleared$" "show says the clearance"
ctl agent show 2 --json
ok $? "agent show by id, --json"
is "$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print(a["login"], a["sectors"], a["role"], a["api_tokens"])' "$out")" \
	"kjarvinen ['sote', 'sivistys'] agent []" "show --json has the fields and the tokens"
refused "an unknown agent" "AGENT 'nobody': no such agent" agent show nobody

# -- modify ------------------------------------------------------------------
ctl agent modify mvirtanen --municipalities any --max-open 5 --role agent --organisation none
ok $? "agent modify"
is "$(sql "SELECT municipalities IS NULL, max_open, role, organisation IS NULL, sectors
	FROM agents WHERE login = 'mvirtanen'")" "t|5|agent|t|{sivistys,keskushallinto}" \
	"modify changes what it is given and keeps the rest"
ctl agent modify 1 --login maija.v
ok $? "agent modify --login renames, by id"
is "$(sql "SELECT login FROM agents WHERE id = 1")" "maija.v" "the login changed"
refused "modify to a taken login is refused" "login 'kjarvinen': an agent with this login exists" \
	agent modify maija.v --login kjarvinen
refused "modify validates like add" "--sectors: unknown sector 'x'" \
	agent modify maija.v --sectors x
refused "dropping the clearance of a sote agent is refused" "'sote' is a sensitive sector" \
	agent modify kjarvinen --no-sote
ctl agent modify maija.v
ok $(($? != 2)) "modify without options is a usage error"
is "$(sql "SELECT login, max_open FROM agents WHERE id = 1")" "maija.v|5" \
	"a refused modify changes nothing"

# -- tokens ------------------------------------------------------------------
ctl token issue maija.v
ok $? "token issue"
tok=$(cat "$out")
[[ $tok =~ ^sdt_[A-Za-z0-9_-]{43}$ ]]
ok $? "the token is sdt_ and 43 base64url characters"
has "$err" "cannot be shown again" "stderr says that it cannot be shown again"
is "$(sql "SELECT encode(hash, 'hex'), prefix FROM api_tokens WHERE agent = 1")" \
	"$(sha256 "$tok")|${tok:0:12}" "the table holds its SHA-256 and its first 12 characters"
"$PG_BINDIR/pg_dump" -d agents >"$W/dump.sql" 2>"$err"
ok $? "pg_dump"
! grep -qF -- "${tok:12}" "$W/dump.sql"
ok $? "the token itself is nowhere in the database"

check "$tok"
ok $? "token check accepts it"
is "$(cat "$out")" "maija.v" "token check prints the agent's login"
is "$(sql "SELECT last_used_at IS NOT NULL FROM api_tokens WHERE agent = 1")" "t" \
	"the lookup notes the use"
check "sdt_tooshort"
ok $(($? != 1)) "a malformed token is refused"
has "$err" "not accepted: malformed token" "... as malformed"
check "sdt_$(printf 'A%.0s' $(seq 43))"
ok $(($? != 1)) "an unknown token is refused"
has "$err" "not accepted: unknown token" "... as unknown"

ctl agent disable maija.v
ok $? "agent disable"
has "$out" "agent maija.v disabled" "disable says so"
is "$(sql "SELECT active FROM agents WHERE id = 1")" "f" "the agent is inactive"
ctl agent disable maija.v
has "$out" "was disabled already" "disabling twice says so"
check "$tok"
ok $(($? != 1)) "a disabled agent's token is refused"
has "$err" "agent 'maija.v' disabled" "... naming the agent"
refused "no token for a disabled agent" "agent 'maija.v' is disabled" token issue maija.v
ctl agent enable maija.v
ok $? "agent enable"
check "$tok"
ok $? "the token works again after enable"

ctl token issue maija.v
tok2=$(cat "$out")
ctl token issue kjarvinen
tok3=$(cat "$out")
[ "$tok2" != "$tok" ] && [ -n "$tok3" ]
ok $? "more tokens, each different"
ctl token list maija.v
ok $? "token list AGENT"
has "$out" "^maija.v  *${tok:0:12}" "the list shows the prefix"
! grep -q "kjarvinen" "$out"
ok $? "... of that agent only"
ctl token list --json
is "$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print(len(a), sorted(t["login"] for t in a))' "$out")" \
	"3 ['kjarvinen', 'maija.v', 'maija.v']" "token list --json lists every agent's"

ctl token revoke --prefix "${tok:0:12}"
ok $? "token revoke --prefix"
check "$tok"
ok $(($? != 1)) "a revoked token is refused"
has "$err" "token ${tok:0:12} revoked" "... as revoked"
check "$tok2"
ok $? "the agent's other token still works"
refused "revoking it again finds nothing" "no active token starts so" \
	token revoke --prefix "${tok:0:12}"
refused "a malformed prefix is refused" "--prefix 'abc'" token revoke --prefix abc
ctl token revoke maija.v
ok $? "token revoke AGENT"
has "$out" "revoked 1 token of maija.v" "it counts what it revoked"
check "$tok2"
ok $(($? != 1)) "... and the token is refused"
check "$tok3"
ok $? "another agent's token is untouched"
ctl token list maija.v
has "$out" "(no tokens)" "token list leaves revoked ones out"
ctl token list maija.v --all
is "$(grep -c "^maija.v" "$out")" "2" "token list --all shows them"

# -- help and usage ----------------------------------------------------------
for c in "agent add" "agent list" "agent show" "agent modify" "agent disable" "agent enable" \
	"token issue" "token revoke" "token list" "token check"; do
	# shellcheck disable=SC2086
	"$CTL" $c --help >"$out" 2>&1 && grep -q "^Usage: seutudeskctl $c" "$out"
	ok $? "$c --help"
done
"$CTL" agent --help >"$out" 2>&1 && grep -q "^Usage: seutudeskctl agent COMMAND" "$out"
ok $? "agent --help"
"$CTL" token frobnicate >"$out" 2>&1
ok $(($? != 2)) "an unknown subcommand is a usage error"

echo "1..$n"
[ "$failed" = 0 ]
