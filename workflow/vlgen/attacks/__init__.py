"""Adversarial robustness (PROTOCOL.md, "Adversarial robustness"): foolbox PGD through a classifier
that takes [0, 1] images and holds its own normalisation.

Cheap to import (DAG time, the table job): `settings` (which jobs run, from the config), `selection`
(which images), `success` (success rates from per-image outcomes), `outcomes` (the .npz files and
attacks.csv). Torch-based, imported by GPU jobs only: `images`, `classifier` (heads), `zeroshot`, `pgd`
(foolbox), `job` (one attack job), `sanity` (a native head's top-1 against `expected_top1`).
"""
