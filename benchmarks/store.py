"""Feature store speed and size vs plain numpy files (a measurement, not a test).

    python benchmarks/store.py                       # 50,000 x 2048 float32, normal and post-ReLU data
    python benchmarks/store.py --rows 10000 --kinds normal --threads 1 2

Writes through `FeatureStore.writer` in extractor-sized batches (append + finish, which includes
the chunk digests), reads back with `FeatureStore.open(...).load_features()`, runs `verify`, and
compares with `numpy.save` / `numpy.load` of the same array in the same directory. Reads follow the
writes, so both come from the page cache: these are CPU figures (codec, hashing, copies), which is
what the store adds on top of the disk. Peak RSS is the growth of the process's high-water mark
during each step (Linux only; the input array itself is not counted).
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from vlgen.store import FeatureStore, chunk_rows


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class Peak:
    """Peak RSS growth (MiB) of this process during a `with` block, via /proc (None elsewhere)."""

    def __enter__(self):
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.start = _status_kib("VmRSS")
        except OSError:
            self.start = None
        return self

    def __exit__(self, *exc):
        hwm = _status_kib("VmHWM")
        self.mib = None if self.start is None or hwm is None else (hwm - self.start) / 1024
        return False


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make(kind: str, rows: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32)
    if kind == "relu":  # non-negative, about half exact zeros, like features taken after a ReLU
        np.maximum(x, 0, out=x)
    elif kind != "normal":
        raise ValueError(kind)
    return x


def timed(fn):
    t0 = time.perf_counter()
    with Peak() as peak:
        out = fn()
    return time.perf_counter() - t0, peak.mib, out


def bench_store(root: Path, x: np.ndarray, batch: int, threads: int | None, tag: str) -> dict:
    store = FeatureStore(root / f"store-{tag}")
    n, dim = x.shape
    labels = np.arange(n) % 1000
    ids = [f"img{i:06d}" for i in range(n)]
    kwargs = {}
    if threads is not None and "threads" in inspect.signature(store.writer).parameters:
        kwargs["threads"] = threads

    def write():
        w = store.writer({"bench": tag, "rows": n, "dim": dim}, labels, ids, dim, **kwargs)
        for start in range(0, n, batch):
            w.append(x[start:start + batch])
        w.finish()
        return w.key

    t_write, rss_write, key = timed(write)
    t_read, rss_read, y = timed(lambda: store.open(key).load_features())
    assert np.array_equal(x, y)
    del y
    t_verify, _, problems = timed(lambda: store.verify(key))
    assert problems == [], problems
    size = du(store.entry_dir(key))
    shutil.rmtree(store.root)
    return {"write": t_write, "read": t_read, "verify": t_verify, "size": size,
            "rss_write": rss_write, "rss_read": rss_read}


def bench_numpy(root: Path, x: np.ndarray) -> dict:
    path = root / "features.npy"
    t_write, rss_write, _ = timed(lambda: np.save(path, x))
    t_read, rss_read, y = timed(lambda: np.load(path))
    assert np.array_equal(x, y)
    del y
    size = du(path)
    path.unlink()
    return {"write": t_write, "read": t_read, "verify": None, "size": size,
            "rss_write": rss_write, "rss_read": rss_read}


def fmt_rss(v):
    return "  n/a" if v is None else f"{v:5.0f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=256, help="rows per append (an extraction batch)")
    ap.add_argument("--kinds", nargs="+", default=["normal", "relu"], choices=["normal", "relu"])
    ap.add_argument("--threads", nargs="+", type=int, default=[None],
                    help="writer threads to try (default: the store's default)")
    ap.add_argument("--repeat", type=int, default=1, help="take the best of this many runs")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary dir)")
    args = ap.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="vlgen-bench-", dir=args.dir))
    mb = args.rows * args.dim * 4 / 1e6
    print(f"{args.rows} x {args.dim} float32 = {mb:.1f} MB; chunk {chunk_rows(args.dim)} rows; "
          f"append batch {args.batch}; {os.cpu_count()} CPUs; dir {root}")
    print(f"{'data':7} {'method':14} {'write MB/s':>10} {'read MB/s':>10} {'verify MB/s':>11} "
          f"{'disk MB':>8} {'ratio':>6} {'RSS+ w/r MiB':>13}")
    try:
        for kind in args.kinds:
            x = make(kind, args.rows, args.dim)
            runs = [("numpy.save", None)] + [(f"store t={t}" if t else "store", t) for t in args.threads]
            base = None
            for label, threads in runs:
                results = []
                for _ in range(args.repeat):
                    if threads is None and label == "numpy.save":
                        results.append(bench_numpy(root, x))
                    else:
                        results.append(bench_store(root, x, args.batch, threads, f"{kind}-{threads}"))
                r = {k: min((res[k] for res in results), key=lambda v: float("inf") if v is None else v)
                     for k in ("write", "read", "verify")}
                r.update({k: results[0][k] for k in ("size", "rss_write", "rss_read")})
                base = base or r
                verify = "" if r["verify"] is None else f"{mb / r['verify']:11.0f}"
                slower = "" if r is base else f"   (write {r['write'] / base['write']:.1f}x, read " \
                                              f"{r['read'] / base['read']:.1f}x numpy's time)"
                print(f"{kind:7} {label:14} {mb / r['write']:10.0f} {mb / r['read']:10.0f} {verify:>11} "
                      f"{r['size'] / 1e6:8.1f} {r['size'] / (x.nbytes):6.3f} "
                      f"{fmt_rss(r['rss_write'])}/{fmt_rss(r['rss_read'])}{slower}")
            del x
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
