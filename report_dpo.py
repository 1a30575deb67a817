"""The report's preference-stage pieces: the DPO section (pairs, curves, held-out reward
accuracy) and the SFT+DPO columns that report.py adds to its tables when the stage ran.

    python main.py pipeline --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

import os

from files import read_json, read_jsonl

LABELS = {"base": "base", "finetuned": "fine-tuned", "dpo": "SFT+DPO"}
# results key -> wording of the paired delta (eq_bench.COMPARISONS)
DELTAS = {"comparison": "fine-tuned - base", "comparison_dpo_vs_base": "SFT+DPO - base",
          "comparison_dpo_vs_sft": "SFT+DPO - fine-tuned"}


def collect_dpo(run_dir: str) -> dict | None:
    """The dpo stage's logs and marker, or None when it never ran here."""
    folder = os.path.join(run_dir, "dpo")
    train = read_jsonl(os.path.join(folder, "logs", "train_metrics.jsonl"))
    if not train:
        return None
    marker = os.path.join(run_dir, "completed", "dpo")
    info = os.path.join(folder, "pairs_info.json")
    return {"train": train, "eval": read_jsonl(os.path.join(folder, "logs", "eval_metrics.jsonl")),
            "marker": read_json(marker), "pairs": read_json(info, {}).get("counts", {}),
            "config": read_json(os.path.join(folder, "config.json"), {})}


def section_dpo(dpo: dict | None, fig: str | None, fmt) -> list[str]:
    if dpo is None:
        return ["The preference stage did not run (enable it with `dpo.enabled`; "
                "`python main.py dpo --config ...`).", ""]
    d = (dpo["config"] or {}).get("dpo", {})
    state = "finished" if dpo["marker"] else "**not finished** (its adapter is not evaluated)"
    out = [f"DPO from the SFT adapter, {state}: beta {d.get('beta')}, lr {d.get('lr')}, "
           f"{len(dpo['train'])} steps logged, SFT term on the chosen reply weight "
           f"{d.get('sft_weight')}. Pairs: " + ", ".join(f"{k} {v}" for k, v in
                                                          dpo["pairs"].items()) + ".", ""]
    held = [r for r in dpo["eval"] if "heldout_accuracy" in r]
    if held:
        out += ["| step | held-out loss | reward accuracy | margin | chosen log-p | rejected log-p |",
                "|---|---|---|---|---|---|"]
        out += [f"| {r['step']} | {fmt(r['heldout_loss'])} | {fmt(r['heldout_accuracy'])} | "
                f"{fmt(r['heldout_margin'])} | {fmt(r['heldout_chosen_logp'], 1)} | "
                f"{fmt(r['heldout_rejected_logp'], 1)} |" for r in held]
        out.append("")
    return out + ([f"![DPO curves]({fig})", ""] if fig else [])
