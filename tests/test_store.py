"""The content-addressed feature store (vlgen.store): round trips, crash safety, resume, verify."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from vlgen.keys import content_key
from vlgen.store import ARRAYS, ZARR_NAME, FeatureStore, StoreError, chunk_rows
from helpers.imports import heavy_imports

PAYLOAD = {"model": {"source": "timm", "name": "resnet18", "layer": "global_pool"},
           "preprocess": {"size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
           "dataset": {"name": "synthetic", "split": "test"}, "extractor_version": 1}


def make(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, dim), dtype=np.float32), rng.integers(0, 10, n),
            [f"img/{i:05d}.png" for i in range(n)])


def feed(writer, x: np.ndarray, sizes) -> None:
    """Append rows writer.rows_done.. of x in batches of the given sizes (cycled)."""
    start, i = writer.rows_done, 0
    while start < len(x):
        size = sizes[i % len(sizes)]
        writer.append(x[start:start + size])
        start += size
        i += 1


def tree(group_dir: Path) -> dict[str, bytes]:
    """Every file of the arrays (chunks and array metadata), by path relative to the group."""
    out = {}
    for name in ARRAYS:
        for path in sorted((group_dir / name).rglob("*")):
            if path.is_file():
                out[path.relative_to(group_dir).as_posix()] = path.read_bytes()
    return out


def partial_attrs(store: FeatureStore, key: str) -> dict:
    return json.loads((store.partial_dir(key) / ZARR_NAME / "zarr.json").read_text())["attributes"]


def write(store: FeatureStore, x, labels, ids, payload=PAYLOAD, sizes=(300,)) -> str:
    w = store.writer(payload, labels, ids, x.shape[1])
    assert w.rows_done == 0
    feed(w, x, list(sizes))
    w.finish()
    return w.key


def test_chunk_rows_is_about_8_mib_of_float32_and_depends_on_width_only():
    assert chunk_rows(2048) == 1024
    assert chunk_rows(512) == 4096
    assert chunk_rows(3000) == 8 * 2**20 // 12000 == 699
    assert chunk_rows(2**22) == 1  # never zero


# -- round trips -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n, dim, sizes", [
    (2500, 2048, [1, 700, 1023, 13, 763]),  # N not a multiple of the 1024-row chunks; uneven batches
    (37, 64, [5, 32]),  # smaller than one chunk (32768 rows)
    (2048, 2048, [2048]),  # exactly two chunks in one append
    (1500, 3000, [699, 1, 800]),  # 699-row chunks; batches straddle chunk boundaries
    (3, 2048, [1]),
    (0, 16, [1]),  # an empty split
])
def test_round_trip(tmp_path, n, dim, sizes):
    store = FeatureStore(tmp_path / "store")
    x, labels, ids = make(n, dim, seed=n)
    w = store.writer(PAYLOAD, labels, ids, dim, attrs={"device": "cpu", "batch_note": "x"})
    key = w.key
    assert key == content_key(PAYLOAD) and w.rows_done == 0
    feed(w, x, sizes)
    assert not store.is_complete(key) and store.attrs(key) is None
    assert not store.manifest_path(key).exists()
    with pytest.raises(StoreError):
        store.open(key)
    final = w.finish()

    assert final == store.entry_dir(key) and store.is_complete(key)
    assert not store.partial_dir(key).exists()
    entry = store.open(key)
    got = entry.load_features()
    assert got.dtype == np.float32 and got.shape == (n, dim)
    assert np.array_equal(got, x)
    assert np.array_equal(entry.labels, labels) and entry.labels.dtype == np.int64
    assert [str(s) for s in entry.sample_ids] == ids
    assert entry.features.chunks == (chunk_rows(dim), dim)

    attrs = entry.attrs
    assert attrs["payload"] == PAYLOAD and entry.payload == PAYLOAD
    assert (attrs["n"], attrs["dim"], attrs["rows_written"]) == (n, dim, n)
    assert attrs["complete"] is True and attrs["resumed_from_row"] == 0
    assert attrs["device"] == "cpu" and attrs["batch_note"] == "x"
    assert attrs["versions"]["numpy"] == np.__version__
    n_chunks = -(-n // chunk_rows(dim))
    digests = attrs["chunk_sha256"]
    assert sorted(k for k in digests if k.startswith("features/c/")) == \
        sorted(f"features/c/{i}/0" for i in range(n_chunks))
    files = tree(store.zarr_path(key))
    assert set(digests) == set(files)
    assert all(hashlib.sha256(files[rel]).hexdigest() == digests[rel] for rel in files)

    manifest = json.loads(store.manifest_path(key).read_text())
    assert manifest == {"key": key, "complete": True, "n": n, "dim": dim, "payload": PAYLOAD,
                        "path": str(store.zarr_path(key)), "created": attrs["created"]}
    assert store.keys() == [key]
    assert store.verify(key) == []


def test_numpy_payload_and_batches_of_other_dtypes(tmp_path):
    store = FeatureStore(tmp_path)
    x, labels, ids = make(100, 16)
    payload = {"mean": np.array([0.5, 0.25], dtype=np.float32), "n": np.int64(3)}
    w = store.writer(payload, list(labels), ids, 16)
    w.append(x[:40].astype(np.float64))  # converted to float32
    w.append(x[40:].tolist())
    w.finish()
    assert w.key == content_key({"mean": [0.5, 0.25], "n": 3})
    assert np.array_equal(store.open(w.key).load_features(), x)
    stored = store.attrs(w.key)["payload"]
    assert stored == {"mean": [0.5, 0.25], "n": 3} and content_key(stored) == w.key
    assert json.loads(store.manifest_path(w.key).read_text())["payload"] == stored


def test_extra_attrs_must_be_plain_json_before_any_work(tmp_path):
    store = FeatureStore(tmp_path)
    _, labels, ids = make(10, 8)
    w = store.writer(PAYLOAD, labels, ids, 8, attrs={"seconds": np.float32(1.5), "shape": np.array([2, 3])})
    assert w.extra_attrs == {"seconds": 1.5, "shape": [2, 3]}
    with pytest.raises(TypeError, match="object at device"):
        store.writer(PAYLOAD, labels, ids, 8, attrs={"device": object()})


def test_caller_may_reuse_its_batch_buffer(tmp_path):
    store = FeatureStore(tmp_path)
    x, labels, ids = make(3000, 2048)
    buf = np.empty((100, 2048), np.float32)
    w = store.writer(PAYLOAD, labels, ids, 2048)
    for start in range(0, 3000, 100):
        buf[:] = x[start:start + 100]
        w.append(buf)
        buf[:] = -1  # overwritten while earlier rows may still be waiting to be written
    w.finish()
    assert np.array_equal(store.open(w.key).load_features(), x)


def test_writer_refuses_bad_input(tmp_path):
    store = FeatureStore(tmp_path)
    x, labels, ids = make(10, 8)
    with pytest.raises(ValueError, match="labels but"):
        store.writer(PAYLOAD, labels, ids[:-1], 8)
    with pytest.raises(ValueError, match="set by the store"):
        store.writer(PAYLOAD, labels, ids, 8, attrs={"complete": True})
    w = store.writer(PAYLOAD, labels, ids, 8)
    with pytest.raises(ValueError, match="expected"):
        w.append(x[:, :7])
    with pytest.raises(ValueError, match="expected"):
        w.append(x[0])
    w.append(x[:6])
    with pytest.raises(ValueError, match="more rows than the 10 declared"):
        w.append(x[:5])
    w.append(x[6:])  # the refused batch left nothing behind
    w.finish()
    assert np.array_equal(store.open(w.key).load_features(), x)


def test_finish_with_missing_rows_publishes_nothing_and_keeps_whole_chunks(tmp_path):
    store = FeatureStore(tmp_path)
    x, labels, ids = make(3000, 2048)
    w = store.writer(PAYLOAD, labels, ids, 2048)
    w.append(x[:1500])
    with pytest.raises(StoreError, match="1500 of 3000 rows"):
        w.finish()
    assert not store.is_complete(w.key) and not store.manifest_path(w.key).exists()
    assert partial_attrs(store, w.key)["rows_written"] == 1024  # a whole chunk, not 1500
    again = store.writer(PAYLOAD, labels, ids, 2048)
    assert again.rows_done == 1024
    feed(again, x, [500])
    again.finish()
    assert store.attrs(w.key)["resumed_from_row"] == 1024
    assert np.array_equal(store.open(w.key).load_features(), x)


def test_missing_entries(tmp_path):
    store = FeatureStore(tmp_path)
    key = content_key(PAYLOAD)
    assert store.keys() == [] and not store.is_complete(key) and store.attrs(key) is None
    with pytest.raises(StoreError, match="missing or incomplete"):
        store.open(key)
    assert store.verify(key) == ["missing: no entry directory"]
    with pytest.raises(StoreError):
        store.write_manifest(key)


def test_remove(tmp_path):
    store = FeatureStore(tmp_path)
    x, labels, ids = make(10, 8)
    key = write(store, x, labels, ids)
    other = store.writer({"other": 1}, labels, ids, 8)
    other.close()
    assert store.keys() == sorted([key, other.key])
    store.remove(key)
    store.remove(other.key)
    assert store.keys() == [] and not store.manifest_path(key).exists()
    assert list(store.features_dir.iterdir()) == []


# -- crash safety and resume -----------------------------------------------------------------------
SLOW_WRITER = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from vlgen.store import FeatureStore

    root, data, meta = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    x = np.load(data)
    w = FeatureStore(root).writer(meta["payload"], meta["labels"], meta["ids"], x.shape[1])
    for start in range(w.rows_done, len(x), meta["batch"]):
        w.append(x[start:start + meta["batch"]])
        time.sleep(meta["pause"])
    w.finish()
    print("finished")
""")


def test_killed_write_is_never_complete_and_resumes_byte_identically(tmp_path):
    n, dim = 4 * 1024 + 300, 2048  # 4 whole chunks of 1024 rows and a short one
    x, labels, ids = make(n, dim, seed=7)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "slow_writer.py").write_text(SLOW_WRITER)
    store = FeatureStore(tmp_path / "store")
    key = content_key(PAYLOAD)
    meta = {"payload": PAYLOAD, "labels": labels.tolist(), "ids": ids, "batch": 128, "pause": 0.03}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "slow_writer.py"), str(store.root),
                             str(tmp_path / "x.npy"), json.dumps(meta)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                seen = partial_attrs(store, key).get("rows_written", 0)
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                seen = 0
            if seen > 0:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if proc.poll() is None and seen == 0:
            proc.kill()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, out, err)
    assert 0 < seen < n

    # Nothing reads as complete.
    assert not store.is_complete(key) and store.attrs(key) is None
    assert not store.manifest_path(key).exists()
    assert not store.entry_dir(key).exists()
    with pytest.raises(StoreError):
        store.open(key)
    assert store.verify(key) == ["incomplete: an interrupted write (rerun the extraction to resume it)"]
    assert store.keys() == [key]
    left = partial_attrs(store, key)
    assert left["complete"] is False and "chunk_sha256" not in left

    # Resume from the last whole chunk, fed only the remaining rows.
    w = store.writer(PAYLOAD, labels, ids, dim)
    assert w.rows_done == left["rows_written"] >= seen
    assert 0 < w.rows_done < n and w.rows_done % 1024 == 0
    with pytest.raises(ValueError, match="more rows than"):
        w.append(x)  # all rows again: more than declared
    with pytest.raises(ValueError, match="more rows than"):
        w.append(x[w.rows_done - 1:])  # one row too many
    feed(w, x, [333, 50, 1024])
    w.finish()
    attrs = store.attrs(key)
    assert attrs["complete"] is True and attrs["resumed_from_row"] == w.rows_done > 0
    assert np.array_equal(store.open(key).load_features(), x)
    assert store.verify(key) == []
    assert not store.partial_dir(key).exists() and store.manifest_path(key).exists()

    # Byte-identical to an uninterrupted write of the same data (in other batch sizes).
    ref = FeatureStore(tmp_path / "ref")
    assert write(ref, x, labels, ids, sizes=[1000]) == key
    resumed, clean = tree(store.zarr_path(key)), tree(ref.zarr_path(key))
    assert sorted(resumed) == sorted(clean)
    assert len([rel for rel in clean if rel.startswith("features/c/")]) == 5
    for rel in clean:
        assert resumed[rel] == clean[rel], rel
    assert attrs["chunk_sha256"] == ref.attrs(key)["chunk_sha256"]


def _interrupted(store: FeatureStore, x, labels, ids, rows: int, payload=PAYLOAD) -> str:
    """A partial write of `rows` rows, stopped (close) as a killed job would leave it."""
    w = store.writer(payload, labels, ids, x.shape[1])
    w.append(x[:rows])
    w.close()
    assert not store.is_complete(w.key)
    return w.key


def test_every_whole_chunk_is_on_disk_and_counted_when_append_returns(tmp_path):
    x, labels, ids = make(3500, 2048)
    store = FeatureStore(tmp_path)
    w = store.writer(PAYLOAD, labels, ids, 2048)
    chunks = store.partial_dir(w.key) / ZARR_NAME / "features" / "c"
    given = 0
    for size in [100, 900, 24, 1, 1500, 575, 400]:
        w.append(x[given:given + size])
        given += size
        whole = given if given == 3500 else given - given % 1024
        assert partial_attrs(store, w.key)["rows_written"] == whole, given
        on_disk = sorted(int(p.name) for p in chunks.iterdir()) if chunks.exists() else []
        assert on_disk == list(range(-(-whole // 1024))), given
    assert given == 3500


def test_resume_point_is_rounded_down_to_a_whole_chunk(tmp_path):
    x, labels, ids = make(3000, 2048)
    store = FeatureStore(tmp_path)
    key = _interrupted(store, x, labels, ids, 2048)
    meta_path = store.partial_dir(key) / ZARR_NAME / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["attributes"]["rows_written"] = 1500  # as an older writer could leave it
    meta_path.write_text(json.dumps(meta))
    w = store.writer(PAYLOAD, labels, ids, 2048)
    assert w.rows_done == 1024
    feed(w, x, [999])
    w.finish()
    assert np.array_equal(store.open(key).load_features(), x)


def test_killed_after_the_last_chunk_but_before_publishing(tmp_path):
    x, labels, ids = make(2100, 2048)
    store = FeatureStore(tmp_path)
    key = _interrupted(store, x, labels, ids, 2100)
    assert partial_attrs(store, key)["rows_written"] == 2100  # the short last chunk counts once written
    w = store.writer(PAYLOAD, labels, ids, 2048)
    assert w.rows_done == 2100
    with pytest.raises(ValueError, match="more rows than"):
        w.append(x[-1:])
    w.finish()
    assert store.attrs(key)["resumed_from_row"] == 2100
    assert np.array_equal(store.open(key).load_features(), x) and store.verify(key) == []


def test_a_failed_chunk_write_is_raised_and_not_counted(tmp_path):
    x, labels, ids = make(5000, 2048)
    store = FeatureStore(tmp_path)
    w = store.writer(PAYLOAD, labels, ids, 2048)
    features = w._features

    class DiskFullAtChunk2:
        def __setitem__(self, index, value):
            if index.start == 2048:
                raise OSError(28, "No space left on device")
            features[index] = value

    w._features = DiskFullAtChunk2()
    with pytest.raises(OSError, match="No space"):
        feed(w, x, [512])
    assert partial_attrs(store, w.key)["rows_written"] == 2048
    assert not store.is_complete(w.key)
    again = store.writer(PAYLOAD, labels, ids, 2048)
    assert again.rows_done == 2048
    feed(again, x, [512])
    again.finish()
    assert np.array_equal(store.open(w.key).load_features(), x)


def test_leftover_temporary_chunk_files_do_not_enter_the_entry(tmp_path):
    # zarr writes a chunk to `<name>.<uuid>.partial` and renames it; a kill in between leaves that file.
    x, labels, ids = make(3000, 2048)
    store = FeatureStore(tmp_path / "store")
    key = _interrupted(store, x, labels, ids, 2100)
    group = store.partial_dir(key) / ZARR_NAME
    assert partial_attrs(store, key)["rows_written"] == 2048
    (group / "features" / "c" / "2").mkdir(parents=True, exist_ok=True)
    (group / "features" / "c" / "2" / "0.0123456789abcdef0123456789abcdef.partial").write_bytes(b"half a chunk")
    (group / "features" / "zarr.0123456789abcdef0123456789abcdef.partial").write_bytes(b"{")
    w = store.writer(PAYLOAD, labels, ids, 2048)
    assert w.rows_done == 2048
    feed(w, x, [952])
    w.finish()
    ref = FeatureStore(tmp_path / "ref")
    write(ref, x, labels, ids)
    assert tree(store.zarr_path(key)) == tree(ref.zarr_path(key))
    assert not any("partial" in rel for rel in store.attrs(key)["chunk_sha256"])
    assert store.verify(key) == []


def test_partial_of_another_payload_under_the_same_path_is_discarded(tmp_path):
    x, labels, ids = make(2500, 2048)
    store = FeatureStore(tmp_path)
    other = {**PAYLOAD, "extractor_version": 2}
    other_key = _interrupted(store, x + 1, labels, ids, 2048, payload=other)
    key = content_key(PAYLOAD)
    store.partial_dir(other_key).rename(store.partial_dir(key))
    assert partial_attrs(store, key)["rows_written"] == 2048
    w = store.writer(PAYLOAD, labels, ids, 2048)
    assert w.rows_done == 0
    feed(w, x, [1000])
    w.finish()
    assert np.array_equal(store.open(key).load_features(), x)
    assert store.attrs(key)["resumed_from_row"] == 0 and store.attrs(key)["payload"] == PAYLOAD


@pytest.mark.parametrize("change", ["labels", "sample_ids", "count"])
def test_partial_with_other_labels_or_samples_is_discarded(tmp_path, change):
    x, labels, ids = make(2500, 2048)
    store = FeatureStore(tmp_path)
    key = _interrupted(store, x + 1, labels, ids, 2048)
    assert partial_attrs(store, key)["rows_written"] == 2048
    if change == "labels":
        labels = labels.copy()
        labels[-1] += 1
    elif change == "sample_ids":
        ids = ids[:-1] + ["elsewhere.png"]
    else:
        x, labels, ids = x[:-1], labels[:-1], ids[:-1]
    w = store.writer(PAYLOAD, labels, ids, 2048)
    assert w.rows_done == 0
    feed(w, x, [1000])
    w.finish()
    entry = store.open(key)
    assert np.array_equal(entry.load_features(), x) and np.array_equal(entry.labels, labels)
    assert [str(s) for s in entry.sample_ids] == ids


def test_unreadable_partial_is_discarded(tmp_path):
    x, labels, ids = make(2500, 2048)
    store = FeatureStore(tmp_path)
    key = _interrupted(store, x, labels, ids, 2048)
    (store.partial_dir(key) / ZARR_NAME / "zarr.json").write_text("{ not json")
    w = store.writer(PAYLOAD, labels, ids, 2048)
    assert w.rows_done == 0
    feed(w, x, [1000])
    w.finish()
    assert np.array_equal(store.open(key).load_features(), x)


def test_with_block_keeps_the_resume_point_on_error(tmp_path):
    x, labels, ids = make(2500, 2048)
    store = FeatureStore(tmp_path)
    with pytest.raises(RuntimeError, match="bad image"):
        with store.writer(PAYLOAD, labels, ids, 2048) as w:
            w.append(x[:2100])
            raise RuntimeError("bad image")
    with pytest.raises(StoreError, match="closed"):
        w.append(x[2100:2200])
    again = store.writer(PAYLOAD, labels, ids, 2048)
    assert again.rows_done == 2048


def test_rewriting_over_an_incomplete_final_directory(tmp_path):
    x, labels, ids = make(50, 8)
    store = FeatureStore(tmp_path)
    key = write(store, x, labels, ids)
    attrs_path = store.zarr_path(key) / "zarr.json"
    meta = json.loads(attrs_path.read_text())
    meta["attributes"]["complete"] = False
    attrs_path.write_text(json.dumps(meta))
    assert not store.is_complete(key)
    write(store, x * 2, labels, ids)
    assert store.is_complete(key) and np.array_equal(store.open(key).load_features(), x * 2)


# -- verify ----------------------------------------------------------------------------------------
@pytest.fixture
def good(tmp_path):
    store = FeatureStore(tmp_path)
    x, labels, ids = make(2500, 2048)
    key = write(store, x, labels, ids)
    assert store.verify(key) == []
    return store, key


def test_verify_detects_a_flipped_byte(good):
    store, key = good
    path = store.zarr_path(key) / "features" / "c" / "1" / "0"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = store.verify(key)
    assert len(problems) == 1 and problems[0].startswith("corrupt file: features/c/1/0")


def test_verify_detects_a_flipped_byte_in_labels(good):
    store, key = good
    path = next((store.zarr_path(key) / "labels" / "c").rglob("*"))
    while path.is_dir():
        path = next(path.iterdir())
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x80
    path.write_bytes(bytes(data))
    assert [p.split(" (")[0] for p in store.verify(key)] == [f"corrupt file: {path.relative_to(store.zarr_path(key)).as_posix()}"]


def test_verify_detects_a_deleted_chunk(good):
    store, key = good
    (store.zarr_path(key) / "features" / "c" / "2" / "0").unlink()
    assert store.verify(key) == ["missing file: features/c/2/0"]


def test_verify_detects_an_unexpected_file(good):
    store, key = good
    (store.zarr_path(key) / "features" / "c" / "9").mkdir()
    (store.zarr_path(key) / "features" / "c" / "9" / "0").write_bytes(b"x")
    assert store.verify(key) == ["unexpected file: features/c/9/0"]


def test_verify_detects_a_removed_complete_flag(good):
    store, key = good
    meta_path = store.zarr_path(key) / "zarr.json"
    meta = json.loads(meta_path.read_text())
    del meta["attributes"]["complete"]
    meta_path.write_text(json.dumps(meta))
    assert store.verify(key) == ["incomplete: `complete` is not set"]
    assert not store.is_complete(key)
    with pytest.raises(StoreError):
        store.open(key)


def test_verify_detects_non_finite_values_with_valid_digests(tmp_path):
    store = FeatureStore(tmp_path)
    x, labels, ids = make(2500, 2048)
    x[1500, 7] = np.nan
    x[2400, 0] = np.inf
    key = write(store, x, labels, ids)
    got = store.open(key).load_features()
    assert np.isnan(got[1500, 7]) and np.isinf(got[2400, 0])
    problems = store.verify(key)
    assert problems == ["non-finite values: 1 in rows 1024..2047 (first at row 1500)",
                        "non-finite values: 1 in rows 2048..2499 (first at row 2400)"]


def test_store_modules_do_not_import_torch():
    assert heavy_imports("vlgen.store", "vlgen.keys", "vlgen.config") == []
