"""Content keys: what determines a number, hashed.

A store entry is named by the sha256 of the canonical JSON of everything that changes its
values (model, preprocessing, dataset, split, extractor version). Names, batch sizes, workers and
devices never enter a payload, so renaming a model or moving to a GPU reruns nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

KEY_LENGTH = 20
KEY_PATTERN = "[0-9a-f]{20}"


def _plain(value: Any, path: str) -> Any:
    """Convert numpy scalars/arrays and tuples to plain JSON values; refuse NaN and infinities."""
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"key payload: non-string key {k!r} at {path or '<root>'}")
            out[k] = _plain(v, f"{path}.{k}" if path else k)
        return out
    if isinstance(value, (str, bool)) or value is None:
        return value
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":
        return _plain(value.tolist(), path)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"key payload: non-finite number {value!r} at {path or '<root>'}")
        # 1.0 and 1 hash alike: a YAML author should not change a key by writing "1.0".
        return int(value) if value.is_integer() else value
    if isinstance(value, Sequence):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"key payload: unsupported type {type(value).__name__} at {path or '<root>'}")


def canonical_json(payload: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, no NaN, numpy values made plain."""
    return json.dumps(_plain(payload, ""), sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_key(payload: Any) -> str:
    """First 20 hex characters of the sha256 of the payload's canonical JSON."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()[:KEY_LENGTH]
