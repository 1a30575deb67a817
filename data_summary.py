"""The `data` command: load every source, then print what training will actually see.

Per source and split: rows read, examples kept, rows skipped by reason, label distribution,
token-length percentiles and supervised-token share; one canonical example per source as
roles, token counts and mask statistics (never its text); the mixture probabilities and the
token efficiency of length-grouped vs random batching at the training batch size.

    python main.py data --config config/cpu_smoke.json
"""
from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np

from batching import IGNORE
from dataset import SPLITS, column, prepare_from_config
from mixture import measure_efficiency, temperature_probs
from model import load_tokenizer


def _percentiles(values) -> str:
    if not values:
        return "no examples"
    p = np.percentile(values, [50, 90, 99])
    return f"p50 {p[0]:.0f}  p90 {p[1]:.0f}  p99 {p[2]:.0f}  max {max(values)}"


def _label_counts(ds, name: str, vocab: list[str]) -> str:
    counts = Counter(column(ds, name))
    unlabeled = counts.pop(IGNORE, 0)
    parts = [f"{vocab[i]} {n}" for i, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    if not parts:
        return "none"
    return ", ".join(parts) + (f" (+{unlabeled} unlabeled)" if unlabeled else "")


def split_summary(source: str, split: str, ds, stats: dict, vocabs: dict) -> list[str]:
    lengths, sup = column(ds, "length"), column(ds, "n_supervised")
    share = 100.0 * sum(sup) / max(1, sum(lengths))
    lines = [f"== {source}/{split}: read {stats['rows_read']} rows -> kept {len(ds)} examples"
             f" | skipped {json.dumps(stats['skipped'])} | dropped {json.dumps(stats['dropped'])}"
             f" | unseen labels -> -100: {stats['unseen_label']}",
             f"   tokens {_percentiles(lengths)} | supervised-token share {share:.1f}%"
             f" | examples with truncated history {sum(1 for t in column(ds, 'truncated_turns') if t)}"]
    for name, vocab in vocabs.items():
        if any(v != IGNORE for v in column(ds, name)):
            lines.append(f"   {name}: {_label_counts(ds, name, vocab)}")
    return lines


def example_summary(source: str, ex: dict, tokenizer) -> str:
    """Roles with token counts and mask statistics; no text, no label names."""
    parts = []
    for m in ex["messages"]:
        n = len(tokenizer(m["content"], add_special_tokens=False).input_ids)
        parts.append(f"{m['role']} {n} tok")
    sup = sum(1 for x in ex["labels"] if x != IGNORE)
    return (f"example ({source}): [{' | '.join(parts)}] -> input {len(ex['input_ids'])} tok, "
            f"prompt {ex['prompt_length']} (-100), supervised {sup} "
            f"({100.0 * sup / max(1, len(ex['input_ids'])):.1f}%), head position "
            f"{ex['prompt_length'] - 1}, emotion_label {ex['emotion_label']}, "
            f"strategy_label {ex['strategy_label']}")


def run_data(cfg) -> dict:
    """Entry point of `python main.py data`: prints the summary, returns it as a dict."""
    tok = load_tokenizer(cfg.model.tokenizer or cfg.model.name_or_path, cfg.model.cache_dir,
                         cfg.model.revision, cfg.model.trust_remote_code)
    prepared = prepare_from_config(cfg, tok, log=lambda *_: None)  # the summary says it all
    vocabs = {"emotion_label": prepared.emotion_vocab, "strategy_label": prepared.strategy_vocab}
    print(f"tokenizer: {cfg.model.tokenizer or cfg.model.name_or_path} | max_seq_len "
          f"{cfg.data.max_seq_len} | emotion classes {len(prepared.emotion_vocab)} | "
          f"strategy classes {len(prepared.strategy_vocab)} (vocabularies from train only)")
    for source, splits in prepared.tokenized.items():
        for split in SPLITS:
            for line in split_summary(source, split, splits[split], prepared.stats[source][split],
                                      vocabs):
                print(line)
    for source, splits in prepared.tokenized.items():
        if len(splits["train"]):
            print(example_summary(source, splits["train"][0], tok))
    lengths = {s: column(sp["train"], "length") for s, sp in prepared.tokenized.items()}
    probs = temperature_probs({s: len(v) for s, v in lengths.items()}, cfg.mixture.alpha)
    eff = measure_efficiency(lengths, cfg.mixture.alpha, cfg.mixture.seed,
                             cfg.training.batch_size, 200, cfg.mixture.megabatch_factor)
    eff8 = measure_efficiency(lengths, cfg.mixture.alpha, cfg.mixture.seed, 8, 200,
                              cfg.mixture.megabatch_factor)
    print("mixture (alpha %.2f): %s" % (cfg.mixture.alpha, ", ".join(
        f"{s} n={len(lengths[s])} p={p:.3f}" for s, p in probs.items())))
    print(f"token efficiency at batch {cfg.training.batch_size}: length-grouped "
          f"{eff['grouped']:.3f} vs random {eff['random']:.3f}; at batch 8: grouped "
          f"{eff8['grouped']:.3f} vs random {eff8['random']:.3f}")
    return {"stats": prepared.stats, "probs": probs, "efficiency_batch8": eff8,
            "cache_dir": os.path.abspath(cfg.data.cache_dir)}
