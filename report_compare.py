"""`pipeline --compare`: several finished runs (e.g. the ablations) in one Markdown table of
loss weights, final validation losses, head metrics and EQ-Bench scores, read from each run's
folder as the report reads it.

    python main.py pipeline --compare artifacts/runs/a artifacts/runs/b
"""
from __future__ import annotations

import os

from config import LOSS_NAMES, UserError
from files import write_text_atomic
from report import collect, eq_score_text, fmt, paired_delta_cell, table


def compare_runs(run_dirs: list[str], out_path: str | None = None) -> str:
    """One Markdown table of loss weights, final losses, head metrics and EQ-Bench scores."""
    rows = []
    for run in run_dirs:
        if not os.path.isdir(run):
            raise UserError(f"run folder not found: {run}")
        d = collect(run)
        w = (d["config"] or {}).get("losses", {})
        ev = [r for r in d["eval_log"] if "split" not in r]
        last = ev[-1] if ev else {}
        heads = (d["eval"] or {}).get("heads", {})
        eq = d["eq_bench"] or {}

        def head(name, key, heads=heads):
            return fmt(heads[name][key]) if name in heads else "-"

        def eqs(model, eq=eq):
            return eq_score_text(eq[model]) if model in eq else "missing"
        rows.append([os.path.basename(os.path.normpath(run)),
                     " / ".join(str(w.get(k, "-")) for k in LOSS_NAMES),
                     last.get("step", "-"), fmt(last.get("lm", "-")),
                     fmt(last.get("perplexity", "-"), 2),
                     f"{head('emotion', 'accuracy')} / {head('emotion', 'macro_f1')}",
                     f"{head('strategy', 'accuracy')} / {head('strategy', 'macro_f1')}",
                     eqs("base"), eqs("finetuned"), paired_delta_cell(eq),
                     eqs("dpo") if "dpo" in eq else "-"])
    lines = ["# Run comparison", ""] + table(
        ["run", "weights " + " / ".join(LOSS_NAMES), "final step", "val LM loss", "val ppl",
         "emotion acc / F1", "strategy acc / F1", "EQ-Bench base", "EQ-Bench fine-tuned",
         "paired delta [95% CI] (items)", "EQ-Bench SFT+DPO"], rows)
    text = "\n".join(lines) + "\n"
    out_path = out_path or os.path.join(os.path.dirname(os.path.normpath(run_dirs[0])),
                                        "comparison.md")
    write_text_atomic(out_path, text)
    print(text)
    print(f"comparison written to {out_path}")
    return out_path
