# summary.md and claims.md (plus HTML renderings for `snakemake --report`) from the task tables this
# workflow produces. A table is an input only if some rule writes it (checked when the DAG is built,
# after every rule file is read), so a stage not (yet) in the workflow, or RSA without two models,
# is reported as absent rather than failing the run.

# Table name -> path; the names are what vlgen.report.summary and vlgen.report.claims read.
TASK_TABLES = {
    "fewshot": f"{RESULTS}/tables/fewshot_summary.csv",
    "clustering": f"{RESULTS}/tables/clustering.csv",
    "transfer": f"{RESULTS}/tables/transfer.csv",
    "attacks": f"{RESULTS}/tables/attacks.csv",
    "rdm_correlations": f"{RESULTS}/tables/rdm_correlations.csv",
    "cka": f"{RESULTS}/tables/cka.csv",
    "controlled": f"{RESULTS}/tables/controlled.csv",
}
INACTIVE_TABLES = (
    (set() if RSA_ACTIVE else {"rdm_correlations"})
    | (set() if CKA_ACTIVE else {"cka"})
    | (set() if ATTACK_JOBS else {"attacks"})
    | (set() if CONTROLLED_MODELS else {"controlled"})
)


rule summarise_run:
    input:
        unpack(
            lambda wc: {
                name: path
                for name, path in TASK_TABLES.items()
                if name not in INACTIVE_TABLES and any(path in map(str, r.output) for r in workflow.rules)
            }
        ),
    output:
        summary=f"{RESULTS}/summary.md",
        claims=f"{RESULTS}/claims.md",
        summary_html=report(f"{RESULTS}/summary.html", category="Summary", caption="../report/summary.rst"),
        claims_html=report(f"{RESULTS}/claims.html", category="Summary", caption="../report/claims.rst"),
    params:
        run=RUN.run,
        families={m: RUN.model_spec(m)["family"] for m in RUN.models},
        datasets=RUN.datasets,
        settings={task: RUN.section(task) for task in ("fewshot", "clustering", "transfer", "rsa")},
        untrained=RUN.untrained_models,
        rsa_claims_datasets=RSA.get("claims_datasets", ["imagenet-val"]),
        attack_claims_heads=ATTACK_PLAN.claims_heads,
        notes={"transfer": PAPER_TRANSFER_STATUS},
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/summarise_run.log",
    script:
        "../scripts/summarise_run.py"


rule summaries:
    input:
        rules.summarise_run.output,
