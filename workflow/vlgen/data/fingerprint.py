"""A stat-only fingerprint of a folder the user provides (ImageNet), for its feature keys.

Such data has no published digest to pin, and hashing 6 GB at DAG time is out of the question; the
sorted relative paths and sizes of every file catch a different copy (a missing, added, renamed or
truncated file) for the price of one `stat` per file. A missing folder fingerprints as `absent`, so a
dry run works before the data is there; the extraction compares the live fingerprint with its key's.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ABSENT = "absent"
FINGERPRINT_FIELD = "fingerprint"  # where a dataset key payload holds it


class StaleDataError(RuntimeError):
    """The data folder is not the one the key was computed from."""


def _walk(folder: Path, prefix: str = "") -> list[tuple[str, int]]:
    """(relative path, size) of every file below `folder`, following links like the readers do."""
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            if entry.is_dir():
                found += _walk(Path(entry.path), f"{rel}/")
            elif entry.is_file():
                found.append((rel, entry.stat().st_size))
    return found


def tree_fingerprint(folder: str | Path) -> str:
    """sha256 of the sorted `path<TAB>size` lines of every file below `folder`; `absent` without it."""
    folder = Path(folder)
    if not folder.is_dir():
        return ABSENT
    digest = hashlib.sha256()
    for rel, size in sorted(_walk(folder)):
        digest.update(f"{rel}\t{size}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def check_fingerprint(dataset: dict, root: str | Path) -> None:
    """Refuse data that changed since its key was computed (only payloads with a fingerprint)."""
    expected = dataset.get(FINGERPRINT_FIELD)
    if expected is None:
        return
    live = tree_fingerprint(root)
    if live != expected:
        raise StaleDataError(
            f"dataset folder {root} is not the copy this key was computed from (fingerprint {expected[:16]} "
            f"in the key, {live[:16]} now): run Snakemake again, so that the features get the new copy's key")
