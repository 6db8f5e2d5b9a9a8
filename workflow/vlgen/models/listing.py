"""Rows for `vlgen models`: every catalog entry, its feature width, preprocessing, weights status and
whether its key names the weights by content (`locked`) or only by where they come from (`UNLOCKED`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlgen.models.registry import get_source

if TYPE_CHECKING:
    from vlgen.config import RunConfig

UNKNOWN_DIM = "?"


def _no_weights(model: str) -> Path | None:
    return None


def preprocess_summary(preprocess: dict[str, Any] | None) -> str:
    """Resize/CenterCrop sizes and interpolation, e.g. `256/256 bicubic`; `-` for text models."""
    if not preprocess:
        return "-"
    if "library" in preprocess:  # resolved when the model is loaded (vlgen.models.library_preprocess)
        return f"library {preprocess['library']}"
    summary = f"{preprocess['size']}/{preprocess['crop']} {preprocess['interpolation']}"
    return summary if preprocess.get("resize_backend", "pil") == "pil" else f"{summary} ({preprocess['resize_backend']})"


def _dim(spec: dict[str, Any]) -> int | str:
    # A listing must not fail because one entry cannot be built here (e.g. a hub model not cached).
    try:
        return get_source(spec["source"]).feature_dim(spec)
    except Exception:  # noqa: BLE001
        return UNKNOWN_DIM


def weights_status(spec: dict[str, Any], weights_file: Path | None) -> str:
    """n/a, random-init, local (shipped/found without download), present or missing (pretrained)."""
    kind = get_source(spec["source"]).weights_kind(spec)
    if kind != "pretrained":
        return kind
    return "present" if weights_file is not None and weights_file.exists() else "missing"


def pin_state(identity: dict[str, Any] | None) -> str:
    """`locked` (the key holds every file's full sha256), `UNLOCKED` (a source: fill config/weights.lock
    with `vlgen weights pin`), `-` (no pin)."""
    from vlgen.weights import is_locked

    if identity is None:
        return "-"
    return "locked" if is_locked(identity) else "UNLOCKED"


def describe_models(config: RunConfig,
                    weights_for: Callable[[str], Path | None] = _no_weights,
                    weights_state: Callable[[str], str | None] = lambda model: None) -> list[dict[str, Any]]:
    """One row per catalog entry, sorted by name; `selected` marks the run's models.

    `weights_for(model)` is where the weights stage keeps a model's weights (None: nowhere yet);
    `weights_state(model)`, when not None, is the status of a pinned model's files (missing /
    present / verified, see vlgen.weights) and replaces the present/missing guess.
    """
    selected = set(config.models)
    rows = []
    for name in sorted(config.raw["model_catalog"]):
        # The key payload, with the pin itself rather than its identity: a pinned model's width is read
        # from where its files are.
        pin = config.model_spec(name).get("weights")
        spec = {**config.model_payload(name), **({"weights": pin} if pin else {})}
        rows.append({
            "name": name,
            "selected": name in selected,
            "family": config.model_spec(name)["family"],
            "source": spec["source"],
            "dim": _dim(spec),
            "preprocess": preprocess_summary(spec.get("preprocess")),
            "weights": weights_state(name) or weights_status(spec, weights_for(name)),
            "pin": pin_state(config.weights_identity(name)),
        })
    return rows
