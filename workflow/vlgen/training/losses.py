"""The recipes' losses, as plain functions of a batch (tests compare each with a direct formula)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def label_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of class logits [B, C] against integer labels [B]."""
    return F.cross_entropy(logits, labels)


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def symmetric_info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, caption_ids: torch.Tensor,
                       temperature: torch.Tensor | float) -> torch.Tensor:
    """CLIP's symmetric InfoNCE where identical captions in a batch are all positives.

    Row i's target is the normalised mask of the captions equal to caption i (so two images drawn with
    the same caption are not pushed apart); image->text and text->image are averaged.
    """
    image = F.normalize(image_emb, dim=1)
    text = F.normalize(text_emb, dim=1)
    logits = image @ text.T / temperature
    positives = (caption_ids[:, None] == caption_ids[None, :]).to(logits.dtype)
    targets = positives / positives.sum(dim=1, keepdim=True)  # symmetric mask: the same targets both ways
    return (_soft_cross_entropy(logits, targets) + _soft_cross_entropy(logits.T, targets)) / 2


def label_name_cross_entropy(image_emb: torch.Tensor, class_emb: torch.Tensor, labels: torch.Tensor,
                             temperature: torch.Tensor | float) -> torch.Tensor:
    """Cross-entropy over the cosine similarity to the C class-prompt embeddings, divided by the temperature."""
    logits = F.normalize(image_emb, dim=1) @ F.normalize(class_emb, dim=1).T / temperature
    return F.cross_entropy(logits, labels)
