"""Plumbing shared by the torch-based sources: seeded init, weights checks, layer hooks, pooling.

Nothing heavy is imported at module level (config validation imports every source module).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from vlgen.models.library_preprocess import resolve_preprocess
from vlgen.models.registry import ImageFeatureModel, Source, WeightsKind

if TYPE_CHECKING:
    import torch

Features = Callable[["torch.Tensor"], "torch.Tensor"]
POOLINGS = ("avg", "max", "flatten", "cls", "none")
DEFAULT_POOLING = "none"  # of a `layer` without `pooling`: its output must already be [B, D]
DEFAULT_INIT_SEED = 0
# Fields read by every network-backed image source (timm, torchvision, open_clip).
NETWORK_FIELDS = ("pretrained", "init_seed", "layer", "pooling", "preprocess", "precision", "weights")


class LayerNotReached(RuntimeError):
    """The hooked layer was not run by the forward pass."""


class _Captured(Exception):
    """Raised by a forward hook to stop the forward pass once the wanted layer has run."""


# -- weights -----------------------------------------------------------------------------------
def pretrained_tag(spec: dict[str, Any]) -> str | bool | None:
    """The `pretrained` field: false/null means a seeded random initialisation."""
    return spec.get("pretrained") or None


def weights_kind(spec: dict[str, Any]) -> WeightsKind:
    return "random-init" if pretrained_tag(spec) is None else "pretrained"


def canonical_init(spec: dict[str, Any]) -> dict[str, Any]:
    """`pretrained` false, null and absent are one spelling (null: a seeded random init, whose seed is
    written in); with pretrained weights the seed changes nothing, so it leaves the key."""
    out = {**spec, "pretrained": pretrained_tag(spec)}
    if out["pretrained"] is None:
        out["init_seed"] = DEFAULT_INIT_SEED if spec.get("init_seed") is None else spec["init_seed"]
    else:
        out.pop("init_seed", None)
    return out


def canonical_layer(spec: dict[str, Any]) -> dict[str, Any]:
    """`layer` null/absent is the model's own feature (no pooling); a layer's pooling is written in."""
    layer = spec.get("layer")
    return {**spec, "layer": layer, "pooling": None if layer is None else spec.get("pooling") or DEFAULT_POOLING}


def require_local_file(weights: Path | None, what: str, remedy: str) -> Path:
    """The local weights file; a clear error naming the model when the weights stage has not run."""
    if weights is None or not Path(weights).is_file():
        raise FileNotFoundError(f"{what} are not present (got weights={str(weights) if weights else None!r}); "
                                f"nothing is downloaded here: {remedy}")
    return Path(weights)


def require_weights(source: str, spec: dict[str, Any], weights: Path | None) -> Path:
    """The local weights file of a pretrained library model."""
    return require_local_file(
        weights, f"pretrained weights for {source} model {spec.get('name')!r} (pretrained={pretrained_tag(spec)!r})",
        "fetch them with the weights stage, or set pretrained: null for a random init")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator for a random init without disturbing the caller's RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# -- features of a layer -----------------------------------------------------------------------
def _spatial_dims(x: torch.Tensor, pooling: str) -> tuple[int, ...]:
    # 4-D activations are NCHW feature maps; 3-D ones are [B, tokens, D] sequences.
    dims = {4: (2, 3), 3: (1,)}.get(x.ndim)
    if dims is None:
        raise ValueError(f"pooling {pooling!r} needs a 3-D or 4-D activation, got shape {list(x.shape)}")
    return dims


def _only(ndim: int, pooling: str, fn: Features) -> Features:
    def pooled(x: torch.Tensor) -> torch.Tensor:
        if x.ndim != ndim:
            raise ValueError(f"pooling {pooling!r} needs a {ndim}-D activation, got shape {list(x.shape)}; "
                             "choose another pooling")
        return fn(x)
    return pooled


POOLING_FUNCTIONS: dict[str, Features] = {
    "avg": lambda x: x.mean(dim=_spatial_dims(x, "avg")),
    "max": lambda x: x.amax(dim=_spatial_dims(x, "max")),
    "flatten": lambda x: x.flatten(1),
    "cls": _only(3, "cls", lambda x: x[:, 0]),
    "none": _only(2, "none", lambda x: x),
}


def layer_features(module: torch.nn.Module, layer: str, pooling: str) -> Features:
    """Features = pooled output of submodule `layer`; the forward pass stops right after it."""
    target = module.get_submodule(layer)
    pool = POOLING_FUNCTIONS[pooling]

    def features(x: torch.Tensor) -> torch.Tensor:
        captured: list[Any] = []

        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            captured.append(output)
            raise _Captured

        handle = target.register_forward_hook(hook)
        try:
            module(x)
        except _Captured:
            pass
        finally:
            handle.remove()
        if not captured:
            raise LayerNotReached(f"layer {layer!r} is not run by the model's forward pass")
        return pool(captured[0])

    return features


def feature_fn(module: torch.nn.Module, spec: dict[str, Any]) -> Features:
    """The model's own final feature, or a pooled intermediate layer when `layer` is set."""
    layer = spec.get("layer")
    return module if layer is None else layer_features(module, layer, spec.get("pooling") or DEFAULT_POOLING)


def output_width(features: Features, crop: int, device: Any) -> int:
    """Feature width from one forward pass of a zero image (on the meta device: shapes only)."""
    import torch

    with torch.inference_mode():
        out = features(torch.zeros(1, 3, crop, crop, device=device))
    if out.ndim != 2:
        raise ValueError(f"features must be [batch, dim], got shape {list(out.shape)}: set layer/pooling")
    return int(out.shape[1])


def has_conv(module: torch.nn.Module) -> bool:
    import torch

    return any(isinstance(m, torch.nn.Conv2d) for m in module.modules())


# -- the loaded model --------------------------------------------------------------------------
class TorchImageModel(ImageFeatureModel):
    """A torch module in eval mode plus the function that maps a preprocessed batch to features."""

    def __init__(self, module: torch.nn.Module, features: Features, preprocess: dict[str, Any], device: str):
        import torch

        self.module = module.eval().to(device)
        # channels_last is ~2x faster for conv nets on CPU (DESIGN.md); irrelevant for the rest.
        self.memory_format = torch.channels_last if has_conv(self.module) else torch.contiguous_format
        self.module.to(memory_format=self.memory_format)
        self.features = features
        self.preprocess = resolve_preprocess(preprocess)  # a `library` entry gets its values here
        self.device = device
        self.dim = output_width(features, self.preprocess["crop"], device)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        import torch

        return self.features(images.to(self.device, memory_format=self.memory_format)).to(torch.float32)


# -- the shared base of timm / torchvision / open_clip image sources ---------------------------
class NetworkSource(Source):
    """An image network built by a library: random init (seeded) or a local weights file."""

    modality: ClassVar = "image"
    required: ClassVar = ("name",)
    optional: ClassVar = NETWORK_FIELDS

    @abstractmethod
    def architecture(self, spec: dict[str, Any]) -> torch.nn.Module:
        """The feature network with random weights (built on the current default device)."""

    @abstractmethod
    def pretrained(self, spec: dict[str, Any], weights: Path) -> torch.nn.Module:
        """The feature network with the weights of the local file `weights`."""

    def check(self, spec: dict[str, Any]) -> list[str]:
        problems = super().check(spec)
        if spec.get("pooling") not in (None, *POOLINGS):
            problems.append(f"field 'pooling' must be one of {', '.join(POOLINGS)}, got {spec['pooling']!r}")
        if spec.get("pooling") is not None and spec.get("layer") is None:
            problems.append("field 'pooling' applies to a 'layer': set 'layer' or drop 'pooling' "
                            "(the default feature is already pooled)")
        if not isinstance(spec.get("pretrained"), (str, bool, type(None))):
            problems.append(f"field 'pretrained' must be a tag, true, false or null, got {spec['pretrained']!r}")
        return problems

    def weights_kind(self, spec: dict[str, Any]) -> WeightsKind:
        return weights_kind(spec)

    def canonical(self, spec: dict[str, Any]) -> dict[str, Any]:
        return canonical_layer(canonical_init(super().canonical(spec)))

    def load(self, spec: dict[str, Any], weights: Path | None, device: str) -> TorchImageModel:
        if pretrained_tag(spec) is None:
            with seeded(spec.get("init_seed", DEFAULT_INIT_SEED)):
                module = self.architecture(spec)
        else:
            module = self.pretrained(spec, require_weights(self.name, spec, weights))
        return TorchImageModel(module, feature_fn(module, spec), spec["preprocess"], device)

    def feature_dim(self, spec: dict[str, Any]) -> int:
        import torch

        with torch.device("meta"):
            module = self.architecture(spec).eval()
        return output_width(feature_fn(module, spec), resolve_preprocess(spec["preprocess"])["crop"], "meta")


# -- text ----------------------------------------------------------------------------------------
# Protocol: one template for every text model and zero-shot head.
DEFAULT_TEMPLATE = "a photo of a {}."


def template_problems(spec: dict[str, Any]) -> list[str]:
    template = spec.get("template", DEFAULT_TEMPLATE)
    if not isinstance(template, str) or template.count("{}") != 1:
        return [f"field 'template' must contain '{{}}' exactly once (the class name), got {template!r}"]
    return []


def fill_template(template: str, class_name: str) -> tuple[str, int, int]:
    """The sentence and the character span [start, end) of the class name inside it.

    Splitting on '{}' instead of str.format keeps other braces literal and gives the span directly.
    """
    prefix, suffix = template.split("{}")
    return prefix + class_name + suffix, len(prefix), len(prefix) + len(class_name)


def token_rule_problems(spec: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    rule = spec.get("token_rule")
    if rule is not None and rule not in allowed:
        return [f"field 'token_rule' must be one of {', '.join(allowed)} for this source, got {rule!r}"]
    return []
