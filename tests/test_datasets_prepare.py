"""Downloading the paper's datasets (prepare) through a loopback server, `vlgen datasets` status,
the catalog entries and the ImageNet check job's command. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers import fake_datasets as fake
from helpers.dataset_mirror import mirror

from vlgen import download as download_module
from vlgen.cli import main as vlgen_main
from vlgen.config import ConfigError, RunConfig, load_config
from vlgen.data import get_reader, load_split
from vlgen.data.fetch import MARKER
from vlgen.data.listing import describe_datasets
from vlgen.download import DownloadError

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_DELAY_S", 0.0)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def served_mnist(tmp_path: Path) -> tuple[dict, dict[str, bytes]]:
    """A fake MNIST written to a source folder: (what was written, file name -> bytes)."""
    written = fake.write_mnist(tmp_path / "source")
    return written, {name: (tmp_path / "source" / name).read_bytes() for name in MNIST_FILES}


def mnist_spec(blobs: dict[str, bytes], mirrors: list[str]) -> dict:
    return {"reader": "idx", "class_names": DIGITS, "mirrors": mirrors,
            "files": {name: {"md5": md5(body)} for name, body in blobs.items()}}


def leftovers(root: Path) -> list[str]:
    """Temporary files or folders a download or unpack could leave behind."""
    return sorted(p.name for p in root.rglob("*") if p.name.startswith(".") or p.name.endswith(".part"))


def test_prepare_downloads_verifies_writes_marker_and_is_idempotent(tmp_path):
    written, blobs = served_mnist(tmp_path)
    root = tmp_path / "resources" / "datasets" / "mnist"
    with mirror() as server:
        for name, body in blobs.items():
            server.file(f"/mnist/{name}", body)
        spec = mnist_spec(blobs, [f"{server.url}/mnist/{{file}}"])
        reader = get_reader("idx")
        assert reader.status(spec, root) == "missing"
        reader.prepare(spec, root, progress=False)
        assert sorted(p.name for p in root.iterdir()) == sorted([*MNIST_FILES, MARKER])
        assert all((root / n).read_bytes() == b for n, b in blobs.items())
        assert json.loads((root / MARKER).read_text())["files"] == spec["files"]
        assert reader.status(spec, root) == "verified"
        np.testing.assert_array_equal(load_split(spec, root, "test").images, written["test"].images)
        reader.prepare(spec, root, progress=False)
        assert set(server.hits.values()) == {1}  # the second prepare fetched nothing


def test_second_mirror_is_used_when_the_first_fails(tmp_path):
    _, blobs = served_mnist(tmp_path)
    with mirror() as server:
        for name, body in blobs.items():
            server.file(f"/good/{name}", body)
        spec = mnist_spec(blobs, [f"{server.url}/gone/{{file}}", f"{server.url}/good/{{file}}"])
        get_reader("idx").prepare(spec, tmp_path / "mnist", progress=False)
        assert server.hits[f"/gone/{MNIST_FILES[0]}"] == 1
        assert get_reader("idx").status(spec, tmp_path / "mnist") == "verified"


@pytest.mark.parametrize("fault", ["wrong-digest", "truncated", "html", "missing"])
def test_a_bad_download_names_the_file_and_leaves_nothing_half_written(tmp_path, fault):
    _, blobs = served_mnist(tmp_path)
    bad = "t10k-images-idx3-ubyte.gz"
    root = tmp_path / "resources" / "datasets" / "mnist"
    with mirror() as server:
        for name, body in blobs.items():
            server.file(f"/mnist/{name}", body)
        spec = mnist_spec(blobs, [f"{server.url}/mnist/{{file}}"])
        if fault == "wrong-digest":
            spec["files"][bad]["md5"] = "0" * 32
        elif fault == "truncated":
            server.truncated(f"/mnist/{bad}", blobs[bad])
        elif fault == "html":
            server.html(f"/mnist/{bad}")
        else:
            del server.routes[f"/mnist/{bad}"]
        with pytest.raises(DownloadError) as info:
            get_reader("idx").prepare(spec, root, progress=False)
    message = str(info.value)
    expected = {"wrong-digest": f"md5 expected {'0' * 32}, got {md5(blobs[bad])}", "truncated": "truncated",
                "html": "HTML page", "missing": "HTTP 404"}[fault]
    assert str(root / bad) in message and f"/mnist/{bad}" in message and expected in message
    assert not (root / bad).exists() and not (root / MARKER).exists() and leftovers(root) == []
    assert get_reader("idx").status(spec, root) == "missing"
    with pytest.raises(FileNotFoundError, match=bad):
        load_split(spec, root, "test")


def test_archives_are_unpacked_then_read(tmp_path):
    written_cifar = fake.write_cifar10(tmp_path / "src" / "c10")
    src = tmp_path / "src"
    cifar_tgz = fake.tar_gz(src / "cifar-10-python.tar.gz", src / "c10" / "cifar-10-batches-py", "cifar-10-batches-py")
    written_cub = fake.write_cub(tmp_path / "src" / "cub")
    cub_tgz = tmp_path / "src" / "CUB_200_2011.tgz"
    with tarfile.open(cub_tgz, "w:gz") as tar:  # as the real archive: the folder plus attributes.txt
        tar.add(tmp_path / "src" / "cub" / "CUB_200_2011", arcname="CUB_200_2011")
        tar.add(tmp_path / "src" / "cub" / "attributes.txt", arcname="attributes.txt")
    with mirror() as server:
        server.file("/cifar-10-python.tar.gz", cifar_tgz)
        server.file("/records/x/files/CUB_200_2011.tgz", cub_tgz.read_bytes())
        cifar = {"reader": "cifar10", "mirrors": [f"{server.url}/{{file}}"],
                 "files": {"cifar-10-python.tar.gz": {"md5": md5(cifar_tgz)}}}
        cub = {"reader": "cub", "mirrors": [f"{server.url}/records/x/files/{{file}}?download=1"],
               "files": {"CUB_200_2011.tgz": {"sha256": hashlib.sha256(cub_tgz.read_bytes()).hexdigest()}}}
        get_reader("cifar10").prepare(cifar, tmp_path / "cifar10", progress=False)
        get_reader("cub").prepare(cub, tmp_path / "cub", progress=False)
    train = load_split(cifar, tmp_path / "cifar10", "train")
    np.testing.assert_array_equal(train.images, written_cifar["train"].images)
    assert load_split(cub, tmp_path / "cub", "test").sample_ids == written_cub["test"].sample_ids
    marker = json.loads((tmp_path / "cub" / MARKER).read_text())
    assert marker["unpacked"] == {"CUB_200_2011.tgz": ["CUB_200_2011", "attributes.txt"]}
    assert leftovers(tmp_path / "cifar10") == leftovers(tmp_path / "cub") == []


def test_an_interrupted_unpack_is_redone_from_the_verified_archive(tmp_path):
    fake.write_cifar10(tmp_path / "src")
    body = fake.tar_gz(tmp_path / "root" / "cifar-10-python.tar.gz", tmp_path / "src" / "cifar-10-batches-py",
                       "cifar-10-batches-py")
    root = tmp_path / "root"
    (root / ".cifar-10-python.tar.gz.unpacking" / "cifar-10-batches-py").mkdir(parents=True)  # killed mid-unpack
    (root / "cifar-10-batches-py").mkdir()
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"half")
    spec = {"reader": "cifar10", "mirrors": ["http://127.0.0.1:9/{file}"],  # unreachable: must not be needed
            "files": {"cifar-10-python.tar.gz": {"md5": md5(body)}}}
    assert get_reader("cifar10").status(spec, root) == "missing"
    get_reader("cifar10").prepare(spec, root, progress=False)
    assert (root / "cifar-10-batches-py" / "data_batch_1").read_bytes() == (
        tmp_path / "src" / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    assert leftovers(root) == [] and get_reader("cifar10").status(spec, root) == "verified"


def test_status_missing_present_verified_in_the_listing(tmp_path):
    _, blobs = served_mnist(tmp_path)
    files = {name: {"md5": md5(body)} for name, body in blobs.items()}
    entry = {"reader": "idx", "class_names": DIGITS, "files": files}
    raw = {"datasets": ["placed"], "dataset_catalog": {
        "placed": {**entry, "root": str(tmp_path / "source")},
        "absent": {**entry, "root": str(tmp_path / "nothing")},
        "imagenet-val": {"reader": "imagenet", "root": str(tmp_path / "nothing")}}}
    rows = {r["name"]: r for r in describe_datasets(RunConfig(raw), base=tmp_path)}
    assert (rows["placed"]["status"], rows["placed"]["splits"], rows["placed"]["classes"]) == (
        "present", "train 12 / test 7", 10)
    assert rows["absent"]["status"] == rows["imagenet-val"]["status"] == "missing"
    assert rows["imagenet-val"]["splits"] == "val ?"
    get_reader("idx").prepare(entry, tmp_path / "source", progress=False)  # hand-placed files: no mirror needed
    rows = {r["name"]: r for r in describe_datasets(RunConfig(raw), base=tmp_path)}
    assert (rows["placed"]["status"], rows["placed"]["splits"]) == ("verified", "train 12 / test 7")


def test_cli_prepare_dataset_reports_the_problem_without_a_traceback(tmp_path, capsys):
    spec = {"reader": "imagenet", "expected": {"images": 10, "classes": 4}}
    assert vlgen_main(["prepare-dataset", "--spec", json.dumps(spec), "--root", str(tmp_path / "in")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vlgen prepare-dataset: imagenet: no validation images found") and "Traceback" not in err
    fake.write_imagenet(tmp_path / "in", "flat", devkit_archive=True)
    assert vlgen_main(["prepare-dataset", "--spec", json.dumps(spec), "--root", str(tmp_path / "in")]) == 0
    assert sorted(p.name for p in (tmp_path / "in").iterdir() if not p.name.startswith("ILSVRC2012_val_")) == [
        f"{fake.DEVKIT}.tar.gz"]  # the check wrote nothing into the user's folder


# -- the catalog ---------------------------------------------------------------------------------------


def test_paper_catalog_pins_and_task_datasets():
    config = load_config([], ROOT)
    paper_six = ["mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "cub"]
    assert config.datasets == [*paper_six, "imagenet-val"]
    assert config.task_datasets("fewshot") == paper_six
    assert config.task_datasets("rsa", ("val",)) == ["imagenet-val"]
    assert config.splits("imagenet-val") == ("val",)
    # torchvision's published md5s (torchvision/datasets/{mnist,cifar,svhn}.py), pinned in the catalog.
    files = {name: config.dataset_spec(name)["files"] for name in paper_six}
    assert files["mnist"]["t10k-images-idx3-ubyte.gz"] == {"md5": "9fb629c4189551a2d022fa330f9573f3"}
    assert files["cifar100"] == {"cifar-100-python.tar.gz": {"md5": "eb9058c3a382ffc7106e4002c42a8d85"}}
    assert config.dataset_spec("svhn")["files"]["test_32x32.mat"] == {"md5": "eb5a983be6a315427106f1b164d9cef3"}
    assert config.dataset_spec("cub")["files"] == {"CUB_200_2011.tgz": {"md5": "97eceeb196236b17998738112f37df78"}}
    for name in paper_six:
        payload = config.dataset_payload(name)
        assert "mirrors" not in payload and payload["files"]  # a new mirror changes no key
        assert all("{file}" in m for m in config.dataset_spec(name)["mirrors"])


def test_task_datasets_listed_in_a_section_are_checked(tmp_path):
    override = tmp_path / "run.yaml"
    override.write_text("fewshot: {datasets: [imagenet-val]}\n")
    with pytest.raises(ConfigError, match="fewshot.datasets: 'imagenet-val'"):
        load_config([override], ROOT).task_datasets("fewshot")
    override.write_text("fewshot: {datasets: [cub]}\n")
    assert load_config([override], ROOT).task_datasets("fewshot") == ["cub"]
