"""Where evaluation's time goes: each phase of `eval` and `eq-bench` timed on a trained run,
its tokens per second, and the compute floor measured on this machine at the same shapes.

Phases: head metrics, reply perplexity, per prompt set and model the reflection step, the reply
generation and the crisis checks, and EQ-Bench per model and attempt. Floors, with no Python
around the model: a no-gradient forward over a batch of prompts (what heads and perplexity do),
and a decode step of the bare model on a KV cache at the eval batch size (what generation
does), both in tokens per second. `--profile` adds torch.profiler's table of one generation
batch: where a decode step's time goes, operator by operator.

    python -m scripts.bench_eval --run artifacts/runs/cpu_smoke --profile
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile
from transformers import DynamicCache

import eq_bench
from config_load import load_config
from decoding_policy import policy_from_config
from eq_bench import answer_items, first_items, load_questions
from evaluation import (
    head_rows,
    heads_and_perplexity,
    held_out_data,
    load_prompt_set,
    reply_perplexity,
)
from exports import set_name
from generation import generate_batch, last_prompt_states
from loading import load_for_inference
from model import final_hidden


class Clock:
    """Seconds and token counts per phase name, in the order first seen."""

    def __init__(self):
        self.seconds, self.tokens = defaultdict(float), defaultdict(int)

    def timed(self, name: str, fn, count=lambda out: 0):
        t0 = time.perf_counter()
        out = fn()
        self.seconds[name] += time.perf_counter() - t0
        self.tokens[name] += count(out)
        return out

    def wrap(self, name: str, fn, count):
        return lambda *a, **k: self.timed(name, lambda: fn(*a, **k), count)


def new_tokens(tok):
    return lambda texts: sum(len(tok(t, add_special_tokens=False).input_ids) for t in texts)


def forward_floor(friend, length: int, batch: int, repeats: int = 3) -> float:
    """Prompt tokens per second of the bare no-gradient forward at [batch, length]."""
    ids = torch.randint(100, 1000, (batch, length), device=friend.device)
    mask = torch.ones_like(ids)
    with torch.no_grad(), friend.use("finetuned"):
        final_hidden(friend.model, ids, mask)
        t0 = time.perf_counter()
        for _ in range(repeats):
            final_hidden(friend.model, ids, mask)
    return batch * length * repeats / (time.perf_counter() - t0)


def decode_floor(friend, context: int, batch: int, steps: int = 24) -> float:
    """New tokens per second of the bare model's decode step on a KV cache (greedy, adapter
    on, no logits processors, no stopping checks): the floor of one generation batch."""
    model = friend.model
    ids = torch.randint(100, 1000, (batch, context), device=friend.device)
    with torch.no_grad(), friend.use("finetuned"):
        cache = DynamicCache()
        out = model(input_ids=ids, cache=cache, use_cache=True)
        nxt = out.logits[:, -1:].argmax(-1)
        t0 = time.perf_counter()
        for _ in range(steps):
            out = model(input_ids=nxt, cache=cache, use_cache=True)
            nxt = out.logits[:, -1:].argmax(-1)
    return batch * steps / (time.perf_counter() - t0)


def eval_phases(cfg, friend, clock: Clock) -> None:
    test = clock.timed("tokenize test splits", lambda: held_out_data(cfg, friend))
    e = cfg.eval
    def separate_heads():  # before: each head on its own prompt-only forward
        with friend.adapter(True):
            for name in friend.heads:
                rows = [test[s][i] for s, i in head_rows(test, name, e.head_metrics_max_examples)]
                last_prompt_states(friend, [r["input_ids"][:r["prompt_length"]] for r in rows],
                                   e.batch_size)
    ppl = (e.perplexity_max_examples, e.batch_size, e.seed)
    clock.timed("before: heads, prompt-only forwards", separate_heads)
    clock.timed("before: perplexity, every model", lambda: reply_perplexity(
        friend, test, *ppl, friend.models))
    clock.timed("now: heads + fine-tuned perplexity, one pass", lambda: heads_and_perplexity(
        friend, test, e.batch_size, e.head_metrics_max_examples, *ppl[:1], e.seed))
    clock.timed("now: perplexity, the other models", lambda: reply_perplexity(
        friend, test, *ppl, tuple(m for m in friend.models if m != "finetuned")))
    policy = policy_from_config(cfg, friend)
    count = new_tokens(friend.tokenizer)
    for path in cfg.eval.prompt_sets:
        rows = load_prompt_set(path)
        for model in friend.models:
            tag = f"{set_name(path)} / {model}"
            policy.reflect = clock.wrap(f"{tag}: reflection", type(policy).reflect.__get__(
                policy), lambda _: 0)
            policy.generate = clock.wrap(f"{tag}: generation", generate_batch, count)
            guard = policy.guard
            guard.screen = clock.wrap(f"{tag}: crisis screen", type(guard).screen.__get__(guard),
                                      lambda _: 0)
            guard.check = clock.wrap(f"{tag}: reply check", type(guard).check.__get__(guard),
                                     lambda _: 0)
            clock.timed(f"{tag}: all", lambda rows=rows, model=model: policy.respond(
                [r["messages"] for r in rows], model))


def eq_bench_phases(cfg, friend, clock: Clock) -> None:
    e = cfg.eval
    questions = first_items(load_questions(e.eq_bench_questions, cfg.data.cache_dir),
                            e.eq_bench_max_items)
    count = new_tokens(friend.tokenizer)
    for model in friend.models:
        for retries, size in (("retries one at a time", 1), ("retries batched", 0)):
            tag = f"eq-bench {model}, {retries}"
            eq_bench.generate_batch = clock.wrap(f"{tag}: generation", generate_batch, count)
            clock.timed(f"{tag}: all", lambda model=model, size=size: answer_items(
                friend, questions, model, e.eq_bench_attempts, e.eq_bench_batch_size, e.seed,
                size))
    eq_bench.generate_batch = generate_batch


def profile_generation(cfg, friend, rows: int = 16, new: int = 48) -> None:
    convs = [[{"role": "system", "content": cfg.data.system_prompt}] + r["messages"]
             for r in load_prompt_set(cfg.eval.prompt_sets[0])[:rows]]
    with friend.use("finetuned"):
        generate_batch(friend, convs[:2], 4)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            generate_batch(friend, convs, new, batch_size=rows)
            wall = time.perf_counter() - t0
    events = prof.key_averages()
    ops = sum(e.self_cpu_time_total for e in events if e.key.startswith("aten::")) / 1e6
    print(f"\nprofile: one generation batch of {len(convs)} x {new} new tokens, {wall:.2f} s "
          f"wall; aten operators' own time {ops:.2f} s (x{torch.get_num_threads()} threads "
          "counted once); the rest is Python and dispatch")
    print(events.table(sort_by="self_cpu_time_total", row_limit=14))


def report(clock: Clock, friend, cfg) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; model {cfg.model.name_or_path}; run {cfg.run_dir}")
    print(f"{'phase':<46} {'seconds':>8} {'tokens':>8} {'tok/s':>8}")
    for name, sec in clock.seconds.items():
        n = clock.tokens[name]
        print(f"{name:<46} {sec:>8.2f} {n:>8} {n / sec if n else 0:>8.1f}")
    b = cfg.eval.batch_size
    print(f"\nfloor, no-gradient forward [16 x 128]: {forward_floor(friend, 128, 16):8.0f} tok/s")
    for batch in (1, 16, 32, 64):
        print(f"floor, decode step, batch {batch:>2}, context 160: "
              f"{decode_floor(friend, 160, batch):8.1f} new tok/s")
    print(f"(eval batch size {b}, EQ-Bench first-attempt batch {cfg.eval.eq_bench_batch_size})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default="artifacts/runs/cpu_smoke", help="a trained run folder")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--skip", nargs="*", default=[], choices=["eval", "eq-bench"])
    ap.add_argument("--profile", action="store_true", help="torch.profiler on one batch")
    args = ap.parse_args()
    run = os.path.abspath(args.run)
    cfg = load_config(os.path.join(run, "config.json"), args.overrides + [
        f"output.root={os.path.dirname(run)}", f"output.run_name={os.path.basename(run)}"])
    clock = Clock()
    friend = clock.timed("load model", lambda: load_for_inference(cfg))
    if "eval" not in args.skip:
        eval_phases(cfg, friend, clock)
    if "eq-bench" not in args.skip:
        eq_bench_phases(cfg, friend, clock)
    report(clock, friend, cfg)
    if args.profile:
        profile_generation(cfg, friend)


if __name__ == "__main__":
    main()
