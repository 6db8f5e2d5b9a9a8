"""Linear probes against independent references: a scipy L-BFGS fit of the same objective, a
plain-torch Adam loop, and the selection rule recomputed from scratch."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import log_softmax, softmax
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vlgen.config import RunConfig, load_config
from vlgen.tasks.probe import (
    AdamSchedule,
    default_probe,
    fit_cached_probe,
    n_classes_of,
    paper_cached_probe,
    scheduled_presets,
    transfer_row,
)

ROOT = Path(__file__).resolve().parents[1]

GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]
LOGISTIC = {"C_grid": GRID, "val_fraction": 0.2, "max_iter": 1000, "tol": 1e-4}


def overlapping_classes(n, n_classes, dim, seed, scale=1.0):
    """Gaussian classes that overlap (accuracy well below 1), with features of uneven scales."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim))
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    x = centres[labels] + 1.3 * rng.normal(size=(n, dim))
    return (x * rng.uniform(0.1, 10.0, size=dim) * scale + 3.0).astype(np.float32), labels


@pytest.fixture(scope="module")
def data():
    x, y = overlapping_classes(900, 4, 20, seed=0)
    return x[:600], y[:600], x[600:], y[600:]


def reference_logistic(x, y, n_classes, C):
    """argmin_W,b  C * sum_i CE(softmax(W x_i + b), y_i) + |W|^2 / 2, by scipy's L-BFGS-B."""
    n, dim = x.shape
    onehot = np.eye(n_classes)[y]

    def objective(theta):
        w, b = theta[: n_classes * dim].reshape(n_classes, dim), theta[n_classes * dim:]
        logits = x @ w.T + b
        loss = -np.sum(onehot * log_softmax(logits, axis=1))
        grad_logits = softmax(logits, axis=1) - onehot
        grad_w = C * grad_logits.T @ x + w
        return C * loss + 0.5 * np.sum(w * w), np.concatenate([grad_w.ravel(), C * grad_logits.sum(0)])

    theta = minimize(objective, np.zeros(n_classes * (dim + 1)), jac=True, method="L-BFGS-B",
                     options={"maxiter": 20_000, "gtol": 1e-10, "ftol": 1e-15}).x
    return theta[: n_classes * dim].reshape(n_classes, dim), theta[n_classes * dim:]


def standardise(train_x, other):
    mean, std = train_x.mean(0), train_x.std(0)
    return (np.asarray(other, np.float64) - mean) / std


def test_default_probe_matches_a_direct_minimisation(data):
    train_x, train_y, test_x, test_y = data
    probe = default_probe(train_x, train_y, 4, C_grid=GRID, val_fraction=0.2, seed=0)
    w, b = reference_logistic(standardise(train_x, train_x), train_y, 4, probe.C)
    reference_logits = standardise(train_x, test_x) @ w.T + b
    reference_accuracy = np.mean(reference_logits.argmax(1) == test_y)
    assert 0.5 < reference_accuracy < 0.98  # a problem where the solver matters
    assert abs(probe.accuracy(test_x, test_y) - reference_accuracy) <= 0.01
    np.testing.assert_allclose(softmax(probe.logits(test_x), axis=1), softmax(reference_logits, axis=1), atol=5e-3)
    np.testing.assert_allclose(probe.mean, train_x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(probe.std, train_x.std(0), rtol=1e-4)


def test_selection_is_the_best_cold_fit_on_a_stratified_holdout(data):
    train_x, train_y, _, _ = data
    probe = default_probe(train_x, train_y, 4, C_grid=GRID, val_fraction=0.2, seed=3)
    fit, val = train_test_split(np.arange(600), test_size=0.2, stratify=train_y, random_state=3)
    scores = [make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(train_x[fit], train_y[fit])
              .score(train_x[val], train_y[val]) for C in GRID]
    assert probe.n_val == val.size == math.ceil(0.2 * 600)
    assert np.all(np.abs(np.bincount(train_y[val]) - 0.2 * np.bincount(train_y)) <= 1)  # stratified
    np.testing.assert_allclose(probe.selection["val_accuracy"], scores, atol=2 / val.size)
    best = [C for C, s in zip(GRID, probe.selection["val_accuracy"]) if s == max(probe.selection["val_accuracy"])]
    assert probe.C == best[0]  # ties: the smallest C


def test_shuffled_test_labels_leave_the_choice_unchanged(data):
    train_x, train_y, test_x, test_y = data
    shuffled = np.random.default_rng(0).permutation(test_y)
    rows = []
    for labels in (test_y, shuffled):
        probe = fit_cached_probe("default", train_x, train_y, n_classes_of(train_y, labels), LOGISTIC, 0)
        rows.append((transfer_row(probe, test_x, labels, n_train=len(train_y)), probe))
    (real, probe_a), (fake, probe_b) = rows
    assert real["C"] == fake["C"]
    np.testing.assert_array_equal(probe_a.weight, probe_b.weight)
    assert fake["accuracy"] < real["accuracy"] - 0.2  # the shuffle did reach the evaluation
    assert (real["n_train"], real["n_val"], real["n_test"]) == (600, 120, 300)


def test_two_classes_give_a_two_row_head_with_sklearns_probabilities():
    x, y = overlapping_classes(400, 2, 10, seed=1)
    probe = default_probe(x[:300], y[:300], 2, C_grid=[0.05], val_fraction=0.2, seed=0)
    assert probe.weight.shape == (2, 10)
    # scikit-learn fits one vector for two classes: C * sum CE + |w|^2 / 2 equals the two-row
    # softmax objective at C / 2 (the rows settle at -w/2 and w/2).
    w, b = reference_logistic(standardise(x[:300], x[:300]), y[:300], 2, 0.025)
    reference = softmax(standardise(x[:300], x[300:]) @ w.T + b, axis=1)
    np.testing.assert_allclose(softmax(probe.logits(x[300:]), axis=1), reference, atol=2e-3)


def reference_adam(x, y, n_classes, schedule, seed):
    """The paper schedule written out with plain torch."""
    import torch

    torch.manual_seed(seed)
    linear = torch.nn.Linear(x.shape[1], n_classes)
    optimizer = torch.optim.Adam(linear.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    x, y = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    for _ in range(schedule.epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), schedule.batch_size):
            rows = order[start:start + schedule.batch_size]
            loss = torch.nn.functional.cross_entropy(linear(x[rows]), y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return linear.weight.detach().numpy(), linear.bias.detach().numpy()


@pytest.mark.slow  # the first torch optimizer imports torch._dynamo: ~3 s
def test_paper_cached_equals_a_plain_torch_loop(data):
    train_x, train_y, test_x, test_y = data
    schedule = AdamSchedule(epochs=5, batch_size=60, lr=1e-3, weight_decay=5e-4)
    probe = paper_cached_probe(train_x, train_y, 4, schedule=schedule, seed=11)
    weight, bias = reference_adam(train_x, train_y, 4, schedule, seed=11)
    np.testing.assert_allclose(probe.weight, weight, atol=1e-6)
    np.testing.assert_allclose(probe.bias, bias, atol=1e-6)
    np.testing.assert_array_equal(probe.mean, 0.0)
    np.testing.assert_array_equal(probe.std, 1.0)
    assert probe.C is None and probe.n_val == 0
    again = paper_cached_probe(train_x, train_y, 4, schedule=schedule, seed=12)
    assert not np.allclose(again.weight, probe.weight)


def test_saved_probe_loads_weights_only_and_folds_into_one_linear(tmp_path, data):
    import torch

    from vlgen.tasks.probe import linear_head, save_probe

    train_x, train_y, test_x, _ = data
    probe = default_probe(train_x, train_y, 4, C_grid=[0.1, 1.0], val_fraction=0.2, seed=0)
    path = tmp_path / "probes" / "m" / "d" / "default.pt"
    save_probe(path, probe, preset="default", model="m", dataset="d", feature_key="k" * 20)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["n_classes"] == 4 and checkpoint["preset"] == "default" and checkpoint["C"] == probe.C
    assert set(checkpoint["state_dict"]) == {"weight", "bias"}
    # The reference: standardise with the saved statistics, then the saved layer.
    x = torch.from_numpy(test_x)
    standardised = (x - checkpoint["mean"]) / checkpoint["std"]
    layer = checkpoint["state_dict"]
    expected = torch.nn.functional.linear(standardised, layer["weight"], layer["bias"])
    with torch.no_grad():
        logits = linear_head(path)(x)
    np.testing.assert_allclose(logits.numpy(), expected.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(logits.argmax(1).numpy(), probe.logits(test_x).argmax(1))


def test_unknown_or_model_bound_preset_is_refused(data):
    with pytest.raises(ValueError, match="'paper'"):
        fit_cached_probe("paper", *data[:2], 4, {}, 0)


def test_a_class_without_train_samples_is_an_error():
    x, y = overlapping_classes(100, 3, 5, seed=2)
    with pytest.raises(ValueError, match=r"\[3\]"):
        default_probe(x, y, 4, C_grid=[1.0], val_fraction=0.2, seed=0)


@pytest.mark.parametrize("mode, gpu, expected", [
    ("auto", False, ["default", "paper_cached"]),
    ("auto", True, ["default", "paper_cached", "paper"]),
    ("always", False, ["default", "paper_cached", "paper"]),
    ("never", True, ["default", "paper_cached"]),
])
def test_paper_preset_runs_where_a_gpu_is(mode, gpu, expected):
    section = {"presets": ["default", "paper_cached", "paper"], "run_paper_preset": mode}
    assert scheduled_presets(section, gpu_present=gpu) == expected


# -- the paper preset: features recomputed from (augmented) images --------------------------------
PIXELS = {"source": "pixels", "precision": "fp32",
          "preprocess": {"size": 8, "crop": 8, "interpolation": "bilinear", "mean": [0.5, 0.5, 0.5],
                         "std": [0.5, 0.5, 0.5], "resize_backend": "pil"}}
DIGITS = {"reader": "digits", "test_fraction": 0.5, "seed": 0}


@pytest.mark.slow
def test_augmented_probe_without_augmentation_is_paper_cached_on_the_same_features(tmp_path):
    from vlgen.data import load_split
    from vlgen.preprocess import build_transform
    from vlgen.tasks.probe_augmented import Augmentation, augmented_probe

    schedule = AdamSchedule(epochs=2, batch_size=60)
    split = load_split(DIGITS, tmp_path, "train")
    transform = build_transform(PIXELS["preprocess"])
    features = np.stack([transform(split.image(i)).numpy().ravel() for i in range(len(split))])
    expected = paper_cached_probe(features, split.labels, 10, schedule=schedule, seed=5)
    plain, n_train = augmented_probe(PIXELS, DIGITS, tmp_path, 10, schedule=schedule, seed=5, augmentation=None,
                                     device="cpu")
    assert n_train == len(split)
    np.testing.assert_allclose(plain.weight, expected.weight, atol=1e-6)
    np.testing.assert_allclose(plain.bias, expected.bias, atol=1e-6)
    augmented, _ = augmented_probe(PIXELS, DIGITS, tmp_path, 10, schedule=schedule, seed=5,
                                   augmentation=Augmentation(), device="cpu")
    again, _ = augmented_probe(PIXELS, DIGITS, tmp_path, 10, schedule=schedule, seed=5,
                               augmentation=Augmentation(), device="cpu")
    np.testing.assert_array_equal(augmented.weight, again.weight)  # seeded augmentation
    assert np.abs(augmented.weight - plain.weight).max() > 1e-3  # and it did augment


def test_augmentation_crops_to_the_models_size_after_the_papers_resize():
    from PIL import Image

    from vlgen.tasks.probe_augmented import Augmentation, augmented_transform

    transform = augmented_transform(PIXELS["preprocess"], Augmentation())
    geometry = [type(step).__name__ for step in transform.transforms[:3]]
    assert geometry == ["Resize", "RandomResizedCrop", "RandomHorizontalFlip"]
    assert transform.transforms[0].size == [round(8 * 276 / 256)]  # 9: the paper's 276 for 256
    out = transform(Image.new("RGB", (30, 20), (255, 0, 0)))
    assert tuple(out.shape) == (3, 8, 8)
    np.testing.assert_allclose(out[0].numpy(), 1.0, atol=1e-6)  # red normalised with mean = std = 0.5


def test_the_paper_configs_augmentation_is_bicubic_with_the_full_scale_range():
    """config/config.yaml's `transfer.augment`, built for every paper image model that augments."""
    from torchvision.transforms import InterpolationMode

    from vlgen.tasks.probe_augmented import Augmentation, augmented_transform

    paper = load_config([], ROOT)
    augmentation = Augmentation.from_config(paper.section("transfer")["augment"])
    for model in paper.image_models:
        preprocess = paper.resolved_preprocess(model)
        steps = augmented_transform(preprocess, augmentation).transforms
        geometric = [step for step in steps if hasattr(step, "interpolation")]
        assert [type(step).__name__ for step in geometric] == ["Resize", "RandomResizedCrop"], model
        assert all(step.interpolation == InterpolationMode.BICUBIC for step in geometric), model
        assert geometric[1].scale == (0.08, 1.0)
        assert geometric[0].size == [round(preprocess["crop"] * 276 / 256)]  # 276 for the 256 crops


def test_augmentation_is_exempted_per_model_not_per_library_source():
    """The paper catalog exempts CLIP (a `checkpoint` entry); an open_clip model is augmented like any other,
    and the field stays out of the feature key."""
    run = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    paper = load_config([], ROOT)
    exempt = {m for m in paper.image_models if not paper.model_spec(m).get("transfer_augment", True)}
    assert exempt == {"CLIP"} and paper.model_spec("CLIP")["source"] == "checkpoint"
    assert run.model_spec("clip-rn50-random")["source"] == "open_clip"
    assert run.model_spec("clip-rn50-random").get("transfer_augment", True)
    assert "transfer_augment" not in paper.model_payload("CLIP")
    flipped = load_config([], ROOT).raw
    flipped["model_catalog"]["CLIP"]["transfer_augment"] = True
    assert RunConfig.from_dict(flipped).feature_key("CLIP", "cifar10", "test") == paper.feature_key(
        "CLIP", "cifar10", "test")
