"""Extraction (the `pixels` model) on each fake paper dataset: the store entry's ids, labels and rows
are those of the split the reader returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import fake_datasets as fake

from vlgen.config import load_config
from vlgen.data import load_split
from vlgen.extract import extract
from vlgen.store import FeatureStore

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# name -> (catalog entry, writer, split, native image size or None for JPEGs)
DATASETS = {
    "mnist": ({"reader": "idx", "class_names": DIGITS}, fake.write_mnist, "test", 28),
    "cifar10": ({"reader": "cifar10", "max_per_class": 2, "seed": 3}, fake.write_cifar10, "train", 32),
    "cifar100": ({"reader": "cifar100"}, fake.write_cifar100, "test", 32),
    "svhn": ({"reader": "svhn", "class_names": DIGITS}, fake.write_svhn, "train", 32),
    "cub": ({"reader": "cub", "class_names": "paper"}, fake.write_cub, "test", None),
    "imagenet-flat": ({"reader": "imagenet"}, lambda root: fake.write_imagenet(root, "flat"), "val", None),
    "imagenet-classes": ({"reader": "imagenet"}, lambda root: fake.write_imagenet(root, "classes"), "val", None),
}


@pytest.mark.parametrize("name", list(DATASETS))
def test_extraction_rows_ids_and_labels_match_the_split(tmp_path, name):
    entry, write, split, size = DATASETS[name]
    folder = tmp_path / "data"
    write(folder)
    crop = size or 8
    model = {"source": "pixels", "family": "baseline",
             "preprocess": {"size": crop, "crop": crop, "interpolation": "bilinear", "mean": [0, 0, 0],
                            "std": [1, 1, 1]}}
    override = tmp_path / "run.yaml"
    override.write_text(yaml.safe_dump({"run": "t", "models": ["px"], "datasets": [name],
                                        "model_catalog": {"px": model},
                                        "dataset_catalog": {name: {**entry, "root": str(folder)}}}))
    config = load_config([override], ROOT)
    payload = config.feature_payload("px", name, split)
    # read with the catalog entry: an image model's key leaves out the class names idx and svhn check
    extract(payload, tmp_path / "store", folder, dataset_spec=config.dataset_payload(name), batch_size=4,
            progress=False)

    data = load_split(config.dataset_payload(name), folder, split)
    stored = FeatureStore(tmp_path / "store").open(config.feature_key("px", name, split))
    assert list(stored.sample_ids) == data.sample_ids and len(data) > 0
    np.testing.assert_array_equal(stored.labels, data.labels)
    features = stored.load_features()
    assert features.shape == (len(data), 3 * crop * crop)
    if size:  # native size: the pixels model's row is the image itself, channel-major, in [0, 1]
        expected = np.stack([np.asarray(img).transpose(2, 0, 1).reshape(-1) for img in data.images]) / 255.0
        np.testing.assert_allclose(features, expected, atol=1e-6)
