"""One GPU per running job on a multi-GPU workstation.

Snakemake limits how many `gpu=1` jobs run at once (`--resources gpu=N`, N from `nvidia-smi -L`,
set in common.smk), but not which device each uses: without this every job would pick device 0.
A job claims the first free device by `flock` on `.snakemake/gpus/{i}.lock` and exports
CUDA_VISIBLE_DEVICES before CUDA starts. The lock lives as long as the process, so a killed job
frees its GPU. Under SLURM the scheduler already gives each job its own GPUs: nothing is claimed.
No torch import here (DAG-time code counts GPUs too).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import IO

log = logging.getLogger("vlgen.gpus")

LOCK_DIR = Path(".snakemake/gpus")
_held: list[IO[str]] = []  # open lock files: closing one would free its GPU


def gpu_count() -> int:
    """How many GPUs `nvidia-smi -L` lists; 0 without nvidia-smi or when it fails (no driver)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if out.returncode != 0:
        return 0
    return sum(1 for line in out.stdout.splitlines() if re.match(r"GPU \d+:", line))


def _candidates() -> list[str]:
    """Device ids this process may use: those CUDA_VISIBLE_DEVICES already allows, else every GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip()]
    return [str(i) for i in range(gpu_count())]


def claim_gpu(lock_dir: Path = LOCK_DIR, poll_seconds: float = 1.0) -> str | None:
    """Hold one free device for the rest of this process and make it the only visible one.

    Returns the device id, or None when there is nothing to claim (no GPU, a SLURM job, or a claim
    already held). Waits while every device is held (another workflow sharing this directory).
    """
    if _held or "SLURM_JOB_ID" in os.environ:
        return None
    devices = _candidates()
    if not devices:
        return None
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for device in devices:
            handle = open(lock_dir / f"{device}.lock", "a")  # noqa: SIM115 (held until exit)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            _held.append(handle)
            os.environ["CUDA_VISIBLE_DEVICES"] = device
            log.info("claimed GPU %s of %s (CUDA_VISIBLE_DEVICES=%s, lock %s)", device, ",".join(devices),
                     device, lock_dir / f"{device}.lock")
            return device
        if not waited:
            log.info("every GPU (%s) is held by another job: waiting", ",".join(devices))
            waited = True
        time.sleep(poll_seconds)
