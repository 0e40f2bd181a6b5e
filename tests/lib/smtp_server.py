"""A private SMTP server for the integration tests (run with /usr/bin/python3).

usage: smtp_server.py DIR [PORT [SMTPS_PORT]]

Listens on 127.0.0.1 at PORT, or at a random free port in 20000-40000, writes
the port to DIR/port once it accepts connections, and keeps every accepted message byte
for byte (as received, after dot-unstuffing) in the maildir DIR/maildir, with
the envelope in two prepended headers, X-MailFrom and X-RcptTo.

TLS: when DIR/tls/server.pem and DIR/tls/server.key exist at the start, PORT
offers STARTTLS (not required), and a second listener at SMTPS_PORT (or a
random one) speaks TLS from the start; its port goes to DIR/smtps_port before
DIR/port is written.  Each accepted message adds a line to DIR/sessions:
"tls=VERSION sni=NAME" ("none" and "-" without TLS or server name).

What it answers is read from DIR/mode before every command that can fail, so
a test switches it at run time:
  accept        250 to everything (the default, also when DIR/mode is absent)
  tempfail      451 4.3.0 after DATA
  permfail      554 5.6.0 after DATA
  rcpt-tempfail 450 4.2.1 to every RCPT
  rcpt-permfail 550 5.1.1 to every RCPT
  mail-permfail 553 5.7.1 to MAIL FROM
  stall         the reply to DATA's end comes 30 s late (client timeouts)
  stall-all     every reply from MAIL FROM on comes 30 s late (a relay that
                hangs before any data)
It offers AUTH PLAIN and LOGIN without TLS; a login succeeds only when
DIR/auth holds "user:password" and the client gives exactly those (no file:
every login fails).  Each attempt adds its mechanism to DIR/auth_attempts.
A client that does not log in may still send.
OAuth 2.0: AUTH XOAUTH2 and OAUTHBEARER (RFC 7628) take a token when the
introspection endpoint (RFC 7662) whose URL DIR/oauth2_introspect holds says
it is active for the user the client names (no file: every token fails); a
refused token gets the 334 error challenge, then 535 after the client's
answer.  AUTH lines may be 12288 octets long (RFC 4954).
SIGTERM or SIGINT stops it.
"""

import asyncio
import base64
import json
import os
import random
import signal
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

MODES = ("accept", "tempfail", "permfail", "rcpt-tempfail", "rcpt-permfail",
         "mail-permfail", "stall", "stall-all")


class Keeper:
    def __init__(self, top):
        self.top = top
        self.maildir = os.path.join(top, "maildir")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
        self.seq = 0

    def mode(self):
        try:
            with open(os.path.join(self.top, "mode")) as f:
                m = f.read().strip()
        except FileNotFoundError:
            return "accept"
        return m if m in MODES else "accept"

    def token_ok(self, user, token):
        try:
            with open(os.path.join(self.top, "oauth2_introspect")) as f:
                url = f.read().strip()
        except FileNotFoundError:
            return False
        body = urllib.parse.urlencode({"token": token}).encode()
        try:
            with urllib.request.urlopen(url, body, timeout=5) as r:
                ans = json.load(r)
        except Exception:
            return False
        return bool(ans.get("active")) and ans.get("username") == user

    async def oauth(self, server, args, mech):
        with open(os.path.join(self.top, "auth_attempts"), "a") as f:
            f.write("%s %d\n" % (mech, len(" ".join(args))))
        if len(args) < 2:
            return AuthResult(success=False, handled=False,
                              message="501 5.5.2 initial response required")
        try:
            raw = base64.b64decode(args[1], validate=True).decode()
        except Exception:
            return AuthResult(success=False, handled=False,
                              message="501 5.5.2 Can't decode base64")
        user = token = None
        parts = raw.split("\x01")
        if mech == "OAUTHBEARER":
            gs2 = parts[0].split(",")
            if len(gs2) >= 2 and gs2[1].startswith("a="):
                user = gs2[1][2:].replace("=2C", ",").replace("=3D", "=")
            parts = parts[1:]
        for p in parts:
            if p.startswith("user="):
                user = p[5:]
            elif p.startswith("auth=Bearer "):
                token = p[12:]
        if user and token and await asyncio.get_running_loop().run_in_executor(
                None, self.token_ok, user, token):
            return AuthResult(success=True, auth_data=user)
        err = json.dumps({"status": "401", "schemes": "bearer",
                          "scope": "https://outlook.office365.com/.default"})
        await server.challenge_auth(err)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.3 Authentication unsuccessful")

    async def auth_XOAUTH2(self, server, args):
        return await self.oauth(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):
        return await self.oauth(server, args, "OAUTHBEARER")

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mode() == "stall-all":
            await asyncio.sleep(30)
        if self.mode() == "mail-permfail":
            return "553 5.7.1 Sender address rejected"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        m = self.mode()
        if m == "stall-all":
            await asyncio.sleep(30)
        if m == "rcpt-tempfail":
            return "450 4.2.1 Mailbox busy, try again later"
        if m == "rcpt-permfail":
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        m = self.mode()
        if m == "tempfail":
            return "451 4.3.0 Temporary local problem, try again later"
        if m == "permfail":
            return "554 5.6.0 Message content rejected"
        if m in ("stall", "stall-all"):
            await asyncio.sleep(30)
        tls = server.transport.get_extra_info("ssl_object")
        with open(os.path.join(self.top, "sessions"), "a") as f:
            f.write("tls=%s sni=%s\n" % (tls.version() if tls else "none",
                                         getattr(tls, "sni_name", None) or "-"))
        head = ("X-MailFrom: %s\r\nX-RcptTo: %s\r\n"
                % (envelope.mail_from, ", ".join(envelope.rcpt_tos))).encode()
        self.seq += 1
        name = "%d.%d_%d.seutudesk-test" % (time.time(), os.getpid(), self.seq)
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(head + envelope.original_content)
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        return "250 2.0.0 Message accepted"


class Authenticator:
    def __init__(self, top):
        self.top = top

    def __call__(self, server, session, envelope, mechanism, auth_data):
        with open(os.path.join(self.top, "auth_attempts"), "a") as f:
            f.write("%s\n" % mechanism)
        try:
            with open(os.path.join(self.top, "auth"), "rb") as f:
                want = f.read().strip()
        except FileNotFoundError:
            return AuthResult(success=False, handled=False)
        if isinstance(auth_data, LoginPassword) and \
                auth_data.login + b":" + auth_data.password == want:
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def tls_context(top):
    """The server's TLS context, or None without DIR/tls/server.pem."""
    cert = os.path.join(top, "tls", "server.pem")
    key = os.path.join(top, "tls", "server.key")
    if not os.path.exists(cert):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)

    def sni(obj, name, _ctx):
        obj.sni_name = name  # read back in handle_DATA
    ctx.sni_callback = sni
    return ctx


class BigAuthSMTP(SMTP):
    line_length_limit = 12288 + 2  # the reader's limit, CRLF included


class BigAuthController(Controller):
    """AUTH lines up to RFC 4954's 12288 octets: a Microsoft 365 token as
    initial response is longer than the 512 of other commands.  The limit
    must be in place when the connection's reader is made."""

    def factory(self):
        server = BigAuthSMTP(self.handler, **self.SMTP_kwargs)
        server.command_size_limits["AUTH"] = 12288
        return server


def start(handler, top, fixed, **tls):
    """A started Controller on port fixed (0: a random free one), and its port."""
    for _ in range(50):
        port = fixed or random.randint(20000, 40000)
        c = BigAuthController(handler, hostname="127.0.0.1", port=port,
                       server_hostname="smtp.test.invalid",
                       authenticator=Authenticator(top), auth_require_tls=False, **tls)
        try:
            c.start()
        except Exception:
            if fixed:
                time.sleep(0.2)  # a restart: the port may be busy for a moment
            continue
        return c, port
    sys.exit("smtp_server.py: found no free port")


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit("usage: smtp_server.py DIR [PORT [SMTPS_PORT]]")
    top = sys.argv[1]
    fixed = int(sys.argv[2]) if len(sys.argv) >= 3 else 0
    handler = Keeper(top)
    ctx = tls_context(top)
    controllers = []
    if ctx is not None:
        c, sport = start(handler, top, int(sys.argv[3]) if len(sys.argv) == 4 else 0,
                         ssl_context=ctx)
        controllers.append(c)
        with open(os.path.join(top, "smtps_port.tmp"), "w") as f:
            f.write("%d\n" % sport)
        os.rename(os.path.join(top, "smtps_port.tmp"), os.path.join(top, "smtps_port"))
        c, port = start(handler, top, fixed, tls_context=ctx, require_starttls=False)
    else:
        c, port = start(handler, top, fixed)
    controllers.append(c)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    tmp = os.path.join(top, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, os.path.join(top, "port"))
    while not stop.wait(1):
        pass
    for c in controllers:
        c.stop()


if __name__ == "__main__":
    main()
