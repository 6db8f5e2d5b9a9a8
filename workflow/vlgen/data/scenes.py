"""Captioned scenes: a seeded synthetic imagefolder of 1..max_objects objects per image, with captions
and attribute label views (the controlled experiment's data, issue 17).

Each object has a shape, a colour from a named palette, a size (small < medium < large) and a cell
of a 3 x 3 grid (at most one object per cell, so objects barely touch). Exactly one object is
strictly the largest; the class label is its shape. `prepare` writes `root/{train,test}/<shape>/
NNNNN.png`, `root/annotations/{split}.jsonl` (per image, in index order: sample_id, objects
[{shape, colour, size, position}], captions; see vlgen.data.captions) and the marker last, atomically
(vlgen.data.generated).

Held-out combinations: the (shape, colour) pairs of `heldout` never occur in train, as the largest
object or any other. In test, each image is, with probability `heldout_fraction`, a held-out image:
its largest object has a held-out combination (its other objects never do). So the `heldout` view
asks for the shape of a colour/shape pairing no training image showed.

Image `index` of `split` is drawn from `default_rng([seed, crc32(split), index])` and its captions
from `default_rng([seed, crc32(split), index, 1])`, so an image does not depend on n_train, n_test
or captions_per_image, and the same recipe gives byte-identical files.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.captions import POSITIONS, SIZES, captions_for
from vlgen.data.generated import GeneratedReader
from vlgen.data.registry import LabelView, register_reader
from vlgen.data.shapes import SHAPES, shape_coordinates

GENERATOR_VERSION = 1
ANNOTATIONS = "annotations"
# Named colours (their names appear in captions): saturated, all far from the dark background.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (35, 185, 60),
    "blue": (45, 95, 240),
    "yellow": (240, 215, 35),
    "purple": (160, 60, 215),
    "orange": (250, 135, 25),
    "cyan": (40, 210, 220),
    "white": (245, 245, 245),
}
OBJECT_SHAPES = ("circle", "square", "triangle", "cross", "ring")  # shapes.SHAPES that are one object
RADIUS = {"small": 0.26, "medium": 0.37, "large": 0.5}  # in grid cells (a cell is size / 3 pixels)
JITTER = 0.08  # largest shift of an object's centre from its cell's centre, in cells
COLOUR_JITTER = 10.0  # per channel, so a colour name covers a small range of RGB values
BACKGROUND = (25.0, 75.0)  # range of the background's grey level
SUPERSAMPLE = 4  # anti-aliasing: each pixel's coverage is averaged over 4 x 4 points
VIEWS = ("shape", "colour", "position", "count", "heldout", "seen")
DEFAULT_GENERATE: dict[str, Any] = {
    "shapes": ["circle", "square", "triangle", "cross"],
    "colours": ["red", "green", "blue", "yellow"],
    "size": 32,
    "n_train": 2000,
    "n_test": 600,
    "max_objects": 3,
    "captions_per_image": 3,
    "heldout": None,  # None: the diagonal [shapes[i], colours[i]] (none when there is one colour)
    "heldout_fraction": 1 / 3,
    "seed": 0,
    "noise": 8.0,
}


def _fail(field: str, message: str) -> ValueError:
    return ValueError(f"scenes: generate.{field} {message}")


def _names(out: dict[str, Any], field: str, allowed: tuple[str, ...] | dict[str, Any]) -> list[str]:
    names = out[field]
    if not isinstance(names, list) or not names or len(set(names)) != len(names) or any(n not in allowed for n in names):
        raise _fail(field, f"must be distinct names from {', '.join(allowed)}; got {names!r}")
    return list(names)


def _integer(out: dict[str, Any], field: str, low: int, high: int | None = None) -> int:
    value = out[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise _fail(field, f"must be an integer {allowed}; got {value!r}")
    return value


def _number(out: dict[str, Any], field: str, low: float, high: float) -> float:
    value = out[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _fail(field, f"must be a number in [{low}, {high}]; got {value!r}")
    return float(value)


def _heldout(out: dict[str, Any]) -> list[list[str]]:
    shapes, colours = out["shapes"], out["colours"]
    if out["heldout"] is None:
        return [[s, c] for s, c in zip(shapes, colours)] if len(colours) > 1 else []
    pairs = out["heldout"]
    if not isinstance(pairs, list) or any(not isinstance(p, list) or len(p) != 2 for p in pairs):
        raise _fail("heldout", f"must be a list of [shape, colour] pairs; got {pairs!r}")
    bad = [p for p in pairs if p[0] not in shapes or p[1] not in colours]
    if bad:
        raise _fail("heldout", f"pairs {bad} are not [shape, colour] of generate.shapes and generate.colours")
    if len({tuple(p) for p in pairs}) != len(pairs):
        raise _fail("heldout", f"lists a pair twice: {pairs}")
    unseen = [s for s in shapes if all([s, c] in pairs for c in colours)]
    if unseen:
        raise _fail("heldout", f"holds out every colour of {', '.join(unseen)}: the class would have no training image")
    return [list(p) for p in pairs]


def recipe(spec: dict[str, Any]) -> dict[str, Any]:
    """Everything that determines the generated files, with defaults filled in and checked."""
    generate = spec.get("generate", {})
    unknown = sorted(set(generate) - set(DEFAULT_GENERATE))
    if unknown:
        raise ValueError(f"scenes: unknown generate field(s) {', '.join(unknown)} (allowed: {', '.join(DEFAULT_GENERATE)})")
    out = {**DEFAULT_GENERATE, **generate}
    out["shapes"] = _names(out, "shapes", OBJECT_SHAPES)
    out["colours"] = _names(out, "colours", PALETTE)
    for field, low, high in (("size", 12, None), ("n_train", 1, None), ("n_test", 1, None),
                             ("max_objects", 1, len(POSITIONS)), ("captions_per_image", 1, None), ("seed", 0, None)):
        _integer(out, field, low, high)
    out["heldout"] = _heldout(out)
    out["heldout_fraction"] = _number(out, "heldout_fraction", 0.0, 1.0)
    out["noise"] = _number(out, "noise", 0.0, 255.0)
    out["generator_version"] = GENERATOR_VERSION
    return out


def _rng(rec: dict[str, Any], split: str, index: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([rec["seed"], zlib.crc32(split.encode()), index, *stream])


def sample_objects(split: str, index: int, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of image `index` of `split` ({shape, colour, size, position}), in a random order."""
    rng = _rng(rec, split, index)
    heldout = [tuple(p) for p in rec["heldout"]]
    seen = [(s, c) for s in rec["shapes"] for c in rec["colours"] if (s, c) not in heldout]
    n = int(rng.integers(1, rec["max_objects"] + 1))
    is_heldout = split == "test" and bool(heldout) and rng.random() < rec["heldout_fraction"]
    pool = heldout if is_heldout else seen
    combos = [pool[rng.integers(len(pool))]] + [seen[k] for k in rng.integers(len(seen), size=n - 1)]
    top = int(rng.integers(1 if n > 1 else 0, len(SIZES)))  # one strictly largest object
    ranks = [top] + [int(r) for r in rng.integers(0, max(top, 1), size=n - 1)]
    cells = rng.choice(len(POSITIONS), size=n, replace=False)
    objects = [{"shape": s, "colour": c, "size": SIZES[r], "position": POSITIONS[p]}
               for (s, c), r, p in zip(combos, ranks, cells)]
    return [objects[k] for k in rng.permutation(n)]


def largest(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return max(objects, key=lambda obj: SIZES.index(obj["size"]))


def render(objects: list[dict[str, Any]], split: str, index: int, rec: dict[str, Any]) -> np.ndarray:
    """Image of the objects, smaller ones first so the largest is never covered: uint8 [size, size, 3]."""
    rng = _rng(rec, split, index, 2)
    size, cell = rec["size"], rec["size"] / 3
    image = np.empty((size, size, 3))
    image[...] = rng.uniform(*BACKGROUND) + rng.uniform(-5.0, 5.0, size=3)
    for obj in sorted(objects, key=lambda o: SIZES.index(o["size"])):
        row, col = divmod(POSITIONS.index(obj["position"]), 3)
        centre = (np.array([col, row]) + 0.5 + rng.uniform(-JITTER, JITTER, size=2)) * cell
        angle = rng.uniform(-np.pi / 12, np.pi / 12)
        radius = RADIUS[obj["size"]] * cell
        # Every shape lies within 1.2 radii of its centre (a rotated square's corner: 0.8 * sqrt 2).
        low = np.clip(np.floor(centre - 1.2 * radius), 0, size).astype(int)
        high = np.clip(np.ceil(centre + 1.2 * radius), 0, size).astype(int)
        (left, top), (width, height) = low, high - low
        u, v = shape_coordinates((height, width), centre - low, radius, angle, SUPERSAMPLE)
        mask = SHAPES[obj["shape"]](u, v, rng)
        coverage = mask.reshape(height, SUPERSAMPLE, width, SUPERSAMPLE).mean(axis=(1, 3))[..., None]
        colour = np.array(PALETTE[obj["colour"]]) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, size=3)
        window = image[top:top + height, left:left + width]
        window[...] = window * (1.0 - coverage) + colour * coverage
    image = image + rng.normal(0.0, rec["noise"], size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _split_sizes(rec: dict[str, Any]) -> dict[str, int]:
    return {"train": rec["n_train"], "test": rec["n_test"]}


def _write_split(folder: Path, split: str, n: int, rec: dict[str, Any]) -> None:
    from PIL import Image

    width = max(5, len(str(n - 1)))
    (folder / ANNOTATIONS).mkdir(parents=True, exist_ok=True)
    with open(folder / ANNOTATIONS / f"{split}.jsonl", "w") as annotations:
        for index in range(n):
            objects = sample_objects(split, index, rec)
            sample_id = f"{split}/{largest(objects)['shape']}/{index:0{width}d}.png"
            path = folder / sample_id
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(render(objects, split, index, rec)).save(path, format="PNG")
            texts = captions_for(objects, rec["captions_per_image"], _rng(rec, split, index, 1))
            annotations.write(json.dumps({"sample_id": sample_id, "objects": objects, "captions": texts}) + "\n")


def _aligned_annotations(root: Path, split: str, sample_ids: list[str]) -> list[dict[str, Any]]:
    """The annotation of each sample id, in the given order."""
    path = root / ANNOTATIONS / f"{split}.jsonl"
    with open(path) as lines:
        by_id = {record["sample_id"]: record for record in map(json.loads, lines)}
    missing = [s for s in sample_ids if s not in by_id]
    if missing:
        raise ValueError(f"scenes: {path} has no annotation for {len(missing)} image(s), e.g. {missing[0]}")
    return [by_id[s] for s in sample_ids]


@register_reader
class ScenesReader(GeneratedReader):
    """Reader `scenes`: captioned multi-object scenes; class = shape of the largest object."""

    name = "scenes"
    has_captions = True
    view_names = VIEWS

    def recipe(self, spec: dict[str, Any]) -> dict[str, Any]:
        return recipe(spec)

    def write(self, folder: Path, rec: dict[str, Any]) -> int:
        for split, n in _split_sizes(rec).items():
            _write_split(folder, split, n, rec)
        return sum(_split_sizes(rec).values())

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        return recipe(spec)["shapes"]

    def annotations(self, spec: dict[str, Any], root: Path, split: str) -> list[dict[str, Any]]:
        """Each image's annotation record, aligned with `load(spec, root, split).sample_ids`."""
        return _aligned_annotations(root, split, self.load(spec, root, split).sample_ids)

    def captions(self, spec: dict[str, Any], root: Path, split: str) -> list[list[str]]:
        return [record["captions"] for record in self.annotations(spec, root, split)]

    def label_views(self, spec: dict[str, Any], root: Path, split: str) -> dict[str, LabelView]:
        rec = self.recipe(spec)
        data = self.load(spec, root, split)
        records = _aligned_annotations(root, split, data.sample_ids)
        tops = [largest(r["objects"]) for r in records]
        heldout = np.array([[t["shape"], t["colour"]] in rec["heldout"] for t in tops], dtype=bool)
        in_train = split == "train"
        counts = [str(k) for k in range(1, rec["max_objects"] + 1)]
        return {
            "shape": LabelView(data.labels, rec["shapes"]),
            "colour": LabelView([rec["colours"].index(t["colour"]) for t in tops], rec["colours"]),
            "position": LabelView([POSITIONS.index(t["position"]) for t in tops], list(POSITIONS)),
            "count": LabelView([len(r["objects"]) - 1 for r in records], counts),
            "heldout": LabelView(np.where(in_train | heldout, data.labels, -1), rec["shapes"]),
            "seen": LabelView(np.where(in_train | ~heldout, data.labels, -1), rec["shapes"]),
        }
