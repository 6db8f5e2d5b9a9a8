"""`tf_hub`: a TensorFlow SavedModel from TF-Hub (the paper's TSM), run as a one-frame video.

    source: tf_hub
    weights: {url: ..., file: tsm-resnet50.tar.gz, unpack: tar.gz}   # the weights stage unpacks it
    signature: video          # the SavedModel signature that is called
    output: before_head       # the key of its outputs that is the feature, [B, D]
    frames: 1                 # the image repeated `frames` times along the time axis
    preprocess: tsm_paper     # resize/crop as usual; mean 0, std 1: the model gets pixels in [0, 1]

The extractor hands every image model a preprocessed torch batch [B, 3, H, W]; this source turns it
into the video layout TF-Hub video models take, [B, frames, H, W, 3] channels-last float32, calls the
signature and returns the output as torch. With `mean: 0, std: 1` that batch is the image in [0, 1]
unnormalised, as DeepMind's MMV models expect and as the authors fed TSM.

This is the only module that imports TensorFlow (inside functions): TensorFlow is the optional `[tf]`
extra, installed in its own environment (`environment = "tf"`: the workflow runs these models'
extraction and `paper` transfer probe with `extraction.tf_python`), never next to the main dependencies.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from vlgen.models.registry import ImageFeatureModel, Source, WeightsKind, register_source

if TYPE_CHECKING:
    import torch

SAVED_MODEL_FILE = "saved_model.pb"


class TensorFlowMissing(ImportError):
    """TensorFlow cannot be imported by this python: the message says how to provide it."""


def import_tensorflow() -> Any:
    """The tensorflow module, or an error naming the `[tf]` extra and `extraction.tf_python`.

    torchvision is imported first: it loads triton (through torch's compiler), and TensorFlow and triton
    each carry their own LLVM; importing triton AFTER TensorFlow kills the process with a segmentation
    fault (tensorflow-cpu 2.21, torch 2.14.1), and the extractor imports torchvision after the model.
    """
    import torchvision  # noqa: F401  (before tensorflow, see above)

    try:
        import tensorflow as tf
    except ImportError as exc:
        raise TensorFlowMissing(
            f"model source 'tf_hub' needs TensorFlow, which {sys.executable} cannot import ({exc}). "
            "Install the optional `[tf]` extra in an environment of its own (README, \"TSM\": python3 -m venv "
            ".venv-tf, then .venv-tf/bin/pip install -c constraints-tf.txt --no-deps -e . and "
            "-c constraints-tf.txt -r envs/tf-requirements.txt) and set the config value `extraction.tf_python` to "
            "its python, e.g. .venv-tf/bin/python (under `--sdm conda`, envs/tf.yaml is used)"
        ) from exc
    return tf


def saved_model_dir(weights: Path | None) -> Path:
    """The unpacked SavedModel folder the weights stage made; a clear error when it is not there."""
    if weights is None or not (Path(weights) / SAVED_MODEL_FILE).is_file():
        raise FileNotFoundError(
            f"tf_hub model: no SavedModel at {str(weights) if weights else None!r} (no {SAVED_MODEL_FILE}); "
            "nothing is downloaded here: run the workflow's download_weights rule or `vlgen weights fetch`, "
            "which unpacks the pinned archive")
    return Path(weights)


def single_input_name(signature: Any, name: str) -> str:
    """The one keyword a signature takes: loaded signatures are called by keyword."""
    _, inputs = signature.structured_input_signature
    if len(inputs) != 1:
        raise ValueError(f"tf_hub signature {name!r} takes inputs {sorted(inputs)}; one video input is needed")
    return next(iter(inputs))


class TFVideoModel(ImageFeatureModel):
    """A SavedModel signature fed each image as a video of `frames` identical frames."""

    def __init__(self, saved_model: Any, signature: str, output: str, frames: int, preprocess: dict[str, Any]):
        functions = saved_model.signatures
        if signature not in functions:
            raise KeyError(f"tf_hub SavedModel has no signature {signature!r} (it has: {', '.join(sorted(functions))})")
        self.saved_model = saved_model  # keeps the signature's variables alive
        self.function = functions[signature]
        self.input_name = single_input_name(self.function, signature)
        self.output = output
        self.frames = frames
        self.preprocess = preprocess
        crop = preprocess["crop"]
        self.dim = int(self._features(np.zeros((1, frames, crop, crop, 3), np.float32)).shape[1])

    def video_of(self, images: torch.Tensor) -> np.ndarray:
        """[B, 3, H, W] torch -> [B, frames, H, W, 3] float32 numpy (channels last, a time axis)."""
        import torch

        pixels = images.detach().to("cpu", torch.float32).numpy().transpose(0, 2, 3, 1)
        return np.ascontiguousarray(np.repeat(pixels[:, None], self.frames, axis=1))

    def _features(self, video: np.ndarray) -> np.ndarray:
        tf = import_tensorflow()
        outputs = self.function(**{self.input_name: tf.constant(video, dtype=tf.float32)})
        if self.output not in outputs:
            raise KeyError(f"tf_hub signature has no output {self.output!r} (it has: {', '.join(sorted(outputs))})")
        features = outputs[self.output].numpy()
        if features.ndim != 2:
            raise ValueError(f"tf_hub output {self.output!r} must be [batch, dim], got shape {list(features.shape)}")
        return features

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self._features(self.video_of(images))).to(torch.float32)


@register_source
class TFHubSource(Source):
    name: ClassVar = "tf_hub"
    modality: ClassVar = "image"
    environment: ClassVar = "tf"
    required: ClassVar = ("weights", "preprocess")
    optional: ClassVar = ("signature", "output", "frames", "precision")
    defaults: ClassVar = {"signature": "video", "output": "before_head", "frames": 1}

    def check(self, spec: dict[str, Any]) -> list[str]:
        problems = super().check(spec)
        for field in ("signature", "output"):
            if not isinstance(spec.get(field, self.defaults[field]), str):
                problems.append(f"field {field!r} must be a string, got {spec[field]!r}")
        frames = spec.get("frames", self.defaults["frames"])
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            problems.append(f"field 'frames' must be a positive integer, got {frames!r}")
        if spec.get("precision", "fp32") != "fp32":
            problems.append(f"field 'precision': tf_hub models run in fp32, got {spec['precision']!r}")
        preprocess = spec.get("preprocess")
        if isinstance(preprocess, dict) and "library" in preprocess:
            problems.append("field 'preprocess': tf_hub models have no library preprocessing; give size, crop, "
                            "interpolation, mean and std (mean 0, std 1 for pixels in [0, 1])")
        return problems

    def weights_kind(self, spec: dict[str, Any]) -> WeightsKind:
        return "pretrained"

    def load(self, spec: dict[str, Any], weights: Path | None, device: str) -> TFVideoModel:
        """`device` is TensorFlow's choice (tensorflow-cpu: the CPU); threads follow torch's setting."""
        tf = import_tensorflow()
        folder = saved_model_dir(weights)
        _match_torch_threads(tf)
        return TFVideoModel(tf.saved_model.load(str(folder)), spec["signature"], spec["output"], spec["frames"],
                            spec["preprocess"])

    def feature_dim(self, spec: dict[str, Any]) -> int:
        raise NotImplementedError("tf_hub: the feature width is known only from the SavedModel itself "
                                  "(load the model)")


def _match_torch_threads(tf: Any) -> None:
    """Use the job's thread count (`vlgen extract --threads` sets torch's); possible only before TF starts."""
    import torch

    threads = torch.get_num_threads()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already ran in this process (its settings are fixed by then)
        pass
