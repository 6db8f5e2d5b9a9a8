# Feature extraction into the content-addressed store. A shell rule (not a script) so that a git
# pull does not make Snakemake think the code changed; the output is the manifest only, so the
# Zarr entry is never deleted by Snakemake before a rerun (a complete entry is reused as is).
# A model source names the software environment its models run in (`Source.environment`): TensorFlow
# models (tf_hub: TSM) run `vlgen extract` with the `[tf]` environment's python, `extraction.tf_python`
# (default `python`: under --sdm conda the one of envs/tf.yaml, which the job activates). Same store,
# same keys: the environment is not part of a key.
from vlgen.models.registry import get_source

ENV_FILES = {"main": ENV, "tf": "../../envs/tf.yaml"}
PYTHONS = {"main": "python", "tf": RUN.section("extraction")["tf_python"]}
ENVIRONMENT_OF_KEY = {key: get_source(payload["model"]["source"]).environment for key, payload in PAYLOADS.items()}
# The jobs of transfer.smk that load a model (the `paper` preset) run in its environment too.
ENVIRONMENT_OF_MODEL = {m: get_source(RUN.model_spec(m)["source"]).environment for m in RUN.models}


rule extract_features:
    input:
        dataset_inputs,
        lambda wc: WEIGHTS_INPUTS[wc.key],
    output:
        f"{STORE}/features/{{key}}.json",
    params:
        payload=lambda wc: canonical_json(PAYLOADS[wc.key]),
        # What the data is read with: an image model's key leaves out class names some readers check.
        dataset=lambda wc: canonical_json(RUN.dataset_payload(DATASET_OF_KEY[wc.key])),
        store=lambda wc, output: Path(output[0]).parent.parent,
        root=lambda wc: RUN.dataset_root(DATASET_OF_KEY[wc.key]),
        weights=lambda wc: WEIGHTS_OPTION[wc.key],
        python=lambda wc: PYTHONS[ENVIRONMENT_OF_KEY[wc.key]],
    resources:
        gpu=1,
        batch_size=64,
        workers=RUN.section("extraction")["workers"],
        device="auto",
    threads: RUN.section("extraction")["threads"]
    conda:
        lambda wc: ENV_FILES[ENVIRONMENT_OF_KEY[wc.key]]
    log:
        "results/logs/extract_features/{key}.log",
    shell:
        "{params.python:q} -m vlgen extract --payload {params.payload:q} --dataset-spec {params.dataset:q} --store {params.store:q}"
        " --dataset-root {params.root:q}{params.weights}"
        " --expect-key {wildcards.key} --device {resources.device} --batch-size {resources.batch_size}"
        " --workers {resources.workers} --threads {threads} > {log} 2>&1"


rule features_table:
    input:
        [f"{STORE}/features/{job.key}.json" for job in FEATURE_JOBS],
    output:
        f"{RESULTS}/features.csv",
    params:
        rows=[{"model": j.model, "dataset": j.dataset, "split": j.split, "key": j.key} for j in FEATURE_JOBS],
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/features_table.log",
    script:
        "../scripts/features_table.py"


rule features:
    input:
        rules.features_table.output,
