"""Preprocessing in `library` mode: the library's own pretrained config, resolved at extraction time.

A catalog entry may say `preprocess: {library: "timm:resnetv2_50x1_bit.goog_in21k"}` instead of
sizes and statistics. The key holds that string, the resize backend and the library's installed
version (a new release may change the config); the values come from the installed library when the
model is loaded, and the extractor records them in the store entry.
Resolving at load time keeps timm/open_clip/torchvision out of DAG construction. Only configs that
our Resize(shorter side) -> CenterCrop -> Normalize pipeline reproduces exactly are accepted.
"""

from __future__ import annotations

import importlib.metadata
import math
from collections.abc import Callable
from typing import Any

LIBRARY_FIELD = "library"
VERSION_FIELD = "library_version"
# The distribution each library's version is read from (its metadata: nothing is imported).
PACKAGES = {"timm": "timm", "open_clip": "open_clip_torch", "torchvision": "torchvision"}


def _timm(tag: str) -> dict[str, Any]:
    """timm's eval transform: Resize(floor(crop / crop_pct), shorter side) -> CenterCrop(crop)."""
    import timm
    from timm.data import resolve_data_config

    cfg = timm.models.get_pretrained_cfg(tag)
    if cfg is None:
        raise ValueError(f"timm has no pretrained config {tag!r} (expected 'architecture.tag')")
    data = resolve_data_config({}, pretrained_cfg=cfg.to_dict())
    height, width = data["input_size"][1:]
    if height != width or data.get("crop_mode", "center") != "center":
        raise ValueError(f"timm config {tag!r}: input {height}x{width}, crop_mode {data.get('crop_mode')!r}; "
                         "only square centre crops are supported")
    return {"size": math.floor(height / data["crop_pct"]), "crop": height, "interpolation": data["interpolation"],
            "mean": list(data["mean"]), "std": list(data["std"])}


def _open_clip(tag: str) -> dict[str, Any]:
    """open_clip's eval transform for `model/pretrained`: Resize(size, shortest) -> CenterCrop(size)."""
    import open_clip
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    model, _, pretrained = tag.partition("/")
    size = open_clip.get_model_config(model)["vision_cfg"]["image_size"]
    cfg = merge_preprocess_dict(PreprocessCfg(size=size), open_clip.get_pretrained_cfg(model, pretrained))
    if cfg["resize_mode"] != "shortest" or not isinstance(cfg["size"], int):
        raise ValueError(f"open_clip config {tag!r}: resize_mode {cfg['resize_mode']!r}; only 'shortest' is supported")
    return {"size": cfg["size"], "crop": cfg["size"], "interpolation": cfg["interpolation"],
            "mean": list(cfg["mean"]), "std": list(cfg["std"])}


def _torchvision(tag: str) -> dict[str, Any]:
    """A torchvision weights enum's `transforms()` (ImageClassification: resize, crop, mean, std)."""
    import torchvision

    transform = torchvision.models.get_weight(tag).transforms()
    return {"size": transform.resize_size[0], "crop": transform.crop_size[0],
            "interpolation": transform.interpolation.value, "mean": list(transform.mean), "std": list(transform.std)}


RESOLVERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "timm": _timm, "open_clip": _open_clip, "torchvision": _torchvision}


def library_version(entry: str) -> str | None:
    """Installed version of the library an entry such as `timm:<config>` names; None when not installed."""
    try:
        return importlib.metadata.version(PACKAGES[entry.partition(":")[0]])
    except importlib.metadata.PackageNotFoundError:
        return None


def library_problems(preprocess: Any) -> list[str]:
    """Config-time check of a library entry (no library import)."""
    if not isinstance(preprocess, dict) or LIBRARY_FIELD not in preprocess:
        return []
    library, _, tag = str(preprocess[LIBRARY_FIELD]).partition(":")
    if library not in RESOLVERS or not tag:
        return [f"field 'preprocess.library' must be '<library>:<config>' with library one of "
                f"{', '.join(RESOLVERS)}, got {preprocess[LIBRARY_FIELD]!r}"]
    extra = sorted(set(preprocess) - {LIBRARY_FIELD, "resize_backend"})
    if extra:
        return [f"field 'preprocess': a library entry takes only 'library' (and 'resize_backend'), got {extra}"]
    return []


def resolve_preprocess(preprocess: dict[str, Any]) -> dict[str, Any]:
    """Explicit preprocessing (size, crop, interpolation, mean, std, resize_backend) for any entry.

    Explicit entries come back unchanged; a library entry keeps its `library` string and version next
    to the resolved values, so the store records where they came from. A key made with another version
    of the library than the installed one is refused: its values would not be the ones it names.
    """
    if LIBRARY_FIELD not in preprocess:
        return preprocess
    entry = preprocess[LIBRARY_FIELD]
    installed = library_version(entry)
    if VERSION_FIELD in preprocess and preprocess[VERSION_FIELD] != installed:
        raise ValueError(f"preprocess {entry!r}: the key was made with {PACKAGES[entry.partition(':')[0]]} "
                         f"{preprocess[VERSION_FIELD]}, but {installed} is installed; rebuild the DAG where the "
                         "extraction runs (or install that version)")
    library, _, tag = entry.partition(":")
    return {**RESOLVERS[library](tag), "resize_backend": preprocess.get("resize_backend", "pil"),
            LIBRARY_FIELD: entry, VERSION_FIELD: installed}
