"""Preference pairs for the DPO stage, built by the toolkit itself, deterministic for a seed.

Three sources, one JSONL row each: {prompt_id, messages, chosen, rejected, source}.
- "spin" (human over model, as in SPIN, Chen et al. 2024): an ED/ESConv train prompt; chosen
  = the human supporter's reply, rejected = the SFT model's own sampled reply.
- "safety": a high-risk message from the crisis set's *train* split (data/crisis/); several
  sampled replies; chosen = one that passes the crisis-reply check, rejected = one that fails.
  A prompt with no passing (or no failing) sample is skipped and counted. The red-team
  prompt set is left out on purpose: it is what eval measures the crisis behaviour on.
- "user": your own pairs in the conventional prompt / chosen / rejected format (strings, or
  message lists whose last assistant turn is the reply), from a local .jsonl/.json file or a
  hub dataset. Malformed rows are skipped and counted.

    python main.py dpo --config config/cpu_smoke.json --set dpo.enabled=true
"""
from __future__ import annotations

import hashlib
import os
import random

import datasets

from config import UserError
from crisis import load_guard
from crisis.data import is_high, read_messages
from files import is_hub_id, read_json, read_jsonl
from generation import generate_batch

PAIR_KEYS = ("prompt_id", "messages", "chosen", "rejected", "source")


def pair(prompt_id: str, messages: list[dict], chosen: str, rejected: str, source: str) -> dict:
    return dict(zip(PAIR_KEYS, (prompt_id, messages, chosen, rejected, source)))


def _sample(friend, conversations: list, d, system_prompt: str, seed: int) -> list[str]:
    convs = [[{"role": "system", "content": system_prompt}, *c] for c in conversations]
    return generate_batch(friend, convs, d.max_new_tokens, temperature=d.temperature,
                          top_p=d.top_p, batch_size=d.gen_batch_size, seed=seed,
                          desc="dpo samples")


# ------------------------------------------------------------------ the three sources
def spin_pairs(friend, train_splits: dict, d, system_prompt: str, counts: dict) -> list[dict]:
    """Human reply (chosen) over the model's own sampled reply (rejected), for
    `d.spin_prompts` seeded ED/ESConv train prompts."""
    pool = [(src, i) for src in ("ed", "esconv") if src in train_splits
            for i in range(len(train_splits[src]))]
    picked = sorted(random.Random(d.seed).sample(pool, min(d.spin_prompts, len(pool))))
    rows = [train_splits[src][i] for src, i in picked]
    prompts = [r["messages"][:-1] for r in rows]
    samples = _sample(friend, prompts, d, system_prompt, d.seed)
    out = []
    for (src, i), row, history, sample in zip(picked, rows, prompts, samples):
        human = row["messages"][-1]["content"]
        if not sample.strip() or sample.strip() == human.strip():
            counts["spin_identical_or_empty"] = counts.get("spin_identical_or_empty", 0) + 1
            continue
        out.append(pair(f"spin-{src}-{i}", history, human, sample, "spin"))
    return out


def crisis_prompts(n: int, seed: int) -> list[tuple[str, list]]:
    """Up to n seeded high-risk prompts from the crisis set's train split (never dev/test)."""
    rows = [r for r in read_messages("train") if is_high(r)]
    rows = sorted(random.Random(seed).sample(rows, min(n, len(rows))), key=lambda r: r["id"])
    return [(f"safety-{r['id']}", r["messages"]) for r in rows]


def safety_pairs(friend, prompts: list, d, system_prompt: str, counts: dict) -> list[dict]:
    """Chosen = the first sample that passes the crisis-reply check (rules and judge, read
    against its prompt), rejected = the first that fails it; prompts without one of each are
    skipped and counted."""
    k = d.safety_samples
    convs = [m for _, m in prompts for _ in range(k)]
    samples = _sample(friend, convs, d, system_prompt, d.seed + 1)
    passed = [s.strip() != "" and v["ok"] for s, v in zip(samples, load_guard().check(convs,
                                                                                    samples))]
    out = []
    for j, (pid, messages) in enumerate(prompts):
        mine = list(zip(samples[j * k:(j + 1) * k], passed[j * k:(j + 1) * k]))
        ok = [s for s, p in mine if p]
        bad = [s for s, p in mine if not p]
        if not ok or not bad:
            key = "safety_no_passing_sample" if not ok else "safety_no_failing_sample"
            counts[key] = counts.get(key, 0) + 1
            continue
        out.append(pair(pid, messages, ok[0], bad[0], "safety"))
    return out


def _as_messages(x) -> list[dict] | None:
    if isinstance(x, str):
        return [{"role": "user", "content": x}]
    if isinstance(x, list) and all(isinstance(m, dict) and isinstance(m.get("content"), str)
                                   and m.get("role") in ("user", "assistant", "system") for m in x):
        return [m for m in x if m["role"] != "system"]  # the run's own system prompt is used
    return None


def _reply(x) -> str | None:
    if isinstance(x, str):
        return x
    msgs = _as_messages(x)
    if msgs and msgs[-1]["role"] == "assistant":
        return msgs[-1]["content"]
    return None


def user_pair(row: dict, index: int) -> dict | None:
    """A conventional preference row -> a pair, or None when malformed. Accepts
    prompt/chosen/rejected as strings or message lists, and the "implicit prompt" form where
    chosen and rejected are whole conversations sharing the prompt turns."""
    chosen, rejected = _reply(row.get("chosen")), _reply(row.get("rejected"))
    prompt = row.get("prompt")
    messages = _as_messages(prompt) if prompt is not None else (
        _as_messages(row["chosen"])[:-1] if isinstance(row.get("chosen"), list) and chosen else None)
    if not (messages and chosen and rejected) or messages[-1]["role"] != "user":
        return None
    pid = str(row.get("prompt_id") or row.get("id") or f"user-{index}")
    return pair(pid, messages, chosen, rejected, "user")


def user_pairs(path: str, split: str, cache_dir: str, counts: dict) -> list[dict]:
    """Your pairs from a local .jsonl/.json file or a hub dataset (same code path)."""
    if os.path.isfile(path):
        bad: list = []
        if path.endswith(".json"):
            try:
                rows = read_json(path)
            except ValueError as e:
                raise UserError(f"dpo.pairs: {path} is not valid JSON ({e})") from None
            if not isinstance(rows, list):
                raise UserError(f"dpo.pairs: {path} must hold a JSON list of pair objects")
        else:
            rows = read_jsonl(path, bad)
        counts["user_unreadable_row"] = len(bad)
    elif is_hub_id(path):
        rows = list(datasets.load_dataset(path, split=split, cache_dir=cache_dir))
    else:
        raise UserError(f"dpo.pairs: {path} is neither a file nor a hub dataset id")
    out = [p for i, r in enumerate(rows) if isinstance(r, dict) and (p := user_pair(r, i))]
    counts["user_malformed_row"] = len(rows) - len(out)
    return out


# ------------------------------------------------------------------ all pairs, tokens, split
def build_pairs(cfg, friend, train_splits: dict, log=print) -> tuple[list[dict], dict]:
    """Every enabled source's pairs, deterministic for dpo.seed, with the skip counts."""
    d, sp, counts = cfg.dpo, cfg.data.system_prompt, {}
    pairs = []
    if d.spin_prompts:
        pairs += spin_pairs(friend, train_splits, d, sp, counts)
    if d.safety_prompts:
        pairs += safety_pairs(friend, crisis_prompts(d.safety_prompts, d.seed), d, sp, counts)
    if d.pairs:
        pairs += user_pairs(d.pairs, d.pairs_split, cfg.data.cache_dir, counts)
    for source in ("spin", "safety", "user"):
        counts[f"{source}_pairs"] = sum(1 for p in pairs if p["source"] == source)
    log(f"[dpo] pairs: {counts}")
    if not pairs:
        raise UserError(f"no preference pairs were built (counts: {counts}); enable "
                        "dpo.spin_prompts / dpo.safety_prompts or give dpo.pairs")
    return pairs, counts


def tokenize_pair(p: dict, tokenizer, encoder, max_seq_len: int, eot_id: int) -> dict | None:
    """Both replies after the *same* prompt tokens (history cut for the longer reply), each
    reply + end-of-turn supervised exactly as in SFT; None when even the last turn cannot fit."""
    c = tokenizer(p["chosen"], add_special_tokens=False).input_ids + [eot_id]
    r = tokenizer(p["rejected"], add_special_tokens=False).input_ids + [eot_id]
    fit = encoder.fit(p["messages"], max_seq_len - max(len(c), len(r)))
    if fit is None:
        return None
    prompt = fit[1]
    return {"prompt_id": p["prompt_id"], "source": p["source"], "prompt_length": len(prompt),
            "chosen_ids": prompt + c, "rejected_ids": prompt + r,
            "length": 2 * (len(prompt) + max(len(c), len(r)))}  # padded tokens: two rows


def is_heldout(prompt_id: str, fraction: float, seed: int) -> bool:
    """A fixed, seeded share of prompts (all pairs of a prompt on one side)."""
    h = int(hashlib.sha256(f"{seed}:{prompt_id}".encode()).hexdigest()[:8], 16)
    return h / 16**8 < fraction
