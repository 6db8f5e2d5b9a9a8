"""A run config over one image folder, for tests that extract a few models without the workflow."""

from pathlib import Path

import yaml

from vlgen.config import RunConfig, load_config

ROOT = Path(__file__).resolve().parents[2]


def imagefolder_run(tmp_path: Path, models: dict, folder: Path) -> RunConfig:
    """Run `t`: the given catalog entries on the imagefolder dataset `tiny` at `folder`."""
    override = tmp_path / "run.yaml"
    override.write_text(yaml.safe_dump({
        "run": "t", "models": list(models), "datasets": ["tiny"], "model_catalog": models,
        "dataset_catalog": {"tiny": {"reader": "imagefolder", "root": str(folder)}}}))
    return load_config([override], ROOT)
