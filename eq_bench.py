"""EQ-Bench v2, scored exactly as the official harness does, base vs fine-tuned.

Official v2 (no revision): the prompt drops the critique/revise instructions and the
"First pass scores:" heading, cuts from "Critique: <your critique here>" up to
"[End of answer]" and appends "\\nYour answer:\\n"; one user turn; 60 new tokens;
temperature 0.01, +0.15 per retry after a parse failure. Parse: strip `*` and `#`, pairs
`(\\w+):\\s+(\\d+)`; exactly four, names matching the reference case-insensitively, and a
positive total (the harness's v1 check, which triggers its retry). Item score
10 - 0.7477 * sum(s(d)); total = 10 x mean over parseable items; below 83.33 % parseable
the run is not valid. MAE and Pearson r are extra diagnostics, not the official score.

    python main.py eq-bench --config config/cpu_smoke.json --questions Q.json
    python main.py eq-bench --questions Q.json --responses R.jsonl --out O.json
"""
from __future__ import annotations

import json
import math
import os
import re

import numpy as np

from config import UserError
from files import is_hub_id

REVISE_SENTENCE = (" Then critique your answer by thinking it through step by step. Finally, "
                   "give your revised scores.")
CRITIQUE = "Critique: <your critique here>"
END_OF_ANSWER = "[End of answer]"
PAIR = re.compile(r"(\w+):\s+(\d+)")
COMPLETION_TOKENS = 60
FIRST_TEMPERATURE, RETRY_STEP = 0.01, 0.15
VALID_PARSE_RATE = 0.8333
ADJUST = 0.7477


def transform_prompt_v2(prompt: str) -> str:
    """The official v2 prompt (revision removed); an already-stripped prompt is unchanged."""
    if CRITIQUE not in prompt or END_OF_ANSWER not in prompt:
        return prompt
    p = prompt.replace(REVISE_SENTENCE, "").replace("First pass scores:\n", "")
    p = p[:p.find(CRITIQUE)] + "\n" + p[p.find(END_OF_ANSWER):]
    return p + "\nYour answer:\n"


def parse_answer(text: str) -> dict:
    text = text.replace("*", "").replace("#", "")
    return dict(PAIR.findall(text))


def scaled_difference(d: float) -> float:
    if d == 0:
        return 0.0
    if d <= 5:
        return 6.5 * (1 / (1 + math.e ** (-1.2 * (d - 4))))
    return d


def reference_pairs(ref: dict) -> list[tuple[str, float]]:
    return [(ref[f"emotion{i}"], float(ref[f"emotion{i}_score"])) for i in range(1, 5)]


def score_item(ref: dict, parsed: dict) -> float | None:
    """Official fullscale item score, or None when the answer is unparseable."""
    if len(parsed) != 4:
        return None
    names = {n.lower(): s for n, s in reference_pairs(ref)}
    if len({e.lower() for e in parsed if e.lower() in names}) != 4:
        return None
    if sum(float(v) for v in parsed.values()) <= 0:
        return None  # the harness's v1 check rejects an all-zero answer and retries
    tally = sum(scaled_difference(abs(float(v) - names[e.lower()])) for e, v in parsed.items())
    return 10 - tally * ADJUST


# ------------------------------------------------------------------ questions
def _check_item(item_id: str, item: dict) -> dict:
    ref = item.get("reference_answer_fullscale")
    keys = [f"emotion{i}" for i in range(1, 5)] + [f"emotion{i}_score" for i in range(1, 5)]
    if not isinstance(item.get("prompt"), str) or not isinstance(ref, dict) \
            or any(k not in ref or ref[k] in (None, "") for k in keys):
        raise UserError(f"EQ-Bench item {item_id}: needs prompt and reference_answer_fullscale "
                        f"with {', '.join(keys)}")
    return {"prompt": item["prompt"], "reference_answer_fullscale": ref}


def load_questions(source: str, cache_dir: str | None = None) -> dict:
    """{item id: item} from a local JSON in the official format or the hub mirror."""
    if os.path.isfile(source):
        try:
            with open(source, encoding="utf-8") as f:
                raw = json.load(f)
        except json.JSONDecodeError as e:
            raise UserError(f"{source}: not valid JSON ({e})") from None
        if not isinstance(raw, dict):
            raise UserError(f"{source}: expected the official dict of item id -> item")
        return {str(k): _check_item(str(k), v) for k, v in raw.items()}
    if not is_hub_id(source):
        raise UserError(f"EQ-Bench questions file not found: {source}")
    import datasets
    try:
        rows = datasets.load_dataset(source, split="validation", cache_dir=cache_dir)
    except Exception as e:
        raise UserError(f"cannot load EQ-Bench questions '{source}' ({e})") from None
    out = {}
    for i, row in enumerate(rows):
        item = dict(row)
        for key in ("reference_answer", "reference_answer_fullscale"):
            if isinstance(item.get(key), str):
                item[key] = json.loads(item[key])
        item_id = str(item.get("id", item.get("question_id", i + 1)))
        out[item_id] = _check_item(item_id, item)
    return out


# ------------------------------------------------------------------ scoring a run
def score_responses(questions: dict, responses: dict) -> dict:
    """{"score","parseable","n_items","valid","parse_rate","items", diagnostics}."""
    unknown = sorted(set(responses) - set(questions))
    if unknown:
        raise UserError(f"responses for unknown EQ-Bench item ids: {unknown}")
    items, preds, refs = {}, [], []
    for item_id, text in responses.items():
        ref = questions[item_id]["reference_answer_fullscale"]
        parsed = parse_answer(text)
        score = score_item(ref, parsed)
        items[item_id] = {"score": score, "parsed": parsed if score is not None else None}
        if score is not None:
            lower = {k.lower(): float(v) for k, v in parsed.items()}
            for name, value in reference_pairs(ref):
                preds.append(lower[name.lower()])
                refs.append(value)
    scores = [v["score"] for v in items.values() if v["score"] is not None]
    n = len(items)
    result = {"score": 10 * sum(scores) / len(scores) if scores else 0.0,
              "parseable": len(scores), "n_items": n,
              "parse_rate": len(scores) / n if n else 0.0,
              "valid": bool(n) and len(scores) >= VALID_PARSE_RATE * n, "items": items,
              "diagnostics (not the official score)": {
                  "mae": float(np.mean(np.abs(np.array(preds) - np.array(refs)))) if preds else None,
                  "pearson_r": float(np.corrcoef(preds, refs)[0, 1])
                  if len(preds) > 2 and np.std(preds) > 0 else None}}
    return result


def paired_comparison(base: dict, tuned: dict, samples: int, seed: int) -> dict:
    """Fine-tuned minus base on items parseable for both, with a bootstrap 95 % interval."""
    ids = sorted(i for i in base["items"] if base["items"][i]["score"] is not None
                 and tuned["items"].get(i, {}).get("score") is not None)
    out = {"delta_total": tuned["score"] - base["score"], "paired_items": len(ids)}
    if not ids:
        return {**out, "paired_delta": None, "ci95": None}
    diff = np.array([10 * (tuned["items"][i]["score"] - base["items"][i]["score"]) for i in ids])
    rng = np.random.default_rng(seed)
    boots = diff[rng.integers(0, len(diff), size=(samples, len(diff)))].mean(axis=1)
    return {**out, "paired_delta": float(diff.mean()),
            "ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]}


def read_export_responses(path: str) -> dict:
    if not os.path.isfile(path):
        raise UserError(f"responses file not found: {path}")
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    out[str(row["prompt_id"])] = str(row["response"])
                except (json.JSONDecodeError, KeyError) as e:
                    raise UserError(f"{path}:{n}: needs prompt_id and response ({e})") from None
    return out


def rescore(questions_path: str, responses_path: str, out_path: str) -> dict:
    """Entry point of the model-free mode: score export rows, write and print the result."""
    from files import write_json_atomic

    questions = load_questions(questions_path)
    result = score_responses(questions, read_export_responses(responses_path))
    write_json_atomic(out_path, result)
    print(f"EQ-Bench v2 score {result['score']:.2f} | parseable {result['parseable']}/"
          f"{result['n_items']} ({100 * result['parse_rate']:.1f}%) | valid {result['valid']} "
          f"| {len(questions)} items in the question file -> {out_path}")
    return result


# ------------------------------------------------------------------ running a model
def answer_items(friend, questions: dict, use_adapter: bool, attempts: int, batch_size: int,
                 seed: int) -> dict:
    """{id: {"response", "attempts", "temperature"}} with the official retry schedule."""
    from generation import generate_batch

    pending, temp, out = sorted(questions, key=lambda k: int(k) if k.isdigit() else k), \
        FIRST_TEMPERATURE, {}
    with friend.adapter(use_adapter):
        for attempt in range(1, attempts + 1):
            prompts = [[{"role": "user", "content": transform_prompt_v2(questions[i]["prompt"])}]
                       for i in pending]
            texts = generate_batch(friend, prompts, COMPLETION_TOKENS, temperature=temp,
                                   batch_size=batch_size, seed=seed + attempt)
            for i, text in zip(pending, texts):
                out[i] = {"response": text, "attempts": attempt, "temperature": round(temp, 2)}
            ref = {i: questions[i]["reference_answer_fullscale"] for i in pending}
            pending = [i for i in pending if score_item(ref[i], parse_answer(out[i]["response"]))
                       is None]
            if not pending:
                break
            temp += RETRY_STEP
    return out


def run_eq_bench(cfg, questions_source: str | None = None, friend=None) -> dict:
    """Entry point of `python main.py eq-bench --config ...`: base and fine-tuned
    (`friend`: an already loaded model to reuse)."""
    from exports import write_export
    from files import write_json_atomic
    from loading import load_for_inference
    from runlog import mark_completed, write_manifest

    e = cfg.eval
    source = questions_source or e.eq_bench_questions
    questions = load_questions(source, cfg.data.cache_dir)
    if e.eq_bench_max_items:
        questions = dict(sorted(questions.items(), key=lambda kv: int(kv[0])
                                if kv[0].isdigit() else 0)[:e.eq_bench_max_items])
    friend = friend or load_for_inference(cfg, require_adapter=True)
    results = {"questions": source, "n_items": len(questions), "checkpoint": friend.checkpoint}
    decoding = {"max_new_tokens": COMPLETION_TOKENS, "temperature": FIRST_TEMPERATURE,
                "retry_temperature_step": RETRY_STEP, "attempts": e.eq_bench_attempts,
                "batch_size": e.eq_bench_batch_size, "seed": e.seed, "system_prompt": None}
    for model in ("base", "finetuned"):
        answers = answer_items(friend, questions, model == "finetuned", e.eq_bench_attempts,
                               e.eq_bench_batch_size, e.seed)
        scored = score_responses(questions, {i: a["response"] for i, a in answers.items()})
        rows = [{"prompt_id": i, "prompt": transform_prompt_v2(questions[i]["prompt"]),
                 "model": model, "response": a["response"] or "(empty)",  # schema: non-empty
                 "meta": {"attempts": a["attempts"], "temperature": a["temperature"],
                          "item_score": scored["items"][i]["score"],
                          "empty_response": not a["response"]},
                 "decoding": {**decoding, "model": model}} for i, a in answers.items()]
        write_export(cfg.run_dir, "eq_bench", model, rows)
        results[model] = scored
        print(f"[eq-bench] {model}: score {scored['score']:.2f} | parseable "
              f"{scored['parseable']}/{scored['n_items']} ({100 * scored['parse_rate']:.1f}%) | "
              f"valid {scored['valid']}")
    results["comparison"] = paired_comparison(results["base"], results["finetuned"],
                                              e.bootstrap_samples, e.seed)
    c = results["comparison"]
    ci = f"[{c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}]" if c["ci95"] else "n/a"
    pd = f"{c['paired_delta']:.2f}" if c["paired_delta"] is not None else "n/a"
    print(f"[eq-bench] delta (fine-tuned - base) {c['delta_total']:+.2f}; paired over "
          f"{c['paired_items']} items {pd}, 95% CI {ci}")
    write_json_atomic(os.path.join(cfg.run_dir, "eq_bench", "results.json"), results)
    write_manifest(cfg.run_dir, "eq-bench", {"questions": source, "n_items": len(questions)})
    mark_completed(cfg.run_dir, "eq-bench", {"questions": source}, cfg)
    return results
