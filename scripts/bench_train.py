"""CPU training-step benchmark: heads on vs off, KL to the base model on vs off, side by side.

One model (the config's, LoRA + both heads) and one fixed list of mixture batches; each
variant runs the same batches, interleaved round by round so drift hits all variants alike.
A zero loss weight skips a term entirely, exactly as in training. Prints median step times
and ratios against the LM-only step.

    python scripts/bench_train.py --config config/cpu_smoke.json --steps 12
    python scripts/bench_train.py --set quant.load_in_4bit=true --norms fp32   # the old 4-bit
                                  dtype policy, for a before/after of step time and peak RSS
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from config_load import load_config  # noqa: E402
from dataset import column, prepare_from_config  # noqa: E402
from batching import collate  # noqa: E402
from losses import denominators  # noqa: E402
from mixture import MixtureSampler  # noqa: E402
from model import load_tokenizer  # noqa: E402
from training import build_model, seed_everything  # noqa: E402

VARIANTS = {  # (lm, emotion, strategy, kl, dpo)
    "lm only (heads off)": (1.0, 0.0, 0.0, 0.0, 0.0),
    "lm + heads": (1.0, 0.2, 0.2, 0.0, 0.0),
    "lm + KL to base": (1.0, 0.0, 0.0, 0.1, 0.0),
    "lm + heads + KL to base": (1.0, 0.2, 0.2, 0.1, 0.0),
}


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
        b = collate([train[s][i] for s, i in sampler.next_batch()], tok.pad_token_id)
        if denominators([b])["lm"]:
            batches.append(b)
    for weights in variants.values():  # warm-up
        step(model, opt, batches[0], weights)
    times = {name: [] for name in variants}
    for batch in batches[2:]:
        for name, weights in variants.items():
            times[name].append(step(model, opt, batch, weights))
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
