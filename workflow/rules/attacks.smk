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
# Datasets whose `default` transfer probe is the probe head; others get one trained on the images not attacked.
TRANSFER_PROBE_DATASETS = set(TRANSFER_DATASETS) if "default" in TRANSFER_PRESETS else set()


def attack_split(wc):
    return ATTACK_PLAN.split(wc.dataset)


def pin_files(pin):
    return [f.path for f in pin.files] if pin else []


def probe_head(model, dataset):
    if dataset in TRANSFER_PROBE_DATASETS:
        return f"{RESULTS}/probes/{model}/{dataset}/default.pt"
    return f"{RESULTS}/attacks/heads/{model}/{dataset}/probe.pt"


def sanity_checked(model, dataset):
    """A native head with a catalog `expected_top1`, attacked on ImageNet, is checked on the whole split first."""
    spec = RUN.dataset_spec(dataset)
    return ATTACK_PLAN.expected_top1(model) is not None and spec["reader"] == "imagenet"


def attack_inputs(wc):
    inputs = {
        "manifest": manifest(wc.model, wc.dataset, attack_split(wc)),
        "data": [p for p in (PREPARED.get(wc.dataset), CHECKED.get(wc.dataset)) if p],
        "weights": pin_files(FEATURE_PINS[wc.model]) if wc.head != "native" else pin_files(CLASSIFIER_PINS[wc.model]),
    }
    if wc.head == "probe":
        inputs["probe"] = probe_head(wc.model, wc.dataset)
    if wc.head == "native" and sanity_checked(wc.model, wc.dataset):
        inputs["sanity"] = f"{RESULTS}/attacks/sanity/{wc.model}/{wc.dataset}.json"
    return inputs


def job_settings(wc):
    return ATTACK_PLAN.job_settings(AttackJob(wc.model, wc.dataset, wc.head, wc.norm, wc.mode))


def classifier_field(wc):
    """The catalog's `classifier` (not in the key payload): where the native head's checkpoint comes from."""
    spec = RUN.model_spec(wc.model)
    return {"classifier": spec["classifier"]} if "classifier" in spec else {}


def pin_argument(pin):
    return pin.argument if pin else None


rule attack:
    input:
        unpack(attack_inputs),
    output:
        f"{RESULTS}/attacks/{{model}}/{{dataset}}/{{head}}_{{norm}}_{{mode}}.npz",
    wildcard_constraints:
        head="native|zeroshot|probe",
        norm="l2|linf",
        mode="untargeted|targeted",
    params:
        settings=job_settings,
        root=lambda wc: RUN.dataset_root(wc.dataset),
        classifier=classifier_field,
        weights=lambda wc: pin_argument(FEATURE_PINS[wc.model]),
        classifier_weights=lambda wc: pin_argument(CLASSIFIER_PINS[wc.model]) if wc.head == "native" else None,
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
        manifest=lambda wc: manifest(wc.model, wc.dataset, attack_split(wc)),
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
        manifest=lambda wc: manifest(wc.model, wc.dataset, attack_split(wc)),
        data=lambda wc: [p for p in (PREPARED.get(wc.dataset), CHECKED.get(wc.dataset)) if p],
        weights=lambda wc: pin_files(CLASSIFIER_PINS[wc.model]),
    output:
        f"{RESULTS}/attacks/sanity/{{model}}/{{dataset}}.json",
    params:
        expected_top1=lambda wc: ATTACK_PLAN.expected_top1(wc.model),
        classifier=classifier_field,
        classifier_weights=lambda wc: pin_argument(CLASSIFIER_PINS[wc.model]),
        normalisation=lambda wc: ATTACK_PLAN.normalisation(wc.model),
        geometry=lambda wc: ATTACK_PLAN.geometry(wc.model),
        split=attack_split,
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
        families={m: RUN.model_spec(m)["family"] for m in RUN.image_models},
        column="success_rate_raw" if ATTACKS.get("figure_rate", "cumulative") == "raw" else "success_rate",
        title=f"PGD, {ATTACKS.get('steps', 100)} steps, step {ATTACKS.get('rel_stepsize', 0.025):g} x epsilon, "
        f"{ATTACKS.get('n_images', 1000)} images, untargeted",
        attacks=ATTACKS,
    conda:
        ENV
    log:
        f"{RESULTS}/logs/draw_figure2.log",
    script:
        "../scripts/attack_figure.py"


rule attacks:
    input:
        rules.draw_figure2.output if ATTACK_JOBS else [],
