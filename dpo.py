"""The preference stage: the SFT adapter trained further with DPO, in the project's one loop.

DPO is a loss term (losses.dpo_loss) and a batch type (batching.collate_pairs); `DpoTask`
plugs them into training.run_training, so checkpoints, exact resume, logs, non-finite
handling and accelerate DDP are the SFT loop's own. The run lives in <run>/dpo/.

The reference policy is the finished SFT model, frozen. Its reply log-probs are computed in
one pass before the first step and cached (<run>/dpo/reference_logps.json), so no second
copy of the weights, and no second adapter, is ever in memory: the alternative (peft holding
a frozen "reference" copy of the adapter beside the trained one) costs an extra forward per
pair at every step, where the cache costs one forward per pair once. Dropout is off (LoRA
and model), so at step 0 the policy equals the reference: loss log 2, margins 0. The heads
come from the SFT checkpoint, frozen, and are saved unchanged.

    python main.py dpo --config config/cpu_smoke.json --set dpo.enabled=true
"""
from __future__ import annotations

import copy
import dataclasses
import os

import torch
from transformers import get_cosine_schedule_with_warmup

from batching import collate_pairs, micro_batches, to_device
from checkpoint import latest_checkpoint, list_checkpoints
from config import LossesConfig, OutputConfig, UserError, loss_weights, save_config, to_dict
from dataset import prepare_from_config
from distributed import agree_max
from dpo_pairs import build_pairs, is_heldout, tokenize_pair
from files import fingerprint, read_json, read_jsonl, write_json_atomic, write_jsonl_atomic
from heads import heads_in
from loading import LoadedFriend
from losses import dpo_terms, reply_logps
from markers import is_completed, mark_completed
from mixture import MixtureSampler
from model import (
    load_adapter,
    load_base_from_config,
    load_tokenizer,
    prepare_for_training,
    set_pad_in_config,
)
from prompting import PromptEncoder, end_of_turn_id
from runlog import JsonlLog, write_manifest
from trackers import Trackers, tracking_accelerator
from training import Run, run_training, seed_everything
from training_model import TrainingModel


def dpo_dir(cfg) -> str:
    return os.path.join(cfg.run_dir, "dpo")


def dpo_run_config(cfg):
    """The loop's config for the stage: dpo.* replaces the loop settings, the losses become
    DPO (+ the optional SFT term on the chosen reply), LoRA dropout is off, and the run
    folder is <run>/dpo."""
    d, c = cfg.dpo, copy.deepcopy(cfg)
    c.training = dataclasses.replace(
        cfg.training, lr=d.lr, max_steps=d.max_steps, warmup_steps=d.warmup_steps,
        batch_size=d.batch_size, grad_accum=d.grad_accum, eval_every=d.eval_every,
        save_every=d.save_every, max_tokens_per_batch=d.max_tokens_per_batch, seed=d.seed)
    c.losses = LossesConfig(lm=d.sft_weight, emotion=0.0, strategy=0.0, kl=0.0, dpo=1.0)
    c.lora = dataclasses.replace(cfg.lora, dropout=0.0)
    c.output = OutputConfig(root=cfg.run_dir, run_name="dpo")
    return c


def sft_checkpoint(cfg) -> str:
    ckpt = latest_checkpoint(cfg.run_dir)
    if ckpt is None or not is_completed(cfg.run_dir, "train"):
        raise UserError(f"{cfg.run_dir}: the dpo stage starts from a finished SFT run; run "
                        "`python main.py train` (to training.max_steps) first")
    return ckpt


def build_dpo_model(cfg, tokenizer, sft_ckpt: str, device_index: int = 0) -> TrainingModel:
    """Base (4-bit when asked) + the SFT adapter, trainable, + the SFT heads, frozen."""
    base = load_base_from_config(cfg, device_index)
    set_pad_in_config(base, tokenizer)
    prepare_for_training(base, cfg.model.gradient_checkpointing)
    backbone = load_adapter(base, os.path.join(sft_ckpt, "adapter"), trainable=True)
    for m in backbone.modules():  # no dropout: the policy must equal the reference at step 0
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    device = next(backbone.parameters()).device
    heads = {k: h.to(device).requires_grad_(False) for k, h in heads_in(sft_ckpt).items()}
    return TrainingModel(backbone, heads)


# ------------------------------------------------------------------ pairs and the reference
def pairs_fingerprint(cfg, sft_ckpt: str) -> str:
    d = dataclasses.asdict(cfg.dpo)
    keep = ("seed", "spin_prompts", "safety_prompts", "safety_samples", "pairs", "pairs_split",
            "temperature", "top_p", "max_new_tokens")
    return fingerprint({k: d[k] for k in keep}, to_dict(cfg)["data"], cfg.model.name_or_path,
                        os.path.abspath(sft_ckpt))


def load_or_build_pairs(cfg, model: TrainingModel, tokenizer, sft_ckpt: str, resuming: bool,
                        log=print) -> tuple[list[dict], dict]:
    """<run>/dpo/pairs.jsonl when it was built for these settings from this SFT checkpoint;
    otherwise sampled now (never on resume: the model has moved since)."""
    folder = dpo_dir(cfg)
    path, info_path = os.path.join(folder, "pairs.jsonl"), os.path.join(folder, "pairs_info.json")
    fp = pairs_fingerprint(cfg, sft_ckpt)
    info = read_json(info_path, {})
    if info.get("fingerprint") == fp and os.path.isfile(path):
        return read_jsonl(path), info["counts"]
    if resuming:
        raise UserError(f"{path}: the pairs this DPO run trained on are missing or were built "
                        "otherwise; they cannot be re-sampled from a moved model. Remove "
                        f"{folder} to start the stage afresh")
    pairs, counts = sample_pairs(cfg, model, tokenizer, log)
    write_jsonl_atomic(path, pairs)
    write_json_atomic(info_path, {"fingerprint": fp, "counts": counts})
    return pairs, counts


def sample_pairs(cfg, model: TrainingModel, tokenizer, log) -> tuple[list[dict], dict]:
    train = {}
    if cfg.dpo.spin_prompts:
        data = prepare_from_config(cfg, tokenizer, log=lambda *_: None, splits=("train",))
        train = {s: sp["train"] for s, sp in data.tokenized.items()}
    friend = LoadedFriend(model.backbone, tokenizer, {}, end_of_turn_id(tokenizer), True)
    was = model.training
    model.eval()
    torch.manual_seed(cfg.dpo.seed)
    try:
        return build_pairs(cfg, friend, train, log)
    finally:
        model.train(was)


def tokenize_pairs(cfg, pairs: list[dict], tokenizer) -> tuple[list[dict], int]:
    enc, eot = PromptEncoder(tokenizer, cfg.data.system_prompt), end_of_turn_id(tokenizer)
    out = [tokenize_pair(p, tokenizer, enc, cfg.data.max_seq_len, eot) for p in pairs]
    kept = [t for t in out if t is not None]
    return kept, len(out) - len(kept)


@torch.no_grad()
def pair_logps(model: TrainingModel, pairs: list[dict], pad_id: int, batch_size: int, device,
               autocast) -> list[tuple[float, float]]:
    """(chosen, rejected) summed reply log-probs of each pair under the model as it is."""
    was = model.training
    model.eval()
    out = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        batch = to_device(collate_pairs(chunk, pad_id, 1.0), device)
        with autocast():
            hidden = model.hidden_states(batch["input_ids"], batch["attention_mask"])
            lp = reply_logps(model, hidden, batch).tolist()
        out += list(zip(lp[:len(chunk)], lp[len(chunk):]))
    model.train(was)
    return out


def attach_reference(run_folder: str, model, parts: tuple, fp: str, pad_id: int,
                     batch_size: int, device, autocast, resuming: bool) -> None:
    """Reference log-probs onto every pair, computed once from the SFT model and cached.
    Each part (held-out, train) is batched on its own, as validation batches the held-out
    pairs: their step-0 margins are then exactly 0, not 0 up to padding noise."""
    path = os.path.join(run_folder, "reference_logps.json")
    cached = read_json(path, {})
    if cached.get("fingerprint") != fp:
        if resuming:
            raise UserError(f"{path} is missing or stale; the frozen reference cannot be "
                            f"recomputed from a moved model. Remove {run_folder} to start afresh")
        logps = [lp for part in parts
                 for lp in pair_logps(model, part, pad_id, batch_size, device, autocast)]
        cached = {"fingerprint": fp, "logps": logps}
        write_json_atomic(path, cached)
    pairs = [p for part in parts for p in part]
    for p, (c, r) in zip(pairs, cached["logps"], strict=True):
        p["ref_chosen"], p["ref_rejected"] = c, r


# ------------------------------------------------------------------ the task
class DpoTask:
    """training.run_training's DPO task (see training.SftTask for the contract)."""
    stage = "dpo"

    def __init__(self, parent_cfg, resuming: bool):
        self.parent, self.resuming = parent_cfg, resuming

    def before_first_step(self, run: Run) -> None:
        """Nothing to fit: DPO starts from the SFT adapter and heads (training.SftTask fits
        fresh heads)."""
        return None

    def setup(self, cfg) -> Run:
        t, d = cfg.training, cfg.dpo
        acc = tracking_accelerator(t, self.parent.run_dir)
        seed_everything(t.seed)
        say = print if acc.is_main_process else (lambda *a, **k: None)
        sft = sft_checkpoint(self.parent)
        m = cfg.model
        tok = load_tokenizer(m.tokenizer or m.name_or_path, m.cache_dir, m.revision,
                             m.trust_remote_code)
        model = build_dpo_model(cfg, tok, sft, acc.local_process_index)
        with acc.main_process_first():  # one process samples the pairs, the others read them
            pairs, counts = load_or_build_pairs(self.parent, model, tok, sft, self.resuming, say)
            tokenized, counts["too_long"] = tokenize_pairs(cfg, pairs, tok)
            held = [p for p in tokenized if is_heldout(p["prompt_id"], d.heldout_fraction, d.seed)]
            train = [p for p in tokenized
                     if not is_heldout(p["prompt_id"], d.heldout_fraction, d.seed)]
            attach_reference(cfg.run_dir, model, (held, train),
                             pairs_fingerprint(self.parent, sft), tok.pad_token_id,
                             t.eval_batch_size, acc.device, acc.autocast, self.resuming)
        if not train:
            raise UserError(f"no DPO training pairs left (counts: {counts}); lower "
                            "dpo.heldout_fraction or build more pairs")
        counts.update(train_pairs=len(train), heldout_pairs=len(held), sft_checkpoint=sft)
        say(f"[dpo] {len(train)} training pairs, {len(held)} held out; from {sft}")
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
        scheduler = get_cosine_schedule_with_warmup(optimizer, t.warmup_steps, t.max_steps)
        world = acc.num_processes
        sampler = MixtureSampler({"pairs": [p["length"] for p in train]}, 1.0, d.seed,
                                 t.batch_size * t.grad_accum * world, cfg.mixture.group_by_length,
                                 cfg.mixture.megabatch_factor,
                                 step_tokens=t.max_tokens_per_batch * t.grad_accum * world,
                                 min_rows=world)
        prepared, optimizer = acc.prepare(model, optimizer)
        logs = os.path.join(cfg.run_dir, "logs")
        return Run(cfg, acc, tok, counts, prepared, acc.unwrap_model(prepared), params, optimizer,
                   scheduler, sampler, {"pairs": train}, {"pairs": held}, loss_weights(cfg.losses),
                   JsonlLog(os.path.join(logs, "train_metrics.jsonl"), acc.is_main_process),
                   JsonlLog(os.path.join(logs, "eval_metrics.jsonl"), acc.is_main_process))

    def micro_batches(self, run: Run) -> list[dict]:
        t, acc = run.cfg.training, run.accelerator
        mine = run.sampler.next_batch()[acc.process_index::acc.num_processes]
        examples = [run.train[s][i] for s, i in mine]
        groups = micro_batches(examples, t.batch_size, t.grad_accum, t.max_tokens_per_batch,
                               agree_max(acc))
        return [collate_pairs(g, run.tok.pad_token_id, run.cfg.dpo.beta) for g in groups]

    def validate(self, run: Run, at_step: int) -> dict:
        """Held-out pairs: DPO loss, reward accuracy and margin, reply log-probs."""
        held = run.val["pairs"]
        if not held:
            return {}
        lp = pair_logps(run.inner, held, run.tok.pad_token_id, run.cfg.training.eval_batch_size,
                        run.accelerator.device, run.accelerator.autocast)
        policy = torch.tensor([c for c, _ in lp] + [r for _, r in lp], dtype=torch.float64)
        ref = torch.tensor([p["ref_chosen"] for p in held] + [p["ref_rejected"] for p in held],
                           dtype=torch.float64)
        terms = dpo_terms(policy, ref, run.cfg.dpo.beta)
        metrics = {f"heldout_{k}": float(v.mean()) for k, v in terms.items()}
        metrics["heldout_pairs_n"] = len(held)
        run.eval_log.append({"step": at_step, **metrics})
        run.trackers.log("dpo_heldout", {k.removeprefix("heldout_"): v
                                         for k, v in metrics.items()}, at_step)
        run.say(f"[dpo] step {at_step} held-out ({len(held)} pairs): " + " | ".join(
            f"{k[8:]} {v:.4f}" for k, v in metrics.items() if not k.endswith("_n")))
        return metrics

    def manifest(self, run: Run, ckpt) -> None:
        if not run.accelerator.is_main_process:
            return
        save_config(run.cfg, os.path.join(run.cfg.run_dir, "config.json"))
        info = {"pairs": run.data, "beta": run.cfg.dpo.beta, "resumed_from": ckpt,
                "loss_weights": dict(zip(LossesConfig.__dataclass_fields__, run.weights)),
                "trainable_parameters": sum(p.numel() for p in run.params)}
        write_manifest(run.cfg.run_dir, "dpo", info)
        write_manifest(self.parent.run_dir, "dpo", info)

    def finish(self, run: Run, info: dict) -> None:
        mark_completed(self.parent.run_dir, "dpo", {**info, "pairs": run.data}, self.parent)

    def trackers(self, run: Run) -> Trackers:
        """The SFT run's trackers, continued: the preference stage's rows join them."""
        return Trackers(run.accelerator, self.parent, self.parent.run_dir, run.step, "dpo")


def run_dpo(cfg, resume: bool = False) -> dict:
    """Entry point of `python main.py dpo`: returns the final held-out pair metrics."""
    dcfg = dpo_run_config(cfg)
    resuming = resume and bool(list_checkpoints(dcfg.run_dir))
    return run_training(dcfg, resume, DpoTask(cfg, resuming))
