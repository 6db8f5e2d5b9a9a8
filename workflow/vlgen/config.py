"""Run configuration: catalogs + a run's selection, validated, and the feature keys it implies.

Model and dataset definitions live in catalogs (`config/models/*.yaml`, `config/datasets.yaml`); a
run config (`config/config.yaml`, `config/demo.yaml`) selects by name. Files merge the way
Snakemake merges `--configfile`s: dicts recursively, lists and scalars replaced. Nothing here
touches the disk beyond reading YAML, so keys are cheap to compute at DAG time.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from vlgen.keys import content_key

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"
# Fields that say where things are or how they are shown, never what the numbers are.
# (`classifier` is the attack head's checkpoint and `transfer_augment` a setting of one probe preset:
# neither changes a feature.)
NON_SEMANTIC_MODEL_FIELDS = frozenset({"family", "description", "classifier", "transfer_augment", "expected_top1"})
NON_SEMANTIC_DATASET_FIELDS = frozenset({"root", "description", "mirrors"})
TEXT_SPLIT = "classes"


class ConfigError(ValueError):
    """A configuration problem, phrased for the person who wrote the YAML."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open() as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Snakemake's --configfile semantics: dicts merge recursively, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_config_files(root: str | Path) -> list[Path]:
    """The files the Snakefile loads before any --configfile: catalogs, then the paper run."""
    root = Path(root)
    return [root / "config" / "datasets.yaml", *sorted((root / "config" / "models").glob("*.yaml")),
            root / "config" / "config.yaml"]


def with_defaults(config: Mapping[str, Any], root: str | Path = ".") -> RunConfig:
    """Merge the default files under `config` (which wins) and validate.

    The Snakefile passes Snakemake's `config` (its configfile plus any --configfile); merging
    the defaults underneath again is idempotent, so CLI and workflow resolve a run identically.
    """
    merged: dict[str, Any] = {}
    for path in default_config_files(root):
        merged = merge(merged, read_yaml(path))
    return RunConfig.from_dict(merge(merged, config))


def load_config(configfiles: Iterable[str | Path] = (), root: str | Path = ".") -> RunConfig:
    """Load the default files plus `configfiles` (later wins) and validate, as Snakemake would."""
    merged: dict[str, Any] = {}
    for path in configfiles:
        merged = merge(merged, read_yaml(path))
    return with_defaults(merged, root)


def _schema() -> dict[str, Any]:
    return read_yaml(SCHEMA_PATH)


def _field_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return f"unknown field(s) {', '.join(map(repr, extra))} (allowed: {allowed})"
    if error.validator == "pattern" or (error.validator == "$ref" and "pattern" in str(error.schema)):
        return f"{error.instance!r} is not a valid name (must match {NAME_PATTERN.pattern})"
    if error.validator == "propertyNames":
        return f"{error.instance!r} contains a name that does not match {NAME_PATTERN.pattern}"
    return error.message


def validate_schema(config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first offending field (deepest error first)."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (-len(e.absolute_path), str(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors, key=jsonschema.exceptions.relevance)
        for error in errors:  # names are the commonest typo: report them plainly
            if error.validator in ("pattern", "propertyNames"):
                best = error
                break
        raise ConfigError(f"config field {_field_path(best)}: {_describe(best)}")


@dataclass(frozen=True)
class FeatureJob:
    """One extraction: a model on one split of one dataset, and the store key of its features."""

    model: str
    dataset: str
    split: str
    key: str
    payload: dict[str, Any]


class RunConfig:
    """A validated run: the selection, the catalogs, and the keys of every feature it needs."""

    def __init__(self, raw: dict[str, Any]):
        self.raw = raw

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RunConfig:
        raw = copy.deepcopy(dict(raw))
        validate_schema(raw)
        config = cls(raw)
        config._check_references()
        return config

    # -- accessors ---------------------------------------------------------------------------
    @property
    def run(self) -> str:
        return self.raw["run"]

    @property
    def store(self) -> str:
        return self.raw["store"]

    @property
    def models(self) -> list[str]:
        return list(self.raw["models"])

    @property
    def datasets(self) -> list[str]:
        return list(self.raw["datasets"])

    def model_spec(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.raw["model_catalog"][name])

    def dataset_spec(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.raw["dataset_catalog"][name])

    def section(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.raw.get(name, {}))

    def dataset_root(self, name: str) -> str:
        return self.raw["dataset_catalog"][name].get("root", f"resources/datasets/{name}")

    def is_text_model(self, name: str) -> bool:
        from vlgen.models.registry import get_source

        return get_source(self.raw["model_catalog"][name]["source"]).modality == "text"

    @property
    def untrained_models(self) -> list[str]:
        """The run's models without trained weights (random initialisations): labelled as such in
        summaries, and never taken as evidence for a claim of the paper."""
        from vlgen.models.registry import get_source

        catalog = self.raw["model_catalog"]
        return [m for m in self.models if get_source(catalog[m]["source"]).weights_kind(catalog[m]) == "random-init"]

    @property
    def image_models(self) -> list[str]:
        return [m for m in self.models if not self.is_text_model(m)]

    @property
    def text_models(self) -> list[str]:
        return [m for m in self.models if self.is_text_model(m)]

    def splits(self, dataset: str) -> tuple[str, ...]:
        from vlgen.data.registry import get_reader

        return get_reader(self.raw["dataset_catalog"][dataset]["reader"]).splits

    def task_datasets(self, task: str, splits: tuple[str, ...] = ("train", "test")) -> list[str]:
        """The datasets a task evaluates: its section's `datasets` if given, else the run's datasets
        that have all of `splits` (so ImageNet `val` stays out of few-shot and in RSA by default)."""
        listed = self.section(task).get("datasets")
        if listed is None:
            return [d for d in self.datasets if set(splits) <= set(self.splits(d))]
        for name in listed:
            if name not in self.datasets or not set(splits) <= set(self.splits(name)):
                raise ConfigError(f"config field {task}.datasets: {name!r} is not one of the run's datasets "
                                  f"with splits {', '.join(splits)}")
        return list(listed)

    # -- keys --------------------------------------------------------------------------------
    def resolved_preprocess(self, model: str) -> dict[str, Any]:
        spec = self.raw["model_catalog"][model]
        preprocess = spec.get("preprocess", {})
        if isinstance(preprocess, str):
            preprocess = self.raw.get("preprocess_presets", {})[preprocess]
        extraction = self.raw.get("extraction", {})
        return {"resize_backend": extraction.get("resize_backend", "pil"), **preprocess}

    def model_payload(self, model: str) -> dict[str, Any]:
        spec = {k: v for k, v in self.model_spec(model).items() if k not in NON_SEMANTIC_MODEL_FIELDS}
        if self.is_text_model(model):
            spec.pop("preprocess", None)
        else:
            spec["preprocess"] = self.resolved_preprocess(model)
            spec.setdefault("precision", self.raw.get("extraction", {}).get("precision", "fp32"))
        return spec

    def dataset_payload(self, dataset: str) -> dict[str, Any]:
        return {k: v for k, v in self.dataset_spec(dataset).items() if k not in NON_SEMANTIC_DATASET_FIELDS}

    def feature_payload(self, model: str, dataset: str, split: str) -> dict[str, Any]:
        return {
            "extractor_version": self.raw.get("extraction", {}).get("version", 1),
            "model": self.model_payload(model),
            "dataset": self.dataset_payload(dataset),
            "split": split,
        }

    def feature_splits(self, model: str, dataset: str) -> tuple[str, ...]:
        """Image models see every split; a text model sees a dataset's class list once."""
        return (TEXT_SPLIT,) if self.is_text_model(model) else self.splits(dataset)

    def feature_jobs(self) -> list[FeatureJob]:
        jobs = []
        for model in self.models:
            for dataset in self.datasets:
                for split in self.feature_splits(model, dataset):
                    payload = self.feature_payload(model, dataset, split)
                    jobs.append(FeatureJob(model, dataset, split, content_key(payload), payload))
        return jobs

    def feature_key(self, model: str, dataset: str, split: str) -> str:
        return content_key(self.feature_payload(model, dataset, split))

    # -- cross-field checks ------------------------------------------------------------------
    def _check_references(self) -> None:
        from vlgen.data.registry import READERS
        from vlgen.models.registry import SOURCES

        raw = self.raw
        for field, catalog in (("models", "model_catalog"), ("datasets", "dataset_catalog")):
            for i, name in enumerate(raw[field]):
                if name not in raw[catalog]:
                    known = ", ".join(sorted(raw[catalog])) or "none"
                    raise ConfigError(f"config field {field}[{i}]: unknown name {name!r}; {catalog} has: {known}")
        presets = raw.get("preprocess_presets", {})
        for name, spec in raw["model_catalog"].items():
            if spec["source"] not in SOURCES:
                raise ConfigError(
                    f"config field model_catalog.{name}.source: unknown source {spec['source']!r} "
                    f"(registered: {', '.join(sorted(SOURCES))})")
            preprocess = spec.get("preprocess")
            if isinstance(preprocess, str) and preprocess not in presets:
                raise ConfigError(
                    f"config field model_catalog.{name}.preprocess: unknown preset {preprocess!r} "
                    f"(preprocess_presets has: {', '.join(sorted(presets)) or 'none'})")
            for problem in SOURCES[spec["source"]].check(spec):
                raise ConfigError(f"config field model_catalog.{name}: {problem}")
        for name, spec in raw["dataset_catalog"].items():
            if spec["reader"] not in READERS:
                raise ConfigError(
                    f"config field dataset_catalog.{name}.reader: unknown reader {spec['reader']!r} "
                    f"(registered: {', '.join(sorted(READERS))})")
