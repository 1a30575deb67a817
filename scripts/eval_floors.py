"""The compute floor of a finished run's `eval` and `eq-bench` work, phase by phase: the
forwards and decode steps its answers needed, at this machine's rates measured with no Python
around the model. Set each stage's measured time beside it to read its fraction of the floor
(docs/BENCHMARKS.md); `scripts/bench_eval.py` times the phases themselves on a small run.

- heads + fine-tuned perplexity, and the other models' perplexity: the batches
  `evaluation.heads_and_perplexity` and `reply_perplexity` form (length-sorted, eval batch
  size), each at the no-gradient forward rate of its padded shape;
- the prompt sets and EQ-Bench: every generation call the exports record (a crisis reply's
  regenerations, an EQ-Bench item's retries), batched as `generate_batch` batches them, a prefill
  at the forward rate, then decode steps at the measured step rate of that batch width until
  the batch's longest row ends. The EQ-Bench exports keep only the final attempt's response, so
  an item's earlier attempts count at the token cap (60): that floor is an upper bound.

    python -m scripts.eval_floors --run artifacts/runs/cpu_real
"""
from __future__ import annotations

import argparse
import bisect
import os
import sys

from config_load import load_config
from eq_bench import COMPLETION_TOKENS, transform_prompt_v2
from evaluation import head_rows, held_out_data, perplexity_rows
from exports import export_path, set_name
from files import read_jsonl
from generation import render_prompt_ids
from loading import load_for_inference
from scripts.bench_eval import decode_floor, forward_floor

LENGTHS = (32, 64, 128, 256, 512)  # prompt tokens at which the forward rate is measured
WIDTHS = (1, 4, 8, 16, 32)  # batch rows at which a decode step is measured


class Rates:
    """Measured rates, each shape once: forward tokens/s at [rows, the next measured length],
    decode new tokens/s at [the next measured width, context]."""

    def __init__(self, friend, batch: int):
        self.friend, self.batch, self.fwd, self.dec = friend, batch, {}, {}

    def forward_seconds(self, rows: int, length: int) -> float:
        at = LENGTHS[min(bisect.bisect_left(LENGTHS, length), len(LENGTHS) - 1)]
        if at not in self.fwd:
            self.fwd[at] = forward_floor(self.friend, at, self.batch, repeats=2)
        return rows * length / self.fwd[at]

    def decode_seconds(self, rows: int, steps: int, context: int) -> float:
        width = WIDTHS[min(bisect.bisect_left(WIDTHS, rows), len(WIDTHS) - 1)]
        ctx = 160 if context <= 320 else 480
        if (width, ctx) not in self.dec:
            self.dec[(width, ctx)] = decode_floor(self.friend, ctx, width, steps=12)
        return steps * width / self.dec[(width, ctx)]


def forward_batches(test: dict, keys: list, batch: int) -> list[tuple[int, int]]:
    """(rows, padded length) of each batch over `keys` sorted by length."""
    keys = sorted(keys, key=lambda k: len(test[k[0]][k[1]]["input_ids"]))
    return [(len(c), max(len(test[s][i]["input_ids"]) for s, i in c))
            for c in (keys[j:j + batch] for j in range(0, len(keys), batch))]


def forward_phases(cfg, friend, rates: Rates) -> dict:
    e = cfg.eval
    test = held_out_data(cfg, friend)
    heads = {k for name in friend.heads for k in head_rows(test, name, e.head_metrics_max_examples)}
    ppl = {(s, i) for s, idx in perplexity_rows(test, e.perplexity_max_examples, e.seed).items()
           for i in idx}
    one_pass = forward_batches(test, list(heads | ppl), e.batch_size)
    others = [b for s in {s for s, _ in ppl}
              for b in forward_batches(test, [k for k in ppl if k[0] == s], e.batch_size)]
    n_other = len(friend.models) - 1
    return {"heads + fine-tuned perplexity, one pass": (
                sum(r * n for r, n in one_pass), sum(rates.forward_seconds(*b) for b in one_pass)),
            f"perplexity, {n_other} other model(s)": (
                n_other * sum(r * n for r, n in others),
                n_other * sum(rates.forward_seconds(*b) for b in others))}


def generation_floor(rates: Rates, calls: list[list[tuple[int, int]]], batch: int,
                     retry_batch: int | None = None) -> float:
    """Seconds for generation calls, each a list of (prompt tokens, decode steps) per row,
    batched in prompt-length order as generate_batch does; calls after the first at
    `retry_batch` rows when given (EQ-Bench retries)."""
    total = 0.0
    for k, rows in enumerate(calls):
        rows = sorted(rows, key=lambda r: r[0])
        width = retry_batch if k and retry_batch else batch
        for j in range(0, len(rows), width):
            chunk = rows[j:j + width]
            length = max(n for n, _ in chunk)
            total += rates.forward_seconds(len(chunk), length)
            total += rates.decode_seconds(len(chunk), max(s for _, s in chunk), length)
    return total


def reply_steps(tok, text: str, cap: int) -> int:
    """Decode steps a reply took: its tokens and the stop token, at most the cap."""
    return min(len(tok(text, add_special_tokens=False).input_ids) + 1, cap)


def prompt_set_calls(cfg, friend, path: str, model: str) -> list[list[tuple[int, int]]]:
    """The reply calls of one prompt set and model: every row once, then each regeneration
    round for the rows whose reply failed the check, each attempt at its own reply's length.
    The reflection before it (`eval.reflect_max_new_tokens` for the base model, the heads'
    read for a fine-tuned one) and the note it adds to the system prompt are left out: the
    floor is of the replies."""
    tok, cap = friend.tokenizer, cfg.eval.max_new_tokens
    rows = read_jsonl(export_path(cfg.run_dir, set_name(path), model))
    rounds: list[list[tuple[int, int]]] = []
    for r in rows:
        n = len(render_prompt_ids(tok, [{"role": "system", "content": cfg.data.system_prompt}]
                                  + r["prompt"]))
        attempts = (r["meta"].get("crisis") or {}).get("attempts")
        first = r["meta"].get("new_tokens")  # the raw first reply; a crisis attempt's text
        steps = ([reply_steps(tok, a["reply"], cap) for a in attempts] if attempts else [cap])
        if first is not None:  # is cut at a sentence and scrubbed, so undercounts
            steps[0] = min(first + 1, cap)
        for k, s in enumerate(steps):
            while len(rounds) <= k:
                rounds.append([])
            rounds[k].append((n, s))
    return rounds


def eq_bench_calls(cfg, friend, model: str) -> list[list[tuple[int, int]]]:
    """EQ-Bench attempts of one model: attempt k holds the items that reached it; the final
    attempt's length is the response's, earlier ones the cap."""
    tok = friend.tokenizer
    rows = read_jsonl(export_path(cfg.run_dir, "eq_bench", model))
    rounds: list[list[tuple[int, int]]] = [[] for _ in range(cfg.eval.eq_bench_attempts)]
    for r in rows:
        msgs = [{"role": "user", "content": transform_prompt_v2(r["prompt"])}]
        n = len(render_prompt_ids(tok, msgs))
        done = r["meta"]["attempts"]
        last = reply_steps(tok, r["response"], COMPLETION_TOKENS)
        for k in range(done):
            rounds[k].append((n, last if k == done - 1 else COMPLETION_TOKENS))
    return [r for r in rounds if r]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="artifacts/runs/cpu_smoke", help="a finished run folder")
    args = ap.parse_args()
    run = os.path.abspath(args.run)
    cfg = load_config(os.path.join(run, "config.json"), [
        f"output.root={os.path.dirname(run)}", f"output.run_name={os.path.basename(run)}"])
    friend = load_for_inference(cfg)
    need = [export_path(cfg.run_dir, name, m) for m in friend.models
            for name in [set_name(p) for p in cfg.eval.prompt_sets] + ["eq_bench"]]
    missing = [p for p in need if not os.path.isfile(p)]
    if missing:  # before minutes of measuring: the run must have finished eval and eq-bench
        sys.exit(f"{run} has no finished eval / eq-bench exports: missing {missing[0]}"
                 f" (and {len(missing) - 1} more)")
    rates = Rates(friend, cfg.eval.batch_size)
    print(f"measuring the floors of {run} (about a minute per shape) ...", flush=True)
    floors = forward_phases(cfg, friend, rates)
    for path in cfg.eval.prompt_sets:
        for model in friend.models:
            floors[f"{set_name(path)} / {model}: replies"] = (None, generation_floor(
                rates, prompt_set_calls(cfg, friend, path, model), cfg.eval.batch_size))
    for model in friend.models:
        floors[f"EQ-Bench / {model}"] = (None, generation_floor(
            rates, eq_bench_calls(cfg, friend, model), cfg.eval.eq_bench_batch_size,
            cfg.eval.eq_bench_retry_batch_size))
    print(f"{'phase':<48} {'tokens':>10} {'floor s':>9}")
    for name, (tokens, sec) in floors.items():
        print(f"{name:<48} {tokens if tokens else '':>10} {sec:>9.1f}")
    print("forward tok/s by length:", {k: round(v) for k, v in sorted(rates.fwd.items())})
    print("decode new tok/s by (width, context):",
          {k: round(v, 1) for k, v in sorted(rates.dec.items())})


if __name__ == "__main__":
    main()
