"""What a feature key holds (issue 11): canonical payloads, text-only dataset fields, weights identity,
user-provided data fingerprints and library versions. Keys come from config alone."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path

import pytest
import yaml
from helpers import fake_datasets as fake

from vlgen.config import NON_SEMANTIC_MODEL_FIELDS, ConfigError, RunConfig, load_config
from vlgen.data.fingerprint import ABSENT, StaleDataError, tree_fingerprint
from vlgen.models.listing import describe_models
from vlgen.models.registry import get_source
from vlgen.weights import LOCK_FILE, RECORD_FILE, pin_identity, record_digest

ROOT = Path(__file__).resolve().parents[1]
FULL = "ab" * 32
PIXELS = {"source": "pixels", "family": "baseline",
          "preprocess": {"size": 8, "crop": 8, "interpolation": "bilinear", "mean": [0, 0, 0], "std": [1, 1, 1]}}


def demo_with(tmp_path, override: dict) -> RunConfig:
    path = tmp_path / "override.yaml"
    path.write_text(yaml.safe_dump(override))
    return load_config([ROOT / "config" / "demo.yaml", path], ROOT)


def demo_key(tmp_path, model: str, spec_changes: dict, dataset: str = "digits", split: str = "test") -> str:
    """The key of demo `model` with its catalog entry changed: fields set, or removed when the value is ...."""
    spec = {k: v for k, v in load_config([ROOT / "config" / "demo.yaml"], ROOT).model_spec(model).items()
            if spec_changes.get(k, None) is not ...}
    spec.update({k: v for k, v in spec_changes.items() if v is not ...})
    config = demo_with(tmp_path, {"model_catalog": {"m": spec}, "models": ["m"]})
    return config.feature_key("m", dataset, "classes" if config.is_text_model("m") else split)


def in_root(config: RunConfig, root: Path) -> RunConfig:
    """The same run, with `root` as the workflow directory (its config/weights.lock, its resources/)."""
    return RunConfig.from_dict(config.raw, root)


# -- 1. canonical payloads ------------------------------------------------------------------------
@pytest.mark.parametrize("model, spellings", [
    ("resnet18-random", [{"pretrained": False}, {"pretrained": ...}, {"pretrained": None}]),
    ("resnet18-random", [{"init_seed": 0}, {"init_seed": ...}]),
    ("resnet18-random", [{"layer": ...}, {"layer": None}]),
    ("resnet18-random", [{"layer": "layer4", "pooling": "none"}, {"layer": "layer4"}]),
    ("clip-rn50-random", [{"pretrained": None, "init_seed": 0}, {"pretrained": False, "init_seed": ...}]),
    ("minilm", [{"template": "a photo of a {}.", "token_rule": "mean"}, {"template": ..., "token_rule": ...}]),
])
def test_equivalent_spellings_share_a_key(tmp_path, model, spellings):
    keys = {demo_key(tmp_path, model, spelling) for spelling in spellings}
    assert len(keys) == 1, spellings


def test_what_the_numbers_depend_on_still_changes_the_key(tmp_path):
    assert demo_key(tmp_path, "resnet18-random", {"init_seed": 1}) != demo_key(tmp_path, "resnet18-random", {})
    assert (demo_key(tmp_path, "resnet18-random", {"layer": "layer4", "pooling": "avg"})
            != demo_key(tmp_path, "resnet18-random", {"layer": "layer4"}))
    assert demo_key(tmp_path, "minilm", {"token_rule": "first"}) != demo_key(tmp_path, "minilm", {"token_rule": ...})


def test_a_seed_next_to_pretrained_weights_is_not_a_number(tmp_path):
    spec = {"source": "timm", "name": "resnet18", "pretrained": "a1_in1k"}
    payload = get_source("timm").canonical(spec)
    assert "init_seed" not in payload and get_source("timm").canonical({**spec, "init_seed": 3}) == payload


def test_a_changed_default_in_code_changes_keys(tmp_path, monkeypatch):
    import vlgen.models.common as common

    text = demo_key(tmp_path, "minilm", {"token_rule": ...})
    image = demo_key(tmp_path, "resnet18-random", {"init_seed": ...})
    monkeypatch.setitem(get_source("hf").defaults, "token_rule", "first")
    monkeypatch.setattr(common, "DEFAULT_INIT_SEED", 7)
    assert demo_key(tmp_path, "minilm", {"token_rule": ...}) != text
    assert demo_key(tmp_path, "resnet18-random", {"init_seed": ...}) != image
    assert demo_key(tmp_path, "resnet18-random", {"init_seed": 7}) == demo_key(tmp_path, "resnet18-random",
                                                                              {"init_seed": ...})


def test_every_preprocessing_field_is_in_the_key_and_one_is_required(tmp_path):
    config = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    assert set(config.model_payload("pixels")["preprocess"]) == {"size", "crop", "interpolation", "mean", "std",
                                                                 "resize_backend"}
    broken = {**PIXELS, "preprocess": {"size": 8, "crop": 8, "interpolation": "bilinear", "mean": [0, 0, 0]}}
    with pytest.raises(ConfigError, match=r"model_catalog\.m\.preprocess.*missing std"):
        demo_with(tmp_path, {"model_catalog": {"m": broken}, "models": ["m"]}).feature_jobs()


def test_a_library_preset_key_holds_the_tag_and_the_library_version(monkeypatch):
    import vlgen.models.library_preprocess as library_preprocess

    config = load_config([ROOT / "config" / "library.yaml"], ROOT)
    assert config.model_payload("BiT-M")["preprocess"] == {
        "library": "timm:resnetv2_50x1_bit.goog_in21k", "resize_backend": "pil",
        "library_version": importlib.metadata.version("timm")}
    before = config.feature_key("BiT-M", "mnist", "test")
    monkeypatch.setattr(library_preprocess, "library_version", lambda entry: "0.0.1")
    assert load_config([ROOT / "config" / "library.yaml"], ROOT).feature_key("BiT-M", "mnist", "test") != before


def test_a_key_made_with_another_library_version_is_refused_at_extraction():
    from vlgen.models.library_preprocess import resolve_preprocess

    with pytest.raises(ValueError, match="made with torchvision 0.0.1, but .* is installed"):
        resolve_preprocess({"library": "torchvision:ResNet50_Weights.IMAGENET1K_V1", "library_version": "0.0.1"})


def test_non_semantic_model_fields_stay_out_of_the_key(tmp_path):
    base = demo_key(tmp_path, "resnet18-random", {})
    assert demo_key(tmp_path, "resnet18-random", {"description": "other words"}) == base
    assert "transfer_augment" in NON_SEMANTIC_MODEL_FIELDS


# -- 2. options only text models read -------------------------------------------------------------
def test_cub_class_names_change_text_keys_only(tmp_path):
    paper = load_config([], ROOT)
    path = tmp_path / "names.yaml"
    path.write_text(yaml.safe_dump({"dataset_catalog": {"cub": {"class_names": "paper"},
                                                        "imagenet-val": {"expected": {"images": 10, "classes": 4}}}}))
    renamed = load_config([path], ROOT)
    for dataset, splits in (("cub", ("train", "test")), ("imagenet-val", ("val",))):
        for split in splits:
            assert renamed.feature_key("RN50", dataset, split) == paper.feature_key("RN50", dataset, split)
        for text in ("BERT", "CLIP-T"):
            assert renamed.feature_key(text, dataset, "classes") != paper.feature_key(text, dataset, "classes")
    assert "class_names" not in paper.feature_payload("RN50", "cub", "test")["dataset"]
    assert paper.feature_payload("BERT", "cub", "classes")["dataset"]["class_names"] == "real"


# -- 3. weights identity ----------------------------------------------------------------------------
def checkpoint_run(tmp_path, pin: dict) -> RunConfig:
    spec = {"source": "checkpoint", "family": "vision", "architecture": "torchvision/resnet18",
            "format": "state_dict", "weights": pin, "preprocess": PIXELS["preprocess"]}
    return demo_with(tmp_path, {"model_catalog": {"tv": spec}, "models": ["tv"]})


def test_a_digest_pinned_file_moved_to_a_mirror_keeps_its_key(tmp_path):
    here = checkpoint_run(tmp_path, {"url": "https://a.org/w/r18.pth", "sha256": FULL})
    there = checkpoint_run(tmp_path, {"url": "https://mirror.b.net/x/r18.pth", "sha256": FULL, "file": "r.pth"})
    assert here.feature_key("tv", "digits", "test") == there.feature_key("tv", "digits", "test")
    assert here.model_payload("tv")["weights"] == {"sha256": FULL}
    mirrored = {"url": "https://a.org/w/r18.pth", "sha256": FULL, "mirrors": ["https://c.org/r18.pth"]}
    assert pin_identity(mirrored, {}) == {"sha256": FULL}


def test_an_unlocked_url_is_the_key_until_the_committed_lock_names_its_digest(tmp_path):
    a, b = "https://a.org/w/r18.pth", "https://mirror.b.net/r18.pth"
    root = tmp_path / "root"
    at_a, at_b = (in_root(checkpoint_run(tmp_path, {"url": url}), root) for url in (a, b))
    assert at_a.model_payload("tv")["weights"] == {"url": a}
    assert at_a.feature_key("tv", "digits", "test") != at_b.feature_key("tv", "digits", "test")
    assert describe_row(at_a, "tv")["pin"] == "UNLOCKED"
    # a first download's record under resources/ is no part of any key
    record_digest(root / RECORD_FILE, a, FULL)
    assert in_root(at_a, root).feature_key("tv", "digits", "test") == at_a.feature_key("tv", "digits", "test")
    record_digest(root / LOCK_FILE, a, FULL)
    record_digest(root / LOCK_FILE, b, FULL)
    locked_a, locked_b = in_root(at_a, root), in_root(at_b, root)
    assert locked_a.model_payload("tv")["weights"] == {"sha256": FULL}
    assert locked_a.feature_key("tv", "digits", "test") == locked_b.feature_key("tv", "digits", "test")
    assert describe_row(locked_a, "tv")["pin"] == "locked"


def test_a_lock_that_contradicts_the_pin_names_the_field(tmp_path):
    root = tmp_path / "root"
    record_digest(root / LOCK_FILE, "https://a.org/r18-0badc0de.pth", FULL)
    config = in_root(checkpoint_run(tmp_path, {"url": "https://a.org/r18-0badc0de.pth", "sha256": "0badc0de"}), root)
    with pytest.raises(ConfigError, match=r"model_catalog\.tv\.weights: .*the pin says 0badc0de"):
        config.feature_jobs()


def test_hub_pins_use_per_file_digests_where_known():
    pin = {"hub": "org/m", "revision": "c" * 40, "files": ["config.json", "model.safetensors"],
           "sha256": {"model.safetensors": FULL}}
    assert pin_identity(pin, {}) == {"files": {"config.json": {"url": f"hf://org/m@{'c' * 40}/config.json"},
                                               "model.safetensors": {"sha256": FULL}}}
    locked = pin_identity(pin, {f"hf://org/m@{'c' * 40}/config.json": "cd" * 32})
    assert locked == {"files": {"config.json": {"sha256": "cd" * 32}, "model.safetensors": {"sha256": FULL}}}


def describe_row(config: RunConfig, model: str) -> dict:
    return next(row for row in describe_models(config) if row["name"] == model)


def test_vlgen_models_flags_the_paper_pins_that_are_not_locked():
    paper = load_config([], ROOT)
    pins = {row["name"]: row["pin"] for row in describe_models(paper) if row["selected"]}
    assert pins["CLIP"] == pins["CLIP-T"] == "locked"
    assert {m for m, state in pins.items() if state == "UNLOCKED"} >= {"BiT-M", "AR-L2", "AR-LI4", "AR-LI8"}


# -- 4. user-provided data ----------------------------------------------------------------------------
def imagenet_run(tmp_path, folder: Path) -> RunConfig:
    return demo_with(tmp_path, {"models": ["px", "minilm"], "datasets": ["imagenet-val"],
                                "model_catalog": {"px": PIXELS},
                                "dataset_catalog": {"imagenet-val": {"root": str(folder),
                                                                     "expected": {"images": 10, "classes": 4}}}})


def test_fingerprint_is_a_stat_only_hash_of_sorted_paths_and_sizes(tmp_path):
    assert tree_fingerprint(tmp_path / "nothing") == ABSENT
    (tmp_path / "d" / "b").mkdir(parents=True)
    (tmp_path / "d" / "b" / "x.JPEG").write_bytes(b"12345")
    (tmp_path / "d" / "a.txt").write_bytes(b"")
    expected = hashlib.sha256(b"a.txt\t0\nb/x.JPEG\t5\n").hexdigest()
    assert tree_fingerprint(tmp_path / "d") == expected


def test_a_changed_imagenet_copy_changes_its_key_and_a_stale_key_is_refused(tmp_path):
    from vlgen.extract import extract
    from vlgen.store import FeatureStore

    folder = tmp_path / "imagenet"
    absent = imagenet_run(tmp_path, folder)
    assert absent.feature_payload("px", "imagenet-val", "val")["dataset"]["fingerprint"] == ABSENT  # dry runs work
    fake.write_imagenet(folder, "classes")
    first = imagenet_run(tmp_path, folder)
    keys = {m: first.feature_key(m, "imagenet-val", s) for m, s in (("px", "val"), ("minilm", "classes"))}
    assert keys["px"] != absent.feature_key("px", "imagenet-val", "val")
    image = next(folder.rglob("*.JPEG"))
    os.utime(image, ns=(0, 0))  # touched, same bytes: same key
    assert imagenet_run(tmp_path, folder).feature_key("px", "imagenet-val", "val") == keys["px"]
    with image.open("ab") as fh:  # another copy: one file one byte longer
        fh.write(b"\0")
    second = imagenet_run(tmp_path, folder)
    for model, split in (("px", "val"), ("minilm", "classes")):
        assert second.feature_key(model, "imagenet-val", split) != keys[model]
    stale = first.feature_payload("px", "imagenet-val", "val")
    store = tmp_path / "store"
    with pytest.raises(StaleDataError, match=f"dataset folder {folder} is not the copy"):
        extract(stale, store, folder, dataset_spec=first.dataset_payload("imagenet-val"), progress=False)
    assert FeatureStore(store).keys() == []
    fresh = second.feature_payload("px", "imagenet-val", "val")
    extract(fresh, store, folder, dataset_spec=second.dataset_payload("imagenet-val"), progress=False)
    assert FeatureStore(store).keys() == [second.feature_key("px", "imagenet-val", "val")]


def test_only_user_provided_datasets_carry_a_fingerprint():
    paper = load_config([], ROOT)
    assert "fingerprint" not in paper.dataset_payload("mnist")
    assert paper.dataset_payload("imagenet-val")["fingerprint"] in (ABSENT, tree_fingerprint(
        ROOT / paper.dataset_root("imagenet-val")))


def test_extraction_reads_with_a_dataset_spec_only_if_it_agrees_with_the_key(tmp_path):
    from vlgen.extract import reading_spec

    config = load_config([], ROOT)
    payload = config.feature_payload("RN50", "mnist", "test")
    assert "class_names" not in payload["dataset"]
    full = config.dataset_payload("mnist")
    assert reading_spec(payload, full) == full and reading_spec(payload, None) == payload["dataset"]
    with pytest.raises(ValueError, match="disagrees with the key payload on files"):
        reading_spec(payload, {**full, "files": {}})
