"""The training loop: mixture batches, weighted multi-loss, AdamW + warmup/cosine, eval,
logs and atomic checkpoints, on `accelerate` (single process, or DDP via accelerate launch).

    python main.py train --config config/cpu_smoke.json [--resume]
    accelerate launch --multi_gpu --num_processes 2 main.py train --config config/cpu_smoke.json
    (on a CPU-only machine the same launch forms a gloo group: DDP over 2 CPU processes)
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from config import UserError, save_config, to_dict
from friend_model import FriendModel, build_heads, collate
from heads import IGNORE, masked_ce_sum
from losses import LOSS_NAMES, LossContext, denominators, lm_loss, safety_loss
from mixture import MixtureSampler
from runlog import JsonlLog, format_train_line, mark_completed, write_manifest


class TrainingError(RuntimeError):
    """The run cannot continue (e.g. repeated non-finite losses)."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(cfg, tokenizer, vocabs: dict, device_index: int = 0) -> FriendModel:
    """Base model (+4-bit when asked) -> LoRA -> heads for the losses that are on."""
    from model import add_lora, load_base_model, prepare_for_training, set_pad_in_config

    m, q = cfg.model, cfg.quant
    base = load_base_model(m.name_or_path, m.cache_dir, q.load_in_4bit, q.quant_type,
                           q.double_quant, q.compute_dtype, q.allow_cpu_fallback, m.dtype,
                           m.revision, m.trust_remote_code, device_index)
    set_pad_in_config(base, tokenizer)
    prepare_for_training(base, m.gradient_checkpointing)
    backbone = add_lora(base, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target_modules)
    weights = {"emotion": cfg.losses.emotion, "strategy": cfg.losses.strategy}
    try:
        heads = build_heads(base.config.hidden_size, vocabs, weights, cfg.training.head_dropout)
    except ValueError as e:
        raise UserError(str(e)) from None
    device = next(p for p in backbone.parameters()).device
    return FriendModel(backbone, {k: h.to(device) for k, h in heads.items()})


@torch.no_grad()
def evaluate(model: FriendModel, splits: dict, pad_id: int, batch_size: int, max_batches: int,
             weights: tuple, device, autocast=contextlib.nullcontext) -> dict:
    """Validation LM loss / perplexity, head CE and accuracy, safety KL (if on)."""
    was_training = model.training
    model.eval()
    sums = {k: 0.0 for k in ("lm", "safety", "emotion", "strategy")}
    counts = {k: 0 for k in sums}
    correct = {"emotion": 0, "strategy": 0}
    w = dict(zip(LOSS_NAMES, weights, strict=True))
    for ds in splits.values():
        lengths = ds["length"]  # one column read, not every full row
        order = sorted(range(len(ds)), key=lengths.__getitem__)
        chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        for chunk in chunks[:max_batches or None]:
            batch = collate([ds[i] for i in chunk], pad_id, device)
            with autocast():
                ctx = LossContext(model, batch, model.hidden_states(batch["input_ids"],
                                                                   batch["attention_mask"]),
                                  denoms=dict.fromkeys(LOSS_NAMES, 1))  # sums, not means
                n_sup = int((batch["labels"][:, 1:] != IGNORE).sum())
                if n_sup:
                    sums["lm"] += float(lm_loss(ctx))
                    counts["lm"] += n_sup
                    if w["safety"] > 0:
                        sums["safety"] += float(safety_loss(ctx))
                        counts["safety"] += n_sup
                for name in model.heads:
                    labels = batch[f"{name}_labels"]
                    logits = model.head_logits(name, ctx.hidden, batch["prompt_lengths"])
                    ce, n = masked_ce_sum(logits, labels)
                    sums[name] += float(ce)
                    counts[name] += n
                    keep = labels != IGNORE
                    correct[name] += int((logits.argmax(-1)[keep] == labels[keep]).sum())
    model.train(was_training)
    out = {}
    if counts["lm"]:
        out["lm"] = sums["lm"] / counts["lm"]
        out["perplexity"] = math.exp(min(out["lm"], 50.0))
    if counts["safety"]:
        out["safety"] = sums["safety"] / counts["safety"]
    for name in model.heads:
        if counts[name]:
            out[name] = sums[name] / counts[name]
            out[f"{name}_accuracy"] = correct[name] / counts[name]
            out[f"{name}_n"] = counts[name]
    return out


def forward_backward(model, micro: list, weights: tuple, denoms: dict, accelerator):
    """Forward + backward over one step's micro-batches, gradients synced on the last only.

    Returns (summed loss terms, finite). A non-finite total on any process stops the step on
    every process (they agree through a max-reduce), before its backward.
    """
    terms_sum = {}
    for k, batch in enumerate(micro):
        sync = contextlib.nullcontext() if k == len(micro) - 1 else accelerator.no_sync(model)
        with sync:
            total, terms = model(batch, weights, denoms)
            bad = torch.tensor([float(not torch.isfinite(total))], device=accelerator.device)
            if float(accelerator.reduce(bad, reduction="max")) > 0:
                return terms_sum, False
            accelerator.backward(total * accelerator.num_processes)  # DDP averages; we want sums
        for name, v in terms.items():
            terms_sum[name] = terms_sum.get(name, 0.0) + float(v.detach())
    return terms_sum, True


def train_step(model, micro: list, weights: tuple, params: list, optimizer, accelerator,
               max_grad_norm: float) -> tuple:
    """One optimizer step over one step's micro-batches, exactly as the loop runs it (and as
    scripts/bench_gpu.py times it). Returns (summed terms, finite, grad norm, denominators)."""
    denoms = _reduce_sum(accelerator, denominators(micro))
    terms_sum, finite = forward_backward(model, micro, weights, denoms, accelerator)
    grad_norm = float("nan")
    if finite:
        grad_norm = float(accelerator.clip_grad_norm_(params, max_grad_norm))
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return terms_sum, finite, grad_norm, denoms


def make_accelerator(mixed_precision: str):
    """accelerate with the config's precision; cpu=True without CUDA lets a torchrun-style
    launch form a gloo (MULTI_CPU) group.

    accelerate keeps one process-wide AcceleratorState and refuses a second Accelerator
    with another precision; a second run in the same process (a notebook, the test suite)
    drops that state first. The distributed part (PartialState) is kept.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    if AcceleratorState._shared_state.get("_mixed_precision", mixed_precision) != mixed_precision:
        AcceleratorState._reset_state(reset_partial_state=False)

    return Accelerator(mixed_precision=mixed_precision, cpu=not torch.cuda.is_available(),
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)])


def _reduce_sum(accelerator, values: dict) -> dict:
    if accelerator.num_processes == 1:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], device=accelerator.device)
    t = accelerator.reduce(t, reduction="sum")
    return {k: v for k, v in zip(keys, t.tolist())}


def _accumulate(window: dict, row: dict, denoms: dict) -> None:
    """Running sums for the console line: terms weighted by their item counts."""
    for key in ("step_time", "tokens"):
        window[key] = window.get(key, 0.0) + row[key]
    window["steps"] = window.get("steps", 0) + 1
    for name in LOSS_NAMES:
        if name in row:
            window[f"sum_{name}"] = window.get(f"sum_{name}", 0.0) + row[name] * denoms[name]
            window[f"n_{name}"] = window.get(f"n_{name}", 0) + denoms[name]


def _window_means(window: dict, row: dict, weights: tuple) -> dict:
    """Each term averaged over its items since the last line; loss = their weighted sum."""
    means = {n: window[f"sum_{n}"] / window[f"n_{n}"] for n in LOSS_NAMES if window.get(f"n_{n}")}
    means["loss"] = sum(w * means.get(n, 0.0) for n, w in zip(LOSS_NAMES, weights, strict=True))
    means.update(lr=row["lr"], grad_norm=row["grad_norm"], nonfinite_total=row["nonfinite_total"],
                 tokens_per_s=window["tokens"] / window["step_time"],
                 step_time=window["step_time"] / window["steps"])
    return means


def _lr(optimizer) -> float:
    return optimizer.param_groups[0]["lr"]


def run_training(cfg, resume: bool = False) -> dict:
    """Entry point of `python main.py train`: returns the final eval metrics."""
    from transformers import get_cosine_schedule_with_warmup

    from data_summary import prepare_from_config
    from model import load_tokenizer, quantization_summary

    t_cfg, run_dir = cfg.training, cfg.run_dir
    accelerator = make_accelerator(t_cfg.mixed_precision)
    is_main, world, rank = accelerator.is_main_process, accelerator.num_processes, accelerator.process_index
    say = print if is_main else (lambda *a, **k: None)
    ckpt = latest_checkpoint(run_dir) if resume else None
    if resume and ckpt is None:
        say(f"[train] --resume: no checkpoint in {run_dir}, starting from step 0")
    seed_everything(t_cfg.seed)
    with accelerator.main_process_first():  # one process builds the caches, others read them
        tok = load_tokenizer(cfg.model.tokenizer or cfg.model.name_or_path, cfg.model.cache_dir,
                             cfg.model.revision, cfg.model.trust_remote_code)
        data = prepare_from_config(cfg, tok, log=say)
    weights = tuple(getattr(cfg.losses, n) for n in LOSS_NAMES)
    model = build_model(cfg, tok, {"emotion": data.emotion_vocab,
                                   "strategy": data.strategy_vocab}, accelerator.local_process_index)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=t_cfg.lr, weight_decay=t_cfg.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, t_cfg.warmup_steps, t_cfg.max_steps)
    train = {s: sp["train"] for s, sp in data.tokenized.items() if len(sp["train"])}
    val = {s: sp["validation"] for s, sp in data.tokenized.items() if len(sp["validation"])}
    sampler = MixtureSampler({s: ds["length"] for s, ds in train.items()}, cfg.mixture.alpha,
                             cfg.mixture.seed, t_cfg.batch_size * t_cfg.grad_accum * world,
                             cfg.mixture.group_by_length, cfg.mixture.megabatch_factor)
    model, optimizer = accelerator.prepare(model, optimizer)
    inner = accelerator.unwrap_model(model)
    train_log = JsonlLog(os.path.join(run_dir, "logs", "train_metrics.jsonl"), is_main)
    eval_log = JsonlLog(os.path.join(run_dir, "logs", "eval_metrics.jsonl"), is_main)
    state = {"consecutive_nonfinite": 0, "nonfinite_total": 0, "tokens_seen": 0}
    step = 0
    if ckpt:
        try:
            sampler_state, state = load_checkpoint(ckpt, inner, optimizer, scheduler, rank,
                                                   getattr(accelerator, "scaler", None))
            sampler.load_state_dict(sampler_state)
        except ValueError as e:
            raise UserError(f"cannot resume from {ckpt}: {e}") from None
        step = state.pop("step")
        train_log.truncate_after(step)
        eval_log.truncate_after(step)
        say(f"[train] resumed from {ckpt} at step {step}")
    else:
        train_log.reset()
        eval_log.reset()
    if is_main:
        save_config(cfg, os.path.join(run_dir, "config.json"))
        write_manifest(run_dir, "train", {
            "resolved_config": to_dict(cfg), "world_size": world,
            "mixture_probabilities": sampler.probs, "loss_weights": dict(zip(LOSS_NAMES, weights)),
            "heads": {n: len(h.labels) for n, h in inner.heads.items()},
            "emotion_vocab": data.emotion_vocab, "strategy_vocab": data.strategy_vocab,
            "data_stats": data.stats, "trainable_parameters": sum(p.numel() for p in params),
            "quantization": quantization_summary(inner.backbone),
            "resumed_from": ckpt})

    def run_eval(at_step: int) -> dict:
        metrics = evaluate(inner, val, tok.pad_token_id, t_cfg.eval_batch_size, t_cfg.eval_batches,
                           weights, accelerator.device, accelerator.autocast)
        eval_log.append({"step": at_step, **metrics})
        say(f"[eval] step {at_step}: " + " | ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                     if not k.endswith("_n")))
        return metrics

    metrics = run_eval(0) if step == 0 else {}
    # stop_after counts this job's steps, so the same command run again continues the run
    stop_at = min(t_cfg.max_steps, step + t_cfg.stop_after) if t_cfg.stop_after else t_cfg.max_steps
    bar = tqdm(total=t_cfg.max_steps, initial=step, disable=not is_main, desc="train",
               dynamic_ncols=True, leave=False)
    model.train()
    window: dict = {}
    while step < stop_at:
        t0 = time.perf_counter()
        mine = sampler.next_batch()[rank::world]
        micro = [collate([train[s][i] for s, i in mine[k::t_cfg.grad_accum]], tok.pad_token_id,
                         accelerator.device) for k in range(t_cfg.grad_accum)]
        micro = [b for b in micro if b["input_ids"].numel()]
        lr = _lr(optimizer)
        terms_sum, finite, grad_norm, denoms = train_step(model, micro, weights, params, optimizer,
                                                          accelerator, t_cfg.max_grad_norm)
        state["consecutive_nonfinite"] = 0 if finite else state["consecutive_nonfinite"] + 1
        state["nonfinite_total"] += int(not finite)
        scheduler.step()
        step += 1
        bar.update(1)
        n_tok = sum(int(b["attention_mask"].sum()) for b in micro)
        counts = _reduce_sum(accelerator, {"tokens": n_tok, **{f"t_{k}": v
                                                              for k, v in terms_sum.items()}})
        state["tokens_seen"] += int(counts["tokens"])
        dt = time.perf_counter() - t0
        # a term with no items this step (e.g. no supervised token) is absent, not 0
        terms_now = {k[2:]: v for k, v in counts.items() if k.startswith("t_") and denoms[k[2:]]}
        row = {"step": step, "lr": lr, "grad_norm": grad_norm, "skipped": not finite,
               "nonfinite_total": state["nonfinite_total"], "tokens": int(counts["tokens"]),
               "supervised_tokens": denoms["lm"], "step_time": dt, **terms_now,
               "loss": sum(w * terms_now.get(n, 0.0) for n, w in zip(LOSS_NAMES, weights,
                                                                      strict=True))
               if finite else float("nan")}
        train_log.append(row)
        if state["consecutive_nonfinite"] >= t_cfg.max_consecutive_nonfinite:
            bar.close()
            raise TrainingError(f"{state['consecutive_nonfinite']} non-finite losses in a row at "
                                f"step {step}; stopping (lower training.lr or check the data)")
        _accumulate(window, row, denoms)
        if step % t_cfg.log_every == 0 or step == stop_at:
            if is_main:
                bar.write(format_train_line(step, t_cfg.max_steps, _window_means(window, row, weights),
                                            tuple(n for n, w in zip(LOSS_NAMES, weights) if w > 0)))
            window = {}
        if (t_cfg.eval_every and step % t_cfg.eval_every == 0) or step == t_cfg.max_steps:
            metrics = run_eval(step)
        if (t_cfg.save_every and step % t_cfg.save_every == 0) or step == stop_at:
            save_checkpoint(run_dir, step, inner, optimizer, scheduler, sampler.state_dict(),
                            state, accelerator, t_cfg.keep_checkpoints)
    bar.close()
    if step >= t_cfg.max_steps and is_main:
        mark_completed(run_dir, "train", {"step": step, "final_eval": metrics,
                                          "nonfinite_total": state["nonfinite_total"]}, cfg)
        say(f"[train] done: {step} steps; checkpoint {latest_checkpoint(run_dir)}")
    accelerator.wait_for_everyone()
    return metrics
