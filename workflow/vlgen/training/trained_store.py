"""Where trained networks live in the store, and how they get there without ever looking finished early.

    trained/.{key}.partial/checkpoint.pt   the last whole epoch (model, heads, optimiser, curve): resumable
    trained/{key}/                         weights.safetensors (the network), heads.safetensors, curve.csv,
                                           payload.json, `complete` last
    trained/{key}.json                     the manifest the workflow's rule outputs

Every file is written to a temporary name and renamed; the entry directory appears by one rename of the
partial directory after `complete` is in it, so no reader ever sees a half-written entry as complete.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from vlgen.keys import canonical_json, content_key

WEIGHTS = "weights.safetensors"
HEADS = "heads.safetensors"  # the recipe's heads (classifier, projections): zero-shot and retrieval use them
CURVE = "curve.csv"
PAYLOAD = "payload.json"
COMPLETE = "complete"
CHECKPOINT = "checkpoint.pt"


def replace_atomic(path: Path, write: Any) -> None:
    """Call `write(tmp_path)`, then rename onto `path` (same directory, so the rename is atomic)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    replace_atomic(path, lambda tmp: tmp.write_text(text))


class TrainedStore:
    """The `trained/` part of a store root."""

    def __init__(self, root: str | Path):
        self.dir = Path(root) / "trained"

    def entry_dir(self, key: str) -> Path:
        return self.dir / key

    def partial_dir(self, key: str) -> Path:
        return self.dir / f".{key}.partial"

    def manifest_path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def checkpoint_path(self, key: str) -> Path:
        return self.partial_dir(key) / CHECKPOINT

    def is_complete(self, key: str) -> bool:
        entry = self.entry_dir(key)
        return (entry / COMPLETE).is_file() and (entry / WEIGHTS).is_file()

    def write_manifest(self, key: str) -> Path:
        """The small JSON the workflow depends on, from the complete entry."""
        if not self.is_complete(key):
            raise FileNotFoundError(f"trained entry {key} under {self.dir} is missing or incomplete; "
                                    "rerun its training")
        entry = self.entry_dir(key)
        info = json.loads((entry / COMPLETE).read_text())
        manifest = {"key": key, "complete": True, "path": str(entry), **info,
                    "payload": json.loads((entry / PAYLOAD).read_text())}
        _write_text(self.manifest_path(key), json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return self.manifest_path(key)

    def publish(self, payload: dict[str, Any], network: dict[str, Any], heads: dict[str, Any],
                curve: list[dict[str, Any]], info: dict[str, Any]) -> Path:
        """Write the network's and heads' weights, curve and payload into the partial directory, `complete`
        last, rename it into place, drop the checkpoint and write the manifest."""
        key = content_key(payload)
        partial = self.partial_dir(key)
        partial.mkdir(parents=True, exist_ok=True)
        for name, state in ((WEIGHTS, network), (HEADS, heads)):
            replace_atomic(partial / name, lambda tmp, state=state: _save_tensors(tmp, state))
        replace_atomic(partial / CURVE, lambda tmp: _write_curve(tmp, curve))
        _write_text(partial / PAYLOAD, json.dumps(json.loads(canonical_json(payload)), indent=2, sort_keys=True) + "\n")
        _write_text(partial / COMPLETE, json.dumps({**info, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n")
        final = self.entry_dir(key)
        if final.exists():  # an incomplete leftover under the final name
            shutil.rmtree(final)
        os.replace(partial, final)
        (final / CHECKPOINT).unlink(missing_ok=True)
        return self.write_manifest(key)


def _save_tensors(path: Path, state: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    save_file({name: value.detach().cpu().contiguous() for name, value in state.items()}, str(path))


def _write_curve(path: Path, curve: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(curve[0]) if curve else ["epoch", "step", "loss"])
        writer.writeheader()
        writer.writerows(curve)
