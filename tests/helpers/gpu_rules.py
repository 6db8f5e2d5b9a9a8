"""Print, as JSON, what the SLURM plugin asks sbatch for on behalf of every rule that runs a model.

A rule runs a model when it has a `device` resource (what `vlgen.extract.resolve_device` reads).
Reads every rule of the workflow through Snakemake's API, with every stage switched on (the paper
config, transfer's paper preset forced), so rules added later are covered without naming them.
Usage: gpu_rules.py WORKDIR  (one workflow per process: Snakemake keeps global logging state)
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
from snakemake_executor_plugin_slurm.utils import set_gres_string


def main() -> int:
    workdir = Path(sys.argv[1])
    found = {}
    with SnakemakeApi(OutputSettings(quiet=None)) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[workdir / "config" / "config.yaml"],
                                           config={"transfer": {"run_paper_preset": "always"}}),
            snakefile=workdir / "Snakefile", workdir=workdir)._workflow
        for rule in workflow.rules:
            resources = {k: v for k, v in rule.resources.items() if not callable(v)}
            if "device" in rule.resources:
                found[rule.name] = {"sbatch": set_gres_string(SimpleNamespace(resources=resources)),
                                    "slurm_extra": str(resources.get("slurm_extra", ""))}
    print("GPU_RULES=" + json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
