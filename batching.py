"""Tokenized examples -> padded batches, and a step's examples -> micro-batches.

`collate` right-pads and precomputes, on the CPU, every index the loss terms need (the flat
positions whose next token is supervised, and the rows the KL teacher must run), so the
training step never asks the GPU for a count or a boolean mask.

`micro_batches` forms a step's micro-batches: `batch_size` examples each, or, with a token
budget, as few length-sorted groups as fit `max_tokens` padded tokens each. Examples are
padded, not packed: the mixture's length-grouped steps already hold examples of similar
length (little padding), and padding keeps every example's attention to itself and the
heads' last-prompt-token index trivially correct on every attention backend.

    python main.py train --config config/cpu_smoke.json --set training.max_tokens_per_batch=2048
"""
from __future__ import annotations

import numpy as np
import torch

IGNORE = -100


def supervised_positions(labels: torch.Tensor) -> torch.Tensor:
    """Flat indices b * T + t of the positions whose next token (t + 1) is supervised."""
    rows, cols = (labels[:, 1:] != IGNORE).nonzero(as_tuple=True)
    return rows * labels.shape[1] + cols


def teacher_layout(labels: torch.Tensor) -> dict:
    """The KL teacher's smaller batch: only the rows with supervised tokens, and each
    supervised position's flat index in that batch (same order as supervised_positions)."""
    sup = labels[:, 1:] != IGNORE
    rows = sup.any(dim=1).nonzero(as_tuple=True)[0]
    rank = torch.full((labels.shape[0],), -1, dtype=torch.long)
    rank[rows] = torch.arange(len(rows))
    r, c = sup.nonzero(as_tuple=True)
    return {"teacher_rows": rows, "teacher_pos": rank[r] * labels.shape[1] + c}


def collate(examples: list[dict], pad_id: int, device=None) -> dict:
    """Right-padded tensors (pads masked out of attention and labels) plus loss indices."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"])
        labels[i, :n] = torch.tensor(e["labels"])
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels,
             "prompt_lengths": torch.tensor([e["prompt_length"] for e in examples]),
             "emotion_labels": torch.tensor([e["emotion_label"] for e in examples]),
             "strategy_labels": torch.tensor([e["strategy_label"] for e in examples]),
             "sup_pos": supervised_positions(labels),
             **teacher_layout(labels)}
    if any(e.get("dummy") for e in examples):
        batch["dummy"] = True  # a zero-weight stand-in (only ever present when true)
    return to_device(batch, device) if device is not None else batch


def seeded_subset(lengths: list[int], n: int, seed: int) -> list[int]:
    """A fixed, seeded, representative sample of n indices (all when n is 0 or larger than
    the split), ordered by length only so its batches pad little."""
    idx = list(range(len(lengths)))
    if n and n < len(idx):
        idx = sorted(np.random.default_rng(seed).choice(len(idx), size=n, replace=False).tolist())
    return sorted(idx, key=lengths.__getitem__)


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def batch_counts(batch: dict) -> dict:
    """Host-side counts of a CPU batch: tokens, and the items each loss term averages over."""
    if batch.get("dummy"):
        return dict.fromkeys(("tokens", "lm", "kl", "emotion", "strategy", "dpo"), 0)
    sup = len(batch["sup_pos"])
    return {"tokens": int(batch["attention_mask"].sum()), "lm": sup, "kl": sup,
            "emotion": int((batch["emotion_labels"] != IGNORE).sum()),
            "strategy": int((batch["strategy_labels"] != IGNORE).sum()),
            "dpo": int(batch.get("pairs", 0))}


def collate_pairs(pairs: list[dict], pad_id: int, beta: float) -> dict:
    """Preference pairs -> one batch: rows 0..n-1 the chosen replies, n..2n-1 the rejected
    ones, both after the same prompt tokens. `dpo_pos` indexes every reply position (the DPO
    term's log-probs); `sup_pos` only the chosen ones (the optional SFT term on the chosen
    reply); `ref_logps` are the frozen reference's summed reply log-probs, same row order."""
    rows = [{"input_ids": p[k], "labels": [IGNORE] * p["prompt_length"] + p[k][p["prompt_length"]:],
             "prompt_length": p["prompt_length"], "emotion_label": IGNORE, "strategy_label": IGNORE}
            for k in ("chosen_ids", "rejected_ids") for p in pairs]
    batch = collate(rows, pad_id)
    n, width = len(pairs), batch["input_ids"].shape[1]
    batch["dpo_pos"] = batch["sup_pos"]
    batch["sup_pos"] = batch["sup_pos"][batch["sup_pos"] // width < n]
    batch["ref_logps"] = torch.tensor([p.get("ref_chosen", 0.0) for p in pairs] +
                                      [p.get("ref_rejected", 0.0) for p in pairs], dtype=torch.float64)
    batch["pairs"], batch["dpo_beta"] = n, beta
    if any(p.get("dummy") for p in pairs):
        batch["dummy"] = True
    return batch


def budget_groups(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Indices grouped greedily in length order so rows x longest <= max_tokens per group
    (a single example longer than the budget forms its own group)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > max_tokens:
            groups.append(current)
            current = []
        current.append(i)
    return groups + ([current] if current else [])


def split_to(groups: list[list[int]], count: int) -> list[list[int]]:
    """Split the largest groups until there are `count`, or every group is one example
    (every process of a DDP step must run the same number of micro-batches)."""
    groups = [list(g) for g in groups]
    while len(groups) < count:
        big = max(range(len(groups)), key=lambda k: len(groups[k]))
        if len(groups[big]) < 2:
            break
        g = groups.pop(big)
        groups[big:big] = [g[:len(g) // 2], g[len(g) // 2:]]
    return groups


def micro_batches(examples: list[dict], batch_size: int, grad_accum: int, max_tokens: int,
                  agree_count=None) -> list[list[dict]]:
    """This process's share of a step as micro-batches. Without a budget: `grad_accum`
    interleaved slices of `batch_size`. With one: length-sorted groups of at most
    `max_tokens` padded tokens, made as many as the largest count over processes
    (`agree_count(local) -> global max`)."""
    if not max_tokens:
        return [g for g in (examples[k::grad_accum] for k in range(grad_accum)) if g]
    groups = budget_groups([e.get("length") or len(e["input_ids"]) for e in examples], max_tokens)
    count = agree_count(len(groups)) if agree_count is not None else len(groups)
    groups = [[examples[i] for i in g] for g in split_to(groups, count)]
    # a process with too few examples to split further runs zero-weight copies, so that
    # DDP's gradient sync meets the same number of backward passes on every process
    shortest = min(examples, key=lambda e: e.get("length") or len(e["input_ids"]))
    return groups + [[dict(shortest, dummy=True)]] * (count - len(groups))
