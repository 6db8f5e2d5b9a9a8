"""Read a checkpoint file without running code from it.

A `.pth`/`.pt`/`.ckpt` file is a pickle, and unpickling can call any function the file names
(`os.system` included). So pickles go through `torch.load(weights_only=True)`, which only rebuilds
tensors, containers and the globals on an explicit allowlist; safetensors files hold tensors only.
The format is told from the file's first bytes, not its name (`.pth.tar`, `.ckpt`, `.bin` are all
pickles). torch and safetensors are imported inside the functions.
"""

from __future__ import annotations

import importlib
import pickle
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format
PICKLE_PROTOCOL_2 = b"\x80\x02"  # torch.save's legacy format starts with a pickled magic number
HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<?xml")


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The pickle needs more than the allowlist permits (a global, or building a type); the message names
    it. The file is intact: it is kept, unlike a NotACheckpointError."""


class NotACheckpointError(ValueError):
    """The file is no checkpoint format we read (an HTML page, a truncated or unknown file)."""


def checkpoint_kind(path: str | Path) -> str:
    """'safetensors', 'torch-zip' or 'torch-legacy', from the first bytes; NotACheckpointError otherwise."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(64)
    size = path.stat().st_size
    if head.lstrip().lower().startswith(HTML_STARTS):
        raise NotACheckpointError(f"{path} is an HTML page, not a checkpoint (an error or login page saved as the file?)")
    if head.startswith(ZIP_MAGIC):
        return "torch-zip"
    if head.startswith(PICKLE_PROTOCOL_2):
        return "torch-legacy"
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 8 + header_len <= size:
            return "safetensors"
    raise NotACheckpointError(f"{path} ({size} bytes) is not a safetensors or torch checkpoint (first bytes {head[:16]!r})")


# Modules a library has moved: pickles written before the move name the old path (numpy 1.x wrote
# `numpy.core.multiarray.scalar`; numpy 2 serves it as `numpy._core.multiarray.scalar`).
RENAMED_MODULES: dict[str, tuple[str, ...]] = {"numpy._core": ("numpy.core",)}
# Unpickler messages that refuse a file on policy (it would need more than plain data), as opposed to
# a damaged file: the file is kept and the message passed on.
REFUSALS = ("was not an allowed global", "is blocked", "Can only ", "Only persistent_load of storage",
            "must be imported to load")


def _spellings(name: str) -> tuple[str, list[str]]:
    """The current 'module.qualname' of a global and every name a pickle may use for it."""
    for new, olds in RENAMED_MODULES.items():
        for prefix in (new, *olds):
            if name.startswith(prefix + "."):
                rest = name[len(prefix):]
                return new + rest, [new + rest, *(old + rest for old in olds)]
    return name, [name]


def resolve_globals(names: Iterable[str]) -> list[tuple[Any, str]]:
    """(object, name) pairs, torch's allowlist form, for 'module.qualname' strings: each global under its
    current name and the old names of RENAMED_MODULES, so files written before a move load too."""
    out = []
    for name in names:
        current, spellings = _spellings(name)
        module, _, attr = current.rpartition(".")
        obj = getattr(importlib.import_module(module), attr)
        out += [(obj, spelling) for spelling in spellings]
    return out


def _unsafe_globals(path: Path, error: Exception) -> list[str]:
    import torch

    try:  # exact for zip checkpoints
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 (legacy format: fall back to the error message)
        names = []
    return names or re.findall(r"GLOBAL ([\w.]+)", str(error))[:1]


def _refusal(error: Exception) -> str | None:
    """The weights-only unpickler's own sentence when `error` is a policy refusal, else None."""
    return next((line.strip() for line in str(error).splitlines()
                 if any(words in line for words in REFUSALS)), None)


def read_checkpoint(path: str | Path, allowed_globals: Iterable[str] = ()) -> Any:
    """The object stored in `path`, on the CPU; UnsafeCheckpointError names what was refused.

    `allowed_globals` ('module.qualname', current spelling) extends torch's weights-only allowlist for
    this call only.
    """
    import torch

    path = Path(path)
    kind = checkpoint_kind(path)
    if kind == "safetensors":
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    allowed = resolve_globals(allowed_globals)
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refusal = _refusal(exc)
        if refusal is None:
            raise NotACheckpointError(f"{path}: not a readable {kind} checkpoint ({str(exc).splitlines()[0]})") from exc
        allowed_names = {name for _, name in allowed}
        names = [n for n in _unsafe_globals(path, exc) if n not in allowed_names] if "GLOBAL" in refusal else []
        why = (f"the pickle needs the global(s) {', '.join(names)}, which are not on the allowlist" if names
               else f"the weights-only unpickler says: {refusal}")
        raise UnsafeCheckpointError(
            f"{path}: refused to load: {why} (unpickling more than plain data could run code). If the file is "
            "trusted and what it needs is plain data, add it to the checkpoint format's allowed globals") from None
    except (RuntimeError, EOFError) as exc:  # a truncated or damaged archive
        raise NotACheckpointError(f"{path}: damaged {kind} checkpoint: {str(exc).splitlines()[0]}") from exc
