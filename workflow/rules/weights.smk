# Pinned model weights (vlgen.weights): one download job per file, a local rule since compute nodes
# often have no internet. URL files go to resources/weights/{model}/, hub files to the shared Hugging
# Face cache resources/weights/hub/; an archive (`unpack: tar.gz`) is checked member by member and
# unpacked next to itself. Each file is verified (digest against the pin, the committed
# config/weights.lock and earlier downloads, safe loading) before it counts; a digest the committed
# lock lacks is recorded in resources/weights/weights.lock (a run never writes into config/).
# `snakemake weights` fetches every file of the run (classifier checkpoints included) up front.
import shlex

from vlgen.weights import LOCK_FILE, RECORD_FILE, model_files, model_pin

WEIGHTS_LOCK = str(Path(workflow.basedir) / LOCK_FILE)
WEIGHTS_RECORD = str(Path(workflow.basedir) / RECORD_FILE)
# (the controlled experiment's text encoder too: it need not be a run model)
WEIGHT_FILES = {
    f.path: f
    for m in dict.fromkeys([*RUN.models, *filter(None, [RUN.controlled_text_encoder])])
    for f in model_files(m, RUN.model_spec(m))
}
FEATURE_PINS = {m: model_pin(m, RUN.model_spec(m)) for m in RUN.models}
# Per extraction: the weights files it waits for, and ` --weights PATH` for `vlgen extract` (the
# file, the hub snapshot folder of a text model, or the folder an archive pin is unpacked into by its
# download job: TSM's SavedModel); nothing for models without a pin. Per model, the same option for
# `vlgen transfer-augmented`.
WEIGHTS_INPUTS = {j.key: [f.path for f in FEATURE_PINS[j.model].files] if FEATURE_PINS[j.model] else []
                  for j in FEATURE_JOBS}
MODEL_WEIGHTS_OPTION = {m: f" --weights {shlex.quote(pin.argument)}" if (pin := FEATURE_PINS[m]) else ""
                        for m in RUN.models}
WEIGHTS_OPTION = {j.key: MODEL_WEIGHTS_OPTION[j.model] for j in FEATURE_JOBS}


rule download_weights:
    output:
        "{weights_file}",
    params:
        file=lambda wc: WEIGHT_FILES[wc.weights_file].to_json(),
        lock=WEIGHTS_LOCK,
        record=WEIGHTS_RECORD,
    wildcard_constraints:
        weights_file="|".join(map(re.escape, WEIGHT_FILES)) or "^$",
    localrule: True
    conda:
        ENV
    log:
        "results/logs/download_weights/{weights_file}.log",
    shell:
        "python -m vlgen weights fetch --file {params.file:q} --lock {params.lock:q} --record {params.record:q}"
        " > {log} 2>&1"


rule weights:
    input:
        list(WEIGHT_FILES),
