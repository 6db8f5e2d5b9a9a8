"""Evaluations on cached features: numpy in, numbers out (no torch at import)."""
