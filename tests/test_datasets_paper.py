"""The paper's dataset readers on small fakes in the exact on-disk formats (tests/helpers/fake_datasets.py).

Every check compares against what the fake writer put on disk: pixels, labels, class names, split
sizes, order, ids, and the SVHN / CUB / ImageNet conventions of PROTOCOL.md.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from helpers import fake_datasets as fake

from vlgen.data import get_reader, load_split
from vlgen.data.mnist import read_idx

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def assert_arrays_match(data, written: fake.Written) -> None:
    assert data.sample_ids == written.sample_ids
    np.testing.assert_array_equal(data.labels, written.labels)
    assert data.labels.dtype == np.int64
    images = np.asarray(data.images)
    assert images.dtype == np.uint8 and images.shape == written.images.shape
    np.testing.assert_array_equal(images, written.images)
    for i in (0, len(written.labels) - 1):  # what the extractor's workers see
        image = data.image(i)
        assert image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), written.images[i])


def mean_colours(data) -> np.ndarray:
    """Mean RGB of each decoded JPEG (solid colours, so JPEG loss is a unit or two)."""
    return np.array([np.asarray(data.image(i), dtype=np.float64).mean(axis=(0, 1)) for i in range(len(data))])


# -- IDX ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_reads_images_labels_and_names(tmp_path, gz):
    written = fake.write_mnist(tmp_path, gz=gz)
    spec = {"reader": "idx", "class_names": DIGITS}
    for split, n in (("train", 12), ("test", 7)):
        data = load_split(spec, tmp_path, split)
        assert len(data) == n and data.class_names == DIGITS
        assert_arrays_match(data, written[split])
    assert get_reader("idx").class_names(spec, tmp_path) == DIGITS


def test_idx_header_is_parsed_not_assumed(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    array = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    with gzip.open(path, "wb") as fh:
        fh.write(fake.idx_bytes(array))
    np.testing.assert_array_equal(read_idx(path), array)
    (tmp_path / "bad").write_bytes(fake.idx_bytes(array)[:-1])
    with pytest.raises(ValueError, match=f"{tmp_path / 'bad'}.*promises"):
        read_idx(tmp_path / "bad")
    (tmp_path / "html").write_bytes(b"<html>")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "html")


def test_idx_missing_file_and_names_are_reported(tmp_path):
    fake.write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_split({"reader": "idx", "class_names": DIGITS}, tmp_path, "train")
    fake.write_mnist(tmp_path)
    with pytest.raises(ValueError, match="class_names"):
        load_split({"reader": "idx"}, tmp_path, "train")
    with pytest.raises(ValueError, match="labels span"):
        load_split({"reader": "idx", "class_names": ["a", "b"]}, tmp_path, "train")


# -- CIFAR --------------------------------------------------------------------------------------------


def test_cifar10_batches_in_order_with_meta_names(tmp_path):
    written = fake.write_cifar10(tmp_path, per_batch=3)
    spec = {"reader": "cifar10"}
    train, test = load_split(spec, tmp_path, "train"), load_split(spec, tmp_path, "test")
    assert (len(train), len(test)) == (15, 3)  # five train batches, one test batch
    assert train.class_names == ["airplane", "automobile", "bird"]
    assert_arrays_match(train, written["train"])
    assert_arrays_match(test, written["test"])
    # The channel-major row layout, by hand: pixel (y=1, x=2), green, of train sample 4.
    rows = fake.cifar_rows(written["train"].images[4:5])
    assert train.images[4][1, 2, 1] == rows[0, 1024 + 32 + 2]


def test_cifar100_fine_labels_and_names(tmp_path):
    written = fake.write_cifar100(tmp_path)
    spec = {"reader": "cifar100"}
    for split in ("train", "test"):
        assert_arrays_match(load_split(spec, tmp_path, split), written[split])
    assert get_reader("cifar100").class_names(spec, tmp_path) == ["apple", "aquarium_fish", "baby", "bear"]


def test_cifar_missing_batch_is_named(tmp_path):
    fake.write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_split({"reader": "cifar10"}, tmp_path, "test")
    assert get_reader("cifar10").status({"reader": "cifar10"}, tmp_path) == "missing"


# -- SVHN ---------------------------------------------------------------------------------------------


def test_svhn_mat_files_with_label_10_as_0(tmp_path):
    written = fake.write_svhn(tmp_path)
    spec = {"reader": "svhn", "class_names": DIGITS}
    for split, n in (("train", 11), ("test", 6)):
        data = load_split(spec, tmp_path, split)
        assert len(data) == n and data.class_names == DIGITS
        assert_arrays_match(data, written[split])
        assert data.labels[0] == 0 and data.labels.max() <= 9  # written as 10
    assert get_reader("svhn").splits == ("train", "test")  # `extra` is not a split


# -- CUB ----------------------------------------------------------------------------------------------


def test_cub_split_order_labels_and_ids(tmp_path):
    written = fake.write_cub(tmp_path)
    spec = {"reader": "cub"}
    train, test = load_split(spec, tmp_path, "train"), load_split(spec, tmp_path, "test")
    assert (len(train), len(test)) == (5, 4)  # train_test_split.txt: 1 = train, 0 = test
    for data, split in ((train, "train"), (test, "test")):
        assert data.sample_ids == written[split].sample_ids
        np.testing.assert_array_equal(data.labels, written[split].labels)
        np.testing.assert_allclose(mean_colours(data), written[split].images, atol=3)
        assert all(Path(p).is_file() for p in data.images)
    assert train.labels.tolist() == [0, 0, 1, 1, 2]  # class id - 1
    assert train.sample_ids[0] == "001.Black_footed_Albatross/Black_footed_Albatross_0001_701.jpg"


def test_cub_grayscale_jpeg_comes_back_rgb(tmp_path):
    fake.write_cub(tmp_path)
    train = load_split({"reader": "cub"}, tmp_path, "train")
    i = next(k for k, s in enumerate(train.sample_ids) if f"_{fake.CUB_GRAY_ID:04d}_" in s)
    pixels = np.asarray(train.image(i))
    assert pixels.shape == (30, 40, 3)
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 1])
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_cub_class_names_real_paper_or_list(tmp_path):
    fake.write_cub(tmp_path)
    reader = get_reader("cub")
    assert reader.class_names({"reader": "cub"}, tmp_path) == [
        "Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
    assert reader.class_names({"reader": "cub", "class_names": "paper"}, tmp_path) == ["0", "1", "2"]
    assert load_split({"reader": "cub", "class_names": "paper"}, tmp_path, "test").class_names == ["0", "1", "2"]
    assert reader.class_names({"reader": "cub", "class_names": ["a", "b", "c"]}, tmp_path) == ["a", "b", "c"]


def test_cub_reads_the_folder_itself_and_names_missing_files(tmp_path):
    written = fake.write_cub(tmp_path)
    base = tmp_path / "CUB_200_2011"
    assert load_split({"reader": "cub"}, base, "test").sample_ids == written["test"].sample_ids
    (base / "train_test_split.txt").unlink()
    with pytest.raises(FileNotFoundError, match="train_test_split.txt"):
        load_split({"reader": "cub"}, tmp_path, "train")


# -- ImageNet validation ------------------------------------------------------------------------------

IMAGENET = {"reader": "imagenet", "expected": {"images": 10, "classes": 4}}


@pytest.mark.parametrize("layout, archive", [("classes", False), ("flat", False), ("flat", True)],
                         ids=["class-folders", "flat+devkit-folder", "flat+devkit-archive"])
def test_imagenet_layouts_give_imagefolder_order_labels_and_names(tmp_path, layout, archive):
    written = fake.write_imagenet(tmp_path, layout, devkit_archive=archive)["val"]
    data = load_split(IMAGENET, tmp_path, "val")
    assert data.sample_ids == written.sample_ids
    np.testing.assert_array_equal(data.labels, written.labels)
    assert data.class_names == ["tench, tinca tinca", "goldfish, carassius auratus", "crane", "wing"]
    np.testing.assert_allclose(mean_colours(data), written.images, atol=3)
    assert [p.name for p in data.images] == [s.split("/")[1] for s in written.sample_ids]
    assert get_reader("imagenet").splits == ("val",)


def test_imagenet_order_is_torchvision_imagefolder_order(tmp_path):
    """The authors' attack subset np.random.permutation(50000)[:1000] indexes ImageFolder's order."""
    from torchvision.datasets import ImageFolder

    fake.write_imagenet(tmp_path / "classes", "classes")
    fake.write_imagenet(tmp_path / "flat", "flat")
    reference = ImageFolder(str(tmp_path / "classes"))
    expected_ids = [Path(p).relative_to(tmp_path / "classes").as_posix() for p, _ in reference.samples]
    for layout in ("classes", "flat"):
        data = load_split(IMAGENET, tmp_path / layout, "val")
        assert data.sample_ids == expected_ids
        assert data.labels.tolist() == [label for _, label in reference.samples]
        np.random.seed(42)
        picks = np.random.permutation(len(data))[:4]
        assert [data.sample_ids[i] for i in picks] == [expected_ids[i] for i in picks]


def test_imagenet_reads_root_val_and_grayscale(tmp_path):
    written = fake.write_imagenet(tmp_path / "val", "classes")["val"]
    data = load_split(IMAGENET, tmp_path, "val")
    assert data.sample_ids == written.sample_ids
    i = data.sample_ids.index(next(s for s in data.sample_ids if s.endswith("_00000007.JPEG")))
    pixels = np.asarray(data.image(i))
    assert pixels.shape == (20, 24, 3) and (pixels[..., 0] == pixels[..., 2]).all()


def test_imagenet_check_says_what_to_provide(tmp_path):
    reader = get_reader("imagenet")
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"no validation images found in {missing}.*50,000.*devkit"):
        reader.prepare(IMAGENET, missing)
    assert reader.status(IMAGENET, missing) == "missing"

    fake.write_imagenet(tmp_path / "fake", "classes")
    reader.prepare(IMAGENET, tmp_path / "fake")  # the expected counts: passes, writes nothing
    assert reader.status(IMAGENET, tmp_path / "fake") == "verified"
    with pytest.raises(ValueError, match=r"found 10 images \(expected 50,000\), 4 classes \(expected 1,000\)"):
        reader.prepare({"reader": "imagenet"}, tmp_path / "fake")
    assert reader.status({"reader": "imagenet"}, tmp_path / "fake") == "present"
    next((tmp_path / "fake" / "n04592741").iterdir()).unlink()
    with pytest.raises(ValueError, match=r"found 9 images \(expected 10\)"):
        reader.prepare(IMAGENET, tmp_path / "fake")

    fake.write_imagenet(tmp_path / "flat", "flat")
    (tmp_path / "flat" / fake.DEVKIT / "data" / "meta.mat").unlink()
    with pytest.raises(FileNotFoundError, match="meta.mat"):
        reader.prepare(IMAGENET, tmp_path / "flat")


def test_imagenet_rejects_unknown_synsets(tmp_path):
    fake.write_jpeg(tmp_path / "n99999999" / "a.JPEG", (1, 2, 3))
    with pytest.raises(ValueError, match="n99999999"):
        get_reader("imagenet").class_names(IMAGENET, tmp_path)
