"""The workflow, run for real through Snakemake's API on a temporary copy of the repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers.repo import copy_workflow

from vlgen.config import load_config
from vlgen.store import FeatureStore

ROOT = Path(__file__).resolve().parents[1]
HELPER = Path(__file__).parent / "helpers" / "run_snakemake.py"
TINY = {"run": "tiny", "models": ["pixels", "resnet18-random", "minilm"], "datasets": ["digits"],
        "fewshot": {"shots": [1, 5], "trials": 2}}

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *configfiles: str, dryrun: bool = False, targets: tuple[str, ...] = ()) -> list[str]:
    """Outputs of the jobs Snakemake scheduled (and ran, unless dryrun)."""
    cmd = [sys.executable, str(HELPER), str(workdir), "--configfile", *configfiles]
    if dryrun:
        cmd.append("--dryrun")
    if targets:
        cmd += ["--target", *targets]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-8000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("SCHEDULED=")][-1]
    return json.loads(line[len("SCHEDULED="):])


def write_config(workdir: Path, name: str, data: dict) -> str:
    path = workdir / "config" / name
    path.write_text(yaml.safe_dump(data))
    return f"config/{name}"


def extraction_outputs(scheduled: list[str]) -> list[str]:
    return [p for p in scheduled if "/features/" in p and p.endswith(".json")]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("repo"))
    write_config(work, "tiny.yaml", TINY)
    scheduled = snakemake(work, "config/tiny.yaml")
    assert len(extraction_outputs(scheduled)) == 5  # 2 image models x 2 splits + the text model's class list
    return work


def test_full_run_writes_tables_figure_and_a_verified_store(workdir):
    results = workdir / "results" / "tiny"
    table = results / "tables" / "fewshot.csv"
    import pandas as pd

    trials = pd.read_csv(table)
    assert list(trials.columns) == ["model", "dataset", "preset", "shots", "trial", "accuracy", "feature_key"]
    assert len(trials) == 2 * 1 * 2 * 2 * 2  # image models x datasets x presets x shots x trials
    assert set(trials["model"]) == {"pixels", "resnet18-random"}
    assert trials["accuracy"].between(0, 1).all()
    # raw pixels of digits are far better than chance (0.1) with 5 shots
    assert trials.query("model == 'pixels' and shots == 5")["accuracy"].min() > 0.5
    features = pd.read_csv(results / "features.csv")
    assert len(features) == 5 and set(features["split"]) == {"train", "test", "classes"}
    assert (results / "figures" / "fewshot.png").stat().st_size > 10_000
    verify = subprocess.run([shutil.which("vlgen") or "vlgen", "store", "verify", "--store",
                             str(workdir / "results" / "store")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "5 ok, 0 bad" in verify.stdout


def test_clustering_transfer_probes_and_figure1(workdir):
    """The tables' columns, and their numbers recomputed from the saved clusters and probes."""
    import numpy as np
    import pandas as pd
    import torch
    from scipy.optimize import linear_sum_assignment

    from vlgen.tasks.probe import linear_head

    results = workdir / "results" / "tiny"
    clustering = pd.read_csv(results / "tables" / "clustering.csv")
    assert list(clustering.columns) == ["model", "dataset", "matching", "accuracy", "nmi", "ari", "n", "feature_key"]
    assert len(clustering) == 2 * 2  # image models x matchings
    with np.load(results / "clustering" / "pixels" / "digits.npz", allow_pickle=False) as saved:
        counts = np.zeros((10, 10), int)
        np.add.at(counts, (saved["labels"], saved["clusters"]), 1)
        assert saved["sample_ids"].size == saved["labels"].size == 899
    rows, cols = linear_sum_assignment(-counts)
    hungarian = clustering.query("model == 'pixels' and matching == 'hungarian'").iloc[0]
    assert hungarian["accuracy"] == pytest.approx(counts[rows, cols].sum() / 899) and hungarian["accuracy"] > 0.5
    transfer = pd.read_csv(results / "tables" / "transfer.csv")
    assert list(transfer.columns) == ["model", "dataset", "preset", "accuracy", "C", "n_train", "n_val", "n_test",
                                      "feature_key"]
    assert {"default", "paper_cached"} <= set(transfer["preset"])
    default = transfer.query("model == 'pixels' and preset == 'default'").iloc[0]
    assert default["n_val"] == np.ceil(0.2 * default["n_train"]) and default["accuracy"] > 0.9
    test = FeatureStore(workdir / "results" / "store").open(default["feature_key"])
    with torch.no_grad():
        predicted = linear_head(results / "probes" / "pixels" / "digits" / "default.pt")(
            torch.from_numpy(test.load_features())).argmax(1).numpy()
    assert np.mean(predicted == test.labels) == pytest.approx(default["accuracy"], abs=2 / 899)
    assert (results / "figures" / "fig1_generalization.pdf").read_bytes().startswith(b"%PDF")
    assert (results / "figures" / "fig1_by_dataset" / "digits.png").stat().st_size > 10_000


def test_rsa_summary_claims_and_the_html_report(workdir):
    """RSA on digits (3 models: 3 pairs), summary.md, claims.md, and a report that packs them."""
    import numpy as np
    import pandas as pd
    from scipy.spatial.distance import pdist, squareform

    results = workdir / "results" / "tiny"
    pairs = pd.read_csv(results / "tables" / "rdm_correlations.csv")
    assert list(pairs.columns) == ["dataset", "model_a", "model_b", "preset", "distance", "method", "r",
                                   "p_parametric", "p_permutation", "ci_low", "ci_high"]
    assert len(pairs) == 3 and pairs["r"].between(-1, 1).all() and pairs["p_permutation"].between(0, 1).all()
    assert (pairs["ci_low"] <= pairs["ci_high"]).all()
    made = {(a, b): (preset, distance) for a, b, preset, distance in
            pairs[["model_a", "model_b", "preset", "distance"]].itertuples(index=False)}
    assert made == {("pixels", "resnet18-random"): ("paper", "welch"),
                    ("pixels", "minilm"): ("paper/none", "welch/euclidean"),
                    ("resnet18-random", "minilm"): ("paper/none", "welch/euclidean")}
    # the text model's RDM: Euclidean distances between its stored class-name vectors
    config = load_config([workdir / "config/tiny.yaml"], workdir)
    entry = FeatureStore(workdir / "results" / "store").open(config.feature_key("minilm", "digits", "classes"))
    with np.load(results / "rsa" / "rdms" / "minilm" / "digits.npz") as rdm:
        np.testing.assert_allclose(rdm["rdm"], squareform(pdist(entry.load_features().astype(np.float64))))
        assert list(rdm["classes"]) == list(entry.sample_ids)
    assert (results / "figures" / "fig3_rsa.pdf").read_bytes().startswith(b"%PDF")
    summary, claims = (results / "summary.md").read_text(), (results / "claims.md").read_text()
    assert summary.startswith("# Summary of run `tiny`")
    assert "resnet18-random (vision, untrained)" in summary and "pixels (baseline)" in summary
    assert "`default` ddof=1, `paper` ddof=0" in summary
    for document in (summary, claims):  # no nvidia-smi here: the GPU preset is said not to have run, and why
        assert "The `paper` transfer preset did not run: transfer.run_paper_preset is auto and no nvidia-smi" \
            in document
    assert "| not measured |" in claims and "RSA claims are judged on: imagenet-val" in claims
    report = workdir / "results" / "tiny" / "report.html"
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--report", str(report), "--configfile",
                           "config/tiny.yaml"], cwd=workdir, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    packed = report.read_text()
    for name in ("fig3_rsa.png", "rdm_correlations.csv", "summary.html", "claims.html", "fewshot.png"):
        assert f"filename={name}" in packed, name


def test_second_run_schedules_nothing(workdir):
    assert snakemake(workdir, "config/tiny.yaml", dryrun=True) == []


def test_changing_a_fewshot_parameter_reruns_no_extraction(workdir):
    override = write_config(workdir, "more_trials.yaml", {"fewshot": {"trials": 3}})
    scheduled = snakemake(workdir, "config/tiny.yaml", override, dryrun=True)
    assert extraction_outputs(scheduled) == []
    assert any(p.endswith("fewshot/pixels/digits.csv") for p in scheduled)


def test_adding_a_model_schedules_only_its_jobs(workdir):
    """Its extractions, its per-model evaluations, and the run-level tables and figures; nothing else."""
    spec = yaml.safe_load((ROOT / "config" / "models" / "demo.yaml").read_text())["model_catalog"]["resnet18-random"]
    added = write_config(workdir, "added.yaml", {
        "model_catalog": {"resnet18-seed1": {**spec, "init_seed": 1}},
        "models": [*TINY["models"], "resnet18-seed1"]})
    scheduled = snakemake(workdir, "config/tiny.yaml", added, dryrun=True)
    config = load_config([workdir / "config/tiny.yaml", workdir / added], workdir)
    new_keys = {config.feature_key("resnet18-seed1", "digits", s) for s in ("train", "test")}
    assert {Path(p).stem for p in extraction_outputs(scheduled)} == new_keys
    per_model = [p for p in scheduled if p.startswith("results/tiny/") and "/resnet18-seed1/" in p]
    assert "results/tiny/fewshot/resnet18-seed1/digits.csv" in per_model
    assert "results/tiny/rsa/rdms/resnet18-seed1/digits.npz" in per_model
    assert {"results/tiny/tables/rdm_correlations.csv", "results/tiny/figures/fig3_rsa.png"} <= {
        p for p in scheduled if "/resnet18-seed1/" not in p}
    run_level = {p for p in scheduled if p.startswith("results/tiny/") and p not in per_model}
    assert {"results/tiny/tables/fewshot.csv", "results/tiny/figures/fewshot.png",
            "results/tiny/features.csv"} <= run_level
    others = [p for p in run_level if any(f"/{m}/" in p for m in TINY["models"])]
    assert others == [], f"jobs of models that did not change were scheduled: {others}"
    assert all(p.startswith(("results/tiny/tables/", "results/tiny/figures/", "results/tiny/features.csv",
                             "results/tiny/summary", "results/tiny/claims", "results/tiny/rsa/correlations"))
               for p in run_level), sorted(run_level)
    assert len(scheduled) == len(new_keys) + len(per_model) + len(run_level)


def test_demo_config_schedules_only_the_demo_selection(workdir):
    scheduled = snakemake(workdir, "config/demo.yaml", dryrun=True)
    demo = load_config([workdir / "config/demo.yaml"], workdir)
    demo_keys = {job.key for job in demo.feature_jobs()}
    assert {Path(p).stem for p in extraction_outputs(scheduled)} <= demo_keys
    for path in scheduled:
        if "/fewshot/" in path:
            model, dataset = Path(path).parent.name, Path(path).stem
            assert model in demo.image_models and dataset in demo.datasets
    assert all(p.startswith(("results/demo/", "results/store/", "resources/datasets/")) for p in scheduled)


def test_a_bad_config_stops_snakemake_with_the_field_named(workdir):
    bad = write_config(workdir, "bad.yaml", {"model_catalog": {"pixels": {"source": "pixelz"}}})
    proc = subprocess.run([sys.executable, str(HELPER), str(workdir), "--dryrun", "--configfile",
                           "config/tiny.yaml", bad], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "model_catalog.pixels.source" in proc.stdout + proc.stderr and "pixelz" in proc.stdout + proc.stderr


def test_touching_code_schedules_no_extraction(workdir):
    """Script rules rerun when their script is newer (Snakemake's rule); extraction never does."""
    for folder in ("workflow/scripts", "workflow/vlgen"):
        for path in (workdir / folder).rglob("*.py"):
            path.touch()
    scheduled = snakemake(workdir, "config/tiny.yaml", dryrun=True)
    assert extraction_outputs(scheduled) == []


def test_a_deleted_manifest_costs_no_forward_pass(workdir):
    config = load_config([workdir / "config/tiny.yaml"], workdir)
    key = config.feature_key("resnet18-random", "digits", "test")
    store = FeatureStore(workdir / "results" / "store")
    created = store.attrs(key)["created"]
    store.manifest_path(key).unlink()
    scheduled = snakemake(workdir, "config/tiny.yaml")
    assert f"results/store/features/{key}.json" in scheduled
    assert store.attrs(key)["created"] == created  # the entry was not rewritten
    log = (workdir / "results" / "logs" / "extract_features" / f"{key}.log").read_text()
    assert "complete and verified: no model work" in log


def test_paper_transfer_preset_runs_on_cpu_and_exempts_models_by_catalog_field(workdir):
    """`transfer_probe_augmented` through Snakemake (run_paper_preset: always, one epoch): the model whose
    catalog entry says `transfer_augment: false` trains on its extraction transform (so its probe matches the
    authors' schedule on the stored features), the other on augmented images; no extraction reruns."""
    import numpy as np
    import pandas as pd

    from vlgen.tasks.probe import AdamSchedule, paper_cached_probe

    paper = write_config(workdir, "paper_transfer.yaml", {
        "run": "tiny-paper", "models": ["pixels", "resnet18-random"],
        "model_catalog": {"resnet18-random": {"transfer_augment": False}},
        "transfer": {"presets": ["paper"], "run_paper_preset": "always", "schedule": {"epochs": 1}},
        "fewshot": {"shots": [1], "trials": 1}})
    scheduled = snakemake(workdir, "config/tiny.yaml", paper, targets=("transfer", "summaries"))
    assert extraction_outputs(scheduled) == []  # transfer_augment is not in the feature key
    results = workdir / "results" / "tiny-paper"
    logs = results / "logs" / "transfer_probe_augmented"
    assert "not augmented" in (logs / "resnet18-random" / "digits.log").read_text()
    assert "interpolation='bicubic', scale=(0.08, 1.0)" in (logs / "pixels" / "digits.log").read_text()
    transfer = pd.read_csv(results / "tables" / "transfer.csv").set_index("model")
    assert set(transfer["preset"]) == {"paper"}
    config = load_config([workdir / "config/tiny.yaml", workdir / paper], workdir)
    store = FeatureStore(workdir / "results" / "store")
    train, test = (store.open(config.feature_key("resnet18-random", "digits", s)) for s in ("train", "test"))
    cached = paper_cached_probe(train.load_features(), train.labels, 10, schedule=AdamSchedule(epochs=1), seed=0)
    assert transfer.loc["resnet18-random", "accuracy"] == pytest.approx(
        cached.accuracy(test.load_features(), test.labels), abs=3 / len(test.labels))
    claims = (results / "claims.md").read_text()
    assert "is in this run: transfer.run_paper_preset is always" in claims
