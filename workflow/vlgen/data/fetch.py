"""Datasets that are downloaded: fetch the catalog's pinned files, unpack archives, write the marker.

A catalog entry names its files with their digests (`files: {name: {md5: ...}}`, part of the key:
they identify the data) and where to get them (`mirrors`: URL templates with `{file}`, tried in
order; not in the key, so moving to another mirror reruns nothing). `prepare`:
1. downloads each file to `root/<name>` with vlgen.download (atomic, retried, verified); a file
   already there with the right digest is kept, so a copy the user placed by hand is used as is;
2. unpacks each `.tar`, `.tar.gz`, `.tgz` archive into a staging folder under root, then moves its
   top-level entries into root (replacing a half-unpacked leftover);
3. writes the marker `prepared.json` LAST (atomically). The workflow's prepare_dataset rule waits
   for that file, so a killed job never looks prepared.
Status: 'verified' (the marker records exactly the spec's files and every file the reader needs is
there), 'present' (the files are there but were not verified by `prepare`), 'missing'.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from abc import abstractmethod
from pathlib import Path
from typing import Any

from vlgen.data.registry import Reader
from vlgen.download import DownloadError, download_first, file_digest

MARKER = "prepared.json"
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def is_archive(name: str) -> bool:
    return name.endswith(ARCHIVE_SUFFIXES)


def urls(spec: dict[str, Any], name: str) -> list[str]:
    """Every mirror's URL for file `name`, in the catalog's order."""
    return [mirror.format(file=name) for mirror in spec.get("mirrors", [])]


def fetch(spec: dict[str, Any], name: str, root: Path, progress: bool = True) -> Path:
    """`root/name` with its pinned digests, from the first mirror that serves it."""
    digests = spec["files"][name]
    dest = root / name
    if dest.is_file() and all(file_digest(dest, algorithm) == value for algorithm, value in digests.items()):
        return dest  # already verified here (a previous download, or a copy placed by hand)
    try:
        return download_first(urls(spec, name), dest, md5=digests.get("md5"), sha256=digests.get("sha256"),
                              progress=progress)
    except DownloadError as exc:
        raise DownloadError(f"{exc}. Put a copy with the pinned digest ({digests}) at {dest} or add a mirror.") from exc


def unpack(archive: Path, root: Path) -> list[str]:
    """Extract `archive` into root via a staging folder; returns the top-level names it made."""
    staging = root / f".{archive.name}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")  # "data": no absolute paths, links out of root, devices
    names = sorted(p.name for p in staging.iterdir())
    for name in names:
        target = root / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        (staging / name).rename(target)
    staging.rmdir()
    return names


def read_marker(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None


def write_marker(root: Path, content: dict[str, Any]) -> None:
    part = root / f".{MARKER}.part"
    part.write_text(json.dumps(content, sort_keys=True, indent=2) + "\n")
    os.replace(part, root / MARKER)


class DownloadedReader(Reader):
    """A reader whose data `prepare` downloads from the catalog's pinned files (see module doc)."""

    marker = MARKER

    @abstractmethod
    def needed(self, spec: dict[str, Any], root: Path) -> list[Path]:
        """The files and folders that `load` reads."""

    def missing(self, spec: dict[str, Any], root: Path) -> list[Path]:
        return [path for path in self.needed(spec, root) if not path.exists()]

    def check_present(self, spec: dict[str, Any], root: Path) -> None:
        """Raise FileNotFoundError naming every file `load` needs and cannot find."""
        absent = self.missing(spec, root)
        if absent:
            raise FileNotFoundError(
                f"{self.name}: missing {', '.join(map(str, absent))}; run the workflow's prepare_dataset rule "
                f"(or `vlgen prepare-dataset`) to download the dataset into {root}")

    def status(self, spec: dict[str, Any], root: Path) -> str:
        if self.missing(spec, root):
            return "missing"
        marker = read_marker(root)
        verified = marker is not None and marker.get("complete") is True and marker.get("files") == spec.get("files")
        return "verified" if verified else "present"

    def prepare(self, spec: dict[str, Any], root: Path, progress: bool = True) -> None:
        if self.status(spec, root) == "verified":
            return
        root.mkdir(parents=True, exist_ok=True)
        (root / MARKER).unlink(missing_ok=True)
        unpacked: dict[str, list[str]] = {}
        for name in spec.get("files", {}):
            path = fetch(spec, name, root, progress)
            if is_archive(name):
                unpacked[name] = unpack(path, root)
        self.check_present(spec, root)
        write_marker(root, {"complete": True, "reader": self.name, "files": spec.get("files"), "unpacked": unpacked})
