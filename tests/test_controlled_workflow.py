"""The controlled experiment's demo end to end (config/controlled-demo.yaml, as the README runs it).

The README test's session fixture runs the demo once (README "Beyond the paper"); these tests read
what it made, then dry-run changes in the same copy of the repository.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_workflow import extraction_outputs, snakemake, write_config

from vlgen.config import load_config
from vlgen.tasks.paired import sign_flip_floor

pytestmark = pytest.mark.slow
DEMO = "config/controlled-demo.yaml"


@pytest.fixture(scope="module")
def demo(readme_run):
    """The workdir of the README run, after its controlled demo command succeeded."""
    work, outcomes = readme_run
    [outcome] = [o for o in outcomes if o.command.argv[:1] == ["snakemake"] and DEMO in o.command.argv
                 and "-n" not in o.command.argv]
    assert outcome.returncode == 0, outcome.output
    return work


def demo_config(work: Path, *extra: str):
    return load_config([work / DEMO, *(work / e for e in extra)], work)


def test_the_table_has_every_recipe_seed_and_view(demo):
    config = demo_config(demo)
    table = pd.read_csv(demo / "results" / "controlled-demo" / "tables" / "controlled.csv")
    assert list(table.columns) == ["recipe", "seed", "task", "dataset", "view", "metric", "value"]
    section = yaml.safe_load((demo / DEMO).read_text())["controlled"]
    expected_views = {(d, v) for d, views in section["evaluation"]["views"].items() for v in views} | {("digits", "class")}
    for task in ("fewshot", "transfer"):
        rows = table[table["task"] == task]
        for recipe in section["recipes"]:
            for seed in section["seeds"]:
                got = set(rows.query("recipe == @recipe and seed == @seed")[["dataset", "view"]].itertuples(
                    index=False, name=None))
                assert got == expected_views, (task, recipe, seed)
    rsa = table[table["task"] == "rsa"]
    assert len(rsa) == len(config.controlled_models) * len(section_rsa_datasets(demo))
    assert rsa["value"].between(-1, 1).all() and table["value"].notna().all()


def test_the_class_view_is_the_batterys_own_numbers(demo):
    """digits' class rows of controlled.csv are the few-shot and default-probe files of the battery, read."""
    results = demo / "results" / "controlled-demo"
    table = pd.read_csv(results / "tables" / "controlled.csv").query("dataset == 'digits' and task != 'rsa'")
    config = demo_config(demo)
    assert not list((results / "controlled").glob("*/digits.csv"))
    for model in config.controlled_models:
        rows = table.query("recipe == @config.recipe_of(@model) and seed == @config.seed_of(@model)")
        got = dict(zip(rows["metric"], rows["value"]))
        trials = pd.read_csv(results / "fewshot" / model / "digits.csv")
        probe = pd.read_csv(results / "transfer" / model / "digits" / "default.csv")
        want = {f"{preset}-{shots}shot": group["accuracy"].mean() for (preset, shots), group in
                trials.groupby(["preset", "shots"])} | {"accuracy": probe["accuracy"].item()}
        assert got == pytest.approx(want), model


def section_rsa_datasets(work: Path) -> list[str]:
    return yaml.safe_load((work / DEMO).read_text())["rsa"]["datasets"]


def test_labels_beat_random_on_the_shape_task(demo):
    table = pd.read_csv(demo / "results" / "controlled-demo" / "tables" / "controlled.csv")
    shape = table.query("task == 'transfer' and view == 'shape'").pivot_table(index="seed", columns="recipe",
                                                                             values="value")
    gain = shape["labels"] - shape["random"]
    assert (gain > 0).all() and gain.mean() > 0.05, gain  # measured: +0.13, +0.053, +0.10 (seeds 0-2)


def test_the_summary_states_p_values_with_the_floor(demo):
    summary = (demo / "results" / "controlled-demo" / "summary.md").read_text()
    n_seeds = len(yaml.safe_load((demo / DEMO).read_text())["controlled"]["seeds"])
    floor = sign_flip_floor(n_seeds)
    assert f"smallest possible p is 2/2^{n_seeds} = {floor:.3g}" in summary
    for a, b in (("captions", "labels"), ("label-names", "labels"), ("labels", "random")):
        match = re.search(rf"\*\*{a} vs {b}\.\*\* .*?difference ([-+]\d\.\d+) \(d = \S+, p = (\S+), n = {n_seeds} seeds\)",
                          summary)
        assert match, f"no sentence on {a} vs {b}"
        assert floor <= float(match.group(2)) <= 1


def test_the_figure_is_drawn(demo):
    from PIL import Image

    png = demo / "results" / "controlled-demo" / "figures" / "controlled.png"
    assert png.stat().st_size > 20_000
    pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
    assert pixels.std() > 10  # bars, not a blank page


def test_adding_a_seed_schedules_only_its_jobs(demo):
    """Its training per recipe, its extractions, its per-model jobs and the run-level tables; nothing else."""
    section = yaml.safe_load((demo / DEMO).read_text())["controlled"]
    new_seed = max(section["seeds"]) + 1
    added = write_config(demo, "one-more-seed.yaml", {"controlled": {**section, "seeds": [*section["seeds"], new_seed]}})
    assert snakemake(demo, DEMO, dryrun=True) == []  # the demo is complete
    scheduled = snakemake(demo, DEMO, added, dryrun=True)
    config = demo_config(demo, added)
    new_models = [m for m in config.controlled_models if config.seed_of(m) == new_seed]
    assert sorted(config.recipe_of(m) for m in new_models) == sorted(section["recipes"])
    trainings = {p for p in scheduled if "/trained/" in p}
    assert trainings == {f"results/store/trained/{config.training_key(m)}.json" for m in new_models
                         if m not in config.untrained_models}  # `random` is its seeded initialisation
    new_keys = {config.feature_key(m, d, s) for m in new_models for d in config.datasets
                for s in config.feature_splits(m, d)}
    assert {Path(p).stem for p in extraction_outputs(scheduled)} == new_keys
    run = "results/controlled-demo/"
    per_model = {p for p in scheduled if p.startswith(run) and any(f"/{m}/" in p for m in new_models)}
    assert f"{run}controlled/{new_models[0]}/scenes-demo.csv" in per_model
    # digits is evaluated on its classes only: the battery's jobs give those rows, no controlled_evaluate job
    assert f"{run}fewshot/{new_models[0]}/digits.csv" in per_model
    assert not any(p.startswith(f"{run}controlled/") and p.endswith("/digits.csv") for p in per_model)
    run_level = {p for p in scheduled if p.startswith(run)} - per_model
    assert all(p.startswith((f"{run}tables/", f"{run}figures/", f"{run}features.csv", f"{run}summary",
                             f"{run}claims")) for p in run_level), sorted(run_level)
    assert f"{run}tables/controlled.csv" in run_level
    assert len(scheduled) == len(trainings) + len(new_keys) + len(per_model) + len(run_level)


def printed_commands(work: Path, *configfiles: str) -> list[str]:
    """The shell commands `snakemake -n -p` prints for a run from scratch."""
    done = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-n", "-p", "--cores", "2", "--configfile",
                           *configfiles],
                          cwd=work, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return [line.removeprefix("Shell command: ") for line in (done.stdout + done.stderr).splitlines()]


def test_the_demo_runs_one_thread_per_model_job_and_keys_ignore_threads(tmp_path):
    """controlled-demo's extraction.threads/workers and controlled.threads reach the jobs and no key."""
    from helpers.repo import copy_workflow

    work = copy_workflow(tmp_path / "repo")
    commands = printed_commands(work, DEMO)
    extract = [c for c in commands if " -m vlgen extract " in c]
    train = [c for c in commands if " -m vlgen train " in c]
    assert len(extract) == 50 and all(" --workers 0 --threads 1 > " in c for c in extract)
    assert len(train) == 9 and all(" --threads 1 > " in c for c in train)
    two = write_config(work, "two-threads.yaml", {"extraction": {"threads": 2, "workers": 2},
                                                  "controlled": {**yaml.safe_load((work / DEMO).read_text())[
                                                      "controlled"], "threads": 2}})
    commands = printed_commands(work, DEMO, two)
    assert all(" --workers 2 --threads 2 > " in c for c in commands if " -m vlgen extract " in c)
    assert all(" --threads 2 > " in c for c in commands if " -m vlgen train " in c)
    one, both = load_config([work / DEMO], work), load_config([work / DEMO, work / two], work)
    assert [j.key for j in one.feature_jobs()] == [j.key for j in both.feature_jobs()]
    assert [one.training_key(m) for m in one.controlled_models] == [both.training_key(m) for m in both.controlled_models]
