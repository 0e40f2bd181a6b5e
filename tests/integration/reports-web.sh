#!/bin/bash
# The report pages in a browser (/reports/, daemon/reports_web.c) over
# HTTPS with curl and a cookie jar, against the real daemon, PostgreSQL and
# SMTP server: the sign-in link mailed (read from the SMTP server's
# maildir), the same answer for any address, the link's page that uses
# nothing (mail scanners open links in advance) and its button that posts
# the token, single use, expiry, the cookie's flags, no session, the Origin
# check, who sees what (a manager of
# one member sees nothing of another's; sote subjects only with
# clearance), the downloads and their types, the rate limit, logout and
# the API's GET /api/v1/reports/KIND.  Then the page in headless Chromium
# (driven over the DevTools protocol on a pipe): the mailed link followed
# from another site as from webmail, the button clicked, the page signed in,
# with screenshots kept under tests/artefacts/reports-web in the build tree.
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bin=$top_builddir
chromium=/usr/bin/chromium
out=$top_builddir/tests/artefacts/reports-web

. "$top_srcdir/tests/lib/tap.sh"
has() { # has FILE TEXT DESCRIPTION
	grep -qF -- "$2" "$1"
	ok $? "$3"
}
hasnt() { # hasnt FILE TEXT DESCRIPTION
	! grep -qF -- "$2" "$1"
	ok $? "$3"
}

. "$top_srcdir/tests/lib/apitest.sh"
need_built seutudeskd seutudeskctl
need_cmd curl openssl
need_mail_stack openpyxl

api_workdir reports-web
STACK_EXTRA_CONF="$(api_conf)

[reports]
link_lifetime = 1m
session_lifetime = 1h
"
. "$top_srcdir/tests/lib/stack.sh"
api_stack_start
sed -i "/^\[smtp\]\$/a from = Seutu-IT raportit <raportit@seutu-it.fi>" "$STACK_CONF"
sql() { stack_sql "$1"; }
ctl() { "$bin/seutudeskctl" -c "$STACK_CONF" "$@" >>"$W/ctl.log" 2>&1; }

# Managers of Kinnula (one cleared for sote) and of Karstula, a plain agent.
ctl agent add mkin --name "Maija Kinnula" --email mkin@kinnula.fi --role manager \
	--municipalities kinnula --no-sote &&
	ctl agent add msote --name "Sami Sote" --email msote@kinnula.fi --role manager \
		--municipalities kinnula --sote &&
	ctl agent add mkar --name "Kalle Karstula" --email mkar@karstula.fi --role manager \
		--municipalities karstula --no-sote &&
	ctl agent add plain --name "Pekka Agent" --email plain@seutu-it.fi ||
	{ tail -3 "$W/ctl.log"; echo "Bail out! agent add"; exit 1; }
api_token TOK mkin
# Open tickets (the backlog report lists the oldest with their subjects).
sql "INSERT INTO tickets (requester_address, subject, municipality, sector, created_at) VALUES
 ('a@kinnula.fi', 'Kinnulan tulostin KIN-PRINTER', 'kinnula', NULL, now() - interval '3 days'),
 ('b@kinnula.fi', 'Potilastieto SOTE-SECRET', 'kinnula', 'sote', now() - interval '2 days'),
 ('c@karstula.fi', 'Karstulan VPN KAR-ONLY', 'karstula', NULL, now() - interval '1 day')" \
	>/dev/null || { echo "Bail out! tickets"; exit 1; }
[ "$(sql "SELECT count(*) FROM tickets WHERE sensitive")" = 1 ] ||
	{ echo "Bail out! the sote ticket is not sensitive"; exit 1; }

daemon_start
api_wait

req() { api_req "$@"; } # req [CURL ARGS...] PATH: the status; $W/body, $W/headers
header() { # header NAME: its value in the last answer
	grep -i "^$1:" "$W/headers" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'
}
post() { # post PATH FORM [CURL ARGS...]
	local path=$1 form=$2
	shift 2
	req -H "Origin: $base" --data "$form" "$@" "$path"
}
# link ADDRESS COUNT: waits for the COUNT-th mail and prints its sign-in link.
link() {
	smtp_wait_count "$2" 20 || return 1
	"$PY" - "$SMTP_MAILDIR/new" "$1" <<'EOF'
import email, email.policy, os, re, sys
d, to = sys.argv[1], sys.argv[2]
found = []
for f in os.listdir(d):
    m = email.message_from_binary_file(open(os.path.join(d, f), 'rb'), policy=email.policy.default)
    if to in m['To']:
        body = m.get_body(('plain',)).get_content()
        found += [(os.stat(os.path.join(d, f)).st_mtime_ns, u)
                  for u in re.findall(r'https://\S+/reports/auth\?\S+', body)]
print(sorted(found)[-1][1] if found else '')
EOF
}
token_of() { # token_of URL: the sign-in link's token
	local t=${1#*token=}
	printf %s "${t%%&*}"
}
link_used() { # link_used URL: t when the link's token is used, f when not
	sql "SELECT used_at IS NOT NULL FROM report_links WHERE hash = sha256(convert_to('$(token_of "$1")', 'UTF8'))"
}
signin() { # signin URL [CURL ARGS...]: the button of the link's page; prints the status
	local url=$1
	shift
	post /reports/auth "token=$(token_of "$url")&lang=fi" "$@"
}

is "$(req /reports/)" 200 "GET /reports/ without a session: the sign-in form"
has "$W/body" 'name="email"' "the form asks for the e-mail address"
has "$W/body" '<label for="email">' "the field has its label"
is "$(header Content-Type)" "text/html; charset=utf-8" "the page is HTML"
csp=$(header Content-Security-Policy)
case $csp in *"default-src 'none'"*"frame-ancestors 'none'"*) r=0 ;; *) r=1 ;; esac
ok $r "the page's CSP: default-src 'none' and frame-ancestors 'none' ($csp)"
is "$(header Cache-Control)" "no-store" "the page is not stored"
is "$(header X-Frame-Options)" "DENY" "the page is not framed"
is "$(req /reports)" 303 "/reports redirects"
is "$(header Location)" "/reports/" "to /reports/"
is "$(req /reports/view?kind=backlog)" 401 "no session: the report is 401"
hasnt "$W/body" "KIN-PRINTER" "and shows nothing of it"
is "$(req -H 'Host: evil.example' /reports/)" 400 "a Host that is not the certificate's: 400"

# -- signing in ------------------------------------------------------------------------
is "$(req --data 'email=mkin@kinnula.fi' /reports/login)" 403 "a POST without Origin: 403"
is "$(req -H 'Origin: https://evil.example' --data 'email=mkin@kinnula.fi' /reports/login)" 403 \
	"a POST from another origin: 403"
is "$(smtp_count)" 0 "and neither mailed anything"
is "$(post /reports/login 'email=nobody@example.org')" 200 "an unknown address: 200"
cp "$W/body" "$W/unknown.html"
is "$(post /reports/login 'email=plain@seutu-it.fi')" 200 "a plain agent's address: 200"
cmp -s "$W/body" "$W/unknown.html"
ok $? "the same page as for an unknown address"
is "$(post /reports/login 'email=MKin@Kinnula.FI')" 200 "a manager's address (any case): 200"
cmp -s "$W/body" "$W/unknown.html"
ok $? "the same page again: it tells nobody who is a manager"
url=$(link mkin@kinnula.fi 1)
sleep 1
is "$(smtp_count)" 1 "one mail, to the manager only"
case $url in "$base/reports/auth?token="*) r=0 ;; *) r=1 ;; esac
ok $r "the mail holds a sign-in link to this server ($url)"
is "$(sql "SELECT count(*) FROM report_links WHERE hash IS NOT NULL AND
 encode(hash, 'hex') = encode(sha256(convert_to('$(printf %s "$url" | sed 's/.*token=//; s/&.*//')', 'UTF8')), 'hex')")" \
	1 "only the token's SHA-256 is stored"

tok=$(token_of "$url")
is "$(req "${url#"$base"}")" 200 "the link opened (GET): a page"
has "$W/body" '<form method="post" action="/reports/auth">' "with a form that posts to /reports/auth"
has "$W/body" "<input type=\"hidden\" name=\"token\" value=\"$tok\">" "the token in it"
has "$W/body" '<input type="hidden" name="lang" value="fi">' "and the language"
has "$W/body" '<button type="submit">Kirjaudu</button>' "and a button that signs in"
has "$W/body" '<html lang="fi">' "in Finnish, as the link says"
is "$(header Set-Cookie)" "" "no cookie yet"
is "$(req "${url#"$base"}")" 200 "opened again (a mail scanner, then the manager): the page again"
is "$(link_used "$url")" f "opening the link twice did not use it"
is "$(req "/reports/auth?token=$tok&lang=sv")" 200 "the page in Swedish"
has "$W/body" '<button type="submit">Logga in</button>' "its button in Swedish"
has "$W/body" "href=\"/reports/auth?token=$tok&amp;lang=en\"" "its language links keep the token"
is "$(req "/reports/auth?token=$tok&lang=en")" 200 "in English"
has "$W/body" '<button type="submit">Sign in</button>' "its button in English"
is "$(req --data "token=$tok&lang=fi" /reports/auth)" 403 "the button's POST without Origin: 403"
is "$(req -H 'Origin: https://evil.example' --data "token=$tok&lang=fi" /reports/auth)" 403 \
	"from another origin: 403"
is "$(link_used "$url")" f "neither used the link"

is "$(signin "$url" -c "$W/jar.mkin")" 303 "the button signs in (POST): 303"
is "$(header Location)" "/reports/?lang=fi" "to /reports/"
cookie=$(header Set-Cookie)
case $cookie in
sd_session=*"; Max-Age=3600; Path=/reports/; Secure; HttpOnly; SameSite=Strict") r=0 ;;
*) r=1 ;;
esac
ok $r "the cookie: HttpOnly, Secure, SameSite=Strict, Path=/reports/, the session's lifetime ($cookie)"
is "$(link_used "$url")" t "the link is used"
is "$(signin "$url")" 410 "the button a second time: 410"
has "$W/body" "Linkki on jo käytetty" "a page saying it was used"
is "$(header Set-Cookie)" "" "and no cookie"
is "$(req "${url#"$base"}")" 410 "the used link opened again: 410 at once"
has "$W/body" "Linkki on jo käytetty" "saying it was used"
hasnt "$W/body" 'action="/reports/auth"' "with no button"
is "$(req /reports/auth?token=AAAA)" 404 "a made-up token: 404"
is "$(post /reports/auth 'token=AAAA&lang=fi')" 404 "and posted: 404"
is "$(req -X PUT /reports/auth)" 405 "PUT /reports/auth: 405"
is "$(req -b "$W/jar.mkin" /reports/)" 200 "signed in: the page"
has "$W/body" "Maija Kinnula" "names who is signed in"
has "$W/body" '<select id="kind" name="kind">' "offers the reports"
has "$W/body" '<input id="from" name="from" type="date"' "the period"
has "$W/body" '<select id="by" name="by">' "the grouping"
is "$(req -b "$W/jar.mkin" '/reports/?kind=backlog&by=municipality&lang=en')" 200 \
	"the page with a report picked"
has "$W/body" '<iframe sandbox title="Report" src="/reports/view?lang=en&amp;format=html&amp;kind=backlog' \
	"shows it in a sandboxed frame"
has "$W/body" 'format=xlsx&amp;kind=backlog' "links the XLSX"
has "$W/body" '<html lang="en">' "in English"

# -- who sees what -----------------------------------------------------------------------
is "$(req -b "$W/jar.mkin" '/reports/view?kind=backlog&format=html&lang=en')" 200 \
	"the report as HTML"
case $(header Content-Type) in text/html*) r=0 ;; *) r=1 ;; esac
ok $r "text/html ($(header Content-Type))"
is "$(header Content-Disposition)" "" "shown, not downloaded"
case $(header Content-Security-Policy) in *"frame-ancestors 'self'"*sandbox*) r=0 ;; *) r=1 ;; esac
ok $r "sandboxed by its CSP, framed by our page only"
has "$W/body" "KIN-PRINTER" "the Kinnula manager sees Kinnula's ticket"
hasnt "$W/body" "KAR-ONLY" "nothing of Karstula's"
hasnt "$W/body" "karstula" "not even Karstula's row"
hasnt "$W/body" "SOTE-SECRET" "and not the sote subject without clearance"

post /reports/login 'email=msote@kinnula.fi' >/dev/null
url=$(link msote@kinnula.fi 2)
signin "$url" -c "$W/jar.msote" >/dev/null
is "$(req -b "$W/jar.msote" '/reports/view?kind=backlog&format=html')" 200 \
	"the sote-cleared manager's report"
has "$W/body" "SOTE-SECRET" "shows the sote subject"
post /reports/login 'email=mkar@karstula.fi' >/dev/null
url=$(link mkar@karstula.fi 3)
signin "$url" -c "$W/jar.mkar" >/dev/null
is "$(req -b "$W/jar.mkar" '/reports/view?kind=backlog&format=csv')" 200 \
	"the Karstula manager's report as CSV"
has "$W/body" "KAR-ONLY" "has Karstula's ticket"
hasnt "$W/body" "KIN-PRINTER" "nothing of Kinnula's"
hasnt "$W/body" "kinnula" "not even Kinnula's row"

# -- downloads ---------------------------------------------------------------------------
is "$(req -b "$W/jar.mkin" '/reports/view?kind=backlog&format=csv')" 200 "CSV"
case $(header Content-Type) in text/csv*) r=0 ;; *) r=1 ;; esac
ok $r "as text/csv ($(header Content-Type))"
case $(header Content-Disposition) in "attachment; filename=\"backlog-"*.csv\") r=0 ;; *) r=1 ;; esac
ok $r "downloaded as a .csv ($(header Content-Disposition))"
is "$(req -b "$W/jar.mkin" '/reports/view?kind=backlog&format=xlsx')" 200 "XLSX"
is "$(header Content-Type)" "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" \
	"of the XLSX type"
cp "$W/body" "$W/report.xlsx"
got=$("$PY" - "$W/report.xlsx" <<'EOF' 2>&1
import sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
cells = [str(c) for ws in wb for row in ws.iter_rows(values_only=True) for c in row if c is not None]
print(any('KIN-PRINTER' in c for c in cells) and not any('KAR-ONLY' in c or 'SOTE-SECRET' in c for c in cells))
EOF
)
is "$got" True "openpyxl opens it: Kinnula's ticket, no Karstula's, no sote subject"
is "$(req -b "$W/jar.mkin" '/reports/view?kind=nosuch&format=html')" 404 "an unknown report: 404"
is "$(req -b "$W/jar.mkin" '/reports/view?kind=sla&from=2026-13-01')" 400 "a bad date: 400"
has "$W/body" "from" "naming the parameter"

# -- expiry, rate limit, logout, the API -------------------------------------------------------
post /reports/login 'email=mkin@kinnula.fi' >/dev/null
url=$(link mkin@kinnula.fi 4)
sql "UPDATE report_links SET expires_at = now() - interval '1 second'
 WHERE created_at = (SELECT max(created_at) FROM report_links)" >/dev/null
is "$(req "${url#"$base"}")" 410 "an expired link opened: 410 at once"
has "$W/body" "Linkki on vanhentunut" "a page saying it expired"
is "$(signin "$url")" 410 "and its token posted: 410"
has "$W/body" "Linkki on vanhentunut" "saying it expired"
is "$(link_used "$url")" f "and it was not used"
is "$(post /reports/login 'email=mkin@kinnula.fi')" 200 "a third link for the address in 15 minutes"
is "$(post /reports/login 'email=mkin@kinnula.fi')" 429 "a fourth: 429"
sleep 1
is "$(smtp_count)" 5 "and no mail for it"

is "$(post /reports/logout 'lang=fi' -b "$W/jar.mkin" -c "$W/jar.mkin")" 200 "logout"
case $(header Set-Cookie) in "sd_session=; Max-Age=0; Path=/reports/; Secure; HttpOnly; SameSite=Strict") r=0 ;; *) r=1 ;; esac
ok $r "clears the cookie ($(header Set-Cookie))"
old=$(grep sd_session "$W/jar.msote" | awk '{print $NF}')
is "$(post /reports/logout 'lang=fi' -H "Cookie: sd_session=$old")" 200 "logout with the cookie"
is "$(req -H "Cookie: sd_session=$old" '/reports/view?kind=backlog')" 401 \
	"the session ended: the same cookie no longer reads"
is "$(req -H "Cookie: sd_session=$old" -H 'Origin: https://evil.example' --data lang=fi /reports/logout)" \
	403 "a logout from another origin: 403"

is "$(req -H "Authorization: Bearer $TOK" '/api/v1/reports/backlog')" 200 \
	"GET /api/v1/reports/backlog with a token"
has "$W/body" '"report":"backlog"' "the JSON document"
is "$(req '/api/v1/reports/backlog')" 401 "and without one: 401"

# -- in a browser ---------------------------------------------------------------------------
mkdir -p "$out"
shot() { # shot NAME URL: a screenshot in $out/NAME.png with the profile $W/chrome
	HOME=$W/home timeout 60 "$chromium" --headless --no-sandbox --disable-gpu \
		--ignore-certificate-errors --user-data-dir="$W/chrome" --hide-scrollbars \
		--window-size=1200,1400 --screenshot="$out/$1.png" "$2" >/dev/null 2>"$W/chromium.err"
	[ -s "$out/$1.png" ]
}
# browse URL REPORT: in Chromium over the DevTools protocol (on a pipe, no
# script in the page), from a page of another site (as webmail) follows its
# link to URL, clicks the page's button, then opens REPORT; each page's URL
# and HTML in $W/NAME.url and $W/NAME.html, a screenshot in $out/NAME.png.
browse() {
	HOME=$W/home timeout 90 "$PY" - "$chromium" "$W" "$out" "$1" "$2" 2>"$W/browse.err" <<'EOF'
import base64, fcntl, json, os, select, subprocess, sys, time, urllib.parse
chromium, work, out, url, report = sys.argv[1:6]
to_r, to_w = os.pipe()      # our commands, the browser's fd 3
from_r, from_w = os.pipe()  # its answers, its fd 4

def fds():
    a = fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 10)
    b = fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 10)
    os.dup2(a, 3)
    os.dup2(b, 4)

proc = subprocess.Popen([chromium, '--headless', '--no-sandbox', '--disable-gpu',
                         '--ignore-certificate-errors', '--user-data-dir=' + work + '/chrome',
                         '--hide-scrollbars', '--window-size=1200,1400', '--no-first-run',
                         '--remote-debugging-pipe', 'about:blank'],
                        preexec_fn=fds, close_fds=False,
                        stdout=subprocess.DEVNULL, stderr=open(work + '/chromium.err', 'w'))
os.close(to_r)
os.close(from_w)
buf, events, last = b'', [], 0

def recv(deadline):
    global buf
    while b'\0' not in buf:
        if not select.select([from_r], [], [], max(0, deadline - time.time()))[0]:
            raise TimeoutError('no answer from Chromium')
        chunk = os.read(from_r, 1 << 16)
        if not chunk:
            raise EOFError('Chromium went away')
        buf += chunk
    msg, buf = buf.split(b'\0', 1)
    return json.loads(msg)

def call(method, params=None, session=None):
    global last
    last += 1
    m = {'id': last, 'method': method, 'params': params or {}}
    if session:
        m['sessionId'] = session
    os.write(to_w, json.dumps(m).encode() + b'\0')
    while True:
        r = recv(time.time() + 30)
        if r.get('id') == last:
            if 'error' in r:
                raise RuntimeError(method + ': ' + json.dumps(r['error']))
            return r.get('result', {})
        events.append(r)

def loaded():
    deadline = time.time() + 30
    while True:
        while events:
            if events.pop(0).get('method') == 'Page.loadEventFired':
                return
        events.append(recv(deadline))

def keep(s, name):
    h = call('Page.getNavigationHistory', session=s)
    open(f'{work}/{name}.url', 'w').write(h['entries'][h['currentIndex']]['url'])
    doc = call('DOM.getDocument', session=s)['root']['nodeId']
    html = call('DOM.getOuterHTML', {'nodeId': doc}, s)['outerHTML']
    open(f'{work}/{name}.html', 'w').write(html)
    png = call('Page.captureScreenshot', {'format': 'png'}, s)['data']
    open(f'{out}/{name}.png', 'wb').write(base64.b64decode(png))

def click(s, selector):
    doc = call('DOM.getDocument', session=s)['root']['nodeId']
    node = call('DOM.querySelector', {'nodeId': doc, 'selector': selector}, s)['nodeId']
    if not node:
        raise LookupError('nothing matches ' + selector)
    call('DOM.scrollIntoViewIfNeeded', {'nodeId': node}, s)
    q = call('DOM.getBoxModel', {'nodeId': node}, s)['model']['content']
    x, y = (q[0] + q[4]) / 2, (q[1] + q[5]) / 2
    events.clear()
    for kind in ('mousePressed', 'mouseReleased'):
        call('Input.dispatchMouseEvent',
             {'type': kind, 'x': x, 'y': y, 'button': 'left', 'clickCount': 1}, s)
    loaded()

try:
    target = call('Target.createTarget', {'url': 'about:blank'})['targetId']
    s = call('Target.attachToTarget', {'targetId': target, 'flatten': True})['sessionId']
    call('Page.enable', session=s)
    mail = ('<!DOCTYPE html><html lang="fi"><title>webmail</title>'
            f'<p><a id="link" href="{url}">{url}</a></p></html>')
    call('Page.navigate', {'url': 'data:text/html;charset=utf-8,' + urllib.parse.quote(mail)}, s)
    loaded()
    click(s, '#link')
    keep(s, 'auth')
    click(s, 'form[action="/reports/auth"] button')
    keep(s, 'signed-in')
    call('Page.navigate', {'url': report}, s)
    loaded()
    keep(s, 'report')
finally:
    try:
        call('Browser.close')
    except Exception:
        proc.kill()
    proc.wait(timeout=30)
EOF
}
if [ -x "$chromium" ]; then
	rm -f "$out"/*.png
	shot signin "$base/reports/?lang=fi"
	ok $? "Chromium shows the sign-in form ($out/signin.png)"
	sql "DELETE FROM report_links" >/dev/null
	post /reports/login 'email=mkin@kinnula.fi' >/dev/null
	url=$(link mkin@kinnula.fi 6)
	browse "$url" "$base/reports/?kind=backlog&by=municipality&lang=fi"
	ok $? "Chromium follows the mailed link from another site, clicks the button, opens a report"
	[ -s "$W/browse.err" ] && sed 's/^/# browse: /' "$W/browse.err" | tail -5
	is "$(cat "$W/auth.url" 2>/dev/null)" "$url" "the link shows its page ($out/auth.png)"
	has "$W/auth.html" '<button type="submit">Kirjaudu</button>' "with the button"
	is "$(cat "$W/signed-in.url" 2>/dev/null)" "$base/reports/?lang=fi" \
		"the button leads to the page ($out/signed-in.png)"
	has "$W/signed-in.html" "Maija Kinnula" "signed in: the cookie came with the redirect"
	has "$W/signed-in.html" '<select id="kind" name="kind">' "the report form"
	is "$(link_used "$url")" t "the link is used"
	has "$W/report.html" '<iframe sandbox="" title="Raportti"' "and a report in it ($out/report.png)"
	echo "# artefacts: $out"
else
	for _ in $(seq 9); do ok 0 "# SKIP no $chromium"; done
fi
is "$(grep -c 'status=5' "$STACK_LOG")" 0 "no 5xx in the daemon's log"
if [ "$failed" -gt 0 ]; then
	grep -v 'status=200' "$STACK_LOG" | tail -30 | sed 's/^/# daemon: /'
fi
daemon_stop
echo "1..$n"
exit 0
