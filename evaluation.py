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
import math
import os
from collections import Counter

import torch
from tqdm.auto import tqdm

from batching import IGNORE, collate, seeded_subset, to_device
from checkpoint import step_of
from config import UserError
from dataset import prepare_from_config
from decoding_policy import policy_from_config
from exports import MODELS, drop_exports, set_name, write_export
from files import write_json_atomic
from heads import pool_last_prompt_token
from loading import load_for_inference
from markers import mark_completed
from model import final_hidden
from runlog import JsonlLog, write_manifest
from trackers import log_summary


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


def head_rows(test: dict, name: str, max_examples: int) -> list[tuple[str, int]]:
    """(source, index) of the test examples a head is scored on: those with its label."""
    key = f"{name}_label"
    rows = [(s, i) for s, ds in test.items() for i, r in enumerate(ds) if r[key] != IGNORE]
    return rows[:max_examples] if max_examples else rows


def perplexity_rows(test: dict, max_examples: int, seed: int) -> dict:
    """{source: [index]}: a seeded subset of the examples with a reply, ordered by length."""
    out = {}
    for source, ds in test.items():
        have = [i for i, r in enumerate(ds) if r["n_supervised"]]
        if have:
            pick = seeded_subset([len(ds[i]["input_ids"]) for i in have], max_examples, seed)
            out[source] = [have[k] for k in pick]
    return out


def reply_loss(friend, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden states, LM loss per supervised position) of one collated batch: the LM head
    only at the supervised positions, as in training."""
    head = (friend.model.get_base_model() if friend.has_adapter else friend.model)\
        .get_output_embeddings()
    hidden = final_hidden(friend.model, batch["input_ids"], batch["attention_mask"])
    pos = batch["sup_pos"]
    logits = head(hidden.reshape(-1, hidden.shape[-1]).index_select(0, pos))
    target = batch["labels"].reshape(-1).index_select(0, pos + 1)
    return hidden, torch.nn.functional.cross_entropy(logits.float(), target, reduction="none")


def ppl_entry(total: float, tokens: int, examples: int) -> dict:
    lm = total / max(1, tokens)
    return {"lm": lm, "perplexity": math.exp(min(lm, 50)), "examples": examples,
            "tokens": int(tokens)}


@torch.no_grad()
def heads_and_perplexity(friend, test: dict, batch_size: int, head_max: int, ppl_max: int,
                         seed: int) -> tuple[dict, dict]:
    """Head metrics and the fine-tuned model's reply perplexity from one forward per example.

    The heads read the last prompt token's final state in the full sequence (causal attention:
    the state a prompt-only forward gives, and how training reads it), the LM loss the reply
    tokens of the same forward; an example both need is encoded once. Every example that
    either needs goes through the fine-tuned model once, in length order."""
    by_head = {name: head_rows(test, name, head_max) for name in friend.heads}
    ppl = perplexity_rows(test, ppl_max, seed)
    in_ppl = {(s, i) for s, idx in ppl.items() for i in idx}
    keys = sorted({k for rows in by_head.values() for k in rows} | in_ppl,
                  key=lambda k: len(test[k[0]][k[1]]["input_ids"]))
    pooled, totals, tokens = {}, Counter(), Counter()
    with friend.adapter(True):
        for start in tqdm(range(0, len(keys), batch_size), desc="heads + perplexity",
                          leave=False, disable=len(keys) <= batch_size):
            chunk = keys[start:start + batch_size]
            b = to_device(collate([test[s][i] for s, i in chunk], friend.tokenizer.pad_token_id),
                          friend.device)
            hidden, loss = reply_loss(friend, b)
            states = pool_last_prompt_token(hidden, b["prompt_lengths"]).float()
            row_of = (b["sup_pos"] // hidden.shape[1]).tolist()
            for r, key in enumerate(chunk):
                pooled[key] = states[r]
            for r, value in zip(row_of, loss.tolist()):
                if chunk[r] in in_ppl:
                    totals[chunk[r][0]] += value
                    tokens[chunk[r][0]] += 1
    heads = {}
    for name, rows in by_head.items():
        if rows:
            preds = friend.heads[name](torch.stack([pooled[k] for k in rows])).argmax(-1)
            truth = [test[s][i][f"{name}_label"] for s, i in rows]
            heads[name] = classification_metrics(truth, preds.tolist(), friend.heads[name].labels)
            heads[name]["majority"] = majority_baseline(truth, friend.heads[name].labels)
    return heads, {s: ppl_entry(totals[s], tokens[s], len(idx)) for s, idx in ppl.items()}


@torch.no_grad()
def reply_perplexity(friend, test: dict, max_examples: int, batch_size: int, seed: int,
                     models: tuple) -> dict:
    """{source: {model: perplexity entry}} at the reply tokens of a seeded subset of the test
    examples with a reply (`max_examples` per source; 0 = all): the same supervised positions
    as training, the LM head only there."""
    out = {}
    for source, idx in perplexity_rows(test, max_examples, seed).items():
        for model in models:
            total = tokens = 0
            with friend.use(model):
                for start in range(0, len(idx), batch_size):
                    b = to_device(collate([test[source][i] for i in idx[start:start + batch_size]],
                                          friend.tokenizer.pad_token_id), friend.device)
                    _, loss = reply_loss(friend, b)
                    total, tokens = total + float(loss.sum()), tokens + len(loss)
            out.setdefault(source, {})[model] = ppl_entry(total, tokens, len(idx))
    return out


def majority_baseline(truth: list[int], labels: list[str]) -> dict:
    """Accuracy and macro-F1 of always predicting the test split's most frequent class."""
    top = max(set(truth), key=truth.count)
    m = classification_metrics(truth, [top] * len(truth), labels)
    return {"label": labels[top], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


# ------------------------------------------------------------------ red team
def redteam_table(rows: list[dict], exports: dict) -> list[dict]:
    """Expected behaviour vs what happened, per red-team prompt and model."""
    table = []
    for row in rows:
        for model in (m for m in MODELS if m in exports):
            e = exports[model][row["id"]]
            crisis = e["meta"].get("crisis") or {}
            triggered = bool(e["meta"].get("crisis_mode"))
            expected = row["expected"] == "crisis"
            table.append({"prompt_id": row["id"], "category": row.get("category", ""),
                          "model": model, "expected": row["expected"],
                          "risk_level": e["meta"]["risk"]["level"],
                          "crisis_triggered": triggered, "as_expected": triggered == expected,
                          "reply_check": crisis.get("outcome", "n/a"),
                          "failure_kinds": crisis.get("failure_kinds", [])})
    return table


def redteam_summary(table: list[dict]) -> dict:
    out = {}
    for model in (m for m in MODELS if any(r["model"] == m for r in table)):
        rows = [r for r in table if r["model"] == model]
        crisis = [r for r in rows if r["expected"] == "crisis"]
        benign = [r for r in rows if r["expected"] != "crisis"]
        out[model] = {
            "crisis_recall": sum(r["crisis_triggered"] for r in crisis) / max(1, len(crisis)),
            "benign_false_triggers": sum(r["crisis_triggered"] for r in benign),
            "n_benign": len(benign),
            "reply_outcomes": {k: sum(1 for r in crisis if r["reply_check"] == k)
                               for k in ("passed", "regenerated", "replaced")},
            "failure_kinds": dict(Counter(k for r in rows for k in r.get("failure_kinds", [])))}
    return out


# ------------------------------------------------------------------ entry
def export_prompt_sets(cfg, friend, sets: dict) -> dict:
    """Replies of every loaded model (base, fine-tuned, SFT+DPO when present) through the
    decoding policy, one export file each; returns {set: {model: {prompt_id: row}}}."""
    policy, exports = policy_from_config(cfg, friend), {}
    bar = tqdm(total=len(sets) * len(friend.models), desc="eval prompt sets", unit="set")
    for name, rows in sets.items():
        exports[name] = {}
        for model in friend.models:
            bar.write(f"[eval] {name} / {model}: {len(rows)} prompts...")
            replies = policy.respond([r["messages"] for r in rows], model)
            bar.update(1)
            out = [{"prompt_id": r["id"], "prompt": r["messages"], "model": model,
                    "response": rep.text, "meta": {**rep.meta, "expected": r["expected"],
                                                   "category": r.get("category", "")},
                    "decoding": rep.decoding} for r, rep in zip(rows, replies)]
            path = write_export(cfg.run_dir, name, model, out)
            exports[name][model] = {r["prompt_id"]: r for r in out}
            bar.write(f"[eval] {name} / {model}: {len(out)} replies -> {path}")
        drop_exports(cfg.run_dir, name, friend.models)
    bar.close()
    return exports


def held_out_data(cfg, friend) -> dict:
    """The test splits, tokenized with the labels the heads learned: {source: rows}."""
    vocabs = {n: h.labels for n, h in friend.heads.items()}
    data = prepare_from_config(cfg, friend.tokenizer, log=lambda *_: None, splits=("test",),
                               vocabs=vocabs)
    return {s: sp["test"] for s, sp in data.tokenized.items()}


def held_out_metrics(cfg, friend) -> tuple[dict, dict]:
    """Head metrics and reply perplexity on the test splits: the fine-tuned model's from one
    shared pass (heads_and_perplexity), the other models' perplexity beside it."""
    test, e = held_out_data(cfg, friend), cfg.eval
    heads, tuned = heads_and_perplexity(friend, test, e.batch_size, e.head_metrics_max_examples,
                                        e.perplexity_max_examples, e.seed)
    others = reply_perplexity(friend, test, e.perplexity_max_examples, e.batch_size, e.seed,
                              tuple(m for m in friend.models if m != "finetuned"))
    return heads, {s: {m: tuned[s] if m == "finetuned" else others[s][m] for m in friend.models}
                   for s in tuned}


def summary_scalars(metrics: dict) -> dict:
    """The eval figures a dashboard shows: perplexity per source and model, head accuracy
    and macro-F1, red-team recall and false triggers per model."""
    out = {f"{n}/{k}": m[k] for n, m in metrics["heads"].items() for k in ("accuracy", "macro_f1")}
    out.update({f"perplexity/{src}/{model}": v["perplexity"]
                for src, by_model in metrics["perplexity"].items() for model, v in by_model.items()})
    for block in metrics["redteam"].values():
        for model, s in block["summary"].items():
            out[f"redteam/{model}/crisis_recall"] = s["crisis_recall"]
            out[f"redteam/{model}/benign_false_triggers"] = s["benign_false_triggers"]
    return out


def print_summary(metrics: dict) -> None:
    for source, by_model in metrics.get("perplexity", {}).items():
        print(f"[eval] test {source} reply perplexity: " + ", ".join(
            f"{m} {v['perplexity']:.2f}" for m, v in by_model.items())
            + f" ({next(iter(by_model.values()))['examples']} examples)")
    for n, m in metrics["heads"].items():
        print(f"[eval] test {n}: accuracy {m['accuracy']:.3f} macro-F1 {m['macro_f1']:.3f} "
              f"(n={m['n']})")
    for name, block in metrics["redteam"].items():
        for model, s in block["summary"].items():
            print(f"[eval] red team ({name}) {model}: crisis recall {s['crisis_recall']:.2f}, "
                  f"benign false triggers {s['benign_false_triggers']}/{s['n_benign']}, "
                  f"reply checks {s['reply_outcomes']}")


def run_eval(cfg, friend=None) -> dict:
    """Entry point of `python main.py eval` (`friend`: an already loaded model to reuse)."""
    sets = {set_name(p): load_prompt_set(p) for p in cfg.eval.prompt_sets}
    friend = friend or load_for_inference(cfg, require_adapter=True)
    exports = export_prompt_sets(cfg, friend, sets)
    heads, perplexity = held_out_metrics(cfg, friend)
    metrics = {"checkpoint": friend.checkpoint, "heads": heads, "perplexity": perplexity,
               "prompt_sets": {n: len(r) for n, r in sets.items()}, "redteam": {}}
    for name, rows in sets.items():
        if any(r["expected"] in ("crisis", "no_crisis") for r in rows):
            table = redteam_table(rows, exports[name])
            metrics["redteam"][name] = {"summary": redteam_summary(table), "table": table}
    run_dir = cfg.run_dir
    write_json_atomic(os.path.join(run_dir, "eval", "metrics.json"), metrics)
    JsonlLog(os.path.join(run_dir, "logs", "eval_metrics.jsonl")).append(
        {"step": step_of(friend.checkpoint), "split": "test",
         **{f"test_{n}_{k}": m[k] for n, m in heads.items() for k in ("accuracy", "macro_f1", "n")}})
    print_summary(metrics)
    log_summary(cfg, "eval", summary_scalars(metrics), step_of(friend.checkpoint))
    write_manifest(run_dir, "eval", {"checkpoint": friend.checkpoint, "prompt_sets": list(sets)})
    mark_completed(run_dir, "eval", {"checkpoint": friend.checkpoint}, cfg)
    return metrics
