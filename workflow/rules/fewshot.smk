# Few-shot prototype classification on cached features (CPU; reads the store, imports no torch).

FEWSHOT = RUN.section("fewshot")
# The std over trials per preset (the paper's numpy default ddof=0, else 1): the summary table's only setting.
FEWSHOT_DDOF = FEWSHOT.get("ddof", {"paper": 0, "default": 1})


rule fewshot_evaluate:
    input:
        train=lambda wc: manifest(wc.model, wc.dataset, "train"),
        test=lambda wc: manifest(wc.model, wc.dataset, "test"),
    output:
        f"{RESULTS}/fewshot/{{model}}/{{dataset}}.csv",
    params:
        fewshot=FEWSHOT,
        task_version=task_version("fewshot"),
    group:
        "evaluate"
    threads: 1
    conda:
        ENV
    log:
        f"{RESULTS}/logs/fewshot_evaluate/{{model}}/{{dataset}}.log",
    script:
        "../scripts/fewshot_evaluate.py"


rule fewshot_table:
    input:
        expand(
            f"{RESULTS}/fewshot/{{model}}/{{dataset}}.csv",
            model=RUN.image_models,
            dataset=RUN.task_datasets("fewshot"),
        ),
    output:
        trials=report(f"{RESULTS}/tables/fewshot.csv", category="Few-shot", caption="../report/fewshot_table.rst"),
        summary=f"{RESULTS}/tables/fewshot_summary.csv",
    params:
        ddof=FEWSHOT_DDOF,
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/fewshot_table.log",
    script:
        "../scripts/fewshot_table.py"


rule fewshot_figure:
    input:
        rules.fewshot_table.output.trials,
    output:
        report(f"{RESULTS}/figures/fewshot.png", category="Few-shot", caption="../report/fewshot_figure.rst"),
    params:
        families=RUN.drawn_families(RUN.image_models),
        ddof=FEWSHOT_DDOF,
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/fewshot_figure.log",
    script:
        "../scripts/fewshot_figure.py"


rule fewshot:
    input:
        rules.fewshot_table.output,
        rules.fewshot_figure.output,
