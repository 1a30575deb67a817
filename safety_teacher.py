"""Safety KL toward the base model: the same weights with the LoRA adapter switched off.

No second copy of the model is held in memory: the teacher pass runs the backbone under
`disable_adapter()` without gradients, and only the supervised positions get logits.
KL(student || teacher) per position, summed over the vocabulary; zero while LoRA B = 0.

    python main.py train --config config/safety_enabled.json
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def teacher_logits(model, batch: dict, mask: torch.Tensor) -> torch.Tensor:
    """Base-model logits (adapter disabled) at the positions `mask` selects; no grad."""
    with torch.no_grad(), model.backbone.disable_adapter():
        hidden = model.hidden_states(batch["input_ids"], batch["attention_mask"])
        return model.lm_logits(hidden[:, :-1][mask]).float()


def kl_sum(student_logits: torch.Tensor, teacher_logits_: torch.Tensor) -> torch.Tensor:
    """Sum over positions of KL(p_student || p_teacher)."""
    s = F.log_softmax(student_logits.float(), dim=-1)
    t = F.log_softmax(teacher_logits_.float(), dim=-1)
    return (s.exp() * (s - t)).sum()
