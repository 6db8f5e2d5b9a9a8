"""The content-addressed feature store.

Layout under the store root::

    features/{key}/features.zarr     float32 features [N, D] (row chunks, zstd), labels, sample_ids
    features/{key}.json              the manifest downstream rules depend on
    features/.{key}.partial/         an extraction in progress (never read as a result)

An entry is written into its `.partial` sibling, whole chunks at a time, with `rows_written`
updated after each chunk, so a killed job resumes from its last whole chunk. On finish, the
sha256 of every chunk file is recorded, `complete: true` is written last, and the directory is
renamed into place: an entry that is not complete can never be mistaken for one that is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from vlgen.keys import canonical_json, content_key

CHUNK_BYTES = 8 * 2**20
ZARR_NAME = "features.zarr"
ARRAYS = ("features", "labels", "sample_ids")
FORMAT_VERSION = 1
# zstd level 1: on float features it packs within a few per cent of level 3 (the mantissa bits are
# noise to any level) at 1.5-2.5x the speed; see benchmarks/store.py.
ZSTD_LEVEL = 1
# Attributes the store sets itself; a caller's extra attrs may not override them.
RESERVED_ATTRS = frozenset({"format_version", "payload_key", "n", "dim", "chunk_rows", "rows_written",
                            "complete", "payload", "chunk_sha256", "resumed_from_row", "created",
                            "write_seconds", "versions"})


class StoreError(RuntimeError):
    """A store entry is missing, incomplete or inconsistent."""


def chunk_rows(dim: int) -> int:
    """Rows per chunk: about 8 MiB of float32, a function of the width only so layouts are stable."""
    return max(1, CHUNK_BYTES // (4 * max(1, dim)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(2**22), b""):
            digest.update(block)
    return digest.hexdigest()


def _data_files(group_dir: Path) -> dict[str, Path]:
    """Every file of the arrays (chunks and array metadata); the group's own zarr.json holds attrs."""
    files = {}
    for name in ARRAYS:
        array_dir = group_dir / name
        if array_dir.is_dir():
            for path in sorted(array_dir.rglob("*")):
                if path.is_file():
                    files[path.relative_to(group_dir).as_posix()] = path
    return files


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@dataclass
class Entry:
    """A complete store entry, opened for reading; `features` stays on disk until indexed."""

    key: str
    features: zarr.Array
    labels: np.ndarray
    sample_ids: np.ndarray
    attrs: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        return self.attrs["payload"]

    def load_features(self) -> np.ndarray:
        return np.asarray(self.features[:], dtype=np.float32)


class FeatureStore:
    """A directory of feature entries named by their content key."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.features_dir = self.root / "features"

    # -- paths ---------------------------------------------------------------------------------
    def entry_dir(self, key: str) -> Path:
        return self.features_dir / key

    def zarr_path(self, key: str) -> Path:
        return self.entry_dir(key) / ZARR_NAME

    def partial_dir(self, key: str) -> Path:
        return self.features_dir / f".{key}.partial"

    def manifest_path(self, key: str) -> Path:
        return self.features_dir / f"{key}.json"

    # -- reading -------------------------------------------------------------------------------
    def attrs(self, key: str) -> dict[str, Any] | None:
        """The entry's attributes, or None when there is no finished entry directory."""
        meta = self.zarr_path(key) / "zarr.json"
        if not meta.is_file():
            return None
        return json.loads(meta.read_text()).get("attributes", {})

    def is_complete(self, key: str) -> bool:
        attrs = self.attrs(key)
        return bool(attrs and attrs.get("complete") is True)

    def open(self, key: str) -> Entry:
        if not self.is_complete(key):
            raise StoreError(f"store entry {key} under {self.features_dir} is missing or incomplete; "
                             "rerun its extraction")
        group = zarr.open_group(self.zarr_path(key), mode="r")
        return Entry(key=key, features=group["features"], labels=np.asarray(group["labels"][:]),
                     sample_ids=np.asarray(group["sample_ids"][:]), attrs=dict(group.attrs))

    def keys(self) -> list[str]:
        """Keys of every entry directory, complete or not, plus interrupted partial writes."""
        if not self.features_dir.is_dir():
            return []
        found = set()
        for path in self.features_dir.iterdir():
            if path.is_dir():
                name = path.name
                if name.startswith(".") and name.endswith(".partial"):
                    name = name[1:-len(".partial")]
                found.add(name)
        return sorted(found)

    # -- writing -------------------------------------------------------------------------------
    def writer(self, payload: dict[str, Any], labels: Sequence[int], sample_ids: Sequence[str], dim: int,
               attrs: dict[str, Any] | None = None) -> FeatureWriter:
        """Start (or resume) writing the entry for `payload`; see FeatureWriter."""
        return FeatureWriter(self, payload, np.asarray(labels, dtype=np.int64), [str(s) for s in sample_ids],
                             int(dim), attrs or {})

    def write_manifest(self, key: str) -> Path:
        """(Re)write the small JSON that downstream rules depend on, from the entry itself."""
        attrs = self.attrs(key)
        if not attrs or attrs.get("complete") is not True:
            raise StoreError(f"cannot write a manifest for incomplete entry {key}")
        manifest = {"key": key, "complete": True, "n": attrs["n"], "dim": attrs["dim"],
                    "payload": attrs["payload"], "path": str(self.zarr_path(key)),
                    "created": attrs.get("created")}
        path = self.manifest_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(path, manifest)
        return path

    def remove(self, key: str) -> None:
        for path in (self.entry_dir(key), self.partial_dir(key)):
            if path.exists():
                shutil.rmtree(path)
        self.manifest_path(key).unlink(missing_ok=True)

    # -- checking ------------------------------------------------------------------------------
    def verify(self, key: str) -> list[str]:
        """Problems with one entry: incomplete, missing or altered chunk files, NaN/inf values."""
        problems = []
        if self.partial_dir(key).exists() and not self.entry_dir(key).exists():
            return ["incomplete: an interrupted write (rerun the extraction to resume it)"]
        attrs = self.attrs(key)
        if attrs is None:
            return ["missing: no entry directory"]
        if attrs.get("complete") is not True:
            return ["incomplete: `complete` is not set"]
        group_dir = self.zarr_path(key)
        recorded: dict[str, str] = attrs.get("chunk_sha256", {})
        present = _data_files(group_dir)
        for rel in sorted(set(recorded) - set(present)):
            problems.append(f"missing file: {rel}")
        for rel in sorted(set(present) - set(recorded)):
            problems.append(f"unexpected file: {rel}")
        for rel in sorted(set(recorded) & set(present)):
            if _sha256(present[rel]) != recorded[rel]:
                problems.append(f"corrupt file: {rel} (sha256 differs from the one recorded at write time)")
        if problems:
            return problems
        group = zarr.open_group(group_dir, mode="r")
        features = group["features"]
        if features.shape != (attrs["n"], attrs["dim"]):
            problems.append(f"shape {features.shape} differs from recorded ({attrs['n']}, {attrs['dim']})")
        step = features.chunks[0]
        for start in range(0, features.shape[0], step):
            block = features[start:start + step]
            bad = ~np.isfinite(block)
            if bad.any():
                row = start + int(np.argwhere(bad)[0][0])
                problems.append(f"non-finite values: {int(bad.sum())} in rows {start}..{start + len(block) - 1} "
                                f"(first at row {row})")
        return problems


class FeatureWriter:
    """Writes one entry chunk by chunk; resumes an interrupted write of the same payload.

    `rows_done` says where to continue: a caller skips that many samples, then `append`s batches
    of any size. Rows are copied into a chunk-sized buffer (so a caller may reuse its batch array)
    and each chunk is written as soon as it is whole (misaligned writes are much slower), then
    `rows_written` is recorded: when `append` returns, every whole chunk is on disk and counted,
    so a job that dies at any moment (killed, or an exception in the caller) resumes from its last
    whole chunk. The last chunk is short (it ends at row n) and is written when its last row
    arrives. `finish` publishes the entry; `close` (or a `with` block) stops without publishing.
    """

    def __init__(self, store: FeatureStore, payload: dict[str, Any], labels: np.ndarray,
                 sample_ids: list[str], dim: int, attrs: dict[str, Any]):
        if len(labels) != len(sample_ids):
            raise ValueError(f"{len(labels)} labels but {len(sample_ids)} sample ids")
        reserved = sorted(set(attrs) & RESERVED_ATTRS)
        if reserved:
            raise ValueError(f"attrs {reserved} are set by the store itself")
        self.store = store
        # Stored as the plain values the key was computed from (numpy scalars and arrays would not
        # go into JSON attributes; found out in `finish`, after all the work): content_key(stored) == key.
        self.payload = json.loads(canonical_json(payload))
        self.key = content_key(self.payload)
        self.n = len(labels)
        self.dim = dim
        self.chunk_rows = chunk_rows(dim)
        self.extra_attrs = json.loads(canonical_json(attrs))  # plain JSON now, not a failure in `finish`
        self.partial = store.partial_dir(self.key)
        self.group_dir = self.partial / ZARR_NAME
        self.started = time.time()
        self.rows_done = self._resume_point(labels, sample_ids)
        self.resumed_from_row = self.rows_done
        # Every chunk is written, even one equal to the fill value: zarr would otherwise compare each
        # chunk with NaN first (~15% of the write time), and a missing file would not always be an error.
        self._features = self.group["features"].with_config({"write_empty_chunks": True})
        self._rows_written = self.rows_done  # rows in whole chunks on disk (the `rows_written` attr)
        self._chunk: np.ndarray | None = None  # the chunk being filled, and how many rows it has
        self._filled = 0
        self._closed = False

    def __enter__(self) -> FeatureWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def _resume_point(self, labels: np.ndarray, sample_ids: list[str]) -> int:
        if self.group_dir.is_dir():
            try:
                group = zarr.open_group(self.group_dir, mode="r+")
                attrs = dict(group.attrs)
                same = (attrs.get("format_version") == FORMAT_VERSION and attrs.get("payload_key") == self.key
                        and attrs.get("n") == self.n and attrs.get("dim") == self.dim
                        and attrs.get("chunk_rows") == self.chunk_rows
                        and group["features"].shape == (self.n, self.dim)
                        and np.array_equal(group["labels"][:], labels)
                        and list(group["sample_ids"][:]) == sample_ids)
                if same:
                    self.group = group
                    done = min(int(attrs.get("rows_written", 0)), self.n)
                    # Only whole chunks count (or all rows): anything else is redone.
                    return done if done == self.n else done - done % self.chunk_rows
            except Exception:  # noqa: BLE001 - unreadable leftovers of a killed job: start over below
                pass
            shutil.rmtree(self.partial)
        self.partial.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(self.group_dir, mode="w")
        compressor = ZstdCodec(level=ZSTD_LEVEL)
        group.create_array("features", shape=(self.n, self.dim), chunks=(self.chunk_rows, self.dim),
                           dtype="float32", compressors=compressor, fill_value=np.nan)
        group.create_array("labels", shape=(self.n,), chunks=(max(1, self.n),), dtype="int64",
                           compressors=compressor)[:] = labels
        group.create_array("sample_ids", shape=(self.n,), chunks=(max(1, self.n),), dtype=str,
                           compressors=compressor)[:] = np.asarray(sample_ids, dtype=object)
        group.attrs.update({"format_version": FORMAT_VERSION, "payload_key": self.key, "n": self.n,
                            "dim": self.dim, "chunk_rows": self.chunk_rows, "rows_written": 0,
                            "complete": False})
        self.group = group
        return 0

    def append(self, batch: np.ndarray) -> None:
        if self._closed:
            raise StoreError(f"entry {self.key}: writer already finished or closed")
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 2 or batch.shape[1] != self.dim:
            raise ValueError(f"batch of shape {batch.shape}; expected (rows, {self.dim})")
        if self._rows_written + self._filled + len(batch) > self.n:
            raise ValueError(f"more rows than the {self.n} declared for entry {self.key} "
                             f"({self._rows_written + self._filled} already given, {len(batch)} more)")
        pos = 0
        while pos < len(batch):
            if self._chunk is None:
                self._chunk = np.empty((min(self.chunk_rows, self.n - self._rows_written), self.dim), np.float32)
                self._filled = 0
            take = min(len(batch) - pos, len(self._chunk) - self._filled)
            self._chunk[self._filled:self._filled + take] = batch[pos:pos + take]
            self._filled += take
            pos += take
            if self._filled == len(self._chunk):
                self._write_chunk()

    def _write_chunk(self) -> None:
        chunk, start = self._chunk, self._rows_written
        self._features[start:start + len(chunk)] = chunk
        self._chunk, self._filled = None, 0
        self._rows_written = start + len(chunk)
        # Recorded only after the chunk is on disk: a kill in between rewrites that chunk.
        self.group.attrs["rows_written"] = self._rows_written

    def close(self) -> None:
        """Stop without publishing; a later writer for the same payload resumes after the whole
        chunks written so far (rows short of a whole chunk are dropped). Idempotent."""
        self._closed = True
        self._chunk, self._filled = None, 0

    def finish(self) -> Path:
        """Record digests and provenance, mark complete, publish atomically."""
        if self._closed:
            raise StoreError(f"entry {self.key}: writer already finished or closed")
        if self._rows_written != self.n:
            given = self._rows_written + self._filled
            self.close()
            raise StoreError(f"entry {self.key}: {given} of {self.n} rows given; {self._rows_written} written "
                             "(a rerun resumes from there)")
        self._closed = True
        # Temporary files of a chunk write that a killed job left behind (zarr writes to a temporary
        # name, then renames): no write is live now, and they are no part of the entry.
        for path in self.group_dir.rglob("*.partial"):
            if path.is_file():
                path.unlink()
        digests = {rel: _sha256(path) for rel, path in _data_files(self.group_dir).items()}
        self.group.attrs.update({
            **self.extra_attrs,
            "payload": self.payload,
            "chunk_sha256": digests,
            "resumed_from_row": self.resumed_from_row,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "write_seconds": round(time.time() - self.started, 3),
            "versions": library_versions(),
        })
        self.group.attrs["complete"] = True  # last: nothing before this reads as a result
        final = self.store.entry_dir(self.key)
        if final.exists():  # an incomplete or corrupt leftover under the final name
            shutil.rmtree(final)
        os.replace(self.partial, final)
        self.store.write_manifest(self.key)
        return final


# The libraries whose versions can change the numbers (distribution names), recorded in every entry.
VERSIONED = ("torch", "torchvision", "timm", "open_clip_torch", "transformers", "pillow", "numpy")


def library_versions() -> dict[str, str | None]:
    """Installed versions of VERSIONED, imported or not (package metadata only); None: not installed."""
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def version_differences(recorded: dict[str, Any] | None, installed: dict[str, str | None]) -> list[str]:
    """`name recorded (installed: other)` for each library whose version differs from the installed one."""
    if not recorded:
        return ["no library versions recorded"]
    return [f"{name} {recorded.get(name, 'unrecorded')} (installed: {version})"
            for name, version in installed.items() if recorded.get(name, "unrecorded") != version]
