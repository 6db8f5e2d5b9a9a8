"""Checkpoint formats: how the keys of a published checkpoint map onto an architecture's state dict.

A format is data: where the state dict sits in the file (alternatives tried in order), the prefix
every key carries (stripped), checkpoint keys deliberately not loaded (`dropped`), prefix renames
(`key_map`), architecture keys the file does not provide (`absent`: left as built, e.g. a backbone
published without its classifier), and extra pickle globals the file may contain. Any other missing
or unexpected key is an error that lists them and the prefix renames that would fix them: the authors
loaded ICMLM with strict=False, which silently keeps random weights for unmatched keys.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

log = logging.getLogger("vlgen.checkpoints")

SHOWN_KEYS = 12  # keys listed in an error message
SHOWN_RULES = 8  # prefix renames suggested in an error message
# What a numpy float64 scalar (e.g. a saved accuracy) needs; files from numpy 1.x spell the first
# `numpy.core.multiarray.scalar`, which safe_load also accepts.
NUMPY_SCALARS = ("numpy._core.multiarray.scalar", "numpy.dtype", "numpy.dtypes.Float64DType")
# A torchvision ResNet saved as nn.Sequential(*list(resnet.children())[:-2]): children numbered in order.
RESNET_SEQUENTIAL = (("0.", "conv1."), ("1.", "bn1."), ("4.", "layer1."), ("5.", "layer2."), ("6.", "layer3."),
                     ("7.", "layer4."))


class CheckpointKeyError(KeyError):
    """The checkpoint's keys do not match the architecture; str() is the full message."""

    def __str__(self) -> str:
        return str(self.args[0])


def _matches(key: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:SHOWN_KEYS])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > SHOWN_KEYS else shown


def _lookup(checkpoint: Any, path: tuple[str, ...]) -> Any:
    for field in path:
        if not isinstance(checkpoint, Mapping) or field not in checkpoint:
            return None
        checkpoint = checkpoint[field]
    return checkpoint


def prefix_renames(unexpected: Mapping[str, tuple[int, ...]], missing: Mapping[str, tuple[int, ...]]
                   ) -> list[tuple[str, str, int]]:
    """Prefix renames (old, new, keys fixed) that turn unexpected keys into missing ones of the same shape.

    Each unexpected/missing pair with the same shape proposes the rename of what precedes their longest
    common dotted suffix; renames are taken greedily by how many keys they fix, each key counted once.
    """
    by_tail: dict[tuple[str, tuple[int, ...]], list[str]] = {}
    for key, shape in missing.items():
        by_tail.setdefault((key.rpartition(".")[2], shape), []).append(key)
    fixes: dict[tuple[str, str], set[str]] = {}  # a rename maps a key to one target: a set counts the fixes
    for key, shape in unexpected.items():
        parts = key.split(".")
        for target in by_tail.get((parts[-1], shape), ()):
            other = target.split(".")
            common = 0
            while common < min(len(parts), len(other)) and parts[-1 - common] == other[-1 - common]:
                common += 1
            old, new = ".".join(parts[:-common]), ".".join(other[:-common])
            rule = (old + "." if old else "", new + "." if new else "")
            fixes.setdefault(rule, set()).add(key)
    chosen, fixed = [], set()
    for rule, keys in sorted(fixes.items(), key=lambda item: (-len(item[1]), item[0])):
        gained = keys - fixed
        if gained:
            chosen.append((*rule, len(gained)))
            fixed |= gained
    return chosen


@dataclass(frozen=True)
class CheckpointFormat:
    name: str
    description: str
    entries: tuple[tuple[str, ...], ...] = ((),)  # where the state dict may sit, tried in order; () = the top
    strip_prefix: str = ""
    dropped: tuple[str, ...] = ()
    key_map: tuple[tuple[str, str], ...] = ()  # prefix renames applied in order, after strip_prefix
    absent: tuple[str, ...] = ()
    allowed_globals: tuple[str, ...] = ()
    authors_loaded_loosely: bool = False  # the authors used strict=False: report what that load set

    def stored_state(self, checkpoint: Any, source: str) -> Mapping[str, Any]:
        """The state dict inside `checkpoint` with its keys as stored."""
        for path in self.entries:
            state = _lookup(checkpoint, path)
            if isinstance(state, Mapping):
                return state
        wanted = " or ".join(str(list(path)) if path else "the top level" for path in self.entries)
        found = f"[{_listing(sorted(map(repr, checkpoint)))}]" if isinstance(checkpoint, Mapping) \
            else type(checkpoint).__name__
        raise CheckpointKeyError(f"{source}: format {self.name!r} expects the state dict under {wanted}, found {found}")

    def map_keys(self, stored: Mapping[str, Any], source: str) -> dict[str, torch.Tensor]:
        """`stored` in the architecture's key names (dropped keys removed, prefix stripped, renames applied)."""
        kept = {k: v for k, v in stored.items() if not _matches(k, self.dropped)}
        foreign = sorted(k for k in kept if not k.startswith(self.strip_prefix))
        if foreign:
            raise CheckpointKeyError(f"{source}: format {self.name!r}: unexpected keys without the prefix "
                                     f"{self.strip_prefix!r}: {_listing(foreign)}")
        mapped = {}
        for key, value in kept.items():
            key = key.removeprefix(self.strip_prefix)
            for old, new in self.key_map:
                if key.startswith(old):
                    key = new + key.removeprefix(old)
            mapped[key] = value
        return mapped

    def stored_matches(self, module: torch.nn.Module, stored: Collection[str]) -> str:
        """How many of the architecture's keys a strict=False load of the keys as stored would set."""
        wanted = [k for k in module.state_dict() if self.provides(k)]
        hits = len(set(wanted) & set(stored))
        verdict = " (none: such a model keeps its random initialisation)" if hits == 0 else ""
        return (f"a strict=False load of the keys as stored sets {hits} of the architecture's {len(wanted)} "
                f"keys{verdict}")

    def load_into(self, module: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
                  stored: Collection[str] | None = None) -> None:
        """Load `state` into `module`; every key must match except the declared absent ones.

        `stored`: the keys as the file stores them, for the strict=False report of a loosely loaded format.
        """
        loose = self.stored_matches(module, stored) if self.authors_loaded_loosely and stored is not None else None
        if loose:
            log.info("%s: format %r: %s", source, self.name, loose)
        try:
            missing, unexpected = module.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise CheckpointKeyError(f"{source}: format {self.name!r}: {exc}") from None
        missing = [k for k in missing if not _matches(k, self.absent)]
        if missing or unexpected:
            parts = [f"missing keys: {_listing(sorted(missing))}"] if missing else []
            parts += [f"unexpected keys: {_listing(sorted(unexpected))}"] if unexpected else []
            # Rename targets: every architecture key the state lacks (torch does not report a missing
            # BatchNorm num_batches_tracked, but a rename would fill it too).
            targets = {k: tuple(v.shape) for k, v in module.state_dict().items() if k not in state and self.provides(k)}
            renames = prefix_renames({k: tuple(getattr(state[k], "shape", ())) for k in unexpected}, targets)
            if renames:
                rules = ", ".join(f"{old!r} -> {new!r} ({n} keys)" for old, new, n in renames[:SHOWN_RULES])
                parts.append(f"prefix renames that would fix {sum(n for *_, n in renames)} of the unexpected keys "
                             f"(the format's key_map): {rules}")
            parts += [loose] if loose else []
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
    entries=(("state_dict",),), strip_prefix="module."))
register_format(CheckpointFormat(
    "madry", "MadryLab robustness: {'model': ...}; the classifier is under 'module.model.'; the attacker's copy "
    "of it and the input normaliser (ImageNet mean/std, applied by our preprocessing) are dropped",
    entries=(("model",),), strip_prefix="module.model.", dropped=("module.attacker.*", "module.normalizer.*")))
register_format(CheckpointFormat(
    "virtex", "VirTex's torch.hub ResNet-50 visual backbone: a torchvision state dict published without fc; "
    "the file of its hubconf.py since 2021-04-27 is the state dict itself, the v0.9 file (hubconf.py until "
    "2021-03-02) held it under 'model'",
    entries=(("model",), ()), absent=("fc.*",)))
register_format(CheckpointFormat(
    "icmlm", "ICMLM: {'cnn': ResNet-50 state dict}, no ImageNet classifier. Its layout cannot be checked offline: "
    "torchvision names, an nn.DataParallel 'module.' prefix and nn.Sequential numbering (0. conv1, 1. bn1, "
    "4.-7. layer1-4) are all accepted; training args (argparse.Namespace) and numpy scalars may sit beside it",
    entries=(("cnn",),), key_map=(("module.", ""), *RESNET_SEQUENTIAL), absent=("fc.*",),
    allowed_globals=("argparse.Namespace", *NUMPY_SCALARS), authors_loaded_loosely=True))
