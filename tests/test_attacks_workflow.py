"""The attack stage run for real through Snakemake on digits (pixels + a random ResNet-18, probe heads),
checked against the store's features and saved probes; then what an attack setting change reruns."""

import numpy as np
import pandas as pd
import pytest
import torch
from helpers.repo import copy_workflow
from test_workflow import snakemake, write_config

from vlgen.attacks.outcomes import TABLE_COLUMNS
from vlgen.store import FeatureStore
from vlgen.tasks.probe import linear_head

pytestmark = pytest.mark.slow
ATTACKS = {"datasets": ["digits"], "n_images": 16, "steps": 3, "modes": ["untargeted"], "default_heads": ["probe"],
           "epsilons": {"linf": [0, 0.05, 0.3], "l2": [0, 2.0]}, "min_accuracy_over_chance": 1.2}
RUN = {"run": "atk", "models": ["pixels", "resnet18-random"], "datasets": ["digits"],
       "transfer": {"presets": ["default"]}, "attacks": ATTACKS}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("repo"))
    write_config(work, "atk.yaml", RUN)
    scheduled = snakemake(work, "config/atk.yaml", targets=("attacks",))
    assert sum(p.endswith(".npz") and "/attacks/" in p for p in scheduled) == 4  # 2 models x 2 norms
    return work


def test_attack_table_and_outcomes_agree_with_the_store_and_the_probes(workdir):
    results = workdir / "results" / "atk"
    table = pd.read_csv(results / "tables" / "attacks.csv")
    assert tuple(table.columns) == TABLE_COLUMNS
    assert len(table) == 2 * (3 + 2) and set(table["head"]) == {"probe"} and not table["targeted"].any()
    store = FeatureStore(workdir / "results" / "store")
    for (model, norm), rows in table.groupby(["model", "norm"]):
        rows = rows.sort_values("epsilon")
        assert rows["success_rate"].is_monotonic_increasing
        assert (rows["success_rate"] >= rows["success_rate_raw"]).all()
        assert rows["success_rate"].iloc[0] == pytest.approx(1 - rows["clean_accuracy"].iloc[0])
        assert (rows["n_images"] == 16).all()
        with np.load(results / "attacks" / model / "digits" / f"probe_{norm}_untargeted.npz") as saved:
            indices, predictions, norms = saved["indices"], saved["clean_predictions"], saved["norms"]
        # the authors' rule over the test split's size
        test = store.open(rows["feature_key"].iloc[0])
        np.testing.assert_array_equal(indices, np.random.RandomState(42).permutation(len(test.labels))[:16])
        # the attacked classifier's clean predictions = the saved probe on the stored test features
        with torch.no_grad():
            expected = linear_head(results / "probes" / model / "digits" / "default.pt")(
                torch.from_numpy(test.load_features()[indices])).argmax(1).numpy()
        np.testing.assert_array_equal(predictions, expected)
        assert (norms <= np.asarray(rows["epsilon"])[:, None] * (1 + 1e-5) + 1e-6).all()
    assert table.query("model == 'pixels' and epsilon == 0")["clean_accuracy"].min() > 0.8
    assert (results / "figures" / "fig2_adversarial.png").stat().st_size > 10_000
    assert (results / "figures" / "fig2_adversarial.pdf").read_bytes().startswith(b"%PDF")


def test_adding_an_epsilon_reruns_attacks_figure2_and_reports_only(workdir):
    more = write_config(workdir, "more_eps.yaml", {"attacks": {"epsilons": {"linf": [0, 0.05, 0.1, 0.3]}}})
    scheduled = snakemake(workdir, "config/atk.yaml", more, dryrun=True)
    assert not [p for p in scheduled if "/features/" in p or "/probes/" in p or "/transfer/" in p]
    attacks = sorted(p.split("/attacks/")[1] for p in scheduled if "/attacks/" in p and p.endswith(".npz"))
    assert attacks == ["pixels/digits/probe_linf_untargeted.npz", "resnet18-random/digits/probe_linf_untargeted.npz"]
    assert any(p.endswith("tables/attacks.csv") for p in scheduled)
    assert any(p.endswith("fig2_adversarial.png") for p in scheduled)
