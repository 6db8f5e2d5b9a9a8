"""Checkpoint formats: how the keys of a published checkpoint map onto an architecture's state dict.

A format is data: where the state dict sits in the file, the prefix every key carries (stripped),
checkpoint keys deliberately not loaded (`dropped`), architecture keys the file does not provide
(`absent`: left as built, e.g. a backbone published without its classifier), and extra pickle
globals the file may contain. Any other missing or unexpected key is an error that lists them: the
authors loaded ICMLM with strict=False, which silently keeps random weights for unmatched keys.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

SHOWN_KEYS = 12  # keys listed in an error message


class CheckpointKeyError(KeyError):
    """The checkpoint's keys do not match the architecture; str() is the full message."""

    def __str__(self) -> str:
        return str(self.args[0])


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > SHOWN_KEYS else shown


@dataclass(frozen=True)
class CheckpointFormat:
    name: str
    description: str
    entry: tuple[str, ...] = ()
    strip_prefix: str = ""
    dropped: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    allowed_globals: tuple[str, ...] = ()

    def state_dict(self, checkpoint: Any, source: str) -> dict[str, torch.Tensor]:
        """The architecture-named state dict inside `checkpoint` (dropped keys removed)."""
        state = checkpoint
        for depth, field in enumerate(self.entry):
            if not isinstance(state, Mapping) or field not in state:
                found = sorted(map(str, state)) if isinstance(state, Mapping) else type(state).__name__
                raise CheckpointKeyError(f"{source}: format {self.name!r} expects the state dict under "
                                         f"{list(self.entry[:depth + 1])}, found {found}")
            state = state[field]
        if not isinstance(state, Mapping):
            raise CheckpointKeyError(f"{source}: format {self.name!r}: expected a state dict, got {type(state).__name__}")
        kept = {k: v for k, v in state.items() if not _matches(k, self.dropped)}
        foreign = sorted(k for k in kept if not k.startswith(self.strip_prefix))
        if foreign:
            raise CheckpointKeyError(f"{source}: format {self.name!r}: unexpected keys without the prefix "
                                     f"{self.strip_prefix!r}: {_listing(foreign)}")
        return {k.removeprefix(self.strip_prefix): v for k, v in kept.items()}

    def load_into(self, module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
        """Load `state` into `module`; every key must match except the declared absent ones."""
        try:
            missing, unexpected = module.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise CheckpointKeyError(f"{source}: format {self.name!r}: {exc}") from None
        missing = [k for k in missing if not _matches(k, self.absent)]
        if missing or unexpected:
            parts = [f"missing keys: {_listing(sorted(missing))}"] if missing else []
            parts += [f"unexpected keys: {_listing(sorted(unexpected))}"] if unexpected else []
            raise CheckpointKeyError(f"{source}: format {self.name!r} does not fit the architecture; "
                                     + "; ".join(parts))

    def provides(self, key: str) -> bool:
        """Whether the format loads architecture key `key` (not declared absent)."""
        return not _matches(key, self.absent)


FORMATS: dict[str, CheckpointFormat] = {}


def register_format(fmt: CheckpointFormat) -> CheckpointFormat:
    if fmt.name in FORMATS:
        raise ValueError(f"checkpoint format {fmt.name!r} is registered twice")
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> CheckpointFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise KeyError(f"unknown checkpoint format {name!r} (registered: {', '.join(sorted(FORMATS))})") from None


register_format(CheckpointFormat(
    "state_dict", "a plain state dict in the architecture's own key names (torchvision, timm and open_clip "
    "checkpoints, .pth or .safetensors)"))
register_format(CheckpointFormat(
    "geirhos", "texture-vs-shape ResNet-50s: {'state_dict': ...} saved from nn.DataParallel ('module.' prefix)",
    entry=("state_dict",), strip_prefix="module."))
register_format(CheckpointFormat(
    "madry", "MadryLab robustness: {'model': ...}; the classifier is under 'module.model.'; the attacker's copy "
    "of it and the input normaliser (ImageNet mean/std, applied by our preprocessing) are dropped",
    entry=("model",), strip_prefix="module.model.", dropped=("module.attacker.*", "module.normalizer.*")))
register_format(CheckpointFormat(
    "virtex", "VirTex's torch.hub ResNet-50 visual backbone: a torchvision state dict published without fc",
    absent=("fc.*",)))
register_format(CheckpointFormat(
    "icmlm", "ICMLM: {'cnn': torchvision ResNet-50 state dict}, no ImageNet classifier",
    entry=("cnn",), absent=("fc.*",)))
