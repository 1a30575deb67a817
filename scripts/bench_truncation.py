"""ESConv tokenization speed: three ways to cut a history to max_seq_len, side by side.

(a) the earlier rule: render and tokenize the prompt for every cut point in turn until one
fits; (b) prompting.fit_history: the whole history first, then a binary search over cut points;
(c) prompting.PromptEncoder: each message tokenized once per split, lengths summed. All three
give the same ids (tests/test_masks.py); this prints examples/s for each on the same examples,
interleaved round by round.

    python -m scripts.bench_truncation --data ../shared/real-data/esconv --max_seq_len 256
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

from canonical import canonicalize_esconv
from model import load_tokenizer
from prompting import PromptEncoder, cut_points, fit_history, render_ids, with_system

SYSTEM = ("You are a warm, caring best friend. Listen closely, reflect the feelings you hear, "
          "and reply with empathy and honesty. Keep replies short and human.")


def linear(history, tok, budget):
    for start in cut_points(history):
        ids = render_ids(tok, with_system(SYSTEM, history[start:]))
        if len(ids) <= budget:
            return start, ids
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join("..", "shared", "real-data", "esconv"))
    ap.add_argument("--max_seq_len", type=int, default=256)
    ap.add_argument("--conversations", type=int, default=60)
    ap.add_argument("--tokenizer", default="embedded:smollm2")
    args = ap.parse_args()
    tok = load_tokenizer(args.tokenizer, "artifacts/cache")
    histories = []
    with open(os.path.join(args.data, "train.json"), encoding="utf-8") as f:
        for line in list(f)[:args.conversations]:
            histories += [e["messages"][:-1] for e in canonicalize_esconv(json.loads(line))
                          if e["messages"]]
    ways = {"render every cut (before)": lambda h: linear(h, tok, args.max_seq_len),
            "binary search (fit_history)": lambda h: fit_history(h, tok, SYSTEM, args.max_seq_len),
            "message blocks (PromptEncoder)": None}
    times = dict.fromkeys(ways, 0.0)
    for _ in range(2):  # alternate whole passes so drift hits all alike
        for name, fn in ways.items():
            enc = PromptEncoder(tok, SYSTEM) if fn is None else None  # a fresh cache per pass
            t0 = time.perf_counter()
            for h in histories:
                (fn(h) if fn is not None else enc.fit(h, args.max_seq_len))
            times[name] += time.perf_counter() - t0
    n = 2 * len(histories)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {len(histories)} ESConv "
          f"examples from {args.conversations} conversations; max_seq_len {args.max_seq_len}")
    base = n / times["render every cut (before)"]
    for name, t in times.items():
        print(f"{name:<32} {n / t:8.0f} examples/s  {n / t / base:5.1f}x")


if __name__ == "__main__":
    main()
