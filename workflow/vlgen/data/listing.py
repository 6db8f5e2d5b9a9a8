"""Rows for `vlgen datasets`: what the catalog defines, what is on disk, what the run selects."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlgen.data import load_split
from vlgen.data.registry import Reader, get_reader

if TYPE_CHECKING:
    from vlgen.config import RunConfig

UNKNOWN = "?"


def _split_sizes(reader: Reader, spec: dict[str, Any], root: Path, present: bool) -> str:
    """'train 898 / test 899' (after max_per_class); '?' for a split that cannot be read."""
    parts = []
    for split in reader.splits:
        size: int | str = UNKNOWN
        if present:
            try:
                size = len(load_split(spec, root, split))
            except (OSError, ValueError):
                pass
        parts.append(f"{split} {size}")
    return " / ".join(parts)


def _n_classes(reader: Reader, spec: dict[str, Any], root: Path) -> int | str:
    try:
        return len(reader.class_names(spec, root))
    except (OSError, ValueError):
        return UNKNOWN


def describe_dataset(name: str, spec: dict[str, Any], root: Path, selected: bool) -> dict[str, Any]:
    """One row: name, reader, selected, status, splits (with sizes), classes, root."""
    reader = get_reader(spec["reader"])
    status = reader.status(spec, root)
    return {
        "name": name,
        "reader": reader.name,
        "selected": selected,
        "status": status,
        "splits": _split_sizes(reader, spec, root, status in ("present", "verified")),
        "classes": _n_classes(reader, spec, root),
        "root": str(root),
    }


def describe_datasets(config: RunConfig, base: Path | str = ".") -> list[dict[str, Any]]:
    """A row per catalog dataset, in catalog order; relative roots are taken from `base`."""
    selected = set(config.datasets)
    return [
        describe_dataset(name, config.dataset_payload(name), Path(base) / config.dataset_root(name), name in selected)
        for name in config.raw["dataset_catalog"]
    ]
