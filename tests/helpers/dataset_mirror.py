"""A loopback HTTP server (127.0.0.1, a thread) playing a dataset mirror; counts requests per path.

`routes` maps a URL path to (status, content type, body, promised length): a promised length larger
than the body makes a truncated download. Unknown paths answer 404. (tests/helpers/loopback.py
serves weights the way weight hosts do; this one serves what a test puts at any path.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from helpers.loopback import serving


@dataclass
class Mirror:
    url: str
    routes: dict[str, tuple[int, str, bytes, int]] = field(default_factory=dict)
    hits: Counter = field(default_factory=Counter)

    def file(self, path: str, body: bytes) -> None:
        self.routes[path] = (200, "application/octet-stream", body, len(body))

    def truncated(self, path: str, body: bytes) -> None:
        self.routes[path] = (200, "application/octet-stream", body[: len(body) // 2], len(body))

    def html(self, path: str) -> None:
        page = b"<!DOCTYPE html><html><body>Sign in to download</body></html>"
        self.routes[path] = (200, "text/html; charset=utf-8", page, len(page))


@contextmanager
def mirror() -> Iterator[Mirror]:
    served = Mirror(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            served.hits[path] += 1
            status, content_type, body, length = served.routes.get(path, (404, "text/plain", b"no", 2))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, *args) -> None:
            pass

    with serving(Handler) as url:
        served.url = url
        yield served
