"""The controlled experiment's training stage: one image network per (recipe, architecture, seed).

Importing this package (and `recipes`, `architectures`) is cheap: torch is imported inside functions,
so config validation can ask a recipe whether it trains without starting torch.
"""

# Part of every training key: bump it when the trainer's numbers change for the same payload.
TRAINER_VERSION = 1
