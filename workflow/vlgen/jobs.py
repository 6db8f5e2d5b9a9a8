"""What every workflow job does first, and how it reads its inputs; no snakemake import here."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from vlgen.store import Entry, FeatureStore


def start_job(log_path: str | None, threads: int) -> None:
    """Send logging and stderr to the rule's log file and cap BLAS threads to the job's threads."""
    from threadpoolctl import threadpool_limits

    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(log_path, "w", buffering=1)  # noqa: SIM115 (lives as long as the job)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    threadpool_limits(threads)


def open_manifest(manifest_path: str | Path) -> Entry:
    """The store entry a manifest stands for (the store root is two levels above it)."""
    manifest_path = Path(manifest_path)
    key = json.loads(manifest_path.read_text())["key"]
    return FeatureStore(manifest_path.parent.parent).open(key)
