"""Head sanity: a native head's top-1 over a whole split against the catalog's `expected_top1`.

A wrong checkpoint, key mapping, class order or normalisation can leave a head that still runs but
classifies badly, and every success rate through it would be meaningless. The check runs the
attacked classifier (same preprocessing, same normalisation) on every image of the split.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from vlgen.attacks.images import attack_transform
from vlgen.data import load_split
from vlgen.tasks.probe_augmented import LabelledImages

log = logging.getLogger("vlgen.attacks.sanity")
TOLERANCE = 2.0  # percentage points below `expected_top1` that still pass


def split_top1(classifier: torch.nn.Module, dataset_payload: dict[str, Any], root: str | Path, split: str,
               geometry: dict[str, Any], *, batch_size: int, workers: int, device: str) -> float:
    """Top-1 accuracy (%) of `classifier` ([0, 1] images -> logits) on every image of `split`."""
    data = load_split(dataset_payload, Path(root), split)
    loader = DataLoader(LabelledImages(data, attack_transform(geometry)), batch_size=batch_size,
                        num_workers=workers)
    correct = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += int((classifier(images.to(device)).argmax(1).cpu() == labels).sum())
    return 100.0 * correct / len(data)


def check_top1(top1: float, expected: float, what: str) -> None:
    if top1 < expected - TOLERANCE:
        raise RuntimeError(f"{what}: top-1 {top1:.2f} % is more than {TOLERANCE:g} points below the catalog's "
                           f"expected_top1 {expected:.2f} %: check its weights, checkpoint format and preprocessing")
    log.info("%s: top-1 %.2f %% (expected %.2f %%)", what, top1, expected)
