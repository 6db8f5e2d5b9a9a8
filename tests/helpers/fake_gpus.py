"""A fake `nvidia-smi` that lists N GPUs, for tests of GPU placement on a machine without GPUs."""

import os
from pathlib import Path


def fake_nvidia_smi(bin_dir: Path, n_gpus: int, exit_code: int = 0) -> dict[str, str]:
    """Write `bin_dir/nvidia-smi` (answers `-L` like the real one); return an env with it first on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(f"GPU {i}: NVIDIA Fake {i} (UUID: GPU-0000000{i})" for i in range(n_gpus))
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat <<'END'\n{lines}\nEND\nexit {exit_code}\n")
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    return {**env, "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])}
