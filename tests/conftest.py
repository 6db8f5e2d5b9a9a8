"""Shared test setup. Several people edit this file: add, do not rewrite."""

import os

import pytest

# DESIGN.md: without this a Hugging Face hub lookup retries for ~50 s before failing offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory):
    """Every command of README.md, run once, in order, in one temporary copy of the repository.

    Returns (workdir, outcomes). The demo is among the commands (about 3 minutes on 2 cores): a test
    that needs a finished demo run can use this workdir instead of running the demo again.
    """
    import sys
    from pathlib import Path

    from helpers.readme import bash_commands, run_commands
    from helpers.repo import ROOT, copy_workflow

    work = copy_workflow(tmp_path_factory.mktemp("readme"))
    # As after `pip install -e .` in that copy: its own package first, the venv's programs on PATH.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(work / "workflow"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    return work, run_commands(bash_commands((ROOT / "README.md").read_text()), work, env)
