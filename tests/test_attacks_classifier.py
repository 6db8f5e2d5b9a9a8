"""The attacked classifier ([0, 1] images -> normalisation -> model -> head) against independent references,
and the attack plan the rules read from the config."""

from pathlib import Path

import numpy as np
import pytest
import torch

from vlgen.attacks.classifier import HeadInputs, attacked_classifier
from vlgen.attacks.job import HeadNearChance, check_clean_accuracy
from vlgen.attacks.settings import GEOMETRY_FIELDS, NORMALISATION_FIELDS, AttackJob, AttackPlan, concrete
from vlgen.config import ConfigError, RunConfig, load_config
from vlgen.models.common import seeded
from vlgen.models.registry import get_source
from vlgen.tasks.probe import Probe, save_probe

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
CLIP_STATS = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}


def normalise(x: torch.Tensor, stats: dict) -> torch.Tensor:
    mean, std = (torch.tensor(stats[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    return (x - mean) / std


def pixels(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_probe_head_gives_the_backbone_and_probe_logits_on_normalised_input(tmp_path):
    payload = {"source": "timm", "name": "resnet18", "pretrained": False, "init_seed": 0, "precision": "fp32",
               "preprocess": {"size": 32, "crop": 32, "interpolation": "bicubic", **IMAGENET}}
    rng = np.random.default_rng(0)
    probe = Probe(weight=rng.normal(size=(5, 512)).astype(np.float32), bias=rng.normal(size=5).astype(np.float32),
                  mean=rng.normal(size=512).astype(np.float32), std=rng.uniform(0.5, 2, 512).astype(np.float32))
    save_probe(tmp_path / "probe.pt", probe, preset="default")
    classifier = attacked_classifier("probe", HeadInputs(payload, probe=tmp_path / "probe.pt"), **IMAGENET)
    x = pixels(3, 32)
    features = get_source("timm").load(payload, None, "cpu")(normalise(x, IMAGENET))
    expected = probe.logits(features.detach().numpy())  # numpy: standardise, then the linear layer
    np.testing.assert_allclose(classifier(x).detach().numpy(), expected, rtol=1e-4, atol=1e-3)
    assert (classifier.dim, classifier.num_classes) == (512, 5)
    assert not any(p.requires_grad for p in classifier.parameters())
    # gradients reach the pixels (what foolbox needs)
    x.requires_grad_(True)
    classifier(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_zeroshot_head_equals_open_clips_own_logits():
    import open_clip

    from vlgen.models.source_open_clip import create_clip

    payload = {"source": "open_clip", "name": "RN50", "pretrained": None, "init_seed": 0, "image_size": 64,
               "precision": "fp32", "preprocess": {"size": 64, "crop": 64, "interpolation": "bicubic", **CLIP_STATS}}
    names = ("cat", "dog", "fire truck")
    classifier = attacked_classifier("zeroshot", HeadInputs(payload, class_names=names, template="a photo of a {}."),
                                     **CLIP_STATS)
    x = pixels(2, 64, seed=1)
    with seeded(0):
        clip = create_clip(payload, None).eval()
    tokens = open_clip.get_tokenizer("RN50")([f"a photo of a {n}." for n in names])
    with torch.no_grad():
        image_features, text_features, _ = clip(normalise(x, CLIP_STATS), tokens)  # both L2-normalised
        expected = 100 * image_features @ text_features.T
        torch.testing.assert_close(classifier(x), expected, rtol=1e-4, atol=1e-3)
    assert classifier.num_classes == 3


def test_native_head_is_the_checkpoints_classifier(tmp_path):
    import torchvision

    torch.manual_seed(0)
    network = torchvision.models.resnet18(num_classes=7).eval()
    torch.save(network.state_dict(), tmp_path / "r18.pth")
    payload = {"source": "checkpoint", "architecture": "torchvision/resnet18", "format": "state_dict",
               "weights": {"url": "https://example.invalid/r18.pth"},
               "preprocess": {"size": 32, "crop": 32, "interpolation": "bilinear", **IMAGENET}}
    # the authors' CLIP defect, on purpose: the classifier normalises with whatever statistics it is given
    other = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    classifier = attacked_classifier("native", HeadInputs(payload, classifier_weights=tmp_path / "r18.pth"), **other)
    x = pixels(2, 32, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(classifier(x), network(normalise(x, other)), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="unknown attack head 'linear'"):
        attacked_classifier("linear", HeadInputs(payload), **other)


def test_a_head_near_chance_stops_the_attack_naming_it():
    check_clean_accuracy(0.25, 10, 2.0, "attack of M")
    with pytest.raises(HeadNearChance, match=r"attack of M through its probe head.*0\.150.*2 x chance \(0\.200\)"):
        check_clean_accuracy(0.15, 10, 2.0, "attack of M through its probe head")


def test_head_sanity_fails_more_than_two_points_below_the_catalog_value():
    from vlgen.attacks.sanity import check_top1

    check_top1(74.2, 76.13, "native head of RN50")
    with pytest.raises(RuntimeError, match=r"native head of RN50: top-1 74\.00 % .* expected_top1 76\.13"):
        check_top1(74.0, 76.13, "native head of RN50")


def test_the_demo_plan_attacks_vision_models_through_probes_untargeted():
    plan = AttackPlan(load_config(["config/demo.yaml"]))
    jobs = plan.jobs()
    assert {j.model for j in jobs} == {"pixels", "resnet18-random", "clip-rn50-random"}  # minilm is text
    assert {(j.dataset, j.head, j.mode) for j in jobs} == {("digits", "probe", "untargeted")}
    assert {j.norm for j in jobs} == {"l2", "linf"} and len(jobs) == 6
    settings = plan.job_settings(AttackJob("resnet18-random", "digits", "probe", "linf", "untargeted"))
    assert settings["split"] == "test" and settings["steps"] == 10 and settings["n_images"] == 32
    assert len(settings["epsilons"]) == 4 and "target_offset" not in settings
    assert settings["geometry"] == {"size": 32, "crop": 32, "interpolation": "bicubic"}
    assert settings["normalisation"] == IMAGENET


def test_the_paper_plan_heads_preprocessing_and_normalisation():
    config = load_config([])
    plan = AttackPlan(config)
    assert plan.datasets == ["imagenet-val"] and plan.split("imagenet-val") == "val"
    heads = {(j.model, j.head) for j in plan.jobs()}
    assert ("RN50", "native") in heads and ("CLIP", "zeroshot") in heads and ("VirTex", "probe") in heads
    assert not any(m in ("ICMLM", "TSM", "BERT", "GPT-2", "CLIP-T") for m, _ in heads)
    assert len(plan.jobs()) == len(heads) * 2 * 2  # norms x modes
    rn50 = plan.job_settings(AttackJob("RN50", "imagenet-val", "native", "linf", "targeted"))
    assert rn50["geometry"] == {"size": 256, "crop": 224, "interpolation": "bilinear"}
    assert rn50["target_offset"] == 800 and rn50["epsilons"][:3] == [0.0, 1e-4, 2e-4]
    assert plan.geometry("BiT-M")["size"] == [224, 224]
    assert plan.normalisation("CLIP") == CLIP_STATS
    defect = AttackPlan(RunConfig.from_dict(
        {**config.raw, "attacks": {**config.raw["attacks"], "imagenet_normalisation": ["CLIP"]}}))
    assert defect.normalisation("CLIP") == IMAGENET
    assert plan.expected_top1("RN50") == 76.13
    assert "expected_top1" not in config.model_payload("RN50")  # not in the feature key


def test_the_library_run_plans_its_attacks_and_resolves_library_statistics_at_job_time():
    """config/library.yaml: preprocessing named by a library tag has no mean/std in the config (the
    README's dry run of it failed on that); the job resolves them as extraction does."""
    root = Path(__file__).resolve().parents[1]
    plan = AttackPlan(load_config([root / "config" / "library.yaml"], root))
    assert all(plan.job_settings(job)["normalisation"] for job in plan.jobs())
    assert concrete(plan.normalisation("RN50"), NORMALISATION_FIELDS) == {
        "mean": pytest.approx(IMAGENET["mean"]), "std": pytest.approx(IMAGENET["std"])}
    assert concrete(plan.normalisation("CLIP"), NORMALISATION_FIELDS) == {
        "mean": pytest.approx(CLIP_STATS["mean"]), "std": pytest.approx(CLIP_STATS["std"])}
    assert concrete(plan.geometry("RN50"), GEOMETRY_FIELDS) == {"size": 256, "crop": 224, "interpolation": "bilinear"}
    assert plan.normalisation("RN50")["library"] == "torchvision:ResNet50_Weights.IMAGENET1K_V1"


def test_an_unknown_head_or_preset_is_named():
    config = load_config([])
    raw = {**config.raw, "attacks": {**config.raw["attacks"], "preprocess": {"RN50": "imagenet_225"}}}
    with pytest.raises(ConfigError, match="attacks.preprocess.RN50: unknown preset 'imagenet_225'"):
        AttackPlan(RunConfig.from_dict(raw)).geometry("RN50")
    raw = {**config.raw, "attacks": {**config.raw["attacks"], "heads": {"CLIP": ["linear"]}}}
    with pytest.raises(ConfigError, match="attacks.heads.CLIP"):
        AttackPlan(RunConfig.from_dict(raw))
