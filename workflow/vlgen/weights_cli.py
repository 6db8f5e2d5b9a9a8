"""`vlgen weights fetch | pin | status`: the download rule's command, and the lock and status tools."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vlgen.config import RunConfig, load_config
from vlgen.weights import (LOCK_FILE, RECORD_FILE, WeightFile, combined_status, fetch, file_status, known_digests,
                           model_files)


def _catalog_files(config: RunConfig, models: list[str]) -> dict[str, list[WeightFile]]:
    files = {m: model_files(m, config.raw["model_catalog"][m]) for m in models}
    return {m: f for m, f in files.items() if f}


def model_status(config: RunConfig, root: Path, model: str) -> str | None:
    """missing / present / verified over every file of the model's pins; None when it has no pin."""
    files = model_files(model, config.raw["model_catalog"][model])
    if not files:
        return None
    lock = known_digests(root)
    return combined_status([file_status(root, f, lock) for f in files])


def cmd_fetch(args: argparse.Namespace) -> int:
    print(fetch(WeightFile.from_json(args.file), args.root, args.lock, record_path=args.record,
                progress=not args.no_progress))
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    """Fetch (or verify) every file of the run's models, recording missing digests in the lock."""
    root = Path(args.root)
    config = load_config(args.configfile, root)
    failed = []
    for model, files in _catalog_files(config, args.models or config.models).items():
        for file in files:
            try:
                fetch(file, root, root / LOCK_FILE)
                print(f"{model}  {file.location}  verified")
            except (OSError, ValueError) as exc:
                failed.append(model)
                print(f"{model}  {file.location}  FAILED: {exc}")
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    from vlgen.cli import _table

    root = Path(args.root)
    config = load_config(args.configfile, root)
    lock = known_digests(root)
    rows: list[dict[str, Any]] = []
    for model, files in _catalog_files(config, sorted(config.raw["model_catalog"])).items():
        rows += [{"model": model, "selected": model in config.models, "status": file_status(root, f, lock),
                  "sha256": lock.get(f.location, "-")[:16], "source": f.location, "path": f.path} for f in files]
    print(_table(rows))
    return 0


def add_parser(sub: Any) -> None:
    """The `weights` command group, added to vlgen's parser."""
    from vlgen.cli import _config_args

    weights = sub.add_parser("weights", help="download, verify and lock pinned model weights")
    weights_sub = weights.add_subparsers(dest="weights_command", required=True)
    p = weights_sub.add_parser("fetch", help="fetch and verify one weights file (the workflow calls this)")
    p.add_argument("--file", required=True, help="the file's pin as JSON")
    p.add_argument("--root", default=".", help="the workflow's directory (resources/ is under it)")
    p.add_argument("--lock", default=LOCK_FILE, help="the committed lock (read only)")
    p.add_argument("--record", default=RECORD_FILE, help="where a digest the lock lacks is recorded")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_fetch)
    p = weights_sub.add_parser("pin", help="fetch and verify the run's weights, filling config/weights.lock")
    _config_args(p)
    p.add_argument("models", nargs="*", help="only these catalog entries (default: the run's models)")
    p.set_defaults(func=cmd_pin)
    p = weights_sub.add_parser("status", help="each pinned file: missing / present / verified")
    _config_args(p)
    p.set_defaults(func=cmd_status)
