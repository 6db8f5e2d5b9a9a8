"""Feature store speed and size vs plain numpy files (a measurement, not a test).

    python benchmarks/store.py                       # 50,000 x 2048 float32, normal and post-ReLU data
    python benchmarks/store.py --rows 10000 --kinds normal --repeat 3

Writes through `FeatureStore.writer` in extractor-sized batches (append + finish, which includes
the chunk digests), reads back with `FeatureStore.open(...).load_features()`, runs `verify`, and
compares with `numpy.save` / `numpy.load` of the same array in the same directory. Reads follow the
writes, so both come from the page cache: these are CPU figures (codec, hashing, copies), which is
what the store adds on top of the disk. Rows:

    numpy.save      np.save / np.load of the whole array (a memcpy into the page cache)
    zstd+sha only   the work no compressed, digested store can skip: zstd at the store's level and
                    sha256 of every chunk, one thread, in memory, no I/O (read: zstd decode)
    store           FeatureStore.writer (append in batches, finish) and open(...).load_features()

"cpu s" is the CPU time of the whole process (all threads): unlike MB/s it hardly depends on what
else the machine is running (the load average is printed). Peak RSS is the growth of the process's
high-water mark during each step (Linux only; the input array itself is not counted).
"""

from __future__ import annotations

import argparse
import hashlib
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
    """Wall seconds, CPU seconds of the whole process (all threads), peak RSS growth, result."""
    t0, c0 = time.perf_counter(), time.process_time()
    with Peak() as peak:
        out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, peak.mib, out


def bench_store(root: Path, x: np.ndarray, batch: int, tag: str) -> dict:
    store = FeatureStore(root / f"store-{tag}")
    n, dim = x.shape
    labels = np.arange(n) % 1000
    ids = [f"img{i:06d}" for i in range(n)]

    def write():
        w = store.writer({"bench": tag, "rows": n, "dim": dim}, labels, ids, dim)
        for start in range(0, n, batch):
            w.append(x[start:start + batch])
        w.finish()
        return w.key

    t_write, cpu_write, rss_write, key = timed(write)
    t_read, cpu_read, rss_read, y = timed(lambda: store.open(key).load_features())
    assert np.array_equal(x, y)
    del y
    t_verify, _, _, problems = timed(lambda: store.verify(key))
    assert problems == [], problems
    size = du(store.entry_dir(key))
    shutil.rmtree(store.root)
    return {"write": t_write, "read": t_read, "verify": t_verify, "size": size, "cpu_write": cpu_write,
            "cpu_read": cpu_read, "rss_write": rss_write, "rss_read": rss_read}


def bench_numpy(root: Path, x: np.ndarray) -> dict:
    path = root / "features.npy"
    t_write, cpu_write, rss_write, _ = timed(lambda: np.save(path, x))
    t_read, cpu_read, rss_read, y = timed(lambda: np.load(path))
    assert np.array_equal(x, y)
    del y
    size = du(path)
    path.unlink()
    return {"write": t_write, "read": t_read, "verify": None, "size": size, "cpu_write": cpu_write,
            "cpu_read": cpu_read, "rss_write": rss_write, "rss_read": rss_read}


def bench_floor(x: np.ndarray) -> dict:
    """The work no store can skip: zstd (the store's level) and sha256 of every chunk, one thread, no I/O."""
    import numcodecs

    import vlgen.store as store_module

    codec = numcodecs.Zstd(level=getattr(store_module, "ZSTD_LEVEL", 3))
    step = chunk_rows(x.shape[1])

    def encode():
        size = 0
        for start in range(0, len(x), step):
            blob = codec.encode(np.ascontiguousarray(x[start:start + step]))
            hashlib.sha256(blob).digest()
            size += len(blob)
        return size

    def decode(blobs):
        return [codec.decode(b) for b in blobs]

    t_write, cpu_write, _, size = timed(encode)
    blobs = [codec.encode(np.ascontiguousarray(x[s:s + step])) for s in range(0, len(x), step)]
    t_read, cpu_read, _, _ = timed(lambda: decode(blobs))
    return {"write": t_write, "read": t_read, "verify": None, "size": size, "cpu_write": cpu_write,
            "cpu_read": cpu_read, "rss_write": None, "rss_read": None}


def fmt_rss(v):
    return "  n/a" if v is None else f"{v:5.0f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--batch", type=int, default=256, help="rows per append (an extraction batch)")
    ap.add_argument("--kinds", nargs="+", default=["normal", "relu"], choices=["normal", "relu"])
    ap.add_argument("--repeat", type=int, default=1, help="take the best of this many runs")
    ap.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary dir)")
    args = ap.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="vlgen-bench-", dir=args.dir))
    mb = args.rows * args.dim * 4 / 1e6
    print(f"{args.rows} x {args.dim} float32 = {mb:.1f} MB; chunk {chunk_rows(args.dim)} rows; "
          f"append batch {args.batch}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; dir {root}")
    print(f"{'data':7} {'method':14} {'write MB/s':>10} {'(cpu s)':>7} {'read MB/s':>10} {'(cpu s)':>7} "
          f"{'verify MB/s':>11} {'disk MB':>8} {'ratio':>6} {'RSS+ w/r MiB':>13}")
    try:
        for kind in args.kinds:
            x = make(kind, args.rows, args.dim)
            base = None
            for label in ("numpy.save", "zstd+sha only", "store"):
                results = []
                for _ in range(args.repeat):
                    if label == "numpy.save":
                        results.append(bench_numpy(root, x))
                    elif label == "zstd+sha only":
                        results.append(bench_floor(x))
                    else:
                        results.append(bench_store(root, x, args.batch, kind))
                r = {k: min((res[k] for res in results), key=lambda v: float("inf") if v is None else v)
                     for k in ("write", "read", "verify", "cpu_write", "cpu_read")}
                r.update({k: results[0][k] for k in ("size", "rss_write", "rss_read")})
                base = base or r
                verify = "" if r["verify"] is None else f"{mb / r['verify']:11.0f}"
                slower = "" if r is base else f"   (write {r['write'] / base['write']:.1f}x, read " \
                                              f"{r['read'] / base['read']:.1f}x numpy's time)"
                print(f"{kind:7} {label:14} {mb / r['write']:10.0f} {r['cpu_write']:7.2f} {mb / r['read']:10.0f} "
                      f"{r['cpu_read']:7.2f} {verify:>11} "
                      f"{r['size'] / 1e6:8.1f} {r['size'] / (x.nbytes):6.3f} "
                      f"{fmt_rss(r['rss_write'])}/{fmt_rss(r['rss_read'])}{slower}")
            del x
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
