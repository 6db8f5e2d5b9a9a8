"""The `vlgen store` tools on a real store: ls, verify (exit status), gc (lists; deletes only with --yes)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from vlgen.config import load_config
from vlgen.store import FeatureStore

ROOT = Path(__file__).resolve().parents[1]


def vlgen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vlgen", *args], capture_output=True, text=True, cwd=ROOT)


def write_entry(store: FeatureStore, payload: dict, n: int = 5, dim: int = 3, nan: bool = False) -> str:
    features = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
    if nan:
        features[2, 1] = np.nan
    with store.writer(payload, np.arange(n) % 2, [f"s{i}" for i in range(n)], dim) as writer:
        writer.append(features)
        writer.finish()
    return writer.key


def test_ls_names_entries_from_the_run_configs(tmp_path):
    demo = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    job = next(j for j in demo.feature_jobs() if j.model == "pixels" and j.split == "test")
    store = FeatureStore(tmp_path / "store")
    key = write_entry(store, job.payload)
    assert key == job.key
    out = vlgen("store", "ls", "--store", str(store.root))
    assert out.returncode == 0, out.stderr
    row = next(line.split() for line in out.stdout.splitlines() if line.startswith(key))
    assert row[1:6] == ["pixels", job.dataset, "test", "5", "3"] and row[-1] == "yes"


def test_verify_exits_non_zero_on_a_bad_entry(tmp_path):
    store = FeatureStore(tmp_path / "store")
    good = write_entry(store, {"x": 1})
    out = vlgen("store", "verify", "--store", str(store.root))
    assert out.returncode == 0 and f"{good}  ok" in out.stdout and "1 ok, 0 bad" in out.stdout
    bad = write_entry(store, {"x": 2}, nan=True)
    out = vlgen("store", "verify", "--store", str(store.root))
    assert out.returncode == 1 and "1 ok, 1 bad" in out.stdout
    assert f"{bad}  BAD: non-finite values" in out.stdout


def test_gc_lists_unreferenced_entries_and_deletes_only_with_yes(tmp_path):
    demo_file = tmp_path / "run.yaml"
    demo_file.write_text(yaml.safe_dump({**yaml.safe_load((ROOT / "config" / "demo.yaml").read_text()),
                                         "store": str(tmp_path / "store")}))
    demo = load_config([demo_file], ROOT)
    store = FeatureStore(tmp_path / "store")
    kept = write_entry(store, demo.feature_jobs()[0].payload)
    orphan = write_entry(store, {"not": "referenced"})
    out = vlgen("store", "gc", "--configfile", str(demo_file))
    assert out.returncode == 0, out.stderr
    assert "1 of 2 entries" in out.stdout and orphan in out.stdout and kept not in out.stdout
    assert store.is_complete(orphan)  # listing deletes nothing
    out = vlgen("store", "gc", "--configfile", str(demo_file), "--yes")
    assert out.returncode == 0 and not store.entry_dir(orphan).exists() and not store.manifest_path(orphan).exists()
    assert store.is_complete(kept) and store.verify(kept) == []


def test_a_bad_config_is_reported_by_name_not_by_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"models": ["pixels", "nope"]}))
    out = vlgen("models", "--configfile", str(bad))
    assert out.returncode == 2
    assert "models[1]" in out.stderr and "nope" in out.stderr and "Traceback" not in out.stderr


VERSIONED = ["torch", "torchvision", "timm", "open_clip_torch", "transformers", "pillow", "numpy"]


def installed(name: str) -> str | None:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_an_entry_records_every_library_version_imported_or_not(tmp_path):
    """Written by a process that never imports torch, timm, open_clip or transformers."""
    code = ("import sys, json; from vlgen.store import FeatureStore; import numpy as np; "
            "s = FeatureStore(sys.argv[1]); w = s.writer({'x': 1}, [0, 1], ['a', 'b'], 2); "
            "w.append(np.zeros((2, 2), np.float32)); w.finish(); "
            "print(json.dumps([m for m in ('torch', 'timm', 'open_clip', 'transformers') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "store")], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr
    store = FeatureStore(tmp_path / "store")
    (key,) = store.keys()
    assert store.attrs(key)["versions"] == {name: installed(name) for name in VERSIONED}
    assert installed("torch") is not None and installed("pillow") is not None


def set_recorded_versions(store: FeatureStore, key: str, changes: dict) -> None:
    meta = store.zarr_path(key) / "zarr.json"
    data = json.loads(meta.read_text())
    data["attributes"]["versions"].update(changes)
    meta.write_text(json.dumps(data))


def test_ls_long_shows_versions_and_verify_versions_flags_other_ones(tmp_path):
    store = FeatureStore(tmp_path / "store")
    same = write_entry(store, {"x": 1})
    other = write_entry(store, {"x": 2})
    set_recorded_versions(store, other, {"torch": "1.0.0"})
    out = vlgen("store", "ls", "--long", "--store", str(store.root))
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith(same))
    assert f"torch={installed('torch')}" in row and f"numpy={installed('numpy')}" in row
    assert "torch=1.0.0" in next(line for line in out.stdout.splitlines() if line.startswith(other))
    assert "torch=" not in vlgen("store", "ls", "--store", str(store.root)).stdout
    assert vlgen("store", "verify", "--store", str(store.root)).returncode == 0  # digests alone: both fine
    out = vlgen("store", "verify", "--versions", "--store", str(store.root))
    assert out.returncode == 1 and f"{same}  ok" in out.stdout and "1 ok, 1 bad" in out.stdout
    assert f"{other}  BAD: made with other versions: torch 1.0.0 (installed: {installed('torch')})" in out.stdout
