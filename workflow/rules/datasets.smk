# Datasets that a rule can make present (generated now; downloaded in a later stage). Data the
# user provides has no rule: the extraction job reports what is missing.
from vlgen.data.registry import get_reader


def prepared_marker(dataset):
    """The file a reader's `prepare` writes last, or None when no rule makes this dataset."""
    marker = get_reader(RUN.dataset_spec(dataset)["reader"]).marker
    return f"{RUN.dataset_root(dataset)}/{marker}" if marker else None


PREPARED = {d: prepared_marker(d) for d in RUN.datasets if prepared_marker(d)}


rule prepare_dataset:
    output:
        "{marker}",
    params:
        spec=lambda wc: canonical_json(RUN.dataset_payload(DATASET_OF_MARKER[wc.marker])),
        root=lambda wc: RUN.dataset_root(DATASET_OF_MARKER[wc.marker]),
    wildcard_constraints:
        marker="|".join(map(re.escape, PREPARED.values())) or "^$",
    localrule: True
    log:
        "results/logs/prepare_dataset/{marker}.log",
    shell:
        "vlgen prepare-dataset --spec {params.spec:q} --root {params.root:q} > {log} 2>&1"


DATASET_OF_MARKER = {marker: d for d, marker in PREPARED.items()}
