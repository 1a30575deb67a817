"""CPU training-step benchmark: heads on vs off, KL to the base model on vs off, and a DPO step,
side by side.

One model (the config's, LoRA + both heads) and one fixed list of mixture batches; each
variant runs the same batches, interleaved round by round so drift hits all variants alike.
A zero loss weight skips a term entirely, exactly as in training. The DPO variant runs the
same examples as preference pairs (chosen: the example; rejected: its prompt with the next
example's reply; reference log-probs precomputed, as dpo.py caches them), so its step sees
twice the rows of an SFT step. Prints median step times and ratios against the first variant.

    python -m scripts.bench_train --config config/cpu_smoke.json --steps 12
    python -m scripts.bench_train --set quant.load_in_4bit=true --norms fp32   # the old 4-bit
                                  dtype policy, for a before/after of step time and peak RSS
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time

import torch

from batching import collate, collate_pairs
from config_load import load_config
from dataset import column, prepare_from_config
from losses import LOSS_NAMES, denominators
from mixture import MixtureSampler
from model import load_tokenizer
from training import build_model, seed_everything

VARIANTS = {  # (lm, emotion, strategy, kl, dpo)
    "lm only (heads off)": (1.0, 0.0, 0.0, 0.0, 0.0),
    "lm + heads": (1.0, 0.2, 0.2, 0.0, 0.0),
    "lm + KL to base": (1.0, 0.0, 0.0, 0.1, 0.0),
    "lm + heads + KL to base": (1.0, 0.2, 0.2, 0.1, 0.0),
    "dpo (pairs: 2x the rows)": (0.0, 0.0, 0.0, 0.0, 1.0),
}


def as_pairs(examples: list[dict], pad_id: int, beta: float = 0.1) -> dict:
    """The SFT micro-batch's examples as DPO pairs (rejected: the next example's reply)."""
    pairs = []
    for k, e in enumerate(examples):
        other = examples[(k + 1) % len(examples)]
        pl = e["prompt_length"]
        pairs.append({"chosen_ids": list(e["input_ids"]), "prompt_length": pl,
                      "rejected_ids": list(e["input_ids"][:pl]) +
                      list(other["input_ids"][other["prompt_length"]:]),
                      "ref_chosen": -20.0, "ref_rejected": -20.0})
    return collate_pairs(pairs, pad_id, beta)


def step(model, optimizer, batch, weights) -> float:
    t0 = time.perf_counter()
    total, _ = model(batch, weights, denominators([batch]))
    total.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/cpu_smoke.json")
    ap.add_argument("--steps", type=int, default=12, help="timed steps per variant")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--norms", choices=("compute", "fp32"), default="compute",
                    help="fp32 = the earlier 4-bit policy (norms upcast to fp32)")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                    help="time only these (the first is the ratio's reference)")
    args = ap.parse_args()
    variants = {k: VARIANTS[k] for k in args.variants}
    cfg = load_config(args.config, args.overrides)
    seed_everything(cfg.training.seed)
    tok = load_tokenizer(cfg.model.tokenizer or cfg.model.name_or_path, cfg.model.cache_dir)
    data = prepare_from_config(cfg, tok, log=lambda *_: None)
    cfg.losses.emotion = cfg.losses.strategy = 0.2  # build both heads whatever the config says
    model = build_model(cfg, tok, {"emotion": data.emotion_vocab, "strategy": data.strategy_vocab})
    if args.norms == "fp32":
        for name, p in model.named_parameters():
            if p.ndim == 1 and "norm" in name:
                p.data = p.data.float()
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    train = {s: sp["train"] for s, sp in data.tokenized.items()}
    sampler = MixtureSampler({s: column(ds, "length") for s, ds in train.items()}, cfg.mixture.alpha,
                             cfg.mixture.seed, cfg.training.batch_size)
    # only batches with supervised tokens: the KL and LM terms have work on every one
    batches = []
    while len(batches) < args.steps + 2:
        examples = [train[s][i] for s, i in sampler.next_batch()]
        b = collate(examples, tok.pad_token_id)
        if denominators([b])["lm"]:
            batches.append({"sft": b, "dpo": as_pairs(examples, tok.pad_token_id)})

    def pick(batch, weights):
        dpo = dict(zip(LOSS_NAMES, weights, strict=True))["dpo"] > 0
        return batch["dpo"] if dpo else batch["sft"]
    for weights in variants.values():  # warm-up
        step(model, opt, pick(batches[0], weights), weights)
    times = {name: [] for name in variants}
    for batch in batches[2:]:
        for name, weights in variants.items():
            times[name].append(step(model, opt, pick(batch, weights), weights))
    base = statistics.median(times[args.variants[0]])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}; model {cfg.model.name_or_path}; "
          f"batch {cfg.training.batch_size}; {args.steps} steps per variant")
    print(f"{'variant':<26} {'median s/step':>14} {'vs first':>11}")
    for name in variants:
        med = statistics.median(times[name])
        print(f"{name:<26} {med:>14.3f} {med / base:>10.3f}x")
    from model import quantization_summary
    print(f"quantization {quantization_summary(model.backbone)}; norms {args.norms}; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
