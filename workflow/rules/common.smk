# Shared helpers: the validated run, its feature keys and paths. Keys are computed from the config
# alone (no I/O), so a dry run with no weights or data present still shows every job.
import sys

from vlgen.config import ConfigError, with_defaults
from vlgen.keys import KEY_PATTERN, canonical_json

try:
    RUN = with_defaults(config, workflow.basedir)
except ConfigError as exc:
    sys.exit(f"vlgen: invalid configuration: {exc}")

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
