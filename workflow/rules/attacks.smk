# Adversarial robustness (workflow/PROTOCOL.md): foolbox PGD per (model, dataset, head, norm, mode) on
# the GPU, the attack table, Figure 2. An attack reads the model's store entry (its payload loads the
# network), the images, the weights and its head; its params are exactly what changes its numbers
# (vlgen.attacks.settings), so changing an attack setting reruns attacks, Figure 2 and the reports only.
from vlgen.attacks.settings import AttackJob, AttackPlan
from vlgen.weights import classifier_pin

try:
    ATTACK_PLAN = AttackPlan(RUN)
except ConfigError as exc:
    sys.exit(f"vlgen: invalid configuration: {exc}")
ATTACKS = RUN.section("attacks")
ATTACK_JOBS = ATTACK_PLAN.jobs()
ATTACK_DATASETS = ATTACK_PLAN.datasets
CLASSIFIER_PINS = {m: classifier_pin(m, RUN.model_spec(m)) for m in RUN.image_models}
# Per model: its feature weights (probe and zero-shot heads load the feature model) and its classifier's.
FEATURE_FILES = {m: [f.path for f in FEATURE_PINS[m].files] if FEATURE_PINS[m] else [] for m in RUN.image_models}
CLASSIFIER_FILES = {m: [f.path for f in pin.files] if pin else [] for m, pin in CLASSIFIER_PINS.items()}
FEATURE_ARGUMENT = {m: FEATURE_PINS[m].argument if FEATURE_PINS[m] else None for m in RUN.image_models}
CLASSIFIER_ARGUMENT = {m: pin.argument if pin else None for m, pin in CLASSIFIER_PINS.items()}
# The catalog's `classifier` (not in the key payload): where a native head's checkpoint comes from.
CLASSIFIER_FIELD = {m: {"classifier": RUN.model_spec(m)["classifier"]} if "classifier" in RUN.model_spec(m) else {}
                    for m in RUN.image_models}
ATTACK_SPLIT = {d: ATTACK_PLAN.split(d) for d in ATTACK_DATASETS}
# The probe head: the transfer task's `default` probe where the dataset has a train split, else one
# trained on the attacked split's images that are not attacked (attack_probe_head).
TRANSFER_PROBE_DATASETS = set(TRANSFER_DATASETS) if "default" in TRANSFER_PRESETS else set()
PROBE_HEAD = {
    (m, d): f"{RESULTS}/probes/{m}/{d}/default.pt" if d in TRANSFER_PROBE_DATASETS
    else f"{RESULTS}/attacks/heads/{m}/{d}/probe.pt"
    for m in RUN.image_models
    for d in ATTACK_DATASETS
}
# A native head with a catalog `expected_top1`, attacked on ImageNet, is checked on the whole split first.
SANITY_CHECK = {
    (m, d): f"{RESULTS}/attacks/sanity/{m}/{d}.json"
    for m in RUN.image_models
    for d in ATTACK_DATASETS
    if ATTACK_PLAN.expected_top1(m) is not None and RUN.dataset_spec(d)["reader"] == "imagenet"
}
ATTACK_INPUTS = {
    (j.model, j.dataset, j.head): {
        "manifest": manifest(j.model, j.dataset, ATTACK_SPLIT[j.dataset]),
        "data": [p for p in (PREPARED.get(j.dataset), CHECKED.get(j.dataset)) if p],
        "weights": CLASSIFIER_FILES[j.model] if j.head == "native" else FEATURE_FILES[j.model],
        **({"probe": PROBE_HEAD[j.model, j.dataset]} if j.head == "probe" else {}),
        "sanity": SANITY_CHECK.get((j.model, j.dataset), []) if j.head == "native" else [],
    }
    for j in ATTACK_JOBS
}


rule attack:
    input:
        unpack(lambda wc: ATTACK_INPUTS[wc.model, wc.dataset, wc.head]),
    output:
        f"{RESULTS}/attacks/{{model}}/{{dataset}}/{{head}}_{{norm}}_{{mode}}.npz",
    wildcard_constraints:
        head="native|zeroshot|probe",
        norm="l2|linf",
        mode="untargeted|targeted",
    params:
        settings=lambda wc: ATTACK_PLAN.job_settings(AttackJob(wc.model, wc.dataset, wc.head, wc.norm, wc.mode)),
        root=lambda wc: RUN.dataset_root(wc.dataset),
        classifier=lambda wc: CLASSIFIER_FIELD[wc.model],
        weights=lambda wc: FEATURE_ARGUMENT[wc.model],
        classifier_weights=lambda wc: CLASSIFIER_ARGUMENT[wc.model] if wc.head == "native" else None,
    # Batch size and device change no number (the random starts are drawn per batch: see vlgen.attacks.pgd).
    resources:
        gpu=1,
        device="auto",
        attack_batch=32,
    threads: 2
    conda:
        ENV
    log:
        f"{RESULTS}/logs/attack/{{model}}/{{dataset}}/{{head}}_{{norm}}_{{mode}}.log",
    script:
        "../scripts/attack_run.py"


rule attack_probe_head:
    input:
        manifest=lambda wc: manifest(wc.model, wc.dataset, ATTACK_SPLIT[wc.dataset]),
    output:
        f"{RESULTS}/attacks/heads/{{model}}/{{dataset}}/probe.pt",
    params:
        n_images=ATTACKS.get("n_images", 1000),
        selection_seed=ATTACKS.get("selection_seed", 42),
        schedule=TRANSFER.get("schedule", {}),
        seed=TRANSFER.get("seed", 0),
    threads: 1
    conda:
        ENV
    log:
        f"{RESULTS}/logs/attack_probe_head/{{model}}/{{dataset}}.log",
    script:
        "../scripts/attack_probe_head.py"


rule attack_head_sanity:
    input:
        manifest=lambda wc: manifest(wc.model, wc.dataset, ATTACK_SPLIT[wc.dataset]),
        data=lambda wc: [p for p in (PREPARED.get(wc.dataset), CHECKED.get(wc.dataset)) if p],
        weights=lambda wc: CLASSIFIER_FILES[wc.model],
    output:
        f"{RESULTS}/attacks/sanity/{{model}}/{{dataset}}.json",
    params:
        expected_top1=lambda wc: ATTACK_PLAN.expected_top1(wc.model),
        classifier=lambda wc: CLASSIFIER_FIELD[wc.model],
        classifier_weights=lambda wc: CLASSIFIER_ARGUMENT[wc.model],
        normalisation=lambda wc: ATTACK_PLAN.normalisation(wc.model),
        geometry=lambda wc: ATTACK_PLAN.geometry(wc.model),
        split=lambda wc: ATTACK_SPLIT[wc.dataset],
        root=lambda wc: RUN.dataset_root(wc.dataset),
    resources:
        gpu=1,
        device="auto",
        attack_batch=64,
        workers=2,
    threads: 2
    conda:
        ENV
    log:
        f"{RESULTS}/logs/attack_head_sanity/{{model}}/{{dataset}}.log",
    script:
        "../scripts/attack_head_sanity.py"


rule attack_table:
    input:
        [f"{RESULTS}/attacks/{j.model}/{j.dataset}/{j.name}.npz" for j in ATTACK_JOBS],
    output:
        report(f"{RESULTS}/tables/attacks.csv", category="Attacks", caption="../report/attacks_table.rst"),
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/attack_table.log",
    script:
        "../scripts/attack_table.py"


rule draw_figure2:
    input:
        rules.attack_table.output,
    output:
        png=report(f"{RESULTS}/figures/fig2_adversarial.png", category="Figure 2", caption="../report/figure2.rst"),
        pdf=f"{RESULTS}/figures/fig2_adversarial.pdf",
    params:
        families=RUN.drawn_families(RUN.image_models),
        column="success_rate_raw" if ATTACKS.get("figure_rate", "cumulative") == "raw" else "success_rate",
        title=f"PGD, {ATTACKS.get('steps', 100)} steps, step {ATTACKS.get('rel_stepsize', 0.025):g} x epsilon, "
        f"{ATTACKS.get('n_images', 1000)} images, untargeted",
        attacks=ATTACKS,
    localrule: True
    conda:
        ENV
    log:
        f"{RESULTS}/logs/draw_figure2.log",
    script:
        "../scripts/attack_figure.py"


rule attacks:
    input:
        rules.draw_figure2.output if ATTACK_JOBS else [],
