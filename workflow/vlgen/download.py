"""Download one URL to one file: atomic, retried, with progress, verified against a pinned digest.

Shared by datasets and weights. Why each step:
- The bytes go to a unique temporary file next to `dest` and are renamed into place only after the
  digest matched, so a killed, truncated or corrupt download never sits at `dest` looking complete.
- Transient failures (connection errors, timeouts, HTTP 5xx/408/429, a body shorter than its
  Content-Length) are retried with exponential backoff; a 4xx, an HTML page where a file was
  expected (an error or login page served with status 200) and a digest mismatch are not: retrying
  would fetch the same wrong bytes.
- An existing `dest` whose digest matches is kept without touching the network, so a rerun of a
  download job is free. Without a pinned digest there is nothing to check a file against, so it is
  downloaded again.
- Mirrors (`download_first`) are tried in order; a mirror that fails (down, moved, wrong bytes) hands
  over to the next, and the error lists what each one did.
Only the standard library's urllib is used (http, https and file URLs).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("vlgen.download")

ALGORITHMS = ("md5", "sha256")
CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0
RETRY_DELAY_S = 2.0  # first backoff; doubled after each failed attempt
RETRIED_HTTP_STATUS = frozenset({408, 429, 500, 502, 503, 504})
USER_AGENT = "vlgen-download/1 (python urllib)"  # some hosts refuse urllib's default agent


class DownloadError(OSError):
    """A download that did not produce the expected file; the message names the URL and the file."""


class ChecksumError(DownloadError):
    """The downloaded (or existing) bytes do not have the pinned digest."""


class _Transient(Exception):
    """A failure worth retrying."""


def file_digest(path: str | Path, algorithm: str) -> str:
    """Hex digest ('md5' or 'sha256') of a file, read in 1 MiB chunks."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r} (use one of {', '.join(ALGORITHMS)})")
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected(md5: str | None, sha256: str | None) -> dict[str, str]:
    pinned = {name: value.lower() for name, value in (("md5", md5), ("sha256", sha256)) if value}
    for name, value in pinned.items():
        length = 32 if name == "md5" else 64
        if len(value) != length or any(c not in "0123456789abcdef" for c in value):
            raise ValueError(f"{name} must be {length} hex characters, got {value!r}")
    return pinned


def _mismatch(path: Path, expected: dict[str, str]) -> str | None:
    """None when every pinned digest matches, else 'sha256 expected X, got Y'."""
    for algorithm, value in expected.items():
        actual = file_digest(path, algorithm)
        if actual != value:
            return f"{algorithm} expected {value}, got {actual}"
    return None


def _fetch(url: str, part: Path, label: str, progress: bool) -> None:
    """One attempt: stream `url` into `part`; raise _Transient for failures worth retrying."""
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            content_type = response.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip().lower() == "text/html":
                raise DownloadError(f"{url} returned an HTML page ({content_type}), not the file: "
                                    "the URL is wrong, moved, or needs a login")
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            with open(part, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                                               desc=label, disable=not progress, leave=False) as bar:
                for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                out.flush()
                os.fsync(out.fileno())
    except urllib.error.HTTPError as exc:
        if exc.code in RETRIED_HTTP_STATUS:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        raise _Transient(str(getattr(exc, "reason", exc))) from exc
    if total is not None and received != total:
        raise _Transient(f"truncated: received {received} of {total} bytes")


def download(url: str, dest: str | Path, *, md5: str | None = None, sha256: str | None = None,
             retries: int = 3, progress: bool = True, check: Callable[[Path], None] | None = None) -> Path:
    """Fetch `url` to `dest` (created with its parents) and return `dest`.

    With a pinned md5 and/or sha256, an existing matching `dest` is reused and a mismatching
    download raises ChecksumError (URL, file, expected and actual digest) and leaves nothing at
    `dest`. `retries` is the number of extra attempts after a transient failure. `check(path)` runs on
    the complete temporary file before the rename (e.g. a digest prefix, a safe-load test): if it raises,
    nothing is left at `dest`.
    """
    dest = Path(dest)
    expected = _expected(md5, sha256)
    if expected and dest.is_file() and _mismatch(dest, expected) is None:
        log.info("%s is present and verified: not downloading", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(handle)
    part = Path(name)
    try:
        for attempt in range(retries + 1):
            try:
                _fetch(url, part, dest.name, progress)
                break
            except _Transient as exc:
                if attempt == retries:
                    raise DownloadError(f"{url} -> {dest}: gave up after {retries + 1} attempt(s): {exc}") from exc
                delay = RETRY_DELAY_S * 2**attempt
                log.warning("%s: %s; retrying in %.0f s (%d/%d)", url, exc, delay, attempt + 1, retries)
                time.sleep(delay)
        problem = _mismatch(part, expected)
        if problem:
            raise ChecksumError(f"{url} -> {dest}: checksum mismatch, {problem}; the file was deleted")
        if check is not None:
            check(part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    log.info("downloaded %s -> %s", url, dest)
    return dest


def download_first(urls: Sequence[str], dest: str | Path, **options: Any) -> Path:
    """`download` from the first of `urls` (mirrors, in order) that serves the expected file.

    `options` are `download`'s. The error lists every mirror's failure; it is a ChecksumError when
    every mirror served other bytes.
    """
    failures: list[DownloadError] = []
    for url in urls:
        try:
            return download(url, dest, **options)
        except DownloadError as exc:
            failures.append(exc)
            log.warning("%s", exc)
    kind = ChecksumError if failures and all(isinstance(e, ChecksumError) for e in failures) else DownloadError
    raise kind(f"cannot get {dest}: " + ("; ".join(map(str, failures)) or "no URL to download from"))
