#!/usr/bin/env python3
"""A small HTTP proxy in front of the fixture registry, for ctr pull's tests
(tests/ctr_pull.rs, tests/ctr_faults.rs): it logs every request, and can
slow, fail, strip, cut short or redirect what passes through.

  ctr_pull_proxy.py LISTEN-ADDR:PORT UPSTREAM-ADDR:PORT LOG [OPTIONS]

  --rate BYTES        send bodies at about BYTES per second
  --fail S:TEXT:N[:RA]
                      answer the first N requests whose path contains TEXT
                      with status S (and `Retry-After: RA` when given)
  --delay TEXT:N:SECONDS
                      hold the first N requests whose path contains TEXT for
                      SECONDS before forwarding them
  --unauth TEXT:N     forward the first N requests whose path contains TEXT
                      without their Authorization (so the registry answers
                      401 with a fresh challenge: an expired token's case)

  --truncate TEXT:N:BYTES
                      for the first N requests whose path contains TEXT, send
                      the upstream's headers (its Content-Length too), then
                      only BYTES of the body, and close the connection
  --stall TEXT:N:BYTES
                      the same, but after BYTES the connection stays open and
                      silent (for 30 s) instead of closing
  --redirect TEXT:URL answer every request whose path contains TEXT with 307
                      and `Location: URL` + the path (another host)

LOG gets one line per request: `GET PATH STATUS auth=yes|no`, and
` range=VALUE` after it when the request has a Range header.
"""
import http.client
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True

    # HTTPServer.server_bind looks up the host's name: seconds without DNS.
    def server_bind(self):
        self.socket.bind(self.server_address)
        self.server_name, self.server_port = self.server_address


def main():
    listen, upstream, log_path = sys.argv[1:4]
    rate, fails, unauths, truncates, stalls, redirects = None, [], [], [], [], []
    delays = []
    args = sys.argv[4:]
    while args:
        opt, value, args = args[0], args[1], args[2:]
        if opt == "--rate":
            rate = int(value)
        elif opt == "--fail":
            parts = value.split(":")
            fails.append({"status": int(parts[0]), "text": parts[1], "left": int(parts[2]),
                          "retry_after": parts[3] if len(parts) > 3 else None})
        elif opt == "--unauth":
            text, count = value.rsplit(":", 1)
            unauths.append({"text": text, "left": int(count)})
        elif opt == "--truncate":
            text, count, size = value.rsplit(":", 2)
            truncates.append({"text": text, "left": int(count), "bytes": int(size)})
        elif opt == "--delay":
            text, count, seconds = value.rsplit(":", 2)
            delays.append({"text": text, "left": int(count), "seconds": float(seconds)})
        elif opt == "--stall":
            text, count, size = value.rsplit(":", 2)
            stalls.append({"text": text, "left": int(count), "bytes": int(size)})
        elif opt == "--redirect":
            text, url = value.split(":", 1)
            redirects.append({"text": text, "url": url})
        else:
            sys.exit(f"ctr_pull_proxy.py: unknown option {opt}")
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1)
    up_host, up_port = upstream.rsplit(":", 1)

    def take(rules, path):
        with lock:
            for rule in rules:
                if rule["text"] in path and rule["left"] > 0:
                    rule["left"] -= 1
                    return rule
        return None

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def note(self, status):
            auth = "yes" if self.headers.get("Authorization") else "no"
            asked = self.headers.get("Range")
            extra = f" range={asked}" if asked else ""
            with lock:
                log.write(f"{self.command} {self.path} {status} auth={auth}{extra}\n")

        def do_GET(self):
            for rule in redirects:
                if rule["text"] in self.path:
                    self.send_response(307)
                    self.send_header("Location", rule["url"] + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    self.note(307)
                    return
            delay = take(delays, self.path)
            if delay:
                time.sleep(delay["seconds"])
            cut = take(truncates, self.path)
            stall = None if cut else take(stalls, self.path)
            cut = cut or stall
            fail = take(fails, self.path)
            if fail:
                body = b'{"errors":[{"code":"INJECTED","message":"by ctr_pull_proxy"}]}'
                self.send_response(fail["status"])
                if fail["retry_after"] is not None:
                    self.send_header("Retry-After", fail["retry_after"])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.note(fail["status"])
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            if take(unauths, self.path):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            conn = http.client.HTTPConnection(up_host, int(up_port), timeout=30)
            conn.request("GET", self.path, headers=headers)
            answer = conn.getresponse()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.end_headers()
            self.note(answer.status)
            chunk = 16384 if rate is None else max(1024, rate // 20)
            left = None if cut is None else cut["bytes"]
            try:
                while True:
                    want = chunk if left is None else min(chunk, left)
                    if want == 0:
                        self.wfile.flush()
                        if stall:
                            # Silent, the connection open, as a stuck server.
                            time.sleep(30)
                        # Cut short: close the connection under the client.
                        self.close_connection = True
                        self.connection.shutdown(2)
                        break
                    data = answer.read(want)
                    if left is not None:
                        left -= len(data)
                    if not data:
                        break
                    self.wfile.write(data)
                    if rate is not None:
                        time.sleep(len(data) / rate)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            conn.close()

    host, port = listen.rsplit(":", 1)
    Server((host, int(port)), Proxy).serve_forever()


if __name__ == "__main__":
    main()
