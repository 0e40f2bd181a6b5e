#!/bin/sh
# genmail.sh: writes N varied synthetic support mails into an mbox file, for
# the daemon's load, crash and fault tests (dovecot_import_many keeps the
# order).  One /usr/bin/python3 run: 5,000 mails take about a second.
#
#   genmail.sh -n N -o OUT.mbox [-s SEED] [-p PREFIX] [-k K] [-b SIZE]
#              [-a POS] [-l IDS]
#
#   -n N       good mails (distinct Message-IDs <PREFIX.NNNNNN@...>, one
#              distinct sender address each: a member's domain, a subdomain
#              or a free-mail domain; Finnish, Swedish or English subject and
#              body; about one in eight with a small attachment; CRLF)
#   -k K       K malformed mails besides, in turn: binary garbage under a
#              minimal header, a mail without any header, a broken multipart
#              (missing boundary, truncated base64)
#   -b SIZE    one oversized mail besides: a good request with an attachment
#              of SIZE bytes (e.g. 3145728 against max_message_size = 1M)
#   -a POS     the extra mails (malformed and oversized) go after the POS-th
#              good mail (default: the middle)
#   -p PREFIX  the Message-IDs' left side (default "gen"); distinct prefixes
#              keep several runs apart
#   -s SEED    random seed (default 1): the same options give the same file
#   -l IDS     also writes the good mails' Message-IDs (without <>), one a
#              line, in order; the oversized one is listed last when -b is given
#
# No line of a mail starts with "From ", so no mbox escaping is needed.
set -eu

PY=${GENMAIL_PYTHON:-/usr/bin/python3}
exec "$PY" - "$@" <<'PYEOF'
import base64, getopt, random, sys

def usage(msg):
    sys.stderr.write("genmail.sh: %s\n" % msg)
    sys.exit(2)

try:
    opts, rest = getopt.getopt(sys.argv[1:], "n:o:s:p:k:b:a:l:")
except getopt.GetoptError as e:
    usage(str(e))
if rest:
    usage("unexpected argument %r" % rest[0])
o = dict(opts)
if "-n" not in o or "-o" not in o:
    usage("usage: genmail.sh -n N -o OUT.mbox [-s SEED] [-p PREFIX] [-k K] [-b SIZE] [-a POS] [-l IDS]")
n = int(o["-n"])
k = int(o.get("-k", "0"))
big = int(o.get("-b", "0"))
pos = int(o.get("-a", str(n // 2)))
prefix = o.get("-p", "gen")
rnd = random.Random(int(o.get("-s", "1")))

MEMBERS = ["saarijarvi.fi", "viitasaari.fi", "karstula.fi", "pihtipudas.fi", "kinnula.fi",
           "kannonkoski.fi", "kyyjarvi.fi", "kivijarvi.fi", "saarikka.fi"]
SUBS = ["koulu", "kirjasto", "tekninen", "hallinto"]
FREE = ["gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "luukku.com", "suomi24.fi",
        "kolumbus.fi", "elisanet.fi"]
NAMES = [("Matti", "Virtanen"), ("Liisa", "Korhonen"), ("Jukka", "Nieminen"),
         ("Anna-Kaisa", "Mäkinen"), ("Pekka", "Hämäläinen"), ("Sari", "Laine"),
         ("Erik", "Lindqvist"), ("Karin", "Sjöberg"), ("John", "Smith"),
         ("Aino", "Heikkinen"), ("Ville", "Järvinen"), ("Outi", "Lehtonen")]
PLACES = ["Saarijärvellä", "Viitasaarella", "Karstulassa", "Pihtiputaalla", "Kinnulassa",
          "Kannonkoskella", "Kyyjärvellä", "Kivijärvellä"]
PLACES_SV = ["Saarijärvi", "Viitasaari", "Karstula", "Pihtipudas", "Kinnula", "Kyyjärvi"]

FI_SUBJ = ["Tulostin ei tulosta", "Salasana vanhentunut", "Wilma ei aukea",
           "Sähköposti ei toimi", "VPN-yhteys katkeilee", "Uusi kannettava tarvitaan",
           "Näyttö pimeänä", "Epäilyttävä viesti", "Teams-kokous ei käynnisty",
           "Kirjaston asiakaskone jumissa"]
FI_BODY = ["Hei,\n\ntoimiston tulostin {p} ei tulosta mitään, jono vain kasvaa.",
           "Salasanani vanheni eilen enkä pääse kirjautumaan työasemalle.",
           "Koulun opettajat eivät pääse Wilmaan aamusta asti.",
           "Sähköposti ei lähde, Outlook sanoo että yhteys palvelimeen puuttuu.",
           "VPN katkeaa noin kymmenen minuutin välein kotona {p}.",
           "Tarvitsisimme uuden kannettavan tietokoneen uudelle työntekijälle.",
           "Terveyskeskuksen vastaanoton näyttö jäi pimeäksi päivityksen jälkeen.",
           "Sain oudon viestin, jossa pyydetään vahvistamaan pankkitunnukset."]
SV_SUBJ = ["Skrivaren fungerar inte", "Lösenordet har gått ut", "Problem med e-posten",
           "Ny dator behövs", "Nätverket är långsamt"]
SV_BODY = ["Hej,\n\nskrivaren på kontoret i {s} skriver inte ut något.",
           "Mitt lösenord har gått ut och jag kan inte logga in.",
           "E-posten skickas inte, Outlook säger att servern inte svarar.",
           "Vi behöver en ny bärbar dator till en ny medarbetare i {s}.",
           "Nätverket på biblioteket är mycket långsamt sedan i morse."]
EN_SUBJ = ["Printer not working", "Password expired", "Cannot open e-mail",
           "Need a new laptop", "Wi-Fi keeps dropping"]
EN_BODY = ["Hello,\n\nthe office printer has stopped printing since this morning.",
           "My password expired yesterday and I cannot log in any more.",
           "Outlook says it cannot reach the server, no mail goes out.",
           "We need a laptop for a new colleague starting next week.",
           "The Wi-Fi at the library drops every few minutes."]
CLOSE = {"fi": "\n\nTerveisin\n{n}\n", "sv": "\n\nMed vänliga hälsningar\n{n}\n",
         "en": "\n\nBest regards,\n{n}\n"}

def ascii_local(s):
    t = s.lower()
    for a, b in (("ä", "a"), ("ö", "o"), ("å", "a"), (" ", "")):
        t = t.replace(a, b)
    return t

def q_encode(s):
    # RFC 2047 B-encoding for non-ASCII display names and subjects.
    try:
        s.encode("ascii")
        return s
    except UnicodeEncodeError:
        return "=?UTF-8?B?%s?=" % base64.b64encode(s.encode()).decode()

def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")

def b64_lines(data):
    enc = base64.b64encode(data).decode()
    return "\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))

def date(i):
    return "Mon, 01 Dec 2025 %02d:%02d:%02d +0200" % (8 + (i // 3600) % 10, (i // 60) % 60, i % 60)

def good(i, attach_bytes=0):
    first, last = rnd.choice(NAMES)
    r = rnd.random()
    if r < 0.45:
        dom = rnd.choice(MEMBERS)
    elif r < 0.6:
        dom = rnd.choice(SUBS) + "." + rnd.choice(MEMBERS[:8])
    else:
        dom = rnd.choice(FREE)
    lang = rnd.choices(["fi", "sv", "en"], [70, 15, 15])[0]
    if lang == "fi":
        subj, body = rnd.choice(FI_SUBJ), rnd.choice(FI_BODY).format(p=rnd.choice(PLACES))
    elif lang == "sv":
        subj, body = rnd.choice(SV_SUBJ), rnd.choice(SV_BODY).format(s=rnd.choice(PLACES_SV))
    else:
        subj, body = rnd.choice(EN_SUBJ), rnd.choice(EN_BODY)
    name = "%s %s" % (first, last)
    addr = "%s.%s.%d@%s" % (ascii_local(first), ascii_local(last), i, dom)
    mid = "%s.%06d@%s" % (prefix, i, "mail." + dom)
    text = body + CLOSE[lang].format(n=name)
    hdr = ("Return-Path: <%s>\nReceived: from mx.example.invalid by imap.seutu-it.fi; %s\n"
           "From: %s <%s>\nTo: Seutu-IT tuki <tuki@seutu-it.fi>\nSubject: %s\nDate: %s\n"
           "Message-ID: <%s>\nMIME-Version: 1.0\n"
           % (addr, date(i), q_encode(name), addr, q_encode(subj), date(i), mid))
    if attach_bytes == 0 and rnd.random() < 0.125:
        attach_bytes = rnd.randint(2000, 20000)
    if attach_bytes == 0:
        msg = (hdr + "Content-Type: text/plain; charset=UTF-8\n"
               "Content-Transfer-Encoding: 8bit\n\n" + text)
    else:
        bnd = "=_b%06d_%s" % (i, prefix)
        data = bytes(rnd.getrandbits(8) for _ in range(min(attach_bytes, 4096)))
        data = (data * (attach_bytes // len(data) + 1))[:attach_bytes]
        msg = (hdr + 'Content-Type: multipart/mixed; boundary="%s"\n\n'
               "This is a multi-part message in MIME format.\n\n--%s\n"
               "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n"
               "%s\n--%s\nContent-Type: application/octet-stream; name=\"liite%d.bin\"\n"
               "Content-Disposition: attachment; filename=\"liite%d.bin\"\n"
               "Content-Transfer-Encoding: base64\n\n%s\n--%s--\n"
               % (bnd, bnd, text, bnd, i, i, b64_lines(data), bnd))
    return mid, crlf(msg).encode()

def malformed(j):
    kind = j % 3
    if kind == 0:
        junk = bytearray(rnd.getrandbits(8) for _ in range(3000 + j))
        junk = bytes(junk).replace(b"\nFrom ", b"\nfrom ").replace(b"\rFrom ", b"\rfrom ")
        return (b"From: junk%d@example.invalid\r\nSubject: garbage %d\r\n\r\n" % (j, j)) + junk + b"\r\n"
    if kind == 1:
        return crlf("no header at all, line one of malformed mail %d\n"
                    "just text without a blank line or a field\n" % j).encode()
    return crlf("From: Broken Multipart <broken.%d@kinnula.fi>\nSubject: rikki %d\n"
                "Message-ID: <broken.%s.%d@kinnula.fi>\nMIME-Version: 1.0\n"
                "Content-Type: multipart/mixed; boundary=\"never-closed-%d\"\n\n"
                "--never-closed-%d\nContent-Type: text/plain\n\nalku\n"
                "--never-closed-%d\nContent-Type: application/pdf\n"
                "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQKJ@@@ truncated\n"
                % (j, j, prefix, j, j, j, j)).encode()

out = open(o["-o"], "wb")
ids = []
sep_n = 0

def emit(raw):
    global sep_n
    sep_n += 1
    assert b"\nFrom " not in raw and not raw.startswith(b"From ")
    out.write(b"From genmail@seutudesk.test Mon Dec  1 08:00:00 2025\n")
    out.write(raw)
    if not raw.endswith(b"\n"):
        out.write(b"\r\n")
    out.write(b"\n")

def extras():
    for j in range(k):
        emit(malformed(j))
    if big:
        mid, raw = good(n, big)
        emit(raw)
        return mid
    return None

big_mid = None
for i in range(n):
    if i == pos:
        big_mid = extras()
    mid, raw = good(i)
    ids.append(mid)
    emit(raw)
if pos >= n:
    big_mid = extras()
out.close()
if "-l" in o:
    with open(o["-l"], "w") as f:
        for m in ids + ([big_mid] if big_mid else []):
            f.write(m + "\n")
PYEOF
