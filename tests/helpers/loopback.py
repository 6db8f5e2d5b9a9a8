"""A loopback HTTP server (127.0.0.1, a thread) that serves weights files the way weight hosts do,
and the ways they fail.

Routes (NAME is a key of `files`, read at request time):
  /files/NAME       the file (application/octet-stream, Content-Length)
  /truncated/NAME   promises the whole file, sends half of it, closes
  /unsized/NAME     half of the file without Content-Length (the cut is invisible at the HTTP level)
  /html/NAME        an HTML error page with status 200 (text/html)
  /html-octet/NAME  the same page sent as application/octet-stream
  /ORG/REPO/resolve/REVISION/NAME   the Hugging Face hub's file endpoint (HEAD and GET), with
                    X-Repo-Commit and ETag = the file's sha256, as the hub sends for LFS files
`hits` counts GET requests per path.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HTML = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>"


@dataclass
class WeightsHost:
    url: str
    files: dict[str, Path]
    hits: Counter = field(default_factory=Counter)


def _handler(host: WeightsHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
            self._respond(body=False)

        def do_GET(self) -> None:  # noqa: N802
            host.hits[self.path] += 1
            self._respond(body=True)

        def _respond(self, body: bool) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[-1] not in host.files:
                return self._send(404, "text/plain", b"not found", body)
            data = host.files[parts[-1]].read_bytes()
            route = parts[0] if len(parts) == 2 else "hub"
            if route in ("truncated", "unsized"):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if route == "truncated":
                    self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if body:
                    self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return None
            if route == "html":
                return self._send(200, "text/html; charset=utf-8", HTML, body)
            if route == "html-octet":
                return self._send(200, "application/octet-stream", HTML, body)
            headers = {} if route == "files" else {"X-Repo-Commit": parts[-2],  # /org/repo/resolve/<rev>/<file>
                                                   "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
            return self._send(200, "application/octet-stream", data, body, headers)

        def _send(self, status: int, content_type: str, data: bytes, body: bool,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on 127.0.0.1 (a free port) in a thread until the block ends; yield the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def serve_weights(files: dict[str, Path]) -> Iterator[WeightsHost]:
    """Serve `files` (name -> path) on 127.0.0.1 until the block ends."""
    host = WeightsHost("", files)
    with serving(_handler(host)) as url:
        host.url = url
        yield host
