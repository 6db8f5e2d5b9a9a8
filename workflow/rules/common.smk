# Shared helpers: the validated run, its feature keys and paths. Keys are computed from the config
# alone (committed files and a stat-only walk of user-provided data; never resources/), so a dry run
# with no weights or data present still shows every job.
import os
import sys
from pathlib import Path

from vlgen.config import ConfigError, with_defaults
from vlgen.data.registry import get_reader
from vlgen.gpus import gpu_count
from vlgen.keys import KEY_PATTERN, canonical_json

try:
    RUN = with_defaults(config, workflow.basedir)
except ConfigError as exc:
    sys.exit(f"vlgen: invalid configuration: {exc}")

# Jobs import vlgen from this checkout, also in a conda env (--sdm conda) where it is not installed.
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(Path(workflow.basedir) / "workflow"), os.getenv("PYTHONPATH")]))
)
# A local run: one GPU job per GPU `nvidia-smi -L` lists (each claims its own device, vlgen.gpus);
# `--resources gpu=N` on the command line or in a profile wins. No GPU: no limit, GPU rules use the CPU.
if workflow.is_main_process and "gpu" not in workflow.global_resources and (GPU_COUNT := gpu_count()):
    workflow.register_resource("gpu", GPU_COUNT)
ENV = "../../envs/vlgen.yaml"
STORE = RUN.store
RESULTS = f"results/{RUN.run}"
FEATURE_JOBS = RUN.feature_jobs()
PAYLOADS = {job.key: job.payload for job in FEATURE_JOBS}
DATASET_OF_KEY = {job.key: job.dataset for job in FEATURE_JOBS}


wildcard_constraints:
    key=KEY_PATTERN,
    model="|".join(map(re.escape, RUN.models)),
    dataset="|".join(map(re.escape, RUN.datasets)),


def manifest(model, dataset, split):
    """The store manifest of one (model, dataset, split): what evaluation rules depend on."""
    return f"{STORE}/features/{RUN.feature_key(model, dataset, split)}.json"


def task_version(task):
    return RUN.section(task).get("task_version", 1)


def prepared_marker(dataset):
    """The file a reader's `prepare` writes last, or None when no rule makes this dataset."""
    marker = get_reader(RUN.dataset_spec(dataset)["reader"]).marker
    return f"{RUN.dataset_root(dataset)}/{marker}" if marker else None


def prepare_spec(dataset):
    """What `vlgen prepare-dataset` gets: the key payload plus the mirrors (not in the key)."""
    mirrors = RUN.dataset_spec(dataset).get("mirrors")
    return canonical_json({**RUN.dataset_payload(dataset), **({"mirrors": mirrors} if mirrors else {})})


PREPARED = {d: prepared_marker(d) for d in RUN.datasets if prepared_marker(d)}
DATASET_OF_MARKER = {marker: d for d, marker in PREPARED.items()}
# User-provided data (ImageNet): a check job's flag file, outside the user's (maybe read-only) folder.
CHECKED = {
    d: f"results/datasets/{d}.checked"
    for d in RUN.datasets
    if get_reader(RUN.dataset_spec(d)["reader"]).user_provided
}


def dataset_inputs(wc):
    """What an extraction waits for: the dataset's prepared marker or check flag, when a rule makes it."""
    dataset = DATASET_OF_KEY[wc.key]
    return [path for path in (PREPARED.get(dataset), CHECKED.get(dataset)) if path]
