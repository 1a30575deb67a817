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

from batching import batch_counts, supervised_positions
from config import LOSS_NAMES  # noqa: F401  (re-exported: the loss names)
from heads import masked_ce_sum, pool_last_prompt_token
from kl_teacher import kl_sum, teacher_logits

LABEL_KEYS = {"emotion": "emotion_labels", "strategy": "strategy_labels"}


def denominators(batches: list[dict]) -> dict:
    """Items each term averages over, counted across all micro-batches of one step (call it
    on the CPU batches: the counts are then free)."""
    counts = [batch_counts(b) for b in batches]
    return {name: sum(c[name] for c in counts) for name in LOSS_NAMES}


@dataclass
class LossContext:
    model: object  # TrainingModel (unwrapped)
    batch: dict
    hidden: torch.Tensor
    denoms: dict
    cache: dict = field(default_factory=dict)

    def supervised(self):
        """(student logits, targets) at the supervised positions, computed once. The flat
        positions come precomputed from collate: an index_select, not a boolean mask that
        would make the host wait for the GPU."""
        if "sup" not in self.cache:
            pos = self.batch.get("sup_pos")
            if pos is None:
                pos = supervised_positions(self.batch["labels"])
            hs = self.hidden.reshape(-1, self.hidden.shape[-1]).index_select(0, pos)
            targets = self.batch["labels"].reshape(-1).index_select(0, pos + 1)
            self.cache["sup"] = (self.model.lm_logits(hs), targets)
        return self.cache["sup"]


def _per(ctx: LossContext, name: str, total: torch.Tensor) -> torch.Tensor:
    return total / max(1, ctx.denoms[name])


def lm_loss(ctx: LossContext) -> torch.Tensor:
    logits, targets = ctx.supervised()
    return _per(ctx, "lm", F.cross_entropy(logits.float(), targets, reduction="sum"))


def _head_loss(ctx: LossContext, name: str) -> torch.Tensor:
    pooled = pool_last_prompt_token(ctx.hidden, ctx.batch["prompt_lengths"])
    logits = ctx.model.heads[name](pooled)
    ctx.cache[f"{name}_logits"] = logits
    return _per(ctx, name, masked_ce_sum(logits, ctx.batch[LABEL_KEYS[name]]))


def emotion_loss(ctx: LossContext) -> torch.Tensor:
    return _head_loss(ctx, "emotion")


def strategy_loss(ctx: LossContext) -> torch.Tensor:
    return _head_loss(ctx, "strategy")


def kl_loss(ctx: LossContext) -> torch.Tensor:
    student, _ = ctx.supervised()
    if student.shape[0] == 0:  # no reply tokens in this micro-batch: no teacher pass at all
        return student.sum()
    return _per(ctx, "kl", kl_sum(student, teacher_logits(ctx.model, ctx.batch)))


def reply_logps(model, hidden: torch.Tensor, batch: dict) -> torch.Tensor:
    """Summed log-probability of each row's reply tokens (batch["dpo_pos"]): prompt tokens
    contribute nothing. Per-token log-probs come from cross_entropy, which never keeps a
    full-vocabulary log_softmax copy."""
    pos, width = batch["dpo_pos"], batch["labels"].shape[1]
    hs = hidden.reshape(-1, hidden.shape[-1]).index_select(0, pos)
    targets = batch["labels"].reshape(-1).index_select(0, pos + 1)
    token_logps = -F.cross_entropy(model.lm_logits(hs).float(), targets, reduction="none")
    sums = torch.zeros(batch["labels"].shape[0], dtype=torch.float64, device=hidden.device)
    return sums.index_add(0, pos // width, token_logps.double())


def dpo_terms(policy: torch.Tensor, reference: torch.Tensor, beta: float) -> dict:
    """Per-pair DPO (Rafailov et al., 2023) from summed reply log-probs, rows = chosen then
    rejected: loss = -log sigmoid(beta [(pi_w - ref_w) - (pi_l - ref_l)]); the implicit
    rewards are beta (pi - ref)."""
    n = policy.shape[0] // 2
    rewards = beta * (policy - reference.to(policy))
    margin = rewards[:n] - rewards[n:]
    return {"loss": -F.logsigmoid(margin), "margin": margin, "accuracy": (margin > 0).double(),
            "chosen_logp": policy[:n], "rejected_logp": policy[n:]}


def dpo_loss(ctx: LossContext) -> torch.Tensor:
    """The preference term; its diagnostics go to ctx.cache["metrics"] as `dpo/<name>`
    per-pair means over the step (logged, never added to the loss)."""
    b = ctx.batch
    terms = dpo_terms(reply_logps(ctx.model, ctx.hidden, b), b["ref_logps"], b["dpo_beta"])
    denom = max(1, ctx.denoms["dpo"])
    ctx.cache.setdefault("metrics", {}).update(
        {f"dpo/{k}": (v.detach().sum() / denom).float() for k, v in terms.items() if k != "loss"})
    return (terms["loss"].sum() / denom).float()


LOSS_FNS = {"lm": lm_loss, "emotion": emotion_loss, "strategy": strategy_loss,
            "kl": kl_loss, "dpo": dpo_loss}


def weighted_losses(ctx: LossContext, weights: tuple) -> tuple[torch.Tensor, dict]:
    """total = sum_i w_i * L_i over terms with w_i > 0; a zero weight computes nothing."""
    terms = {name: LOSS_FNS[name](ctx) for name, w in zip(LOSS_NAMES, weights, strict=True)
             if w > 0}
    total = sum(w * terms[name] for name, w in zip(LOSS_NAMES, weights, strict=True) if w > 0)
    return total, {**terms, **ctx.cache.get("metrics", {})}
