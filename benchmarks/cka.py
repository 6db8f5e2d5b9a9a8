"""CKA time and memory on the paper's largest case (a measurement, not a test).

    python benchmarks/cka.py                        # 2 models, 50,000 x 2048 float32, synthetic
    python benchmarks/cka.py --rows 10000 --dim 512

The CKA job holds every image model's float32 features of one dataset (as the store returns them)
and computes, per model, its own terms once (`Representation.of`: means, row norms, ||Xc^T Xc||_F^2)
and, per pair, one Xc^T Yc product (`pair_cka`), both in float64 over row blocks. So the paper's
14 models x 91 pairs cost 14 x "per model" + 91 x "per pair", and memory is the float32 features
(14 x rows x dim x 4 bytes) plus the peak measured here beyond the inputs (float64 blocks and
D x D products). Peak memory is tracemalloc's (numpy reports its buffers to it), inputs excluded.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np

from vlgen.tasks.cka import Representation, pair_cka


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--models", type=int, default=14, help="models of the extrapolated run")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.dim), dtype=np.float32)
    y = (x[:, ::-1] + rng.standard_normal((args.rows, args.dim), dtype=np.float32)).astype(np.float32)
    tracemalloc.start()
    start = time.perf_counter()
    a, b = Representation.of("x", x), Representation.of("y", y)
    per_model = (time.perf_counter() - start) / 2
    start = time.perf_counter()
    linear, debiased = pair_cka(a, b)
    per_pair = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    pairs = args.models * (args.models - 1) // 2
    features_gb = args.models * args.rows * args.dim * 4 / 1e9
    print(f"{args.rows} x {args.dim} float32, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"per model (own terms): {per_model:.1f} s; per pair: {per_pair:.1f} s "
          f"(linear {linear:.4f}, debiased {debiased:.4f})")
    print(f"peak beyond the inputs: {peak / 1e6:.0f} MB")
    print(f"{args.models} models ({pairs} pairs): ~{(args.models * per_model + pairs * per_pair) / 60:.0f} min, "
          f"~{features_gb + peak / 1e9:.1f} GB ({features_gb:.1f} GB of float32 features)")


if __name__ == "__main__":
    main()
