"""IDX files (LeCun's format): MNIST and Fashion-MNIST, which ship the same four files.

`root/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`: train is `train-*`, test is `t10k-*`, in
file order. The IDX header is two zero bytes, a type code (0x08 = uint8), the number of
dimensions, then one big-endian uint32 per dimension; numpy reads the rest as it is. The format
holds no class names: they come from the catalog entry's `class_names` list. Images are grayscale;
they are returned as a read-only three-channel view (the plane repeated, PROTOCOL: grayscale ->
RGB) that costs no memory. Sample ids: `<split>/<index in the file, 5 digits>`.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.fetch import DownloadedReader
from vlgen.data.registry import SplitData, register_reader

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file (gzip-compressed when the name ends with .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (header {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, but its header {shape} promises {expected}")
    return np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)


def _file(root: Path, stem: str) -> Path:
    """`stem.gz` when present, else the uncompressed `stem` (both are common)."""
    packed = root / f"{stem}.gz"
    return packed if packed.exists() or not (root / stem).exists() else root / stem


@register_reader
class IdxReader(DownloadedReader):
    """Reader `idx` (see the module docstring); needs `class_names` in the catalog entry."""

    name = "idx"

    def needed(self, spec: dict[str, Any], root: Path) -> list[Path]:
        return [_file(root, stem) for stems in FILES.values() for stem in stems]

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        names = spec.get("class_names")
        if not isinstance(names, list):
            raise ValueError("idx: IDX files hold no class names; list them as `class_names` in the catalog entry")
        return list(names)

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        self.check_present(spec, root)
        image_stem, label_stem = FILES[split]
        gray, labels = read_idx(_file(root, image_stem)), read_idx(_file(root, label_stem)).astype(np.int64)
        if gray.ndim != 3 or labels.shape != (len(gray),):
            raise ValueError(f"idx: {root} {split}: images {gray.shape} and labels {labels.shape} do not match")
        names = self.class_names(spec, root)
        if len(labels) and not 0 <= labels.min() <= labels.max() < len(names):
            raise ValueError(f"idx: {root} {split}: labels span {labels.min()}..{labels.max()}, "
                             f"but class_names has {len(names)} names")
        return SplitData(
            images=np.broadcast_to(gray[..., None], (*gray.shape, 3)),
            labels=labels,
            class_names=names,
            sample_ids=[f"{split}/{i:05d}" for i in range(len(labels))],
        )
