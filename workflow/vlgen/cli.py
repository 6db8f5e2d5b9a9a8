"""The `vlgen` command: extraction and the `paper` transfer probe (called by the workflow), store tools,
catalog listings.

Heavy imports happen inside each command, so `vlgen store ls` starts without torch.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from vlgen.config import ConfigError, RunConfig, load_config, read_yaml


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _run_configs(args: argparse.Namespace) -> list[RunConfig]:
    """The run configs named with --configfile, or every run config under config/ by default."""
    root = Path(args.root)
    if args.configfile:
        return [load_config(args.configfile, root)]
    runs = sorted(p for p in (root / "config").glob("*.yaml") if "run" in read_yaml(p))
    return [load_config([p], root) for p in runs]


def _store_root(args: argparse.Namespace) -> Path:
    if args.store:
        return Path(args.store)
    return Path(args.root) / load_config(args.configfile or [], args.root).store


def _names_by_key(configs: list[RunConfig]) -> dict[str, tuple[str, str, str]]:
    return {job.key: (job.model, job.dataset, job.split) for c in configs for job in c.feature_jobs()}


def _torch_threads(threads: int) -> None:
    """A job's --threads caps torch's intra-op threads (0: torch's default, all cores)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


# -- commands -------------------------------------------------------------------------------------
def _job_payload(args: argparse.Namespace) -> dict[str, Any]:
    """The job's payload, checked against --expect-key; torch's threads set to --threads."""
    from vlgen.keys import content_key

    payload = json.loads(args.payload)
    if args.expect_key and content_key(payload) != args.expect_key:
        raise SystemExit(f"vlgen {args.command}: payload hashes to {content_key(payload)}, not {args.expect_key}: "
                         "the workflow and the package disagree on keys (reinstall with `pip install -e .`)")
    _torch_threads(args.threads)
    return payload


def cmd_extract(args: argparse.Namespace) -> int:
    from vlgen.data.fingerprint import StaleDataError
    from vlgen.extract import extract

    payload = _job_payload(args)
    dataset_spec = json.loads(args.dataset_spec) if args.dataset_spec else None
    try:
        manifest = extract(payload, args.store, args.dataset_root, dataset_spec=dataset_spec, weights=args.weights,
                           device=args.device, batch_size=args.batch_size, workers=args.workers,
                           progress=not args.no_progress)
    except StaleDataError as exc:  # the user's data changed under a built DAG: say so, no traceback
        print(f"vlgen extract: {exc}", file=sys.stderr)
        return 1
    print(manifest)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from vlgen.training.job import run_training

    payload = _job_payload(args)
    dataset_spec = json.loads(args.dataset_spec) if args.dataset_spec else None
    print(run_training(payload, args.store, args.dataset_root, dataset_spec=dataset_spec,
                       text_weights=args.text_weights, device=args.device))
    return 0


def cmd_transfer_augmented(args: argparse.Namespace) -> int:
    """The `paper` probe of one model on one dataset: the table's row (CSV) and the probe (.pt).

    A command, not a Snakemake script, so that it runs in the model's environment (TSM: TensorFlow's,
    which has no pandas: the CSV is written with the standard library).
    """
    from vlgen.jobs import open_manifest, start_job
    from vlgen.tasks.probe import AdamSchedule, n_classes_of, save_probe, transfer_row
    from vlgen.tasks.probe_augmented import Augmentation, augmented_probe

    if args.threads:  # BLAS too, as every workflow job (the log is the rule's redirect of stderr)
        start_job(None, args.threads)
    _torch_threads(args.threads)
    settings = json.loads(args.settings)
    train, test = open_manifest(args.train), open_manifest(args.test)
    probe, n_train = augmented_probe(
        test.payload["model"], json.loads(args.dataset_spec), args.dataset_root,
        n_classes_of(train.labels, test.labels), schedule=AdamSchedule.from_config(settings), seed=args.seed,
        augmentation=None if args.no_augment else Augmentation.from_config(settings),
        weights=args.weights, device=args.device, workers=args.workers)
    row = transfer_row(probe, test.load_features(), test.labels, n_train=n_train)
    save_probe(args.probe, probe, preset="paper", model=args.model, dataset=args.dataset, feature_key=test.key,
               accuracy=row["accuracy"])
    table = {"model": args.model, "dataset": args.dataset, "preset": "paper", **row, "feature_key": test.key}
    with open(args.table, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(table), lineterminator="\n")
        writer.writeheader()
        writer.writerow(table)
    return 0


def cmd_store_ls(args: argparse.Namespace) -> int:
    from vlgen.store import FeatureStore

    store = FeatureStore(_store_root(args))
    names = _names_by_key(_run_configs(args))
    rows = []
    for key in store.keys():
        attrs = store.attrs(key) or {}
        payload = attrs.get("payload", {})
        model, dataset, split = names.get(key, (
            f"{payload.get('model', {}).get('source', '?')}:{payload.get('model', {}).get('name', '?')}",
            payload.get("dataset", {}).get("reader", "?"), payload.get("split", "?")))
        size = sum(p.stat().st_size for d in (store.entry_dir(key), store.partial_dir(key)) if d.exists()
                   for p in d.rglob("*") if p.is_file())
        versions = attrs.get("versions") or {}
        rows.append({"key": key, "model": model, "dataset": dataset, "split": split, "n": attrs.get("n", "?"),
                     "dim": attrs.get("dim", "?"), "size_MB": f"{size / 1e6:.1f}",
                     "complete": "yes" if attrs.get("complete") is True else "NO",
                     "versions": " ".join(f"{k}={v}" for k, v in sorted(versions.items())) or "-"})
    columns = ["key", "model", "dataset", "split", "n", "dim", "size_MB", "complete"]
    print(_table(rows, columns + ["versions"] if args.long else columns))
    return 0


def cmd_store_verify(args: argparse.Namespace) -> int:
    from vlgen.store import FeatureStore, library_versions, version_differences

    store = FeatureStore(_store_root(args))
    keys = args.keys or store.keys()
    installed = library_versions()
    bad = 0
    for key in keys:
        problems = store.verify(key)
        if args.versions and not problems:
            differ = version_differences((store.attrs(key) or {}).get("versions"), installed)
            problems += [f"made with other versions: {', '.join(differ)}"] if differ else []
        bad += bool(problems)
        print(f"{key}  {'ok' if not problems else 'BAD: ' + '; '.join(problems)}")
    print(f"{len(keys) - bad} ok, {bad} bad")
    return 1 if bad else 0


def cmd_store_gc(args: argparse.Namespace) -> int:
    from vlgen.store import FeatureStore

    configs = _run_configs(args)
    store = FeatureStore(_store_root(args))
    referenced = set(_names_by_key(configs))
    orphans = [k for k in store.keys() if k not in referenced]
    runs = ", ".join(c.run for c in configs)
    print(f"{len(orphans)} of {len(store.keys())} entries are referenced by no run config ({runs})")
    for key in orphans:
        print(f"  {key}")
        if args.yes:
            store.remove(key)
    if orphans and not args.yes:
        print("nothing deleted; rerun with --yes to delete them")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from vlgen.models.listing import describe_models
    from vlgen.weights_cli import model_status

    config = load_config(args.configfile or [], args.root)
    print(_table(describe_models(config, weights_state=lambda m: model_status(config, Path(args.root), m))))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from vlgen.data.listing import describe_datasets

    print(_table(describe_datasets(load_config(args.configfile or [], args.root))))
    return 0


def cmd_prepare_dataset(args: argparse.Namespace) -> int:
    from vlgen.data.registry import get_reader

    spec = json.loads(args.spec)
    try:
        get_reader(spec["reader"]).prepare(spec, Path(args.root))
    except (OSError, ValueError) as exc:  # a missing, incomplete or corrupt dataset: say what, no traceback
        print(f"vlgen prepare-dataset: {exc}", file=sys.stderr)
        return 1
    return 0


# -- parser ---------------------------------------------------------------------------------------
def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configfile", nargs="+", default=[], help="run config(s), as given to snakemake")
    parser.add_argument("--root", default=".", help="the workflow's directory (holds config/)")


def _model_job_args(parser: argparse.ArgumentParser, dataset_spec_required: bool) -> None:
    """What every job that reads a dataset's images takes (extraction, training, the `paper` probe)."""
    parser.add_argument("--dataset-root", required=True)
    parser.add_argument("--dataset-spec", required=dataset_spec_required, default=None,
                        help="the dataset's catalog entry as JSON, to read with"
                        + ("" if dataset_spec_required else " (default: the payload's)"))
    parser.add_argument("--device", default="auto")


def _job_args(parser: argparse.ArgumentParser, payload: str) -> None:
    """The arguments of a job the workflow runs on one key (extraction, training)."""
    parser.add_argument("--payload", required=True, help=f"{payload} as JSON")
    parser.add_argument("--store", required=True)
    parser.add_argument("--expect-key", default=None, help="fail unless the payload hashes to this key")
    _model_job_args(parser, dataset_spec_required=False)
    parser.add_argument("--threads", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlgen", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("extract", help="extract one store entry (the workflow calls this)")
    _job_args(p, "the entry's key payload")
    p.add_argument("--weights", default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("train", help="train one network of the controlled experiment (the workflow calls this)")
    _job_args(p, "the training key's payload")
    p.add_argument("--text-weights", default=None, help="the text encoder's weights (a pinned text model)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("transfer-augmented",
                       help="train the `paper` transfer probe on augmented images (the workflow calls this)")
    p.add_argument("--train", required=True, help="the train features' store manifest")
    p.add_argument("--test", required=True, help="the test features' store manifest (the probe is scored on them)")
    p.add_argument("--model", required=True, help="the model's name, for the table and the probe")
    p.add_argument("--dataset", required=True, help="the dataset's name, for the table and the probe")
    _model_job_args(p, dataset_spec_required=True)
    p.add_argument("--weights", default=None)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--settings", required=True, help="config `transfer.schedule` and `transfer.augment` as JSON")
    p.add_argument("--no-augment", action="store_true", help="the model's extraction transform only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", required=True, help="the one-row CSV to write")
    p.add_argument("--probe", required=True, help="the probe file to write")
    p.set_defaults(func=cmd_transfer_augmented)

    store = sub.add_parser("store", help="inspect and maintain the feature store")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    for name, func, text in (("ls", cmd_store_ls, "list entries"),
                             ("verify", cmd_store_verify, "recompute digests; find incomplete/corrupt/NaN entries"),
                             ("gc", cmd_store_gc, "list (and with --yes delete) entries no run config references")):
        p = store_sub.add_parser(name, help=text)
        _config_args(p)
        p.add_argument("--store", default=None, help="store root (default: the config's `store`)")
        if name == "ls":
            p.add_argument("--long", action="store_true", help="also show the library versions of each entry")
        if name == "verify":
            p.add_argument("keys", nargs="*")
            p.add_argument("--versions", action="store_true",
                           help="also flag entries made with other library versions than the installed ones")
        if name == "gc":
            p.add_argument("--yes", action="store_true", help="really delete")
        p.set_defaults(func=func)

    for name, func, text in (("models", cmd_models, "list the model catalog"),
                             ("datasets", cmd_datasets, "list the dataset catalog")):
        p = sub.add_parser(name, help=text)
        _config_args(p)
        p.set_defaults(func=func)

    from vlgen.weights_cli import add_parser as add_weights_parser

    add_weights_parser(sub)

    p = sub.add_parser("prepare-dataset", help="download or generate a dataset (the workflow calls this)")
    p.add_argument("--spec", required=True, help="the dataset's key payload as JSON")
    p.add_argument("--root", required=True)
    p.set_defaults(func=cmd_prepare_dataset)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Libraries (open_clip) log chatty INFO lines on the root logger: only ours are shown.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("vlgen").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"vlgen: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `vlgen store ls | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
