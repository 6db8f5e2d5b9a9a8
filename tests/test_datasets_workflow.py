"""The dataset jobs inside the workflow: a download (prepare_dataset, from a loopback mirror) and the
ImageNet check job, run by Snakemake on a temporary copy of the repository."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import fake_datasets as fake
from helpers.dataset_mirror import mirror
from helpers.repo import copy_workflow

from vlgen.data.fetch import MARKER

ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "helpers" / "run_snakemake.py"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

pytestmark = pytest.mark.slow


def run(work: Path, config: dict, dryrun: bool = False) -> subprocess.CompletedProcess:
    """A dry run plans the default target; a real run makes the `features` target only."""
    (work / "config" / "t.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, str(HELPER), str(work), "--configfile", "config/t.yaml",
           *(["--dryrun"] if dryrun else ["--target", "features"])]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_download_and_imagenet_check_jobs_gate_extraction(tmp_path):
    work = tmp_path / "repo"
    copy_workflow(work)
    fake.write_mnist(tmp_path / "source")
    fake.write_imagenet(tmp_path / "imagenet", "flat", devkit_archive=True)
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"]
    blobs = {n: (tmp_path / "source" / n).read_bytes() for n in names}
    with mirror() as server:
        for name, body in blobs.items():
            server.file(f"/{name}", body)
        config = {
            "run": "t", "models": ["pixels"], "datasets": ["tiny-mnist", "tiny-imagenet"],
            "fewshot": {"shots": [1], "trials": 1},
            "dataset_catalog": {
                "tiny-mnist": {"reader": "idx", "class_names": DIGITS, "mirrors": [f"{server.url}/{{file}}"],
                               "files": {n: {"md5": hashlib.md5(b).hexdigest()} for n, b in blobs.items()}},
                "tiny-imagenet": {"reader": "imagenet", "root": str(tmp_path / "nowhere"),
                                  "expected": {"images": 10, "classes": 4}}}}
        dry = run(work, config, dryrun=True)  # the data is absent: a dry run still plans every job
        assert dry.returncode == 0, dry.stderr[-4000:]
        planned = dry.stdout.split("SCHEDULED=")[-1]
        assert "resources/datasets/tiny-mnist/prepared.json" in planned
        assert "results/datasets/tiny-imagenet.checked" in planned
        assert "results/t/fewshot/pixels/tiny-mnist.csv" in planned and "fewshot/pixels/tiny-imagenet" not in planned

        failed = run(work, config)  # ImageNet missing: the check job stops the run and says what to provide
        assert failed.returncode != 0
        assert "no validation images found in" in failed.stdout + failed.stderr
        assert "ILSVRC2012_devkit_t12.tar.gz" in failed.stdout + failed.stderr
        assert not list((work / "results" / "store" / "features").glob("*.json"))  # no extraction ran

        config["dataset_catalog"]["tiny-imagenet"]["root"] = str(tmp_path / "imagenet")
        done = run(work, config)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    assert (work / "resources" / "datasets" / "tiny-mnist" / MARKER).is_file()
    assert (work / "results" / "datasets" / "tiny-imagenet.checked").is_file()
    assert len(list((work / "results" / "store" / "features").glob("*.json"))) == 3  # mnist train/test, imagenet val
    assert (work / "results" / "t" / "features.csv").is_file()
