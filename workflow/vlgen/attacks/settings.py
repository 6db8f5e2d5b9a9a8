"""Which attacks a run makes, and what each attack job reads of the config (numpy-free, torch-free).

The config's `attacks` section (workflow/schemas/config.schema.yaml documents every field). A job is
one (model, dataset, head, norm, mode); text models are never attacked; the datasets are those of
`attacks.datasets` that the run has. Each job's `job_settings` are its Snakemake params: a change to
them reruns that job only (and the table, Figure 2 and the reports after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlgen.config import ConfigError, RunConfig
from vlgen.models.common import DEFAULT_TEMPLATE

NORMS = ("l2", "linf")
MODES = ("untargeted", "targeted")
HEAD_NAMES = ("native", "zeroshot", "probe")
GEOMETRY_FIELDS = ("size", "crop", "interpolation")
NORMALISATION_FIELDS = ("mean", "std")


def _fields_or_library(preprocess: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """`fields` of an explicit preprocessing; a `library` one stays the tag and version (resolved by the job,
    like extraction, since resolving imports the library), so the params still change with the library."""
    if "library" in preprocess:
        return {k: v for k, v in preprocess.items() if k != "resize_backend"}
    return {k: preprocess[k] for k in fields}


def concrete(part: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A job's geometry or normalisation as values: a library preset is resolved here, at job time."""
    if "library" in part:
        from vlgen.models.library_preprocess import resolve_preprocess

        part = resolve_preprocess(part)
    return {k: part[k] for k in fields}


@dataclass(frozen=True)
class AttackJob:
    model: str
    dataset: str
    head: str
    norm: str
    mode: str

    @property
    def name(self) -> str:
        """The per-image outcome file's stem: {head}_{norm}_{mode}."""
        return f"{self.head}_{self.norm}_{self.mode}"


class AttackPlan:
    """The run's attack jobs and their settings."""

    def __init__(self, run: RunConfig):
        self.run = run
        self.section = run.section("attacks")
        for i, name in enumerate(self.section.get("datasets", [])):
            if name not in run.raw["dataset_catalog"]:
                raise ConfigError(f"config field attacks.datasets[{i}]: unknown dataset {name!r}")
        for model, heads in {**self.section.get("heads", {}), "default": self.default_heads}.items():
            unknown = [h for h in heads if h not in HEAD_NAMES]
            if unknown:
                raise ConfigError(f"config field attacks.heads.{model}: unknown heads {unknown} "
                                  f"(registered: {', '.join(HEAD_NAMES)})")

    @property
    def default_heads(self) -> list[str]:
        return list(self.section.get("default_heads", ["native"]))

    @property
    def datasets(self) -> list[str]:
        """`attacks.datasets` the run has (a run without ImageNet attacks nothing by default)."""
        return [d for d in self.section.get("datasets", []) if d in self.run.datasets]

    def heads(self, model: str) -> list[str]:
        return list(self.section.get("heads", {}).get(model, self.default_heads))

    @property
    def norms(self) -> list[str]:
        return [n for n in NORMS if self.section.get("epsilons", {}).get(n)]

    @property
    def modes(self) -> list[str]:
        return list(self.section.get("modes", ["untargeted"]))

    def split(self, dataset: str) -> str:
        """The attacked split: `test` where the dataset has one (its train split trains the probe), else `val`."""
        splits = self.run.splits(dataset)
        for split in ("test", "val"):
            if split in splits:
                return split
        raise ConfigError(f"config field attacks.datasets: {dataset!r} has no test or val split ({', '.join(splits)})")

    def jobs(self) -> list[AttackJob]:
        return [AttackJob(m, d, h, n, mode) for m in self.run.image_models for d in self.datasets
                for h in self.heads(m) for n in self.norms for mode in self.modes]

    def geometry(self, model: str) -> dict[str, Any]:
        """The attack's resize and crop: the model's `attacks.preprocess` preset, else its extraction's."""
        preset = self.section.get("preprocess", {}).get(model)
        if preset is None:
            return _fields_or_library(self.run.resolved_preprocess(model), GEOMETRY_FIELDS)
        presets = self.section.get("preprocess_presets", {})
        if preset not in presets:
            raise ConfigError(f"config field attacks.preprocess.{model}: unknown preset {preset!r} "
                              f"(attacks.preprocess_presets has: {', '.join(sorted(presets)) or 'none'})")
        return dict(presets[preset])

    def normalisation(self, model: str) -> dict[str, list[float]]:
        """The mean and std inside the classifier: the model's own, or ImageNet's for the models of
        `attacks.imagenet_normalisation` (the authors' defect: their CLIP was attacked with them)."""
        if model in self.section.get("imagenet_normalisation", []):
            return {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
        return _fields_or_library(self.run.resolved_preprocess(model), NORMALISATION_FIELDS)

    def job_settings(self, job: AttackJob) -> dict[str, Any]:
        """Everything that changes this job's numbers (its Snakemake params)."""
        s = self.section
        settings = {
            "epsilons": [float(e) for e in s["epsilons"][job.norm]],
            "steps": s.get("steps", 100), "rel_stepsize": s.get("rel_stepsize", 0.025),
            "random_start": s.get("random_start", True), "seed": s.get("seed", 0),
            "n_images": s.get("n_images", 1000), "selection_seed": s.get("selection_seed", 42),
            "split": self.split(job.dataset), "geometry": self.geometry(job.model),
            "normalisation": self.normalisation(job.model),
            "min_accuracy_over_chance": s.get("min_accuracy_over_chance", 2.0),
            "task_version": s.get("task_version", 1),
        }
        if job.mode == "targeted":
            settings["target_offset"] = s.get("target_offset", 800)
        if job.head == "zeroshot":
            settings["template"] = s.get("zeroshot_template", DEFAULT_TEMPLATE)
        return settings

    def expected_top1(self, model: str) -> float | None:
        """The catalog's `expected_top1` (ImageNet-1k top-1 in %, of the native head), if any."""
        return self.run.model_spec(model).get("expected_top1")

    @property
    def claims_heads(self) -> list[str]:
        """Head preference for the claims: per model, the first of these it was attacked with."""
        return list(self.section.get("claims_head", ["native", "probe"]))
