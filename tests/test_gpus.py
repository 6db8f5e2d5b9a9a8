"""GPU placement on a multi-GPU workstation (vlgen.gpus), with a fake `nvidia-smi` on PATH."""

import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.fake_gpus import fake_nvidia_smi
from helpers.imports import heavy_imports
from helpers.repo import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "helpers" / "run_snakemake.py"
# Claims a GPU, says which, then holds it until `release` exists.
CLAIMER = """
import json, os, sys, time
from pathlib import Path
from vlgen.gpus import claim_gpu
device = claim_gpu(Path(sys.argv[1]), poll_seconds=0.05)
print(json.dumps({"device": device, "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}), flush=True)
while not Path(sys.argv[2]).exists():
    time.sleep(0.05)
"""


def count(env: dict[str, str]) -> int:
    out = subprocess.run([sys.executable, "-c", "from vlgen.gpus import gpu_count; print(gpu_count())"],
                         capture_output=True, text=True, env=env, check=True)
    return int(out.stdout)


def test_gpu_count_reads_nvidia_smi(tmp_path):
    assert count(fake_nvidia_smi(tmp_path / "four", 4)) == 4
    assert count(fake_nvidia_smi(tmp_path / "broken", 4, exit_code=9)) == 0  # a driver that does not answer
    no_smi = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    assert count(no_smi) == 0


def start_claimer(env: dict[str, str], locks: Path, release: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLAIMER, str(locks), str(release)], env=env,
                            stdout=subprocess.PIPE, text=True)


def test_concurrent_claims_get_different_gpus_and_a_fifth_waits_for_a_free_one(tmp_path):
    env = fake_nvidia_smi(tmp_path / "bin", 4)
    locks, release = tmp_path / "locks", tmp_path / "release"
    first = [start_claimer(env, locks, release) for _ in range(4)]
    claims = [json.loads(p.stdout.readline()) for p in first]
    assert sorted(c["device"] for c in claims) == ["0", "1", "2", "3"]
    assert all(c["visible"] == c["device"] for c in claims)
    fifth = start_claimer(env, locks, tmp_path / "release5")
    assert select.select([fifth.stdout], [], [], 1.0)[0] == []  # every GPU held: it waits, says nothing
    freed = next(p for p, c in zip(first, claims) if c["device"] == "2")
    freed.kill()  # a killed job frees its GPU: the lock dies with the process
    freed.wait()
    assert json.loads(fifth.stdout.readline())["device"] == "2"
    release.touch()
    (tmp_path / "release5").touch()
    for p in [*first, fifth]:
        p.wait(timeout=30)


def test_no_claim_under_slurm_and_within_visible_devices(tmp_path):
    env = fake_nvidia_smi(tmp_path / "bin", 4)
    release = tmp_path / "release"
    release.touch()
    slurm = start_claimer({**env, "SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": "0"}, tmp_path / "locks", release)
    assert json.loads(slurm.stdout.readline()) == {"device": None, "visible": "0"}
    slurm.wait(timeout=30)
    release.unlink()
    held = start_claimer({**env, "CUDA_VISIBLE_DEVICES": "2,3"}, tmp_path / "locks", release)
    second = start_claimer({**env, "CUDA_VISIBLE_DEVICES": "2,3"}, tmp_path / "locks", release)
    assert sorted(json.loads(p.stdout.readline())["device"] for p in (held, second)) == ["2", "3"]
    release.touch()
    for p in (held, second):
        p.wait(timeout=30)


def test_gpus_module_imports_no_heavy_library():
    assert heavy_imports("vlgen.gpus") == []


@pytest.mark.slow
def test_four_concurrent_extractions_see_four_different_gpus(tmp_path):
    """A 4-GPU workstation (fake nvidia-smi): gpu=4 comes from `nvidia-smi -L`, each job claims its own device."""
    work = copy_workflow(tmp_path / "repo")
    config = {"run": "gpus", "models": ["resnet18-random"], "datasets": ["digits", "shapes"],
              "transfer": {"run_paper_preset": "never"}}
    (work / "config" / "gpus.yaml").write_text(yaml.safe_dump(config))
    env = {**fake_nvidia_smi(tmp_path / "bin", 4), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(HELPER), str(work), "--cores", "8", "--configfile", "config/gpus.yaml",
                           "--target", "features"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    logs = sorted((work / "results" / "logs" / "extract_features").glob("*.log"))
    assert len(logs) == 4
    claimed = [re.findall(r"claimed GPU (\d) of 0,1,2,3 \(CUDA_VISIBLE_DEVICES=(\d)", log.read_text()) for log in logs]
    assert all(len(c) == 1 and c[0][0] == c[0][1] for c in claimed), claimed
    assert sorted(c[0][0] for c in claimed) == ["0", "1", "2", "3"]
    assert sorted(p.name for p in (work / ".snakemake" / "gpus").iterdir()) == [f"{i}.lock" for i in range(4)]
