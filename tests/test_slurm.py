"""The workflow on a real single-node SLURM cluster (.ci/slurm/start) through profiles/slurm.

Skips where no cluster answers; `.ci/run` sets VLGEN_REQUIRE_SLURM=1, which turns the skip into a failure.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers.repo import copy_workflow
from helpers.slurm_run import Run, accounting, slurm_unavailable, snakemake

from vlgen.store import FeatureStore

PROFILE = ("--workflow-profile", "profiles/slurm")
TINY = ("--configfile", "config/slurm-tiny.yaml")
CAP_SECONDS = 360  # the cap on the cluster run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> None:
    reason = slurm_unavailable()
    if reason:
        if os.environ.get("VLGEN_REQUIRE_SLURM") == "1":
            pytest.fail(f"VLGEN_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def on_slurm(cluster, tmp_path_factory) -> tuple[Path, Run]:
    work = copy_workflow(tmp_path_factory.mktemp("slurm"))
    run = snakemake(work, *PROFILE, *TINY, cap_seconds=CAP_SECONDS)
    print(f"\nslurm-tiny through SLURM: {run.seconds:.0f} s wall, {len(run.submissions)} sbatch jobs, "
          f"{len(run.remote)} remote and {len(run.local)} local Snakemake jobs")
    assert run.returncode == 0, run.output[-6000:]
    return work, run


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("local"))
    run = snakemake(work, "--cores", "2", *TINY, cap_seconds=CAP_SECONDS)
    assert run.returncode == 0, run.output[-6000:]
    assert not run.submissions
    return work


def test_every_non_local_job_went_through_sbatch_and_its_accounting_record(on_slurm):
    _, run = on_slurm
    assert {"extract_features", "fewshot_evaluate", "cluster_test_split", "transfer_probe", "rsa_rdm"} \
        <= set(run.remote.values())
    assert {"features_table", "fewshot_table", "summarise_run"} <= set(run.local.values())
    records = accounting(run.run_uuid)
    # SLURM ran exactly what Snakemake submitted: nothing more, nothing less, all completed.
    assert sorted(records) == sorted(slurm_id for slurm_id, _ in run.submissions.values())
    assert all(r["State"] == "COMPLETED" and r["ExitCode"] == "0:0" for r in records.values()), records
    for jobid, rule in run.remote.items():
        submission = run.group_of.get(jobid, jobid)
        slurm_id, _ = run.submissions[submission]  # KeyError: a non-local job that never went through sbatch
        record = records[slurm_id]
        assert record["Comment"].startswith("rule_") and rule in record["Comment"], (rule, record)
        gpus = "gres/gpu=1" in record["AllocTRES"]
        assert gpus == (rule == "extract_features"), (rule, record)  # extraction asked for a GPU; nothing else
    # the evaluations went out grouped, not as one SLURM job each
    assert len(run.submissions) < len(run.remote)


def test_results_equal_a_local_run(on_slurm, local):
    work, _ = on_slurm
    slurm_store, local_store = FeatureStore(work / "results" / "store"), FeatureStore(local / "results" / "store")
    keys = slurm_store.keys()
    assert len(keys) == 4 and keys == local_store.keys()
    for key in keys:
        a, b = slurm_store.open(key), local_store.open(key)
        np.testing.assert_allclose(a.load_features(), b.load_features(), rtol=1e-5, atol=1e-5)
        assert np.array_equal(a.labels, b.labels)
    tables = sorted(p.relative_to(work) for p in (work / "results" / "slurm-tiny" / "tables").glob("*.csv"))
    assert len(tables) >= 5
    for table in tables:
        got, want = pd.read_csv(work / table), pd.read_csv(local / table)
        pd.testing.assert_frame_equal(got.round(6), want.round(6), check_exact=False, rtol=0, atol=1e-6)


def test_a_failed_cluster_job_names_its_log_and_a_rerun_resumes(cluster, tmp_path):
    """A corrupt image fails an extraction on the cluster; after the fix only that job reruns, from its last chunk."""
    work = copy_workflow(tmp_path / "repo")
    # Raw pixels at 256 px: 10 rows per store chunk, so the test split (120 images) spans 12 chunks.
    big_pixels = {"source": "pixels", "family": "baseline",
                  "preprocess": {"size": 256, "crop": 256, "interpolation": "bilinear", "mean": [0.5] * 3,
                                 "std": [0.5] * 3}}
    (work / "config" / "broken.yaml").write_text(yaml.safe_dump(
        {"run": "broken", "models": ["pixels-256"], "datasets": ["shapes"], "model_catalog": {"pixels-256": big_pixels}}))
    args = ("features", *PROFILE, "--set-resources", "extract_features:batch_size=4",
            "--configfile", "config/broken.yaml")
    prepared = snakemake(work, "resources/datasets/shapes/generated.json", *PROFILE,
                         "--configfile", "config/broken.yaml")
    assert prepared.returncode == 0 and not prepared.submissions, prepared.output[-4000:]
    last = sorted((work / "resources" / "datasets" / "shapes" / "test").glob("*/*.png"))[-1]
    image = last.read_bytes()
    last.write_bytes(b"not a png")

    failed = snakemake(work, *args, cap_seconds=CAP_SECONDS)
    assert failed.returncode != 0
    extractions = {jobid: failed.submissions[jobid] for jobid in failed.remote}
    assert len(extractions) == 2  # train and test
    reported = failed.output.split("Error in rule extract_features")[-1]
    broken = [(slurm_id, log) for slurm_id, log in extractions.values() if log in reported]
    assert len(broken) == 1 and Path(broken[0][1]).is_file(), failed.output[-5000:]
    assert f"Job '{broken[0][0]}' failed" in failed.output or "Reason" in failed.output, failed.output[-5000:]
    assert accounting(failed.run_uuid)[broken[0][0]]["State"] == "FAILED"
    assert any(last.name in log.read_text() for log in (work / "results" / "logs" / "extract_features").glob("*.log"))

    last.write_bytes(image)
    rerun = snakemake(work, *args, cap_seconds=CAP_SECONDS)
    assert rerun.returncode == 0, rerun.output[-5000:]
    assert list(rerun.remote.values()) == ["extract_features"]  # the finished extraction was not resubmitted
    store = FeatureStore(work / "results" / "store")
    rows = {store.attrs(k)["payload"]["split"]: (store.attrs(k)["resumed_from_row"], store.attrs(k)["n"])
            for k in store.keys()}
    assert rows["train"][0] == 0 and 0 < rows["test"][0] < rows["test"][1], rows


def test_every_rule_that_runs_a_model_asks_slurm_for_a_gpu(tmp_path):
    """Through the plugin's own gres logic, for every rule with a `device` resource, present and future."""
    work = copy_workflow(tmp_path / "repo")
    proc = subprocess.run([sys.executable, str(Path(__file__).parent / "helpers" / "gpu_rules.py"), str(work)],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("GPU_RULES=")][-1]
    rules = json.loads(line[len("GPU_RULES="):])
    assert {"extract_features", "transfer_probe_augmented"} <= set(rules)
    for name, asked in rules.items():
        assert "--gpus=" in asked["sbatch"] or "--gres=gpu" in asked["sbatch"], (name, asked)
        assert "gpu" not in asked["slurm_extra"], (name, asked)  # gpu or gres, never slurm_extra
