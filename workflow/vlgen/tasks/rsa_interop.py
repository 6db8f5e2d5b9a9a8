"""Our saved RDMs as rsatoolbox objects, so researchers can use the field's toolbox on them.

rsatoolbox (0.3.2) is imported inside functions: its import pulls in matplotlib, scikit-image and
more, which no other job needs. An `RDMs` object holds RDMs over the same conditions, so one call
takes RDMs of one dataset (the same classes in the same order, checked as for our own comparisons);
each RDM carries its model, dataset, Welch preset and distance as rdm descriptors, the class names
as the `class` pattern descriptor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vlgen.tasks.rdm_compare import check_comparable
from vlgen.tasks.rsa import load_rdm

if TYPE_CHECKING:
    from rsatoolbox.rdm import RDMs

# rsatoolbox's `compare` methods we offer (and test against): cosine similarity, Pearson, Spearman,
# Kendall's tau-a, and Pearson after whitening by the RDM entries' covariance (Diedrichsen et al. 2021).
COMPARE_METHODS = ("cosine", "corr", "spearman", "tau-a", "corr_cov")
# Our comparison methods and the rsatoolbox method that computes the same number.
SAME_AS_OURS = {"pearson": "corr", "spearman": "spearman"}


def to_rsatoolbox(paths: Sequence[str | Path]) -> RDMs:
    """One `RDMs` from RDM files saved by the workflow (`rsa/rdms/{model}/{dataset}.npz`).

    The model and dataset are read from each path, as the workflow writes them.
    """
    from rsatoolbox.rdm import RDMs

    if not paths:
        raise ValueError("no RDM files given")
    paths = [Path(p) for p in paths]
    rdms = [load_rdm(path, path.parent.name) for path in paths]
    check_comparable(rdms)
    distances = sorted({rdm.distance for rdm in rdms})
    return RDMs(np.stack([rdm.matrix for rdm in rdms]), dissimilarity_measure="/".join(distances),
                rdm_descriptors={"model": [rdm.model for rdm in rdms], "dataset": [path.stem for path in paths],
                                 "preset": [rdm.preset for rdm in rdms], "distance": [rdm.distance for rdm in rdms]},
                pattern_descriptors={"class": list(rdms[0].classes)})


def export_hdf5(paths: Sequence[str | Path], out: str | Path) -> Path:
    """`to_rsatoolbox(paths)` saved with rsatoolbox's own HDF5 writer (read back with `rsatoolbox.rdm.load_rdm`).

    Written to a temporary sibling, then renamed: a killed job leaves no file that looks complete.
    """
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    to_rsatoolbox(paths).save(str(partial), file_type="hdf5")
    partial.replace(out)
    return out


def compare(rdms: RDMs, method: str) -> np.ndarray:
    """[M, M] similarities between every pair of RDMs through `rsatoolbox.rdm.compare`."""
    from rsatoolbox.rdm import compare as rsatoolbox_compare

    if method not in COMPARE_METHODS:
        raise ValueError(f"unknown rsatoolbox comparison {method!r}; offered: {', '.join(COMPARE_METHODS)}")
    return rsatoolbox_compare(rdms, rdms, method=method)
