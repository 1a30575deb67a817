"""EQ-Bench v2, scored exactly as the official harness does, base vs fine-tuned.

Official v2 (no revision): the prompt drops the critique/revise instructions and the
"First pass scores:" heading, cuts from "Critique: <your critique here>" up to
"[End of answer]" and appends "\\nYour answer:\\n"; one user turn through the chat template
(its default system message included); 60 new tokens; sampling at temperature 0.01 with
min_p 0.1 and otherwise the model's own generation config; 3 attempts, +0.15 temperature per
retry. The harness retries when the v1 check of `reference_answer` fails (four pairs, names
equal in their original case, positive total). Parse: strip `*` and `#`, pairs
`(\\w+):\\s+(\\d+)`; exactly four, names matching the fullscale reference case-insensitively,
positive total. Item score 10 - 0.7477 * sum(s(d)); total = round(10 x mean over parseable
items, 2); the parse rate is over the questions ASKED, and below 83.33 % the run is not valid.
MAE and Pearson r are extra diagnostics, not the official score.

    python main.py eq-bench --config config/cpu_smoke.json --questions Q.json
    python main.py eq-bench --questions Q.json --responses R.jsonl --out O.json
"""
from __future__ import annotations

import json
import math
import os
import re

import datasets
import numpy as np

from checkpoint import step_of
from config import UserError
from exports import drop_exports, write_export
from files import is_hub_id, write_json_atomic
from generation import generate_batch
from loading import load_for_inference
from markers import mark_completed
from runlog import write_manifest
from trackers import log_summary

REVISE_SENTENCE = (" Then critique your answer by thinking it through step by step. Finally, "
                   "give your revised scores.")
CRITIQUE = "Critique: <your critique here>"
END_OF_ANSWER = "[End of answer]"
PAIR = re.compile(r"(\w+):\s+(\d+)")
COMPLETION_TOKENS = 60
FIRST_TEMPERATURE, RETRY_STEP, MIN_P = 0.01, 0.15, 0.1
OFFICIAL_ATTEMPTS = 3  # the official CLI's n_question_attempts
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


def v1_accepts(item: dict, parsed: dict) -> bool:
    """The harness's retry test: its v1 scorer on `reference_answer` succeeds (four pairs,
    every name equal to a reference name in its original case, positive total)."""
    ref = item.get("reference_answer") or item["reference_answer_fullscale"]
    names = {ref[f"emotion{i}"] for i in range(1, 5)}
    return len(parsed) == 4 and set(parsed) == names and \
        sum(float(v) for v in parsed.values()) > 0


# ------------------------------------------------------------------ questions
def _check_item(item_id: str, item) -> dict:
    if not isinstance(item, dict):
        raise UserError(f"EQ-Bench item {item_id}: expected an object, got {type(item).__name__}")
    ref = item.get("reference_answer_fullscale")
    keys = [f"emotion{i}" for i in range(1, 5)] + [f"emotion{i}_score" for i in range(1, 5)]
    if not isinstance(item.get("prompt"), str) or not isinstance(ref, dict) \
            or any(k not in ref or ref[k] in (None, "") for k in keys):
        raise UserError(f"EQ-Bench item {item_id}: needs prompt and reference_answer_fullscale "
                        f"with {', '.join(keys)}")
    out = {"prompt": item["prompt"], "reference_answer_fullscale": ref}
    if isinstance(item.get("reference_answer"), dict):
        out["reference_answer"] = item["reference_answer"]
    return out


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
        if not raw:
            raise UserError(f"{source}: holds no EQ-Bench questions (nothing was run or written)")
        return {str(k): _check_item(str(k), v) for k, v in raw.items()}
    if not is_hub_id(source):
        raise UserError(f"EQ-Bench questions file not found: {source}")
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
def score_responses(questions: dict, responses: dict, accepted: dict | None = None) -> dict:
    """{"score","parseable","n_items","answered","valid","parse_rate","items", diagnostics}.

    `questions` are the questions ASKED: the parse rate and validity are over all of them,
    answered or not (the harness divides by len(questions)). `accepted` (item -> bool), from
    a run, marks answers the harness would have kept; a rejected one counts as unparseable.
    """
    unknown = sorted(set(responses) - set(questions))
    if unknown:
        raise UserError(f"responses for unknown EQ-Bench item ids: {unknown}")
    items, preds, refs = {}, [], []
    for item_id, text in responses.items():
        ref = questions[item_id]["reference_answer_fullscale"]
        parsed = parse_answer(text)
        score = score_item(ref, parsed) if (accepted or {}).get(item_id, True) else None
        items[item_id] = {"score": score, "parsed": parsed if score is not None else None}
        if score is not None:
            lower = {k.lower(): float(v) for k, v in parsed.items()}
            for name, value in reference_pairs(ref):
                preds.append(lower[name.lower()])
                refs.append(value)
    scores = [v["score"] for v in items.values() if v["score"] is not None]
    n = len(questions)
    result = {"score": round(10 * sum(scores) / len(scores), 2) if scores else 0.0,
              "parseable": len(scores), "n_items": n, "answered": len(items),
              "parse_rate": len(scores) / n if n else 0.0,
              "valid": bool(n) and len(scores) / n >= VALID_PARSE_RATE, "items": items,
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
    """{prompt_id: response text} of export rows; a row that is not an object with a
    prompt_id and a string (or null: no answer) response is an error naming its line."""
    if not os.path.isfile(path):
        raise UserError(f"responses file not found: {path}")
    out = {}
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise UserError(f"{path}:{n}: not a JSON line ({e})") from None
            if not isinstance(row, dict) or "prompt_id" not in row or "response" not in row:
                raise UserError(f"{path}:{n}: needs an object with prompt_id and response")
            if row["response"] is not None and not isinstance(row["response"], str):
                raise UserError(f"{path}:{n}: response must be a string or null, got "
                                f"{type(row['response']).__name__}")
            out[str(row["prompt_id"])] = row["response"] or ""  # null: no answer, unparseable
    if not out:
        raise UserError(f"{path}: holds no response rows")
    return out


def rescore(questions_path: str, responses_path: str, out_path: str) -> dict:
    """Entry point of the model-free mode: score export rows, write and print the result."""
    questions = load_questions(questions_path)
    result = score_responses(questions, read_export_responses(responses_path))
    write_json_atomic(out_path, result)
    print(f"EQ-Bench v2 score {result['score']:.2f} | parseable {result['parseable']}/"
          f"{result['n_items']} ({100 * result['parse_rate']:.1f}%) | valid {result['valid']} "
          f"| {len(questions)} items in the question file -> {out_path}")
    return result


# ------------------------------------------------------------------ running a model
def official_sampling(temperature: float) -> dict:
    """The harness's transformers route: sample at `temperature` with min_p 0.1; top_p, top_k
    and the repetition penalty stay the model's own (its generation_config)."""
    return {"do_sample": True, "temperature": temperature, "min_p": MIN_P}


def rendered_prompt(tokenizer, item: dict) -> str:
    """The exact text the model reads: one user turn through the chat template, whose
    default system message (if it has one) is included as in the official route."""
    return tokenizer.apply_chat_template([{"role": "user",
                                           "content": transform_prompt_v2(item["prompt"])}],
                                         tokenize=False, add_generation_prompt=True)


# results key -> (model, the model it is compared against): paired deltas a - b
COMPARISONS = {"comparison": ("finetuned", "base"), "comparison_dpo_vs_base": ("dpo", "base"),
               "comparison_dpo_vs_sft": ("dpo", "finetuned")}


def answer_items(friend, questions: dict, model: str, attempts: int, batch_size: int,
                 seed: int, retry_batch_size: int = 0) -> dict:
    """{id: {"response", "attempts", "temperature", "accepted"}} on the official schedule.

    The first attempt (temperature 0.01: in effect greedy) runs batched; tests/test_eq_bench
    shows it gives the one-at-a-time replies on the embedded model. Retries sample at
    0.16, 0.31, ... with min_p 0.1, as the harness does; they run `retry_batch_size` at a time
    (0: as the first attempt). Each item is sampled from the same distribution as one at a
    time, only the random draws differ; batched, a decode step on 2 cores gives about 8x the
    tokens of a single row (docs/BENCHMARKS.md), and `1` reproduces the harness's one-by-one
    route when that matters more than time.
    """
    order = sorted(questions, key=lambda k: (0, int(k)) if k.isdigit() else (1, k))
    msgs = {i: [{"role": "user", "content": transform_prompt_v2(questions[i]["prompt"])}]
            for i in order}
    out, pending, temp = {}, order, FIRST_TEMPERATURE
    with friend.use(model):
        for attempt in range(1, attempts + 1):
            size = batch_size if attempt == 1 else (retry_batch_size or batch_size)
            print(f"[eq-bench] {model}: attempt {attempt} of "
                  f"{attempts}, {len(pending)} item(s) at temperature {temp:.2f}", flush=True)
            texts = generate_batch(friend, [msgs[i] for i in pending], COMPLETION_TOKENS,
                                   batch_size=size, seed=seed + 1000 * attempt,
                                   sampling=official_sampling(temp),
                                   desc=f"eq-bench attempt {attempt}")
            for i, text in zip(pending, texts):
                out[i] = {"response": text, "attempts": attempt, "temperature": round(temp, 2),
                          "accepted": v1_accepts(questions[i], parse_answer(text))}
            pending = [i for i in pending if not out[i]["accepted"]]
            if not pending:
                break
            temp += RETRY_STEP
    return out


def first_items(questions: dict, n: int) -> dict:
    """The first `n` items by numeric id (`eval.eq_bench_max_items`; 0 = all)."""
    if not n:
        return questions
    return dict(sorted(questions.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit()
                       else 0)[:n])


def run_eq_bench(cfg, questions_source: str | None = None, friend=None) -> dict:
    """Entry point of `python main.py eq-bench --config ...`: base, fine-tuned and, after the
    dpo stage, SFT+DPO (`friend`: an already loaded model to reuse)."""
    e = cfg.eval
    source = questions_source or e.eq_bench_questions
    questions = first_items(load_questions(source, cfg.data.cache_dir), e.eq_bench_max_items)
    friend = friend or load_for_inference(cfg, require_adapter=True)
    results = {"questions": source, "n_items": len(questions), "checkpoint": friend.checkpoint}
    decoding = {"max_new_tokens": COMPLETION_TOKENS, "temperature": FIRST_TEMPERATURE,
                "min_p": MIN_P, "retry_temperature_step": RETRY_STEP,
                "attempts": e.eq_bench_attempts, "first_attempt_batch_size": e.eq_bench_batch_size,
                "retry_batch_size": e.eq_bench_retry_batch_size or e.eq_bench_batch_size,
                "seed": e.seed,
                "generation_config": "the model's own (top_p, top_k, repetition penalty)",
                "system_prompt": "the chat template's default"}
    for model in friend.models:
        answers = answer_items(friend, questions, model, e.eq_bench_attempts,
                               e.eq_bench_batch_size, e.seed, e.eq_bench_retry_batch_size)
        scored = score_responses(questions, {i: a["response"] for i, a in answers.items()},
                                 {i: a["accepted"] for i, a in answers.items()})
        rows = [{"prompt_id": i, "prompt": transform_prompt_v2(questions[i]["prompt"]),
                 "model": model, "response": a["response"] or "(empty)",  # schema: non-empty
                 "meta": {"attempts": a["attempts"], "temperature": a["temperature"],
                          "accepted_by_v1_check": a["accepted"],
                          "item_score": scored["items"][i]["score"],
                          "rendered_prompt": rendered_prompt(friend.tokenizer, questions[i]),
                          "empty_response": not a["response"]},
                 "decoding": {**decoding, "model": model}} for i, a in answers.items()]
        write_export(cfg.run_dir, "eq_bench", model, rows)
        results[model] = scored
        print(f"[eq-bench] {model}: score {scored['score']:.2f} | parseable "
              f"{scored['parseable']}/{scored['n_items']} ({100 * scored['parse_rate']:.1f}%) | "
              f"valid {scored['valid']}")
    drop_exports(cfg.run_dir, "eq_bench", friend.models)
    for key, (a, b) in COMPARISONS.items():
        if a in results and b in results:
            results[key] = c = paired_comparison(results[b], results[a], e.bootstrap_samples,
                                                 e.seed)
            ci = f"[{c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}]" if c["ci95"] else "n/a"
            pd = f"{c['paired_delta']:.2f}" if c["paired_delta"] is not None else "n/a"
            print(f"[eq-bench] delta ({a} - {b}) {c['delta_total']:+.2f}; paired over "
                  f"{c['paired_items']} items {pd}, 95% CI {ci}")
    write_json_atomic(os.path.join(cfg.run_dir, "eq_bench", "results.json"), results)
    log_summary(cfg, "eq_bench", {f"{m}/{k}": results[m][k] for m in friend.models
                                  for k in ("score", "parse_rate")}, step_of(friend.checkpoint))
    write_manifest(cfg.run_dir, "eq-bench", {"questions": source, "n_items": len(questions)})
    mark_completed(cfg.run_dir, "eq-bench", {"questions": source}, cfg)
    return results
