"""RSA of a run: where RDMs are computed, how each model's is made, and how models group.

`tasks.rdm` makes one RDM and `tasks.rdm_compare` compares two; this module holds what sits around
them: which datasets and split the run's `rsa` section selects, the RDM method of an image or a text
model (and the RDM file it is saved in), and the model-level structure drawn in Figure 3
(average-linkage dendrogram and t-SNE, both on the model distance 1 - r, PROTOCOL.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from vlgen.config import TEXT_SPLIT, ConfigError, RunConfig
from vlgen.tasks.rdm import image_rdm, vector_rdm
from vlgen.tasks.rdm_compare import Rdm

# The paper's t-SNE had 14 points and perplexity 3; with fewer than 4 models a 2-d map shows nothing
# the dendrogram does not.
TSNE_MIN_MODELS = 4


@dataclass(frozen=True)
class RdmMethod:
    """How one model's RDM is computed; also the rule's params, so a change reruns only the RDMs it touches.

    `per_image`: the features are images (L2-normalised, then class statistics) rather than one
    vector per class used as is (text models). `preset` is the Welch std preset ("none" for other
    distances), `std_epsilon` what is added to per-dimension stds (0 unless `per_dim`).
    """

    distance: str
    preset: str
    per_image: bool
    std_epsilon: float = 0.0


def rdm_method(settings: Mapping[str, Any], is_text: bool, rsa_std: str | None = None) -> RdmMethod:
    """Text models have one vector per class (no spread): a plain distance on unnormalised vectors.

    Image features are L2-normalised per image before class means and stds (PROTOCOL.md); the
    Welch preset matters only for the Welch distance, the epsilon only for `per_dim`. `rsa_std` is the
    model's catalog field: `per_dim` turns the `paper` preset into `per_dim` for that model, as the
    authors computed TSM's RDM (std per dimension + 1e-6).
    """
    if is_text:
        return RdmMethod(settings["text_distance"], "none", per_image=False)
    distance = settings["image_distance"]
    if distance != "welch":
        return RdmMethod(distance, "none", per_image=True)
    preset = "per_dim" if settings["preset"] == "paper" and rsa_std == "per_dim" else settings["preset"]
    return RdmMethod(distance, preset, per_image=True,
                     std_epsilon=float(settings["std_epsilon"]) if preset == "per_dim" else 0.0)


def model_rdm(features: np.ndarray, labels: np.ndarray, n_classes: int, method: RdmMethod) -> np.ndarray:
    """The RDM of one model's features under `method` ([C, C], rows in label order)."""
    if method.per_image:
        welch = {"preset": method.preset, "std_epsilon": method.std_epsilon} if method.distance == "welch" else {}
        return image_rdm(features, labels, n_classes, distance=method.distance, **welch)
    if sorted(np.asarray(labels).tolist()) != list(range(n_classes)):
        raise ValueError(f"class vectors must hold one row per class 0..{n_classes - 1}, got labels {labels}")
    return vector_rdm(np.asarray(features)[np.argsort(labels)], method.distance)


def save_rdm(path: str | Path, rdm: np.ndarray, classes: Sequence[str], method: RdmMethod, **provenance: str) -> None:
    """An `.npz` with `rdm`, `classes`, `preset`, `distance` and provenance strings (no pickles)."""
    np.savez(path, rdm=rdm, classes=np.asarray(list(classes), dtype=str), preset=method.preset,
             distance=method.distance, **provenance)


def load_rdm(path: str | Path, model: str) -> Rdm:
    """The RDM saved by `save_rdm`, labelled with `model` for error messages and tables."""
    with np.load(path, allow_pickle=False) as data:
        return Rdm(model, data["rdm"], tuple(str(c) for c in data["classes"]), preset=str(data["preset"]),
                   distance=str(data["distance"]))


def rsa_split(run: RunConfig, dataset: str) -> str | None:
    """The split whose images make a dataset's image RDMs: the first of `rsa.splits` it has, or None.

    A preference list, so one setting serves datasets with a test split and ImageNet's `val`.
    """
    return next((split for split in run.section("rsa")["splits"] if split in run.splits(dataset)), None)


def rdm_split(run: RunConfig, model: str, dataset: str) -> str | None:
    """The store split a model's RDM reads: a text model's class list, an image model's `rsa_split`."""
    return TEXT_SPLIT if run.is_text_model(model) else rsa_split(run, dataset)


def rsa_datasets(run: RunConfig) -> list[str]:
    """The run's datasets RSA covers: `rsa.datasets` if given, else every run dataset with an RSA split.

    Like `RunConfig.task_datasets`: a listed dataset that is not in the run, or that has none of
    `rsa.splits`, is a configuration error, never silently dropped.
    """
    listed = run.section("rsa").get("datasets")
    if listed is None:
        return [d for d in run.datasets if rsa_split(run, d)]
    for name in listed:
        if name not in run.datasets or not rsa_split(run, name):
            raise ConfigError(f"config field rsa.datasets: {name!r} is not one of the run's datasets with a split "
                              f"in rsa.splits ({', '.join(run.section('rsa')['splits'])})")
    return list(listed)


def model_distances(similarity: np.ndarray) -> np.ndarray:
    """1 - r between models, zero diagonal; rounding can push r of near-identical RDMs past 1."""
    distances = np.clip(1.0 - np.asarray(similarity, dtype=np.float64), 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    return (distances + distances.T) / 2


def model_linkage(similarity: np.ndarray) -> np.ndarray:
    """scipy's average-linkage tree of the models on 1 - r (Figure 3a)."""
    return linkage(squareform(model_distances(similarity), checks=False), method="average")


def dendrogram_order(similarity: np.ndarray) -> np.ndarray:
    """Model indices in dendrogram leaf order (orders the heatmap like the tree)."""
    if len(similarity) < 2:
        return np.arange(len(similarity))
    return leaves_list(model_linkage(similarity))


def model_tsne(similarity: np.ndarray, perplexity: float, seed: int,
               learning_rate: float | str = "auto") -> np.ndarray | None:
    """2-d t-SNE of the models on 1 - r (Figure 3b), or None below TSNE_MIN_MODELS models.

    scikit-learn's TSNE with a precomputed metric, random init (a precomputed metric admits no
    PCA init) and the given seed; perplexity is capped at n_models - 1 (TSNE requires it below
    the number of points). The authors' code ran scikit-learn's TSNE when its learning rate
    defaulted to 200 (`auto` since scikit-learn 1.2): the paper preset sets 200.
    """
    n_models = len(similarity)
    if n_models < TSNE_MIN_MODELS:
        return None
    from sklearn.manifold import TSNE  # ~1 s to import: only the figure job needs it

    tsne = TSNE(n_components=2, metric="precomputed", perplexity=min(perplexity, n_models - 1), init="random",
                learning_rate=learning_rate, random_state=seed)
    return tsne.fit_transform(model_distances(similarity))
