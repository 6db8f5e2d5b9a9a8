"""Linear-probe transfer on cached features (PROTOCOL.md, "Transfer learning").

Arrays in, a fitted `Probe` out. Presets:

- `default`: standardise with the train mean/std; choose the inverse regularisation C from a grid
  on a stratified hold-out of TRAIN (fixed seed), never on test; refit on all of train. The fit
  is scikit-learn's L2-regularised multinomial LogisticRegression with L-BFGS, an exact solver of
  `C * sum_i CE_i + |W|^2 / 2` (bias not penalised).
- `paper_cached`: the authors' schedule on cached, un-augmented features: `nn.Linear`, Adam
  (lr 1e-3, weight decay 5e-4), 20 epochs, batch 60, cross-entropy, no standardisation, no
  selection (the reported value is the last-epoch test accuracy).
- `paper`: the same schedule with features recomputed on augmented images every epoch; it needs
  the model, so it lives in `vlgen.tasks.probe_augmented` (a GPU job) and reuses `AdamProbe` from here.

torch is imported inside the functions that need it: the `default` preset runs without it, and
importing this module stays cheap for CPU jobs.

Saved probes (`save_probe`) are what the attacks load: a torch file readable with
`torch.load(path, weights_only=True)` holding `state_dict` (`weight` [C, D], `bias` [C]) of the
linear layer applied to standardised features, `mean` and `std` [D] (zeros and ones when a preset
does not standardise), `n_classes`, and provenance. `linear_head` folds the standardisation into
one `nn.Linear` on raw features.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

log = logging.getLogger("vlgen.probe")

PRESETS = ("default", "paper_cached", "paper")


@dataclass
class Probe:
    """logits = ((x - mean) / std) @ weight.T + bias, and how it was chosen."""

    weight: np.ndarray  # [n_classes, D] float32
    bias: np.ndarray  # [n_classes]
    mean: np.ndarray  # [D]
    std: np.ndarray  # [D]
    C: float | None = None  # the selected inverse regularisation (`default` only)
    n_val: int = 0  # train samples held out to select C (0: no selection)
    selection: dict[str, list[float]] = field(default_factory=dict)  # the C grid and its hold-out accuracies

    @property
    def n_classes(self) -> int:
        return int(self.weight.shape[0])

    def logits(self, features: np.ndarray) -> np.ndarray:
        standardised = (np.asarray(features, dtype=np.float32) - self.mean) / self.std
        return standardised @ self.weight.T + self.bias

    def accuracy(self, features: np.ndarray, labels: np.ndarray) -> float:
        return float(np.mean(self.logits(features).argmax(axis=1) == np.asarray(labels)))


# -- default: standardised L-BFGS logistic regression, C selected on a hold-out of train ---------
def default_probe(train_features: np.ndarray, train_labels: np.ndarray, n_classes: int, *,
                  C_grid: list[float], val_fraction: float, seed: int, max_iter: int = 1000,
                  tol: float = 1e-4) -> Probe:
    """Select C on a stratified `val_fraction` of train, refit on all of train at that C.

    During the search the standardisation is fitted on the fitting part only, so nothing of the
    hold-out leaks into it. The grid is walked from the smallest C up, each fit warm-started from
    the previous (more regularised, hence nearby) solution; the objective is strictly convex, so a
    warm start changes the path to the optimum, not the optimum. Ties go to the smallest C (the
    simplest model). Fits stop within `tol`, in float32: another BLAS thread count sums in
    another order and can move the stopping point, which on the demo once turned a near-tie
    between two C values the other way (same seed, 1 vs 2 threads); the workflow's jobs use 1.
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(train_features, dtype=np.float32), np.asarray(train_labels)
    _check_classes(y, n_classes)
    fit_rows, val_rows = train_test_split(np.arange(y.size), test_size=val_fraction, stratify=y,
                                          random_state=seed)
    grid = sorted(float(c) for c in C_grid)
    search = _logistic_pipeline(grid[0], max_iter, tol, warm_start=True)
    val_accuracy = []
    for C in grid:
        search.set_params(logisticregression__C=C).fit(x[fit_rows], y[fit_rows])
        val_accuracy.append(float(search.score(x[val_rows], y[val_rows])))
        log.info("C=%g: hold-out accuracy %.4f", C, val_accuracy[-1])
    best = grid[int(np.argmax(val_accuracy))]  # argmax: the first (smallest) C among ties
    final = _logistic_pipeline(best, max_iter, tol, warm_start=False).fit(x, y)
    scaler, logistic = final.named_steps["standardscaler"], final.named_steps["logisticregression"]
    weight, bias = _full_head(logistic.coef_, logistic.intercept_, logistic.classes_, n_classes)
    return Probe(weight=weight, bias=bias, mean=scaler.mean_.astype(np.float32),
                 std=scaler.scale_.astype(np.float32), C=best, n_val=int(val_rows.size),
                 selection={"C": grid, "val_accuracy": val_accuracy})


def _logistic_pipeline(C: float, max_iter: int, tol: float, warm_start: bool) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # l1_ratio=0 is the L2 penalty (`penalty` is deprecated in scikit-learn 1.8+).
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, l1_ratio=0.0, solver="lbfgs", max_iter=max_iter,
                                                              tol=tol, warm_start=warm_start))


def _full_head(coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray, n_classes: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """[n_classes, D] weights and [n_classes] biases from scikit-learn's coef_/intercept_.

    With two classes scikit-learn fits one vector w (logit of class 1 = w.x + b); the softmax
    head with rows (-w/2, w/2) and biases (-b/2, b/2) gives the same logit difference, hence the
    same predictions and probabilities.
    """
    if coef.shape[0] == 1:
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    weight = np.zeros((n_classes, coef.shape[1]), dtype=np.float32)
    bias = np.zeros(n_classes, dtype=np.float32)
    weight[classes], bias[classes] = coef, intercept
    return weight, bias


# -- paper: Adam on nn.Linear --------------------------------------------------------------------
@dataclass(frozen=True)
class AdamSchedule:
    """The authors' optimisation (PROTOCOL.md): nn.Linear, Adam, cross-entropy, fixed epochs."""

    epochs: int = 20
    batch_size: int = 60
    lr: float = 1e-3
    weight_decay: float = 5e-4

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> AdamSchedule:
        return cls(**{name: settings[name] for name in cls.__dataclass_fields__ if name in settings})


class AdamProbe:
    """nn.Linear(dim, n_classes) trained with Adam on cross-entropy, seeded.

    Determinism contract (what the tests' plain-torch loop reproduces): the layer is initialised
    right after `torch.manual_seed(seed)` (inside `fork_rng`, so the caller's RNG is untouched);
    epoch e visits the samples in the e-th `torch.randperm(n, generator=g)` of a generator `g`
    seeded with `seed`, in consecutive batches of `batch_size` (the last one shorter).
    The authors' code used an unseeded shuffling DataLoader.
    """

    def __init__(self, dim: int, n_classes: int, schedule: AdamSchedule, seed: int, device: str = "cpu"):
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.linear = torch.nn.Linear(dim, n_classes)
        self.linear.to(device)
        self.optimizer = torch.optim.Adam(self.linear.parameters(), lr=schedule.lr,
                                          weight_decay=schedule.weight_decay)
        self.order_generator = torch.Generator().manual_seed(seed)
        self.schedule = schedule
        self.device = device

    def epoch_batches(self, n: int) -> Iterator[torch.Tensor]:
        """Index batches of the next epoch (draws that epoch's permutation)."""
        import torch

        order = torch.randperm(n, generator=self.order_generator)
        return iter(order.split(self.schedule.batch_size))

    def step(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        """One Adam step on a batch; the batch's loss."""
        import torch.nn.functional as F

        self.linear.train()
        loss = F.cross_entropy(self.linear(features.to(self.device)), labels.to(self.device))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def probe(self, dim: int) -> Probe:
        """The trained layer as a Probe on unstandardised features (mean 0, std 1)."""
        weight = self.linear.weight.detach().cpu().numpy().astype(np.float32)
        bias = self.linear.bias.detach().cpu().numpy().astype(np.float32)
        return Probe(weight=weight, bias=bias, mean=np.zeros(dim, np.float32), std=np.ones(dim, np.float32))


def paper_cached_probe(train_features: np.ndarray, train_labels: np.ndarray, n_classes: int, *,
                       schedule: AdamSchedule, seed: int, device: str = "cpu") -> Probe:
    """The authors' schedule on cached features; no standardisation, no selection."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(train_features, dtype=np.float32)).to(device)
    y = torch.from_numpy(np.asarray(train_labels, dtype=np.int64)).to(device)
    trainer = AdamProbe(x.shape[1], n_classes, schedule, seed, device)
    for epoch in range(schedule.epochs):
        losses = [trainer.step(x[rows], y[rows]) for rows in trainer.epoch_batches(len(y))]
        log.info("epoch %d: mean train loss %.4f", epoch + 1, float(np.mean(losses)))
    return trainer.probe(x.shape[1])


# -- presets on cached features -------------------------------------------------------------------
CACHED_PRESETS: dict[str, Callable[..., Probe]] = {
    "default": lambda x, y, n, settings, seed: default_probe(
        x, y, n, C_grid=settings["C_grid"], val_fraction=settings["val_fraction"], seed=seed,
        max_iter=settings.get("max_iter", 1000), tol=settings.get("tol", 1e-4)),
    "paper_cached": lambda x, y, n, settings, seed: paper_cached_probe(
        x, y, n, schedule=AdamSchedule.from_config(settings), seed=seed),
}


def fit_cached_probe(preset: str, train_features: np.ndarray, train_labels: np.ndarray, n_classes: int,
                     settings: Mapping[str, Any], seed: int) -> Probe:
    """The probe of `preset` (one of CACHED_PRESETS) with that preset's config settings."""
    if preset not in CACHED_PRESETS:
        raise ValueError(f"preset {preset!r} does not run on cached features; these do: {', '.join(CACHED_PRESETS)}")
    return CACHED_PRESETS[preset](train_features, train_labels, n_classes, settings, seed)


def scheduled_presets(transfer: Mapping[str, Any], gpu_present: bool) -> list[str]:
    """The presets of the config's `transfer` section that this run executes.

    `paper` recomputes features every epoch, a GPU job: with `run_paper_preset: auto` it runs only
    when `gpu_present`; `always` and `never` decide regardless.
    """
    mode = transfer.get("run_paper_preset", "auto")
    paper = mode == "always" or (mode == "auto" and gpu_present)
    return [p for p in transfer.get("presets", ["default", "paper_cached"]) if p != "paper" or paper]


def paper_preset_status(transfer: Mapping[str, Any], gpu_present: bool) -> str:
    """A sentence for summary.md and claims.md: whether the `paper` preset is in this run, and why.

    With `auto` the answer depends on the machine that built the DAG, so one config can give different
    tables on different machines: the documents say which happened.
    """
    mode = transfer.get("run_paper_preset", "auto")
    if "paper" not in transfer.get("presets", ["default", "paper_cached"]):
        return "The `paper` transfer preset is not in this run: transfer.presets does not list it."
    if "paper" in scheduled_presets(transfer, gpu_present):
        why = "transfer.run_paper_preset is always" if mode == "always" else (
            "transfer.run_paper_preset is auto and nvidia-smi was on PATH when the DAG was built")
        return f"The `paper` transfer preset (augmented images, features recomputed every epoch) is in this run: {why}."
    why = "transfer.run_paper_preset is never" if mode == "never" else (
        "transfer.run_paper_preset is auto and no nvidia-smi was on PATH when the DAG was built; set it to "
        "always to run it on GPU nodes behind a submit node without a GPU")
    return (f"The `paper` transfer preset did not run: {why}. The paper protocol's transfer numbers are then "
            "`paper_cached` (the authors' schedule on cached, un-augmented features).")


def transfer_row(probe: Probe, test_features: np.ndarray, test_labels: np.ndarray, n_train: int) -> dict[str, Any]:
    """The table's numbers for one probe: test accuracy, C, n_train, n_val, n_test."""
    return {"accuracy": probe.accuracy(test_features, test_labels), "C": probe.C,
            "n_train": int(n_train), "n_val": probe.n_val, "n_test": int(len(test_labels))}


def n_classes_of(*label_arrays: np.ndarray) -> int:
    """Classes are 0..C-1 with C = the largest label of any split + 1 (as in few-shot)."""
    return int(max(np.max(labels) for labels in label_arrays)) + 1


def _check_classes(labels: np.ndarray, n_classes: int) -> None:
    missing = sorted(set(range(n_classes)) - set(np.unique(labels).tolist()))
    if missing:
        raise ValueError(f"classes {missing[:10]} have no train sample: a probe cannot learn them")


# -- saving and loading (torch) -----------------------------------------------------------------
def save_probe(path: str | Path, probe: Probe, **provenance: Any) -> None:
    """Write the probe as a torch file loadable with `torch.load(path, weights_only=True)`.

    `provenance` (preset, model, dataset, feature_key, ...) must be plain str/int/float/None/lists.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {
        "state_dict": {"weight": torch.from_numpy(probe.weight.copy()), "bias": torch.from_numpy(probe.bias.copy())},
        "mean": torch.from_numpy(probe.mean.copy()),
        "std": torch.from_numpy(probe.std.copy()),
        "n_classes": probe.n_classes,
        "C": probe.C,
        "selection": probe.selection,
        **provenance,
    }
    torch.save(checkpoint, path)


def linear_head(path: str | Path, map_location: str = "cpu") -> torch.nn.Linear:
    """The saved probe as one nn.Linear on RAW features (standardisation folded in).

    ((x - m) / s) W^T + b = x (W / s)^T + (b - (W / s) m).
    """
    import torch

    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    weight = checkpoint["state_dict"]["weight"] / checkpoint["std"]
    bias = checkpoint["state_dict"]["bias"] - weight @ checkpoint["mean"]
    head = torch.nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.weight.copy_(weight)
        head.bias.copy_(bias)
    return head.eval()
