"""Validation during training: a fixed, seeded, representative subset of each validation
split, batched by length, scored through the training loss functions themselves.

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

import contextlib
import math

import torch
from tqdm.auto import tqdm

from batching import batch_counts, collate, seeded_subset, to_device
from config import LOSS_NAMES
from dataset import column
from losses import LOSS_FNS, LossContext


def validation_subset(lengths: list[int], n: int, seed: int) -> list[int]:
    return seeded_subset(lengths, n, seed)


@torch.no_grad()
def evaluate(model, splits: dict, pad_id: int, batch_size: int, max_batches: int,
             weights: tuple, device, autocast=contextlib.nullcontext, seed: int = 0,
             show: bool = True) -> dict:
    """Validation through the training loss functions (sums, then per-item means) plus head
    accuracy, on `max_batches * batch_size` seeded examples per source (0 = whole split).
    `show`: a bar counting its batches (a pass takes ~14 s in `make demo` on 2 cores)."""
    was_training = model.training
    model.eval()
    w = dict(zip(LOSS_NAMES, weights, strict=True))
    names = ["lm"] + list(model.heads) + (["kl"] if w["kl"] > 0 else [])
    sums, counts = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0)
    correct = dict.fromkeys(model.heads, 0)
    batches = []  # (split, its seeded example indices), batch by batch
    for ds in splits.values():
        order = validation_subset(column(ds, "length"), max_batches * batch_size, seed)
        batches += [(ds, order[i:i + batch_size]) for i in range(0, len(order), batch_size)]
    n_examples = sum(len(idx) for _, idx in batches)
    # a bar counting batches; as a context manager it is closed even when a batch raises
    with tqdm(batches, desc="validation", unit="batch", leave=False, disable=not show) as bar:
        for ds, idx in bar:
            cpu = collate([ds[i] for i in idx], pad_id)
            with autocast():
                _add_batch(model, to_device(cpu, device), batch_counts(cpu), names, sums,
                           counts, correct)
    model.train(was_training)
    out = {name: sums[name] / counts[name] for name in names if counts[name]}
    if "lm" in out:
        out["perplexity"] = math.exp(min(out["lm"], 50.0))
    for name in model.heads:
        if counts[name]:
            out[f"{name}_accuracy"] = correct[name] / counts[name]
            out[f"{name}_n"] = counts[name]
    out["examples_n"] = n_examples
    return out


def _add_batch(model, batch: dict, have: dict, names: list, sums: dict, counts: dict,
               correct: dict) -> None:
    """One batch's loss sums, item counts and head hits, added into `sums`, `counts`, `correct`."""
    hidden = model.hidden_states(batch["input_ids"], batch["attention_mask"])
    ctx = LossContext(model, batch, hidden, denoms=dict.fromkeys(LOSS_NAMES, 1))
    for name in (n for n in names if have[n]):
        sums[name] += float(LOSS_FNS[name](ctx))
        counts[name] += have[name]
    for name in model.heads:
        logits = ctx.cache.get(f"{name}_logits")
        if logits is not None:
            correct[name] += int((logits.argmax(-1) == batch[f"{name}_labels"]).sum())
