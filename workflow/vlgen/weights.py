"""Pinned model weights: where each file comes from, where it lives, and whether it is verified.

A catalog entry's `weights` is a pin, one of
    {url: https://..., sha256: <64 hex, or a prefix of >= 8 such as torch.hub's "-c8e5653e">}
    {url: https://...}                                   # no published digest: the lock decides
    {url: ..., mirrors: [https://...], sha256_unverified: true}   # optional fields of a URL pin
    {url: ..., file: name.tar.gz, unpack: tar.gz}        # an archive (a TF-Hub SavedModel), unpacked
    {hub: org/name, revision: <40-hex commit>, files: [...], sha256: {file: digest}}
URL files go to resources/weights/<model>/<file>; hub files to a shared Hugging Face cache
(resources/weights/hub/, HF's own layout, so CLIP and CLIP-T share one download). An archive pin's
digest is the archive's; once verified (every member read safely, vlgen.archives) it is unpacked next
to itself, into resources/weights/<model>/<name> (the file name less `.tar.gz`), which `load` gets.

Two locks map a file's source (the URL, or hf://repo@revision/file) to its full sha256. The committed
one, config/weights.lock, is written only by `vlgen weights pin` (a maintainer's step); the workflow
never writes into config/. A download the committed lock does not cover records its digest in
resources/weights/weights.lock on first use; after that any other content is an error naming both
digests. A feature key holds a file's full sha256 when the pin or the committed lock gives one (so a
file moved to a mirror keeps its key), else its source (`pin_identity`); keys never read resources/.

A file counts as verified only after its digest matched and, for checkpoints, it was read without
running code (models/safe_load.py): an HTML error page, a truncated archive or a pickle that calls
os.system is deleted and reported, never recorded. Nothing here imports torch until a file is checked.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import yaml

log = logging.getLogger("vlgen.weights")

WEIGHTS_DIR = "resources/weights"
HUB_CACHE = f"{WEIGHTS_DIR}/hub"
LOCK_FILE = "config/weights.lock"
RECORD_FILE = f"{WEIGHTS_DIR}/weights.lock"  # digests of first downloads the committed lock lacks
HUB_SCHEME = "hf://"
STAMPS = ".verified"  # under WEIGHTS_DIR: what fetch verified (size, mtime, digest), so status needs no hashing
SHA256_PATTERN = re.compile(r"^[0-9a-f]{8,64}$")
FULL_SHA256 = 64
COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
# Files that must parse as a checkpoint; others (config.json, vocab.txt) are only checked for HTML.
CHECKPOINT_SUFFIXES = frozenset({".pt", ".pth", ".tar", ".ckpt", ".bin", ".safetensors", ".pkl"})
UNVERIFIED_HINT = ("; the pin's sha256 was never checked against the published file (sha256_unverified): "
                   "if the URL is the right one, drop 'sha256' and 'sha256_unverified' from the pin and let the "
                   "first download lock the digest")
LOCK_HEADER = ("# sha256 of pinned weights files, recorded by their first verified download. Keyed by source\n"
               "# (URL or hf://repo@revision/file). A file whose digest differs from its entry here is refused.\n"
               "# config/weights.lock: written by `vlgen weights pin`, committed, part of the feature keys.\n"
               "# resources/weights/weights.lock: written by the download_weights rule, never in a key.\n")


class PinError(ValueError):
    """A `weights` pin that cannot be used; the message names the field."""


@dataclass(frozen=True)
class WeightFile:
    """One file of a pin: its source (the lock's key), local path (workflow-relative) and published digest."""

    location: str
    path: str
    sha256: str | None = None
    allowed_globals: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()  # tried after `location`, in order; the lock stays keyed by `location`
    sha256_unverified: bool = False  # the pin's digest is inferred (a torch.hub-style name), not published
    unpack: str | None = None  # an archive kind (vlgen.archives.ARCHIVE_MODES): unpacked after verification

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WeightFile:
        data = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class Pin:
    """The files of a pin and what a source's `load` gets as `weights` (the file, or the hub snapshot folder)."""

    files: tuple[WeightFile, ...]
    argument: str


# -- pins ------------------------------------------------------------------------------------------
def hub_folder(repo: str) -> str:
    """huggingface_hub's cache folder name for a model repo (`repo_folder_name`), without importing it."""
    return "models--" + repo.replace("/", "--")


def hub_location(repo: str, revision: str, filename: str) -> str:
    return f"{HUB_SCHEME}{repo}@{revision}/{filename}"


def parse_hub_location(location: str) -> tuple[str, str, str]:
    repo, _, rest = location.removeprefix(HUB_SCHEME).partition("@")
    revision, _, filename = rest.partition("/")
    return repo, revision, filename


def pin_problems(pin: Any) -> list[str]:
    """Config-time problems of a `weights` pin (no I/O)."""
    if not isinstance(pin, Mapping) or ("url" in pin) == ("hub" in pin):
        return [f"field 'weights' must hold either 'url' or 'hub', got {pin!r}"]
    problems = []
    if "url" in pin:
        mirrors = pin.get("mirrors", [])
        if not isinstance(mirrors, list):
            problems.append(f"field 'weights.mirrors' must list URLs, got {mirrors!r}")
            mirrors = []
        for field, url in [("url", pin["url"]), *((f"mirrors[{i}]", m) for i, m in enumerate(mirrors))]:
            if urlparse(str(url)).scheme not in ("http", "https", "file"):
                problems.append(f"field 'weights.{field}' must be an http(s) or file URL, got {url!r}")
        if pin.get("sha256") is not None and not SHA256_PATTERN.match(str(pin["sha256"])):
            problems.append(f"field 'weights.sha256' must be 8 to 64 lower-case hex characters, got {pin['sha256']!r}")
        unverified = pin.get("sha256_unverified", False)
        if not isinstance(unverified, bool) or (unverified and pin.get("sha256") is None):
            problems.append(f"field 'weights.sha256_unverified' must be true or false and marks the pin's 'sha256', "
                            f"got {unverified!r}")
        return problems + archive_problems(pin)
    if not COMMIT_PATTERN.match(str(pin.get("revision", ""))):
        problems.append(f"field 'weights.revision' must be a 40-hex commit (a branch moves), got {pin.get('revision')!r}")
    files = pin.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        problems.append(f"field 'weights.files' must list the files to fetch, got {files!r}")
    for name, digest in (pin.get("sha256") or {}).items():
        if name not in (files or []) or not SHA256_PATTERN.match(str(digest)):
            problems.append(f"field 'weights.sha256.{name}' must be a digest of one of the listed files")
    return problems


def archive_problems(pin: Mapping[str, Any]) -> list[str]:
    """An `unpack` pin: a known archive kind, and a file name that ends with it (the folder is the rest)."""
    from vlgen.archives import ARCHIVE_MODES, ArchiveError, unpacked_dir

    kind = pin.get("unpack")
    if kind is None:
        return []
    if kind not in ARCHIVE_MODES:
        return [f"field 'weights.unpack' must be one of {', '.join(ARCHIVE_MODES)}, got {kind!r}"]
    try:
        unpacked_dir(url_file_name(pin), kind)
    except ArchiveError as exc:
        return [f"field 'weights.file': {exc}"]
    return []


def url_file_name(pin: Mapping[str, Any]) -> str:
    """The local file name of a URL pin: its `file`, else the URL's last path part."""
    return pin.get("file") or PurePosixPath(urlparse(str(pin["url"])).path).name


def parse_pin(model: str, pin: Mapping[str, Any], subfolder: str = "",
              allowed_globals: tuple[str, ...] = ()) -> Pin:
    """The files of `pin` for `model`; `subfolder` keeps a second pin of the model (its classifier) apart."""
    problems = pin_problems(pin)
    if problems:
        raise PinError(f"model {model!r}: {'; '.join(problems)}")
    if "url" in pin:
        path = str(PurePosixPath(WEIGHTS_DIR, model, subfolder, url_file_name(pin)))
        file = WeightFile(pin["url"], path, pin.get("sha256"), allowed_globals, tuple(pin.get("mirrors", ())),
                          pin.get("sha256_unverified", False), pin.get("unpack"))
        return Pin((file,), unpacked_path(file) or path)
    snapshot = PurePosixPath(HUB_CACHE, hub_folder(pin["hub"]), "snapshots", pin["revision"])
    digests = pin.get("sha256") or {}
    files = tuple(WeightFile(hub_location(pin["hub"], pin["revision"], f), str(snapshot / f), digests.get(f),
                             allowed_globals) for f in pin["files"])
    return Pin(files, files[0].path if len(files) == 1 else str(snapshot))


def _allowed_globals(spec: Mapping[str, Any], format_name: str | None) -> tuple[str, ...]:
    from vlgen.models.checkpoint_formats import FORMATS

    fmt = FORMATS.get(format_name) if spec.get("source") == "checkpoint" else None
    return fmt.allowed_globals if fmt else ()


def model_pin(model: str, spec: Mapping[str, Any]) -> Pin | None:
    """The pin of the weights a model's features need (None: nothing to download)."""
    if "weights" not in spec:
        return None
    return parse_pin(model, spec["weights"], allowed_globals=_allowed_globals(spec, spec.get("format")))


def classifier_pin(model: str, spec: Mapping[str, Any]) -> Pin | None:
    """The pin of the model's ImageNet classifier: its `classifier.weights`, else its own weights."""
    head = spec.get("classifier")
    if not head:
        return model_pin(model, spec)
    return parse_pin(model, head["weights"], "classifier",
                     _allowed_globals(spec, head.get("format", spec.get("format"))))


def model_files(model: str, spec: Mapping[str, Any]) -> list[WeightFile]:
    """Every file the model may need (features and classifier), each once."""
    files = {}
    for pin in (model_pin(model, spec), classifier_pin(model, spec)):
        files.update({f.path: f for f in (pin.files if pin else ())})
    return list(files.values())


def unpacked_path(file: WeightFile) -> str | None:
    """The folder an archive file is unpacked into (workflow-relative); None for other files."""
    from vlgen.archives import unpacked_dir

    return unpacked_dir(file.path, file.unpack) if file.unpack else None


# -- what a key holds ------------------------------------------------------------------------------
def file_identity(location: str, published: str | None, locked: str | None) -> dict[str, str]:
    """A file's full sha256 when the pin or the committed lock gives it (then where it is downloaded from
    does not matter), else its source and the published digest prefix, if any."""
    if locked and published and not locked.startswith(published):
        raise PinError(f"{location}: {LOCK_FILE} says sha256 {locked}, the pin says {published}: fix one")
    full = locked or (published if published and len(published) == FULL_SHA256 else None)
    if full:
        return {"sha256": full}
    return {"url": location, **({"sha256": published} if published else {})}


def pin_identity(pin: Mapping[str, Any], lock: Mapping[str, str]) -> dict[str, Any]:
    """The key's view of a `weights` pin, with `lock` the committed lock: the files' contents where known.

    Mirrors and the local file name are left out: they say where bytes are, not which bytes.
    """
    if "url" in pin:
        return file_identity(pin["url"], pin.get("sha256"), lock.get(pin["url"]))
    digests = pin.get("sha256") or {}
    locations = {name: hub_location(pin["hub"], pin["revision"], name) for name in pin["files"]}
    return {"files": {name: file_identity(where, digests.get(name), lock.get(where))
                      for name, where in locations.items()}}


def is_locked(identity: Mapping[str, Any]) -> bool:
    """Whether a `pin_identity` names contents only (every file's full digest), no source."""
    files = identity.get("files", {"": identity})
    return all(set(f) == {"sha256"} for f in files.values())


# -- the lock --------------------------------------------------------------------------------------
def read_lock(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise PinError(f"{path}: must map sources to sha256 digests")
    return {str(k): str(v) for k, v in data.items()}


def known_digests(root: str | Path) -> dict[str, str]:
    """Every digest on record under the workflow `root`: first downloads, overridden by the committed lock."""
    root = Path(root)
    return {**read_lock(root / RECORD_FILE), **read_lock(root / LOCK_FILE)}


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Serialise writers of the lock file: parallel download jobs all record into it."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def record_digest(lock_path: str | Path, location: str, sha256: str) -> None:
    """Add `location: sha256` to the lock (atomic rewrite); an existing different entry is an error."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(lock_path.parent):
        entries = read_lock(lock_path)
        if entries.get(location, sha256) != sha256:
            raise PinError(f"{lock_path}: {location} is locked to sha256 {entries[location]}, not {sha256}")
        entries[location] = sha256
        body = yaml.safe_dump(dict(sorted(entries.items())), default_flow_style=False, width=1000)
        handle, tmp = tempfile.mkstemp(prefix=f".{lock_path.name}.", dir=lock_path.parent)
        with os.fdopen(handle, "w") as fh:
            fh.write(LOCK_HEADER + body)
        os.replace(tmp, lock_path)


# -- verification ----------------------------------------------------------------------------------
def check_content(path: Path, name: str, allowed_globals: tuple[str, ...] = (), unpack: str | None = None) -> None:
    """Refuse an HTML page anywhere, a checkpoint that does not load safely (truncated, code-running) and
    an archive that does not unpack safely (truncated, paths or links out of its folder)."""
    from vlgen.archives import check_archive
    from vlgen.models.safe_load import HTML_STARTS, NotACheckpointError, read_checkpoint

    with path.open("rb") as fh:
        if fh.read(64).lstrip().lower().startswith(HTML_STARTS):
            raise NotACheckpointError(f"{name} is an HTML page, not the file (an error or login page?)")
    if unpack:
        check_archive(path, unpack, name)
    elif PurePosixPath(name).suffix in CHECKPOINT_SUFFIXES:
        read_checkpoint(path, allowed_globals)


def verify(file: WeightFile, path: Path, expected: list[tuple[str | None, str]]) -> str:
    """The file's sha256 once it matches every known digest in `expected` ((digest or None, where it comes
    from): the locks, this source's last verified download, the pin) and passes `check_content`."""
    from vlgen.download import ChecksumError, file_digest

    actual = file_digest(path, "sha256")
    for digest, where in expected:
        if digest and not actual.startswith(digest):
            hint = UNVERIFIED_HINT if where == "the pin" and file.sha256_unverified else ""
            raise ChecksumError(f"{file.location} -> {file.path}: checksum mismatch, sha256 expected {digest} "
                                f"({where}), got {actual}; the file was deleted{hint}")
    check_content(path, file.path, file.allowed_globals, file.unpack)
    return actual


def _stamp_path(root: Path, file: WeightFile) -> Path:
    return root / WEIGHTS_DIR / STAMPS / f"{hashlib.sha256(file.location.encode()).hexdigest()[:20]}.json"


def _stamped_digest(root: Path, file: WeightFile) -> str | None:
    try:
        return json.loads(_stamp_path(root, file).read_text()).get("sha256")
    except (OSError, ValueError):
        return None


def _write_stamp(root: Path, file: WeightFile, sha256: str) -> None:
    stat = (root / file.path).stat()
    stamp = _stamp_path(root, file)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"location": file.location, "sha256": sha256, "size": stat.st_size,
                               "mtime_ns": stat.st_mtime_ns}))
    os.replace(tmp, stamp)


def file_status(root: str | Path, file: WeightFile, lock: Mapping[str, str]) -> str:
    """missing, present (not verified yet) or verified (fetch checked these very bytes against the lock)."""
    root = Path(root)
    path = root / file.path
    if not path.exists():
        return "missing"
    try:
        stamp = json.loads(_stamp_path(root, file).read_text())
    except (OSError, ValueError):
        return "present"
    from vlgen.archives import is_unpacked

    stat = path.stat()
    same = (stamp.get("size"), stamp.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns)
    unpacked = not file.unpack or is_unpacked(root / unpacked_path(file), stamp.get("sha256"))
    return "verified" if same and unpacked and stamp.get("sha256") == lock.get(file.location) else "present"


def combined_status(statuses: list[str]) -> str:
    """A model's status from its files' statuses: its least advanced one."""
    for status in ("missing", "present"):
        if status in statuses:
            return status
    return "verified"


# -- fetching --------------------------------------------------------------------------------------
def _remove(path: Path) -> None:
    """Delete a file; for a hub snapshot link, its blob too (nothing of a rejected file stays)."""
    blob = path.resolve() if path.is_symlink() else None
    path.unlink(missing_ok=True)
    if blob is not None:
        blob.unlink(missing_ok=True)


def _fetch_hub(file: WeightFile, root: Path, endpoint: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    repo, revision, filename = parse_hub_location(file.location)
    got = Path(hf_hub_download(repo, filename, revision=revision, cache_dir=root / HUB_CACHE, endpoint=endpoint))
    if got.absolute() != (root / file.path).absolute():
        _remove(got)
        raise PinError(f"{file.location}: the hub cache put the file at {got}, not {root / file.path}")
    return got


def fetch(file: WeightFile, root: str | Path = ".", lock_path: str | Path = LOCK_FILE, *,
          record_path: str | Path | None = None, endpoint: str | None = None, retries: int = 3,
          progress: bool = True) -> Path:
    """Make `file` present and verified under `root`, recording its digest on first use.

    `lock_path` is the committed lock; a digest it lacks is recorded in `record_path` (the workflow's
    resources/weights/weights.lock), or in `lock_path` itself when None (`vlgen weights pin`).
    An existing file is reused (no network) when a digest ties it to this source (a lock, the pin, or
    this source's last verified download) and it matches; otherwise it is deleted and fetched again.
    Whatever fails verification is deleted, and the error names the source and both digests; a pickle
    the allowlist refuses is intact and kept (the error says what it needs). An archive pin's file is
    then unpacked (vlgen.archives.unpack: atomic, kept when already unpacked from these bytes).
    """
    from vlgen.archives import unpack
    from vlgen.download import download_first

    root = Path(root)
    dest = root / file.path
    committed = read_lock(lock_path).get(file.location)
    recorded = read_lock(record_path).get(file.location) if record_path else None
    if committed and file.sha256 and not committed.startswith(file.sha256):
        raise PinError(f"{file.location}: {lock_path} says sha256 {committed}, the pin says {file.sha256}: fix one")
    if committed and recorded and committed != recorded:
        raise PinError(f"{file.location}: {lock_path} says sha256 {committed}, but {record_path} recorded {recorded} "
                       f"at its first download: remove that entry from {record_path} if the committed lock is right")
    locks = [(committed, LOCK_FILE), (recorded, f"{record_path}, recorded at its first download")]
    digest: dict[str, str] = {}
    stamped = _stamped_digest(root, file)
    if dest.exists() and not (committed or recorded or stamped or file.sha256):
        log.warning("%s exists, but nothing ties it to %s: fetching it again", dest, file.location)
        _remove(dest)
    elif dest.exists():
        try:
            digest["sha256"] = verify(file, dest, [*locks, (stamped, "its last verified download"),
                                                   (file.sha256, "the pin")])
            log.info("%s is present and verified", dest)
        except (OSError, ValueError) as exc:  # ChecksumError, NotACheckpointError (an unsafe pickle is kept)
            log.warning("%s failed verification (%s): fetching it again", dest, exc)
            _remove(dest)
    expected = [*locks, (file.sha256, "the pin")]
    if "sha256" not in digest:
        if file.location.startswith(HUB_SCHEME):
            got = _fetch_hub(file, root, endpoint)
            try:
                digest["sha256"] = verify(file, got, expected)
            except BaseException:
                _remove(got)
                raise
        else:
            download_first((file.location, *file.mirrors), dest, retries=retries, progress=progress,
                           check=lambda part: digest.__setitem__("sha256", verify(file, part, expected)))
    if committed is None and recorded is None:
        target = record_path or lock_path
        record_digest(target, file.location, digest["sha256"])
        log.info("recorded sha256 %s for %s in %s", digest["sha256"], file.location, target)
    if file.unpack:
        unpack(dest, file.unpack, root / unpacked_path(file), digest["sha256"])
    _write_stamp(root, file, digest["sha256"])
    return dest
