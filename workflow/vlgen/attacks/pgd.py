"""foolbox 3 PGD (Madry et al.) over a classifier of [0, 1] images: per-image outcomes per epsilon.

foolbox's `LinfPGD` / `L2PGD` with `steps` and `rel_stepsize` (step = rel_stepsize * epsilon; the
paper: 100 steps, 2.5/100), a random start (seeded with `torch.manual_seed` once per job, so the
draws depend on the batch size, a resource), bounds (0, 1) and no foolbox preprocessing (the
classifier normalises). Each epsilon is a separate attack, as in the authors' code. Untargeted:
`Misclassification(label)`; targeted: `TargetedMisclassification((label + offset) mod n_classes)`.
foolbox needs gradients: never call this under `torch.inference_mode`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import foolbox
import numpy as np
import torch

log = logging.getLogger("vlgen.attacks.pgd")

ATTACKS = {"linf": foolbox.attacks.LinfPGD, "l2": foolbox.attacks.L2PGD}
MODES = ("untargeted", "targeted")


@dataclass(frozen=True)
class PGDSettings:
    """What changes the adversarials (config `attacks`)."""

    steps: int = 100
    rel_stepsize: float = 0.025
    random_start: bool = True
    seed: int = 0


@dataclass
class AttackOutcome:
    """Per epsilon (rows) and image (columns): broken or not, and the perturbation's norm."""

    epsilons: np.ndarray  # [E]
    broken: np.ndarray  # [E, N] bool: misclassified (untargeted) or classified as the target (targeted)
    norms: np.ndarray  # [E, N] the perturbation's norm in the attack's norm
    labels: np.ndarray  # [N]
    clean_predictions: np.ndarray  # [N]
    targets: np.ndarray | None = None  # [N] (targeted mode)

    @property
    def clean_accuracy(self) -> float:
        return float(np.mean(self.clean_predictions == self.labels))


def target_classes(labels: np.ndarray, n_classes: int, offset: int) -> np.ndarray:
    """The targeted mode's targets: (label + offset) mod n_classes (the authors: offset 800 of 1000)."""
    targets = (np.asarray(labels) + offset) % n_classes
    if np.any(targets == labels):
        raise ValueError(f"target offset {offset} is a multiple of the {n_classes} classes: targets equal labels")
    return targets


def perturbation_norms(perturbations: torch.Tensor, norm: str) -> torch.Tensor:
    """[B] norm of each perturbation (flattened), in the attack's norm."""
    flat = perturbations.flatten(1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


def pgd_adversarials(classifier: torch.nn.Module, images: torch.Tensor, classes: torch.Tensor, *, norm: str,
                     epsilons: list[float], settings: PGDSettings, targeted: bool
                     ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """foolbox's clipped adversarials (one batch per epsilon) and success [E, B] for one batch.

    `classes` are the true labels (untargeted) or the targets (targeted).
    """
    if norm not in ATTACKS:
        raise ValueError(f"attack norm must be one of {', '.join(ATTACKS)}, got {norm!r}")
    model = foolbox.PyTorchModel(classifier, bounds=(0, 1), device=images.device)
    criterion = (foolbox.criteria.TargetedMisclassification(classes) if targeted
                 else foolbox.criteria.Misclassification(classes))
    attack = ATTACKS[norm](rel_stepsize=settings.rel_stepsize, steps=settings.steps,
                           random_start=settings.random_start)
    _, clipped, success = attack(model, images.clamp(0, 1), criterion, epsilons=[float(e) for e in epsilons])
    return clipped, success


def predict(classifier: torch.nn.Module, images: torch.Tensor, batch_size: int, device: str) -> np.ndarray:
    """[N] predicted classes of clean images."""
    with torch.no_grad():
        return torch.cat([classifier(images[i:i + batch_size].to(device)).argmax(dim=1).cpu()
                          for i in range(0, len(images), batch_size)]).numpy()


def run_attack(classifier: torch.nn.Module, images: torch.Tensor, labels: np.ndarray, *, norm: str,
               epsilons: list[float], settings: PGDSettings, targets: np.ndarray | None = None,
               batch_size: int = 32, device: str = "cpu") -> AttackOutcome:
    """Attack every image at every epsilon, `batch_size` images at a time; outcomes on the CPU."""
    torch.manual_seed(settings.seed)
    classifier = classifier.to(device).eval()
    predictions = predict(classifier, images, batch_size, device)
    wanted = targets if targets is not None else labels
    # Epsilon 0 needs no attack: the ball is the image itself (foolbox would take `steps` zero-length
    # steps and end where it started), so its outcome is the clean prediction's.
    attacked = [float(e) for e in epsilons if e > 0]
    broken = np.zeros((len(attacked), len(images)), dtype=bool)
    norms = np.zeros((len(attacked), len(images)), dtype=np.float32)
    for start in range(0, len(images) if attacked else 0, batch_size):
        batch = images[start:start + batch_size].to(device).clamp(0, 1)
        stop = start + len(batch)
        classes = torch.as_tensor(wanted[start:stop], device=device, dtype=torch.long)
        clipped, success = pgd_adversarials(classifier, batch, classes, norm=norm, epsilons=attacked,
                                            settings=settings, targeted=targets is not None)
        broken[:, start:stop] = success.cpu().numpy()
        norms[:, start:stop] = torch.stack([perturbation_norms(x - batch, norm) for x in clipped]).cpu().numpy()
        log.info("%s: images %d-%d of %d attacked", norm, start, stop, len(images))
    clean_broken = predictions == wanted if targets is not None else predictions != wanted
    row = {e: i for i, e in enumerate(attacked)}
    return AttackOutcome(
        epsilons=np.asarray(epsilons, dtype=float),
        broken=np.stack([broken[row[float(e)]] if e > 0 else clean_broken for e in epsilons]),
        norms=np.stack([norms[row[float(e)]] if e > 0 else np.zeros(len(images), np.float32) for e in epsilons]),
        labels=np.asarray(labels),
        clean_predictions=predictions, targets=None if targets is None else np.asarray(targets))
