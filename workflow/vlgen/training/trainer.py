"""Train one network with one recipe: deterministic on a CPU, checkpointed every epoch, resumable.

Everything random comes from a torch.Generator seeded by (seed, epoch) (the shuffle, the crops, the
caption drawn per image) and the initialisation from the seed, so an epoch's numbers do not depend on
whether the process started at epoch 0 or resumed from the checkpoint of the epoch before: a killed
training that resumes ends with the same weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlgen.keys import content_key
from vlgen.training.architectures import build_network
from vlgen.training.data import TrainingData, caption_index
from vlgen.training.recipes import Recipe, Targets, training_recipe
from vlgen.training.trained_store import TrainedStore, replace_atomic

log = logging.getLogger("vlgen.training")

# (epoch, curve row) after each epoch's checkpoint is on disk.
EpochCallback = Callable[[int, dict[str, Any]], None]
# Sentences -> float32 [len, dim] from the frozen text encoder.
Encoder = Callable[[list[str]], np.ndarray]
# torchvision's RandomResizedCrop aspect ratios.
RATIO = (3 / 4, 4 / 3)

OPTIMIZERS: dict[str, Callable[[list[torch.nn.Parameter], dict[str, Any]], torch.optim.Optimizer]] = {
    "adamw": lambda params, t: torch.optim.AdamW(params, lr=t["lr"], weight_decay=t["weight_decay"]),
    "sgd": lambda params, t: torch.optim.SGD(params, lr=t["lr"], weight_decay=t["weight_decay"], momentum=0.9),
}


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The one source of randomness of an epoch, a function of (seed, epoch) only."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def crop_boxes(batch: int, height: int, width: int, scale: tuple[float, float],
               generator: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop's boxes: area fraction in `scale`, aspect ratio in RATIO, clipped to the image.

    Rows are (width, height, centre x, centre y) in grid_sample's normalised coordinates: the whole
    image is (1, 1, 0, 0).
    """
    area = torch.empty(batch).uniform_(scale[0], scale[1], generator=generator)
    ratio = torch.empty(batch).uniform_(math.log(RATIO[0]), math.log(RATIO[1]), generator=generator).exp()
    box_w = (area * ratio * height / width).sqrt().clamp(max=1.0)
    box_h = (area / ratio * width / height).sqrt().clamp(max=1.0)
    centre_x = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - box_w)
    centre_y = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - box_h)
    return torch.stack([box_w, box_h, centre_x, centre_y], dim=1)


def resample(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box of uint8 [B, 3, H, W] resampled bilinearly to size x size, as float in [0, 1]."""
    theta = torch.zeros(len(boxes), 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = boxes[:, 0], boxes[:, 2]
    theta[:, 1, 1], theta[:, 1, 2] = boxes[:, 1], boxes[:, 3]
    grid = torch.nn.functional.affine_grid(theta, [len(boxes), 3, size, size], align_corners=False)
    return torch.nn.functional.grid_sample(images.float() / 255.0, grid, mode="bilinear", padding_mode="border",
                                           align_corners=False)


def random_resized_crop(images: torch.Tensor, size: int, scale: tuple[float, float],
                        generator: torch.Generator) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float [B, 3, size, size] in [0, 1]: one random box per image, resampled.

    No flip and no colour jitter: captions name left/right and colours.
    """
    return resample(images, crop_boxes(len(images), images.shape[2], images.shape[3], scale, generator), size)


def cosine_lr(step: int, total: int, lr: float) -> float:
    """Cosine decay from `lr` to 0 over `total` steps (a function of the step: nothing to checkpoint)."""
    return lr * 0.5 * (1 + math.cos(math.pi * step / max(1, total)))


def build_targets(recipe: Recipe, fields: dict[str, Any], data: TrainingData, encode: Encoder | None) -> Targets:
    """Labels, caption ids and the frozen encoder's embedding of every sentence the recipe needs (once)."""
    targets = Targets(labels=torch.from_numpy(data.labels), n_classes=len(data.class_names))
    captions: list[str] = []
    if data.captions is not None:
        captions, ids, counts = caption_index(data.captions)
        targets.caption_ids, targets.caption_counts = torch.from_numpy(ids), torch.from_numpy(counts)
    sentences = recipe.sentences(fields, data.class_names, captions)
    if sentences:
        if encode is None:
            raise ValueError(f"recipe kind {recipe.kind!r} needs the text encoder")
        started = time.time()
        targets.text = torch.from_numpy(np.asarray(encode(sentences), dtype=np.float32))
        log.info("encoded %d sentences with the frozen text encoder in %.1f s", len(sentences), time.time() - started)
    return targets


def _resume(path: Path, key: str, modules: torch.nn.ModuleDict, optimizer: torch.optim.Optimizer
            ) -> tuple[int, list[dict[str, Any]]]:
    """(first epoch to run, curve so far) from the checkpoint; (0, []) without a readable one of this key.

    A checkpoint of this key that does not fit the modules is an error, not a fresh start: the trainer
    changed without a new TRAINER_VERSION.
    """
    if not path.is_file():
        return 0, []
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["key"] != key:
            raise ValueError(f"checkpoint of key {state['key']}")
    except Exception as exc:  # noqa: BLE001 - an unreadable leftover: start over rather than fail
        log.warning("checkpoint %s unusable (%s): training from scratch", path, exc)
        return 0, []
    modules.load_state_dict(state["modules"])
    optimizer.load_state_dict(state["optimizer"])
    log.info("resuming training %s after epoch %d", key, state["epoch"])
    return int(state["epoch"]) + 1, list(state["curve"])


def train(payload: dict[str, Any], data: TrainingData, store_root: str | Path, *, encode: Encoder | None = None,
          device: str = "cpu", on_epoch: EpochCallback | None = None) -> Path:
    """Make sure the store holds the network trained as `payload` says; return its manifest's path."""
    store = TrainedStore(store_root)
    key = content_key(payload)
    if store.is_complete(key):
        log.info("trained entry %s is complete: no training", key)
        return store.write_manifest(key)
    fields, seed = payload["recipe"], int(payload["seed"])
    recipe = training_recipe(fields["kind"])
    settings = payload["training"]
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        targets = build_targets(recipe, fields, data, encode)
        network = build_network(payload["architecture"], seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            heads = recipe.heads(fields, network.dim, targets)
        modules = torch.nn.ModuleDict({"network": network, "heads": heads}).to(device)
        modules.to(memory_format=torch.channels_last)
        optimizer = OPTIMIZERS[settings["optimizer"]]([p for p in modules.parameters() if p.requires_grad], settings)
        store.partial_dir(key).mkdir(parents=True, exist_ok=True)
        start, curve = _resume(store.checkpoint_path(key), key, modules, optimizer)
        _epochs(modules, optimizer, recipe, payload, data, targets, store, key, start, curve, device, on_epoch)
    finally:
        torch.use_deterministic_algorithms(previous)
    info = {"device": device, "seconds": round(sum(row["seconds"] for row in curve), 3),
            "final_loss": curve[-1]["loss"], "epochs": len(curve)}
    return store.publish(payload, network.state_dict(), modules["heads"].state_dict(), curve, info)


def _epochs(modules: torch.nn.ModuleDict, optimizer: torch.optim.Optimizer, recipe: Recipe,
            payload: dict[str, Any], data: TrainingData, targets: Targets, store: TrainedStore, key: str,
            start: int, curve: list[dict[str, Any]], device: str, on_epoch: EpochCallback | None) -> None:
    fields, settings, seed = payload["recipe"], payload["training"], int(payload["seed"])
    preprocess = settings["preprocess"]
    mean = torch.tensor(preprocess["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(preprocess["std"], device=device).view(1, 3, 1, 1)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()
    batch_size = int(settings["batch_size"])
    steps_per_epoch = len(images) // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"training.batch_size {batch_size} is larger than the {len(images)} training images")
    total = steps_per_epoch * int(settings["epochs"])
    modules.train()
    for epoch in range(start, int(settings["epochs"])):
        started = time.time()
        generator = epoch_generator(seed, epoch)
        order = torch.randperm(len(images), generator=generator)
        losses = []
        for b in range(steps_per_epoch):
            step = epoch * steps_per_epoch + b
            lr = cosine_lr(step, total, float(settings["lr"]))
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = order[b * batch_size:(b + 1) * batch_size]
            crops = random_resized_crop(images[index], preprocess["crop"], tuple(settings["crop_scale"]), generator)
            inputs = ((crops.to(device) - mean) / std).contiguous(memory_format=torch.channels_last)
            loss = recipe.loss(fields, modules["heads"], modules["network"](inputs), index, targets, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        row = {"epoch": epoch, "step": (epoch + 1) * steps_per_epoch, "loss": float(torch.stack(losses).mean()),
               "lr": lr, "seconds": round(time.time() - started, 3)}
        curve.append(row)
        state = {"key": key, "epoch": epoch, "curve": curve, "modules": modules.state_dict(),
                 "optimizer": optimizer.state_dict()}
        replace_atomic(store.checkpoint_path(key), lambda tmp: torch.save(state, tmp))
        log.info("train %s epoch %d/%d loss %.4f (%.1f s)", key, epoch + 1, settings["epochs"], row["loss"],
                 row["seconds"])
        if on_epoch is not None:
            on_epoch(epoch, row)
