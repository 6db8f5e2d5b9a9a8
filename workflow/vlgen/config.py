"""Run configuration: catalogs + a run's selection, validated, and the feature keys it implies.

Model and dataset definitions live in catalogs (`config/models/*.yaml`, `config/datasets.yaml`); a
run config (`config/config.yaml`, `config/demo.yaml`) selects by name. Files merge the way
Snakemake merges `--configfile`s: dicts recursively, lists and scalars replaced. Keys come from
config alone: the YAML files, the committed config/weights.lock, installed packages' versions (for
`library` preprocessing) and a stat-only walk of user-provided data folders; never resources/.
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

from vlgen.data.fingerprint import FINGERPRINT_FIELD
from vlgen.keys import content_key
from vlgen.training.plan import ControlledModel, expand

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"
# Fields that say where things are or how they are shown, never what the numbers are.
# (`classifier` is the attack head's checkpoint and `transfer_augment` a setting of one probe preset:
# neither changes a feature.)
NON_SEMANTIC_MODEL_FIELDS = frozenset({"family", "description", "classifier", "transfer_augment", "expected_top1",
                                       "factors", "rsa_std"})
NON_SEMANTIC_DATASET_FIELDS = frozenset({"root", "description", "mirrors"})
# Dataset fields image features do not depend on: class names only text models encode, and the counts
# the check job requires. They stay in text-model keys.
TEXT_ONLY_DATASET_FIELDS = frozenset({"class_names", "expected"})
# Every field of an explicit preprocessing (vlgen.preprocess reads them all; none has a default but the backend).
PREPROCESS_FIELDS = ("size", "crop", "interpolation", "mean", "std")
TEXT_SPLIT = "classes"
# What figures append to the family of a model without trained weights (RunConfig.drawn_families).
UNTRAINED_SUFFIX = " (untrained)"


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
    return RunConfig.from_dict(merge(merged, config), root)


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

    def __init__(self, raw: dict[str, Any], root: str | Path = "."):
        self.raw = raw
        self.root = Path(root)  # the workflow's directory: config/weights.lock and relative dataset roots
        self._lock: dict[str, str] | None = None
        self._fingerprints: dict[str, str] = {}
        self._controlled: dict[str, ControlledModel] = {}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], root: str | Path = ".") -> RunConfig:
        raw = copy.deepcopy(dict(raw))
        validate_schema(raw)
        config = cls(raw, root)
        config._check_references()
        config._expand_controlled()
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

    def drawn_families(self, models: Iterable[str]) -> dict[str, str]:
        """The family each figure colours and lists a model under: an untrained model's family gains
        " (untrained)", so a random initialisation is never mistaken for a trained model in a legend."""
        untrained = set(self.untrained_models)
        return {m: self.raw["model_catalog"][m]["family"] + (UNTRAINED_SUFFIX if m in untrained else "")
                for m in models}

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
        """Every preprocessing field, defaults written in; a `library` entry: its tag, the library's
        installed version (its config may change between releases) and the backend."""
        from vlgen.models.library_preprocess import LIBRARY_FIELD, VERSION_FIELD, library_version

        preprocess = self.raw["model_catalog"][model].get("preprocess", {})
        if isinstance(preprocess, str):
            preprocess = self.raw.get("preprocess_presets", {})[preprocess]
        resolved = {"resize_backend": self.raw.get("extraction", {}).get("resize_backend", "pil"), **preprocess}
        if LIBRARY_FIELD in resolved:
            return {**resolved, VERSION_FIELD: library_version(resolved[LIBRARY_FIELD])}
        missing = [f for f in PREPROCESS_FIELDS if f not in resolved]
        if missing:
            raise ConfigError(f"config field model_catalog.{model}.preprocess: image models need "
                              f"{', '.join(PREPROCESS_FIELDS)} (or `library`); missing {', '.join(missing)}")
        return resolved

    def weights_lock(self) -> dict[str, str]:
        """The committed config/weights.lock (read once; never resources/)."""
        if self._lock is None:
            from vlgen.weights import LOCK_FILE, read_lock

            self._lock = read_lock(self.root / LOCK_FILE)
        return self._lock

    def weights_identity(self, model: str) -> dict[str, Any] | None:
        """What the model's key holds for its `weights` pin (vlgen.weights.pin_identity); None without one."""
        from vlgen.weights import PinError, pin_identity

        pin = self.raw["model_catalog"][model].get("weights")
        if pin is None:
            return None
        try:
            return pin_identity(pin, self.weights_lock())
        except PinError as exc:
            raise ConfigError(f"config field model_catalog.{model}.weights: {exc}") from None

    def model_payload(self, model: str) -> dict[str, Any]:
        """The model's part of a key: its source's canonical spelling, the pin's identity, and for
        image models the full preprocessing and precision."""
        from vlgen.models.registry import get_source

        spec = {k: v for k, v in self.model_spec(model).items() if k not in NON_SEMANTIC_MODEL_FIELDS}
        spec = get_source(spec["source"]).canonical(spec)
        if "weights" in spec:
            spec["weights"] = self.weights_identity(model)
        if self.is_text_model(model):
            spec.pop("preprocess", None)
        else:
            spec["preprocess"] = self.resolved_preprocess(model)
            if spec.get("precision") is None:
                spec["precision"] = self.raw.get("extraction", {}).get("precision", "fp32")
        return spec

    def dataset_fingerprint(self, dataset: str) -> str:
        """Stat-only fingerprint of a user-provided dataset's folder (computed once per config)."""
        from vlgen.data.fingerprint import tree_fingerprint

        if dataset not in self._fingerprints:
            self._fingerprints[dataset] = tree_fingerprint(self.root / self.dataset_root(dataset))
        return self._fingerprints[dataset]

    def dataset_payload(self, dataset: str, text: bool = True) -> dict[str, Any]:
        """The dataset's part of a key; `text=False` (image models) leaves out TEXT_ONLY_DATASET_FIELDS.

        Data the user provides (readers with `user_provided`) adds the fingerprint of its folder.
        """
        from vlgen.data.registry import get_reader

        dropped = NON_SEMANTIC_DATASET_FIELDS | (frozenset() if text else TEXT_ONLY_DATASET_FIELDS)
        payload = {k: v for k, v in self.dataset_spec(dataset).items() if k not in dropped}
        if get_reader(payload["reader"]).user_provided:
            payload[FINGERPRINT_FIELD] = self.dataset_fingerprint(dataset)
        return payload

    def feature_payload(self, model: str, dataset: str, split: str) -> dict[str, Any]:
        return {
            "extractor_version": self.raw.get("extraction", {}).get("version", 1),
            "model": self.model_payload(model),
            "dataset": self.dataset_payload(dataset, text=self.is_text_model(model)),
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

    # -- the controlled experiment (vlgen.training.plan) --------------------------------------
    @property
    def controlled_models(self) -> list[str]:
        """The run models the `controlled` section adds, `{recipe}-s{seed}`, recipes then seeds."""
        return list(self._controlled)

    def _controlled_model(self, model: str) -> ControlledModel:
        try:
            return self._controlled[model]
        except KeyError:
            raise ConfigError(f"{model!r} is not a model of the `controlled` section") from None

    def training_payload(self, model: str) -> dict[str, Any]:
        return copy.deepcopy(self._controlled_model(model).entry["training"])

    def training_key(self, model: str) -> str:
        return content_key(self.training_payload(model))

    def recipe_of(self, model: str) -> str:
        return self._controlled_model(model).recipe

    def seed_of(self, model: str) -> int:
        return self._controlled_model(model).seed

    @property
    def controlled_text_encoder(self) -> str | None:
        """The frozen text encoder when a recipe of the `controlled` section uses it, else None."""
        from vlgen.training.recipes import RECIPES

        section = self.raw.get("controlled") or {}
        if any(RECIPES[r["kind"]].uses_text for r in section.get("recipes", {}).values()):
            return section["text_encoder"]
        return None

    def _expand_controlled(self) -> None:
        """Add the section's (recipe, seed) models to the catalog and to the run's models."""
        section = self.raw.get("controlled")
        if not section:
            return
        self._check_controlled(section)
        try:
            models = expand(section, lambda: self.dataset_payload(section["train_dataset"]),
                            lambda: self.model_payload(section["text_encoder"]))
        except ValueError as exc:
            raise ConfigError(f"config field {exc}") from None
        catalog = self.raw["model_catalog"]
        for model in models:
            if catalog.get(model.name, model.entry) != model.entry:
                raise ConfigError(f"config field model_catalog.{model.name}: the name is taken by the `controlled` "
                                  "section's model of that recipe and seed; rename the catalog entry")
            catalog[model.name] = model.entry
            if model.name not in self.raw["models"]:
                self.raw["models"].append(model.name)
            self._controlled[model.name] = model

    def _check_controlled(self, section: dict[str, Any]) -> None:
        from vlgen.data.registry import get_reader
        from vlgen.training.recipes import RECIPES

        kinds = [RECIPES.get(recipe["kind"]) for recipe in section["recipes"].values()]
        dataset = section["train_dataset"]
        if dataset not in self.datasets:
            raise ConfigError(f"config field controlled.train_dataset: {dataset!r} is not one of the run's datasets "
                              f"({', '.join(self.datasets)})")
        reader = get_reader(self.raw["dataset_catalog"][dataset]["reader"])
        if any(k and k.uses_captions for k in kinds) and not reader.has_captions:
            raise ConfigError(f"config field controlled.train_dataset: a recipe trains on captions but {dataset!r} "
                              f"(reader {reader.name!r}) has none")
        encoder = section.get("text_encoder")
        if any(k and k.uses_text for k in kinds) and (encoder not in self.raw["model_catalog"]
                                                       or not self.is_text_model(encoder)):
            raise ConfigError(f"config field controlled.text_encoder: {encoder!r} is not a text model of the "
                              "model_catalog (a recipe uses the frozen text encoder)")

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
