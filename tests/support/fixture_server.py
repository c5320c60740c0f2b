#!/usr/bin/env python3
"""Two small servers for the tests, with nothing but Python's standard
library and the openssl command:

  fixture_server.py token PORT KEY CERT ISSUER SERVICE USER:PASSWORD [FIELD]
      A token issuer, as auth.docker.io is for Docker Hub: GET
      /token?service=...&scope=repository:NAME:pull answers {"token": JWT}
      (or {"access_token": JWT} when FIELD is access_token). The JWT is
      RS256, signed with KEY, its header carries CERT (x5c), which the
      registry's `auth: token: rootcertbundle` trusts. Anyone gets pull
      access to any repository except private/*, which needs the Basic
      login USER:PASSWORD; a wrong login is refused with 401. Tokens last
      $TOKEN_SECONDS (300 unless set); with $TOKEN_LOG set, each token
      issued is a line there.

  fixture_server.py static PORT DIR
      Serves the files under DIR: a "registry" that can answer what a
      real one never would (malformed manifests), to test that we refuse it.
"""
import base64
import json
import os
import subprocess
import sys
import time
import uuid
from functools import partial
from http.server import BaseHTTPRequestHandler, HTTPServer, SimpleHTTPRequestHandler
from urllib.parse import parse_qs, urlparse


class Server(HTTPServer):
    # HTTPServer.server_bind looks up the host's name, which stalls for
    # seconds where there is no DNS (a sandbox).
    def server_bind(self):
        self.socket.bind(self.server_address)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_handler(key, cert, issuer, service, login, field):
    cert_der = subprocess.run(
        ["openssl", "x509", "-in", cert, "-outform", "DER"],
        check=True, capture_output=True,
    ).stdout

    class Issuer(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            if url.path != "/token":
                return self.answer(404, {"details": "not found"})
            user = None
            given = self.headers.get("Authorization")
            if given:
                sent = base64.b64decode(given.removeprefix("Basic ")).decode(errors="replace")
                if not given.startswith("Basic ") or sent != login:
                    return self.answer(401, {"details": "incorrect username or password"})
                user = login.split(":", 1)[0]
            query = parse_qs(url.query)
            access = []
            for scope in " ".join(query.get("scope", [])).split():
                kind, rest = scope.split(":", 1)
                name, actions = rest.rsplit(":", 1)
                if name.startswith("private/") and user is None:
                    continue  # anonymous: a token, but no access to it
                access.append({"type": kind, "name": name,
                               "actions": [a for a in actions.split(",") if a == "pull"]})
            now = int(time.time())
            lasts = int(os.environ.get("TOKEN_SECONDS", "300"))
            claims = {"iss": issuer, "sub": user or "", "aud": service, "exp": now + lasts,
                      "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access}
            header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(cert_der).decode()]}
            signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
            signature = subprocess.run(
                ["openssl", "dgst", "-sha256", "-sign", key],
                input=signing_input.encode(), check=True, capture_output=True,
            ).stdout
            if os.environ.get("TOKEN_LOG"):
                with open(os.environ["TOKEN_LOG"], "a") as log:
                    log.write(f"token for {user or 'anonymous'}, {lasts} s\n")
            self.answer(200, {field: signing_input + "." + b64url(signature), "expires_in": lasts})

    return Issuer


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "token":
        key, cert, issuer, service, login = sys.argv[3:8]
        field = sys.argv[8] if len(sys.argv) > 8 else "token"
        handler = token_handler(key, cert, issuer, service, login, field)
    elif mode == "static":
        handler = partial(SimpleHTTPRequestHandler, directory=sys.argv[3])
        handler.func.log_message = lambda *args: None
    else:
        sys.exit(f"fixture_server.py: unknown mode {mode!r}")
    Server(("127.0.0.1", port), handler).serve_forever()


if __name__ == "__main__":
    main()
