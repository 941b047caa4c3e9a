"""A fault-injecting HTTP proxy in front of the test S3 server, on loopback.

Point an `S3Bucket`'s `endpoint_url` at `FaultProxy.url`: every request is forwarded to the real server
unless a rule matches it, in which case the proxy answers in its place (e.g. 503 SlowDown) or alters the
real answer, or holds it until the test lets it go. Each rule acts on the first `times` requests it matches;
`injected[name]` counts what it did, and `requests` logs every request seen (method, path with query, headers)
in arrival order.
"""

from __future__ import annotations

import http.client
import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
     "expect"}
)
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>"
)


@dataclass(frozen=True)
class Request:
    """One request the proxy received: method, path with its query, and headers (names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]

    @property
    def key_path(self) -> str:
        """The path without its query: `/bucket/key`."""
        return self.path.split("?", 1)[0]


Response = tuple[int, dict[str, str], bytes]


@dataclass
class Rule:
    """Act on the first `times` requests for which `match` is true.

    Without `alter` the proxy answers 503 SlowDown and never forwards the request; with it, the request is
    forwarded and `alter(response)` is sent back instead of the real (status, headers, body). With `hold`, the
    proxy first waits until that event is set (the client sees a request in flight), then acts as above.
    """

    name: str
    match: Callable[[Request], bool]
    times: int
    alter: Callable[[Response], Response] | None = None
    hold: threading.Event | None = None


def is_copy_object(request: Request) -> bool:
    """CopyObject: a PUT with `x-amz-copy-source` that is not one part of a multipart upload."""
    return (
        request.method == "PUT" and "x-amz-copy-source" in request.headers and "uploadId=" not in request.path
    )


def is_list(request: Request) -> bool:
    """ListObjectsV2."""
    return request.method == "GET" and "list-type=2" in request.path


class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 forwarding to `target` (an http:// endpoint); a context manager."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"the fault proxy forwards only to a loopback http:// endpoint, not {target!r}")
        self.target_host = parts.hostname
        self.target_port = parts.port or 80
        self.rules: list[Rule] = []
        self.injected: Counter[str] = Counter()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="s3-fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, name: str, match: Callable[[Request], bool], *, times: int = 1,
            alter: Callable[[Response], Response] | None = None, hold: threading.Event | None = None) -> None:
        """Add a rule; see `Rule`."""
        with self._lock:
            self.rules.append(Rule(name, match, times, alter, hold))

    def clear(self) -> None:
        """Drop every rule, count and logged request."""
        with self._lock:
            self.rules.clear()
            self.injected.clear()
            self.requests.clear()

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _rule_for(self, request: Request) -> Rule | None:
        """Log `request` and take one use of the first rule with uses left that matches it."""
        with self._lock:
            self.requests.append(request)
            for rule in self.rules:
                if self.injected[rule.name] < rule.times and rule.match(request):
                    self.injected[rule.name] += 1
                    return rule
        return None

    def _forward(self, request: Request, body: bytes) -> Response:
        connection = http.client.HTTPConnection(self.target_host, self.target_port, timeout=60)
        try:
            headers = {name: value for name, value in request.headers.items() if name not in HOP_BY_HOP}
            headers["content-length"] = str(len(body))
            connection.request(request.method, request.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, {name.lower(): value for name, value in response.getheaders()}, data
        finally:
            connection.close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)
        # Otherwise the client went away (e.g. was killed while a request was held): nothing to report.


def _handler_class(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body are two writes: without this the body waits for the client's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        raise ConnectionResetError("the client went away in the middle of its request body")
                    size = int(line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    if len(chunks[-1]) < size:
                        raise ConnectionResetError("the client went away in the middle of its request body")
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if len(body) < length:
                # A real server drops an incomplete request; forwarding it would store a truncated object.
                raise ConnectionResetError("the client went away in the middle of its request body")
            return body

        def _handle(self) -> None:
            request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            body = self._body()
            rule = proxy._rule_for(request)
            if rule is not None and rule.hold is not None:
                rule.hold.wait()
            if rule is not None and rule.alter is None:
                status, headers, data = 503, {"content-type": "application/xml"}, SLOW_DOWN
            else:
                status, headers, data = proxy._forward(request, body)
                if rule is not None and rule.alter is not None:
                    status, headers, data = rule.alter((status, headers, data))
            self.send_response(status)
            for name, value in headers.items():
                # send_response wrote its own Server and Date.
                if name not in HOP_BY_HOP and name not in ("content-length", "server", "date"):
                    self.send_header(name, value)
            # A HEAD answer has no body but states the object's length.
            length = headers.get("content-length", "0") if self.command == "HEAD" else str(len(data))
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler
