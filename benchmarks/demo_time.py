"""Wall and CPU time of a run from scratch, and where it goes per rule (a measurement, not a test).

    python benchmarks/demo_time.py                                   # the controlled demo
    python benchmarks/demo_time.py --config config/demo.yaml
    python benchmarks/demo_time.py --parse path/to/snakemake.log     # only the per-rule table of a log

Runs `snakemake --cores all --configfile CONFIG` in a fresh copy of the workflow (nothing reused: no
store, no prepared data), then prints the wall time, the CPU time of Snakemake and its jobs, and per
rule the number of jobs and their summed and mean wall seconds (from the log's start and finish
stamps, one-second resolution). The issue target for the controlled demo is under 8 minutes on 2
idle cores. On a busy machine the numbers mean little: run it alone.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers.repo import copy_workflow  # noqa: E402 - the tests' copy of what Snakemake needs

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


def rule_seconds(log: str) -> dict[str, list[float]]:
    """Per rule, the wall seconds of each of its jobs, from a Snakemake log's stamps."""
    stamp = rule = None
    started: dict[str, tuple[str, datetime]] = {}
    seconds: dict[str, list[float]] = defaultdict(list)
    for line in log.splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := RULE.match(line):
            rule = match.group(1)
        elif (match := JOBID.match(line)) and rule and stamp:
            started[match.group(1)], rule = (rule, stamp), None
        elif (match := FINISHED.match(line)) and match.group(1) in started and stamp:
            name, began = started.pop(match.group(1))
            seconds[name].append((stamp - began).total_seconds())
    return dict(seconds)


def print_rules(seconds: dict[str, list[float]]) -> None:
    print(f"{'rule':28s} {'jobs':>5s} {'sum s':>8s} {'mean s':>7s}")
    for name, values in sorted(seconds.items(), key=lambda item: -sum(item[1])):
        print(f"{name:28s} {len(values):5d} {sum(values):8.0f} {sum(values) / len(values):7.1f}")


def run_from_scratch(config: str, keep: bool) -> None:
    work = copy_workflow(Path(tempfile.mkdtemp(prefix="vlgen-demo-time-")))
    snakemake = Path(sys.executable).parent / "snakemake"
    started = time.perf_counter()
    done = subprocess.run([str(snakemake), "--cores", "all", "--configfile", config], cwd=work,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"snakemake failed (rc {done.returncode}); workdir kept: {work}\n{done.stderr[-3000:]}")
    print(f"{config}: {wall:.0f} s wall ({wall / 60:.1f} min), CPU {usage.ru_utime:.0f} s user + "
          f"{usage.ru_stime:.0f} s system (Snakemake and its jobs)")
    print_rules(rule_seconds(done.stdout + done.stderr))
    if keep:
        print(f"workdir: {work}")
    else:
        shutil.rmtree(work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/controlled-demo.yaml")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workdir")
    parser.add_argument("--parse", type=Path, help="only print the per-rule table of this Snakemake log")
    args = parser.parse_args()
    if args.parse:
        print_rules(rule_seconds(args.parse.read_text()))
    else:
        run_from_scratch(args.config, args.keep)


if __name__ == "__main__":
    main()
