"""Synthetic image folders that `prepare` writes: the atomic write shared by `shapes` and `scenes`.

A generator reader states its recipe (everything that determines the files) and how to write the
files into a folder; this module makes the write safe. Generation goes to the sibling
`.<name>.generating`, the marker (the recipe and `complete: true`) is written last, then the folder
is renamed into place (a stale root is first moved to `.<name>.replaced` and removed afterwards).
A killed generation leaves no root that looks complete; the next `prepare` clears leftovers and
starts again. A root whose marker holds the same recipe is left untouched.
"""

from __future__ import annotations

import json
import shutil
from abc import abstractmethod
from pathlib import Path
from typing import Any

from vlgen.data.imagefolder import ImageFolderReader
from vlgen.data.registry import SplitData

MARKER = "generated.json"


def marker_text(rec: dict[str, Any], n_images: int) -> str:
    return json.dumps({"complete": True, "n_images": n_images, "recipe": rec}, sort_keys=True, indent=2) + "\n"


def is_complete(root: Path, rec: dict[str, Any]) -> bool:
    """True when root holds a finished generation of exactly this recipe."""
    try:
        marker = json.loads((root / MARKER).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return False
    return marker.get("complete") is True and marker.get("recipe") == json.loads(json.dumps(rec))


class GeneratedReader(ImageFolderReader):
    """An imagefolder (`root/{train,test}/<class>/*.png`) that `prepare` generates from a recipe."""

    marker = MARKER

    @abstractmethod
    def recipe(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Everything that determines the files, defaults filled in; errors name the bad field."""

    @abstractmethod
    def write(self, folder: Path, rec: dict[str, Any]) -> int:
        """Write every file of the recipe under folder; returns the number of images."""

    def prepare(self, spec: dict[str, Any], root: Path) -> None:
        rec = self.recipe(spec)
        if is_complete(root, rec):
            return
        staging = root.parent / f".{root.name}.generating"
        replaced = root.parent / f".{root.name}.replaced"
        for leftover in (staging, replaced):
            shutil.rmtree(leftover, ignore_errors=True)
        staging.mkdir(parents=True)
        n_images = self.write(staging, rec)
        (staging / MARKER).write_text(marker_text(rec, n_images))
        if root.exists():
            root.rename(replaced)
        staging.rename(root)
        shutil.rmtree(replaced, ignore_errors=True)

    def status(self, spec: dict[str, Any], root: Path) -> str:
        return "present" if is_complete(root, self.recipe(spec)) else "missing"

    def require_complete(self, spec: dict[str, Any], root: Path) -> dict[str, Any]:
        """The recipe, once root is known to hold its finished generation (else a clear error)."""
        rec = self.recipe(spec)
        if not is_complete(root, rec):
            raise FileNotFoundError(f"{self.name}: {root} holds no complete generation of this spec; run prepare first")
        return rec

    def load(self, spec: dict[str, Any], root: Path, split: str) -> SplitData:
        self.require_complete(spec, root)
        return super().load(spec, root, split)
