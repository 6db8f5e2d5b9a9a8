"""The `vlgen store` tools on a real store: ls, verify (exit status), gc (lists; deletes only with --yes)."""

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
