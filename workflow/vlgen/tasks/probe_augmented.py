"""The `paper` transfer preset: a linear probe trained on features recomputed every epoch from
augmented train images (PROTOCOL.md, "Transfer learning"), as the authors ran it. A GPU job.

Every epoch each train image goes through `Resize(r * crop) -> RandomResizedCrop(crop) ->
RandomHorizontalFlip` (the paper: Resize(276) -> RandomResizedCrop(256), r = 276/256), then the
model's own normalisation, and through the frozen model; the `AdamProbe` of `vlgen.tasks.probe`
takes one step per batch of 60. A model whose catalog entry says `transfer_augment: false` (the
authors' CLIP, whatever library serves its weights) sees its extraction transform only. Horizontal
flips apply to digits too, as in the authors' code.
The test split is not recomputed: its un-augmented features are the store's (same model, same
preprocessing), and the reported value is the last-epoch test accuracy.

Imports torch at module level: only the job of this preset imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vlgen.data import load_split
from vlgen.data.registry import SplitData
from vlgen.extract import PRECISIONS, resolve_device
from vlgen.models.registry import get_source
from vlgen.preprocess import build_transform
from vlgen.tasks.probe import AdamProbe, AdamSchedule, Probe

log = logging.getLogger("vlgen.tasks.probe_augmented")



@dataclass(frozen=True)
class Augmentation:
    """The paper preset's train-time augmentation (config `transfer.augment`).

    The authors' `get_imagenet_transform(augmentation=True)`: Resize(276, bicubic) ->
    RandomResizedCrop(256, bicubic, scale (0.08, 1)) -> RandomHorizontalFlip. The crop is the model's
    own input size; the resize keeps the ratio 276/256 to it.
    """

    resize_over_crop: float = 276 / 256
    interpolation: str = "bicubic"
    scale: tuple[float, float] = (0.08, 1.0)

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> Augmentation:
        known = {k: settings[k] for k in ("resize_over_crop", "interpolation", "scale") if k in settings}
        if "scale" in known:
            known["scale"] = tuple(float(v) for v in known["scale"])
        return cls(**known)


def augmented_transform(preprocess: dict[str, Any], augmentation: Augmentation = Augmentation()
                        ) -> Callable[[Any], torch.Tensor]:
    """RGB PIL image -> a randomly resized, cropped and flipped, normalised tensor [3, crop, crop]."""
    from torchvision.transforms import InterpolationMode, v2

    crop = preprocess["crop"]
    interpolation = InterpolationMode(augmentation.interpolation)
    return v2.Compose([
        v2.Resize(round(crop * augmentation.resize_over_crop), interpolation=interpolation, antialias=True),
        v2.RandomResizedCrop(crop, scale=augmentation.scale, interpolation=interpolation, antialias=True),
        v2.RandomHorizontalFlip(),
        v2.PILToTensor(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(preprocess["mean"]), std=list(preprocess["std"])),
    ])


class LabelledImages(Dataset):
    """(transformed image, label) pairs of a split; the transform runs in DataLoader workers."""

    def __init__(self, split: SplitData, transform: Callable[[Any], torch.Tensor]):
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.split.image(index)), int(self.split.labels[index])


def augmented_probe(model_payload: dict[str, Any], dataset_payload: dict[str, Any], dataset_root: str | Path,
                    n_classes: int, *, schedule: AdamSchedule, seed: int, augmentation: Augmentation | None,
                    weights: str | Path | None = None, device: str = "auto", workers: int = 0) -> tuple[Probe, int]:
    """Train the probe of the `paper` preset; the probe and the number of train images.

    `model_payload` and `dataset_payload` are the key payloads of the store entries (so the model
    and the images are exactly those whose test features the probe is scored on). `augmentation`
    None: the model's extraction transform only (a model with `transfer_augment: false`).
    """
    device = resolve_device(device)
    split = load_split(dataset_payload, Path(dataset_root), "train")
    model = get_source(model_payload["source"]).load(model_payload, Path(weights) if weights else None, device)
    transform = (augmented_transform(model.preprocess, augmentation) if augmentation
                 else build_transform(model.preprocess))
    log.info("%d train images, %s, on %s", len(split), augmentation or "not augmented", device)
    dtype = PRECISIONS[model_payload.get("precision", "fp32")]
    images = LabelledImages(split, transform)
    trainer = AdamProbe(model.dim, n_classes, schedule, seed, device)
    # Augmentations draw from torch's global RNG (and workers are seeded from it): seeded here,
    # restored afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(schedule.epochs):
            batches = [rows.tolist() for rows in trainer.epoch_batches(len(split))]
            loader = DataLoader(images, batch_sampler=batches, num_workers=workers,
                                pin_memory=device.startswith("cuda"))
            losses = []
            for batch, labels in loader:
                # no_grad, not inference_mode: the features are saved for the probe's backward.
                with torch.no_grad(), torch.autocast(torch.device(device).type, dtype=dtype, enabled=dtype is not None):
                    features = model(batch).float()
                losses.append(trainer.step(features, labels))
            log.info("epoch %d: mean train loss %.4f", epoch + 1, float(np.mean(losses)))
    return trainer.probe(model.dim), len(split)
