"""Dataset readers: digits, imagefolder, shapes, max_per_class, listing. Offline and fast."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from vlgen.config import RunConfig
from vlgen.data import get_reader, load_split, shapes
from vlgen.data.listing import describe_datasets
from vlgen.data.registry import SplitData
from vlgen.data.subsample import subsample_per_class
from helpers.imports import heavy_imports

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def digits_spec(**fields) -> dict:
    return {"reader": "digits", **fields}


def indices_of(data: SplitData) -> np.ndarray:
    """load_digits indices from ids like 'digits/0042'."""
    return np.array([int(sample_id.split("/")[1]) for sample_id in data.sample_ids])


# -- digits -----------------------------------------------------------------------------------


def test_digits_pixels_and_labels_equal_sklearn_under_documented_scaling(tmp_path):
    bunch = load_digits()
    data = load_split(digits_spec(), tmp_path, "train")
    idx = indices_of(data)
    expected = np.floor(bunch.images[idx] * 255.0 / 16.0 + 0.5).astype(np.uint8)
    assert data.images.dtype == np.uint8 and data.images.shape == (len(idx), 8, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(data.images[..., channel], expected)
    np.testing.assert_array_equal(data.labels, bunch.target[idx])
    assert data.images.min() == 0 and data.images.max() == 255
    assert np.asarray(data.image(0)).shape == (8, 8, 3)


def test_digits_split_sizes_disjoint_stratified_and_ordered(tmp_path):
    train = load_split(digits_spec(), tmp_path, "train")
    test = load_split(digits_spec(), tmp_path, "test")
    assert (len(train), len(test)) == (898, 899)
    train_idx, test_idx = indices_of(train), indices_of(test)
    assert set(train_idx).isdisjoint(test_idx) and len(set(train_idx) | set(test_idx)) == 1797
    assert np.all(np.diff(test_idx) > 0)
    counts = Counter(load_digits().target.tolist())
    for label, n_test in Counter(test.labels.tolist()).items():
        assert abs(n_test - counts[label] / 2) <= 1
    assert train.sample_ids[0] == f"digits/{train_idx[0]:04d}"


def test_digits_split_follows_seed_and_fraction(tmp_path):
    ids = lambda **f: load_split(digits_spec(**f), tmp_path, "test").sample_ids  # noqa: E731
    assert ids(seed=0) == ids() == ids(seed=0)
    assert ids(seed=1) != ids(seed=0)
    assert len(ids(test_fraction=0.25)) == int(np.ceil(0.25 * 1797))


def test_digits_class_names_and_status(tmp_path):
    reader = get_reader("digits")
    assert reader.class_names(digits_spec(), tmp_path) == DIGIT_NAMES
    assert load_split(digits_spec(), tmp_path, "test").class_names == DIGIT_NAMES
    assert reader.status(digits_spec(), tmp_path / "nowhere") == "present"


# -- imagefolder ------------------------------------------------------------------------------


def colour(class_index: int, i: int) -> tuple[int, int, int]:
    return (10 * class_index + 1, 7 * i + 3, 200 - class_index)


def write_png(path: Path, rgb: tuple[int, int, int], size: int = 5) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), rgb).save(path)


def write_explicit(root: Path) -> None:
    """train: apple x2, zebra x1; test: apple x1, mango x2 (classes differ per split)."""
    write_png(root / "train/apple/b.png", colour(0, 1))
    write_png(root / "train/apple/a.PNG", colour(0, 0))
    write_png(root / "train/zebra/z.png", colour(2, 0))
    (root / "train/zebra/notes.txt").write_text("not an image")
    (root / "train/zebra/.hidden.png").write_bytes(b"")
    write_png(root / "test/apple/c.png", colour(0, 2))
    write_png(root / "test/mango/m1.png", colour(1, 0))
    write_png(root / "test/mango/m2.png", colour(1, 1))


def test_imagefolder_explicit_layout(tmp_path):
    root = tmp_path / "folder"
    write_explicit(root)
    spec = {"reader": "imagefolder"}
    train, test = load_split(spec, root, "train"), load_split(spec, root, "test")
    assert train.class_names == test.class_names == ["apple", "mango", "zebra"]
    assert train.sample_ids == ["train/apple/a.PNG", "train/apple/b.png", "train/zebra/z.png"]
    assert test.sample_ids == ["test/apple/c.png", "test/mango/m1.png", "test/mango/m2.png"]
    assert train.labels.tolist() == [0, 0, 2] and test.labels.tolist() == [0, 1, 1]
    expected = [colour(0, 0), colour(0, 1), colour(2, 0)]
    for i, rgb in enumerate(expected):
        pixels = np.asarray(train.image(i))
        assert pixels.shape == (5, 5, 3) and np.all(pixels == np.array(rgb, dtype=np.uint8))
    assert all(isinstance(p, Path) and p.is_file() for p in train.images)


def test_imagefolder_flat_layout_is_a_seeded_stratified_split(tmp_path):
    root = tmp_path / "flat"
    for c, name in enumerate(["b_cat", "a_dog"]):
        for i in range(10):
            write_png(root / name / f"{i:02d}.png", colour(c, i))
    spec = {"reader": "imagefolder", "test_fraction": 0.3, "seed": 3}
    train, test = load_split(spec, root, "train"), load_split(spec, root, "test")
    assert train.class_names == ["a_dog", "b_cat"]
    assert (len(train), len(test)) == (14, 6)
    assert set(train.sample_ids).isdisjoint(test.sample_ids)
    assert sorted(train.sample_ids + test.sample_ids) == sorted(
        f"{n}/{i:02d}.png" for n in ["a_dog", "b_cat"] for i in range(10))
    assert Counter(test.labels.tolist()) == {0: 3, 1: 3}
    for data in (train, test):
        assert data.sample_ids == sorted(data.sample_ids)
        assert [s.split("/")[0] for s in data.sample_ids] == [data.class_names[k] for k in data.labels]
    assert load_split(spec, root, "test").sample_ids == test.sample_ids
    assert load_split({**spec, "seed": 4}, root, "test").sample_ids != test.sample_ids


def test_imagefolder_grayscale_comes_back_rgb(tmp_path):
    root = tmp_path / "gray"
    for split in ("train", "test"):
        path = root / split / "only" / "g.png"
        path.parent.mkdir(parents=True)
        Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4) * 16, mode="L").save(path)
    image = load_split({"reader": "imagefolder"}, root, "test").image(0)
    pixels = np.asarray(image)
    assert image.mode == "RGB" and pixels.shape == (4, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(pixels[..., channel], np.arange(16).reshape(4, 4) * 16)


def test_imagefolder_errors_name_the_folder(tmp_path):
    spec = {"reader": "imagefolder"}
    reader = get_reader("imagefolder")
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_split(spec, missing, "train")
    assert reader.status(spec, missing) == "missing"

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=f"{empty}.*no class folders"):
        reader.class_names(spec, empty)
    assert reader.status(spec, empty) == "missing"

    partial = tmp_path / "partial"
    write_png(partial / "train/a/x.png", (1, 2, 3))
    (partial / "test/a").mkdir(parents=True)
    assert reader.status(spec, partial) == "present"
    with pytest.raises(ValueError, match=f"{partial / 'test'}"):
        load_split(spec, partial, "test")
    (partial / "test/a").rmdir()
    (partial / "test").rmdir()
    with pytest.raises(FileNotFoundError, match=f"{partial / 'test'}"):
        load_split(spec, partial, "test")

    with pytest.raises(ValueError, match="no split 'val'"):
        load_split(spec, partial, "val")


# -- shapes -----------------------------------------------------------------------------------

SHAPES_SPEC = {"reader": "shapes", "generate": {"classes": ["square", "circle", "stripes"], "per_class": 6, "size": 16}}


def file_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_shapes_generation_is_deterministic_and_readable(tmp_path):
    reader = get_reader("shapes")
    a, b = tmp_path / "a" / "shapes", tmp_path / "b" / "shapes"
    assert reader.status(SHAPES_SPEC, a) == "missing"
    reader.prepare(SHAPES_SPEC, a)
    reader.prepare(SHAPES_SPEC, b)
    files = file_bytes(a)
    assert files == file_bytes(b)
    assert len([f for f in files if f.endswith(".png")]) == 18
    assert reader.status(SHAPES_SPEC, a) == "present"
    assert json.loads(files[shapes.MARKER])["recipe"]["classes"] == ["square", "circle", "stripes"]
    assert sorted(p.name for p in a.parent.iterdir()) == ["shapes"]  # no staging leftovers

    train, test = load_split(SHAPES_SPEC, a, "train"), load_split(SHAPES_SPEC, a, "test")
    assert train.class_names == ["square", "circle", "stripes"]  # spec order, not sorted order
    assert (len(train), len(test)) == (9, 9)
    assert train.sample_ids[:3] == ["train/square/0000.png", "train/square/0001.png", "train/square/0002.png"]
    assert test.sample_ids[0] == "test/square/0003.png"
    assert train.labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    pixels = np.asarray(train.image(0))
    assert pixels.shape == (16, 16, 3) and pixels.std() > 0


def test_shapes_prepare_twice_does_nothing(tmp_path, monkeypatch):
    root = tmp_path / "shapes"
    get_reader("shapes").prepare(SHAPES_SPEC, root)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}

    def fail(*args):
        raise AssertionError("regenerated a complete folder")

    monkeypatch.setattr(shapes, "_write_images", fail)
    get_reader("shapes").prepare(SHAPES_SPEC, root)
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_shapes_interrupted_generation_is_redone_cleanly(tmp_path):
    reference = tmp_path / "ref" / "shapes"
    get_reader("shapes").prepare(SHAPES_SPEC, reference)
    root = tmp_path / "run" / "shapes"
    write_png(root / "train/square/0000.png", (0, 0, 0))  # a half-written folder, no marker
    write_png(root / "train/triangle/9999.png", (0, 0, 0))
    staging = root.parent / ".shapes.generating"
    write_png(staging / "train/square/0000.png", (0, 0, 0))  # leftover of a killed generation
    assert get_reader("shapes").status(SHAPES_SPEC, root) == "missing"
    with pytest.raises(FileNotFoundError, match="prepare"):
        load_split(SHAPES_SPEC, root, "train")
    get_reader("shapes").prepare(SHAPES_SPEC, root)
    assert file_bytes(root) == file_bytes(reference)
    assert sorted(p.name for p in root.parent.iterdir()) == ["shapes"]


def test_shapes_changed_spec_regenerates(tmp_path):
    root = tmp_path / "shapes"
    reader = get_reader("shapes")
    reader.prepare(SHAPES_SPEC, root)
    old = file_bytes(root)
    changed = {**SHAPES_SPEC, "generate": {**SHAPES_SPEC["generate"], "seed": 1}}
    assert reader.status(changed, root) == "missing"
    reader.prepare(changed, root)
    new = file_bytes(root)
    assert new.keys() == old.keys() and new["train/circle/0000.png"] != old["train/circle/0000.png"]
    assert reader.status(changed, root) == "present" and reader.status(SHAPES_SPEC, root) == "missing"


def test_shapes_rejects_unknown_generate_fields(tmp_path):
    with pytest.raises(ValueError, match="per_clas"):
        get_reader("shapes").prepare({"reader": "shapes", "generate": {"per_clas": 3}}, tmp_path / "s")
    with pytest.raises(ValueError, match="hexagon"):
        get_reader("shapes").class_names({"reader": "shapes", "generate": {"classes": ["hexagon"]}}, tmp_path)


# -- max_per_class ----------------------------------------------------------------------------


def test_max_per_class_keeps_min_k_count_in_order_deterministically(tmp_path):
    full = load_split(digits_spec(), tmp_path, "train")
    spec = digits_spec(max_per_class=30, seed=0)
    sub = load_split(spec, tmp_path, "train")
    full_counts = Counter(full.labels.tolist())
    assert Counter(sub.labels.tolist()) == {c: min(30, n) for c, n in full_counts.items()}
    positions = [full.sample_ids.index(s) for s in sub.sample_ids]
    assert positions == sorted(positions)
    for i, p in enumerate(positions):
        assert sub.labels[i] == full.labels[p]
        np.testing.assert_array_equal(sub.images[i], full.images[p])
    assert load_split(spec, tmp_path, "train").sample_ids == sub.sample_ids
    assert load_split({**spec, "seed": 1}, tmp_path, "train").sample_ids != sub.sample_ids
    assert load_split(digits_spec(max_per_class=1000), tmp_path, "train").sample_ids == full.sample_ids
    assert load_split(digits_spec(max_per_class=None), tmp_path, "train").sample_ids == full.sample_ids


def test_max_per_class_on_path_images_keeps_small_classes_whole():
    labels = np.array([1, 0, 1, 1, 0, 1, 1, 2])
    data = SplitData(images=[f"img{i}.png" for i in range(8)], labels=labels,
                     class_names=["a", "b", "c"], sample_ids=[f"s{i}" for i in range(8)])
    sub = subsample_per_class(data, 2, seed=5)
    assert Counter(sub.labels.tolist()) == {0: 2, 1: 2, 2: 1}
    assert sub.images == [f"img{s[1:]}.png" for s in sub.sample_ids]
    assert [int(s[1:]) for s in sub.sample_ids] == sorted(int(s[1:]) for s in sub.sample_ids)
    assert {"s1", "s4", "s7"} <= set(sub.sample_ids)


# -- listing and imports ----------------------------------------------------------------------


def test_describe_datasets(tmp_path):
    write_explicit(tmp_path / "folder")
    raw = {
        "datasets": ["digits", "folder"],
        "dataset_catalog": {
            "digits": {"reader": "digits", "max_per_class": 20},
            "folder": {"reader": "imagefolder", "root": str(tmp_path / "folder")},
            "gone": {"reader": "imagefolder", "root": "nowhere"},
            "demo_shapes": {"reader": "shapes", "generate": {"per_class": 4}},
        },
    }
    rows = {row["name"]: row for row in describe_datasets(RunConfig(raw), base=tmp_path)}
    assert list(rows) == ["digits", "folder", "gone", "demo_shapes"]
    assert rows["digits"] | {"root": None} == {"name": "digits", "reader": "digits", "selected": True,
                                                "status": "present", "splits": "train 200 / test 200",
                                                "classes": 10, "root": None}
    assert rows["folder"]["splits"] == "train 3 / test 3" and rows["folder"]["classes"] == 3
    assert rows["gone"]["status"] == "missing" and rows["gone"]["splits"] == "train ? / test ?"
    assert rows["gone"]["classes"] == "?" and not rows["gone"]["selected"]
    assert rows["demo_shapes"]["status"] == "missing" and rows["demo_shapes"]["classes"] == 6
    assert rows["demo_shapes"]["root"] == str(tmp_path / "resources/datasets/demo_shapes")


def test_importing_vlgen_data_imports_no_torch():
    assert heavy_imports("vlgen.data", "vlgen.data.listing") == []
