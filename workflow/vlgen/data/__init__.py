"""Dataset readers. Importing this package registers every reader (see registry.py).

`load_split` is the one entry point for a split's samples: the reader's data, then the
`max_per_class` subsample, both fixed by the dataset key payload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vlgen.data import digits, imagefolder, registry, scenes, shapes  # noqa: F401  (registers the readers)
from vlgen.data import cifar, cub, imagenet, mnist, svhn  # noqa: F401  (the paper's datasets)
from vlgen.data.registry import DEFAULT_SEED, READERS, LabelView, Reader, SplitData, get_reader
from vlgen.data.subsample import subsample_per_class

__all__ = ["READERS", "LabelView", "Reader", "SplitData", "get_reader", "load_split"]


def load_split(spec: dict[str, Any], root: Path, split: str) -> SplitData:
    """Samples of `split` of the dataset whose key payload is `spec`, stored under `root`."""
    reader = get_reader(spec["reader"])
    if split not in reader.splits:
        raise ValueError(f"reader {reader.name!r} has no split {split!r} (splits: {', '.join(reader.splits)})")
    data = reader.load(spec, Path(root), split)
    return subsample_per_class(data, spec.get("max_per_class"), spec.get("seed", DEFAULT_SEED))
