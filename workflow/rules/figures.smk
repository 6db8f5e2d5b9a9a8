# Figure 1 of the paper from the three task tables, and its per-dataset versions (CPU).

FIGURE1 = RUN.section("figure1")
# Every dataset some task of Figure 1 evaluated, in the run's order.
FIGURE1_DATASETS = [
    d for d in RUN.datasets if d in {*RUN.task_datasets("fewshot"), *CLUSTERING_DATASETS, *TRANSFER_DATASETS}
]


rule draw_figure1:
    input:
        fewshot=rules.fewshot_table.output.summary,
        clustering=rules.clustering_table.output[0],
        transfer=rules.transfer_table.output[0],
    output:
        scores=report(f"{RESULTS}/tables/generalization.csv", category="Figure 1", caption="../report/figure1_table.rst"),
        png=report(f"{RESULTS}/figures/fig1_generalization.png", category="Figure 1", caption="../report/figure1.rst"),
        pdf=f"{RESULTS}/figures/fig1_generalization.pdf",
        per_dataset=[
            report(f"{RESULTS}/figures/fig1_by_dataset/{d}.png", category="Figure 1", caption="../report/figure1_dataset.rst")
            for d in FIGURE1_DATASETS
        ],
        # figure1.group_by: the run's models grouped by one catalog `factors` field each (config/extended.yaml)
        by_factor=[
            report(f"{RESULTS}/figures/fig1_by_factor/{f}.png", category="Figure 1", caption="../report/figure1_factor.rst")
            for f in FIGURE1.get("group_by", [])
        ],
    params:
        figure1=FIGURE1,
        datasets=FIGURE1_DATASETS,
        families=RUN.drawn_families(RUN.image_models),
        factors={m: RUN.model_spec(m).get("factors", {}) for m in RUN.image_models},
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/draw_figure1.log",
    script:
        "../scripts/figure1.py"


rule figures:
    input:
        rules.draw_figure1.output,
