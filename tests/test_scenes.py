"""The `scenes` reader: captioned multi-object scenes, their captions and attribute label views.

Expectations are computed here from the annotation files and the recipe, independently of the
reader's own view code.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vlgen.data import get_reader, load_split
from vlgen.data.captions import POSITIONS, SIZES, parse_caption
from vlgen.data.registry import LabelView
from vlgen.data.scenes import PALETTE

SHAPES = ["circle", "square", "triangle", "cross"]
COLOURS = ["red", "green", "blue", "yellow"]
HELDOUT = [["circle", "red"], ["square", "green"], ["triangle", "blue"], ["cross", "yellow"]]
SPEC = {"reader": "scenes", "generate": {"shapes": SHAPES, "colours": COLOURS, "n_train": 120, "n_test": 90,
                                         "heldout": HELDOUT, "seed": 3}}
READER = get_reader("scenes")


def with_generate(**fields) -> dict:
    return {**SPEC, "generate": {**SPEC["generate"], **fields}}


def file_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def annotations(root: Path, split: str) -> dict[str, dict]:
    with open(root / "annotations" / f"{split}.jsonl") as lines:
        return {r["sample_id"]: r for r in map(json.loads, lines)}


def largest_of(objects: list[dict]) -> dict:
    """The object of the largest size, asserting it is strictly the largest."""
    ranks = [SIZES.index(o["size"]) for o in objects]
    assert ranks.count(max(ranks)) == 1, objects
    return objects[ranks.index(max(ranks))]


def as_multiset(objects: list[dict]) -> Counter:
    return Counter(tuple(sorted(o.items())) for o in objects)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scenes") / "scenes"
    READER.prepare(SPEC, path)
    return path


def test_generation_is_deterministic_per_seed(root, tmp_path):
    again = tmp_path / "again" / "scenes"
    READER.prepare(SPEC, again)
    files = file_bytes(root)
    assert files == file_bytes(again)
    assert len([f for f in files if f.endswith(".png")]) == 210
    assert {"annotations/train.jsonl", "annotations/test.jsonl", "generated.json"} <= set(files)
    other = tmp_path / "other" / "scenes"
    READER.prepare(with_generate(seed=4), other)
    other_files = file_bytes(other)
    assert other_files["annotations/train.jsonl"] != files["annotations/train.jsonl"]
    common = sorted(set(files) & set(other_files) - {"generated.json"})
    assert all(files[f] != other_files[f] for f in common if f.endswith(".png"))


def test_an_image_does_not_depend_on_split_sizes_or_caption_count(root, tmp_path):
    small = tmp_path / "small" / "scenes"
    READER.prepare(with_generate(n_train=40, n_test=30, captions_per_image=2), small)
    full, part = file_bytes(root), file_bytes(small)
    images = [f for f in part if f.endswith(".png")]
    assert len(images) == 70 and all(part[f] == full[f] for f in images)
    for split in ("train", "test"):
        big = annotations(root, split)
        for sample_id, record in annotations(small, split).items():
            assert record["objects"] == big[sample_id]["objects"]
            assert len(record["captions"]) == 2 and len(big[sample_id]["captions"]) == 3


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_caption_parses_back_to_exactly_the_annotated_objects(root, split):
    records = annotations(root, split)
    assert len(records) == {"train": 120, "test": 90}[split]
    n_objects = Counter()
    for record in records.values():
        objects = record["objects"]
        n_objects[len(objects)] += 1
        assert len(record["captions"]) == 3
        orders = set()
        for text in record["captions"]:
            parsed = parse_caption(text)
            assert as_multiset(parsed) == as_multiset(objects), text
            orders.add(tuple(SIZES.index(o["size"]) * 100 + POSITIONS.index(o["position"]) for o in parsed))
        # captions of one image show distinct object orders while there are any left
        assert len(orders) == min(3, len(list(itertools.permutations(objects))))
        assert len({o["position"] for o in objects}) == len(objects)  # one object per grid cell
    assert set(n_objects) == {1, 2, 3}


def test_parse_caption_names_what_it_cannot_read():
    assert parse_caption("a picture of a large red circle at the top left and a small blue square in the centre") == [
        {"shape": "circle", "colour": "red", "size": "large", "position": "top left"},
        {"shape": "square", "colour": "blue", "size": "small", "position": "centre"}]
    with pytest.raises(ValueError, match="a huge red circle"):
        parse_caption("a huge red circle on the left")
    with pytest.raises(ValueError, match="under the table"):
        parse_caption("a small red circle under the table")


@pytest.mark.parametrize("split", ["train", "test"])
def test_label_is_the_shape_of_the_unique_largest_object(root, split):
    data = load_split(SPEC, root, split)
    records = annotations(root, split)
    assert data.class_names == SHAPES and sorted(data.sample_ids) == sorted(records)
    for sample_id, label in zip(data.sample_ids, data.labels):
        assert SHAPES[label] == largest_of(records[sample_id]["objects"])["shape"]
    assert set(data.labels.tolist()) == set(range(len(SHAPES)))


def test_heldout_combinations_never_in_train_and_largest_in_a_third_of_test(root):
    heldout = {tuple(p) for p in HELDOUT}
    for record in annotations(root, "train").values():
        assert not {(o["shape"], o["colour"]) for o in record["objects"]} & heldout
    test = annotations(root, "test").values()
    is_heldout = [(largest_of(r["objects"])["shape"], largest_of(r["objects"])["colour"]) in heldout for r in test]
    assert 15 <= sum(is_heldout) <= 45  # heldout_fraction 1/3 of 90
    for record, flag in zip(test, is_heldout):
        others = [o for o in record["objects"] if o is not largest_of(record["objects"])]
        assert not {(o["shape"], o["colour"]) for o in others} & heldout
    assert {(largest_of(r["objects"])["shape"], largest_of(r["objects"])["colour"])
            for r, flag in zip(test, is_heldout) if flag} <= heldout


def expected_views(records: list[dict], split: str) -> dict[str, tuple[list[int], list[str]]]:
    """The views, from the annotations and the recipe alone."""
    tops = [largest_of(r["objects"]) for r in records]
    shape = [SHAPES.index(t["shape"]) for t in tops]
    held = [[t["shape"], t["colour"]] in HELDOUT for t in tops]
    return {
        "shape": (shape, SHAPES),
        "colour": ([COLOURS.index(t["colour"]) for t in tops], COLOURS),
        "position": ([POSITIONS.index(t["position"]) for t in tops], list(POSITIONS)),
        "count": ([len(r["objects"]) - 1 for r in records], ["1", "2", "3"]),
        "heldout": ([s if split == "train" or h else -1 for s, h in zip(shape, held)], SHAPES),
        "seen": ([s if split == "train" or not h else -1 for s, h in zip(shape, held)], SHAPES),
    }


@pytest.mark.parametrize("split", ["train", "test"])
def test_label_views_and_captions_agree_with_the_annotations_in_load_order(root, split):
    sample_ids = READER.load(SPEC, root, split).sample_ids
    by_id = annotations(root, split)
    records = [by_id[s] for s in sample_ids]
    views = READER.label_views(SPEC, root, split)
    assert list(views) == list(READER.view_names)
    for name, (labels, class_names) in expected_views(records, split).items():
        assert isinstance(views[name], LabelView) and views[name].labels.dtype == np.int64
        assert views[name].labels.tolist() == labels, name
        assert views[name].class_names == class_names, name
    np.testing.assert_array_equal(views["shape"].labels, READER.load(SPEC, root, split).labels)
    if split == "test":
        held, seen = views["heldout"].labels >= 0, views["seen"].labels >= 0
        assert held.any() and seen.any() and not (held & seen).any() and (held | seen).all()
    assert READER.captions(SPEC, root, split) == [r["captions"] for r in records]


def nearest_colour(pixels: np.ndarray, names: list[str]) -> np.ndarray:
    """Per pixel, the index of the palette colour within 60 of it, or -1 (background, edges)."""
    palette = np.array([PALETTE[n] for n in names], dtype=float)
    distance = np.linalg.norm(pixels[..., None, :].astype(float) - palette, axis=-1)
    return np.where(distance.min(axis=-1) < 60, distance.argmin(axis=-1), -1)


def test_pixels_show_each_annotated_colour_in_its_grid_cell(root):
    """Rendering matches the annotation: a cell's interior holds its object's colour, empty cells none."""
    data = load_split(SPEC, root, "train")
    records = annotations(root, "train")
    cell = 32 / 3
    for index in range(0, len(data), 7):
        pixels = np.asarray(data.image(index))
        objects = {o["position"]: o["colour"] for o in records[data.sample_ids[index]]["objects"]}
        for k, position in enumerate(POSITIONS):
            row, col = divmod(k, 3)
            inner = pixels[int(row * cell + 2):int((row + 1) * cell - 2), int(col * cell + 2):int((col + 1) * cell - 2)]
            found = Counter(nearest_colour(inner, COLOURS).ravel().tolist())
            found.pop(-1, None)
            if position in objects:
                assert found.most_common(1)[0][0] == COLOURS.index(objects[position]), (index, position)
            else:
                assert not found, (index, position, found)


@pytest.mark.parametrize(("generate", "field"), [
    ({"n_trian": 10}, "n_trian"),
    ({"colours": ["red", "mauve"]}, "colours"),
    ({"shapes": ["circle", "stripes"]}, "shapes"),
    ({"heldout": [["circle", "purple"]]}, "heldout"),
    ({"heldout": [["circle", c] for c in COLOURS]}, "heldout"),
    ({"max_objects": 10}, "max_objects"),
    ({"n_test": 0}, "n_test"),
    ({"size": "32"}, "size"),
    ({"heldout_fraction": 1.5}, "heldout_fraction"),
])
def test_bad_generate_field_is_named(tmp_path, generate, field):
    with pytest.raises(ValueError, match=f"scenes: .*{field}"):
        READER.prepare({"reader": "scenes", "generate": generate}, tmp_path / "scenes")
    assert not (tmp_path / "scenes").exists()


def test_default_heldout_is_the_diagonal_and_written_into_the_recipe(tmp_path):
    spec = {"reader": "scenes", "generate": {"shapes": ["ring", "cross"], "colours": ["white", "cyan", "orange"]}}
    assert READER.recipe(spec)["heldout"] == [["ring", "white"], ["cross", "cyan"]]
    assert READER.recipe({"reader": "scenes", "generate": {"colours": ["red"]}})["heldout"] == []


def test_a_killed_prepare_is_cleaned_up_and_redone(root, tmp_path):
    target = tmp_path / "run" / "scenes"
    staging = target.parent / ".scenes.generating"
    (staging / "train" / "circle").mkdir(parents=True)
    (staging / "train" / "circle" / "00000.png").write_bytes(b"half")
    (target / "annotations").mkdir(parents=True)  # a half-written root without its marker
    (target / "annotations" / "train.jsonl").write_text("{}\n")
    assert READER.status(SPEC, target) == "missing"
    with pytest.raises(FileNotFoundError, match="prepare"):
        READER.label_views(SPEC, target, "train")
    READER.prepare(SPEC, target)
    assert READER.status(SPEC, target) == "present"
    assert file_bytes(target) == file_bytes(root)
    assert sorted(p.name for p in target.parent.iterdir()) == ["scenes"]


def test_readers_without_captions_or_views_say_so(tmp_path):
    digits = get_reader("digits")
    assert digits.label_views({"reader": "digits"}, tmp_path, "train") == {}
    with pytest.raises(ValueError, match="'digits' has no captions.*scenes"):
        digits.captions({"reader": "digits"}, tmp_path, "train")
    with pytest.raises(ValueError, match="label 4 is outside -1..2"):
        LabelView(np.array([0, 4]), ["a", "b", "c"])
