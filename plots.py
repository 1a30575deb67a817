"""Headless matplotlib figures for the report: losses, EQ-Bench items, lengths, confusions,
the DPO stage's curves.

Each function writes one PNG and returns its path, or None when there is nothing to plot.

    python main.py pipeline --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from config import LOSS_NAMES  # noqa: E402

COLORS = {"base": "#8c8c8c", "finetuned": "#1f77b4", "dpo": "#2ca02c"}


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _smooth(values: list[float], k: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if k <= 1 or len(v) < k:
        return v
    return np.convolve(v, np.ones(k) / k, mode="valid")


def loss_curves(train_rows: list[dict], eval_rows: list[dict], path: str):
    """One panel per loss term: train (raw + moving average) and validation points."""
    terms = [t for t in LOSS_NAMES if any(t in r for r in train_rows + eval_rows)]
    if not terms:
        return None
    fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), 3.4), squeeze=False)
    for ax, term in zip(axes[0], terms):
        pts = [(r["step"], r[term]) for r in train_rows if term in r and np.isfinite(r[term])]
        if pts:
            steps, vals = zip(*pts)
            ax.plot(steps, vals, color="#c6dbef", lw=1, label="train (step)")
            k = max(1, len(vals) // 10)
            ax.plot(steps[k - 1:], _smooth(list(vals), k), color="#1f77b4", lw=2,
                    label=f"train (avg {k})")
        ev = [(r["step"], r[term]) for r in eval_rows if term in r and "split" not in r]
        if ev:
            ax.plot(*zip(*ev), "o-", color="#d62728", lw=1.5, label="validation")
        ax.set_title(f"{term} loss")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def eq_bench_items(base: dict, tuned: dict, path: str, dpo: dict | None = None):
    """Per-item EQ-Bench scores, base vs fine-tuned (items parseable for both), and SFT+DPO
    where it is parseable too."""
    ids = [i for i in base["items"] if base["items"][i]["score"] is not None
           and tuned["items"].get(i, {}).get("score") is not None]
    if not ids:
        return None
    ids.sort(key=lambda i: base["items"][i]["score"])
    x = np.arange(len(ids))
    b = [base["items"][i]["score"] for i in ids]
    t = [tuned["items"][i]["score"] for i in ids]
    fig, ax = plt.subplots(figsize=(max(6, 0.08 * len(ids) + 4), 3.6))
    ax.vlines(x, b, t, color="#bbbbbb", lw=0.8)  # each item's change
    def label(name, run):
        return f"{name} ({run['score']:.1f}{'' if run['valid'] else ', NOT VALID'})"
    ax.plot(x, b, "o", mfc="none", color=COLORS["base"], ms=6, label=label("base", base))
    ax.plot(x, t, "x", color=COLORS["finetuned"], ms=6, label=label("fine-tuned", tuned))
    if dpo is not None:
        pts = [(k, dpo["items"][i]["score"]) for k, i in enumerate(ids)
               if dpo["items"].get(i, {}).get("score") is not None]
        if pts:
            ax.plot(*zip(*pts), "+", color=COLORS["dpo"], ms=7, label=label("SFT+DPO", dpo))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(f"item (parseable for both: {len(ids)}), sorted by base score")
    ax.set_ylabel("item score (max 10)")
    invalid = not (base["valid"] and tuned["valid"])
    ax.set_title("EQ-Bench v2 per item" + (" (a run is below 83.33% parseable: not valid)"
                                           if invalid else ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def response_lengths(lengths: dict, path: str, token_cap: int | None = None,
                     capped: dict | None = None):
    """Histogram of reply lengths (words) per model; how many replies hit the token cap."""
    if not any(lengths.values()):
        return None
    fig, ax = plt.subplots(figsize=(6, 3.4))
    top = max(max(v) for v in lengths.values() if v)
    bins = np.linspace(0, top + 1, 25)
    for model, vals in lengths.items():
        if vals:
            cut = f", {capped[model]} cut at the cap" if capped and model in capped else ""
            ax.hist(vals, bins=bins, alpha=0.6, color=COLORS.get(model), label=f"{model} "
                    f"(median {np.median(vals):.0f}{cut})")
    ax.set_xlabel("reply length (words)")
    ax.set_ylabel("replies")
    title = "Reply lengths, all prompt sets"
    if token_cap:
        ax.axvline(0.75 * token_cap, color="#d62728", ls="--", lw=1)  # ~0.75 words per token
        title += f" (cap {token_cap} tokens, dashed: ~{0.75 * token_cap:.0f} words)"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def confusion(matrix: list, labels: list, title: str, path: str):
    """Row-normalized confusion matrix (true rows, predicted columns)."""
    m = np.asarray(matrix, dtype=float)
    if m.size == 0 or m.sum() == 0:
        return None
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    size = max(4.5, 0.35 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)))
    ax.set_yticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for r in range(m.shape[0]):  # the counts behind each share
        for c in range(m.shape[1]):
            if m[r, c]:
                ax.text(c, r, f"{int(m[r, c])}", ha="center", va="center", fontsize=6,
                        color="white" if norm[r, c] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of true class (cells: counts)")
    return _save(fig, path)


def dpo_curves(train_rows: list[dict], eval_rows: list[dict], path: str):
    """The preference stage: DPO loss, reward margin, reward accuracy, and the chosen and
    rejected reply log-probs, per step (train) and on the held-out pairs."""
    panels = [("DPO loss", [("dpo", "train")], [("heldout_loss", "held out")]),
              ("reward margin", [("dpo/margin", "train")], [("heldout_margin", "held out")]),
              ("reward accuracy", [("dpo/accuracy", "train")], [("heldout_accuracy", "held out")]),
              ("reply log-prob", [("dpo/chosen_logp", "chosen"), ("dpo/rejected_logp", "rejected")],
               [("heldout_chosen_logp", "chosen, held out"),
                ("heldout_rejected_logp", "rejected, held out")])]
    if not any("dpo" in r for r in train_rows):
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, train_keys, eval_keys) in zip(axes[0], panels):
        for (key, label), color in zip(train_keys, ("#1f77b4", "#ff7f0e")):
            pts = [(r["step"], r[key]) for r in train_rows if key in r and np.isfinite(r[key])]
            if pts:
                ax.plot(*zip(*pts), color=color, lw=1.2, alpha=0.8, label=label)
        for (key, label), color in zip(eval_keys, ("#d62728", "#2ca02c")):
            pts = [(r["step"], r[key]) for r in eval_rows if key in r]
            if pts:
                ax.plot(*zip(*pts), "o--", color=color, lw=1.2, label=label)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)
