"""Evaluations on cached features: numpy in, numbers out (no torch at import).

The one exception is `probe_augmented` (the `paper` transfer preset recomputes features from images,
so it needs the model): only that GPU job imports it.
"""
