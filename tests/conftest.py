"""Shared test setup. Several people edit this file: add, do not rewrite."""

import os

# DESIGN.md: without this a Hugging Face hub lookup retries for ~50 s before failing offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
