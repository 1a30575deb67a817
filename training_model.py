"""The model being trained: LoRA backbone + optional heads, one backbone forward per step.

`TrainingModel.forward` runs the decoder once, then the active loss terms read what they need
from that single hidden-state tensor (LM head only at supervised positions, heads at the
last prompt token).

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

import torch
from torch import nn

from heads import HEAD_CLASSES, pool_last_prompt_token
from losses import LossContext, weighted_losses
from model import final_hidden


class TrainingModel(nn.Module):
    def __init__(self, backbone, heads: dict):
        super().__init__()
        self.backbone = backbone  # a peft model (LoRA) around the causal LM
        self.heads = nn.ModuleDict(heads)

    @property
    def base(self):
        return self.backbone.get_base_model()

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return final_hidden(self.backbone, input_ids, attention_mask)

    def lm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """LM-head logits in the head's own dtype; the loss terms upcast them to fp32."""
        head = self.base.get_output_embeddings()
        return head(hidden.to(head.weight.dtype))

    def head_logits(self, name: str, hidden: torch.Tensor, prompt_lengths: torch.Tensor):
        return self.heads[name](pool_last_prompt_token(hidden, prompt_lengths))

    def forward(self, batch: dict, weights: tuple, denoms: dict):
        hidden = self.hidden_states(batch["input_ids"], batch["attention_mask"])
        return weighted_losses(LossContext(self, batch, hidden, denoms), weights)


def build_heads(hidden_size: int, vocabs: dict, weights: dict, dropout: float) -> dict:
    """Only heads whose loss weight is > 0 exist (an ablation removes the head itself)."""
    heads = {}
    for name, labels in vocabs.items():
        if weights.get(name, 0) > 0:
            if not labels:
                raise ValueError(f"losses.{name} > 0 but the train data has no {name} labels")
            heads[name] = HEAD_CLASSES[name](hidden_size, labels, dropout)
    return heads
