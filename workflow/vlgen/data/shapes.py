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

Writing is atomic (vlgen.data.generated): a killed generation leaves no root that looks complete,
and a root whose marker holds the same recipe is left untouched.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.generated import MARKER, GeneratedReader  # noqa: F401  (shapes.MARKER: the marker's name)
from vlgen.data.registry import DEFAULT_TEST_FRACTION, register_reader

GENERATOR_VERSION = 1
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
    return shape_coordinates(size, centre, radius, angle)


def shape_coordinates(size: int | tuple[int, int], centre: np.ndarray, radius: float, angle: float,
                      supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (u, v) of the sample points of a size x size image in the frame of a shape.

    `size` may be (height, width) of a window (the centre in the window's pixels), so a small
    shape in a large image costs only its window. With `supersample` s the points are the centres
    of an s x s grid inside each pixel, so a mask averaged over each block is the pixel's coverage.
    """
    height, width = (size, size) if isinstance(size, int) else size
    rows, cols = (np.mgrid[0:height * supersample, 0:width * supersample] + 0.5) / supersample
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


@register_reader
class ShapesReader(GeneratedReader):
    """Reader `shapes`: an imagefolder that `prepare` generates; labels follow generate.classes."""

    name = "shapes"

    def recipe(self, spec: dict[str, Any]) -> dict[str, Any]:
        return recipe(spec)

    def write(self, folder: Path, rec: dict[str, Any]) -> int:
        return _write_images(folder, rec)

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        return recipe(spec)["classes"]
