"""Images per second of each dataset reader alone (a measurement, not a test).

    python benchmarks/datasets.py                          # synthetic copies in each real format
    python benchmarks/datasets.py --configfile config/config.yaml   # the catalog's datasets that are on disk
    python benchmarks/datasets.py --jpegs 100 --workers 2

Synthetic copies are written in each reader's real on-disk format at the real datasets' sizes for
the array formats (MNIST 60,000 / CIFAR-10 50,000 / CIFAR-100 50,000 / SVHN 73,257 train images)
and `--jpegs` textured 500x375 JPEGs (quality 90, ~60 KB, near the ImageNet/CUB average) for CUB and
ImageNet. Columns:

    load s          load_split: parse the files / list the folder (once per extraction job)
    decode img/s    SplitData.image(i), one process: what one DataLoader worker does per sample
    +resize img/s   the same plus the paper preprocessing (Resize 256 bicubic, CenterCrop 256,
                    normalise): the per-sample work of an extraction worker
    loader img/s    the extractor's DataLoader (PreprocessedImages) with --workers processes, 1,000
                    samples (worker start-up included, as in a job)

and, for JPEG, the decoders alone on the same files: PIL (what the readers use; Pillow's libjpeg-
turbo), torchvision.io.decode_jpeg, and PIL with `Image.draft` (DCT-domain downscaling, which
changes pixels: not used). Figures depend on the machine's load (printed).
"""

from __future__ import annotations

import argparse
import gzip
import os
import pickle
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vlgen.config import load_config
from vlgen.data import get_reader, load_split

DIGITS = [str(i) for i in range(10)]
PAPER_PREPROCESS = {"size": 256, "crop": 256, "interpolation": "bicubic", "resize_backend": "pil",
                    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
WNIDS = ["n01440764", "n01443537", "n02012849", "n04592741"]


# -- synthetic copies in the real formats -----------------------------------------------------------


def textured(rng: np.random.Generator, width: int = 500, height: int = 375) -> np.ndarray:
    """A smooth colour field with mid-frequency texture and noise: compresses like a photograph."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    phases = rng.uniform(0, 2 * np.pi, size=(3, 3))
    planes = [128 + 60 * np.sin(6 * x + p[0]) * np.cos(4 * y + p[1]) + 30 * np.sin(40 * (x + y) + p[2])
              for p in phases]
    image = np.stack(planes, axis=-1) + rng.normal(0, 6, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_jpegs(paths: list[Path], seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(textured(rng)).save(path, format="JPEG", quality=90)


def write_idx(root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60000), ("t10k", 10000)):
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            ("labels-idx1", rng.integers(0, 10, n, dtype=np.uint8))):
            header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            with gzip.open(root / f"{prefix}-{kind}-ubyte.gz", "wb", compresslevel=6) as fh:
                fh.write(header + array.tobytes())
    return {"reader": "idx", "class_names": DIGITS}


def _pickle(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


def write_cifar10(root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _pickle(folder / name, {"data": rng.integers(0, 256, (10000, 3072), dtype=np.uint8),
                                "labels": rng.integers(0, 10, 10000).tolist()})
    _pickle(folder / "batches.meta", {"label_names": DIGITS})
    return {"reader": "cifar10"}


def write_cifar100(root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(2)
    folder = root / "cifar-100-python"
    for name, n in (("train", 50000), ("test", 10000)):
        _pickle(folder / name, {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                                "fine_labels": rng.integers(0, 100, n).tolist()})
    _pickle(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)]})
    return {"reader": "cifar100"}


def write_svhn(root: Path) -> dict[str, Any]:
    from scipy.io import savemat

    rng = np.random.default_rng(3)
    for split, n in (("train", 73257), ("test", 26032)):
        savemat(root / f"{split}_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8),
                                              "y": rng.integers(1, 11, (n, 1)).astype(np.uint8)})
    return {"reader": "svhn", "class_names": DIGITS}


def write_cub(root: Path, n: int) -> dict[str, Any]:
    base = root / "CUB_200_2011"
    relative = [f"{1 + i % 4:03d}.Bird_{1 + i % 4}/Bird_{i:04d}.jpg" for i in range(n)]
    write_jpegs([base / "images" / r for r in relative], seed=4)
    (base / "images.txt").write_text("".join(f"{i + 1} {r}\n" for i, r in enumerate(relative)))
    (base / "image_class_labels.txt").write_text("".join(f"{i + 1} {1 + i % 4}\n" for i in range(n)))
    (base / "train_test_split.txt").write_text("".join(f"{i + 1} 1\n" for i in range(n)))
    (base / "classes.txt").write_text("".join(f"{c} {c:03d}.Bird_{c}\n" for c in range(1, 5)))
    return {"reader": "cub"}


def write_imagenet(root: Path, n: int) -> dict[str, Any]:
    write_jpegs([root / WNIDS[i % 4] / f"ILSVRC2012_val_{i + 1:08d}.JPEG" for i in range(n)], seed=5)
    return {"reader": "imagenet"}


# -- measurements -----------------------------------------------------------------------------------


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}" if seconds > 0 else "inf"


def decode_rate(data: Any, indices: np.ndarray, transform: Any = None) -> str:
    start = time.perf_counter()
    for i in indices:
        image = data.image(int(i))
        if transform is not None:
            transform(image)
    return rate(len(indices), time.perf_counter() - start)


def loader_rate(data: Any, transform: Any, indices: np.ndarray, workers: int) -> str:
    from torch.utils.data import DataLoader

    from vlgen.extract import PreprocessedImages

    subset = PreprocessedImages(data, transform, [int(i) for i in indices])
    start = time.perf_counter()
    for _ in DataLoader(subset, batch_size=32, num_workers=workers):
        pass
    return rate(len(indices), time.perf_counter() - start)


def jpeg_decoders(paths: list[Path]) -> dict[str, str]:
    """PIL vs torchvision.io.decode_jpeg vs PIL draft, decoding the same files to RGB."""
    import torch
    from PIL import Image
    from torchvision.io import ImageReadMode, decode_jpeg

    blobs = [p.read_bytes() for p in paths]

    def pil() -> None:
        for p in paths:
            with Image.open(p) as im:
                im.convert("RGB")

    def torchvision_io() -> None:
        for b in blobs:
            decode_jpeg(torch.frombuffer(bytearray(b), dtype=torch.uint8), mode=ImageReadMode.RGB)

    def pil_draft() -> None:
        for p in paths:
            with Image.open(p) as im:
                im.draft("RGB", (256, 256))
                im.convert("RGB")

    out = {}
    for name, run in (("PIL", pil), ("torchvision.io.decode_jpeg", torchvision_io), ("PIL draft(256)", pil_draft)):
        start = time.perf_counter()
        run()
        out[name] = rate(len(paths), time.perf_counter() - start)
    return out


def measure(name: str, spec: dict[str, Any], root: Path, args: argparse.Namespace) -> dict[str, str]:
    from vlgen.preprocess import build_transform

    reader = get_reader(spec["reader"])
    split = reader.splits[0]
    start = time.perf_counter()
    data = load_split(spec, root, split)
    load_s = time.perf_counter() - start
    rng = np.random.default_rng(0)
    indices = rng.permutation(len(data))[: args.samples]
    transform = build_transform(PAPER_PREPROCESS)
    return {"dataset": name, "split": f"{split} {len(data):,}", "load s": f"{load_s:.2f}",
            "decode img/s": decode_rate(data, indices), "+resize img/s": decode_rate(data, indices[:200], transform),
            f"loader({args.workers}) img/s": loader_rate(data, transform, indices[:1000], args.workers)}


def synthetic(tmp: Path, jpegs: int) -> dict[str, tuple[dict[str, Any], Path]]:
    writers = {"mnist (idx)": write_idx, "cifar10": write_cifar10, "cifar100": write_cifar100, "svhn": write_svhn,
               "cub": lambda r: write_cub(r, jpegs), "imagenet-val": lambda r: write_imagenet(r, jpegs)}
    out = {}
    for name, write in writers.items():
        root = tmp / name.split()[0]
        root.mkdir(parents=True)
        out[name] = (write(root), root)
    return out


def from_config(configfiles: list[str]) -> dict[str, tuple[dict[str, Any], Path]]:
    config = load_config(configfiles, ".")
    out = {}
    for name in config.datasets:
        spec, root = config.dataset_payload(name), Path(config.dataset_root(name))
        if get_reader(spec["reader"]).status(spec, root) != "missing":
            out[name] = (spec, root)
    return out


def table(rows: list[dict[str, str]]) -> str:
    columns = list(rows[0])
    widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(r[c].rjust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", nargs="*", default=None, help="measure the catalog's datasets on disk")
    parser.add_argument("--jpegs", type=int, default=300, help="synthetic JPEGs for CUB and ImageNet")
    parser.add_argument("--samples", type=int, default=2000, help="samples decoded per dataset")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; torch threads 1")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        datasets = from_config(args.configfile) if args.configfile is not None else synthetic(Path(tmp), args.jpegs)
        print(f"prepared {len(datasets)} datasets in {time.perf_counter() - started:.0f} s\n")
        print(table([measure(name, spec, root, args) for name, (spec, root) in datasets.items()]))
        for name, (spec, root) in datasets.items():
            data = load_split(spec, root, get_reader(spec["reader"]).splits[0])
            if isinstance(data.images, list) and Path(data.images[0]).suffix.lower() in (".jpg", ".jpeg"):
                decoders = jpeg_decoders([Path(p) for p in data.images[: args.samples]])
                print(f"\n{name} JPEG decoders alone (img/s): " + ", ".join(f"{k} {v}" for k, v in decoders.items()))


if __name__ == "__main__":
    main()
