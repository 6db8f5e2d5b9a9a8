# Spectral clustering of each dataset's test split on cached features (CPU; no torch).

CLUSTERING = RUN.section("clustering")
CLUSTERING_DATASETS = RUN.task_datasets("clustering", ("test",))


rule cluster_test_split:
    input:
        test=lambda wc: manifest(wc.model, wc.dataset, "test"),
    output:
        table=f"{RESULTS}/clustering/{{model}}/{{dataset}}.csv",
        assignments=f"{RESULTS}/clustering/{{model}}/{{dataset}}.npz",
    params:
        clustering=CLUSTERING,
        task_version=task_version("clustering"),
    # One thread: demo-sized BLAS calls gain nothing from more, and OpenBLAS threads that spin on a
    # busy machine made small jobs 50x slower (measured). Big splits: --set-threads cluster_test_split=8.
    resources:
        mem_mb=16000,
    group:
        "evaluate"
    threads: 1
    conda:
        ENV
    log:
        f"{RESULTS}/logs/cluster_test_split/{{model}}/{{dataset}}.log",
    script:
        "../scripts/clustering_evaluate.py"


rule clustering_table:
    input:
        expand(f"{RESULTS}/clustering/{{model}}/{{dataset}}.csv", model=RUN.image_models, dataset=CLUSTERING_DATASETS),
    output:
        report(f"{RESULTS}/tables/clustering.csv", category="Clustering", caption="../report/clustering_table.rst"),
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/clustering_table.log",
    script:
        "../scripts/clustering_table.py"


rule clustering:
    input:
        rules.clustering_table.output,
