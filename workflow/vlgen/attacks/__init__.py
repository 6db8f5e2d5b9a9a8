"""Adversarial robustness (PROTOCOL.md, "Adversarial robustness"): foolbox PGD through a classifier
that takes [0, 1] images and holds its own normalisation.

`settings` (which jobs run, from the config), `selection` (which images) and `success` (success
rates from per-image outcomes) are numpy-only and cheap to import; `images`, `classifier`,
`zeroshot` and `pgd` import torch and are imported by the attack jobs only.
"""
