"""TSM, the paper's TensorFlow model (issue 15): the tf_hub source on a SavedModel written here, the
archive pin of its weights, its per-dimension RSA std in the paper catalog, the clear error where
TensorFlow is missing, and its jobs (extraction, the `paper` transfer probe) in the TensorFlow python.

Tests that need TensorFlow skip in the main environment; CI runs this file again in `.venv-tf`
(the `[tf]` environment), where they run. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers.loopback import serve_weights
from helpers.run_configs import imagefolder_run
from PIL import Image

from vlgen import download as download_module
from vlgen.archives import MARKER, ArchiveError
from vlgen.config import NON_SEMANTIC_MODEL_FIELDS, load_config
from vlgen.models.registry import get_source
from vlgen.store import FeatureStore
from vlgen.weights import RECORD_FILE, fetch, file_status, model_pin, pin_problems, read_lock

ROOT = Path(__file__).resolve().parents[1]
CROP = 16
CLASSES = ["apple", "boat"]
NO_TF = "TensorFlow is the `[tf]` extra, absent from the main environment: CI runs these tests in .venv-tf"
PIXELS = {"size": CROP, "crop": CROP, "interpolation": "bicubic", "mean": [0, 0, 0], "std": [1, 1, 1]}
ARCHIVE_PIN = {"url": "https://weights.invalid/tiny-video.tar.gz", "unpack": "tar.gz"}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(download_module, "RETRY_DELAY_S", 0.0)


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported the package's way (after torchvision: the other order crashes the process)."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip(NO_TF)
    from vlgen.models.source_tf_hub import import_tensorflow

    return import_tensorflow()


# -- data and a SavedModel written here ---------------------------------------------------------------
def write_folder(root: Path, per_class: int = 3) -> dict[str, list[Path]]:
    """Random RGB PNGs of exactly CROP x CROP pixels: resize and crop keep them as they are, so the
    model's input is the PNG's pixels / 255, computed here without the package."""
    rng = np.random.default_rng(0)
    paths: dict[str, list[Path]] = {}
    for split in ("train", "test"):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                path = folder / f"{i:02d}.png"
                Image.fromarray(rng.integers(0, 256, size=(CROP, CROP, 3), dtype=np.uint8)).save(path)
                paths.setdefault(split, []).append(path)
    return {split: sorted(found) for split, found in paths.items()}


def reference_video(paths: list[Path], frames: int = 1) -> np.ndarray:
    """[B, frames, H, W, 3] float32 in [0, 1]: the layout TF-Hub video models take."""
    images = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255 for p in paths])
    return np.repeat(images[:, None], frames, axis=1)


def write_saved_model(tf, folder: Path) -> Path:
    """A SavedModel with a `video` signature like TSM's: `before_head` [B, 4] depends on the channel order
    and on where a pixel is; `input_layout` [B, 6] reports what the model received: T, H, W, C, min, max."""

    class TinyVideo(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32)])
        def video(self, images):
            mean = tf.reduce_mean(images, axis=[1, 2, 3])
            corner = images[:, 0, 0, 0, :]
            before_head = tf.tanh(tf.matmul(tf.concat([mean, corner], axis=1), self.weights))
            batch = tf.shape(images)[0]
            shape = tf.tile(tf.cast(tf.shape(images)[1:], tf.float32)[None], [batch, 1])
            low = tf.reduce_min(images, axis=[1, 2, 3, 4])[:, None]
            high = tf.reduce_max(images, axis=[1, 2, 3, 4])[:, None]
            return {"before_head": before_head, "input_layout": tf.concat([shape, low, high], axis=1)}

    module = TinyVideo()
    tf.saved_model.save(module, str(folder), signatures={"video": module.video.get_concrete_function()})
    return folder


def call_directly(tf, folder: Path, video: np.ndarray, output: str = "before_head") -> np.ndarray:
    """The SavedModel's signature on `video`, without the package."""
    signature = tf.saved_model.load(str(folder)).signatures["video"]
    return signature(images=tf.constant(video))[output].numpy()


def tf_entry(**fields) -> dict:
    return {"source": "tf_hub", "family": "vision-language", "weights": ARCHIVE_PIN, "preprocess": PIXELS, **fields}


def cli_extract(payload: dict, store: Path, folder: Path, weights: Path, block_tensorflow: bool = False):
    """`python -m vlgen extract`, as the workflow runs it; optionally in a python that cannot import TF."""
    args = ["--payload", json.dumps(payload), "--store", str(store), "--dataset-root", str(folder),
            "--weights", str(weights), "--device", "cpu", "--batch-size", "4", "--no-progress"]
    launcher = (["-c", "import runpy, sys; sys.modules['tensorflow'] = None; runpy.run_module('vlgen', "
                 "run_name='__main__')"] if block_tensorflow else ["-m", "vlgen"])
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *launcher, "extract", *args], capture_output=True, text=True, env=env)


# Three large steps: Adam's first step moves every weight by lr whatever the features, the next ones do not.
SCHEDULE = {"epochs": 3, "batch_size": 60, "lr": 0.1, "weight_decay": 0.0}


def cli_transfer_augmented(config, store: Path, folder: Path, weights: Path, out: Path, *extra: str):
    """`python -m vlgen transfer-augmented` on the tiny folder's stored features, as the workflow runs it."""
    manifests = [str(FeatureStore(store).manifest_path(config.feature_key("tsm", "tiny", s))) for s in ("train", "test")]
    args = ["--train", manifests[0], "--test", manifests[1], "--model", "tsm", "--dataset", "tiny",
            "--dataset-spec", json.dumps(config.dataset_payload("tiny")), "--dataset-root", str(folder),
            "--weights", str(weights), "--settings", json.dumps(SCHEDULE), "--seed", "3",
            "--table", str(out / "paper.csv"), "--probe", str(out / "paper.pt"), "--device", "cpu",
            "--threads", "1", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "vlgen", "transfer-augmented", *args], capture_output=True,
                          text=True, env=env)


# -- the source, through extraction ---------------------------------------------------------------------
def test_extraction_equals_the_saved_model_called_on_a_one_frame_video_in_0_1(tf, tmp_path):
    folder = tmp_path / "folder"
    paths = write_folder(folder)
    saved = write_saved_model(tf, tmp_path / "saved")
    config = imagefolder_run(tmp_path, {"tsm": tf_entry(), "seen": tf_entry(output="input_layout")}, folder)
    store = FeatureStore(tmp_path / "store")
    from vlgen.extract import extract

    for model in ("tsm", "seen"):
        extract(config.feature_payload(model, "tiny", "test"), store.root, folder, weights=saved, batch_size=4,
                progress=False)  # 6 images: uneven batches
    features = store.open(config.feature_key("tsm", "tiny", "test"))
    video = reference_video(paths["test"])
    np.testing.assert_allclose(features.load_features(), call_directly(tf, saved, video), rtol=0, atol=1e-6)
    assert list(features.sample_ids) == [p.relative_to(folder).as_posix() for p in paths["test"]]
    assert features.attrs["dim"] == 4
    # What the model received: a one-frame video [B, 1, H, W, 3], channels last, in [0, 1] (not normalised)
    seen = store.open(config.feature_key("seen", "tiny", "test")).load_features()
    np.testing.assert_allclose(seen[:, :4], np.tile([1, CROP, CROP, 3], (len(video), 1)))
    np.testing.assert_allclose(seen[:, 4], video.min(axis=(1, 2, 3, 4)), atol=1e-6)
    np.testing.assert_allclose(seen[:, 5], video.max(axis=(1, 2, 3, 4)), atol=1e-6)
    assert seen[:, 4].min() >= 0 and seen[:, 5].max() <= 1 and seen[:, 5].max() > 0.9


def test_the_cli_writes_the_same_store_format_and_frames_repeat_the_image(tf, tmp_path):
    folder = tmp_path / "folder"
    paths = write_folder(folder)
    saved = write_saved_model(tf, tmp_path / "saved")
    config = imagefolder_run(tmp_path, {"tsm3": tf_entry(frames=3), "seen3": tf_entry(frames=3, output="input_layout")},
                        folder)
    store = tmp_path / "store"
    for model in ("tsm3", "seen3"):
        done = cli_extract(config.feature_payload(model, "tiny", "train"), store, folder, saved)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip() == str(FeatureStore(store).manifest_path(config.feature_key(model, "tiny", "train")))
    entry = FeatureStore(store).open(config.feature_key("tsm3", "tiny", "train"))
    assert FeatureStore(store).verify(entry.key) == []
    video = reference_video(paths["train"], frames=3)
    np.testing.assert_allclose(entry.load_features(), call_directly(tf, saved, video), rtol=0, atol=1e-6)
    seen = FeatureStore(store).open(config.feature_key("seen3", "tiny", "train")).load_features()
    np.testing.assert_allclose(seen[:, :4], np.tile([3, CROP, CROP, 3], (len(video), 1)))


@pytest.mark.parametrize("augment", [True, False])
def test_the_paper_transfer_probe_runs_in_the_tf_python(tf, tmp_path, augment):
    """`vlgen transfer-augmented` in this (TensorFlow) python: the CSV's accuracy is the saved probe's on the
    stored test features, computed here with numpy; without augmentation the recomputed train features are
    the stored ones, so the probe is the authors' schedule on them (`paper_cached_probe`, same seed)."""
    import torch

    from vlgen.extract import extract
    from vlgen.tasks.probe import AdamSchedule, paper_cached_probe

    folder = tmp_path / "folder"
    write_folder(folder)
    saved = write_saved_model(tf, tmp_path / "saved")
    config = imagefolder_run(tmp_path, {"tsm": tf_entry()}, folder)
    store = FeatureStore(tmp_path / "store")
    for split in ("train", "test"):
        extract(config.feature_payload("tsm", "tiny", split), store.root, folder, weights=saved, batch_size=4,
                progress=False)
    done = cli_transfer_augmented(config, store.root, folder, saved, tmp_path / "out",
                                  *([] if augment else ["--no-augment"]))
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("not augmented" in done.stderr) != augment, done.stderr[-2000:]
    with open(tmp_path / "out" / "paper.csv") as stream:
        header, row, *rest = stream.read().splitlines()
    assert rest == [] and header == "model,dataset,preset,accuracy,C,n_train,n_val,n_test,feature_key"
    test = store.open(config.feature_key("tsm", "tiny", "test"))
    values = dict(zip(header.split(","), row.split(",")))
    assert (values["model"], values["dataset"], values["preset"], values["feature_key"]) == ("tsm", "tiny", "paper",
                                                                                             test.key)
    assert (values["C"], values["n_train"], values["n_val"], values["n_test"]) == ("", "6", "0", "6")
    probe = torch.load(tmp_path / "out" / "paper.pt", weights_only=True)
    weight, bias = probe["state_dict"]["weight"].numpy(), probe["state_dict"]["bias"].numpy()
    accuracy = float(np.mean(np.argmax(test.load_features() @ weight.T + bias, axis=1) == test.labels))
    assert float(values["accuracy"]) == pytest.approx(accuracy, abs=1e-12) and probe["accuracy"] == float(values["accuracy"])
    assert (probe["preset"], probe["model"], probe["dataset"], probe["feature_key"]) == ("paper", "tsm", "tiny", test.key)
    train = store.open(config.feature_key("tsm", "tiny", "train"))
    cached = paper_cached_probe(train.load_features(), train.labels, 2, schedule=AdamSchedule.from_config(SCHEDULE),
                                seed=3)
    if augment:  # other train features (random crops and flips): another probe
        assert np.abs(weight - cached.weight).max() > 1e-2
    else:
        np.testing.assert_allclose(weight, cached.weight, rtol=0, atol=1e-5)


def test_an_unknown_signature_or_output_is_named(tf, tmp_path):
    saved = write_saved_model(tf, tmp_path / "saved")
    source = get_source("tf_hub")
    with pytest.raises(KeyError, match="no signature 'audio'.*video"):
        source.load(source.canonical(tf_entry(signature="audio")), saved, "cpu")
    with pytest.raises(KeyError, match="no output 'vat'.*before_head, input_layout"):
        source.load(source.canonical(tf_entry(output="vat")), saved, "cpu")


def test_without_tensorflow_extraction_fails_naming_the_tf_extra_and_tf_python(tmp_path):
    """Runs in the main environment, where TensorFlow is truly absent (in .venv-tf its import is blocked)."""
    folder = tmp_path / "folder"
    write_folder(folder)
    config = imagefolder_run(tmp_path, {"tsm": tf_entry()}, folder)
    store = tmp_path / "store"
    blocked = importlib.util.find_spec("tensorflow") is not None
    done = cli_extract(config.feature_payload("tsm", "tiny", "test"), store, folder, tmp_path / "saved", blocked)
    assert done.returncode != 0
    assert "`[tf]` extra" in done.stderr and "`extraction.tf_python`" in done.stderr, done.stderr[-2000:]
    key = config.feature_key("tsm", "tiny", "test")
    assert not FeatureStore(store).is_complete(key) and not FeatureStore(store).manifest_path(key).exists()


def test_a_missing_saved_model_names_the_download_rule(tf, tmp_path):
    source = get_source("tf_hub")
    with pytest.raises(FileNotFoundError, match="no SavedModel .* download_weights"):
        source.load(source.canonical(tf_entry()), tmp_path / "nothing", "cpu")


# -- the archive pin ------------------------------------------------------------------------------------
def add_bytes(tar: tarfile.TarFile, name: str, data: bytes, **fields) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for field, value in fields.items():
        setattr(info, field, value)
    tar.addfile(info, io.BytesIO(data))


def write_archive(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            add_bytes(tar, name, data)
    return path


def archive_file(host, name: str):
    (file,) = model_pin("TSM", {"weights": {"url": f"{host.url}/files/{name}", "unpack": "tar.gz"}}).files
    return file


MEMBERS = {"saved_model.pb": b"graph", "variables/variables.index": b"index",
           "variables/variables.data-00000-of-00001": b"\x00" * 1000}


def test_an_archive_pin_is_locked_then_unpacked_atomically_and_reused(tmp_path):
    served = write_archive(tmp_path / "served" / "model.tar.gz", MEMBERS)
    lock, record = tmp_path / "config" / "weights.lock", tmp_path / RECORD_FILE
    with serve_weights({served.name: served}) as host:
        pin = model_pin("TSM", {"weights": {"url": f"{host.url}/files/{served.name}", "unpack": "tar.gz"}})
        (file,) = pin.files
        assert pin.argument == "resources/weights/TSM/model" and file.path == "resources/weights/TSM/model.tar.gz"
        fetch(file, tmp_path, lock, record_path=record, progress=False)
        unpacked = tmp_path / pin.argument
        digest = hashlib.sha256(served.read_bytes()).hexdigest()
        assert read_lock(record) == {file.location: digest}
        assert {str(p.relative_to(unpacked)): p.read_bytes() for p in unpacked.rglob("*") if p.is_file()
                and p.name != MARKER} == MEMBERS
        assert json.loads((unpacked / MARKER).read_text())["sha256"] == digest
        assert not [p for p in unpacked.parent.iterdir() if ".unpacking" in p.name]  # no staging left
        assert file_status(tmp_path, file, read_lock(record)) == "verified"
        (unpacked / "saved_model.pb").write_bytes(b"changed")  # reused as is: same archive bytes, same marker
        fetch(file, tmp_path, lock, record_path=record, progress=False)
        assert sum(host.hits.values()) == 1 and (unpacked / "saved_model.pb").read_bytes() == b"changed"
        (unpacked / MARKER).unlink()  # an unpacking that never finished: not verified, unpacked again
        assert file_status(tmp_path, file, read_lock(record)) == "present"
        fetch(file, tmp_path, lock, record_path=record, progress=False)
        assert sum(host.hits.values()) == 1 and (unpacked / "saved_model.pb").read_bytes() == b"graph"


def malicious(kind: str, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        add_bytes(tar, "saved_model.pb", b"graph")
        if kind == "dotdot":
            add_bytes(tar, "../escaped", b"owned")
        elif kind == "absolute":
            add_bytes(tar, str(path.parent.parent / "escaped"), b"owned")
        elif kind == "symlink":
            add_bytes(tar, "variables", b"", type=tarfile.SYMTYPE, linkname="../../..")
        elif kind == "device":
            add_bytes(tar, "dev", b"", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
    return path


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "device", "truncated"])
def test_an_unsafe_or_truncated_archive_is_refused_and_leaves_nothing(tmp_path, kind):
    served = tmp_path / "served" / "model.tar.gz"
    served.parent.mkdir()
    if kind == "truncated":
        data = write_archive(served, MEMBERS).read_bytes()
        served.write_bytes(data[: len(data) // 2])  # served whole, with its Content-Length: HTTP sees no cut
    else:
        malicious(kind, served)
    lock, record = tmp_path / "config" / "weights.lock", tmp_path / RECORD_FILE
    with serve_weights({served.name: served}) as host, pytest.raises(ArchiveError, match="model.tar.gz"):
        fetch(archive_file(host, served.name), tmp_path, lock, record_path=record, progress=False)
    weights = tmp_path / "resources" / "weights"
    assert sorted(p.name for p in weights.rglob("*")) == ["TSM"]  # no archive, no folder, no lock
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "resources" / "escaped").exists()


def test_a_served_savedmodel_archive_is_fetched_unpacked_and_loaded(tf, tmp_path):
    """The weights stage and the source together: a TF-Hub-style archive (members at its root)."""
    import torch

    saved = write_saved_model(tf, tmp_path / "saved")
    served = tmp_path / "served" / "tiny-video.tar.gz"
    served.parent.mkdir()
    with tarfile.open(served, "w:gz") as tar:
        for path in sorted(saved.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(saved)), recursive=False)
    with serve_weights({served.name: served}) as host:
        pin = model_pin("TSM", {"weights": {"url": f"{host.url}/files/{served.name}", "unpack": "tar.gz"}})
        fetch(pin.files[0], tmp_path, tmp_path / "weights.lock", progress=False)
    source = get_source("tf_hub")
    model = source.load(source.canonical(tf_entry()), tmp_path / pin.argument, "cpu")
    video = np.random.default_rng(2).random((3, 1, CROP, CROP, 3), dtype=np.float32)
    images = torch.from_numpy(video[:, 0].transpose(0, 3, 1, 2).copy())  # what the extractor hands a model
    np.testing.assert_allclose(model(images).numpy(), call_directly(tf, saved, video), rtol=0, atol=1e-6)


@pytest.mark.parametrize("pin, field", [
    ({"url": "https://h.invalid/m.tar.gz", "unpack": "zip"}, "weights.unpack"),
    ({"url": "https://h.invalid/1?tf-hub-format=compressed", "unpack": "tar.gz"}, "weights.file"),
])
def test_bad_archive_pins_name_the_field(pin, field):
    assert any(field in problem for problem in pin_problems(pin))


# -- the paper catalog ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paper():
    return load_config([], ROOT)


def test_the_paper_catalog_runs_tsm_as_the_authors_did(paper):
    assert len(paper.models) == 15 and "TSM" in paper.image_models
    spec, payload = paper.model_spec("TSM"), paper.model_payload("TSM")
    assert get_source(spec["source"]).check(spec) == [] and get_source(spec["source"]).environment == "tf"
    assert (spec["family"], payload["signature"], payload["output"], payload["frames"]) == (
        "vision-language", "video", "before_head", 1)
    assert payload["preprocess"] == {"size": 256, "crop": 256, "interpolation": "bicubic", "mean": [0, 0, 0],
                                     "std": [1, 1, 1], "resize_backend": "pil"}
    pin = model_pin("TSM", spec)
    assert pin.files[0].unpack == "tar.gz" and pin.argument == "resources/weights/TSM/tsm-resnet50"
    assert "rsa_std" in NON_SEMANTIC_MODEL_FIELDS and "rsa_std" not in payload
    assert paper.section("attacks")["heads"]["TSM"] == []  # not attacked by the authors
    # every other model keeps the main environment
    assert {get_source(paper.model_spec(m)["source"]).environment for m in paper.models if m != "TSM"} == {"main"}


def welch_per_dim_reference(features: np.ndarray, labels: np.ndarray, epsilon: float) -> np.ndarray:
    """||(mu_i - mu_j) / sqrt((s_i + eps)^2 / n_i + (s_j + eps)^2 / n_j)||, s per dimension, on unit rows."""
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    classes = np.unique(labels)
    mu = np.stack([unit[labels == c].mean(0) for c in classes])
    s = np.stack([unit[labels == c].std(0) for c in classes])
    n = np.array([(labels == c).sum() for c in classes])
    rdm = np.zeros((len(classes), len(classes)))
    for i in range(len(classes)):
        for j in range(len(classes)):
            spread = np.sqrt((s[i] + epsilon) ** 2 / n[i] + (s[j] + epsilon) ** 2 / n[j])
            rdm[i, j] = np.linalg.norm((mu[i] - mu[j]) / spread)
    return rdm


def test_tsm_rdm_uses_the_per_dimension_std_plus_1e_6_under_the_paper_preset(paper):
    from vlgen.tasks.rsa import RdmMethod, model_rdm, rdm_method

    settings = paper.section("rsa")
    assert settings["preset"] == "paper"
    method = rdm_method(settings, paper.is_text_model("TSM"), paper.model_spec("TSM").get("rsa_std"))
    assert method == RdmMethod("welch", "per_dim", per_image=True, std_epsilon=1e-6)
    assert rdm_method(settings, False, paper.model_spec("RN50").get("rsa_std")).preset == "paper"
    assert rdm_method({**settings, "preset": "per_dim"}, False, None).preset == "per_dim"
    # Unit rows whose dimension 0 is constant within a class and differs between classes: its spread is
    # the epsilon alone, so that dimension dominates and the RDM scales with 1 / epsilon.
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 5)
    level = 0.1 * (labels + 1)
    rest = rng.normal(size=(20, 5)) + labels[:, None]
    rest *= (np.sqrt(1 - level**2) / np.linalg.norm(rest, axis=1))[:, None]
    features = np.column_stack([level, rest]).astype(np.float32)
    rdm = model_rdm(features, labels, 4, method)
    np.testing.assert_allclose(rdm, welch_per_dim_reference(features.astype(np.float64), labels, 1e-6), rtol=1e-2)
    assert not np.allclose(rdm, welch_per_dim_reference(features.astype(np.float64), labels, 2e-6), rtol=0.1)


def dry_run_commands(work: Path, target: str, marker: str, settings: dict) -> list[str]:
    """The shell commands containing `marker` that `snakemake -n -p target` prints for RN50 and TSM on
    MNIST, with the TensorFlow python at a path that needs quoting."""
    (work / "run.yaml").write_text(yaml.safe_dump({
        "models": ["RN50", "TSM"], "datasets": ["mnist"], "extraction": {"tf_python": "/opt/tf env/bin/python"},
        **settings}))
    snakemake = Path(sys.executable).parent / "snakemake"
    done = subprocess.run([str(snakemake), "-n", "-p", target, "--configfile", "run.yaml"], cwd=work,
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return [line.removeprefix("Shell command: ") for line in (done.stdout + done.stderr).splitlines()
            if marker in line]


@pytest.mark.slow
def test_the_extraction_job_of_tsm_runs_the_tf_python(tmp_path):
    pytest.importorskip("snakemake", reason="the workflow runs from the main environment")
    from helpers.repo import copy_workflow

    work = copy_workflow(tmp_path / "repo")
    commands = dry_run_commands(work, "features", " -m vlgen extract ", {})
    config = load_config([work / "run.yaml"], work)
    for job in config.feature_jobs():
        [command] = [c for c in commands if f"--expect-key {job.key}" in c]
        python = "'/opt/tf env/bin/python'" if job.model == "TSM" else "python"
        assert command.startswith(f"{python} -m vlgen extract"), command[:80]
        if job.model == "TSM":
            assert "--weights resources/weights/TSM/tsm-resnet50 " in command


@pytest.mark.slow
def test_the_paper_transfer_job_of_tsm_runs_the_tf_python(tmp_path):
    pytest.importorskip("snakemake", reason="the workflow runs from the main environment")
    from helpers.repo import copy_workflow

    work = copy_workflow(tmp_path / "repo")
    commands = dry_run_commands(work, "transfer", " -m vlgen transfer-augmented ",
                                {"transfer": {"presets": ["paper"], "run_paper_preset": "always"}})
    assert len(commands) == 2, commands
    for model, python in (("RN50", "python"), ("TSM", "'/opt/tf env/bin/python'")):
        [command] = [c for c in commands if f" --model {model} " in c]
        assert command.startswith(f"{python} -m vlgen transfer-augmented"), command[:80]
        assert ("--weights resources/weights/TSM/tsm-resnet50 " in command) == (model == "TSM")
        assert command.endswith(f"> results/paper/logs/transfer_probe_augmented/{model}/mnist.log 2>&1"), command[-120:]
