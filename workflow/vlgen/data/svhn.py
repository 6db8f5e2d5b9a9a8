"""SVHN, cropped digits: `root/train_32x32.mat` and `root/test_32x32.mat` (MATLAB v5, scipy reads them).

`X` is uint8 [32, 32, 3, N] and `y` is [N, 1] with labels 1..10, where 10 stands for the digit 0:
PROTOCOL maps 10 -> 0 (as torchvision and the authors' code do). The `extra` split is not used.
The files hold no class names: the catalog entry's `class_names` lists them. Sample ids:
`<split>/<index in the file, 5 digits>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.fetch import DownloadedReader
from vlgen.data.registry import SplitData, register_reader

FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}
ZERO_LABEL = 10  # SVHN's label for the digit 0


@register_reader
class SvhnReader(DownloadedReader):
    """Reader `svhn` (see the module docstring); needs `class_names` in the catalog entry."""

    name = "svhn"

    def needed(self, spec: dict[str, Any], root: Path) -> list[Path]:
        return [root / name for name in FILES.values()]

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        names = spec.get("class_names")
        if not isinstance(names, list) or len(names) != 10:
            raise ValueError("svhn: the .mat files hold no class names; list the ten digits' names, 0 first, "
                             "as `class_names` in the catalog entry")
        return list(names)

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        from scipy.io import loadmat

        self.check_present(spec, root)
        mat = loadmat(root / FILES[split], variable_names=["X", "y"])
        images = np.ascontiguousarray(np.asarray(mat["X"], dtype=np.uint8).transpose(3, 0, 1, 2))
        labels = np.asarray(mat["y"], dtype=np.int64).reshape(-1)
        labels[labels == ZERO_LABEL] = 0
        valid = images.shape[1:] == (32, 32, 3) and len(images) == len(labels)
        if not valid or not set(np.unique(labels).tolist()) <= set(range(10)):
            raise ValueError(f"svhn: {root / FILES[split]} holds X {mat['X'].shape}, y {mat['y'].shape} with labels "
                             f"{np.unique(labels).tolist()}; expected X [32, 32, 3, N], y [N, 1] in 1..10")
        return SplitData(
            images=images,
            labels=labels,
            class_names=self.class_names(spec, root),
            sample_ids=[f"{split}/{i:05d}" for i in range(len(labels))],
        )
