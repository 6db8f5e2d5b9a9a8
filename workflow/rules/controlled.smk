# The controlled experiment's analysis (issue 17): each trained model (training.smk) on every label view
# of each evaluated dataset, from its ordinary store entries (no extraction of its own); tables/controlled.csv
# adds the trained models' RDM correlation with the text encoder from the rsa stage; its figure.
# Without a `controlled` section the stage is empty.
from vlgen.tasks.views import CLASS_VIEW, controlled_views

CONTROLLED = RUN.section("controlled")
CONTROLLED_MODELS = RUN.controlled_models
try:
    CONTROLLED_VIEWS = controlled_views(RUN) if CONTROLLED_MODELS else {}
except ConfigError as exc:
    sys.exit(f"vlgen: invalid configuration: {exc}")
TEXT_ENCODER = CONTROLLED.get("text_encoder")
# A dataset's `class` view is the battery's own few-shot and default-probe numbers (fewshot.smk,
# transfer.smk: the same functions, settings and seeds) where the battery computes both: read, not
# computed twice. controlled_evaluate runs the other views, and does not run on a class-only dataset.
CLASS_FROM_BATTERY = sorted(d for d, views in CONTROLLED_VIEWS.items()
                            if CLASS_VIEW in views and d in RUN.task_datasets("fewshot") and d in TRANSFER_DATASETS
                            and "default" in TRANSFER_PRESETS)
EVALUATED_VIEWS = {d: kept for d, views in CONTROLLED_VIEWS.items()
                   if (kept := [v for v in views if not (v == CLASS_VIEW and d in CLASS_FROM_BATTERY)])}
# r_text needs the text encoder among the models RSA compares.
CONTROLLED_RSA = [rules.rsa_correlations.output.table] if RSA_ACTIVE and TEXT_ENCODER in RUN.models else []


rule controlled_evaluate:
    input:
        train=lambda wc: manifest(wc.model, wc.dataset, "train"),
        test=lambda wc: manifest(wc.model, wc.dataset, "test"),
        # the views' labels are read from the dataset itself (annotations), not from the store
        data=lambda wc: [PREPARED[wc.dataset]] if wc.dataset in PREPARED and EVALUATED_VIEWS[wc.dataset] != [CLASS_VIEW] else [],
    output:
        f"{RESULTS}/controlled/{{model}}/{{dataset}}.csv",
    params:
        views=lambda wc: EVALUATED_VIEWS[wc.dataset],
        fewshot={k: FEWSHOT[k] for k in ("shots", "trials", "seed", "presets")},
        transfer=TRANSFER_SETTINGS["default"],
        seed=TRANSFER.get("seed", 0),
        root=lambda wc: RUN.dataset_root(wc.dataset),
        dataset=lambda wc: RUN.dataset_payload(wc.dataset),
        task_version={"fewshot": task_version("fewshot"), "transfer": task_version("transfer")},
    group:
        "evaluate"
    threads: 1
    conda:
        ENV
    log:
        f"{RESULTS}/logs/controlled_evaluate/{{model}}/{{dataset}}.log",
    script:
        "../scripts/controlled_evaluate.py"


rule controlled_table:
    input:
        scores=expand(f"{RESULTS}/controlled/{{model}}/{{dataset}}.csv", model=CONTROLLED_MODELS, dataset=list(EVALUATED_VIEWS)),
        class_fewshot=expand(f"{RESULTS}/fewshot/{{model}}/{{dataset}}.csv", model=CONTROLLED_MODELS, dataset=CLASS_FROM_BATTERY),
        class_transfer=expand(f"{RESULTS}/transfer/{{model}}/{{dataset}}/default.csv", model=CONTROLLED_MODELS,
                              dataset=CLASS_FROM_BATTERY),
        rsa=CONTROLLED_RSA,
    output:
        report(f"{RESULTS}/tables/controlled.csv", category="Controlled experiment", caption="../report/controlled_table.rst"),
    params:
        identities={m: [RUN.recipe_of(m), RUN.seed_of(m)] for m in CONTROLLED_MODELS},
        text_model=TEXT_ENCODER,
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/controlled_table.log",
    script:
        "../scripts/controlled_table.py"


rule controlled_figure:
    input:
        rules.controlled_table.output,
    output:
        png=report(f"{RESULTS}/figures/controlled.png", category="Controlled experiment", caption="../report/controlled_figure.rst"),
        pdf=f"{RESULTS}/figures/controlled.pdf",
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/controlled_figure.log",
    script:
        "../scripts/controlled_figure.py"


rule controlled:
    input:
        [rules.controlled_table.output, rules.controlled_figure.output] if CONTROLLED_MODELS else [],
