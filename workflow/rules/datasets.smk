# Datasets that a rule can make present (generated now; downloaded in a later stage). Data the
# user provides has no rule: the extraction job reports what is missing.


rule prepare_dataset:
    output:
        "{marker}",
    params:
        spec=lambda wc: canonical_json(RUN.dataset_payload(DATASET_OF_MARKER[wc.marker])),
        root=lambda wc: RUN.dataset_root(DATASET_OF_MARKER[wc.marker]),
    wildcard_constraints:
        marker="|".join(map(re.escape, PREPARED.values())) or "^$",
    localrule: True
    conda:
        ENV
    log:
        "results/logs/prepare_dataset/{marker}.log",
    shell:
        "python -m vlgen prepare-dataset --spec {params.spec:q} --root {params.root:q} > {log} 2>&1"
