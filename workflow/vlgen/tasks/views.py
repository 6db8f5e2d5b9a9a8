"""Few-shot and transfer on a label view: other labels for the same images, from the same store entry.

A label view (vlgen.data.registry.LabelView) gives each image of a split another label (the colour
of the largest object, its position, the object count, ...) or -1 when the image is not in the view.
Evaluating a view never re-extracts: the rows of the store entry are matched to the view by sample
id and the images outside the view are dropped. The view of a dataset's own labels is `class`.

Numbers: few-shot as `vlgen.tasks.fewshot` (mean accuracy over trials per preset and shot count),
transfer as the `default` linear probe of `vlgen.tasks.probe`. Arrays in, rows out; no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vlgen.config import ConfigError, RunConfig
from vlgen.data.registry import get_reader
from vlgen.tasks.fewshot import fewshot_trials, summarise
from vlgen.tasks.probe import fit_cached_probe

# The view of a dataset's own labels (what the store entry holds); every dataset has it.
CLASS_VIEW = "class"
# A per-(model, dataset) score file of the controlled experiment: `view_rows` plus who and what.
SCORE_COLUMNS = ["model", "dataset", "view", "task", "metric", "value", "n_train", "n_test", "feature_key"]


def controlled_views(run: RunConfig) -> dict[str, list[str]]:
    """The datasets trained models are evaluated on (the few-shot and transfer datasets), with their views.

    A dataset's views are `controlled.evaluation.views.{dataset}`, else its own classes. A listed
    dataset that is not in the run, or a view its reader does not make, is a configuration error
    (reader view names are known without the data, so a dry run finds it).
    """
    listed = run.section("controlled").get("evaluation", {}).get("views", {})
    for dataset, views in listed.items():
        if dataset not in run.datasets:
            raise ConfigError(f"config field controlled.evaluation.views: {dataset!r} is not a dataset of the run "
                              f"({', '.join(run.datasets)})")
        known = [CLASS_VIEW, *get_reader(run.dataset_spec(dataset)["reader"]).view_names]
        unknown = [view for view in views if view not in known]
        if unknown:
            raise ConfigError(f"config field controlled.evaluation.views.{dataset}: {unknown} are not label views "
                              f"of its reader (it has: {', '.join(known)})")
    evaluated = dict.fromkeys([*run.task_datasets("fewshot"), *run.task_datasets("transfer")])
    return {dataset: list(listed.get(dataset, [CLASS_VIEW])) for dataset in evaluated}


def view_labels(entry_ids: Sequence[str], view_ids: Sequence[str], labels: np.ndarray, view: str) -> np.ndarray:
    """The view's label of every store row (-1: not in the view), matched by sample id.

    A store entry may hold a subsample of the split (in its own order); every one of its ids must be
    in the view's split, or the view was made from other data than the features.
    """
    labels = np.asarray(labels)
    if len(view_ids) != len(labels):
        raise ValueError(f"view {view!r}: {len(labels)} labels for {len(view_ids)} sample ids")
    row_of = {str(sample_id): row for row, sample_id in enumerate(view_ids)}
    missing = [str(s) for s in entry_ids if str(s) not in row_of]
    if missing:
        raise ValueError(f"view {view!r}: {len(missing)} store rows have no label in the view, e.g. sample id "
                         f"{missing[0]!r}: the features were extracted from other data than the view's")
    return labels[[row_of[str(s)] for s in entry_ids]].astype(np.int64)


def view_rows(train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray,
              test_labels: np.ndarray, *, fewshot: Mapping[str, Any], transfer: Mapping[str, Any], seed: int,
              dataset: str) -> list[dict[str, Any]]:
    """Rows {task, metric, value, n_train, n_test} of few-shot and the default probe on one view.

    `transfer` is the config's `transfer.logistic` (the default probe). Rows labelled -1 are not in
    the view and are dropped first. Labels are renumbered to the classes of the view's train rows,
    so class ids that skip a value still give classes 0..C-1. A test image of a class with no train
    image cannot be predicted right: it counts as an error (scores are taken on the other test
    images and scaled by their share). Few-shot metrics are `{preset}-{shots}shot` (mean over
    trials); transfer's is `accuracy`.
    """
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    train_in, test_in = train_labels >= 0, test_labels >= 0
    if not train_in.any() or not test_in.any():
        raise ValueError(f"{dataset}: the view has no image in the train or the test split "
                         f"({int(train_in.sum())} train, {int(test_in.sum())} test)")
    classes = np.unique(train_labels[train_in])
    scored = test_in & np.isin(test_labels, classes)
    share = scored.sum() / test_in.sum()
    x_train, y_train = np.asarray(train_features)[train_in], np.searchsorted(classes, train_labels[train_in])
    x_test, y_test = np.asarray(test_features)[scored], np.searchsorted(classes, test_labels[scored])
    counts = {"n_train": int(y_train.size), "n_test": int(test_in.sum())}
    if not scored.any():
        raise ValueError(f"{dataset}: no test image of the view has a class that its train images have")
    trials = fewshot_trials(x_train, y_train, x_test, y_test, shots=fewshot["shots"], trials=fewshot["trials"],
                            seed=fewshot["seed"], dataset=dataset, presets=fewshot["presets"])
    rows = [{"task": "fewshot", "metric": f"{s['preset']}-{s['shots']}shot", "value": s["mean"] * share, **counts}
            for s in summarise(trials)]
    probe = fit_cached_probe("default", x_train, y_train, classes.size, transfer, seed)
    rows.append({"task": "transfer", "metric": "accuracy", "value": probe.accuracy(x_test, y_test) * share, **counts})
    return rows
