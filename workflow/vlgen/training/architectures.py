"""The image networks the controlled experiment trains, registered by name.

A network maps a normalised batch [B, 3, H, W] to a pooled embedding [B, dim] (the feature the store
keeps); recipes put their heads on top. Builders import torch when called, so listing names is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ArchitectureSpec:
    """How to build one network family; `defaults` are written into the training key."""

    build: Callable[[Mapping[str, Any]], torch.nn.Module]
    defaults: Mapping[str, Any]


def _convnet(spec: Mapping[str, Any]) -> torch.nn.Module:
    """Four 3x3 conv-BN-ReLU stages (widths w, 2w, 4w, 8w; the last three stride 2), global average pool."""
    from torch import nn

    width = int(spec["width"])
    layers: list[nn.Module] = []
    channels = 3
    for stage, out in enumerate((width, 2 * width, 4 * width, 8 * width)):
        layers += [nn.Conv2d(channels, out, 3, stride=1 if stage == 0 else 2, padding=1, bias=False),
                   nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    network = nn.Sequential(*layers)
    network.dim = channels
    return network


def _resnet18(spec: Mapping[str, Any]) -> torch.nn.Module:
    """torchvision's ResNet-18, random init, classifier replaced by the identity (512-d pooled feature)."""
    from torch import nn
    from torchvision.models import resnet18

    network = resnet18(weights=None)
    network.fc = nn.Identity()
    network.dim = 512
    return network


ARCHITECTURES: dict[str, ArchitectureSpec] = {
    "convnet": ArchitectureSpec(_convnet, {"width": 32}),
    "resnet18": ArchitectureSpec(_resnet18, {}),
}


def get_architecture(name: str) -> ArchitectureSpec:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r} (registered: {', '.join(sorted(ARCHITECTURES))})") from None


def canonical_architecture(spec: Mapping[str, Any]) -> dict[str, Any]:
    """`{name, ...}` with the architecture's defaults written in; unknown fields are an error."""
    entry = get_architecture(spec["name"])
    extra = sorted(set(spec) - {"name"} - set(entry.defaults))
    if extra:
        raise ValueError(f"architecture {spec['name']!r} does not use {', '.join(extra)} "
                         f"(it reads: {', '.join(sorted(entry.defaults)) or 'nothing'})")
    return {**entry.defaults, **spec}


def build_network(spec: Mapping[str, Any], seed: int) -> torch.nn.Module:
    """The network of `spec` with the random initialisation of `seed` (the caller's RNG is untouched)."""
    import torch

    spec = canonical_architecture(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_architecture(spec["name"]).build(spec)
