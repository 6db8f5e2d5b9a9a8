"""A temporary copy of the workflow (what Snakemake needs to run), for tests that run it for real."""

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "profiles", "envs")


def copy_workflow(work: Path) -> Path:
    """Copy the Snakefile, rules, package, configs, profiles and envs into `work` (created if needed)."""
    work.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_PARTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, work / name)
    return work
