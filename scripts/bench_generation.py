"""Generation throughput: batched, left-padded export generation vs one prompt at a time.

Same prompts (the qualitative set with the run's system prompt), same greedy settings, same
loaded model (the run's adapter when it has one); prints wall time, replies/s and new tokens/s
for both, side by side, and how many replies came out identical.

    python -m scripts.bench_generation --config config/cpu_smoke.json --max_new_tokens 48
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from config_load import load_config
from evaluation import load_prompt_set
from generation import generate_batch
from loading import load_for_inference


def generate_one_by_one(friend, conversations: list[list[dict]], max_new_tokens: int,
                        **kwargs) -> list[str]:
    """The unbatched baseline: one conversation per generate call."""
    return [generate_batch(friend, [c], max_new_tokens, batch_size=1, **kwargs)[0]
            for c in conversations]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/cpu_smoke.json")
    ap.add_argument("--prompts", default="prompts/qualitative_prompts.jsonl")
    ap.add_argument("--max_new_tokens", type=int, default=48)
    ap.add_argument("--batch_size", type=int, default=16)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.config, args.overrides)
    friend = load_for_inference(cfg, require_adapter=False)
    rows = load_prompt_set(args.prompts)
    convs = [[{"role": "system", "content": cfg.data.system_prompt}] + r["messages"] for r in rows]
    tok = friend.tokenizer
    results = {}
    with friend.use(friend.models[-1]):
        generate_batch(friend, convs[:2], 4, batch_size=2)  # warm-up
        for name, fn in (("batched", lambda: generate_batch(
                friend, convs, args.max_new_tokens, batch_size=args.batch_size)),
                ("one at a time", lambda: generate_one_by_one(friend, convs,
                                                              args.max_new_tokens))):
            t0 = time.perf_counter()
            replies = fn()
            dt = time.perf_counter() - t0
            new_tokens = sum(len(tok(r, add_special_tokens=False).input_ids) for r in replies)
            results[name] = (dt, new_tokens, replies)
    same = sum(a == b for a, b in zip(results["batched"][2], results["one at a time"][2]))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
          f"model {cfg.model.name_or_path} ({'adapter' if friend.has_adapter else 'base'}); "
          f"{len(convs)} prompts, greedy, max_new_tokens {args.max_new_tokens}")
    print(f"{'mode':<16} {'seconds':>8} {'replies/s':>10} {'new tok/s':>10}")
    for name, (dt, n_tok, _) in results.items():
        print(f"{name:<16} {dt:>8.1f} {len(convs) / dt:>10.2f} {n_tok / dt:>10.1f}")
    speed = results["one at a time"][0] / results["batched"][0]
    print(f"batched (batch {args.batch_size}) is {speed:.2f}x faster; identical replies "
          f"{same}/{len(convs)} (left padding can flip near-ties in greedy decoding)")


if __name__ == "__main__":
    main()
