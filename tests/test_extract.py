"""Extraction into the store equals calling the model directly; an interrupted extraction resumes."""

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.run_configs import imagefolder_run
from PIL import Image
from torchvision import transforms as T

from vlgen import store as store_module
from vlgen.extract import extract
from vlgen.store import FeatureStore

CLASSES = ["apple", "boat", "cat"]


def write_folder(root: Path, per_class: int = 3) -> list[Path]:
    """A tiny image folder in the explicit train/test layout, random RGB PNGs of varied sizes."""
    rng = np.random.default_rng(0)
    paths = []
    for split in ("train", "test"):
        for name in CLASSES:
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                h, w = rng.integers(20, 50, size=2)
                path = folder / f"{i:02d}.png"
                Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(path)
                paths.append(path)
    return paths


def reference_batch(paths: list[Path], size: int, mean, std) -> torch.Tensor:
    """The preprocessing written out independently with torchvision's classic transforms."""
    transform = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(size),
                           T.ToTensor(), T.Normalize(mean, std)])
    return torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])


def shorter_side_then_centre(image: Image.Image, size: int) -> np.ndarray:
    """Resize the shorter side to `size` (bilinear, PIL), then crop the centre square, by hand."""
    w, h = image.size
    new = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    array = np.asarray(image.resize(new, Image.BILINEAR), dtype=np.float32)
    top, left = round((array.shape[0] - size) / 2), round((array.shape[1] - size) / 2)
    return array[top:top + size, left:left + size]


IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
CLIP = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}


def direct_timm(batch):
    import timm

    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False, num_classes=0).eval()(batch)


def direct_open_clip(batch):
    import open_clip

    torch.manual_seed(0)
    return open_clip.create_model("RN50", pretrained=None, force_image_size=64).eval().encode_image(batch)


@pytest.mark.parametrize("spec, size, norm, direct", [
    ({"source": "timm", "family": "vision", "name": "resnet18", "pretrained": False, "init_seed": 0}, 32, IMAGENET,
     direct_timm),
    ({"source": "open_clip", "family": "vision-language", "name": "RN50", "pretrained": None, "init_seed": 0,
      "image_size": 64}, 64, CLIP, direct_open_clip),
], ids=["timm", "open_clip"])
def test_extraction_equals_the_model_called_directly(tmp_path, spec, size, norm, direct):
    folder = tmp_path / "folder"
    paths = write_folder(folder)
    spec = {**spec, "preprocess": {"size": size, "crop": size, "interpolation": "bicubic", **norm}}
    config = imagefolder_run(tmp_path, {"m": spec}, folder)
    payload = config.feature_payload("m", "tiny", "test")
    extract(payload, tmp_path / "store", folder, batch_size=4, progress=False)  # 9 images: uneven batches

    entry = FeatureStore(tmp_path / "store").open(config.feature_key("m", "tiny", "test"))
    test_paths = sorted(p for p in paths if p.parts[-3] == "test")
    with torch.inference_mode():
        expected = direct(reference_batch(test_paths, size, norm["mean"], norm["std"])).numpy()
    np.testing.assert_allclose(entry.load_features(), expected, rtol=1e-4, atol=1e-4)
    assert list(entry.labels) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert list(entry.sample_ids) == [p.relative_to(folder).as_posix() for p in test_paths]
    assert entry.attrs["device"] == "cpu" and entry.attrs["resumed_from_row"] == 0


def test_a_crashed_extraction_resumes_from_its_last_whole_chunk(tmp_path, monkeypatch):
    """A corrupt image stops the job mid-way (a real failure); once fixed, the rerun resumes."""
    monkeypatch.setattr(store_module, "CHUNK_BYTES", 4 * 768 * 2)  # 2 rows per chunk for 768-d pixels
    folder = tmp_path / "folder"
    paths = write_folder(folder, per_class=4)
    spec = {"source": "pixels", "family": "baseline",
            "preprocess": {"size": 16, "crop": 16, "interpolation": "bilinear", "mean": [0, 0, 0], "std": [1, 1, 1]}}
    config = imagefolder_run(tmp_path, {"px": spec}, folder)
    payload = config.feature_payload("px", "tiny", "train")
    key = config.feature_key("px", "tiny", "train")
    broken = folder / "train" / "boat" / "02.png"  # row 6 of 12
    good_bytes = broken.read_bytes()
    broken.write_bytes(b"not a png")
    store = FeatureStore(tmp_path / "store")
    with pytest.raises(Exception, match="02.png|identify"):
        extract(payload, store.root, folder, batch_size=1, progress=False)
    assert not store.is_complete(key) and not store.manifest_path(key).exists()
    assert store.verify(key)[0].startswith("incomplete")

    broken.write_bytes(good_bytes)
    extract(payload, store.root, folder, batch_size=1, progress=False)
    entry = store.open(key)
    assert entry.attrs["resumed_from_row"] == 6  # rows 0-5 were three whole chunks
    fresh = FeatureStore(tmp_path / "fresh")
    extract(payload, fresh.root, folder, batch_size=5, progress=False)
    np.testing.assert_array_equal(entry.load_features(), fresh.open(key).load_features())
    train_paths = sorted(p for p in paths if p.parts[-3] == "train")
    pixels = np.stack([shorter_side_then_centre(Image.open(p).convert("RGB"), 16) for p in train_paths]) / 255.0
    expected = pixels.transpose(0, 3, 1, 2).reshape(len(train_paths), -1)
    np.testing.assert_allclose(entry.load_features(), expected, atol=1 / 255 + 1e-6)


def test_a_complete_entry_is_not_recomputed(tmp_path):
    folder = tmp_path / "folder"
    write_folder(folder)
    spec = {"source": "pixels", "family": "baseline",
            "preprocess": {"size": 8, "crop": 8, "interpolation": "bilinear", "mean": [0, 0, 0], "std": [1, 1, 1]}}
    config = imagefolder_run(tmp_path, {"px": spec}, folder)
    payload = config.feature_payload("px", "tiny", "test")
    store = FeatureStore(tmp_path / "store")
    manifest = extract(payload, store.root, folder, progress=False)
    created = store.attrs(config.feature_key("px", "tiny", "test"))["created"]
    manifest.unlink()
    for image in folder.rglob("*.png"):  # the data is gone: only a reused entry can succeed
        image.unlink()
    assert extract(payload, store.root, folder, progress=False) == manifest and manifest.exists()
    assert store.attrs(config.feature_key("px", "tiny", "test"))["created"] == created
