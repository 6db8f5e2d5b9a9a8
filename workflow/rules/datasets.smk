# Datasets that a rule makes present: generated (shapes) or downloaded from pinned files
# (mnist, fashion-mnist, cifar10/100, svhn, cub: vlgen.data.fetch). Data the user provides
# (ImageNet) is never downloaded: a check job stops the run early with what to provide.


rule prepare_dataset:
    output:
        "{marker}",
    params:
        spec=lambda wc: prepare_spec(DATASET_OF_MARKER[wc.marker]),
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


# A job, not DAG-time code: a dry run works without the data. Its message (what is missing, what to
# provide) goes to the console as well as to the log.
rule check_dataset:
    output:
        "results/datasets/{dataset}.checked",
    params:
        spec=lambda wc: canonical_json(RUN.dataset_payload(wc.dataset)),
        root=lambda wc: RUN.dataset_root(wc.dataset),
    wildcard_constraints:
        dataset="|".join(map(re.escape, CHECKED)) or "^$",
    localrule: True
    conda:
        ENV
    log:
        "results/logs/check_dataset/{dataset}.log",
    shell:
        "python -m vlgen prepare-dataset --spec {params.spec:q} --root {params.root:q} 2>&1 | tee {log}"
        " && touch {output}"
