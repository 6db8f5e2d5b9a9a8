# The controlled experiment's training stage (vlgen.training): one job per training key, on a GPU when
# there is one (claimed like extraction's), else on the CPU. A shell rule calling `vlgen train`: its
# output is the manifest only, so Snakemake never deletes the resumable `.{key}.partial/` checkpoint nor
# the published entry, and a rerun after a kill resumes from the last whole epoch. Included after
# weights.smk and before features.smk: a trained model's extraction waits for its manifest and reads
# the published folder as its weights (`random` is the seeded initialisation: nothing to wait for).
TRAINED_MODELS = [m for m in RUN.controlled_models if m not in RUN.untrained_models]
TRAINING_PAYLOADS = {RUN.training_key(m): RUN.training_payload(m) for m in TRAINED_MODELS}
TRAIN_DATASET = RUN.section("controlled").get("train_dataset")
TEXT_ENCODER = RUN.controlled_text_encoder
TEXT_PIN = model_pin(TEXT_ENCODER, RUN.model_spec(TEXT_ENCODER)) if TEXT_ENCODER else None
# Per training key: the text encoder's weights files and ` --text-weights PATH` (a pinned encoder only).
TEXT_PINNED = {key: bool(TEXT_PIN) and "text_encoder" in payload for key, payload in TRAINING_PAYLOADS.items()}
TEXT_INPUTS = {key: [f.path for f in TEXT_PIN.files] if pinned else [] for key, pinned in TEXT_PINNED.items()}
TEXT_OPTION = {key: f" --text-weights {shlex.quote(TEXT_PIN.argument)}" if pinned else ""
               for key, pinned in TEXT_PINNED.items()}
TRAINED_DIRS = {m: f"{STORE}/trained/{RUN.training_key(m)}" for m in TRAINED_MODELS}
for _job in FEATURE_JOBS:
    if _job.model in TRAINED_DIRS:
        WEIGHTS_INPUTS[_job.key] = [f"{TRAINED_DIRS[_job.model]}.json"]
        WEIGHTS_OPTION[_job.key] = f" --weights {shlex.quote(TRAINED_DIRS[_job.model])}"


rule train_model:
    input:
        [path for path in (PREPARED.get(TRAIN_DATASET), CHECKED.get(TRAIN_DATASET)) if path],
        lambda wc: TEXT_INPUTS[wc.key],
    output:
        f"{STORE}/trained/{{key}}.json",
    params:
        payload=lambda wc: canonical_json(TRAINING_PAYLOADS[wc.key]),
        dataset=canonical_json(RUN.dataset_payload(TRAIN_DATASET)) if TRAIN_DATASET else "",
        store=lambda wc, output: Path(output[0]).parent.parent,
        root=RUN.dataset_root(TRAIN_DATASET) if TRAIN_DATASET else "",
        text_weights=lambda wc: TEXT_OPTION[wc.key],
    wildcard_constraints:
        key="|".join(TRAINING_PAYLOADS) or "^$",
    resources:
        gpu=1,
        device="auto",
    threads: RUN.section("controlled").get("threads", 2)
    conda:
        ENV
    log:
        "results/logs/train_model/{key}.log",
    shell:
        "python -m vlgen train --payload {params.payload:q} --dataset-spec {params.dataset:q} --store {params.store:q}"
        " --dataset-root {params.root:q}{params.text_weights} --expect-key {wildcards.key}"
        " --device {resources.device} --threads {threads} > {log} 2>&1"


rule training:
    input:
        [f"{STORE}/trained/{key}.json" for key in TRAINING_PAYLOADS],
