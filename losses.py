"""The weighted multi-loss: a name -> function mapping and a strict weighted sum.

Each function returns a sum over its items divided by the denominator for the whole
optimizer step (all micro-batches, all processes), so gradient accumulation and data
parallelism give the same update as one big batch. The LM head is applied only at
supervised positions: no full-vocabulary logits for prompt tokens.

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from heads import IGNORE, masked_ce_sum, pool_last_prompt_token
from safety_teacher import kl_sum, teacher_logits

LOSS_NAMES = ("lm", "emotion", "strategy", "safety")
LABEL_KEYS = {"emotion": "emotion_labels", "strategy": "strategy_labels"}


def supervised_mask(labels: torch.Tensor) -> torch.Tensor:
    """Positions t whose next token (t+1) is supervised."""
    return labels[:, 1:] != IGNORE


def denominators(batches: list[dict]) -> dict:
    """Items each term averages over, counted across all micro-batches of one step."""
    sup = sum(int(supervised_mask(b["labels"]).sum()) for b in batches)
    out = {"lm": sup, "safety": sup}
    for name, key in LABEL_KEYS.items():
        out[name] = sum(int((b[key] != IGNORE).sum()) for b in batches)
    return out


@dataclass
class LossContext:
    model: object  # FriendModel (unwrapped)
    batch: dict
    hidden: torch.Tensor
    denoms: dict
    cache: dict = field(default_factory=dict)

    def supervised(self):
        """(student logits, targets, mask) at supervised positions, computed once."""
        if "sup" not in self.cache:
            mask = supervised_mask(self.batch["labels"])
            hs = self.hidden[:, :-1][mask]
            targets = self.batch["labels"][:, 1:][mask]
            self.cache["sup"] = (self.model.lm_logits(hs), targets, mask)
        return self.cache["sup"]


def _per(ctx: LossContext, name: str, total: torch.Tensor) -> torch.Tensor:
    return total / max(1, ctx.denoms[name])


def lm_loss(ctx: LossContext) -> torch.Tensor:
    logits, targets, _ = ctx.supervised()
    return _per(ctx, "lm", F.cross_entropy(logits.float(), targets, reduction="sum"))


def _head_loss(ctx: LossContext, name: str) -> torch.Tensor:
    pooled = pool_last_prompt_token(ctx.hidden, ctx.batch["prompt_lengths"])
    logits = ctx.model.heads[name](pooled)
    ctx.cache[f"{name}_logits"] = logits
    total, _ = masked_ce_sum(logits, ctx.batch[LABEL_KEYS[name]])
    return _per(ctx, name, total)


def emotion_loss(ctx: LossContext) -> torch.Tensor:
    return _head_loss(ctx, "emotion")


def strategy_loss(ctx: LossContext) -> torch.Tensor:
    return _head_loss(ctx, "strategy")


def safety_loss(ctx: LossContext) -> torch.Tensor:
    student, _, mask = ctx.supervised()
    teacher = teacher_logits(ctx.model, ctx.batch, mask)
    return _per(ctx, "safety", kl_sum(student, teacher))


LOSS_FNS = {"lm": lm_loss, "emotion": emotion_loss, "strategy": strategy_loss,
            "safety": safety_loss}


def weighted_losses(ctx: LossContext, weights: tuple) -> tuple[torch.Tensor, dict]:
    """total = sum_i w_i * L_i over terms with w_i > 0; a zero weight computes nothing."""
    terms = {name: LOSS_FNS[name](ctx) for name, w in zip(LOSS_NAMES, weights, strict=True)
             if w > 0}
    total = sum(w * terms[name] for name, w in zip(LOSS_NAMES, weights, strict=True) if w > 0)
    return total, terms
