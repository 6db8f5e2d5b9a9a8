"""The paper's model zoo as configured: the 15 catalog entries, their preprocessing presets (paper and
library), and the dry run of the paper workflow with no network and no weights present."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.repo import copy_workflow
from PIL import Image

from vlgen.config import load_config
from vlgen.models.registry import get_source
from vlgen.preprocess import build_transform
from vlgen.weights import model_files, model_pin

ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "helpers" / "run_snakemake.py"
# PROTOCOL.md, "Models": name -> family.
FAMILIES = {"RN50": "vision", "BiT-M": "vision", "SIN": "vision", "SIN+IN": "vision", "SIN+IN-FIN": "vision",
            "AR-L2": "vision", "AR-LI4": "vision", "AR-LI8": "vision", "CLIP": "vision-language", "CLIP-T": "text",
            "VirTex": "vision-language", "ICMLM": "vision-language", "TSM": "vision-language", "BERT": "text",
            "GPT-2": "text"}
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
CLIP = ([0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711])
HALF = ([0.5] * 3, [0.5] * 3)
PIXELS = ([0] * 3, [1] * 3)  # TSM: no normalisation, the model takes pixels in [0, 1]
# PROTOCOL.md, "Preprocessing for feature extraction": (crop, mean, std) in the paper preset.
PAPER_PREPROCESS = {**{m: (256, *IMAGENET) for m in ("RN50", "SIN", "SIN+IN", "SIN+IN-FIN", "AR-L2", "AR-LI4",
                                                     "AR-LI8", "VirTex", "ICMLM")},
                    "BiT-M": (256, *HALF), "CLIP": (224, *CLIP), "TSM": (256, *PIXELS)}


@pytest.fixture(scope="module")
def paper():
    return load_config([], ROOT)


def test_the_paper_run_selects_the_15_models_with_their_families_and_pins(paper):
    assert paper.run == "paper" and sorted(paper.models) == sorted(FAMILIES)
    assert {m: paper.model_spec(m)["family"] for m in paper.models} == FAMILIES
    assert sorted(paper.text_models) == ["BERT", "CLIP-T", "GPT-2"]
    for model in paper.models:
        spec = paper.model_spec(model)
        assert get_source(spec["source"]).check(spec) == []
        assert model_pin(model, spec) is not None, f"{model} has no pinned weights"
        hub = spec["weights"].get("hub")  # hub pins name a commit, URL pins a file
        assert (len(spec["weights"]["revision"]) == 40) if hub else spec["weights"]["url"].startswith("http")
    assert model_pin("CLIP", paper.model_spec("CLIP")) == model_pin("CLIP-T", paper.model_spec("CLIP-T"))
    assert paper.model_payload("CLIP")["weights"] == paper.model_payload("CLIP-T")["weights"]
    # the attack head of BiT-M is a second checkpoint, which is not part of any feature key
    assert "classifier" not in paper.model_payload("BiT-M") and len(model_files("BiT-M", paper.model_spec("BiT-M"))) == 2
    assert {paper.model_payload(m).get("token_rule") for m in ("BERT", "GPT-2")} == {"first"}


@pytest.mark.slow
def test_feature_widths_of_the_image_models(paper):
    """Built without weights; TSM's width (2048, `before_head`) is known only from its SavedModel."""
    torch_models = [m for m in paper.image_models if m != "TSM"]
    widths = {m: get_source(paper.model_payload(m)["source"]).feature_dim(paper.model_payload(m))
              for m in torch_models}
    assert widths == {m: 1024 if m == "CLIP" else 2048 for m in torch_models}
    with pytest.raises(NotImplementedError, match="SavedModel"):
        get_source("tf_hub").feature_dim(paper.model_payload("TSM"))


def constant_image(colour=(200, 120, 40), size=(300, 180)) -> Image.Image:
    return Image.new("RGB", size, colour)


@pytest.mark.parametrize("model", sorted(PAPER_PREPROCESS))
def test_paper_presets_give_the_documented_size_and_statistics(paper, model):
    crop, mean, std = PAPER_PREPROCESS[model]
    preprocess = paper.model_payload(model)["preprocess"]
    assert (preprocess["size"], preprocess["crop"], preprocess["interpolation"]) == (crop, crop, "bicubic")
    colour = np.array([200, 120, 40])
    out = build_transform(preprocess)(constant_image())
    assert out.shape == (3, crop, crop)
    expected = (colour / 255 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(out.mean(dim=(1, 2)).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(out.std(dim=(1, 2)).numpy(), 0, atol=1e-5)


def library_transform(tag: str):
    """The library's own eval transform, built by the library."""
    library, _, name = tag.partition(":")
    if library == "timm":
        import timm
        from timm.data import create_transform, resolve_data_config

        return create_transform(**resolve_data_config({}, pretrained_cfg=timm.models.get_pretrained_cfg(name).to_dict()))
    if library == "open_clip":
        import open_clip
        from open_clip.transform import image_transform

        model, _, pretrained = name.partition("/")
        cfg = open_clip.get_pretrained_cfg(model, pretrained)
        return image_transform(224, is_train=False, mean=cfg["mean"], std=cfg["std"],
                               interpolation=cfg["interpolation"], resize_mode=cfg["resize_mode"])
    import torchvision

    return torchvision.models.get_weight(name).transforms()


@pytest.mark.parametrize("tag, size, crop, interpolation, stats", [
    ("torchvision:ResNet50_Weights.IMAGENET1K_V1", 256, 224, "bilinear", IMAGENET),
    ("timm:resnetv2_50x1_bit.goog_in21k", 256, 224, "bilinear", HALF),
    ("open_clip:RN50/openai", 224, 224, "bicubic", CLIP),
])
def test_library_mode_resolves_to_the_librarys_own_transform(tag, size, crop, interpolation, stats):
    from vlgen.models.library_preprocess import resolve_preprocess

    import importlib.metadata

    resolved = resolve_preprocess({"library": tag, "resize_backend": "pil"})
    package = {"torchvision": "torchvision", "timm": "timm", "open_clip": "open_clip_torch"}[tag.partition(":")[0]]
    assert resolved == {"size": size, "crop": crop, "interpolation": interpolation, "mean": stats[0],
                        "std": stats[1], "resize_backend": "pil", "library": tag,
                        "library_version": importlib.metadata.version(package)}
    pixels = np.random.default_rng(0).integers(0, 256, (190, 310, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    expected = library_transform(tag)(image)
    torch.testing.assert_close(build_transform(resolved)(image), expected, rtol=0, atol=1e-5)


def test_config_library_yaml_switches_every_paper_image_model_to_library_mode():
    library = load_config([ROOT / "config" / "library.yaml"], ROOT)
    paper = load_config([], ROOT)
    assert library.run == "paper-library"
    for model in paper.image_models:
        if model == "TSM":  # a TensorFlow SavedModel has no library preprocessing: its own [0, 1] input
            assert library.model_payload(model) == paper.model_payload(model)
            continue
        assert "library" in library.model_payload(model)["preprocess"]
        assert library.feature_key(model, "mnist", "test") != paper.feature_key(model, "mnist", "test")
    assert library.feature_key("BERT", "mnist", "classes") == paper.feature_key("BERT", "mnist", "classes")


@pytest.mark.slow
def test_dry_run_lists_weights_extraction_and_evaluation_jobs_of_all_15_models(tmp_path, paper):
    work = copy_workflow(tmp_path / "repo")
    assert not (work / "resources").exists()  # no weights (nor data) present
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(HELPER), str(work), "--dryrun"], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    scheduled = set(json.loads(proc.stdout.split("SCHEDULED=")[-1]))
    assert elapsed < 30, f"dry run took {elapsed:.1f} s"
    for model in paper.models:
        assert {f.path for f in model_pin(model, paper.model_spec(model)).files} <= scheduled, model
        assert {f"results/store/features/{j.key}.json" for j in paper.feature_jobs() if j.model == model} <= scheduled
        evaluations = [p for p in scheduled if p.startswith("results/paper/") and f"/{model}/" in p]
        assert any("/rsa/rdms/" in p for p in evaluations), model
        if model in paper.image_models:
            for task in ("fewshot", "clustering", "transfer"):
                assert any(p.startswith(f"results/paper/{task}/{model}/") for p in evaluations), (model, task)
    # the BiT-M in1k head is fetched for BiT-M's native-head attacks (never part of a feature key: see above)
    assert any("/BiT-M/classifier/" in p for p in scheduled)
    assert "results/paper/attacks/BiT-M/imagenet-val/native_linf_untargeted.npz" in scheduled
    # TSM, the fifteenth: extracted (in the TF environment) and evaluated, but never attacked (nor ICMLM)
    assert len(paper.models) == 15 and any(j.model == "TSM" for j in paper.feature_jobs())
    assert not any(f"/attacks/{m}/" in p for m in ("TSM", "ICMLM") for p in scheduled)
