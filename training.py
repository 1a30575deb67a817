"""The training recipe: setup -> train -> save -> cleanup, on `accelerate` (one process, or
DDP via accelerate launch). Mixture steps, weighted multi-loss, AdamW + warmup/cosine,
validation on a fixed representative subset, logs and atomic checkpoints.

    python main.py train --config config/cpu_smoke.json [--resume]
    accelerate launch --multi_gpu --num_processes 2 main.py train --config config/cpu_smoke.json
    (on a CPU-only machine the same launch forms a gloo group: DDP over 2 CPU processes)
"""
from __future__ import annotations

import contextlib
import os
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import get_cosine_schedule_with_warmup

from batching import batch_counts, collate, micro_batches, to_device
from checkpoint import (
    CheckpointError,
    check_run_folder,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from config import UserError, loss_weights, save_config, to_dict
from console import LogWindow
from dataset import column, prepare_from_config
from distributed import agree_max, reduce_sum
from head_fit import fit_heads
from losses import LOSS_NAMES, denominators
from markers import mark_completed
from mixture import MixtureSampler
from model import (
    add_lora,
    load_base_from_config,
    load_tokenizer,
    prepare_for_training,
    quantization_summary,
    set_pad_in_config,
)
from runlog import JsonlLog, write_manifest
from trackers import Trackers, tracking_accelerator
from training_model import TrainingModel, build_heads
from validation import evaluate


class TrainingError(RuntimeError):
    """The run cannot continue (e.g. repeated non-finite losses)."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(cfg, tokenizer, vocabs: dict, device_index: int = 0) -> TrainingModel:
    """Base model (+4-bit when asked) -> LoRA -> heads for the losses that are on."""
    base = load_base_from_config(cfg, device_index)
    set_pad_in_config(base, tokenizer)
    prepare_for_training(base, cfg.model.gradient_checkpointing)
    backbone = add_lora(base, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target_modules)
    weights = {"emotion": cfg.losses.emotion, "strategy": cfg.losses.strategy}
    try:
        heads = build_heads(base.config.hidden_size, vocabs, weights, cfg.training.head_dropout)
    except ValueError as e:
        raise UserError(str(e)) from None
    device = next(p for p in backbone.parameters()).device
    return TrainingModel(backbone, {k: h.to(device) for k, h in heads.items()})


# ------------------------------------------------------------------ one optimizer step
def forward_backward(model, micro: list, weights: tuple, denoms: dict, accelerator):
    """Forward + backward over one step's micro-batches, gradients synced on the last only.

    Nothing here waits for the GPU: the terms and a finite flag stay on the device. A
    non-finite total still runs its backward; train_step then skips the update on every
    process, so the weights and optimizer state are as if the step never happened.
    """
    terms_sum, finite = {}, torch.ones((), dtype=torch.bool, device=accelerator.device)
    for k, batch in enumerate(micro):
        sync = contextlib.nullcontext() if k == len(micro) - 1 else accelerator.no_sync(model)
        with sync:
            total, terms = model(batch, weights, denoms)
            if batch.get("dummy"):  # a zero-weight stand-in (batching.micro_batches)
                total, terms = total * 0.0, {n: v * 0.0 for n, v in terms.items()}
            finite &= torch.isfinite(total.detach())
            accelerator.backward(total * accelerator.num_processes)  # DDP averages; we want sums
        for name, v in terms.items():
            terms_sum[name] = terms_sum.get(name, 0.0) + v.detach()
    return terms_sum, finite


def train_step(model, micro: list, weights: tuple, params: list, optimizer, accelerator,
               max_grad_norm: float) -> tuple:
    """One optimizer step over one step's CPU micro-batches (moved to the device here),
    exactly as the loop runs it and as scripts/bench_gpu.py times it. One host sync per step:
    the finite flag, the gradient norm and the summed terms come back together, before the
    optimizer decides to step. Returns (summed terms, finite, grad norm, denominators)."""
    denoms = reduce_sum(accelerator, denominators(micro))
    micro = [to_device(b, accelerator.device) for b in micro]
    terms_sum, finite = forward_backward(model, micro, weights, denoms, accelerator)
    grad_norm = accelerator.clip_grad_norm_(params, max_grad_norm)
    names = sorted(terms_sum)
    bad = (~finite).float()
    if accelerator.num_processes > 1:
        bad = accelerator.reduce(bad, reduction="max")
        terms = accelerator.reduce(torch.stack([terms_sum[n] for n in names]), reduction="sum") \
            if names else None
    else:
        terms = torch.stack([terms_sum[n] for n in names]) if names else None
    host = torch.stack([bad, torch.as_tensor(grad_norm, device=bad.device).float(),
                        *([] if terms is None else terms.float())]).tolist()
    finite_all = host[0] == 0
    if finite_all:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return dict(zip(names, host[2:])), finite_all, host[1] if finite_all else float("nan"), denoms


# ------------------------------------------------------------------ setup
@dataclass
class Run:
    """Everything one training job holds, built by `setup`."""
    cfg: object
    accelerator: object
    tok: object
    data: object
    model: object  # as prepared by accelerate (DDP wrapper when distributed)
    inner: TrainingModel
    params: list
    optimizer: object
    scheduler: object
    sampler: MixtureSampler
    train: dict
    val: dict
    weights: tuple
    train_log: JsonlLog
    eval_log: JsonlLog
    state: dict = field(default_factory=lambda: {"consecutive_nonfinite": 0,
                                                 "nonfinite_total": 0, "tokens_seen": 0})
    step: int = 0
    trackers: Trackers | None = None  # started once the run knows its step (resume)

    @property
    def say(self):
        return print if self.accelerator.is_main_process else (lambda *a, **k: None)


def param_groups(model, t_cfg) -> list[dict]:
    """LoRA adapters at training.lr, the heads at training.head_lr; one schedule scales
    both, and the logged lr is the adapters'. head_lr 0 keeps one group, so checkpoints
    written before the option existed still resume."""
    if not t_cfg.head_lr:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": t_cfg.lr}]
    heads = [p for p in model.heads.parameters() if p.requires_grad]
    in_heads = {id(p) for p in heads}
    groups = [{"params": [p for p in model.parameters()
                          if p.requires_grad and id(p) not in in_heads], "lr": t_cfg.lr}]
    return groups + ([{"params": heads, "lr": t_cfg.head_lr}] if heads else [])


def setup(cfg) -> Run:
    """Accelerator, tokenizer, data, model, optimizer, schedule and sampler for `cfg`."""
    t_cfg = cfg.training
    # a missing tracker package stops the run here, before step 0
    accelerator = tracking_accelerator(t_cfg, cfg.run_dir)
    world = accelerator.num_processes
    seed_everything(t_cfg.seed)
    say = print if accelerator.is_main_process else (lambda *a, **k: None)
    with accelerator.main_process_first():  # one process builds the caches, others read them
        tok = load_tokenizer(cfg.model.tokenizer or cfg.model.name_or_path, cfg.model.cache_dir,
                             cfg.model.revision, cfg.model.trust_remote_code)
        data = prepare_from_config(cfg, tok, log=say)
    weights = loss_weights(cfg.losses)
    model = build_model(cfg, tok, {"emotion": data.emotion_vocab,
                                   "strategy": data.strategy_vocab}, accelerator.local_process_index)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(param_groups(model, t_cfg), lr=t_cfg.lr,
                                  weight_decay=t_cfg.weight_decay)
    scheduler = get_cosine_schedule_with_warmup(optimizer, t_cfg.warmup_steps, t_cfg.max_steps)
    train = {s: sp["train"] for s, sp in data.tokenized.items() if len(sp["train"])}
    val = {s: sp["validation"] for s, sp in data.tokenized.items() if len(sp["validation"])}
    if not train:
        dropped = {s: data.stats[s]["train"].get("dropped", {}) for s in data.tokenized}
        raise UserError(f"no training example fits data.max_seq_len={cfg.data.max_seq_len} "
                        f"tokens (dropped per source: {dropped}); raise data.max_seq_len")
    sampler = MixtureSampler({s: column(ds, "length") for s, ds in train.items()}, cfg.mixture.alpha,
                             cfg.mixture.seed, t_cfg.batch_size * t_cfg.grad_accum * world,
                             cfg.mixture.group_by_length, cfg.mixture.megabatch_factor,
                             step_tokens=t_cfg.max_tokens_per_batch * t_cfg.grad_accum * world,
                             min_rows=world)
    prepared, optimizer = accelerator.prepare(model, optimizer)
    logs = os.path.join(cfg.run_dir, "logs")
    return Run(cfg, accelerator, tok, data, prepared, accelerator.unwrap_model(prepared), params,
               optimizer, scheduler, sampler, train, val, weights,
               JsonlLog(os.path.join(logs, "train_metrics.jsonl"), accelerator.is_main_process),
               JsonlLog(os.path.join(logs, "eval_metrics.jsonl"), accelerator.is_main_process))


def resume_from(run: Run, checkpoints: list) -> None:
    """Continue exactly (weights, optimizer, schedule, RNG, sampler, logs) from the newest
    checkpoint that reads back whole, saying which ones were skipped and why; start the logs
    afresh when there is none."""
    if not checkpoints:
        run.train_log.reset()
        run.eval_log.reset()
        return
    skipped = []
    for ckpt in reversed(checkpoints):
        try:
            sampler_state, state = load_checkpoint(ckpt, run.inner, run.optimizer, run.scheduler,
                                                   run.accelerator.process_index,
                                                   getattr(run.accelerator, "scaler", None))
        except CheckpointError as e:
            run.say(f"[train] skipping checkpoint {os.path.basename(ckpt)}: {e}")
            skipped.append(f"{os.path.basename(ckpt)} ({e})")
            continue
        except ValueError as e:
            raise UserError(f"cannot resume from {ckpt}: {e}") from None
        break
    else:
        raise UserError(f"no readable checkpoint in {run.cfg.run_dir}: {'; '.join(skipped)}")
    try:
        run.sampler.load_state_dict(sampler_state)
    except ValueError as e:
        raise UserError(f"cannot resume from {ckpt}: {e}") from None
    run.step = state.pop("step")
    run.state = state
    run.train_log.truncate_after(run.step)
    run.eval_log.truncate_after(run.step)
    run.say(f"[train] resumed from {ckpt} at step {run.step}")


def write_train_manifest(run: Run, ckpt) -> None:
    if not run.accelerator.is_main_process:
        return
    save_config(run.cfg, os.path.join(run.cfg.run_dir, "config.json"))
    write_manifest(run.cfg.run_dir, "train", {
        "resolved_config": to_dict(run.cfg), "world_size": run.accelerator.num_processes,
        "mixture_probabilities": run.sampler.probs,
        "loss_weights": dict(zip(LOSS_NAMES, run.weights, strict=True)),
        "heads": {n: len(h.labels) for n, h in run.inner.heads.items()},
        "emotion_vocab": run.data.emotion_vocab, "strategy_vocab": run.data.strategy_vocab,
        "data_stats": run.data.stats, "trainable_parameters": sum(p.numel() for p in run.params),
        "quantization": quantization_summary(run.inner.backbone), "resumed_from": ckpt})


# ------------------------------------------------------------------ loop pieces
def validate(run: Run, at_step: int) -> dict:
    t = run.cfg.training
    metrics = evaluate(run.inner, run.val, run.tok.pad_token_id, t.eval_batch_size,
                       t.eval_batches, run.weights, run.accelerator.device,
                       run.accelerator.autocast, seed=t.seed,
                       show=run.accelerator.is_main_process)
    run.eval_log.append({"step": at_step, **metrics})
    run.trackers.log("validation", metrics, at_step)
    run.say(f"[eval] step {at_step} ({metrics['examples_n']} validation examples): " + " | ".join(
        f"{k} {v:.4f}" for k, v in metrics.items() if not k.endswith("_n")))
    return metrics


def next_micro_batches(run: Run) -> list[dict]:
    """This process's share of the next mixture step, as CPU micro-batches."""
    t, acc = run.cfg.training, run.accelerator
    mine = run.sampler.next_batch()[acc.process_index::acc.num_processes]
    examples = [run.train[s][i] for s, i in mine]
    groups = micro_batches(examples, t.batch_size, t.grad_accum, t.max_tokens_per_batch,
                           agree_max(acc))
    return [collate(g, run.tok.pad_token_id) for g in groups]


def step_row(run: Run, terms: dict, finite: bool, grad_norm: float, denoms: dict, lr: float,
             tokens: int, dt: float) -> dict:
    """The JSONL row of one step; a term with no items this step is absent, not 0."""
    terms_now = {k: v for k, v in terms.items() if denoms[k.split("/")[0]]}  # "dpo/margin" -> dpo
    loss = sum(w * terms_now.get(n, 0.0) for n, w in zip(LOSS_NAMES, run.weights, strict=True))
    return {"step": run.step, "lr": lr, "grad_norm": grad_norm, "skipped": not finite,
            "nonfinite_total": run.state["nonfinite_total"], "tokens": tokens,
            "supervised_tokens": denoms["lm"], "step_time": dt, **terms_now,
            "loss": loss if finite else float("nan")}


def save(run: Run) -> None:
    t = run.cfg.training
    save_checkpoint(run.cfg.run_dir, run.step, run.inner, run.optimizer, run.scheduler,
                    run.sampler.state_dict(), run.state, run.accelerator, t.keep_checkpoints)


# ------------------------------------------------------------------ the recipe
class SftTask:
    """What the one training loop runs: the SFT task. A task builds the Run, gives each
    step's micro-batches, validates, writes its manifest and marks itself finished; the
    loop (checkpoints, exact resume, logs, non-finite handling, DDP) is shared. dpo.DpoTask
    is the other one."""
    stage = "train"

    def setup(self, cfg) -> Run:
        return setup(cfg)

    def micro_batches(self, run: Run) -> list[dict]:
        return next_micro_batches(run)

    def before_first_step(self, run: Run) -> None:
        """Fit the fresh heads on frozen features first, when training.head_fit_examples > 0."""
        n = run.cfg.training.head_fit_examples
        if n and run.inner.heads:
            fit_heads(run, n)

    def validate(self, run: Run, at_step: int) -> dict:
        return validate(run, at_step)

    def manifest(self, run: Run, ckpt) -> None:
        write_train_manifest(run, ckpt)

    def finish(self, run: Run, info: dict) -> None:
        mark_completed(run.cfg.run_dir, "train", info, run.cfg)

    def trackers(self, run: Run) -> Trackers:
        return Trackers(run.accelerator, run.cfg, run.cfg.run_dir, run.step)


def run_training(cfg, resume: bool = False, task=None) -> dict:
    """Entry point of `python main.py train` (and, with dpo.DpoTask, of `dpo`): returns the
    final validation metrics."""
    task = task or SftTask()
    check_run_folder(cfg, resume, task.stage)
    run = task.setup(cfg)
    t, acc, tag = cfg.training, run.accelerator, f"[{task.stage}]"
    checkpoints = list_checkpoints(cfg.run_dir) if resume else []
    if resume and not checkpoints:
        run.say(f"{tag} --resume: no checkpoint in {cfg.run_dir}, starting from step 0")
    resume_from(run, checkpoints)
    run.trackers = task.trackers(run)
    if run.step == 0:
        task.before_first_step(run)
    task.manifest(run, checkpoints[-1] if checkpoints else None)
    metrics = task.validate(run, 0) if run.step == 0 else {}
    # the same command run again continues the run from its checkpoint
    job_end = min(t.max_steps, run.step + t.steps_per_job) if t.steps_per_job else t.max_steps
    bar = tqdm(total=t.max_steps, initial=run.step, disable=not acc.is_main_process,
               desc=task.stage, dynamic_ncols=True, leave=False)
    run.model.train()
    window = LogWindow(run.weights)
    while run.step < job_end:
        t0 = time.perf_counter()
        micro = task.micro_batches(run)
        tokens = sum(batch_counts(b)["tokens"] for b in micro)
        lr = run.optimizer.param_groups[0]["lr"]
        terms, finite, grad_norm, denoms = train_step(run.model, micro, run.weights, run.params,
                                                      run.optimizer, acc, t.max_grad_norm)
        run.scheduler.step()
        run.step += 1
        bar.update(1)
        run.state["consecutive_nonfinite"] = 0 if finite else run.state["consecutive_nonfinite"] + 1
        run.state["nonfinite_total"] += int(not finite)
        tokens = int(reduce_sum(acc, {"tokens": tokens})["tokens"])
        run.state["tokens_seen"] += tokens
        row = step_row(run, terms, finite, grad_norm, denoms, lr, tokens, time.perf_counter() - t0)
        run.train_log.append(row)
        run.trackers.log(task.stage, row, run.step)
        if run.state["consecutive_nonfinite"] >= t.max_consecutive_nonfinite:
            bar.close()
            raise TrainingError(f"{run.state['consecutive_nonfinite']} non-finite losses in a row "
                                f"at step {run.step}; stopping (lower training.lr or check the data)")
        window.add(row, denoms)
        if run.step % t.log_every == 0 or run.step == job_end:
            if acc.is_main_process:
                bar.write(window.line(run.step, t.max_steps, row))
            window = LogWindow(run.weights)
        if (t.eval_every and run.step % t.eval_every == 0) or run.step == t.max_steps:
            metrics = task.validate(run, run.step)
        if (t.save_every and run.step % t.save_every == 0) or run.step == job_end:
            save(run)
    bar.close()
    if run.step >= t.max_steps and acc.is_main_process:
        task.finish(run, {"step": run.step, "final_eval": metrics,
                          "nonfinite_total": run.state["nonfinite_total"]})
        run.say(f"{tag} done: {run.step} steps; checkpoint {latest_checkpoint(cfg.run_dir)}")
    run.trackers.end()
    acc.wait_for_everyone()
    return metrics
