"""A fault-injecting HTTP proxy for S3 tests: put it in front of a moto server and break chosen requests.

Each `Rule` matches a request by method and a regular expression over its path and query, and applies
to its first `count` matching requests: answer 503 SlowDown or 500 InternalError (S3's XML errors), 403
AccessDenied, hold the connection past the client's timeout without answering, or forward the request and
then drop the answer (the store did the work, the client never hears of it). Every other request is
forwarded unchanged. `hits` counts the faults injected per rule, `requests` every request seen.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
    "access_denied": (403, "AccessDenied", "Access Denied"),
}
FAULTS = (*ERRORS, "timeout", "lost_response")


@dataclass
class Rule:
    method: str  # GET | PUT | HEAD | DELETE | POST | * (any)
    path: str  # regular expression searched in "<path>?<query>", percent-decoded
    fault: str  # one of FAULTS
    count: int = 1 << 30  # first `count` matching requests; the default is "always"
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; choose from {FAULTS}")

    def matches(self, method: str, target: str) -> bool:
        return (self.method in ("*", method) and self.hits < self.count
                and re.search(self.path, target) is not None)


class FaultProxy:
    def __init__(self, upstream_port: int, hold_s: float = 3.0):
        self.upstream_port, self.hold_s = upstream_port, hold_s
        self.rules: list[Rule] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, *rules: Rule) -> list[Rule]:
        with self._lock:
            self.rules.extend(rules)
        return list(rules)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _choose(self, method: str, target: str) -> Rule | None:
        with self._lock:
            self.requests.append((method, target))
            for rule in self.rules:
                if rule.matches(method, target):
                    rule.hits += 1
                    return rule
        return None


def _handler(proxy: FaultProxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _handle(self) -> None:
            body = self._body()
            rule = proxy._choose(self.command, urllib.parse.unquote(self.path))
            if rule is not None and rule.fault in ERRORS:
                self._error(*ERRORS[rule.fault])
                return
            if rule is not None and rule.fault == "timeout":
                time.sleep(proxy.hold_s)  # longer than the client waits: it gives up first
                self.close_connection = True
                return
            status, reason, headers, data = self._forward(body)
            if rule is not None and rule.fault == "lost_response":
                time.sleep(proxy.hold_s)
                self.close_connection = True
                return
            self.send_response(status, reason)
            for name, value in headers:
                if name.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                    self.send_header(name, value)
            upstream_length = next((v for k, v in headers if k.lower() == "content-length"), "0")
            self.send_header("Content-Length", upstream_length if self.command == "HEAD" else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _forward(self, body: bytes):
            conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding",
                                                                                       "connection")}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, response.reason, response.getheaders(), data
            finally:
                conn.close()

        def _error(self, status: int, code: str, message: str) -> None:
            data = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}'
                    f'</Message><RequestId>FAULT</RequestId></Error>').encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler
