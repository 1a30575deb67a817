"""Serving benchmark: the server on loopback, the official `openai` client as the load.

Prints, for 1, 4 and 16 concurrent clients (greedy, a fixed reply budget): p50 and p95
latency and throughput in requests/s and new tokens/s; the time to the first streamed text;
and the policy's overhead (styles, reflection, the crisis screen and reply check) against
raw `generate_batch` on the same conversations, in one process, side by side.

    python -m scripts.bench_serve --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import torch
import uvicorn

from config_load import load_config
from decoding_policy import policy_from_config
from generation import generate_batch
from loading import load_for_inference
from serve import build_app

TOPICS = ["my exam went badly", "I got a puppy today", "my sister is visiting next week",
          "work was so long today", "I can't sleep lately", "we won the match",
          "my best friend moved away", "the rain ruined our picnic", "I started a new job",
          "my phone broke again", "I'm nervous about the interview", "my plant finally bloomed",
          "my brother won't talk to me", "the bus was late again", "I passed my driving test",
          "my grandmother is in hospital"]


def start(app) -> tuple[str, uvicorn.Server]:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1", server


def load(url: str, model: str, clients: int, per_client: int, max_tokens: int) -> dict:
    def one(k):
        c = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=600)
        out = []
        for j in range(per_client):
            msg = [{"role": "user", "content": TOPICS[(k * per_client + j) % len(TOPICS)]}]
            t0 = time.perf_counter()
            r = c.chat.completions.create(model=model, messages=msg, max_tokens=max_tokens,
                                          temperature=0)
            out.append((time.perf_counter() - t0, r.usage.completion_tokens))
        return out
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        runs = [x for part in pool.map(one, range(clients)) for x in part]
    wall = time.perf_counter() - t0
    lat = sorted(x for x, _ in runs)
    return {"clients": clients, "requests": len(runs), "p50_s": statistics.median(lat),
            "p95_s": lat[min(len(lat) - 1, int(0.95 * len(lat)))], "requests_per_s":
            len(runs) / wall, "new_tokens_per_s": sum(n for _, n in runs) / wall}


def first_text(url: str, model: str, n: int, max_tokens: int) -> float:
    c = openai.OpenAI(base_url=url, api_key="x", max_retries=0, timeout=600)
    times = []
    for k in range(n):
        t0 = time.perf_counter()
        for chunk in c.chat.completions.create(model=model, stream=True, max_tokens=max_tokens,
                                               temperature=0, messages=[
                                                   {"role": "user", "content": TOPICS[k]}]):
            if chunk.choices[0].delta.content:
                times.append(time.perf_counter() - t0)
                break
    return statistics.median(times)


def overhead(cfg, friend, model: str, n: int, max_tokens: int) -> tuple[float, float]:
    """(policy.respond, raw generate_batch) seconds for the same n conversations, greedy."""
    policy = policy_from_config(cfg, friend, max_new_tokens=max_tokens, batch_size=n)
    policy.gen["temperature"] = 0.0
    convs = [[{"role": "user", "content": TOPICS[k % len(TOPICS)]}] for k in range(n)]
    prompts = [[{"role": "system", "content": cfg.data.system_prompt}] + c for c in convs]
    t0 = time.perf_counter()
    policy.respond(convs, model)
    t1 = time.perf_counter()
    with friend.use(model):
        generate_batch(friend, prompts, max_tokens, batch_size=n)
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="artifacts/runs/cpu_smoke")
    ap.add_argument("--model", default="finetuned")
    ap.add_argument("--max_tokens", type=int, default=32)
    args = ap.parse_args()
    cfg = load_config(os.path.join(args.run, "config.json"), [
        f"output.root={os.path.dirname(os.path.abspath(args.run))}",
        f"output.run_name={os.path.basename(os.path.normpath(args.run))}",
        "serve.max_batch=16", "serve.queue_size=64"])
    app, _ = build_app(cfg)
    url, server = start(app)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}; "
          f"run {args.run}, model {args.model}, {args.max_tokens} new tokens, greedy", flush=True)
    load(url, args.model, 1, 1, args.max_tokens)  # warm-up
    for clients, per in ((1, 4), (4, 2), (16, 2)):
        r = load(url, args.model, clients, per, args.max_tokens)
        print(f"{clients:>2} clients x {per}: p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s, "
              f"{r['requests_per_s']:.2f} requests/s, {r['new_tokens_per_s']:.1f} new tokens/s",
              flush=True)
    print(f"time to the first streamed text (median of 4): "
          f"{first_text(url, args.model, 4, args.max_tokens):.2f} s", flush=True)
    server.should_exit = True
    friend = load_for_inference(cfg, require_adapter=False)  # in-process, beside no server
    for n in (1, 4):
        with_policy, raw = overhead(cfg, friend, args.model, n, args.max_tokens)
        print(f"{n} conversation(s): policy.respond {with_policy:.2f} s vs raw generate_batch "
              f"{raw:.2f} s ({with_policy / raw:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
