"""A seeded synthetic image folder (the demo's small dataset of real files on disk).

`prepare` writes `root/train/<class>/NNNN.png` and `root/test/<class>/NNNN.png` (the imagefolder
layout), then the marker `root/generated.json` holding the recipe. The recipe is
`spec["generate"]` over DEFAULT_GENERATE plus the spec's test_fraction and GENERATOR_VERSION.
Per class, samples 0..n_train-1 go to train and the rest to test, with
n_test = floor(per_class * test_fraction + 0.5). Sample i of class c is drawn from
`default_rng([seed, crc32(c), i])`, so it does not depend on the class order or on per_class, and
the same recipe gives byte-identical files.

Each image: a random background and a contrasting random foreground colour, the class's shape
(or pattern) at a jittered position, size and rotation, then Gaussian pixel noise. Learnable, not
trivial.

Writing is atomic: generation goes to the sibling `.<name>.generating`, the marker is written last,
then the folder is renamed into place (a stale root is first moved to `.<name>.replaced` and
removed afterwards). A killed generation leaves no root that looks complete; the next `prepare`
clears leftovers and starts again. A root whose marker holds the same recipe is left untouched.
"""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.imagefolder import ImageFolderReader
from vlgen.data.registry import DEFAULT_TEST_FRACTION, SplitData, register_reader

GENERATOR_VERSION = 1
MARKER = "generated.json"
DEFAULT_GENERATE: dict[str, Any] = {
    "classes": ["circle", "square", "triangle", "cross", "ring", "stripes"],
    "per_class": 40,
    "size": 32,
    "seed": 0,
    "noise": 12.0,
}
MIN_CONTRAST = 128.0  # Euclidean RGB distance between foreground and background colours

# A shape is a mask over coordinates (u, v) centred on the shape, rotated, in units of its radius;
# v points down, as image rows do. The Generator draws any extra parameter of the shape.
Shape = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


def _circle(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return u**2 + v**2 <= 1.0


def _square(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8


def _triangle(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Equilateral, apex up, circumradius 1."""
    return (v <= 0.5) & (np.abs(u) <= (v + 1.0) / np.sqrt(3.0))


def _cross(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    arms = (np.abs(u) <= 0.3) | (np.abs(v) <= 0.3)
    return arms & (np.maximum(np.abs(u), np.abs(v)) <= 1.0)


def _ring(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    radius = np.sqrt(u**2 + v**2)
    return (radius >= 0.55) & (radius <= 1.0)


def _stripes(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stripes over the whole image, random period and phase."""
    period, phase = rng.uniform(0.5, 0.8), rng.uniform(0.0, 1.0)
    return np.mod(u / period + phase, 1.0) < 0.5


SHAPES: dict[str, Shape] = {
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "cross": _cross,
    "ring": _ring,
    "stripes": _stripes,
}


def recipe(spec: dict[str, Any]) -> dict[str, Any]:
    """Everything that determines the generated files, with defaults filled in and checked."""
    generate = spec.get("generate", {})
    unknown = sorted(set(generate) - set(DEFAULT_GENERATE))
    if unknown:
        raise ValueError(f"shapes: unknown generate field(s) {', '.join(unknown)} (allowed: {', '.join(DEFAULT_GENERATE)})")
    out = {**DEFAULT_GENERATE, **generate}
    out["classes"] = list(out["classes"])
    bad = [c for c in out["classes"] if c not in SHAPES]
    if bad or len(set(out["classes"])) != len(out["classes"]) or not out["classes"]:
        raise ValueError(f"shapes: generate.classes must be distinct names from {', '.join(SHAPES)}; got {out['classes']}")
    out["test_fraction"] = spec.get("test_fraction", DEFAULT_TEST_FRACTION)
    out["generator_version"] = GENERATOR_VERSION
    if min(_split_sizes(out)) < 1:
        raise ValueError(f"shapes: per_class={out['per_class']} leaves a split empty at test_fraction={out['test_fraction']}")
    return out


def _split_sizes(rec: dict[str, Any]) -> tuple[int, int]:
    """(n_train, n_test) per class."""
    n_test = int(np.floor(rec["per_class"] * rec["test_fraction"] + 0.5))
    return rec["per_class"] - n_test, n_test


def _colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground RGB colours at least MIN_CONTRAST apart."""
    while True:
        background, foreground = rng.uniform(0.0, 255.0, size=(2, 3))
        if np.linalg.norm(background - foreground) >= MIN_CONTRAST:
            return background, foreground


def _frame(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (u, v) of a shape with jittered centre, radius and rotation."""
    centre = rng.uniform(0.35, 0.65, size=2) * size
    radius = rng.uniform(0.22, 0.34) * size
    angle = rng.uniform(-np.pi / 8, np.pi / 8)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    dx, dy = cols - centre[0], rows - centre[1]
    u = (np.cos(angle) * dx + np.sin(angle) * dy) / radius
    v = (-np.sin(angle) * dx + np.cos(angle) * dy) / radius
    return u, v


def draw(name: str, index: int, rec: dict[str, Any]) -> np.ndarray:
    """Sample `index` of class `name`: uint8 [size, size, 3]."""
    rng = np.random.default_rng([rec["seed"], zlib.crc32(name.encode()), index])
    background, foreground = _colours(rng)
    u, v = _frame(rec["size"], rng)
    mask = SHAPES[name](u, v, rng)
    image = np.where(mask[..., None], foreground, background)
    image = image + rng.normal(0.0, rec["noise"], size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _write_images(folder: Path, rec: dict[str, Any]) -> int:
    """Write every PNG of the recipe under folder; returns how many."""
    from PIL import Image

    n_train, _ = _split_sizes(rec)
    for name in rec["classes"]:
        for index in range(rec["per_class"]):
            split = "train" if index < n_train else "test"
            path = folder / split / name / f"{index:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(draw(name, index, rec)).save(path, format="PNG")
    return len(rec["classes"]) * rec["per_class"]


def _marker_text(rec: dict[str, Any], n_images: int) -> str:
    return json.dumps({"complete": True, "n_images": n_images, "recipe": rec}, sort_keys=True, indent=2) + "\n"


def _is_complete(root: Path, rec: dict[str, Any]) -> bool:
    """True when root holds a finished generation of exactly this recipe."""
    try:
        marker = json.loads((root / MARKER).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return False
    return marker.get("complete") is True and marker.get("recipe") == json.loads(json.dumps(rec))


@register_reader
class ShapesReader(ImageFolderReader):
    """Reader `shapes`: an imagefolder that `prepare` generates; labels follow generate.classes."""

    name = "shapes"
    marker = MARKER

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        return recipe(spec)["classes"]

    def prepare(self, spec: dict[str, Any], root: Path) -> None:
        rec = recipe(spec)
        if _is_complete(root, rec):
            return
        staging = root.parent / f".{root.name}.generating"
        replaced = root.parent / f".{root.name}.replaced"
        for leftover in (staging, replaced):
            shutil.rmtree(leftover, ignore_errors=True)
        staging.mkdir(parents=True)
        n_images = _write_images(staging, rec)
        (staging / MARKER).write_text(_marker_text(rec, n_images))
        if root.exists():
            root.rename(replaced)
        staging.rename(root)
        shutil.rmtree(replaced, ignore_errors=True)

    def status(self, spec: dict[str, Any], root: Path) -> str:
        return "present" if _is_complete(root, recipe(spec)) else "missing"

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        if not _is_complete(root, recipe(spec)):
            raise FileNotFoundError(f"shapes: {root} holds no complete generation of this spec; run prepare first")
        return super().load(spec, root, split)
