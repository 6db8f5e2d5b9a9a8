"""Named architectures for the `checkpoint` source: `<library>/<name>`, e.g. `torchvision/resnet50`,
`timm/resnetv2_50x1_bit`, `open_clip/RN50-quickgelu`.

Each library says how to build the network with random weights, which module is its classifier
(the ImageNet head kept for attacks) and what its feature network is (the head removed). Adding a
library is one more entry in LIBRARIES. Libraries are imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


class Library(Protocol):
    def build(self, name: str, num_classes: int | None) -> torch.nn.Module:
        """The architecture with random weights; num_classes None keeps the library's default."""

    def classifier(self, module: torch.nn.Module) -> str | None:
        """Dotted name of the classifier module, None when the architecture has none."""

    def feature_network(self, module: torch.nn.Module) -> torch.nn.Module:
        """The network whose output is the protocol's feature (classifier removed)."""


class TorchvisionLibrary:
    """Feature = the classifier's input (global-average-pooled for ResNets: "fc removed")."""

    def build(self, name: str, num_classes: int | None) -> torch.nn.Module:
        import torchvision

        return torchvision.models.get_model(name, weights=None, **({} if num_classes is None else
                                                                   {"num_classes": num_classes}))

    def classifier(self, module: torch.nn.Module) -> str | None:
        import torch

        linears = [name for name, m in module.named_modules() if isinstance(m, torch.nn.Linear)]
        return linears[-1] if linears else None

    def feature_network(self, module: torch.nn.Module) -> torch.nn.Module:
        from vlgen.models.source_torchvision import drop_classifier

        return drop_classifier(module)


class TimmLibrary:
    """Feature = timm's pre-logits (`reset_classifier(0)`); for BiT the head conv is skipped."""

    def build(self, name: str, num_classes: int | None) -> torch.nn.Module:
        import timm

        return timm.create_model(name, pretrained=False, **({} if num_classes is None else
                                                           {"num_classes": num_classes}))

    def classifier(self, module: torch.nn.Module) -> str | None:
        return module.pretrained_cfg.get("classifier")

    def feature_network(self, module: torch.nn.Module) -> torch.nn.Module:
        module.reset_classifier(0)
        return module


class OpenClipLibrary:
    """The whole CLIP model is built (its checkpoint holds both towers); feature = `visual`
    (encode_image without normalisation). Use the `-quickgelu` names for OpenAI's weights."""

    def build(self, name: str, num_classes: int | None) -> torch.nn.Module:
        import open_clip
        import torch

        return open_clip.create_model(name, pretrained=None, pretrained_text=False,
                                      device=torch.get_default_device())

    def classifier(self, module: torch.nn.Module) -> str | None:
        return None

    def feature_network(self, module: torch.nn.Module) -> torch.nn.Module:
        return module.visual


LIBRARIES: dict[str, Library] = {
    "torchvision": TorchvisionLibrary(), "timm": TimmLibrary(), "open_clip": OpenClipLibrary()}


@dataclass(frozen=True)
class Architecture:
    library: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Architecture:
        library, _, name = text.partition("/")
        if library not in LIBRARIES or not name:
            raise ValueError(f"architecture must be '<library>/<name>' with library one of "
                             f"{', '.join(LIBRARIES)}, got {text!r}")
        return cls(library, name)

    @property
    def lib(self) -> Library:
        return LIBRARIES[self.library]

    def build(self, num_classes: int | None = None) -> torch.nn.Module:
        return self.lib.build(self.name, num_classes)

    def classifier_name(self) -> str | None:
        """The classifier's module name, read from an instance built on the meta device (no memory)."""
        import torch

        with torch.device("meta"):
            return self.lib.classifier(self.build())
