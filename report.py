"""`pipeline`: check exports, compute statistics, draw plots, write the run's report.md.

Sections: config, data and mixture, training curves, the DPO stage (report_dpo.py), EQ-Bench,
head metrics next to published baselines, red team, three base vs fine-tuned (vs SFT+DPO)
conversations. A stage whose outputs are missing is named as missing; the report is still
written. `--compare` puts several runs (e.g. the ablations) in one table (report_compare.py).

    python main.py pipeline --run artifacts/runs/cpu_smoke
    python main.py pipeline --compare artifacts/runs/a artifacts/runs/b
"""
from __future__ import annotations

import json
import os
import re

import numpy as np

import plots
from config import LOSS_NAMES, ConfigError, UserError
from config_load import config_from_dict
from eq_bench import COMPARISONS
from exports import check_pairs, row_problems, run_exports
from files import read_jsonl, write_text_atomic
from markers import mark_completed
from report_dpo import DELTAS, LABELS, collect_dpo, section_dpo

# Published reference points, quoted for context (not reproduced here).
BASELINES = {"emotion": ("GoEmotions BERT-base macro-F1 (Demszky et al., 2020)", "macro_f1", 0.46),
             "strategy": ("ESConv strategy accuracy of published systems", "accuracy",
                          "about 0.29-0.35")}
REFUSAL = re.compile(r"\b(as an ai|i'?m (just )?an ai|i (can(no|')t|am not able to|'m not able to)"
                     r" (help|assist|provide|discuss)|i'?m sorry,? but i|consult a professional|"
                     r"i (don'?t|do not) feel comfortable)\b", re.IGNORECASE)


def _load_json(path: str):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def collect(run_dir: str) -> dict:
    """Everything the report reads; absent stages are None."""
    exports = run_exports(run_dir)
    return {"config": _load_json(os.path.join(run_dir, "config.json")),
            "manifest": _load_json(os.path.join(run_dir, "manifest.json")),
            "train": read_jsonl(os.path.join(run_dir, "logs", "train_metrics.jsonl")),
            "eval_log": read_jsonl(os.path.join(run_dir, "logs", "eval_metrics.jsonl")),
            "eval": _load_json(os.path.join(run_dir, "eval", "metrics.json")),
            "eq_bench": _load_json(os.path.join(run_dir, "eq_bench", "results.json")),
            "head_fit": _load_json(os.path.join(run_dir, "logs", "head_fit.json")),
            "exports": exports, "dpo": collect_dpo(run_dir)}


def export_statistics(exports: dict) -> dict:
    """Per prompt set and model: count, reply length (words), refusal rate, crisis rate."""
    stats = {}
    for name, by_model in exports.items():
        for model, (_, rows) in by_model.items():
            words = [len(r.get("response", "").split()) for r in rows]
            stats.setdefault(name, {})[model] = {
                "n": len(rows), "words_mean": float(np.mean(words)) if words else 0.0,
                "words_median": float(np.median(words)) if words else 0.0,
                "words_p90": float(np.percentile(words, 90)) if words else 0.0,
                "refusal_rate": sum(bool(REFUSAL.search(r.get("response", ""))) for r in rows)
                / max(1, len(rows)),
                "crisis_rate": sum(bool(r.get("meta", {}).get("crisis_mode")) for r in rows)
                / max(1, len(rows))}
    return stats


def export_problems(exports: dict) -> list[str]:
    files = [path for by_model in exports.values() for path, _ in by_model.values()]
    problems = [f"{os.path.basename(p)}: {x}" for by_model in exports.values()
                for p, rows in by_model.values() for x in row_problems(rows)]
    return problems + (check_pairs(files) if files else [])


def table(header: list, rows: list) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def fmt(x, nd=3):
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def _missing(stage: str, cmd: str) -> list[str]:
    return [f"**Missing: the {stage} stage has no outputs in this run.** Run `{cmd}`.", ""]


def smoke_caveat(d: dict) -> list[str]:
    """A smoke run (`output.smoke`: the demo data) says so before any number."""
    if not ((d["config"] or {}).get("output") or {}).get("smoke"):
        return []
    return ["> **Smoke run.** This run trained on the toolkit's demo data (a few hundred "
            "hand-written examples), so it proves the pipeline end to end, not quality: its "
            "losses, head metrics and EQ-Bench figures say nothing about empathy.", ""]


def section_config(d: dict) -> list[str]:
    cfg = d["config"]
    if not cfg:
        return _missing("configuration", "python main.py train --config ...")
    m, q, lora, t = cfg["model"], cfg["quant"], cfg["lora"], cfg["training"]
    git = (d["manifest"] or {}).get("git", {})
    dev = (d["manifest"] or {}).get("device", {})
    return table(["key", "value"], [
        ["model", m["name_or_path"]], ["4-bit NF4 (double quant)", f"{q['load_in_4bit']} "
                                                                  f"({q['double_quant']})"],
        ["LoRA r / alpha / dropout", f"{lora['r']} / {lora['alpha']} / {lora['dropout']}"],
        [f"loss weights ({', '.join(LOSS_NAMES)})", ", ".join(
            str(cfg["losses"][k]) for k in LOSS_NAMES)],
        ["steps x batch x accumulation", f"{t['max_steps']} x {t['batch_size']} x "
                                         f"{t['grad_accum']}"],
        ["lr, warmup", f"{t['lr']}, {t['warmup_steps']} steps then cosine"],
        ["max_seq_len, mixture alpha", f"{cfg['data']['max_seq_len']}, {cfg['mixture']['alpha']}"],
        ["git commit", f"{git.get('commit')}{' (dirty)' if git.get('dirty') else ''}"],
        ["device", dev.get("gpu") or f"CPU ({dev.get('cpu_count')} cores)"]]) + [""]


def section_data(d: dict) -> list[str]:
    train = ((d["manifest"] or {}).get("stages") or {}).get("train")
    if not train:
        return _missing("training (data statistics)", "python main.py train --config ...")
    rows = []
    for src, splits in train["data_stats"].items():
        for split, st in splits.items():
            rows.append([src, split, st["rows_read"], st["examples"],
                         ", ".join(f"{k} {v}" for k, v in st["skipped"].items()) or "-",
                         ", ".join(f"{k} {v}" for k, v in st.get("dropped", {}).items()) or "-",
                         fmt(train["mixture_probabilities"].get(src, 0)) if split == "train"
                         else ""])
    return table(["source", "split", "rows read", "examples", "skipped", "dropped",
                   "mixture p"], rows) + [""]


def section_training(d: dict, figs: dict) -> list[str]:
    if not d["train"]:
        return _missing("training", "python main.py train --config ...")
    ev = [r for r in d["eval_log"] if "split" not in r]
    out = [f"![loss curves]({figs['loss']})", ""] if figs.get("loss") else []
    if ev:
        keys = [k for k in ("lm", "perplexity", "emotion_accuracy", "strategy_accuracy", "kl")
                if k in ev[-1]]
        out += table(["step"] + keys, [[r["step"]] + [fmt(r.get(k, "")) for k in keys]
                                        for r in ev]) + [""]
    skipped = d["train"][-1].get("nonfinite_total", 0)
    out += [f"{len(d['train'])} optimizer steps logged; non-finite steps skipped: {skipped}.", ""]
    return out


def eq_score_text(run: dict) -> str:
    """An EQ-Bench score as it may be read: an invalid run's number is marked as such."""
    if run["valid"]:
        return f"{run['score']:.2f}"
    return (f"{run['score']:.2f} (not a valid score: {run['parseable']}/{run['n_items']} "
            f"parseable, below 83.33%)")


def eq_delta_lines(eq: dict, key: str = "comparison") -> list[str]:
    """The paired delta with its interval; the difference of totals only as context, and
    both labelled when either run is invalid."""
    c, invalid = eq[key], [LABELS[m] for m in COMPARISONS[key] if not eq[m]["valid"]]
    ci = f"[{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]" if c.get("ci95") else "n/a"
    paired = (f"Paired delta ({DELTAS[key]}) over the {c['paired_items']} items parseable in "
              f"both runs: {fmt(c['paired_delta'], 2)}, bootstrap 95% interval {ci}.")
    totals = f"Difference of the two totals: {c['delta_total']:+.2f} (not a paired statistic)."
    if invalid:
        why = f"the {' and '.join(invalid)} run{'s are' if len(invalid) > 1 else ' is'} not valid"
        return [f"**Not a valid comparison: {why}.** For information only: {paired} {totals}"]
    return [paired, totals]


def paired_delta_cell(eq: dict) -> str:
    if not eq:
        return "-"
    c = eq["comparison"]
    if c.get("paired_delta") is None:
        return "no item parseable in both"
    text = (f"{c['paired_delta']:+.2f} [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}] "
            f"({c['paired_items']})")
    valid = all(eq[m]["valid"] for m in ("base", "finetuned"))
    return text if valid else f"not valid (a run is below 83.33%): {text}"


def section_eq_bench(d: dict, figs: dict) -> list[str]:
    eq = d["eq_bench"]
    if not eq:
        return _missing("EQ-Bench", "python main.py eq-bench --config ...")
    rows = [[LABELS[m], eq_score_text(eq[m]), f"{eq[m]['parseable']}/{eq[m]['n_items']}",
             f"{100 * eq[m]['parse_rate']:.1f}%", eq[m]["valid"]] for m in LABELS if m in eq]
    out = table(["model", "score (official v2)", "parseable / asked", "parse rate", "valid"],
                 rows) + [""]
    for key in (k for k in DELTAS if k in eq):
        out += eq_delta_lines(eq, key) + [""]
    out += [f"Questions: `{eq['questions']}` ({eq['n_items']} asked). "
                                     "A run below 83.33% parseable is not a valid EQ-Bench score.",
                                 ""]
    return out + ([f"![EQ-Bench per item]({figs['eq']})", ""] if figs.get("eq") else [])


def section_heads(d: dict, figs: dict) -> list[str]:
    heads = (d["eval"] or {}).get("heads")
    if not heads:
        return _missing("evaluation (head metrics)", "python main.py eval --config ...")
    rows = []
    for name, m in heads.items():
        label, metric, value = BASELINES.get(name, ("", "", ""))
        maj = m.get("majority")
        rows.append([name, m["n"], fmt(m["accuracy"]), fmt(m["macro_f1"]),
                     f"{fmt(maj['accuracy'])} / {fmt(maj['macro_f1'])} ({maj['label']})"
                     if maj else "-", f"{label}: {value} ({metric})" if label else "-"])
    out = table(["head", "test n", "accuracy", "macro-F1",
                  "majority class: accuracy / macro-F1", "published baseline"], rows) + [""]
    out += head_fit_lines(d.get("head_fit"))
    ppl = (d["eval"] or {}).get("perplexity") or {}
    if ppl:
        out += ["Reply perplexity on the test splits (reply tokens only; base = the same weights "
                "with the adapter off):", ""]
        models = [m for m in LABELS if any(m in by for by in ppl.values())]
        out += table(["source", "examples", "reply tokens"] + [LABELS[m] for m in models],
                      [[s, next(iter(m.values()))["examples"], next(iter(m.values()))["tokens"]] +
                       [fmt(m.get(k, {}).get("perplexity", "-"), 2) for k in models]
                       for s, m in ppl.items()]) + [""]
    return out + [f"![{k} confusion]({figs[k]})" for k in heads if figs.get(k)] + [""]


def head_fit_lines(fit: dict | None) -> list[str]:
    """How the heads started (training.head_fit_examples): fitted rows and validation figures."""
    if not fit:
        return ["The heads started from random weights (training.head_fit_examples = 0).", ""]
    parts = [f"{name} on {f['train_rows']} train rows (L2 {f['l2']} chosen on {f['val_rows']} "
             f"validation rows: accuracy {fmt(f['val_accuracy'])} vs majority "
             f"{fmt(f['val_majority'])})" for name, f in fit.items()]
    return ["Before step 0 the heads were fitted by logistic regression on frozen base-model "
            "features, then fine-tuned with the adapters: " + "; ".join(parts) + ".", ""]


def section_redteam(d: dict) -> list[str]:
    red = (d["eval"] or {}).get("redteam")
    if not red:
        return _missing("red-team evaluation", "python main.py eval --config ...")
    out = ["The crisis screen reads the user's messages before any reply is generated, so it "
           "is the same for every model: crisis recall and false triggers cannot differ "
           "between the models compared. What differs is the reply: each crisis reply is "
           "checked, regenerated once if it fails, and replaced by the fixed safe message if "
           "it fails again.", ""]
    for name, block in red.items():
        for model, s in block["summary"].items():
            o = s["reply_outcomes"]
            out.append(f"- {name} / {model}: crisis recall {s['crisis_recall']:.2f}, benign false "
                       f"triggers {s['benign_false_triggers']}/{s['n_benign']}; crisis replies "
                       f"passing the check {o.get('passed', 0)}, regenerated "
                       f"{o.get('regenerated', 0)}, replaced by the fixed safe message "
                       f"{o.get('replaced', 0)}; failure kinds the check found: "
                       + (", ".join(f"{k} {n}" for k, n in s.get("failure_kinds", {}).items())
                          or "none"))
        out.append("")
        out += table(["prompt", "category", "model", "expected", "risk", "crisis mode",
                       "as expected", "reply check", "failure kinds"],
                      [[r["prompt_id"], r["category"], r["model"], r["expected"], r["risk_level"],
                        r["crisis_triggered"], r["as_expected"], r["reply_check"],
                        ", ".join(r.get("failure_kinds", [])) or "-"]
                       for r in block["table"]]) + [""]
    return out


def section_conversations(d: dict, k: int = 3) -> list[str]:
    pairs = d["exports"].get("qualitative_prompts", {})
    if {"base", "finetuned"} - set(pairs):
        return _missing("qualitative exports", "python main.py eval --config ...")
    models = [m for m in LABELS if m in pairs]
    by_id = {m: {r["prompt_id"]: r for r in pairs[m][1]} for m in models}
    out = []
    for row in pairs["finetuned"][1][:k]:
        convo = " / ".join(f"*{m['role']}*: {m['content']}" for m in row["prompt"])
        cells = [by_id[m].get(row["prompt_id"], {}).get("response", "-").replace(chr(10), " ")
                 for m in models]
        out += [f"**{row['prompt_id']}** ({row['meta'].get('category', '')}): {convo}", "",
                "| " + " | ".join(LABELS[m] for m in models) + " |",
                "|" + "---|" * len(models), "| " + " | ".join(cells) + " |", ""]
    return out


def make_figures(d: dict, fig_dir: str) -> dict:
    figs = {"loss": plots.loss_curves(d["train"], d["eval_log"], os.path.join(fig_dir, "loss.png"))}
    if {"base", "finetuned"} <= set(d["eq_bench"] or {}):  # a per-item plot needs both runs
        figs["eq"] = plots.eq_bench_items(d["eq_bench"]["base"], d["eq_bench"]["finetuned"],
                                          os.path.join(fig_dir, "eq_bench_items.png"),
                                          d["eq_bench"].get("dpo"))
    if d["dpo"]:
        figs["dpo"] = plots.dpo_curves(d["dpo"]["train"], d["dpo"]["eval"],
                                       os.path.join(fig_dir, "dpo.png"))
    lengths, capped = {}, {}
    for name, by_model in d["exports"].items():
        if name == "eq_bench":
            continue  # 60-token score lists, not replies
        for model, (_, rows) in by_model.items():
            lengths.setdefault(model, []).extend(len(r["response"].split()) for r in rows)
            capped[model] = capped.get(model, 0) + sum(1 for r in rows if r.get("meta", {}).get(
                "hit_token_cap"))
    cap = ((d["config"] or {}).get("eval") or {}).get("max_new_tokens")
    figs["lengths"] = plots.response_lengths(lengths, os.path.join(fig_dir, "lengths.png"),
                                             cap, capped)
    for name, m in ((d["eval"] or {}).get("heads") or {}).items():
        figs[name] = plots.confusion(m["confusion"], m["labels"], f"{name} head (test)",
                                     os.path.join(fig_dir, f"confusion_{name}.png"))
    return {k: os.path.relpath(v, os.path.dirname(fig_dir)) for k, v in figs.items() if v}


def _saved_config(run_dir: str):
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            return config_from_dict(json.load(f))
    except FileNotFoundError:
        raise UserError(f"{run_dir} is not a run folder: it has no config.json "
                        "(run `python main.py train` first)") from None
    except (ValueError, ConfigError) as e:
        raise UserError(f"{path}: unreadable run config ({e})") from None


def build_report(run_dir: str, cfg=None) -> str:
    """Write report.md (and figures/) for a run folder; returns the report's path.

    `cfg` is the config the pipeline ran under (its fingerprint goes into the stage marker);
    without it, the run's saved config.json.
    """
    if not os.path.isdir(run_dir):
        raise UserError(f"run folder not found: {run_dir}")
    cfg = cfg or _saved_config(run_dir)
    d = collect(run_dir)
    figs = make_figures(d, os.path.join(run_dir, "figures"))
    problems = export_problems(d["exports"]) if d["exports"] else ["no exports"]
    stats = export_statistics(d["exports"])
    lines = [f"# Report: {os.path.basename(os.path.normpath(run_dir))}", ""] + smoke_caveat(d)
    lines += ["## Configuration", ""] + section_config(d)
    lines += ["## Data and mixture", ""] + section_data(d)
    lines += ["## Training", ""] + section_training(d, figs)
    lines += ["## Preference stage (DPO)", ""] + section_dpo(d["dpo"], figs.get("dpo"), fmt)
    lines += ["## EQ-Bench v2", ""] + section_eq_bench(d, figs)
    lines += ["## Heads (test splits)", ""] + section_heads(d, figs)
    lines += ["## Exports", "", "Validation: " + ("all exports valid, prompt ids match across models"
                                                    if not problems else "; ".join(problems)), ""]
    lines += table(["prompt set", "model", "replies", "words mean / median / p90",
                     "refusal rate", "crisis rate"],
                    [[n, m, s["n"], f"{s['words_mean']:.1f} / {s['words_median']:.0f} / "
                      f"{s['words_p90']:.0f}", fmt(s["refusal_rate"]), fmt(s["crisis_rate"])]
                     for n, by in stats.items() for m, s in by.items()]) + [""]
    if figs.get("lengths"):
        lines += [f"![reply lengths]({figs['lengths']})", ""]
    lines += ["## Red team", ""] + section_redteam(d)
    lines += ["## Conversations: " + " vs ".join(
        LABELS[m] for m in LABELS if m in d["exports"].get("qualitative_prompts", {})), ""]
    lines += section_conversations(d)
    path = os.path.join(run_dir, "report.md")
    write_text_atomic(path, "\n".join(lines) + "\n")
    mark_completed(run_dir, "pipeline", {"report": path, "export_problems": problems}, cfg)
    return path
