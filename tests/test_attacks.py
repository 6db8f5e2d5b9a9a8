"""PGD through foolbox against a plain-torch PGD, perturbation bounds, success rates, image choice.

The attacked model is a tiny CNN trained here for a second on a separable synthetic image set (a
random-init model predicts one class and makes every attack test vacuous).
"""

import numpy as np
import pytest
import torch
from helpers.imports import heavy_imports

from vlgen.attacks.pgd import PGDSettings, pgd_adversarials, run_attack, target_classes
from vlgen.attacks.selection import attacked_indices, held_out_indices
from vlgen.attacks.success import cumulative_broken, mean_perturbation, success_rates

N_CLASSES = 4


def synthetic_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class k: a bright k-th quadrant on a noisy grey 3x8x8 image, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % N_CLASSES
    images = 0.4 + 0.1 * torch.rand(n, 3, 8, 8, generator=g)
    for k in range(N_CLASSES):
        rows, cols = divmod(k, 2)
        images[labels == k, :, 4 * rows:4 * rows + 4, 4 * cols:4 * cols + 4] += 0.4
    return images.clamp(0, 1), labels


@pytest.fixture(scope="module")
def cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 4 * 4, N_CLASSES))
    images, labels = synthetic_images(256, seed=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimiser.step()
    model.eval().requires_grad_(False)
    test, test_labels = synthetic_images(64, seed=2)
    assert (model(test).argmax(1) == test_labels).float().mean() > 0.95
    return model


def torch_pgd(model, images, labels, norm, epsilon, steps, rel_stepsize, targeted=False):
    """Madry's PGD without random start, written from the algorithm (summed cross-entropy)."""
    x0, x = images.clone(), images.clone()
    step = rel_stepsize * epsilon
    for _ in range(steps):
        x.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(x), labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
        x = x.detach()
        if norm == "linf":
            direction = grad.sign()
        else:
            direction = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        x = x + (-1 if targeted else 1) * step * direction
        delta = x - x0
        if norm == "linf":
            delta = delta.clamp(-epsilon, epsilon)
        else:
            delta = delta * (epsilon / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1).view(-1, 1, 1, 1)
        x = (x0 + delta).clamp(0, 1)
    return x


@pytest.mark.parametrize("norm,epsilon", [("linf", 0.05), ("l2", 0.5)])
@pytest.mark.parametrize("targeted", [False, True])
def test_foolbox_pgd_equals_a_plain_torch_pgd(cnn, norm, epsilon, targeted):
    images, labels = synthetic_images(16, seed=3)
    classes = torch.as_tensor(target_classes(labels.numpy(), N_CLASSES, 1)) if targeted else labels
    settings = PGDSettings(steps=7, rel_stepsize=0.3, random_start=False)
    clipped, _ = pgd_adversarials(cnn, images, classes, norm=norm, epsilons=[epsilon], settings=settings,
                                  targeted=targeted)
    expected = torch_pgd(cnn, images, classes, norm, epsilon, steps=7, rel_stepsize=0.3, targeted=targeted)
    assert (clipped[0] - images).abs().max() > epsilon / 10  # the attack moved the images
    torch.testing.assert_close(clipped[0], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_perturbations_stay_in_the_ball_and_the_box_and_eps0_is_the_clean_error(cnn, norm):
    images, labels = synthetic_images(48, seed=4)
    labels[:5] = (labels[:5] + 1) % N_CLASSES  # some clean errors, so epsilon 0 has something to count
    epsilons = [0.0, 0.01, 0.05, 0.2] if norm == "linf" else [0.0, 0.1, 0.5, 2.0]
    settings = PGDSettings(steps=10, rel_stepsize=0.25, random_start=True, seed=0)
    outcome = run_attack(cnn, images, labels.numpy(), norm=norm, epsilons=epsilons, settings=settings, batch_size=20)
    clean_error = float((cnn(images).argmax(1) != labels).float().mean())
    assert clean_error > 4.5 / 48
    assert outcome.broken[0].mean() == pytest.approx(clean_error)
    assert outcome.clean_accuracy == pytest.approx(1 - clean_error)
    bound = np.asarray(epsilons)[:, None]
    if norm == "linf":
        assert (outcome.norms <= bound + 1e-6).all()
    else:
        assert (outcome.norms <= bound * (1 + 1e-5)).all()
    assert outcome.norms[0].max() == 0
    assert outcome.broken[-1].mean() > 0.9  # the largest epsilon breaks almost everything
    # the same attack from the same seed gives the same outcomes
    again = run_attack(cnn, images, labels.numpy(), norm=norm, epsilons=epsilons, settings=settings, batch_size=20)
    np.testing.assert_array_equal(again.broken, outcome.broken)
    # adversarials stay in [0, 1] (foolbox clips; checked on one batch)
    clipped, _ = pgd_adversarials(cnn, images[:20], labels[:20], norm=norm, epsilons=epsilons[-1:],
                                  settings=settings, targeted=False)
    assert clipped[0].min() >= 0 and clipped[0].max() <= 1


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_foolbox_at_epsilon_0_leaves_the_images_as_they_are(cnn, norm):
    """run_attack skips epsilon 0 and takes the clean outcome: foolbox's own epsilon-0 attack agrees."""
    images, labels = synthetic_images(24, seed=6)
    labels[:4] = (labels[:4] + 1) % N_CLASSES
    clipped, success = pgd_adversarials(cnn, images, labels, norm=norm, epsilons=[0.0],
                                        settings=PGDSettings(steps=5, rel_stepsize=0.5), targeted=False)
    torch.testing.assert_close(clipped[0], images, atol=0, rtol=0)
    np.testing.assert_array_equal(success[0].numpy(), (cnn(images).argmax(1) != labels).numpy())


def test_targeted_attack_reaches_the_target_at_a_large_epsilon(cnn):
    images, labels = synthetic_images(32, seed=5)
    targets = target_classes(labels.numpy(), N_CLASSES, offset=2)
    outcome = run_attack(cnn, images, labels.numpy(), norm="linf", epsilons=[0.0, 0.3], targets=targets,
                         settings=PGDSettings(steps=20, rel_stepsize=0.1, seed=0))
    assert outcome.broken[0].mean() == 0  # the clean images are classified as their label, not the target
    assert outcome.broken[1].mean() >= 0.8


def test_a_target_offset_that_maps_labels_to_themselves_is_refused():
    with pytest.raises(ValueError, match="offset 800.*10 classes"):
        target_classes(np.arange(10), 10, 800)
    np.testing.assert_array_equal(target_classes(np.array([0, 250, 999]), 1000, 800), [800, 50, 799])


def test_the_authors_image_choice():
    np.random.seed(42)
    authors = np.random.permutation(50000)[:1000]
    np.testing.assert_array_equal(attacked_indices(50000, 1000), authors)
    np.random.seed(42)
    np.testing.assert_array_equal(attacked_indices(360, 32), np.random.permutation(360)[:32])
    assert len(attacked_indices(20, 32)) == 20
    rest = held_out_indices(50000, authors)
    assert len(rest) == 49000 and not set(rest) & set(authors)


def test_cumulative_success_counts_an_image_broken_at_a_smaller_epsilon():
    # image 0 broken at eps 0.1 only (PGD missed it at 0.2); image 1 at 0.2; image 2 never; image 3 at 0 (clean error)
    epsilons = np.array([0.2, 0.0, 0.1])  # unsorted on purpose
    broken = np.array([[0, 1, 0, 1],
                       [0, 0, 0, 1],
                       [1, 0, 0, 1]], dtype=bool)
    cumulative, raw = success_rates(broken, epsilons)
    np.testing.assert_allclose(cumulative, [0.75, 0.25, 0.5])
    np.testing.assert_allclose(raw, [0.5, 0.25, 0.5])
    assert cumulative_broken(broken, epsilons)[0].tolist() == [True, True, False, True]
    norms = np.array([[0, 0.2, 0.2, 0.1], [0, 0, 0, 0], [0.05, 0.1, 0.1, 0.0]])
    np.testing.assert_allclose(mean_perturbation(norms, broken), [0.15, 0.0, 0.025])
    assert np.isnan(mean_perturbation(norms, np.zeros_like(broken)))[0]


def test_cpu_side_attack_modules_import_no_heavy_library():
    assert heavy_imports("vlgen.attacks.settings", "vlgen.attacks.selection", "vlgen.attacks.success") == []
