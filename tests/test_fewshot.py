"""Few-shot prototype classification against a direct loop implementation, and its figure."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.imports import heavy_imports
from vlgen.report.plots import fewshot_figure, model_colours, plot_fewshot
from vlgen.tasks.fewshot import (
    episode_rng,
    fewshot_trials,
    prototypes,
    sample_support,
    summarise,
)

SEED, DATASET = 7, "toy"


def reference_support(labels, shots, rng):
    """Per class, the first `shots` indices met while walking one permutation of the split."""
    chosen = {c: [] for c in range(labels.max() + 1)}
    for index in rng.permutation(len(labels)):
        if len(chosen[labels[index]]) < shots:
            chosen[labels[index]].append(index)
    return [index for c in sorted(chosen) for index in chosen[c]]


def reference_accuracy(train_x, train_y, test_x, test_y, shots, rng, renormalise):
    """The protocol written as plainly as possible, in float64, one test image at a time."""
    n_classes = max(train_y.max(), test_y.max()) + 1
    support = reference_support(train_y, shots, rng)
    protos = []
    for c in range(n_classes):
        members = [train_x[i] / np.linalg.norm(train_x[i]) for i in support if train_y[i] == c]
        proto = np.mean(members, axis=0)
        if renormalise:
            proto = proto / np.linalg.norm(proto)
        protos.append(proto)
    correct = 0
    for x, y in zip(test_x, test_y):
        x = x / np.linalg.norm(x)
        scores = [float(x @ proto) for proto in protos]
        correct += int(np.argmax(scores) == y)
    return correct / len(test_y)


def random_split(rng, n, n_classes, dim):
    """Overlapping class clouds, so accuracies are neither 0 nor 1 and presets can disagree."""
    centres = rng.normal(size=(n_classes, dim))
    labels = rng.integers(0, n_classes, size=n)
    scale = rng.uniform(0.5, 3.0, size=(n, 1))
    return (centres[labels] + 1.5 * rng.normal(size=(n, dim))) * scale, labels


@pytest.fixture(scope="module")
def splits():
    rng = np.random.default_rng(0)
    train_x, train_y = random_split(rng, 300, 6, 16)
    test_x, test_y = random_split(rng, 200, 6, 16)
    return train_x, train_y, test_x, test_y


def run_trials(splits, **overrides):
    options = dict(shots=[1, 3, 5], trials=3, seed=SEED, dataset=DATASET)
    return fewshot_trials(*splits, presets=["paper", "default"], **{**options, **overrides})


def test_accuracy_matches_reference_loop(splits):
    rows = run_trials(splits)
    assert len(rows) == 3 * 3 * 2
    for row in rows:
        rng = episode_rng(SEED, DATASET, row["shots"], row["trial"])
        expected = reference_accuracy(*splits, row["shots"], rng, row["preset"] == "default")
        assert row["accuracy"] == expected, row


def test_presets_agree_at_one_shot_and_differ_somewhere(splits):
    by_key = {(r["preset"], r["shots"], r["trial"]): r["accuracy"] for r in run_trials(splits)}
    for trial in range(3):
        # One shot: every prototype is a unit vector, re-normalising changes nothing.
        assert by_key["paper", 1, trial] == by_key["default", 1, trial]
    assert any(by_key["paper", n, t] != by_key["default", n, t] for n in (3, 5) for t in range(3))


def test_renormalisation_changes_a_prediction():
    # Class 0's two support images are 120 degrees apart: its mean has norm 0.5. Class 1's two
    # coincide: norm 1. A test image at 30 degrees is closer in angle to class 0 (30 vs 60
    # degrees) but, unnormalised, 0.5 * cos 30 = 0.43 < cos 60 = 0.5 picks class 1.
    angles = np.radians([60.0, -60.0, 90.0, 90.0])
    train_x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    train_y = np.array([0, 0, 1, 1])
    test_angles = np.radians([30.0, 0.0])  # the second one both presets get right
    test_x = np.stack([np.cos(test_angles), np.sin(test_angles)], axis=1)
    test_y = np.array([0, 0])
    rows = fewshot_trials(
        train_x, train_y, test_x, test_y,
        shots=[2], trials=1, seed=0, dataset=DATASET, presets=["paper", "default"],
    )
    assert {r["preset"]: r["accuracy"] for r in rows} == {"paper": 0.5, "default": 1.0}
    paper = prototypes(train_x, train_y, np.arange(4), 2, "paper")
    np.testing.assert_allclose(np.linalg.norm(paper, axis=1), [0.5, 1.0], atol=1e-6)


def test_episodes_depend_on_labels_and_episode_only(splits):
    train_x, train_y, test_x, test_y = splits
    first = sample_support(train_y, 5, episode_rng(SEED, DATASET, 5, 0))
    again = sample_support(train_y, 5, episode_rng(SEED, DATASET, 5, 0))
    np.testing.assert_array_equal(first, again)
    for other in [(SEED, DATASET, 5, 1), (SEED, "other", 5, 0), (SEED + 1, DATASET, 5, 0)]:
        assert not np.array_equal(first, sample_support(train_y, 5, episode_rng(*other)))
    # A second "model": other features, same direction per row (positive rescaling). Same
    # episodes and normalised features, so every accuracy must be identical.
    rescale = np.random.default_rng(1).uniform(0.1, 10.0, size=(len(train_x), 1))
    assert run_trials(splits) == run_trials((train_x * rescale, train_y, test_x, test_y))


def test_episode_hash_is_stable_across_processes():
    code = (
        "from vlgen.tasks.fewshot import episode_rng as rng;"
        " print(rng(3, 'CIFAR10', 5, 2).integers(1 << 60))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": salt},
        ).stdout
        for salt in ("1", "2")
    }
    assert outputs == {f"{episode_rng(3, 'CIFAR10', 5, 2).integers(1 << 60)}\n"}


def test_support_is_first_n_of_the_permutation():
    labels = np.random.default_rng(2).integers(0, 7, size=120)
    for shots in (1, 4, 10):
        support = sample_support(labels, shots, episode_rng(SEED, DATASET, shots, 0))
        expected = reference_support(labels, shots, episode_rng(SEED, DATASET, shots, 0))
        np.testing.assert_array_equal(support, expected)


def test_small_class_gives_all_its_images():
    labels = np.array([0] * 3 + [1] * 10 + [2] * 5)
    support = sample_support(labels, 5, episode_rng(SEED, DATASET, 5, 0))
    np.testing.assert_array_equal(np.bincount(labels[support]), [3, 5, 5])
    assert set(support[labels[support] == 0]) == {0, 1, 2}


def test_separated_blobs_are_perfect():
    rng = np.random.default_rng(3)
    centres = 10.0 * np.eye(5, 32)
    train_y, test_y = np.repeat(np.arange(5), 20), np.repeat(np.arange(5), 30)
    train_x = centres[train_y] + 0.1 * rng.normal(size=(100, 32))
    test_x = centres[test_y] + 0.1 * rng.normal(size=(150, 32))
    rows = fewshot_trials(
        train_x.astype(np.float32), train_y, test_x.astype(np.float32), test_y,
        shots=[1, 5, 10], trials=2, seed=0, dataset=DATASET, presets=["paper", "default"],
    )
    assert [r["accuracy"] for r in rows] == [1.0] * 12


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match="'bogus'"):
        fewshot_trials(
            np.ones((2, 2)), np.array([0, 1]), np.ones((2, 2)), np.array([0, 1]),
            shots=[1], trials=1, seed=0, dataset=DATASET, presets=["paper", "bogus"],
        )


def test_summarise_matches_numpy():
    """The paper preset's std is numpy's default (ddof=0, the authors'), the default preset's the sample std."""
    rng = np.random.default_rng(4)
    rows = [
        {"model": m, "dataset": "d", "preset": p, "shots": n, "trial": t, "accuracy": a}
        for m in ("A", "B") for p in ("paper", "default") for n in (1, 5) for t, a in enumerate(rng.uniform(size=10))
    ]
    summary = summarise(rows)
    assert len(summary) == 8
    for group in summary:
        members = [r for r in rows if (r["model"], r["preset"], r["shots"]) ==
                   (group["model"], group["preset"], group["shots"])]
        acc = np.array([r["accuracy"] for r in members])
        ddof = {"paper": 0, "default": 1}[group["preset"]]
        assert group["n_trials"] == 10 and group["ddof"] == ddof
        assert group["mean"] == pytest.approx(np.mean(acc))
        assert group["std"] == pytest.approx(np.std(acc, ddof=ddof))
        assert group["sem"] == pytest.approx(np.std(acc, ddof=ddof) / np.sqrt(10))
    assert summarise(rows, ddof={"paper": 1, "default": 1})[0]["std"] == pytest.approx(
        np.std([r["accuracy"] for r in rows[:10]], ddof=1))
    single = summarise([r for r in rows if r["preset"] == "default"][:1])[0]
    assert single["mean"] == rows[20]["accuracy"] and math.isnan(single["std"])
    assert summarise(rows[:1])[0]["std"] == 0.0  # numpy's std of one value (ddof=0)


def test_evaluation_and_plots_do_not_import_torch():
    assert heavy_imports("vlgen.tasks.fewshot", "vlgen.report.plots") == []


def fewshot_table(models, datasets, presets, **extra):
    rng = np.random.default_rng(5)
    rows = [
        {"model": m, "dataset": d, "preset": p, "shots": n, "trial": t,
         "accuracy": rng.uniform(0.2, 0.9), "feature_key": f"{m}-{d}"}
        for m in models for d in datasets for p in presets for n in (1, 5, 10) for t in range(3)
    ]
    return pd.DataFrame(rows).assign(**extra)


def test_plot_fewshot_writes_png(tmp_path):
    table = fewshot_table(["RN50", "CLIP", "BERT"], ["MNIST", "CIFAR10"], ["paper", "default"])
    out = tmp_path / "figures" / "fewshot.png"
    plot_fewshot(table, out)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 0
    assert len(fewshot_figure(table).axes) == 4  # 2 datasets x 2 presets


def test_fewshot_figure_scales_to_many_models(tmp_path):
    models = [f"model-{i}" for i in range(30)]
    datasets = ["MNIST", "SVHN", "CUB", "CIFAR100"]
    table = fewshot_table(models, datasets, ["default"], n_classes=10)
    fig = fewshot_figure(table)
    assert len(fig.axes) == 4
    assert len(fig.legends[0].get_texts()) == 31  # 30 models + chance
    assert len(set(model_colours(models).values())) == 30
    with_family = table.assign(family=np.where(table["model"] < "model-2", "vision", "text"))
    assert len(fewshot_figure(with_family).axes) == 4
