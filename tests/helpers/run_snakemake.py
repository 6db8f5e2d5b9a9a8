"""Run the workflow through Snakemake's Python API; print the outputs of the jobs it scheduled as JSON.

Run in a subprocess (one workflow per process: Snakemake keeps global logging state).
Usage: run_snakemake.py WORKDIR [--dryrun] [--cores N] [--configfile F ...] [--target T ...]
"""

import argparse
import json
import os
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (ConfigSettings, DAGSettings, ExecutionSettings, OutputSettings,
                                      ResourceSettings)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--dryrun", action="store_true")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", nargs="*", default=[])
    parser.add_argument("--target", nargs="*", default=[])
    args = parser.parse_args()
    # Jobs run `python -m vlgen`: the interpreter running the tests must be the `python` they find.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    scheduled: list[str] = []
    with SnakemakeApi(OutputSettings(quiet=None, dryrun=args.dryrun, show_failed_logs=True)) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=args.cores),
            config_settings=ConfigSettings(configfiles=[args.workdir / f for f in args.configfile]),
            snakefile=args.workdir / "Snakefile",
            workdir=args.workdir,
        )
        dag = workflow.dag(DAGSettings(targets=set(args.target)))
        dag.execute_workflow(executor="local", pseudo_executor="dryrun" if args.dryrun else None,
                             execution_settings=ExecutionSettings(), updated_files=scheduled)
    print("SCHEDULED=" + json.dumps(sorted(map(str, scheduled))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
