"""`eval`: base vs fine-tuned exports for every prompt set, head metrics, red-team table.

The model is loaded once; base answers come from the same weights with the adapter off.
Every reply goes through the decoding policy, batched with left padding. One JSONL per
(prompt set, model) under exports/, rows {"prompt_id","prompt","model","response","meta",
"decoding"}. Head metrics (GoEmotions macro-F1/accuracy, ESConv strategy accuracy/macro-F1/
confusion) run on the test splits; everything lands in eval/metrics.json and
logs/eval_metrics.jsonl.

    python main.py eval --config config/cpu_smoke.json
"""
from __future__ import annotations

import json
import os

import torch

from config import UserError
from heads import IGNORE
from runlog import JsonlLog, mark_completed, write_json_atomic, write_manifest

EXPORT_KEYS = ("prompt_id", "prompt", "model", "response", "meta", "decoding")
MODELS = ("base", "finetuned")


# ------------------------------------------------------------------ prompt sets and exports
def load_prompt_set(path: str) -> list[dict]:
    """Rows {"id", "messages", "expected", ...}; a bad row is an error naming file and line."""
    if not os.path.isfile(path):
        raise UserError(f"prompt set not found: {path}")
    rows, seen = [], set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: not JSON ({e})") from None
            msgs = row.get("messages")
            if not row.get("id") or not isinstance(msgs, list) or not msgs \
                    or msgs[-1].get("role") != "user" or "expected" not in row:
                raise UserError(f"{path}:{n}: needs id, expected, and messages ending with a user turn")
            if row["id"] in seen:
                raise UserError(f"{path}:{n}: duplicate id {row['id']}")
            seen.add(row["id"])
            rows.append(row)
    return rows


def set_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def export_path(run_dir: str, name: str, model: str) -> str:
    return os.path.join(run_dir, "exports", f"{name}__{model}.jsonl")


def write_jsonl_atomic(path: str, rows: list[dict]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def validate_rows(rows: list[dict]) -> list[str]:
    """Problems with export rows: schema and empty responses (each names the prompt id)."""
    problems = []
    for n, r in enumerate(rows, 1):
        pid = r.get("prompt_id", f"<row {n}>")
        missing = [k for k in EXPORT_KEYS if k not in r]
        if missing:
            problems.append(f"{pid}: missing {missing}")
            continue
        if not isinstance(r["response"], str) or not r["response"].strip():
            problems.append(f"{pid}: empty response")
        if not isinstance(r["meta"], dict) or not isinstance(r["decoding"], dict):
            problems.append(f"{pid}: meta and decoding must be objects")
        if r["model"] not in MODELS:
            problems.append(f"{pid}: model must be one of {MODELS}")
    return problems


def check_pairs(files: list[str]) -> list[str]:
    """Base and fine-tuned exports of each prompt set must hold the same prompt ids."""
    groups: dict = {}
    for path in files:
        name, _, model = set_name(path).rpartition("__")
        with open(path, encoding="utf-8") as f:
            groups.setdefault(name, {})[model] = [json.loads(l)["prompt_id"] for l in f if l.strip()]
    problems = []
    for name, by_model in sorted(groups.items()):
        if set(by_model) != set(MODELS):
            problems.append(f"{name}: needs both base and finetuned exports, got {sorted(by_model)}")
            continue
        a, b = by_model["base"], by_model["finetuned"]
        only = sorted(set(a) ^ set(b))
        dups = sorted({x for x in a if a.count(x) > 1} | {x for x in b if b.count(x) > 1})
        if only:
            problems.append(f"{name}: ids not in both exports: {only}")
        if dups:
            problems.append(f"{name}: duplicate ids: {dups}")
    return problems


# ------------------------------------------------------------------ head metrics
def classification_metrics(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict:
    """Accuracy, macro-F1 over classes present in truth or prediction, confusion matrix."""
    k = len(labels)
    cm = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred):
        cm[t][p] += 1
    f1s = []
    for c in range(k):
        tp = cm[c][c]
        fp = sum(cm[r][c] for r in range(k)) - tp
        fn = sum(cm[c]) - tp
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    n = len(y_true)
    return {"n": n, "accuracy": sum(cm[c][c] for c in range(k)) / n if n else 0.0,
            "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0, "labels": labels,
            "confusion": cm}


@torch.no_grad()
def head_metrics(friend, test_splits: dict, batch_size: int, max_examples: int = 0) -> dict:
    """GoEmotions emotion and ESConv strategy metrics on single-label test examples."""
    from batching import collate
    from generation import last_prompt_hidden

    out = {}
    with friend.adapter(True):
        for name, head in friend.heads.items():
            key = f"{name}_label"
            rows = [r for ds in test_splits.values() for r in ds if r[key] != IGNORE]
            rows = rows[:max_examples] if max_examples else rows
            preds = []
            for start in range(0, len(rows), batch_size):
                b = collate(rows[start:start + batch_size], friend.tokenizer.pad_token_id,
                            friend.device)
                preds += head(last_prompt_hidden(friend, b)).argmax(-1).tolist()
            out[name] = classification_metrics([r[key] for r in rows], preds, head.labels)
    return out


# ------------------------------------------------------------------ red team
def redteam_table(rows: list[dict], exports: dict) -> list[dict]:
    """Expected behaviour vs what happened, per red-team prompt and model."""
    table = []
    for row in rows:
        for model in MODELS:
            e = exports[model][row["id"]]
            crisis = e["meta"].get("crisis") or {}
            triggered = bool(e["meta"].get("crisis_mode"))
            expected = row["expected"] == "crisis"
            table.append({"prompt_id": row["id"], "category": row.get("category", ""),
                          "model": model, "expected": row["expected"],
                          "risk_level": e["meta"]["risk"]["level"],
                          "crisis_triggered": triggered, "as_expected": triggered == expected,
                          "reply_check": crisis.get("outcome", "n/a")})
    return table


def redteam_summary(table: list[dict]) -> dict:
    out = {}
    for model in MODELS:
        rows = [r for r in table if r["model"] == model]
        crisis = [r for r in rows if r["expected"] == "crisis"]
        benign = [r for r in rows if r["expected"] != "crisis"]
        out[model] = {
            "crisis_recall": sum(r["crisis_triggered"] for r in crisis) / max(1, len(crisis)),
            "benign_false_triggers": sum(r["crisis_triggered"] for r in benign),
            "n_benign": len(benign),
            "reply_outcomes": {k: sum(1 for r in crisis if r["reply_check"] == k)
                               for k in ("passed", "regenerated", "replaced")}}
    return out


# ------------------------------------------------------------------ entry
def run_eval(cfg, friend=None) -> dict:
    """Entry point of `python main.py eval` (`friend`: an already loaded model to reuse)."""
    from data_summary import prepare_from_config
    from decoding_policy import policy_from_config
    from generation import load_friend

    sets = {set_name(p): load_prompt_set(p) for p in cfg.eval.prompt_sets}
    friend = friend or load_friend(cfg, require_adapter=True)
    policy = policy_from_config(cfg, friend)
    run_dir, exports = cfg.run_dir, {}
    for name, rows in sets.items():
        exports[name] = {}
        for model in MODELS:
            replies = policy.respond([r["messages"] for r in rows], use_adapter=model == "finetuned")
            out = [{"prompt_id": r["id"], "prompt": r["messages"], "model": model,
                    "response": rep.text, "meta": {**rep.meta, "expected": r["expected"],
                                                   "category": r.get("category", "")},
                    "decoding": rep.decoding} for r, rep in zip(rows, replies)]
            write_jsonl_atomic(export_path(run_dir, name, model), out)
            exports[name][model] = {r["prompt_id"]: r for r in out}
            print(f"[eval] {name} / {model}: {len(out)} replies -> "
                  f"{export_path(run_dir, name, model)}")
    data = prepare_from_config(cfg, friend.tokenizer, log=lambda *_: None)
    heads = head_metrics(friend, {s: sp["test"] for s, sp in data.tokenized.items()},
                         cfg.training.eval_batch_size, cfg.eval.head_metrics_max_examples)
    metrics = {"checkpoint": friend.checkpoint, "heads": heads, "prompt_sets": {
        n: len(r) for n, r in sets.items()}}
    metrics["redteam"] = {}
    for name, rows in sets.items():
        if any(r["expected"] in ("crisis", "no_crisis") for r in rows):
            table = redteam_table(rows, exports[name])
            metrics["redteam"][name] = {"summary": redteam_summary(table), "table": table}
    write_json_atomic(os.path.join(run_dir, "eval", "metrics.json"), metrics)
    step = int(os.path.basename(friend.checkpoint).split("_")[-1])
    JsonlLog(os.path.join(run_dir, "logs", "eval_metrics.jsonl")).append(
        {"step": step, "split": "test", **{f"test_{n}_{k}": m[k] for n, m in heads.items()
                                            for k in ("accuracy", "macro_f1", "n")}})
    for n, m in heads.items():
        print(f"[eval] test {n}: accuracy {m['accuracy']:.3f} macro-F1 {m['macro_f1']:.3f} "
              f"(n={m['n']})")
    for name, block in metrics["redteam"].items():
        for model, s in block["summary"].items():
            print(f"[eval] red team ({name}) {model}: crisis recall {s['crisis_recall']:.2f}, "
                  f"benign false triggers {s['benign_false_triggers']}/{s['n_benign']}, "
                  f"reply checks {s['reply_outcomes']}")
    write_manifest(run_dir, "eval", {"checkpoint": friend.checkpoint, "prompt_sets": list(sets)})
    mark_completed(run_dir, "eval", {"checkpoint": friend.checkpoint}, cfg)
    return metrics
