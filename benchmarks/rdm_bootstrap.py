"""Bootstrap time of the RDM comparison on ImageNet's 1,000 classes (a measurement, not a test).

    python benchmarks/rdm_bootstrap.py                    # 1,000 classes, 15 models, 20 timed resamples
    python benchmarks/rdm_bootstrap.py --method spearman --resamples 5

Times `bootstrap_correlations` (every pair's r on each class resample) on synthetic RDMs and
extrapolates to the configured 1,000 resamples; `uncertainty_rows` adds the clade counting, which is
a linkage of M models per resample (negligible next to the 1,000 x 1,000 gathers).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from vlgen.tasks.rdm_bootstrap import bootstrap_correlations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--models", type=int, default=15)
    parser.add_argument("--resamples", type=int, default=20, help="timed resamples")
    parser.add_argument("--method", default="pearson", choices=["pearson", "spearman"])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    points = rng.normal(size=(args.classes, 16))
    rdms = []
    for _ in range(args.models):
        noisy = points + 0.5 * rng.normal(size=points.shape)
        rdms.append(np.linalg.norm(noisy[:, None] - noisy[None], axis=2))
    start = time.perf_counter()
    bootstrap_correlations(rdms, args.method, args.resamples, seed=0)
    per_resample = (time.perf_counter() - start) / args.resamples
    print(f"{args.classes} classes, {args.models} models, {args.method}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{per_resample:.2f} s per resample; 1,000 resamples: ~{1000 * per_resample / 60:.1f} min")


if __name__ == "__main__":
    main()
