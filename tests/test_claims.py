"""The paper's claims checked on hand-made tables whose verdicts are known by construction."""

from __future__ import annotations

import pandas as pd
import pytest

from vlgen.report.claims import (
    CKA_CLAIMS,
    CLAIMS,
    FAILS,
    HOLDS,
    NOT_MEASURED,
    build_claims,
    check_claims,
    dataset_means,
    protocol_scores,
)
from vlgen.tasks.probe import paper_preset_status

PAPER_FAMILIES = {"RN50": "vision", "BiT-M": "vision", "SIN+IN": "vision", "AR-L2": "vision",
                  "CLIP": "vision-language", "VirTex": "vision-language", "BERT": "text", "GPT-2": "text"}
DEMO_FAMILIES = {"pixels": "baseline", "resnet18-random": "vision", "clip-rn50-random": "vision-language",
                 "minilm": "text"}
DATASETS = ("mnist", "cifar10")


def fewshot_table(scores: dict[str, float], presets=("paper", "default"), shots=(1, 5)) -> pd.DataFrame:
    """fewshot_summary.csv rows: every model gets `score` on mnist and `score + 0.1` on cifar10."""
    return pd.DataFrame([
        {"model": m, "dataset": d, "preset": p, "shots": n, "mean": s + 0.1 * i, "std": 0.02, "sem": 0.01,
         "n_trials": 10}
        for m, s in scores.items() for i, d in enumerate(DATASETS) for p in presets for n in shots])


def clustering_table(scores: dict[str, float], matchings=("greedy", "hungarian")) -> pd.DataFrame:
    return pd.DataFrame([
        {"model": m, "dataset": d, "matching": matching, "accuracy": s, "nmi": 0.5, "ari": 0.4, "n": 100,
         "feature_key": "k"}
        for m, s in scores.items() for d in DATASETS for matching in matchings])


def transfer_table(scores: dict[str, float], presets=("paper_cached", "default")) -> pd.DataFrame:
    return pd.DataFrame([
        {"model": m, "dataset": d, "preset": p, "accuracy": s, "C": 1.0, "n_train": 10, "n_val": 2, "n_test": 5,
         "feature_key": "k"}
        for m, s in scores.items() for d in DATASETS for p in presets])


def rsa_table(r: dict[tuple[str, str], float], dataset="imagenet-val") -> pd.DataFrame:
    return pd.DataFrame([{"dataset": dataset, "model_a": a, "model_b": b, "preset": "paper", "distance": "welch",
                          "method": "pearson", "r": value, "p_parametric": 0.001, "p_permutation": 0.001}
                         for (a, b), value in r.items()])


def attack_table(mean_success: dict[str, float], norms=("linf", "l2"), head="native", targeted=False) -> pd.DataFrame:
    """Each model's success rate is `mean_success` -/+ 0.1 at two epsilons (mean as given)."""
    return pd.DataFrame([{"model": m, "head": head, "norm": norm, "targeted": targeted, "epsilon": eps,
                          "success_rate": s + delta}
                         for m, s in mean_success.items() for norm in norms
                         for eps, delta in ((0.001, -0.1), (0.01, 0.1))])


def verdicts_of(tables, families, **options) -> dict[tuple[str, str], str]:
    return {(v.claim, v.scope): v.verdict for v in check_claims(tables, families, **options)}


def families_of(scores: dict[str, float]) -> dict[str, str]:
    """The paper families of exactly the models that have scores (a run of those models)."""
    return {m: PAPER_FAMILIES[m] for m in scores}


def statement(prefix: str) -> str:
    return next(c.statement for c in CLAIMS if c.statement.startswith(prefix))


MULTIMODAL, BEST = statement("Multimodal"), statement("BiT-M")
LESS_ROBUST, AR = statement("CLIP and VirTex"), statement("Adversarially")
VISION_CLUSTER, FURTHER, FURTHEST = statement("In RSA, vision"), statement("In RSA, multimodal"), statement(
    "In RSA, language")


def test_task_claims_hold_when_bit_leads_and_multimodal_trail():
    scores = {"RN50": 0.6, "BiT-M": 0.8, "CLIP": 0.5, "VirTex": 0.4}
    tables = {"fewshot": fewshot_table(scores), "clustering": clustering_table(scores),
              "transfer": transfer_table(scores)}
    verdicts = verdicts_of(tables, families_of(scores))
    for protocol in ("paper protocol", "default protocol"):
        assert verdicts[MULTIMODAL, protocol] == HOLDS
        assert verdicts[BEST, protocol] == HOLDS


def test_task_claims_fail_where_the_numbers_say_so():
    # Under the default protocol CLIP leads clustering: both task claims fail there, not under paper.
    fewshot = fewshot_table({"RN50": 0.6, "BiT-M": 0.8, "CLIP": 0.5})
    clustering = pd.concat([clustering_table({"RN50": 0.6, "BiT-M": 0.8, "CLIP": 0.5}, ("greedy",)),
                            clustering_table({"RN50": 0.6, "BiT-M": 0.8, "CLIP": 0.9}, ("hungarian",))])
    checked = check_claims({"fewshot": fewshot, "clustering": clustering},
                           families_of({"RN50": 0, "BiT-M": 0, "CLIP": 0}))
    verdicts = {(v.claim, v.scope): v for v in checked}
    assert verdicts[MULTIMODAL, "paper protocol"].verdict == HOLDS
    assert verdicts[MULTIMODAL, "default protocol"].verdict == FAILS
    assert "Fails on: clustering" in verdicts[MULTIMODAL, "default protocol"].evidence
    assert "best vision-language CLIP 0.900" in verdicts[MULTIMODAL, "default protocol"].evidence
    assert verdicts[BEST, "default protocol"].verdict == FAILS
    # BiT-M's few-shot mean over datasets: (0.8 + 0.9) / 2
    assert "1-shot: BiT-M 0.850" in verdicts[BEST, "paper protocol"].evidence


def test_claims_without_their_models_or_tables_are_not_measured():
    scores = {"RN50": 0.6, "CLIP": 0.5}
    verdicts = verdicts_of({"fewshot": fewshot_table(scores)}, {"RN50": "vision", "CLIP": "vision-language"})
    assert verdicts[BEST, "this run"] == NOT_MEASURED  # no BiT-M in the run
    evidence = {v.claim: v.evidence for v in check_claims({"fewshot": fewshot_table(scores)}, {"RN50": "vision"})}
    assert evidence[BEST] == "needs BiT-M and another image model in a few-shot, clustering or transfer table; " \
                             "tables in this run: fewshot"
    for claim in (LESS_ROBUST, AR, VISION_CLUSTER, FURTHER, FURTHEST):
        assert verdicts[claim, "this run"] == NOT_MEASURED
    assert verdicts[MULTIMODAL, "paper protocol"] == HOLDS
    assert all(verdict == NOT_MEASURED for verdict in verdicts_of({}, PAPER_FAMILIES).values())


def test_demo_families_measure_only_what_they_can():
    """The demo: one model per family; RSA on digits; no attacks."""
    r = {("pixels", "resnet18-random"): 0.5, ("pixels", "clip-rn50-random"): 0.4, ("pixels", "minilm"): 0.1,
         ("resnet18-random", "clip-rn50-random"): 0.7, ("resnet18-random", "minilm"): 0.2,
         ("clip-rn50-random", "minilm"): 0.3}
    scores = {"pixels": 0.7, "resnet18-random": 0.4, "clip-rn50-random": 0.3}
    tables = {"fewshot": fewshot_table(scores), "rdm_correlations": rsa_table(r, "digits")}
    verdicts = verdicts_of(tables, DEMO_FAMILIES)
    assert verdicts[MULTIMODAL, "paper protocol"] == HOLDS  # 0.3 < 0.4: the baseline is not a vision model
    assert verdicts[BEST, "this run"] == NOT_MEASURED
    assert verdicts[VISION_CLUSTER, "this run"] == NOT_MEASURED  # one vision model: no pair
    assert verdicts[FURTHER, "this run"] == NOT_MEASURED
    # text-vision 1 - 0.2 = 0.8 > vision-language-vision 1 - 0.7 = 0.3
    assert verdicts[FURTHEST, "RSA on digits"] == HOLDS


def test_rsa_claims_on_known_distances():
    r = {("RN50", "BiT-M"): 0.9, ("RN50", "SIN+IN"): 0.85, ("BiT-M", "SIN+IN"): 0.95,
         ("RN50", "CLIP"): 0.7, ("BiT-M", "CLIP"): 0.6, ("SIN+IN", "CLIP"): 0.65,
         ("RN50", "BERT"): 0.2, ("BiT-M", "BERT"): 0.1, ("SIN+IN", "BERT"): 0.3, ("CLIP", "BERT"): 0.4}
    families = {m: PAPER_FAMILIES[m] for m in ("RN50", "BiT-M", "SIN+IN", "CLIP", "BERT")}
    checked = {(v.claim, v.scope): v for v in check_claims({"rdm_correlations": rsa_table(r)}, families)}
    scope = "RSA on imagenet-val"
    assert checked[VISION_CLUSTER, scope].verdict == HOLDS  # largest vision distance 0.15
    assert "from 0.050 to 0.150" in checked[VISION_CLUSTER, scope].evidence
    assert checked[FURTHER, scope].verdict == HOLDS  # 0.35 vs 0.10
    assert "vision-language to vision 0.350, vision to vision 0.100" in checked[FURTHER, scope].evidence
    assert checked[FURTHEST, scope].verdict == HOLDS  # 0.8 vs 0.35
    r[("RN50", "SIN+IN")] = 0.75  # one vision pair at distance 0.25
    r[("BiT-M", "BERT")] = 0.95  # and a text model that agrees with BiT-M
    checked = {(v.claim, v.scope): v.verdict for v in check_claims({"rdm_correlations": rsa_table(r)}, families)}
    assert checked[VISION_CLUSTER, scope] == FAILS
    assert checked[FURTHEST, scope] == HOLDS  # mean text-vision (0.8 + 0.05 + 0.7) / 3 = 0.517 > 0.35
    r[("RN50", "BERT")] = r[("SIN+IN", "BERT")] = 0.95
    checked = {(v.claim, v.scope): v.verdict for v in check_claims({"rdm_correlations": rsa_table(r)}, families)}
    assert checked[FURTHEST, scope] == FAILS


def test_robustness_claims_from_an_attack_table():
    success = {"RN50": 0.5, "SIN+IN": 0.45, "BiT-M": 0.4, "CLIP": 0.7, "VirTex": 0.6, "AR-L2": 0.1}
    verdicts = verdicts_of({"attacks": attack_table(success)}, PAPER_FAMILIES)
    for norm in ("linf", "l2"):
        assert verdicts[LESS_ROBUST, f"attack {norm}"] == HOLDS
        assert verdicts[AR, f"attack {norm}"] == HOLDS
    success["VirTex"] = 0.48  # below RN50's 0.5
    success["AR-L2"] = 0.42  # above BiT-M's 0.4
    verdicts = verdicts_of({"attacks": attack_table(success)}, PAPER_FAMILIES)
    assert verdicts[LESS_ROBUST, "attack linf"] == FAILS
    assert verdicts[AR, "attack l2"] == FAILS


def test_robustness_claims_read_untargeted_rows_of_one_head_per_model():
    """CLIP through two heads and RN50 also attacked targeted: averaging heads and modes would flip the verdict."""
    table = pd.concat([
        attack_table({"RN50": 0.5, "AR-L2": 0.1}),
        attack_table({"RN50": 0.9, "AR-L2": 0.05}, targeted=True),
        attack_table({"CLIP": 0.7}, head="probe"),
        attack_table({"CLIP": 0.3}, head="zeroshot"),
    ])
    verdicts = verdicts_of({"attacks": table}, families_of({"RN50": 0, "CLIP": 0, "AR-L2": 0}))
    for norm in ("linf", "l2"):
        assert verdicts[LESS_ROBUST, f"attack {norm}"] == HOLDS  # CLIP probe 0.7 > RN50 untargeted 0.5
        assert verdicts[AR, f"attack {norm}"] == HOLDS
    evidence = {v.scope: v.evidence for v in check_claims({"attacks": table}, PAPER_FAMILIES) if v.claim == LESS_ROBUST}
    assert "CLIP 0.700" in evidence["attack l2"] and "RN50 0.500" in evidence["attack l2"]
    # another head preference judges CLIP by its zero-shot head, which is more robust than RN50
    verdicts = verdicts_of({"attacks": table}, PAPER_FAMILIES, attack_heads=["native", "zeroshot"])
    assert verdicts[LESS_ROBUST, "attack linf"] == FAILS


def test_robustness_claims_of_the_demo_models_are_not_measured():
    """The demo attacks random-init models under their own names: no claim about the paper's models."""
    table = attack_table({"pixels": 0.9, "resnet18-random": 0.8, "clip-rn50-random": 0.95}, head="probe")
    families = {"pixels": "baseline", "resnet18-random": "vision", "clip-rn50-random": "vision-language"}
    verdicts = {v.claim: v.verdict for v in check_claims({"attacks": table}, families,
                                                          untrained=["resnet18-random", "clip-rn50-random"])}
    assert verdicts[LESS_ROBUST] == NOT_MEASURED and verdicts[AR] == NOT_MEASURED


def test_paper_protocol_uses_cached_transfer_only_without_the_augmented_one():
    cached = transfer_table({"RN50": 0.6, "BiT-M": 0.5}, ("paper_cached",))
    augmented = transfer_table({"RN50": 0.4, "BiT-M": 0.7}, ("paper",))
    only_cached = protocol_scores({"transfer": cached})
    assert set(only_cached["protocol"]) == {"paper"}
    both = protocol_scores({"transfer": pd.concat([cached, augmented])})
    assert set(both["variant"]) == {"paper"}
    assert dataset_means(both, ["RN50", "BiT-M"]).to_dict() == pytest.approx({"RN50": 0.4, "BiT-M": 0.7})


def test_dataset_means_use_only_datasets_every_model_has():
    table = fewshot_table({"RN50": 0.6, "CLIP": 0.5}, presets=("paper",), shots=(1,))
    table = table[~((table["model"] == "CLIP") & (table["dataset"] == "cifar10"))]
    means = dataset_means(protocol_scores({"fewshot": table}), ["RN50", "CLIP"])
    assert means.to_dict() == pytest.approx({"RN50": 0.6, "CLIP": 0.5})  # mnist only


def test_claims_document_lists_every_verdict():
    scores = {"RN50": 0.6, "BiT-M": 0.8, "CLIP": 0.5}
    verdicts = check_claims({"fewshot": fewshot_table(scores)}, families_of(scores))
    doc = build_claims(verdicts, run="paper")
    markdown = doc.to_markdown()
    assert markdown.startswith("# Claims of the paper checked against run `paper`")
    counts = {k: sum(v.verdict == k for v in verdicts) for k in (HOLDS, FAILS, NOT_MEASURED)}
    assert f"Verdicts: {counts[HOLDS]} holds, {counts[FAILS]} does not hold, 0 not meaningful, " \
           f"{counts[NOT_MEASURED]} not measured." in markdown
    assert markdown.count("| not measured |") == counts[NOT_MEASURED] == 5
    html = doc.to_html()
    assert html.count("<tr") == len(verdicts) + 1 and "</html>" in html


# -- issue 10: one protocol per verdict, RSA claims on ImageNet, untrained models -------------------
def test_a_paper_verdict_never_mixes_augmented_and_cached_transfer():
    """CLIP lacks its `paper` (augmented) transfer row: the paper protocol is not measured, naming CLIP,
    rather than comparing RN50's augmented probe with CLIP's cached one."""
    scores = {"RN50": 0.6, "BiT-M": 0.8, "CLIP": 0.5}
    cached = transfer_table(scores, ("paper_cached", "default"))
    augmented = transfer_table({"RN50": 0.6, "BiT-M": 0.8}, ("paper",))
    tables = {"transfer": pd.concat([cached, augmented])}
    checked = {(v.claim, v.scope): v for v in check_claims(tables, families_of(scores))}
    for claim in (MULTIMODAL, BEST):
        assert checked[claim, "paper protocol"].verdict == NOT_MEASURED
        assert checked[claim, "paper protocol"].evidence == "transfer `paper` has no rows for CLIP"
        assert checked[claim, "default protocol"].verdict == HOLDS  # every model has `default`
    # with CLIP's augmented row the paper protocol compares all three under `paper`
    tables = {"transfer": pd.concat([cached, transfer_table(scores, ("paper",))])}
    assert verdicts_of(tables, families_of(scores))[BEST, "paper protocol"] == HOLDS


def test_a_model_missing_from_one_tasks_table_makes_that_protocol_not_measured():
    scores = {"RN50": 0.6, "BiT-M": 0.8, "CLIP": 0.5}
    clustering = clustering_table({"RN50": 0.6, "BiT-M": 0.8}, ("greedy",))  # CLIP was not clustered
    tables = {"fewshot": fewshot_table(scores), "clustering": clustering}
    checked = {(v.claim, v.scope): v for v in check_claims(tables, families_of(scores))}
    assert checked[BEST, "paper protocol"].verdict == NOT_MEASURED
    assert "clustering `greedy` has no rows for CLIP" in checked[BEST, "paper protocol"].evidence
    assert checked[BEST, "default protocol"].verdict == HOLDS  # few-shot `default` only: complete


def test_rsa_claims_are_judged_on_the_claims_datasets_only():
    vision_far = {("RN50", "BiT-M"): 0.1, ("RN50", "CLIP"): 0.5, ("BiT-M", "CLIP"): 0.5}
    vision_close = {("RN50", "BiT-M"): 0.95, ("RN50", "CLIP"): 0.5, ("BiT-M", "CLIP"): 0.5}
    tables = {"rdm_correlations": pd.concat([rsa_table(vision_close, "imagenet-val"), rsa_table(vision_far, "mnist")])}
    families = families_of({"RN50": 0, "BiT-M": 0, "CLIP": 0})
    everywhere = verdicts_of(tables, families)
    assert everywhere[VISION_CLUSTER, "RSA on mnist"] == FAILS
    claims = verdicts_of(tables, families, rsa_datasets=["imagenet-val"])
    assert claims[VISION_CLUSTER, "RSA on imagenet-val"] == HOLDS
    assert not any(scope == "RSA on mnist" for _, scope in claims)
    evidence = {v.claim: v.evidence for v in check_claims(tables, families, rsa_datasets=["cub"])}
    assert evidence[VISION_CLUSTER].endswith("RSA claims are judged on cub")


def test_claims_resting_on_untrained_models_are_not_meaningful():
    """The demo: its vision and vision-language models are random initialisations."""
    r = {("pixels", "resnet18-random"): 0.5, ("pixels", "clip-rn50-random"): 0.4, ("pixels", "minilm"): 0.1,
         ("resnet18-random", "clip-rn50-random"): 0.7, ("resnet18-random", "minilm"): 0.2,
         ("clip-rn50-random", "minilm"): 0.3}
    scores = {"pixels": 0.7, "resnet18-random": 0.4, "clip-rn50-random": 0.3}
    tables = {"fewshot": fewshot_table(scores), "rdm_correlations": rsa_table(r, "digits")}
    untrained = ["resnet18-random", "clip-rn50-random"]
    verdicts = verdicts_of(tables, DEMO_FAMILIES, untrained=untrained)
    label = "not meaningful: untrained (resnet18-random, clip-rn50-random)"
    assert verdicts[MULTIMODAL, "paper protocol"] == verdicts[MULTIMODAL, "default protocol"] == label
    assert verdicts[FURTHEST, "RSA on digits"] == label
    assert verdicts[BEST, "this run"] == NOT_MEASURED  # no BiT-M, trained or not
    assert not any(v in (HOLDS, FAILS) for v in verdicts.values())
    markdown = build_claims(check_claims(tables, DEMO_FAMILIES, untrained=untrained), run="demo").to_markdown()
    # not measured: BiT-M best, both attack claims, and the two RSA claims that need two vision models
    assert "0 holds, 0 does not hold, 3 not meaningful, 5 not measured." in markdown


def test_untrained_models_are_left_out_where_trained_ones_decide():
    """A random-init control beside trained models: the claim is judged on the trained ones."""
    scores = {"RN50": 0.6, "BiT-M": 0.8, "CLIP": 0.5, "control": 0.9}
    families = {**families_of({m: 0 for m in scores if m != "control"}), "control": "vision"}
    tables = {"fewshot": fewshot_table(scores)}
    assert verdicts_of(tables, families)[BEST, "paper protocol"] == FAILS  # the control "beats" BiT-M
    assert verdicts_of(tables, families, untrained=["control"])[BEST, "paper protocol"] == HOLDS


@pytest.mark.parametrize("section, gpu, says", [
    ({"presets": ["default", "paper"], "run_paper_preset": "auto"}, False, "did not run: transfer.run_paper_preset "
                                                                          "is auto and no nvidia-smi"),
    ({"presets": ["default", "paper"], "run_paper_preset": "auto"}, True, "is in this run: transfer.run_paper_preset "
                                                                         "is auto and nvidia-smi was on PATH"),
    ({"presets": ["default", "paper"], "run_paper_preset": "never"}, True, "did not run: transfer.run_paper_preset "
                                                                          "is never"),
    ({"presets": ["default", "paper"], "run_paper_preset": "always"}, False, "is in this run: transfer.run_paper_"
                                                                            "preset is always"),
    ({"presets": ["default"], "run_paper_preset": "always"}, True, "not in this run: transfer.presets does not"),
])
def test_the_documents_say_whether_the_paper_transfer_preset_ran(section, gpu, says):
    assert says in paper_preset_status(section, gpu_present=gpu)


# -- issue 14: CKA ordering claims, apart from the RSA verdicts --------------------------------------
def cka_table(values: dict[tuple[str, str], float], dataset="imagenet-val") -> pd.DataFrame:
    """Linear CKA as given; debiased CKA 0.1 lower (the same ordering)."""
    return pd.DataFrame([{"dataset": dataset, "split": "val", "model_a": a, "model_b": b, "linear_cka": v,
                          "debiased_cka": v - 0.1, "n": 50000} for (a, b), v in values.items()])


CKA_CLOSER = CKA_CLAIMS[0].statement
IMAGE_FAMILIES = {m: PAPER_FAMILIES[m] for m in ("RN50", "BiT-M", "SIN+IN", "CLIP", "VirTex")}


def test_cka_claim_on_known_values_for_each_measure():
    values = {("RN50", "BiT-M"): 0.8, ("RN50", "SIN+IN"): 0.7, ("BiT-M", "SIN+IN"): 0.75,
              ("RN50", "CLIP"): 0.5, ("BiT-M", "CLIP"): 0.6, ("SIN+IN", "CLIP"): 0.55,
              ("RN50", "VirTex"): 0.65, ("BiT-M", "VirTex"): 0.6, ("SIN+IN", "VirTex"): 0.6, ("CLIP", "VirTex"): 0.3}
    checked = {(v.scope, v.verdict, v.evidence) for v in check_claims({"cka": cka_table(values)}, IMAGE_FAMILIES,
                                                                      claims=CKA_CLAIMS)}
    assert checked == {  # vision pairs 0.75 on average, vision-language to vision (0.5+0.6+0.55+0.65+0.6+0.6)/6
        ("CKA (linear) on imagenet-val", HOLDS, "mean linear CKA: vision to vision 0.750, vision-language to vision "
                                                "0.583"),
        ("CKA (debiased) on imagenet-val", HOLDS, "mean debiased CKA: vision to vision 0.650, vision-language to "
                                                  "vision 0.483")}
    values[("RN50", "SIN+IN")] = values[("BiT-M", "SIN+IN")] = 0.4  # vision mean (0.8 + 0.4 + 0.4) / 3 = 0.533
    assert {v.verdict for v in check_claims({"cka": cka_table(values)}, IMAGE_FAMILIES, claims=CKA_CLAIMS)} == {FAILS}


def test_cka_claim_is_judged_on_the_claims_datasets_and_needs_its_families():
    values = {("RN50", "BiT-M"): 0.8, ("RN50", "CLIP"): 0.5, ("BiT-M", "CLIP"): 0.6}
    tables = {"cka": pd.concat([cka_table(values), cka_table({k: 1 - v for k, v in values.items()}, "mnist")])}
    families = {m: PAPER_FAMILIES[m] for m in ("RN50", "BiT-M", "CLIP")}
    assert verdicts_of(tables, families, claims=CKA_CLAIMS, rsa_datasets=["imagenet-val"]) == {
        (CKA_CLOSER, "CKA (linear) on imagenet-val"): HOLDS, (CKA_CLOSER, "CKA (debiased) on imagenet-val"): HOLDS}
    assert verdicts_of(tables, families, claims=CKA_CLAIMS)[CKA_CLOSER, "CKA (linear) on mnist"] == FAILS
    one_vision = {m: PAPER_FAMILIES[m] for m in ("RN50", "CLIP")}
    assert verdicts_of(tables, one_vision, claims=CKA_CLAIMS) == {(CKA_CLOSER, "this run"): NOT_MEASURED}
    # the paper's claim list is unchanged: CKA never enters the RSA verdicts
    assert all(v.claim != CKA_CLOSER for v in check_claims(tables, families))


def test_cka_verdicts_have_their_own_section_after_the_paper_claims():
    values = {("RN50", "BiT-M"): 0.8, ("RN50", "CLIP"): 0.5, ("BiT-M", "CLIP"): 0.6}
    families = {m: PAPER_FAMILIES[m] for m in ("RN50", "BiT-M", "CLIP")}
    tables = {"cka": cka_table(values)}
    verdicts = check_claims(tables, families)
    markdown = build_claims(verdicts, run="paper",
                            cka_verdicts=check_claims(tables, families, claims=CKA_CLAIMS)).to_markdown()
    paper_part, cka_part = markdown.split("## Under CKA (image models only)")
    assert CKA_CLOSER not in paper_part
    assert cka_part.count("| holds ") == 2 and "CKA (debiased) on imagenet-val" in cka_part
    counts = sum(v.verdict == NOT_MEASURED for v in verdicts)
    assert f"{counts} not measured." in paper_part  # the paper's verdict count leaves the CKA verdicts out


def test_summary_shows_linear_above_and_debiased_below_the_diagonal():
    from vlgen.report.summary import build_summary

    values = {("RN50", "BiT-M"): 0.8, ("RN50", "CLIP"): 0.5, ("BiT-M", "CLIP"): 0.6}
    families = {m: PAPER_FAMILIES[m] for m in ("RN50", "BiT-M", "CLIP")}
    markdown = build_summary({"cka": cka_table(values)}, run="paper", families=families, datasets=["imagenet-val"],
                             settings={}).to_markdown()
    section = markdown.split("Centered kernel alignment of the image models (cka.csv)")[1]
    assert "imagenet-val (val, n=50000)" in section
    rows = [line for line in section.splitlines() if line.startswith("| RN50") or line.startswith("| BiT-M")]
    assert [cell.strip() for cell in rows[0].split("|")[1:-1]] == ["RN50", "vision", "1", "0.800", "0.500"]
    assert [cell.strip() for cell in rows[1].split("|")[1:-1]] == ["BiT-M", "vision", "0.700", "1", "0.600"]
