"""CUB-200-2011 birds, read from the text files of the unpacked archive.

`images.txt` (`<image id> <path under images/>`), `image_class_labels.txt` (`<image id> <class id>`,
1-based), `train_test_split.txt` (`<image id> <1 = train, 0 = test>`: 5,994 train, 5,794 test) and
`classes.txt` (`<class id> <NNN.Name_with_underscores>`). Split order is the order of
train_test_split.txt (image ids ascending), as in the authors' code; labels are class id - 1.
The folder is `root/CUB_200_2011/` (what the archive unpacks to) or `root/` itself.

`class_names` (catalog entry): `real` = classes.txt without the number, underscores as spaces
("Black footed Albatross"); `paper` = "0".."199", what the authors' code used (a recorded
deviation; it only matters to text models); or an explicit list. Images are JPEG file paths,
decoded lazily (in the extraction's DataLoader workers). Sample ids are the paths in images.txt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vlgen.data.fetch import DownloadedReader
from vlgen.data.registry import SplitData, register_reader

FOLDER = "CUB_200_2011"
TEXT_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
SPLIT_FLAG = {"train": 1, "test": 0}


def base(root: Path) -> Path:
    return root / FOLDER if (root / FOLDER).is_dir() or not (root / TEXT_FILES[0]).exists() else root


def read_table(path: Path) -> list[tuple[int, str]]:
    """Rows `<integer id> <rest of the line>` of a CUB text file, in file order."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        if not key.isdigit() or not value:
            raise ValueError(f"cub: {path} line {number} is not '<id> <value>': {line!r}")
        rows.append((int(key), value.strip()))
    return rows


def readable(folder_name: str) -> str:
    """'001.Black_footed_Albatross' -> 'Black footed Albatross'."""
    return folder_name.split(".", 1)[-1].replace("_", " ")


@register_reader
class CubReader(DownloadedReader):
    """Reader `cub` (see the module docstring)."""

    name = "cub"

    def needed(self, spec: dict[str, Any], root: Path) -> list[Path]:
        return [base(root) / name for name in (*TEXT_FILES, "images")]

    def class_names(self, spec: dict[str, Any], root: Path) -> list[str]:
        choice = spec.get("class_names", "real")
        if isinstance(choice, list):
            return list(choice)
        self.check_present(spec, root)
        classes = read_table(base(root) / "classes.txt")
        if [key for key, _ in classes] != list(range(1, len(classes) + 1)):
            raise ValueError(f"cub: {base(root) / 'classes.txt'} must number its classes 1..N in order")
        if choice == "paper":
            return [str(i) for i in range(len(classes))]
        if choice == "real":
            return [readable(name) for _, name in classes]
        raise ValueError(f"cub: class_names must be 'real', 'paper' or a list, got {choice!r}")

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        self.check_present(spec, root)
        folder = base(root)
        paths = dict(read_table(folder / "images.txt"))
        classes = dict(read_table(folder / "image_class_labels.txt"))
        flags = read_table(folder / "train_test_split.txt")
        ids = [image_id for image_id, flag in flags if int(flag) == SPLIT_FLAG[split]]
        unknown = [i for i in ids if i not in paths or i not in classes]
        if unknown:
            raise ValueError(f"cub: image ids {unknown[:5]} of train_test_split.txt are missing from images.txt "
                             "or image_class_labels.txt")
        names = self.class_names(spec, root)
        labels = np.array([int(classes[i]) - 1 for i in ids], dtype=np.int64)
        if len(labels) and not 0 <= labels.min() <= labels.max() < len(names):
            raise ValueError(f"cub: class ids {labels.min() + 1}..{labels.max() + 1} but {len(names)} class names")
        return SplitData(
            images=[folder / "images" / paths[i] for i in ids],
            labels=labels,
            class_names=names,
            sample_ids=[paths[i] for i in ids],
        )
