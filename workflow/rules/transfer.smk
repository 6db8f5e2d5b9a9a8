# Linear-probe transfer. default and paper_cached run on cached features (CPU); paper recomputes
# features from augmented train images every epoch, so it loads the model (GPU).
import shutil

from vlgen.tasks.probe import paper_preset_status, scheduled_presets

TRANSFER = RUN.section("transfer")
TRANSFER_DATASETS = RUN.task_datasets("transfer")
# `paper` needs a GPU; `nvidia-smi` on PATH is the cheap test (importing torch here would cost
# seconds on every Snakemake start). run_paper_preset: always overrides it for a submit node
# without a GPU in front of GPU nodes.
GPU_PRESENT = shutil.which("nvidia-smi") is not None
TRANSFER_PRESETS = scheduled_presets(TRANSFER, gpu_present=GPU_PRESENT)
PAPER_TRANSFER_STATUS = paper_preset_status(TRANSFER, gpu_present=GPU_PRESENT)
# What each preset's job reads of the config: a change elsewhere in `transfer` reruns nothing.
TRANSFER_SETTINGS = {
    "default": TRANSFER.get("logistic", {}),
    "paper_cached": TRANSFER.get("schedule", {}),
    "paper": {**TRANSFER.get("schedule", {}), **TRANSFER.get("augment", {})},
}


rule transfer_probe:
    input:
        train=lambda wc: manifest(wc.model, wc.dataset, "train"),
        test=lambda wc: manifest(wc.model, wc.dataset, "test"),
    output:
        table=f"{RESULTS}/transfer/{{model}}/{{dataset}}/{{preset}}.csv",
        probe=f"{RESULTS}/probes/{{model}}/{{dataset}}/{{preset}}.pt",
    wildcard_constraints:
        preset="default|paper_cached",
    params:
        settings=lambda wc: TRANSFER_SETTINGS[wc.preset],
        seed=TRANSFER.get("seed", 0),
        task_version=task_version("transfer"),
    # As cluster_test_split: one thread unless --set-threads asks for more.
    resources:
        mem_mb=4000,
    group:
        "evaluate"
    threads: 1
    conda:
        ENV
    log:
        f"{RESULTS}/logs/transfer_probe/{{model}}/{{dataset}}/{{preset}}.log",
    script:
        "../scripts/transfer_probe.py"


# A shell rule running `vlgen transfer-augmented`, as extraction (features.smk): it loads the model, so it
# runs in the model's environment (TSM: TensorFlow's, `extraction.tf_python` / envs/tf.yaml).
rule transfer_probe_augmented:
    input:
        train=lambda wc: manifest(wc.model, wc.dataset, "train"),
        test=lambda wc: manifest(wc.model, wc.dataset, "test"),
        # The images themselves: a store on a shared filesystem may hold features of data that is
        # not on this machine.
        data=lambda wc: [path for path in (PREPARED.get(wc.dataset), CHECKED.get(wc.dataset)) if path],
        # The model itself (weights.smk's pin: the files extraction waited for).
        weights=lambda wc: [f.path for f in FEATURE_PINS[wc.model].files] if FEATURE_PINS[wc.model] else [],
    output:
        table=f"{RESULTS}/transfer/{{model}}/{{dataset}}/paper.csv",
        probe=f"{RESULTS}/probes/{{model}}/{{dataset}}/paper.pt",
    params:
        settings=canonical_json(TRANSFER_SETTINGS["paper"]),
        # Per model, not per library: the authors trained CLIP's probe on its own transform only.
        augment=lambda wc: "" if RUN.model_spec(wc.model).get("transfer_augment", True) else " --no-augment",
        seed=TRANSFER.get("seed", 0),
        root=lambda wc: RUN.dataset_root(wc.dataset),
        # To read with: an image key leaves out class names.
        dataset=lambda wc: canonical_json(RUN.dataset_payload(wc.dataset)),
        weights=lambda wc: MODEL_WEIGHTS_OPTION[wc.model],
        python=lambda wc: PYTHONS[ENVIRONMENT_OF_MODEL[wc.model]],
        task_version=task_version("transfer"),
    resources:
        gpu=1,
        device="auto",
        workers=RUN.section("extraction")["workers"],
    threads: RUN.section("extraction")["threads"]
    conda:
        lambda wc: ENV_FILES[ENVIRONMENT_OF_MODEL[wc.model]]
    log:
        f"{RESULTS}/logs/transfer_probe_augmented/{{model}}/{{dataset}}.log",
    shell:
        "{params.python:q} -m vlgen transfer-augmented --train {input.train:q} --test {input.test:q}"
        " --model {wildcards.model:q} --dataset {wildcards.dataset:q} --dataset-spec {params.dataset:q}"
        " --dataset-root {params.root:q}{params.weights} --settings {params.settings:q}{params.augment}"
        " --seed {params.seed} --table {output.table:q} --probe {output.probe:q} --device {resources.device}"
        " --workers {resources.workers} --threads {threads} > {log} 2>&1"


rule transfer_table:
    input:
        expand(
            f"{RESULTS}/transfer/{{model}}/{{dataset}}/{{preset}}.csv",
            model=RUN.image_models,
            dataset=TRANSFER_DATASETS,
            preset=TRANSFER_PRESETS,
        ),
    output:
        report(f"{RESULTS}/tables/transfer.csv", category="Transfer", caption="../report/transfer_table.rst"),
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/transfer_table.log",
    script:
        "../scripts/transfer_table.py"


rule transfer:
    input:
        rules.transfer_table.output,
