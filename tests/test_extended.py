"""The extended run (config/extended.yaml, config/models/extended.yaml): every entry pinned as the keys
policy says, its factors declared, and the dry run of its whole DAG with no network and no weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.repo import copy_workflow

from vlgen.config import load_config
from vlgen.models.listing import pin_state
from vlgen.models.registry import get_source
from vlgen.weights import model_pin

ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "helpers" / "run_snakemake.py"
EXTENDED = ROOT / "config" / "extended.yaml"
# Issue 16's list, by what each entry is: (data, supervision, architecture).
FACTORS = {
    "CLIP": ("WIT-400M", "language", "RN50"), "CLIP-RN50-yfcc15m": ("YFCC-15M", "language", "RN50"),
    "CLIP-RN50-cc12m": ("CC-12M", "language", "RN50"),
    "CLIP-B32-openai": ("WIT-400M", "language", "ViT-B/32"), "CLIP-B32-laion2b": ("LAION-2B", "language", "ViT-B/32"),
    "CLIP-B16-openai": ("WIT-400M", "language", "ViT-B/16"), "CLIP-B16-laion2b": ("LAION-2B", "language", "ViT-B/16"),
    "SigLIP-B16": ("WebLI", "language", "ViT-B/16"),
    "DINOv2-S14": ("LVD-142M", "self-supervised", "ViT-S/14"),
    "DINOv2-B14": ("LVD-142M", "self-supervised", "ViT-B/14"),
    "ViT-B16-in21k": ("ImageNet-21k", "labels", "ViT-B/16"), "ViT-B16-in1k": ("ImageNet-1k", "labels", "ViT-B/16"),
}
TEXT_TOWERS = {f"{m}-T": m for m in FACTORS if m.startswith("CLIP-")} | {"CLIP-T": "CLIP"}


@pytest.fixture(scope="module")
def extended():
    return load_config([EXTENDED], ROOT)


def test_the_extended_run_selects_every_model_of_the_issue_and_the_clip_text_towers(extended):
    assert extended.run == "extended"
    assert sorted(extended.image_models) == sorted(FACTORS)
    assert sorted(extended.text_models) == sorted(TEXT_TOWERS)
    for model in extended.models:
        factors = extended.model_spec(model)["factors"]
        expected = FACTORS[TEXT_TOWERS.get(model, model)]
        assert (factors["data"], factors["supervision"], factors["architecture"]) == expected, model


def test_every_entry_is_pinned_by_commit_digest_or_file_url_and_only_digests_count_as_locked(extended):
    for model in extended.models:
        spec = extended.model_spec(model)
        assert get_source(spec["source"]).check(spec) == [], model
        pin = spec["weights"]
        assert model_pin(model, spec) is not None
        if "hub" in pin:  # a hub pin names a commit, never a branch
            assert len(pin["revision"]) == 40 and all(c in "0123456789abcdef" for c in pin["revision"])
        else:  # a file on a Hugging Face repository's main branch, locked on first download
            assert pin["url"].startswith("https://huggingface.co/") and "/resolve/main/" in pin["url"], model
        identity = extended.weights_identity(model)
        digests_known = "sha256" in identity if "url" in pin else all(
            "sha256" in f for f in identity["files"].values())
        assert pin_state(identity) == ("locked" if digests_known else "UNLOCKED"), model
    # each CLIP text tower reads its image tower's file: the same bytes, the same identity in both keys
    for text, image in TEXT_TOWERS.items():
        assert extended.weights_identity(text) == extended.weights_identity(image), text


def test_factors_stay_out_of_the_keys(extended):
    paper = load_config([], ROOT)
    for model in ("CLIP", "CLIP-T"):  # the run config adds factors to the paper's entries: same features
        assert "factors" not in extended.model_payload(model)
        assert extended.feature_key(model, "cifar10", "test" if model == "CLIP" else "classes") == \
            paper.feature_key(model, "cifar10", "test" if model == "CLIP" else "classes")


def test_library_preprocessing_where_the_paper_has_no_rule(extended):
    for model in extended.image_models:
        preprocess = extended.model_payload(model)["preprocess"]
        if model == "CLIP":  # the paper's entry, the paper's preset
            assert "library" not in preprocess
            continue
        library, _, tag = preprocess["library"].partition(":")
        spec = extended.model_spec(model)
        if library == "timm":
            assert tag == f"{spec['name']}.{spec['pretrained']}", model
        else:
            assert library == "open_clip" and spec["architecture"].startswith("open_clip/"), model


@pytest.mark.slow
def test_extended_dry_run_lists_every_model_on_every_dataset_offline(tmp_path, extended):
    work = copy_workflow(tmp_path / "repo")
    assert not (work / "resources").exists()
    proc = subprocess.run([sys.executable, str(HELPER), str(work), "--dryrun", "--configfile", "config/extended.yaml"],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    scheduled = set(json.loads(proc.stdout.split("SCHEDULED=")[-1]))
    feature_jobs = extended.feature_jobs()
    for model in extended.models:
        assert {f.path for f in model_pin(model, extended.model_spec(model)).files} <= scheduled, model
        for dataset in extended.datasets:
            jobs = [j for j in feature_jobs if j.model == model and j.dataset == dataset]
            assert jobs, (model, dataset)
            assert {f"results/store/features/{j.key}.json" for j in jobs} <= scheduled, (model, dataset)
        evaluations = [p for p in scheduled if p.startswith("results/extended/") and f"/{model}/" in p]
        assert any("/rsa/rdms/" in p for p in evaluations), model
        if model in extended.image_models:
            for task in ("fewshot", "clustering", "transfer"):
                assert any(p.startswith(f"results/extended/{task}/{model}/") for p in evaluations), (model, task)
    assert not any("/attacks/" in p for p in scheduled)
    assert {f"results/extended/figures/fig1_by_factor/{f}.png" for f in ("data", "supervision", "architecture")} \
        <= scheduled


def test_figure1_grouped_by_a_factor_orders_and_colours_models_by_its_value():
    import pandas as pd

    from vlgen.report.generalization import grouped_by_factor
    from vlgen.report.plots import generalization_figure

    factors = {"A": {"supervision": "labels"}, "B": {"supervision": "language"}, "C": {"supervision": "labels"}}
    means = pd.DataFrame({"model": ["A", "B", "C", "D"], "panel": "transfer", "mean": [0.5, 0.6, 0.7, 0.8],
                          "sem": 0.01, "family": ["vision", "vision-language", "vision", "text"]})
    grouped = grouped_by_factor(means, factors, "supervision")
    assert grouped["family"].tolist() == ["supervision: labels", "supervision: language", "supervision: labels",
                                          "supervision: unspecified"]
    assert grouped[["model", "mean"]].equals(means[["model", "mean"]])
    fig = generalization_figure(grouped, ["transfer"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "C", "B", "D"]  # one value's models together
    bars = {ax.get_yticklabels()[round(p.get_y() + p.get_height() / 2)].get_text(): p.get_facecolor()
            for p in ax.patches}
    assert len({bars["A"], bars["C"], bars["B"], bars["D"]}) == 4  # shades of a group differ per model
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["supervision: labels", "supervision: language", "supervision: unspecified"]
