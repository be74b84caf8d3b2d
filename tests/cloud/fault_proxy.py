#!/usr/bin/env python3
"""An HTTP proxy that fails chosen calls, for the fault suite: in front of the DigitalOcean fake
(tests/cloud/fake_do.py) or moto, it forwards every request unchanged (Host header and body
included, so moto's SigV4 check still passes) unless an armed fault matches it.

Usage: fault_proxy.py PORT UPSTREAM_URL

Control endpoints (answered by the proxy itself, never forwarded):
  POST   /__fault   arm a fault; JSON body:
                      match   regex searched in "METHOD PATH BODY" (EC2: "Action=RunInstances")
                      mode    before: answer the error without forwarding (nothing happens)
                              after:  forward, then answer the error (it happened; the answer
                                      is lost)
                              drop:   forward, then close the connection without an answer
                      status, content_type, body: the error answer (before/after)
                      times   how many matching calls fail (default 1; -1: every one)
  DELETE /__fault   disarm everything
  GET    /__log     JSON: every call seen ("METHOD PATH ACTION"), and which ones failed how
Standard library only.
"""
import http.client
import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
faults = []
log = []
upstream = None

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


def describe(method, path, body):
    """METHOD PATH plus the EC2 Action, for the log."""
    action = ""
    m = re.search(rb"(?:^|&)Action=([A-Za-z]+)", body or b"")
    if m:
        action = " " + m.group(1).decode()
    return f"{method} {path.split('?')[0]}{action}"


def take_fault(subject):
    with lock:
        for f in faults:
            if f["times"] != 0 and re.search(f["match"], subject):
                if f["times"] > 0:
                    f["times"] -= 1
                return dict(f)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def control(self, method, body):
        global faults
        if method == "POST":
            f = json.loads(body or b"{}")
            f.setdefault("mode", "before")
            f.setdefault("status", 500)
            f.setdefault("content_type", "application/json")
            f.setdefault("body", json.dumps({"id": "server_error", "message": "injected fault"}))
            f.setdefault("times", 1)
            with lock:
                faults.append(f)
            return self.reply(201, b"{}")
        if method == "DELETE":
            with lock:
                faults = []
            return self.reply(204)
        with lock:
            return self.reply(200, json.dumps(log).encode())

    def forward(self, method, body):
        u = urllib.parse.urlsplit(upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        conn.request(method, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out = [(k, v) for k, v in resp.getheaders()
               if k.lower() not in HOP and k.lower() not in ("content-length", "content-type")]
        ctype = resp.getheader("Content-Type", "application/json")
        conn.close()
        return resp.status, data, ctype, out

    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__"):
            return self.control(method, body)
        subject = f"{method} {self.path} {body.decode(errors='replace')}"
        call = describe(method, self.path, body)
        fault = take_fault(subject)
        with lock:
            log.append({"call": call, "fault": fault["mode"] if fault else None})
        if fault and fault["mode"] == "before":
            return self.reply(fault["status"], fault["body"].encode(), fault["content_type"])
        status, data, ctype, headers = self.forward(method, body)
        if fault and fault["mode"] == "after":
            return self.reply(fault["status"], fault["body"].encode(), fault["content_type"])
        if fault and fault["mode"] == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.reply(status, data, ctype, headers)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def do_PUT(self):
        self.handle_any("PUT")


def main():
    global upstream
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"fault proxy on 127.0.0.1:{port} -> {upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
