"""Every checkpoint format, end to end: the test writes a checkpoint in that exact format (random weights
of the real architecture), serves it over loopback HTTP, fetches it through the weights stage and
loads it with the `checkpoint` source; the loaded parameters must equal the written ones and the
features must equal the reference network's. Also: key errors, refused pickles, classifier heads.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
import torchvision
from helpers.loopback import serve_weights

from vlgen.models.checkpoint_formats import CheckpointKeyError, get_format
from vlgen.models.heads import has_classifier, load_classifier
from vlgen.models.registry import get_source
from vlgen.models.safe_load import UnsafeCheckpointError, read_checkpoint
from vlgen.weights import fetch, model_pin, read_lock

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def preprocess(crop=64, mean=IMAGENET["mean"], std=IMAGENET["std"]):
    return {"size": crop, "crop": crop, "interpolation": "bicubic", "mean": mean, "std": std, "resize_backend": "pil"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def images(n=2, size=64, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="session")
def resnet50():
    """One random torchvision ResNet-50 for the whole session (~100 MB of weights)."""
    torch.manual_seed(123)
    return torchvision.models.resnet50().eval()


def without_fc(state):
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


# Each format's writer: the published layout around a torchvision ResNet-50 state dict.
def write_torchvision(state, path):  # torchvision's resnet50-0676ba61.pth: the state dict itself
    torch.save(state, path)


def write_geirhos(state, path):  # texture-vs-shape: ImageNet-example checkpoint, DataParallel, 2019 legacy format
    checkpoint = {"epoch": 60, "arch": "resnet50", "best_prec1": torch.tensor(54.3),
                  "state_dict": {f"module.{k}": v for k, v in state.items()},
                  "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]}}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)


def write_madry(state, path):  # robustness: model + attacker copies of the classifier and the normaliser
    model = {f"module.model.{k}": v for k, v in state.items()}
    model |= {f"module.attacker.model.{k}": v.clone() for k, v in state.items()}
    model |= {"module.normalizer.new_mean": torch.tensor(IMAGENET["mean"]).view(3, 1, 1),
              "module.normalizer.new_std": torch.tensor(IMAGENET["std"]).view(3, 1, 1),
              "module.attacker.normalize.new_mean": torch.tensor(IMAGENET["mean"]).view(3, 1, 1)}
    torch.save({"model": model, "optimizer": {"state": {}, "param_groups": []}, "schedule": None, "epoch": 90}, path)


def write_virtex(state, path):  # kdexd/virtex hubconf: torchvision resnet50 with fc = Identity
    torch.save(without_fc(state), path)


def write_icmlm(state, path):  # ICMLM: the CNN under 'cnn', next to the rest of the model
    torch.save({"cnn": without_fc(state), "epoch": 5}, path)


WRITERS = {"state_dict": write_torchvision, "geirhos": write_geirhos, "madry": write_madry, "virtex": write_virtex,
           "icmlm": write_icmlm}


def fetch_pinned(tmp_path, host, name, pin_fields, model="M", spec_fields=None):
    """The weights stage for one model: its pin's files fetched into tmp_path (root), lock in tmp_path/config."""
    spec = {"source": "checkpoint", "preprocess": preprocess(), "precision": "fp32",
            "weights": {"url": f"{host.url}/files/{name}", **pin_fields}, **(spec_fields or {})}
    pin = model_pin(model, spec)
    for file in pin.files:
        fetch(file, tmp_path, tmp_path / "config" / "weights.lock", progress=False)
    return spec, tmp_path / pin.argument


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_resnet50_formats_round_trip(fmt, resnet50, tmp_path):
    written = tmp_path / "served" / f"{fmt}.pth.tar"
    written.parent.mkdir()
    WRITERS[fmt](resnet50.state_dict(), written)
    digest = sha256(written)
    with serve_weights({written.name: written}) as host:
        spec, local = fetch_pinned(tmp_path, host, written.name, {"sha256": digest[:8]},
                                   spec_fields={"architecture": "torchvision/resnet50", "format": fmt})
    assert local == tmp_path / "resources/weights/M" / written.name and sha256(local) == digest
    assert read_lock(tmp_path / "config" / "weights.lock") == {f"{host.url}/files/{written.name}": digest}
    model = get_source("checkpoint").load(spec, local, "cpu")
    loaded = model.module.state_dict()
    expected = without_fc(resnet50.state_dict())
    assert loaded.keys() == expected.keys()  # fc removed: the feature is the avg-pooled 2048-d vector
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)
    x = images()
    with torch.inference_mode():
        reference = torch.flatten(resnet50.avgpool(torch.nn.Sequential(*list(resnet50.children())[:-2])(x)), 1)
        torch.testing.assert_close(model(x), reference, rtol=1e-4, atol=1e-4)
    assert model.dim == 2048


@pytest.mark.slow
def test_timm_bit_features_are_pre_logits_and_its_classifier_comes_from_a_second_checkpoint(tmp_path):
    """BiT-M: the 21k checkpoint (a small random head stands in for its 21,843 rows; the size is read from
    the file) gives pre-logits; the in1k fine-tuned checkpoint is the attack classifier, mean = std = 0.5."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(1)
    features_net = timm.create_model("resnetv2_50x1_bit", num_classes=21).eval()
    classifier_net = timm.create_model("resnetv2_50x1_bit", num_classes=1000).eval()
    served = tmp_path / "served"
    (served / "in21k").mkdir(parents=True)
    (served / "ft").mkdir()
    save_file(features_net.state_dict(), served / "in21k" / "model.safetensors")
    save_file(classifier_net.state_dict(), served / "ft" / "ft.safetensors")
    files = {"model.safetensors": served / "in21k" / "model.safetensors", "ft.safetensors": served / "ft" / "ft.safetensors"}
    half = preprocess(mean=[0.5] * 3, std=[0.5] * 3)
    with serve_weights(files) as host:
        spec, local = fetch_pinned(tmp_path, host, "model.safetensors", {}, model="BiT-M", spec_fields={
            "architecture": "timm/resnetv2_50x1_bit", "format": "state_dict", "preprocess": half,
            "classifier": {"weights": {"url": f"{host.url}/files/ft.safetensors"}}})
        from vlgen.weights import classifier_pin

        (head_file,) = classifier_pin("BiT-M", spec).files
        head_local = fetch(head_file, tmp_path, tmp_path / "config" / "weights.lock", progress=False)
    assert head_local == tmp_path / "resources/weights/BiT-M/classifier/ft.safetensors"
    model = get_source("checkpoint").load(spec, local, "cpu")
    body = {k: v for k, v in features_net.state_dict().items() if not k.startswith("head.fc.")}
    assert all(torch.equal(model.module.state_dict()[k], v) for k, v in body.items())
    x = images()
    with torch.inference_mode():
        expected = features_net.forward_head(features_net.forward_features(x), pre_logits=True)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)
        assert has_classifier(spec)
        classifier = load_classifier(spec, head_local)
        pixels = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(classifier(pixels), classifier_net((pixels - 0.5) / 0.5), rtol=1e-4, atol=1e-4)
    assert (classifier.dim, classifier.num_classes, model.dim) == (2048, 1000, 2048)


@pytest.mark.slow
def test_open_clip_checkpoint_from_the_hub_serves_clip_and_clip_t(tmp_path, monkeypatch):
    """CLIP and CLIP-T pin the same hub file: one download (hub cache), two models, QuickGELU applied."""
    import huggingface_hub.constants
    import open_clip
    from safetensors.torch import save_file

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    torch.manual_seed(2)
    clip = open_clip.create_model("RN50-quickgelu", pretrained=None).eval()
    served = tmp_path / "open_clip_model.safetensors"
    save_file(clip.state_dict(), served)
    revision = "e" * 40
    with serve_weights({served.name: served}) as host:
        pin = {"hub": "timm/resnet50_clip.openai", "revision": revision, "files": [served.name],
               "sha256": {served.name: sha256(served)}}
        image_spec = {"source": "checkpoint", "architecture": "open_clip/RN50-quickgelu", "format": "state_dict",
                      "weights": pin, "preprocess": preprocess(224), "precision": "fp32"}
        text_spec = {"source": "open_clip_text", "name": "RN50", "pretrained": "openai", "weights": pin}
        paths = {model_pin(m, s).argument for m, s in (("CLIP", image_spec), ("CLIP-T", text_spec))}
        assert paths == {f"resources/weights/hub/models--timm--resnet50_clip.openai/snapshots/{revision}/{served.name}"}
        (file,) = model_pin("CLIP", image_spec).files
        local = fetch(file, tmp_path, tmp_path / "config" / "weights.lock", endpoint=host.url, progress=False)
        fetch(file, tmp_path, tmp_path / "config" / "weights.lock", endpoint=host.url, progress=False)
    assert sum(host.hits.values()) == 1  # the second fetch verified the cached file, no download
    image = get_source("checkpoint").load(image_spec, local, "cpu")
    text = get_source("open_clip_text").load(text_spec, local, "cpu")
    assert all(torch.equal(image.module.state_dict()[k], v) for k, v in clip.visual.state_dict().items())
    x = images(size=224)
    tokens = open_clip.get_tokenizer("RN50")(["a photo of a goldfish."])
    with torch.inference_mode():
        torch.testing.assert_close(image(x), clip.encode_image(x), rtol=1e-4, atol=1e-4)
        expected_text = clip.encode_text(tokens).numpy()
    torch.testing.assert_close(torch.from_numpy(text.encode(["goldfish"])), torch.from_numpy(expected_text),
                               rtol=1e-4, atol=1e-4)
    assert image.dim == 1024 and not has_classifier(image_spec)


@pytest.mark.slow
def test_rn50_classifier_normalises_inside_and_backbones_without_head_have_none(resnet50, tmp_path):
    path = tmp_path / "rn50.pth"
    torch.save(resnet50.state_dict(), path)
    spec = {"source": "checkpoint", "architecture": "torchvision/resnet50", "format": "state_dict",
            "weights": {"url": "https://example.invalid/rn50.pth"}, "preprocess": preprocess()}
    classifier = load_classifier(spec, path)
    pixels = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET["mean"], IMAGENET["std"]))
    with torch.inference_mode():
        torch.testing.assert_close(classifier(pixels), resnet50((pixels - mean) / std), rtol=1e-4, atol=1e-4)
    assert (classifier.dim, classifier.num_classes) == (2048, 1000)
    for fmt in ("virtex", "icmlm"):
        assert not has_classifier({**spec, "format": fmt})
        with pytest.raises(ValueError, match="no classifier"):
            load_classifier({**spec, "format": fmt}, path)


# -- key mapping errors -----------------------------------------------------------------------------
def test_missing_and_unexpected_keys_are_listed(resnet50, tmp_path):
    fmt = get_format("state_dict")
    state = dict(resnet50.state_dict())
    del state["layer4.2.conv3.weight"], state["bn1.running_mean"]
    state["projection.weight"] = torch.zeros(2)
    with pytest.raises(CheckpointKeyError) as info:
        fmt.load_into(torchvision.models.resnet50(), state, "x.pth")
    message = str(info.value)
    assert "missing keys: bn1.running_mean, layer4.2.conv3.weight" in message
    assert "unexpected keys: projection.weight" in message and "x.pth" in message


def test_keys_outside_the_prefix_are_errors_unless_declared_dropped(resnet50, tmp_path):
    state = {f"module.model.{k}": v for k, v in resnet50.state_dict().items()}
    madry = get_format("madry")
    checkpoint = {"model": {**state, "module.attacker.model.fc.bias": torch.zeros(1000)}}
    mapped = madry.map_keys(madry.stored_state(checkpoint, "m.pt"), "m.pt")
    assert mapped.keys() == resnet50.state_dict().keys()
    with pytest.raises(CheckpointKeyError, match=r"without the prefix 'module.model.': module.extra.weight"):
        madry.map_keys({**state, "module.extra.weight": torch.zeros(1)}, "m.pt")
    with pytest.raises(CheckpointKeyError, match=r"expects the state dict under \['model'\], found \['state_dict'\]"):
        madry.stored_state({"state_dict": state}, "m.pt")


def test_a_wrong_shape_names_the_key(resnet50):
    state = dict(resnet50.state_dict())
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(CheckpointKeyError, match="conv1.weight"):
        get_format("state_dict").load_into(torchvision.models.resnet50(), state, "x.pth")


# -- safe loading -----------------------------------------------------------------------------------
class RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path, legacy):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "payload": RunsCode(marker)}, path,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system") as info:
        read_checkpoint(path)
    assert "not on the allowlist" in str(info.value) and str(path) in str(info.value)
    assert not marker.exists()


def test_allowed_globals_extend_the_allowlist_for_one_format_only(tmp_path):
    import argparse

    path = tmp_path / "with_args.pth"
    torch.save({"args": argparse.Namespace(lr=0.1), "w": torch.ones(2)}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"argparse\.Namespace"):
        read_checkpoint(path)
    both = tmp_path / "args_and_code.pth"
    torch.save({"args": argparse.Namespace(lr=0.1), "payload": RunsCode(tmp_path / "ran")}, both)
    with pytest.raises(UnsafeCheckpointError, match=r"the global\(s\) posix\.system, which"):  # not the allowed one
        read_checkpoint(both, ("argparse.Namespace",))
    loaded = read_checkpoint(path, ("argparse.Namespace",))
    assert loaded["args"].lr == 0.1 and torch.equal(loaded["w"], torch.ones(2))
    with pytest.raises(UnsafeCheckpointError):  # the extension does not outlive the call
        read_checkpoint(path)


# -- files written by numpy 1.x, refusals that are not a global ---------------------------------------
def numpy1_pickle_module():
    """A pickle module whose Pickler spells numpy's scalar the way numpy 1.x did (`numpy.core.multiarray`)."""
    import pickle
    import types

    import numpy as np

    scalar = np._core.multiarray.scalar

    class Numpy1Pickler(pickle._Pickler):
        def save_global(self, obj, name=None):
            if obj is scalar:
                self.write(pickle.GLOBAL + b"numpy.core.multiarray\nscalar\n")
                self.memoize(obj)
                return
            super().save_global(obj, name)

    module = types.ModuleType("numpy1_pickle")
    module.Pickler, module.Unpickler, module.load = Numpy1Pickler, pickle.Unpickler, pickle.load
    module.dump = lambda obj, fh, protocol: Numpy1Pickler(fh, protocol).dump(obj)  # the legacy format's header
    return module


def pickled_names(path: Path) -> bytes:
    """The pickle bytes of a checkpoint (zip: its data.pkl; legacy: the whole file)."""
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    return path.read_bytes()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_numpy_1_pickle_loads_under_the_old_and_the_new_name_of_its_globals(tmp_path, legacy):
    import numpy as np

    from vlgen.models.checkpoint_formats import NUMPY_SCALARS

    path = tmp_path / "numpy1.pth"
    torch.save({"w": torch.arange(3.0), "best_acc": np.float64(71.25)}, path, pickle_module=numpy1_pickle_module(),
               _use_new_zipfile_serialization=not legacy)
    assert b"numpy.core.multiarray\nscalar" in pickled_names(path) and b"numpy._core" not in pickled_names(path)
    with pytest.raises(UnsafeCheckpointError, match=r"numpy\.core\.multiarray\.scalar"):
        read_checkpoint(path)
    old_names = ("numpy.core.multiarray.scalar", "numpy.dtype", "numpy.dtypes.Float64DType")
    for names in (NUMPY_SCALARS, old_names):
        loaded = read_checkpoint(path, names)
        assert type(loaded["best_acc"]) is np.float64 and loaded["best_acc"] == 71.25
        assert torch.equal(loaded["w"], torch.arange(3.0))


def test_a_refusal_that_names_no_global_is_unsafe_with_the_unpicklers_words_not_damage(tmp_path):
    """numpy.dtype builds a Float64DType: torch refuses the build ("Can only build"), naming no GLOBAL."""
    import numpy as np

    path = tmp_path / "numpy2.pth"
    torch.save({"w": torch.ones(2), "best_acc": np.float64(0.5)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        read_checkpoint(path, ("numpy._core.multiarray.scalar", "numpy.dtype"))
    message = str(info.value)
    assert "Can only build" in message and "numpy.dtypes.Float64DType" in message and str(path) in message
    assert read_checkpoint(path, ("numpy._core.multiarray.scalar", "numpy.dtype", "numpy.dtypes.Float64DType"))[
        "best_acc"] == 0.5


# -- VirTex: both published layouts ---------------------------------------------------------------------
def test_virtex_reads_the_current_plain_file_and_the_v0_9_model_entry(resnet50):
    fmt = get_format("virtex")
    state = without_fc(resnet50.state_dict())
    for checkpoint in (state, {"model": state}):  # hubconf.py since 2021-04-27; until 2021-03-02
        assert fmt.map_keys(fmt.stored_state(checkpoint, "v.pth"), "v.pth") == state
    with pytest.raises(CheckpointKeyError, match=r"under \['model'\] or the top level, found Tensor"):
        fmt.stored_state(torch.zeros(1), "v.pth")


# -- ICMLM: an unknown layout --------------------------------------------------------------------------
def sequential_state(resnet):
    """What nn.Sequential(*list(resnet.children())[:-2]).state_dict() stores: children numbered 0..7."""
    return torch.nn.Sequential(*list(resnet.children())[:-2]).state_dict()


ICMLM_LAYOUTS = {
    "torchvision": lambda net: without_fc(net.state_dict()),
    "dataparallel": lambda net: {f"module.{k}": v for k, v in without_fc(net.state_dict()).items()},
    "sequential": sequential_state,
    "dataparallel-sequential": lambda net: {f"module.{k}": v for k, v in sequential_state(net).items()},
}


@pytest.mark.slow
@pytest.mark.parametrize("layout", list(ICMLM_LAYOUTS))
def test_icmlm_layouts_load_and_report_what_the_authors_strict_false_load_set(layout, resnet50, tmp_path, caplog):
    """The file as a training script saves it: the CNN under 'cnn', its args (argparse.Namespace) and a numpy
    1.x float64 beside it. Every layout loads exactly; the log says how many keys a strict=False load of the
    keys as stored would have set (318 = ResNet-50 without fc; 0 = the authors' model kept its random init)."""
    import argparse
    import logging

    import numpy as np

    path = tmp_path / "icmlm.pth"
    torch.save({"cnn": ICMLM_LAYOUTS[layout](resnet50), "args": argparse.Namespace(arch="resnet50", lr=0.1),
                "best_map": np.float64(0.25), "epoch": 5}, path, pickle_module=numpy1_pickle_module())
    spec = {"source": "checkpoint", "architecture": "torchvision/resnet50", "format": "icmlm",
            "weights": {"url": "https://example.invalid/icmlm.pth"}, "preprocess": preprocess()}
    with caplog.at_level(logging.INFO, logger="vlgen.checkpoints"):
        model = get_source("checkpoint").load(spec, path, "cpu")
    expected = without_fc(resnet50.state_dict())
    assert all(torch.equal(model.module.state_dict()[k], v) for k, v in expected.items())
    x = images()
    with torch.inference_mode():
        reference = torch.flatten(resnet50.avgpool(torch.nn.Sequential(*list(resnet50.children())[:-2])(x)), 1)
        torch.testing.assert_close(model(x), reference, rtol=1e-4, atol=1e-4)
    matched = 318 if layout == "torchvision" else 0
    assert f"sets {matched} of the architecture's 318 keys" in caplog.text
    assert ("random initialisation" in caplog.text) == (matched == 0)


def test_a_layout_no_rule_maps_lists_keys_and_the_prefix_renames_that_would_fix_them(resnet50):
    net = torchvision.models.resnet50()
    icmlm = get_format("icmlm")
    stored = {f"backbone.{k}": v for k, v in without_fc(resnet50.state_dict()).items()}
    with pytest.raises(CheckpointKeyError) as info:
        icmlm.load_into(net, icmlm.map_keys(stored, "i.pth"), "i.pth", stored=list(stored))
    message = str(info.value)
    assert "missing keys: bn1.bias, bn1.running_mean" in message and "(265 in all)" in message  # no num_batches_tracked
    assert "unexpected keys: backbone.bn1.bias, backbone.bn1.num_batches_tracked" in message
    assert "(318 in all)" in message
    assert "prefix renames that would fix 318 of the unexpected keys (the format's key_map): 'backbone.' -> '' " \
           "(318 keys)" in message
    assert "sets 0 of the architecture's 318 keys (none: such a model keeps its random initialisation)" in message
    # Sequential numbering under a format without the mapping: the renames found are exactly the children's names
    sequential = sequential_state(resnet50)
    with pytest.raises(CheckpointKeyError) as info:
        get_format("state_dict").load_into(net, dict(sequential), "s.pth")
    suggested = str(info.value).split("key_map): ")[1]
    assert suggested == ("'6.' -> 'layer3.' (114 keys), '5.' -> 'layer2.' (78 keys), '4.' -> 'layer1.' (60 keys), "
                         "'7.' -> 'layer4.' (60 keys), '1.' -> 'bn1.' (5 keys), '0.' -> 'conv1.' (1 keys)")


# -- the timm source with a local file ------------------------------------------------------------------
@pytest.mark.slow
def test_timm_source_reads_a_bit_safetensors_file_from_a_timm_hub_repo(tmp_path):
    """resnetv2_50x1_bit.goog_in21k sets custom_load (timm versions that keep it for a `file` overlay np.load a
    Google .npz); the file every timm hub repo ships is model.safetensors in timm's key names. A small random
    head stands in for 21,843 rows. Every key is checked: timm itself loads with strict=False once it drops
    a classifier, so a file short of a layer would keep that layer's random weights."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(7)
    net = timm.create_model("resnetv2_50x1_bit", num_classes=21).eval()
    assert timm.create_model("resnetv2_50x1_bit.goog_in21k", pretrained=False).pretrained_cfg["custom_load"]
    save_file(net.state_dict(), tmp_path / "model.safetensors")
    spec = {"source": "timm", "name": "resnetv2_50x1_bit", "pretrained": "goog_in21k",
            "preprocess": preprocess(mean=[0.5] * 3, std=[0.5] * 3)}
    model = get_source("timm").load(spec, tmp_path / "model.safetensors", "cpu")
    x = images()
    with torch.inference_mode():
        expected = net.forward_head(net.forward_features(x), pre_logits=True)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)
    assert model.dim == 2048
    short = {k: v for k, v in net.state_dict().items() if k != "stages.3.blocks.2.conv3.weight"}
    save_file(short, tmp_path / "short.safetensors")
    with pytest.raises(CheckpointKeyError, match=r"missing keys: stages\.3\.blocks\.2\.conv3\.weight"):
        get_source("timm").load(spec, tmp_path / "short.safetensors", "cpu")
