"""Speed and memory of the generalization battery on cached features (a measurement, not a test).

    python benchmarks/evals.py                         # 1k, 10k, 26,032 samples of 2048-d features
    python benchmarks/evals.py --sizes 1000 --threads 2

Synthetic features: 10 overlapping Gaussian classes in 2048-d after a ReLU (non-negative, like
pooled CNN features), a train and a test split of N samples each. Rows:

    few-shot          fewshot_trials: N in {1, 5, 10}, 10 trials, both presets
    clustering        cluster_split on the test split (scikit-learn's dense path up to 15,000
                      samples, the memory-lean path above), both matchings
    probe default     default_probe: C selected from 7 values on a 20% hold-out, refit
    probe paper_cached  nn.Linear + Adam, 20 epochs, batch 60 (includes torch's one-off imports
                      at the first size)
    sklearn LR        scikit-learn's LogisticRegression alone at the C the default probe chose, on
                      the same standardised features: the ratio says what selecting C costs on top
                      of one fit, at equal accuracy (both accuracies are printed)

"wall s" depends on what else the machine runs; "cpu s" (the process's CPU time, all threads)
much less. "peak MiB" is the growth of the process's resident high-water mark during the step
(Linux only; the input arrays are not counted). BLAS runs with --threads threads (default 1, as
the workflow's jobs do).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from store import Peak  # benchmarks/store.py: peak RSS via /proc (this script's directory is on sys.path)
from vlgen.tasks.clustering import cluster_split
from vlgen.tasks.fewshot import fewshot_trials
from vlgen.tasks.probe import AdamSchedule, default_probe, paper_cached_probe

C_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0]


def features(n: int, dim: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Class means with sd 0.4 per dimension against noise of sd 4: classes overlap (accuracy < 1).
    centres = 0.4 * np.random.default_rng(0).normal(size=(n_classes, dim)).astype(np.float32)
    labels = np.arange(n) % n_classes
    x = centres[labels] + 4.0 * rng.standard_normal((n, dim), dtype=np.float32)
    return np.maximum(x, 0, out=x), labels


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    with Peak() as peak:
        out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, peak.mib, out


def sklearn_fit(train_x, train_y, test_x, test_y, C):
    """One LogisticRegression fit at C on standardised features; its test accuracy."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(C=C, max_iter=1000).fit(scaler.transform(train_x), train_y)
    return model.score(scaler.transform(test_x), test_y)


def report(size, name, wall, cpu, peak, note=""):
    mib = "n/a" if peak is None else f"{peak:.0f}"
    print(f"{size:>7} {name:20} {wall:8.1f} {cpu:8.1f} {mib:>9}  {note}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 26_032])
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip", nargs="*", default=[], choices=["fewshot", "clustering", "default", "paper_cached"])
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # ConvergenceWarning at large C on separable sizes
    print(f"{args.dim}-d features, {args.classes} classes; {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}, BLAS threads {args.threads}")
    print(f"{'N':>7} {'step':20} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}  result")
    with threadpool_limits(args.threads):
        import torch

        torch.set_num_threads(args.threads)
        for n in args.sizes:
            train_x, train_y = features(n, args.dim, args.classes, seed=1)
            test_x, test_y = features(n, args.dim, args.classes, seed=2)
            if "fewshot" not in args.skip:
                wall, cpu, peak, rows = timed(lambda: fewshot_trials(
                    train_x, train_y, test_x, test_y, shots=[1, 5, 10], trials=10, seed=0, dataset="bench",
                    presets=["default", "paper"]))
                report(n, "few-shot", wall, cpu, peak, f"{len(rows)} episodes")
            if "clustering" not in args.skip:
                wall, cpu, peak, (_, rows) = timed(lambda: cluster_split(test_x, test_y, seed=0))
                path = "dense" if n <= 15_000 else "lean"
                report(n, f"clustering ({path})", wall, cpu, peak, f"hungarian accuracy {rows[0]['accuracy']:.3f}")
            if "default" not in args.skip:
                wall, cpu, peak, probe = timed(lambda: default_probe(
                    train_x, train_y, args.classes, C_grid=C_GRID, val_fraction=0.2, seed=0))
                accuracy = probe.accuracy(test_x, test_y)
                report(n, "probe default", wall, cpu, peak, f"accuracy {accuracy:.4f}, C {probe.C:g}")
                s_wall, s_cpu, s_peak, s_accuracy = timed(lambda: sklearn_fit(train_x, train_y, test_x, test_y,
                                                                                probe.C))
                report(n, "sklearn LR at C", s_wall, s_cpu, s_peak,
                       f"accuracy {s_accuracy:.4f}; default probe / sklearn: {wall / s_wall:.1f}x wall, "
                       f"{cpu / s_cpu:.1f}x cpu")
            if "paper_cached" not in args.skip:
                wall, cpu, peak, probe = timed(lambda: paper_cached_probe(
                    train_x, train_y, args.classes, schedule=AdamSchedule(), seed=0))
                report(n, "probe paper_cached", wall, cpu, peak, f"accuracy {probe.accuracy(test_x, test_y):.4f}")


if __name__ == "__main__":
    sys.exit(main())
