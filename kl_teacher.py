"""KL toward the base model: the same weights with the LoRA adapter switched off.

No second copy of the model is held in memory: the teacher pass runs the backbone under
`disable_adapter()` without gradients, over only the rows that have supervised tokens (a
GoEmotions row has none), and only the supervised positions get logits. KL(student || teacher) per position, summed over the vocabulary; zero while LoRA B = 0.

    python main.py train --config config/safety_enabled.json
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from batching import teacher_layout


def teacher_logits(model, batch: dict) -> torch.Tensor:
    """Base-model logits (adapter disabled) at the supervised positions, in the order of
    batch["sup_pos"]; no grad."""
    layout = batch if "teacher_rows" in batch else teacher_layout(batch["labels"].cpu())
    rows = layout["teacher_rows"].to(batch["input_ids"].device)
    ids = batch["input_ids"].index_select(0, rows)
    mask = batch["attention_mask"].index_select(0, rows)
    with torch.no_grad(), model.backbone.disable_adapter():
        hidden = model.hidden_states(ids, mask)
        pos = layout["teacher_pos"].to(hidden.device)
        return model.lm_logits(hidden.reshape(-1, hidden.shape[-1]).index_select(0, pos))


def kl_sum(student_logits: torch.Tensor, teacher_logits_: torch.Tensor) -> torch.Tensor:
    """Sum over positions of KL(p_student || p_teacher), in fp32.

    F.kl_div(input=log p_t, target=log p_s, log_target=True) is sum p_s (log p_s - log p_t):
    one fused op instead of exp, subtract, multiply and sum over [positions x vocabulary].
    """
    s = F.log_softmax(student_logits.float(), dim=-1)
    t = F.log_softmax(teacher_logits_.float(), dim=-1)
    return F.kl_div(t, s, reduction="sum", log_target=True)
