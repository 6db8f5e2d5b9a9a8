"""One attack job: pick the images, build the classifier, check its clean accuracy, run PGD, save.

The model is loaded from the store entry's key payload (as extraction and the `paper` probe load it),
so the attacked network is exactly the one whose features the head was trained on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlgen.attacks.classifier import HeadInputs, attacked_classifier
from vlgen.attacks.images import load_attacked_images
from vlgen.attacks.outcomes import save_outcome
from vlgen.attacks.pgd import PGDSettings, predict, run_attack, target_classes
from vlgen.attacks.settings import GEOMETRY_FIELDS, NORMALISATION_FIELDS, concrete
from vlgen.extract import resolve_device

log = logging.getLogger("vlgen.attacks.job")


class HeadNearChance(RuntimeError):
    """The attacked head barely classifies: its success rates would say nothing."""


def check_clean_accuracy(accuracy: float, n_classes: int, factor: float, what: str) -> None:
    """Stop when the head's clean accuracy is below `factor` x chance (1 / n_classes)."""
    if accuracy < factor / n_classes:
        raise HeadNearChance(f"{what}: clean accuracy {accuracy:.3f} on the attacked images is below "
                             f"{factor:g} x chance ({factor / n_classes:.3f}); fix the head (weights, probe, "
                             "class order) or lower attacks.min_accuracy_over_chance")


def attack_job(*, model: str, dataset: str, head: str, norm: str, mode: str, settings: dict[str, Any],
               feature_payload: dict[str, Any], feature_key: str, dataset_root: str | Path, output: str | Path,
               inputs: HeadInputs, batch_size: int = 32) -> float:
    """Attack one (model, dataset, head, norm, mode); write the outcome file; the clean accuracy."""
    device = resolve_device(inputs.device)
    split = settings["split"]
    attacked = load_attacked_images(feature_payload["dataset"], dataset_root, split, n_images=settings["n_images"],
                                    selection_seed=settings["selection_seed"],
                                    geometry=concrete(settings["geometry"], GEOMETRY_FIELDS))
    images, labels = attacked.images, attacked.labels
    inputs = HeadInputs(**{**vars(inputs), "device": device, "class_names": tuple(attacked.class_names),
                           "template": settings.get("template", inputs.template)})
    classifier = attacked_classifier(head, inputs, **concrete(settings["normalisation"], NORMALISATION_FIELDS))
    what = f"attack of {model} through its {head} head on {dataset} {split}"
    clean = float(np.mean(predict(classifier, images, batch_size, device) == labels))
    check_clean_accuracy(clean, classifier.num_classes, settings["min_accuracy_over_chance"], what)
    log.info("%s: %d images, clean accuracy %.4f, %s %s on %s", what, len(images), clean, norm, mode, device)
    targets = (target_classes(labels, classifier.num_classes, settings["target_offset"])
               if mode == "targeted" else None)
    pgd = PGDSettings(steps=settings["steps"], rel_stepsize=settings["rel_stepsize"],
                      random_start=settings["random_start"], seed=settings["seed"])
    outcome = run_attack(classifier, images, labels, norm=norm, epsilons=settings["epsilons"], settings=pgd,
                         targets=targets, batch_size=batch_size, device=device)
    save_outcome(output, epsilons=outcome.epsilons, broken=outcome.broken, norms=outcome.norms, labels=labels,
                 clean_predictions=outcome.clean_predictions, indices=attacked.indices, targets=targets,
                 meta={"model": model, "dataset": dataset, "head": head, "norm": norm, "mode": mode, "split": split,
                       "feature_key": feature_key, "settings": settings, "device": device})
    return outcome.clean_accuracy
