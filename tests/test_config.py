"""Run configs: catalogs + selection, validated with errors that name the field."""

from pathlib import Path

import pytest
import yaml

from vlgen.config import ConfigError, load_config
from helpers.imports import heavy_imports

ROOT = Path(__file__).resolve().parents[1]


def run_with(tmp_path, override: dict, name="override.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(override))
    return load_config([ROOT / "config" / "demo.yaml", path], ROOT)


def error_of(tmp_path, override: dict) -> str:
    with pytest.raises(ConfigError) as info:
        run_with(tmp_path, override)
    return str(info.value)


def test_demo_selects_exactly_its_models_and_datasets():
    demo = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    demo_yaml = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    jobs = demo.feature_jobs()
    assert demo.run == "demo"
    assert {j.model for j in jobs} == set(demo_yaml["models"])
    assert {j.dataset for j in jobs} == set(demo_yaml["datasets"])
    # image models: train and test of each dataset; text models: each dataset's class list once
    assert len(jobs) == len(demo.image_models) * 2 * 2 + len(demo.text_models) * 2
    assert demo.text_models == ["minilm"]


def test_paper_run_is_the_default():
    assert load_config([], ROOT).run == "paper"


def test_unknown_source_names_the_field(tmp_path):
    msg = error_of(tmp_path, {"model_catalog": {"pixels": {"source": "pixelz"}}})
    assert "model_catalog.pixels.source" in msg and "pixelz" in msg and "timm" in msg


def test_typo_in_a_model_field_names_the_field(tmp_path):
    msg = error_of(tmp_path, {"model_catalog": {"resnet18-random": {"pretraind": True}}})
    assert "model_catalog.resnet18-random" in msg and "pretraind" in msg


def test_typo_at_top_level(tmp_path):
    msg = error_of(tmp_path, {"modles": ["pixels"]})
    assert "modles" in msg


def test_wrong_type_names_the_field(tmp_path):
    msg = error_of(tmp_path, {"fewshot": {"trials": "ten"}})
    assert "fewshot.trials" in msg and "integer" in msg


def test_unknown_model_in_run_names_the_field(tmp_path):
    msg = error_of(tmp_path, {"models": ["pixels", "RN51"]})
    assert "models[1]" in msg and "RN51" in msg


def test_unknown_dataset_in_run(tmp_path):
    msg = error_of(tmp_path, {"datasets": ["digitz"]})
    assert "datasets[0]" in msg and "digitz" in msg


@pytest.mark.parametrize("bad", ["bad/name", "-leading", "has space", "../up"])
def test_bad_names_are_refused(tmp_path, bad):
    msg = error_of(tmp_path, {"model_catalog": {bad: {"source": "pixels", "family": "baseline"}}})
    assert repr(bad) in msg and "model_catalog" in msg
    msg = error_of(tmp_path, {"run": bad})
    assert "run" in msg and repr(bad) in msg


def test_unknown_preprocess_preset(tmp_path):
    msg = error_of(tmp_path, {"model_catalog": {"pixels": {"preprocess": "imagenet_papr"}}})
    assert "model_catalog.pixels.preprocess" in msg and "imagenet_papr" in msg


def test_renaming_a_model_keeps_its_keys(tmp_path):
    base = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    spec = base.model_spec("resnet18-random")
    renamed = run_with(tmp_path, {"model_catalog": {"rn18": spec}, "models": ["rn18"]})
    assert renamed.feature_key("rn18", "digits", "train") == base.feature_key("resnet18-random", "digits", "train")


def test_two_aliases_share_features(tmp_path):
    base = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    spec = dict(base.model_spec("resnet18-random"), family="vision-language", description="other words")
    cfg = run_with(tmp_path, {"model_catalog": {"alias": spec}, "models": ["resnet18-random", "alias"]})
    keys = {j.model: j.key for j in cfg.feature_jobs() if j.dataset == "digits" and j.split == "test"}
    assert keys["alias"] == keys["resnet18-random"]


@pytest.mark.parametrize("change", [
    {"model_catalog": {"resnet18-random": {"init_seed": 1}}},
    {"model_catalog": {"resnet18-random": {"preprocess": {"size": 36}}}},
    {"model_catalog": {"resnet18-random": {"precision": "bf16"}}},
    {"extraction": {"version": 3}},
    {"extraction": {"resize_backend": "tensor"}},
    {"dataset_catalog": {"digits": {"seed": 1}}},
])
def test_semantic_changes_change_the_key(tmp_path, change):
    base = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    changed = run_with(tmp_path, change)
    assert changed.feature_key("resnet18-random", "digits", "train") != base.feature_key("resnet18-random", "digits", "train")


def test_dataset_root_is_not_in_the_key(tmp_path):
    base = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    moved = run_with(tmp_path, {"dataset_catalog": {"shapes": {"root": "/elsewhere/shapes"}}})
    assert moved.feature_key("pixels", "shapes", "test") == base.feature_key("pixels", "shapes", "test")


def test_config_import_does_not_import_torch():
    assert heavy_imports("vlgen.config", "vlgen.store", "vlgen.keys",
                         then="vlgen.config.load_config(['config/demo.yaml'], '.').feature_jobs()") == []


@pytest.mark.parametrize("section", ["rsa", "fewshot", "clustering", "transfer"])
def test_a_setting_of_another_stage_is_refused_where_it_does_not_belong(tmp_path, section):
    """`figure_rate` is Figure 2's (attacks); a schema that accepted it elsewhere would hide a misplaced setting."""
    msg = error_of(tmp_path, {section: {"figure_rate": "raw"}})
    assert f"config field {section}: unknown field(s) 'figure_rate'" in msg
    assert run_with(tmp_path, {"attacks": {"figure_rate": "raw"}}).section("attacks")["figure_rate"] == "raw"


def test_figures_list_untrained_models_under_their_own_family():
    """Legends colour by family: a random initialisation must not pass for a trained model there."""
    demo = load_config([ROOT / "config" / "demo.yaml"], ROOT)
    drawn = demo.drawn_families(demo.models)
    assert drawn == {"pixels": "baseline", "resnet18-random": "vision (untrained)",
                     "clip-rn50-random": "vision-language (untrained)", "minilm": "text"}
    paper = load_config([], ROOT)
    assert paper.drawn_families(paper.models) == {m: paper.model_spec(m)["family"] for m in paper.models}


def test_every_figure_rule_draws_the_families_that_mark_untrained_models():
    """The one family mapping that stays raw is the claims' (they leave untrained models out themselves)."""
    raw_mapping = 'families={m: RUN.model_spec(m)["family"]'
    for rules in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = rules.read_text()
        allowed = 1 if rules.name == "report.smk" else 0
        assert text.count(raw_mapping) == allowed, f"{rules.name} draws families without marking untrained models"
