"""vlgen.download against a loopback HTTP server: good file, wrong digest, truncated body, HTML page."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vlgen import download as download_module
from vlgen.download import ChecksumError, DownloadError, download, file_digest

PAYLOAD = bytes(range(256)) * 4099  # ~1 MiB + a bit: more than one read chunk


class Handler(BaseHTTPRequestHandler):
    """Routes: /good.bin, /truncated.bin (promises more than it sends), /page (HTML, status 200),
    /missing (404), /flaky.bin (503 on the first request, then the file)."""

    hits: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/good.bin" or (self.path == "/flaky.bin" and self.hits[self.path] > 1):
            self._send(200, "application/octet-stream", PAYLOAD)
        elif self.path == "/flaky.bin":
            self._send(503, "text/plain", b"busy")
        elif self.path == "/truncated.bin":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:1000])
            self.close_connection = True
        elif self.path == "/page":
            self._send(200, "text/html; charset=utf-8", b"<html><body>Please sign in</body></html>")
        else:
            self._send(404, "text/plain", b"not found")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch) -> Iterator[str]:
    monkeypatch.setattr(download_module, "RETRY_DELAY_S", 0.0)
    Handler.hits = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


def file_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_file_digest_matches_hashlib(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(PAYLOAD)
    assert file_digest(path, "md5") == MD5 and file_digest(path, "sha256") == SHA256
    with pytest.raises(ValueError, match="sha1"):
        file_digest(path, "sha1")


def test_good_file_is_downloaded_verified_and_then_reused(server, tmp_path):
    dest = tmp_path / "sub" / "good.bin"
    assert download(f"{server}/good.bin", dest, md5=MD5, sha256=SHA256.upper(), progress=False) == dest
    assert dest.read_bytes() == PAYLOAD and file_names(dest.parent) == ["good.bin"]
    download(f"{server}/good.bin", dest, sha256=SHA256, progress=False)
    assert Handler.hits["/good.bin"] == 1  # the verified file was kept, no second request


def test_wrong_digest_deletes_the_file_and_names_url_and_digests(server, tmp_path):
    dest = tmp_path / "good.bin"
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as info:
        download(f"{server}/good.bin", dest, sha256=wrong, progress=False)
    message = str(info.value)
    assert f"{server}/good.bin" in message and str(dest) in message
    assert f"expected {wrong}" in message and f"got {SHA256}" in message
    assert file_names(tmp_path) == []
    assert Handler.hits["/good.bin"] == 1  # a mismatch is not retried


def test_existing_corrupt_file_is_replaced(server, tmp_path):
    dest = tmp_path / "good.bin"
    dest.write_bytes(b"stale")
    download(f"{server}/good.bin", dest, md5=MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_truncated_body_is_retried_then_reported(server, tmp_path):
    dest = tmp_path / "truncated.bin"
    with pytest.raises(DownloadError, match=f"truncated: received 1000 of {len(PAYLOAD)} bytes") as info:
        download(f"{server}/truncated.bin", dest, md5=MD5, retries=2, progress=False)
    assert "3 attempt(s)" in str(info.value) and Handler.hits["/truncated.bin"] == 3
    assert file_names(tmp_path) == []


def test_html_page_and_404_fail_at_once_and_leave_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="HTML page"):
        download(f"{server}/page", tmp_path / "page.bin", sha256=SHA256, progress=False)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server}/missing", tmp_path / "missing.bin", progress=False)
    assert Handler.hits == {"/page": 1, "/missing": 1}
    assert file_names(tmp_path) == []


def test_server_error_is_retried_until_it_succeeds(server, tmp_path):
    dest = download(f"{server}/flaky.bin", tmp_path / "flaky.bin", md5=MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD and Handler.hits["/flaky.bin"] == 2


def test_bad_pin_is_refused_before_any_request(server, tmp_path):
    with pytest.raises(ValueError, match="md5 must be 32 hex"):
        download(f"{server}/good.bin", tmp_path / "x", md5="abc")
    assert Handler.hits == {}


def test_a_failing_check_leaves_nothing_and_a_passing_one_sees_the_whole_file(server, tmp_path):
    seen = []

    def refuse(path: Path) -> None:
        seen.append(path.read_bytes() == PAYLOAD)
        raise ValueError("not a checkpoint")

    with pytest.raises(ValueError, match="not a checkpoint"):
        download(f"{server}/good.bin", tmp_path / "a.bin", sha256=SHA256, check=refuse, progress=False)
    assert seen == [True] and file_names(tmp_path) == []
    download(f"{server}/good.bin", tmp_path / "a.bin", sha256=SHA256, check=lambda p: seen.append(p.name),
             progress=False)
    assert seen[1] != "a.bin" and (tmp_path / "a.bin").read_bytes() == PAYLOAD  # checked before the rename
