#!/usr/bin/python3
"""A private OAuth 2.0 provider on loopback for the tests: a token endpoint
(client_credentials and refresh_token grants, client_secret_post) and the
introspection endpoint (RFC 7662) that Dovecot's oauth2 passdb asks.

  oauth2_server.py --port-file F --lifetime 3 \
      --client ID:SECRET:USER ... [--refresh ID:REFRESH_TOKEN:USER ...]

Tokens live LIFETIME seconds; introspection says inactive for unknown,
expired or revoked ones.  POST /control (form) changes the behaviour:
  mode=ok|refuse|error   refuse: the token endpoint answers 401 invalid_client;
                         error: 503 without an OAuth error
  revoke=all             every token issued so far is revoked
  revoke_next=CLIENT_ID  the next token issued to that client is revoked at once
  lifetime=SECONDS       of the tokens issued from now on
GET /stats is a JSON object: issued (per client id), refused, introspected,
inactive (introspections answered inactive), and the tokens issued (so a test
can check they never reach a log).  Only the standard library; Debian's
/usr/bin/python3.
"""
import argparse
import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
state = {"mode": "ok", "revoke_next": "", "issued": {}, "refused": 0,
         "introspected": 0, "inactive": 0, "tokens": []}
tokens = {}  # token -> (user, expires_at, revoked)
clients = {}  # client id -> (secret, user)
refresh = {}  # client id -> (refresh token, user)
lifetime = 3


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode() if n else ""
        return {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}

    def do_GET(self):
        if self.path == "/stats":
            with lock:
                self.reply(200, state)
        else:
            self.reply(404, {"error": "not_found"})

    def do_POST(self):
        f = self.form()
        if self.path == "/token":
            self.token(f)
        elif self.path == "/introspect":
            self.introspect(f)
        elif self.path == "/control":
            with lock:
                if "mode" in f:
                    state["mode"] = f["mode"]
                if f.get("revoke") == "all":
                    for t, (u, e, _) in list(tokens.items()):
                        tokens[t] = (u, e, True)
                if f.get("lifetime"):
                    global lifetime
                    lifetime = int(f["lifetime"])
                if f.get("revoke_next"):
                    state["revoke_next"] = f["revoke_next"]
            self.reply(200, {"ok": True})
        else:
            self.reply(404, {"error": "not_found"})

    def token(self, f):
        cid = f.get("client_id", "")
        with lock:
            mode = state["mode"]
            if mode == "error":
                state["refused"] += 1
                self.reply(503, {"message": "service unavailable"})
                return
            user = None
            if f.get("grant_type") == "client_credentials":
                c = clients.get(cid)
                if c and f.get("client_secret") == c[0]:
                    user = c[1]
            elif f.get("grant_type") == "refresh_token":
                r = refresh.get(cid)
                if r and f.get("refresh_token") == r[0]:
                    user = r[1]
            if mode == "refuse" or user is None:
                state["refused"] += 1
                self.reply(401, {"error": "invalid_client",
                                 "error_description": "AADSTS7000215: Invalid client "
                                                      "secret provided (test provider)."})
                return
            # Client credentials: about the size of a Microsoft 365 token
            # (too long for a SASL-IR line); refresh grant: Google's size.
            tok = secrets.token_urlsafe(1200 if cid in clients else 120)
            revoked = state["revoke_next"] == cid
            tokens[tok] = (user, time.monotonic() + lifetime, revoked)
            if revoked:
                state["revoke_next"] = ""
            state["issued"][cid] = state["issued"].get(cid, 0) + 1
            state["tokens"].append(tok)
        self.reply(200, {"access_token": tok, "token_type": "Bearer", "expires_in": lifetime})

    def introspect(self, f):
        with lock:
            state["introspected"] += 1
            t = tokens.get(f.get("token", ""))
            if t is None or t[2] or time.monotonic() > t[1]:
                state["inactive"] += 1
                self.reply(200, {"active": False})
                return
        self.reply(200, {"active": True, "username": t[0]})


def main():
    global lifetime
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--lifetime", type=int, default=3)
    ap.add_argument("--client", action="append", default=[])
    ap.add_argument("--refresh", action="append", default=[])
    a = ap.parse_args()
    lifetime = a.lifetime
    for c in a.client:
        cid, sec, user = c.split(":", 2)
        clients[cid] = (sec, user)
    for r in a.refresh:
        cid, tok, user = r.split(":", 2)
        refresh[cid] = (tok, user)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(a.port_file + ".tmp", "w") as out:
        out.write("%d\n" % srv.server_address[1])
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
