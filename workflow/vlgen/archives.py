"""Archives of pinned weights (a TF-Hub SavedModel is a .tar.gz): checked whole, unpacked atomically.

Why each step:
- `check_archive` reads every member through tarfile's "data" filter before the archive counts as
  verified: a truncated archive, an absolute path, a `..`, a link out of the folder or a device file
  is refused then, so such an archive is deleted and its digest never recorded.
- `unpack` extracts into a staging folder next to the target (the same filter again), writes the
  marker LAST inside it, and renames the staging folder into place: a killed job leaves only a
  staging folder, never a target that looks complete. The marker names the archive's sha256, so an
  unpacked folder is reused only for the very bytes it came from.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

# Archive kind (the pin's `unpack`) -> tarfile read mode; the archive's file name ends with ".<kind>".
ARCHIVE_MODES = {"tar.gz": "r:gz"}
MARKER = ".vlgen-unpacked.json"


class ArchiveError(ValueError):
    """An archive that cannot be unpacked safely; the message names the archive and the member."""


def unpacked_dir(archive: str, kind: str) -> str:
    """Where an archive is unpacked: its own path without the `.<kind>` suffix."""
    suffix = f".{kind}"
    if not archive.endswith(suffix) or archive == suffix:
        raise ArchiveError(f"{archive}: an archive of kind {kind!r} must be named <name>{suffix}")
    return archive.removesuffix(suffix)


def _mode(kind: str) -> str:
    try:
        return ARCHIVE_MODES[kind]
    except KeyError:
        raise ArchiveError(f"unknown archive kind {kind!r} (known: {', '.join(ARCHIVE_MODES)})") from None


def check_archive(path: Path, kind: str, name: str) -> None:
    """Read every member of the archive at `path` (called `name` in errors) through the "data" filter."""
    try:
        with tarfile.open(path, _mode(kind)) as tar:
            members = tar.getmembers()
            if not members:
                raise ArchiveError(f"{name}: the archive is empty")
            for member in members:
                # the filter raises on `..`, links out of the folder and devices; it would strip a leading
                # "/" silently, but an archive with an absolute path is refused whole
                if tarfile.data_filter(member, "/unpacked").name != member.name:
                    raise ArchiveError(f"{name}: member {member.name!r} has an absolute path")
    except (tarfile.TarError, EOFError, OSError) as exc:  # FilterError, ReadError, a truncated stream
        raise ArchiveError(f"{name}: not a safe, complete {kind} archive: {exc}") from exc


def is_unpacked(target: Path, sha256: str) -> bool:
    """Whether `target` holds the unpacked archive whose sha256 is `sha256` (its marker says so)."""
    try:
        return json.loads((target / MARKER).read_text()).get("sha256") == sha256
    except (OSError, ValueError):
        return False


def unpack(archive: Path, kind: str, target: Path, sha256: str) -> Path:
    """Unpack `archive` (sha256 `sha256`) into `target` atomically; a matching unpacked folder is kept."""
    if is_unpacked(target, sha256):
        return target
    staging = target.with_name(f".{target.name}.unpacking-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive, _mode(kind)) as tar:
            tar.extractall(staging, filter="data")
        (staging / MARKER).write_text(json.dumps({"archive": archive.name, "sha256": sha256}))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"{archive}: cannot unpack safely into {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
