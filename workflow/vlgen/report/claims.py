"""claims.md: each qualitative finding of the paper, checked against this run's numbers.

PROTOCOL.md, "What the paper found". Each claim is made checkable (the operational reading is
printed with it) and marked `holds`, `does not hold`, `not measured` when this run lacks the
models, families or tables it needs, or `not meaningful: untrained (names)` when only models without
trained weights (random initialisations, like the demo's) could be compared: their numbers exercise the
plumbing and say nothing about the paper.

Claims are about trained models: untrained ones are left out of every comparison. Task claims compare
models by their mean score over the datasets all compared models have (the quantity of the paper's
Figure 1), separately under the paper's protocol (few-shot `paper`, clustering `greedy`, transfer
`paper` if the run has it for any model, else `paper_cached`) and the corrected one (`default`,
`hungarian`, `default`). A protocol never mixes presets: where a compared model lacks the protocol's
rows for a task, that protocol's verdict is `not measured` and names the model. RSA claims use model
distance 1 - r, on the RSA datasets named in `rsa.claims_datasets` (the paper's: ImageNet `val`).

CKA compares image models only (text models have no images), so under CKA only the ordering among
image models is judged (`CKA_CLAIMS`, on the same datasets), and those verdicts are reported in their
own section, apart from the RSA verdicts: two similarity measures agreeing is itself a finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from vlgen.report.document import Document
from vlgen.report.summary import check_columns, task_scores

HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured"
NOT_MEANINGFUL = "not meaningful"
VISION, MULTIMODAL, TEXT = "vision", "vision-language", "text"
# (task, variant) -> protocol. Few-shot and transfer presets are named after their protocol.
PROTOCOL_OF_VARIANT = {("clustering", "greedy"): "paper", ("clustering", "hungarian"): "default",
                       ("transfer", "paper_cached"): "paper"}
PROTOCOLS = ("paper", "default")
# The paper's models named in its claims (catalog names of config/models/paper.yaml).
BEST_MODEL = "BiT-M"
LESS_ROBUST = ("CLIP", "VirTex")
MORE_ROBUST = ("RN50", "SIN+IN", "BiT-M")
ADVERSARIALLY_TRAINED = ("AR-L2", "AR-LI4", "AR-LI8")
RSA_VISION_DISTANCE = 0.2
ATTACK_COLUMNS = ("model", "head", "norm", "targeted", "epsilon", "success_rate")
# Per model, the first head of these it was attacked with is the one the robustness claims judge
# (config `attacks.claims_head`): the model's own classifier where it has one, else a trained probe.
CLAIMS_HEADS = ("native", "probe")


@dataclass(frozen=True)
class Verdict:
    """One claim checked in one scope (a protocol, an attack norm, an RSA dataset)."""

    claim: str
    scope: str
    verdict: str
    evidence: str


@dataclass(frozen=True)
class Claim:
    """A finding of the paper, how this project checks it, what the check needs, and the check itself.

    `check(tables, families)` returns (scope, verdict, evidence) for every scope it could measure,
    comparing only the models named in `families`.
    """

    statement: str
    checked_as: str
    needs: str
    check: Callable[[Mapping[str, pd.DataFrame], Mapping[str, str]], list[tuple[str, str, str]]]


# -- task claims (few-shot, clustering, transfer) ------------------------------------------------
def protocol_scores(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """`task_scores` with a `protocol` column and one transfer preset per protocol.

    The paper protocol's transfer is `paper` (features of augmented images, the authors' runs) when
    the run has it for any model, else `paper_cached` for all: never one model's `paper` beside
    another's `paper_cached`.
    """
    scores = task_scores(tables)
    scores["protocol"] = [PROTOCOL_OF_VARIANT.get((t, v), v) for t, v in zip(scores["task"], scores["variant"])]
    transfer = scores["task"] == "transfer"
    dropped = "paper_cached" if (transfer & (scores["variant"] == "paper")).any() else "paper"
    return scores[~(transfer & (scores["variant"] == dropped)) & scores["protocol"].isin(PROTOCOLS)]


def dataset_means(scores: pd.DataFrame, models: Sequence[str]) -> pd.Series:
    """Per model, the mean score over the datasets every one of `models` has (one task, one variant)."""
    rows = scores[scores["model"].isin(models)]
    shared = rows.pivot_table(index="model", columns="dataset", values="score", aggfunc="first").dropna(axis=1)
    return shared.mean(axis=1) if len(shared.columns) else pd.Series(dtype=float)


def _image_models(families: Mapping[str, str]) -> list[str]:
    return [m for m, f in families.items() if f != TEXT]


def _of(families: Mapping[str, str], family: str) -> list[str]:
    return [m for m, f in families.items() if f == family]


def _task_verdicts(tables: Mapping[str, pd.DataFrame], models: Sequence[str],
                   judge: Callable[[str, pd.Series], tuple[bool, str] | None]) -> list[tuple]:
    """One verdict per protocol: `judge(task, means)` -> (holds, evidence line) or None, for each task.

    A task where some of `models` have no row under the protocol's variant makes the whole protocol
    `not measured` (naming them): a verdict over a subset of the models would compare unlike with unlike.
    """
    scores = protocol_scores(tables)
    verdicts = []
    for protocol in PROTOCOLS:
        lines, failed, missing = [], [], []
        for (task, variant), group in scores[scores["protocol"] == protocol].groupby(["task", "variant"], sort=False):
            absent = [m for m in models if m not in set(group["model"])]
            if absent:
                missing.append(f"{task} `{variant}` has no rows for {', '.join(absent)}")
                continue
            judged = judge(task, dataset_means(group, models))
            if judged is not None:
                lines.append(judged[1])
                if not judged[0]:
                    failed.append(task)
        scope = f"{protocol} protocol"
        if missing:
            verdicts.append((scope, NOT_MEASURED, "; ".join(missing)))
        elif lines:
            verdicts.append((scope, FAILS if failed else HOLDS,
                             "; ".join(lines) + (f". Fails on: {', '.join(failed)}" if failed else "")))
    return verdicts


def check_multimodal_not_better(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> list[tuple]:
    vision, multimodal = _of(families, VISION), _of(families, MULTIMODAL)
    if not vision or not multimodal:
        return []

    def judge(task: str, means: pd.Series) -> tuple[bool, str] | None:
        best_v, best_m = means.reindex(vision).dropna(), means.reindex(multimodal).dropna()
        if best_v.empty or best_m.empty:
            return None
        v, m = best_v.idxmax(), best_m.idxmax()
        return (best_m[m] <= best_v[v],
                f"{task}: best vision {v} {best_v[v]:.3f}, best vision-language {m} {best_m[m]:.3f}")

    return _task_verdicts(tables, vision + multimodal, judge)


def check_best_model(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> list[tuple]:
    models = _image_models(families)
    if BEST_MODEL not in families or len(models) < 2:
        return []

    def judge(task: str, means: pd.Series) -> tuple[bool, str] | None:
        if BEST_MODEL not in means.index or len(means) < 2:
            return None
        winner = means.idxmax()
        return (means[winner] <= means[BEST_MODEL],
                f"{task}: {BEST_MODEL} {means[BEST_MODEL]:.3f}, best {winner} {means[winner]:.3f}")

    return _task_verdicts(tables, models, judge)


# -- robustness claims (attacks) -----------------------------------------------------------------
def claims_attack_rows(table: pd.DataFrame, heads: Sequence[str] = CLAIMS_HEADS) -> pd.DataFrame:
    """The untargeted rows of one head per model: the first of `heads` the model was attacked with.

    The paper's robustness findings are about untargeted attacks on one classifier per model;
    averaging a model's heads or modes together would compare unlike things.
    """
    missing = [c for c in ATTACK_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"attack table lacks columns {missing}")
    untargeted = table[~table["targeted"].astype(bool)]
    chosen = {model: next((h for h in heads if h in set(rows["head"])), None)
              for model, rows in untargeted.groupby("model", sort=False)}
    return untargeted[[chosen[m] == h for m, h in zip(untargeted["model"], untargeted["head"])]]


def attack_means(tables: Mapping[str, pd.DataFrame], models: Sequence[str]) -> dict[str, pd.Series]:
    """Per norm, each of `models`' mean success rate over the epsilons all of them that were attacked share
    (the table as `claims_attack_rows` narrowed it: one head per model, untargeted)."""
    if "attacks" not in tables:
        return {}
    table = tables["attacks"]
    missing = [c for c in ATTACK_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"attack table lacks columns {missing}")
    table = table[table["model"].isin(models)]
    out = {}
    for norm, rows in table.groupby("norm", sort=False):
        matrix = rows.pivot_table(index="model", columns="epsilon", values="success_rate", aggfunc="first")
        out[str(norm)] = matrix.dropna(axis=1).mean(axis=1)
    return out


def _robustness_verdicts(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str],
                         groups: Callable[[list[str]], tuple[list[str], list[str]]]) -> list[tuple]:
    """Per norm: does every model of the first group have a higher mean success rate than every one of the second?

    `groups` picks (less robust, more robust) among the attacked models; a norm where either group
    is empty is not measured.
    """
    verdicts = []
    for norm, means in attack_means(tables, list(families)).items():
        weaker, stronger = groups(list(means.index))
        if not weaker or not stronger:
            continue
        evidence = ", ".join(f"{m} {means[m]:.3f}" for m in [*weaker, *stronger])
        verdict = HOLDS if means[weaker].min() > means[stronger].max() else FAILS
        verdicts.append((f"attack {norm}", verdict, f"mean success rate over the shared epsilons: {evidence}"))
    return verdicts


def check_clip_virtex_less_robust(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> list[tuple]:
    return _robustness_verdicts(tables, families, lambda attacked: ([m for m in LESS_ROBUST if m in attacked],
                                                          [m for m in MORE_ROBUST if m in attacked]))


def check_adversarial_training_robust(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> list[tuple]:
    return _robustness_verdicts(tables, families,
                                lambda attacked: ([m for m in attacked if m not in ADVERSARIALLY_TRAINED],
                                                          [m for m in ADVERSARIALLY_TRAINED if m in attacked]))


# -- RSA claims ----------------------------------------------------------------------------------
def _pair_distances(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """Per RSA dataset: model_a, model_b, their families (sorted pair of names) and distance 1 - r."""
    if "rdm_correlations" not in tables:
        return {}
    table = tables["rdm_correlations"]
    check_columns("rdm_correlations", table)
    table = table[table["model_a"].isin(families) & table["model_b"].isin(families)]
    pairs = table.assign(
        family_a=table["model_a"].map(families), family_b=table["model_b"].map(families), distance=1 - table["r"])
    return {str(d): rows for d, rows in pairs.groupby("dataset", sort=False)}


def _between(pairs: pd.DataFrame, family_1: str, family_2: str) -> pd.Series:
    """Distances of the pairs with one model of each family (within a family when they are equal)."""
    forward = (pairs["family_a"] == family_1) & (pairs["family_b"] == family_2)
    backward = (pairs["family_a"] == family_2) & (pairs["family_b"] == family_1)
    return pairs.loc[forward | backward, "distance"]


def _rsa_verdicts(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str],
                  judge: Callable[[pd.DataFrame], tuple[bool, str] | None]) -> list[tuple]:
    """One verdict per RSA dataset where `judge` (pairs -> (holds, evidence) or None) can decide."""
    verdicts = []
    for dataset, pairs in _pair_distances(tables, families).items():
        judged = judge(pairs)
        if judged is not None:
            holds, evidence = judged
            verdicts.append((f"RSA on {dataset}", HOLDS if holds else FAILS, evidence))
    return verdicts


def _vision_cluster(pairs: pd.DataFrame) -> tuple[bool, str] | None:
    within = _between(pairs, VISION, VISION)
    if within.empty:
        return None
    return (within.max() < RSA_VISION_DISTANCE,
            f"{len(within)} vision-vision pairs, 1 - r from {within.min():.3f} to {within.max():.3f}")


def _multimodal_further(pairs: pd.DataFrame) -> tuple[bool, str] | None:
    within, across = _between(pairs, VISION, VISION), _between(pairs, MULTIMODAL, VISION)
    if within.empty or across.empty:
        return None
    return (across.mean() > within.mean(),
            f"mean 1 - r: vision-language to vision {across.mean():.3f}, vision to vision {within.mean():.3f}")


def _language_furthest(pairs: pd.DataFrame) -> tuple[bool, str] | None:
    text, multimodal = _between(pairs, TEXT, VISION), _between(pairs, MULTIMODAL, VISION)
    if text.empty or multimodal.empty:
        return None
    return (text.mean() > multimodal.mean(),
            f"mean 1 - r to vision models: text {text.mean():.3f}, vision-language {multimodal.mean():.3f}")


def check_vision_cluster(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> list[tuple]:
    return _rsa_verdicts(tables, families, _vision_cluster)


def check_multimodal_further(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> list[tuple]:
    return _rsa_verdicts(tables, families, _multimodal_further)


def check_language_furthest(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> list[tuple]:
    return _rsa_verdicts(tables, families, _language_furthest)


CKA_MEASURES = {"linear_cka": "linear", "debiased_cka": "debiased"}


def check_cka_vision_closer(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str]) -> list[tuple]:
    """Per CKA dataset and measure: is the mean CKA between vision models above vision-language to vision?"""
    if "cka" not in tables:
        return []
    table = tables["cka"]
    check_columns("cka", table)
    table = table[table["model_a"].isin(families) & table["model_b"].isin(families)]
    pairs = table.assign(family_a=table["model_a"].map(families), family_b=table["model_b"].map(families))
    verdicts = []
    for dataset, rows in pairs.groupby("dataset", sort=False):
        for column, name in CKA_MEASURES.items():
            scored = rows.assign(distance=rows[column])  # `_between` reads the column named distance
            within, across = _between(scored, VISION, VISION), _between(scored, MULTIMODAL, VISION)
            if within.empty or across.empty:
                continue
            verdicts.append((f"CKA ({name}) on {dataset}", HOLDS if within.mean() > across.mean() else FAILS,
                             f"mean {name} CKA: vision to vision {within.mean():.3f}, vision-language to vision "
                             f"{across.mean():.3f}"))
    return verdicts


# Checks judged on `rsa.claims_datasets` only (their not-measured evidence says so).
RSA_CHECKS = (check_vision_cluster, check_multimodal_further, check_language_furthest, check_cka_vision_closer)
CKA_CLAIMS = (
    Claim("Under CKA, vision models are closer to each other than to vision-language models.",
          "per RSA dataset and CKA measure (linear, debiased), the mean CKA between vision models exceeds the "
          "mean CKA between vision-language and vision models",
          "two vision models and a vision-language model in the CKA table",
          check_cka_vision_closer),
)
CLAIMS = (
    Claim("Multimodal models (CLIP, VirTex, ICMLM, TSM) do not beat vision-only ResNets on any task.",
          "per protocol and task (each few-shot N, clustering, transfer), the best vision-language model's "
          "mean over datasets is not above the best vision model's",
          "a vision and a vision-language model in a few-shot, clustering or transfer table",
          check_multimodal_not_better),
    Claim(f"{BEST_MODEL} is best on few-shot, clustering and transfer.",
          f"per protocol, {BEST_MODEL} has the highest mean over datasets among the image models in every task",
          f"{BEST_MODEL} and another image model in a few-shot, clustering or transfer table",
          check_best_model),
    Claim(f"{' and '.join(LESS_ROBUST)} are less robust than {', '.join(MORE_ROBUST)}.",
          "per attack norm, each of the former has a higher mean attack success rate over the epsilon grid "
          "than each of the latter",
          f"an attack table ({', '.join(ATTACK_COLUMNS)}) with one of {', '.join(LESS_ROBUST)} and one of "
          f"{', '.join(MORE_ROBUST)}",
          check_clip_virtex_less_robust),
    Claim("Adversarially trained models (AR) are robust by design.",
          "per attack norm, every AR model has a lower mean attack success rate than every other attacked model",
          f"an attack table with one of {', '.join(ADVERSARIALLY_TRAINED)} and another model",
          check_adversarial_training_robust),
    Claim(f"In RSA, vision models cluster together (distance < {RSA_VISION_DISTANCE}).",
          f"per RSA dataset, every pair of vision models has 1 - r < {RSA_VISION_DISTANCE}",
          "two vision models in the RDM correlation table",
          check_vision_cluster),
    Claim("In RSA, multimodal models are further from the vision models.",
          "per RSA dataset, the mean 1 - r between vision-language and vision models exceeds the mean "
          "between vision models",
          "two vision models and a vision-language model in the RDM correlation table",
          check_multimodal_further),
    Claim("In RSA, language models are furthest.",
          "per RSA dataset, the mean 1 - r between text and vision models exceeds the mean between "
          "vision-language and vision models",
          "a vision, a vision-language and a text model in the RDM correlation table",
          check_language_furthest),
)


def rsa_claims_tables(tables: Mapping[str, pd.DataFrame], datasets: Sequence[str]) -> dict[str, pd.DataFrame]:
    """`tables` with the RDM correlations and CKA narrowed to the RSA datasets the claims are about."""
    return {name: table[table["dataset"].isin(datasets)] if name in ("rdm_correlations", "cka") else table
            for name, table in tables.items()}


def check_claims(tables: Mapping[str, pd.DataFrame], families: Mapping[str, str], *,
                 untrained: Sequence[str] = (), rsa_datasets: Sequence[str] | None = None,
                 attack_heads: Sequence[str] = CLAIMS_HEADS, claims: Sequence[Claim] = CLAIMS) -> list[Verdict]:
    """Every claim's verdicts, among the trained models of `families`.

    A claim that only models in `untrained` would make measurable reads `not meaningful: untrained
    (names)`; one with nothing to check reads `not measured`. RSA claims are judged on `rsa_datasets`
    only (None: every RSA dataset of the tables); robustness claims on untargeted attacks through one
    head per model, the first of `attack_heads` it has.
    """
    if rsa_datasets is not None:
        tables = rsa_claims_tables(tables, rsa_datasets)
    if "attacks" in tables:
        tables = {**tables, "attacks": claims_attack_rows(tables["attacks"], attack_heads)}
    trained = {m: f for m, f in families.items() if m not in untrained}
    named = [m for m in families if m in untrained]
    verdicts = []
    for claim in claims:
        found = claim.check(tables, trained)
        if not found and named:
            found = [(scope, f"{NOT_MEANINGFUL}: untrained ({', '.join(named)})", evidence)
                     for scope, _, evidence in claim.check(tables, families)]
        if not found:
            found = [("this run", NOT_MEASURED, f"needs {claim.needs}; tables in this run: "
                      f"{', '.join(sorted(tables)) or 'none'}"
                      + (f"; RSA claims are judged on {', '.join(rsa_datasets) or 'no dataset'}"
                         if rsa_datasets is not None and claim.check in RSA_CHECKS else ""))]
        verdicts += [Verdict(claim.statement, scope, verdict, evidence) for scope, verdict, evidence in found]
    return verdicts


def build_claims(verdicts: Sequence[Verdict], *, run: str, notes: Sequence[str] = (),
                 claims: Sequence[Claim] = CLAIMS, cka_verdicts: Sequence[Verdict] = ()) -> Document:
    """claims.md: a verdict table, then how each claim is checked; `notes` say how the run was made.

    `cka_verdicts` (of `CKA_CLAIMS`) get their own section after the paper's claims.
    """
    doc = Document(f"Claims of the paper checked against run `{run}`")
    doc.text("workflow/PROTOCOL.md, \"What the paper found\". Each row is one claim in one scope (protocol, attack "
             "norm or RSA dataset); `not measured` means this run lacks what the check needs, `not meaningful` "
             "that only untrained models (random initialisations) could be compared.")
    for note in notes:
        doc.text(note)
    kinds = pd.Series([v.verdict.split(":")[0] for v in verdicts]).value_counts()
    doc.text("Verdicts: " + ", ".join(f"{kinds.get(k, 0)} {k}" for k in (HOLDS, FAILS, NOT_MEANINGFUL, NOT_MEASURED))
             + ".")
    doc.table(pd.DataFrame([vars(v) for v in verdicts], columns=["claim", "scope", "verdict", "evidence"]))
    doc.heading("How each claim is checked")
    for claim in claims:
        doc.text(f"{claim.statement} Checked as: {claim.checked_as}.")
    if cka_verdicts:
        doc.heading("Under CKA (image models only)")
        doc.text("The ordering claims among image models, judged again with linear and debiased CKA on the same "
                 "images (tables/cka.csv); reported apart from the RSA verdicts above.")
        doc.table(pd.DataFrame([vars(v) for v in cka_verdicts], columns=["claim", "scope", "verdict", "evidence"]))
        for claim in CKA_CLAIMS:
            doc.text(f"{claim.statement} Checked as: {claim.checked_as}.")
    return doc
