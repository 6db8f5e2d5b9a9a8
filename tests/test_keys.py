"""Content keys: canonical JSON and hashing (vlgen.keys)."""

from __future__ import annotations

import copy
import hashlib
import json
import re

import numpy as np
import pytest

from vlgen.keys import KEY_LENGTH, KEY_PATTERN, canonical_json, content_key


def payload() -> dict:
    """A realistic key payload: everything that determines the numbers of one extraction."""
    return {
        "model": {
            "source": "open_clip",
            "name": "RN50",
            "weights": {"url": "https://example.org/rn50.pt", "sha256": "ab" * 32},
            "layer": "visual.attnpool",
            "pooling": "none",
            "text": {"template": "a photo of a {}.", "tokens": "eot"},
            "precision": "fp32",
        },
        "preprocess": {
            "size": 224,
            "crop": 224,
            "interpolation": "bicubic",
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "std": [0.26862954, 0.26130258, 0.27577711],
            "dtype": "float32",
            "resize_backend": "pil",
            "channels_last": True,
        },
        "dataset": {"name": "cifar10", "split": "test", "version": "1", "subsample": {"n": 1000, "seed": 0}},
        "extractor_version": 3,
    }


def leaf_paths(value, path=()):
    """Every leaf of a nested dict/list payload, as a tuple of keys and indices."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaf_paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaf_paths(v, path + (i,))
    else:
        yield path


def mutated(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    raise AssertionError(f"unexpected leaf {value!r}")


# -- canonical JSON --------------------------------------------------------------------------------
def test_canonical_json_is_independent_of_key_order_at_every_level():
    a = {"b": 1, "a": {"y": [1, {"q": 2, "p": 3}], "x": "s"}}
    b = {"a": {"x": "s", "y": [1, {"p": 3, "q": 2}]}, "b": 1}
    assert list(a) != list(b) and list(a["a"]) != list(b["a"])
    assert canonical_json(a) == canonical_json(b)
    assert canonical_json(a) == '{"a":{"x":"s","y":[1,{"p":3,"q":2}]},"b":1}'
    assert content_key(a) == content_key(b)


def test_canonical_json_of_realistic_payload_reorders_to_the_same_key():
    p = payload()
    reordered = {k: (dict(reversed(list(v.items()))) if isinstance(v, dict) else v)
                 for k, v in reversed(list(p.items()))}
    assert json.dumps(reordered) != json.dumps(p)
    assert content_key(reordered) == content_key(p)


def test_list_order_matters():
    assert content_key({"mean": [0.1, 0.2]}) != content_key({"mean": [0.2, 0.1]})


def test_tuples_hash_like_lists():
    assert canonical_json({"size": (224, 224)}) == canonical_json({"size": [224, 224]}) == '{"size":[224,224]}'


def test_numpy_scalars_and_arrays_become_plain_values():
    p = {"std": np.float32(0.5), "n": np.int64(3), "flag": np.bool_(True),
         "mean": np.array([0.25, 0.5], dtype=np.float32), "shape": np.array([[1, 2], [3, 4]], dtype=np.int32),
         "name": np.str_("RN50")}
    assert canonical_json(p) == ('{"flag":true,"mean":[0.25,0.5],"n":3,"name":"RN50",'
                                 '"shape":[[1,2],[3,4]],"std":0.5}')
    plain = {"std": 0.5, "n": 3, "flag": True, "mean": [0.25, 0.5], "shape": [[1, 2], [3, 4]], "name": "RN50"}
    assert content_key(p) == content_key(plain)


def test_one_and_one_point_zero_hash_alike():
    assert content_key({"a": 1}) == content_key({"a": 1.0}) == content_key({"a": np.float64(1.0)})
    assert content_key({"a": [2, 3.0]}) == content_key({"a": [2.0, 3]})
    assert canonical_json({"a": 1.0}) == '{"a":1}'
    assert content_key({"a": 1}) != content_key({"a": 1.5})


def test_booleans_are_not_numbers():
    assert canonical_json({"a": True}) == '{"a":true}'
    assert content_key({"a": True}) != content_key({"a": 1})


@pytest.mark.parametrize("bad, where", [
    ({"a": {"b": [1.0, float("nan")]}}, "a.b[1]"),
    ({"model": {"std": float("inf")}}, "model.std"),
    ({"x": -float("inf")}, "x"),
    ({"m": {"mean": np.array([0.5, np.nan], dtype=np.float32)}}, "m.mean[1]"),
    ({"m": {"scale": np.float32(np.inf)}}, "m.scale"),
])
def test_non_finite_numbers_are_refused_with_their_field_path(bad, where):
    with pytest.raises(ValueError, match=re.escape(f"at {where}")) as info:
        content_key(bad)
    assert "non-finite" in str(info.value)


def test_unsupported_values_are_refused_with_their_field_path():
    with pytest.raises(TypeError, match=r"set at a\.b"):
        content_key({"a": {"b": {1, 2}}})
    with pytest.raises(TypeError, match="non-string key"):
        content_key({"a": {1: "x"}})


def test_changing_any_semantic_field_changes_the_key():
    base = payload()
    keys = {content_key(base)}
    paths = list(leaf_paths(base))
    assert len(paths) > 20
    for path in paths:
        p = copy.deepcopy(base)
        parent = p
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = mutated(parent[path[-1]])
        keys.add(content_key(p))
    assert len(keys) == len(paths) + 1  # every mutation gives a new key, all distinct


def test_adding_or_removing_a_field_changes_the_key():
    base = payload()
    more = copy.deepcopy(base)
    more["model"]["layer_index"] = -1
    less = copy.deepcopy(base)
    del less["dataset"]["version"]
    assert len({content_key(base), content_key(more), content_key(less)}) == 3


def test_key_is_twenty_lowercase_hex_characters_of_the_sha256():
    key = content_key(payload())
    assert KEY_LENGTH == 20 and len(key) == 20
    assert re.fullmatch(KEY_PATTERN, key) and re.fullmatch("[0-9a-f]{20}", key)
    # Known answer, computed independently of canonical_json.
    assert content_key({"b": [1, 2], "a": 1}) == hashlib.sha256(b'{"a":1,"b":[1,2]}').hexdigest()[:20]


def test_key_is_stable_across_processes():
    import os
    import subprocess
    import sys

    code = "import json, sys; from vlgen.keys import content_key; print(content_key(json.loads(sys.argv[1])))"
    out = subprocess.run([sys.executable, "-c", code, json.dumps(payload())], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "123"}).stdout.strip()
    assert out == content_key(payload())
