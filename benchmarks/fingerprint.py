"""DAG-time cost of the ImageNet folder fingerprint (a measurement, not a test).

    python benchmarks/fingerprint.py                  # 50,000 files in 1,000 class folders
    python benchmarks/fingerprint.py --files 10000 --repeat 5

Writes a synthetic tree shaped like the ImageNet validation set (class folders of small files of
varying sizes; the walk only stats them, so their contents do not matter), then times
`tree_fingerprint` on it and the whole key computation of the paper run with `imagenet-val` pointing
there (`RunConfig.feature_jobs()`, which walks the folder once per config). The first walk after
writing runs on a warm dentry/inode cache; `--drop-caches` (root only) measures a cold one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from vlgen.config import load_config
from vlgen.data.fingerprint import tree_fingerprint

ROOT = Path(__file__).resolve().parents[1]


def write_tree(root: Path, files: int, classes: int) -> None:
    for i in range(files):
        folder = root / f"n{i % classes:08d}"
        folder.mkdir(exist_ok=True)
        (folder / f"ILSVRC2012_val_{i + 1:08d}.JPEG").write_bytes(b"x" * (i % 97))


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(fn, repeat: int, cold: bool) -> list[float]:
    times = []
    for _ in range(repeat):
        if cold:
            drop_caches()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--drop-caches", action="store_true", help="drop the page cache before each walk (root)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "imagenet-val"
        root.mkdir()
        start = time.perf_counter()
        write_tree(root, args.files, args.classes)
        print(f"wrote {args.files:,} files in {args.classes:,} folders in {time.perf_counter() - start:.1f} s")
        walk = timed(lambda: tree_fingerprint(root), args.repeat, args.drop_caches)
        override = Path(tmp) / "run.yaml"
        override.write_text(f"dataset_catalog: {{imagenet-val: {{root: {root}}}}}\n")
        keys = timed(lambda: load_config([override], ROOT).feature_jobs(), args.repeat, args.drop_caches)
        absent = Path(tmp) / "absent.yaml"
        absent.write_text(f"dataset_catalog: {{imagenet-val: {{root: {root}-missing}}}}\n")
        baseline = timed(lambda: load_config([absent], ROOT).feature_jobs(), args.repeat, False)
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, cold: {args.drop_caches}")
    print(f"tree_fingerprint:                     median {statistics.median(walk):.3f} s  (runs: "
          f"{', '.join(f'{t:.3f}' for t in walk)})")
    print(f"paper feature_jobs(), data present:   median {statistics.median(keys):.3f} s")
    print(f"paper feature_jobs(), folder absent:  median {statistics.median(baseline):.3f} s")


if __name__ == "__main__":
    main()
