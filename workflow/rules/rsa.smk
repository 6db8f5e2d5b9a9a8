# Representational similarity analysis (CPU): an RDM per (model, dataset) from cached features, one
# correlation table over every pair of models (bootstrap intervals, clade support), Figure 3 and its
# stability figure, and each dataset's RDMs in rsatoolbox's HDF5 format. Adding a model adds its RDMs
# and reruns the table, the figures and the exports only.
from dataclasses import asdict

from vlgen.tasks.rsa import rdm_method, rdm_split, rsa_datasets, rsa_split

RSA = RUN.section("rsa")
try:
    RSA_DATASETS = rsa_datasets(RUN)
except ConfigError as exc:
    sys.exit(f"vlgen: invalid configuration: {exc}")
# RSA compares models: with fewer than two there is nothing to compare and the stage is empty.
RSA_ACTIVE = bool(RSA_DATASETS) and len(RUN.models) >= 2


rule rsa_rdm:
    input:
        lambda wc: manifest(wc.model, wc.dataset, rdm_split(RUN, wc.model, wc.dataset)),
    output:
        f"{RESULTS}/rsa/rdms/{{model}}/{{dataset}}.npz",
    params:
        # the model's catalog `rsa_std` (TSM: per_dim) overrides the paper preset's scalar std
        method=lambda wc: asdict(
            rdm_method(RSA, RUN.is_text_model(wc.model), RUN.model_spec(wc.model).get("rsa_std"))
        ),
        root=lambda wc: RUN.dataset_root(wc.dataset),
        dataset=lambda wc: RUN.dataset_payload(wc.dataset),  # class names: an image key leaves them out
        task_version=task_version("rsa"),
    group:
        "evaluate"
    threads: 1
    conda:
        ENV
    log:
        f"{RESULTS}/logs/rsa_rdm/{{model}}/{{dataset}}.log",
    script:
        "../scripts/rsa_rdm.py"


rule rsa_correlations:
    input:
        expand(f"{RESULTS}/rsa/rdms/{{model}}/{{dataset}}.npz", dataset=RSA_DATASETS, model=RUN.models),
    output:
        table=report(f"{RESULTS}/tables/rdm_correlations.csv", category="RSA", caption="../report/rsa_table.rst"),
        clades=report(f"{RESULTS}/tables/rdm_clade_support.csv", category="RSA", caption="../report/rsa_clades.rst"),
    params:
        models=RUN.models,
        datasets=RSA_DATASETS,
        # what the table's numbers and its caption depend on (not the figure's or the claims' settings)
        settings={k: v for k, v in RSA.items() if k not in ("claims_datasets", "tsne_perplexity", "tsne_learning_rate")},
        task_version=task_version("rsa"),
    threads: 1
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/rsa_correlations.log",
    script:
        "../scripts/rsa_correlations.py"


rule rsa_export:
    input:
        lambda wc: expand(f"{RESULTS}/rsa/rdms/{{model}}/{wc.dataset}.npz", model=RUN.models),
    output:
        report(f"{RESULTS}/tables/rdms_{{dataset}}.hdf5", category="RSA", caption="../report/rsa_export.rst"),
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/rsa_export/{{dataset}}.log",
    script:
        "../scripts/rsa_export.py"


rule rsa_figure:
    input:
        table=rules.rsa_correlations.output.table,
        clades=rules.rsa_correlations.output.clades,
    output:
        png=report(f"{RESULTS}/figures/fig3_rsa.png", category="RSA", caption="../report/rsa_figure.rst"),
        pdf=f"{RESULTS}/figures/fig3_rsa.pdf",
    params:
        models=RUN.models,
        families=RUN.drawn_families(RUN.models),
        # what the figure and its caption show (not the claims' datasets, the permutation or resample counts)
        settings={
            k: v for k, v in RSA.items() if k not in ("claims_datasets", "permutations", "bootstrap_resamples")
        },
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/rsa_figure.log",
    script:
        "../scripts/rsa_figure.py"


rule rsa_stability_figure:
    input:
        table=rules.rsa_correlations.output.table,
        clades=rules.rsa_correlations.output.clades,
    output:
        png=report(f"{RESULTS}/figures/fig3_rsa_stability.png", category="RSA", caption="../report/rsa_stability.rst"),
        pdf=f"{RESULTS}/figures/fig3_rsa_stability.pdf",
    params:
        models=RUN.models,
        families=RUN.drawn_families(RUN.models),
        settings={k: RSA[k] for k in ("method", "bootstrap_resamples", "seed")},
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/rsa_stability_figure.log",
    script:
        "../scripts/rsa_stability_figure.py"


rule rsa:
    input:
        (
            [
                rules.rsa_figure.output,
                rules.rsa_stability_figure.output,
                expand(rules.rsa_export.output, dataset=RSA_DATASETS),
            ]
            if RSA_ACTIVE
            else []
        ),
