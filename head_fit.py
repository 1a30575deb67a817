"""Linear probing before fine-tuning: fit the freshly initialized emotion and strategy heads on
frozen last-prompt-token features of labelled train rows, once, before step 0.

Why: a random head trained alongside LoRA on a short run sees a few hundred labelled rows at
an adapter-sized learning rate and learns little more than the class prior (on the real data,
100 steps: emotion accuracy 0.349 against a majority class of 0.350, docs/BENCHMARKS.md).
The features are not the limit: a logistic regression on the same frozen features of 2,000
GoEmotions rows reaches well above it. So each head starts from that fit (multinomial logistic
regression, L-BFGS, on standardized features, the L2 strength chosen on validation rows) and
fine-tuning continues from there: linear probing then fine-tuning (LP-FT, Kumar et al., 2022),
which also keeps a random head's early gradients from pulling the adapters around.

The features are the backbone's at step 0 (LoRA starts at a zero update, so they are the base
model's), pooled exactly as training and inference pool them (heads.pool_last_prompt_token).

    python main.py train --config config/cpu_real.json --set training.head_fit_examples=600
"""
from __future__ import annotations

import os
import random
import time

import torch
from accelerate.utils import gather_object
from torch.nn import functional as F

from batching import IGNORE
from dataset import column
from files import write_json_atomic
from heads import pooled_prompt_states

# L2 on the weights over standardized features, chosen on validation. The grid reaches 1.0
# because at 1,500 rows both heads chose its former top, 0.1 (cpu_real, docs/BENCHMARKS.md).
L2_GRID = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def labelled_prompts(splits: dict, key: str, n: int, seed: int) -> tuple[list, list]:
    """Up to `n` seeded (prompt ids, label) pairs over every source that carries `key`."""
    where = [(s, i) for s, ds in splits.items() if key in ds.column_names
             for i, y in enumerate(column(ds, key)) if y != IGNORE]
    picked = sorted(random.Random(seed).sample(where, min(n, len(where))))
    prompts, labels = [], []
    for s, i in picked:
        row = splits[s][i]
        prompts.append(row["input_ids"][:row["prompt_length"]])
        labels.append(row[key])
    return prompts, labels


def pooled_features(model, prompts: list, pad_id: int, batch_size: int, device,
                    autocast, progress: bool = False) -> torch.Tensor:
    """fp32 CPU features [n, hidden] of a TrainingModel, in input order (a bar when
    `progress`: on the real data one head's features take minutes on a CPU)."""
    return pooled_prompt_states(model.hidden_states, prompts, pad_id, batch_size, device,
                                autocast, progress=progress).cpu()


def fit_logistic(x: torch.Tensor, y: torch.Tensor, n_classes: int, l2: float) -> tuple:
    """Multinomial logistic regression (L-BFGS, full batch) on x standardized by its own mean
    and deviation: (weight, bias, center, scale), logits = ((x - center) / scale) @ weight.T + bias."""
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-5)
    z = (x - mu) / sd
    w = torch.zeros(n_classes, x.shape[1], requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z @ w.T + b, y) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach(), mu, sd


def logits_of(fit: tuple, x: torch.Tensor) -> torch.Tensor:
    weight, bias, center, scale = fit
    return ((x - center) / scale) @ weight.T + bias


def choose_l2(train: tuple, val: tuple, n_classes: int) -> tuple[float, float]:
    """The grid's L2 with the lowest validation cross-entropy, and that fit's accuracy there."""
    best = None
    for l2 in L2_GRID:
        logits = logits_of(fit_logistic(*train, n_classes, l2), val[0])
        ce, acc = F.cross_entropy(logits, val[1]).item(), (logits.argmax(-1) == val[1]).float()
        if best is None or ce < best[0]:
            best = (ce, l2, acc.mean().item())
    return best[1], best[2]


def fit_heads(run, n: int) -> dict:
    """Fit every head of run.inner from `n` train rows (L2 from n // 5 validation rows); what
    was done per head goes to the log and <run>/logs/head_fit.json (the report reads it)."""
    acc, t = run.accelerator, run.cfg.training
    model, report = run.inner, {}
    was_training = model.training
    model.eval()
    for name, head in model.heads.items():
        start, key, parts = time.perf_counter(), f"{name}_label", []
        run.say(f"[train] head fit {name}: frozen features of up to {n} train and "
                f"{max(n // 5, 1)} validation prompts, then a logistic fit per L2")
        for split, count in ((run.train, n), (run.val, max(n // 5, 1))):
            prompts, labels = labelled_prompts(split, key, count, t.seed)
            mine = list(range(acc.process_index, len(prompts), acc.num_processes))
            feats = pooled_features(model, [prompts[i] for i in mine], run.tok.pad_token_id,
                                    t.eval_batch_size, acc.device, acc.autocast,
                                    progress=acc.is_main_process)
            rows = sorted(gather_object(list(zip(mine, feats))), key=lambda r: r[0])
            parts.append((torch.stack([f for _, f in rows]), torch.tensor(labels)))
        if not len(parts[0][1]) or not len(parts[1][1]):
            continue
        l2, val_acc = choose_l2(parts[0], parts[1], len(head.labels))
        fitted = fit_logistic(*parts[0], len(head.labels), l2)
        with torch.no_grad():
            for param, value in zip((head.proj.weight, head.proj.bias, head.center, head.scale),
                                    fitted, strict=True):
                param.copy_(value.to(param))
        majority = parts[1][1].bincount().max().item() / len(parts[1][1])
        report[name] = {"train_rows": len(parts[0][1]), "val_rows": len(parts[1][1]), "l2": l2,
                        "val_accuracy": round(val_acc, 4), "val_majority": round(majority, 4),
                        "seconds": round(time.perf_counter() - start, 1)}
        run.say(f"[train] head fit {name}: {report[name]}")
    model.train(was_training)
    if acc.is_main_process:
        write_json_atomic(os.path.join(run.cfg.run_dir, "logs", "head_fit.json"), report)
    return report
