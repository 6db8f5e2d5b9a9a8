# CKA between the image models on the images RSA uses (CPU): one job over every RSA dataset reads each
# model's features once, aligned by sample id; a heatmap ordered like Figure 3. Text models are compared
# by RSA only. Adding a model reruns this aggregate (and the figure) with its own extractions.

CKA = RUN.section("cka")
CKA_ACTIVE = RSA_ACTIVE and len(RUN.image_models) >= 2
# (dataset, model) of each input manifest, in input order
CKA_INPUTS = [(dataset, model) for dataset in RSA_DATASETS for model in RUN.image_models]


rule cka_table:
    input:
        [manifest(model, dataset, rsa_split(RUN, dataset)) for dataset, model in CKA_INPUTS],
    output:
        report(f"{RESULTS}/tables/cka.csv", category="RSA", caption="../report/cka_table.rst"),
    params:
        inputs=CKA_INPUTS,
        splits={dataset: rsa_split(RUN, dataset) for dataset in RSA_DATASETS},
        task_version=CKA.get("task_version", 1),
    threads: 1
    resources:
        # every image model's float32 features of one dataset stay in memory: 14 x 50,000 x 2048 is
        # 5.7 GB (benchmarks/cka.py, workflow/PROTOCOL.md)
        mem_mb=16000,
        # ImageNet val alone: ~25 min on one core for the paper's 14 models; every other RSA dataset adds less
        runtime=240,
    conda:
        ENV
    log:
        f"{RESULTS}/logs/cka_table.log",
    script:
        "../scripts/cka_table.py"


rule cka_figure:
    input:
        cka=rules.cka_table.output[0],
        rsa=rules.rsa_correlations.output.table,
    output:
        png=report(f"{RESULTS}/figures/cka.png", category="RSA", caption="../report/cka_figure.rst"),
        pdf=f"{RESULTS}/figures/cka.pdf",
    params:
        models=RUN.models,
        families=RUN.drawn_families(RUN.models),
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/cka_figure.log",
    script:
        "../scripts/cka_figure.py"


rule cka:
    input:
        rules.cka_figure.output if CKA_ACTIVE else [],
