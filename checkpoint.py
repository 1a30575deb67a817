"""Atomic, pickle-free-to-load checkpoints that resume a run exactly.

A checkpoint folder `checkpoints/step_NNNNNN/` holds the LoRA adapter (peft, safetensors),
the heads (safetensors + label names), optimizer and scheduler state (loaded with
`torch.load(weights_only=True)`), per-process RNG state, the mixture sampler state and the
trainer state. It is written into a temporary folder and renamed, so a crash mid-write
leaves the previous checkpoint as the latest loadable one.

    python main.py train --config config/cpu_smoke.json --resume
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil

import numpy as np
import torch

from heads import HEAD_FILE, load_heads, save_heads

STEP_DIR = re.compile(r"^step_(\d{6,})$")
SCALER_FILE = "scaler.pt"


def checkpoint_root(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")


def list_checkpoints(run_dir: str) -> list[str]:
    root = checkpoint_root(run_dir)
    if not os.path.isdir(root):
        return []
    found = [(int(m.group(1)), os.path.join(root, d)) for d in os.listdir(root)
             if (m := STEP_DIR.match(d)) and os.path.isfile(os.path.join(root, d, "trainer_state.json"))]
    return [p for _, p in sorted(found)]


def step_of(path: str) -> int:
    """The step of a checkpoint folder (step_NNNNNN)."""
    m = STEP_DIR.match(os.path.basename(os.path.normpath(path)))
    if not m:
        raise ValueError(f"not a checkpoint folder: {path}")
    return int(m.group(1))


def latest_checkpoint(run_dir: str):
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


# ------------------------------------------------------------------ RNG
def capture_rng() -> dict:
    np_state = np.random.get_state()
    state = {"python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
             "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
             "torch": torch.get_rng_state().tolist()}
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict) -> None:
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


# ------------------------------------------------------------------ save / load
def _write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)


def save_checkpoint(run_dir: str, step: int, model, optimizer, scheduler, sampler_state: dict,
                    trainer_state: dict, accelerator, keep: int = 2) -> str:
    """Write step_NNNNNN atomically; every process contributes its RNG file.

    With fp16 the GradScaler's scale and growth tracker are saved too (scaler.pt): without
    them a resumed run restarts the loss scale at 65536 and skips different steps.
    """
    root = checkpoint_root(run_dir)
    final = os.path.join(root, f"step_{step:06d}")
    tmp = os.path.join(root, f".tmp-step_{step:06d}")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
    accelerator.wait_for_everyone()
    _write_json(os.path.join(tmp, f"rng_rank{accelerator.process_index}.json"), capture_rng())
    if accelerator.is_main_process:
        model.backbone.save_pretrained(os.path.join(tmp, "adapter"))
        if len(model.heads):
            save_heads(dict(model.heads.items()), os.path.join(tmp, HEAD_FILE))
        torch.save(optimizer.state_dict(), os.path.join(tmp, "optimizer.pt"))
        torch.save(scheduler.state_dict(), os.path.join(tmp, "scheduler.pt"))
        save_scaler(getattr(accelerator, "scaler", None), tmp)
        _write_json(os.path.join(tmp, "sampler.json"), sampler_state)
        # trainer_state.json last: its presence marks a complete folder
        _write_json(os.path.join(tmp, "trainer_state.json"), {**trainer_state, "step": step})
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in list_checkpoints(run_dir)[:-max(1, keep)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def save_scaler(scaler, folder: str) -> None:
    if scaler is not None:
        torch.save(scaler.state_dict(), os.path.join(folder, SCALER_FILE))


def load_scaler(scaler, folder: str) -> None:
    """Restore the fp16 loss scale; a checkpoint and a run must agree on having one."""
    path = os.path.join(folder, SCALER_FILE)
    if scaler is None and os.path.isfile(path):
        raise ValueError(f"{folder} was saved with an fp16 GradScaler, but this run has none "
                         "(training.mixed_precision differs from the checkpoint's)")
    if scaler is not None:
        if not os.path.isfile(path):
            raise ValueError(f"{folder} has no {SCALER_FILE}, but this run uses fp16 "
                             "(training.mixed_precision differs from the checkpoint's)")
        scaler.load_state_dict(torch.load(path, weights_only=True))


def load_checkpoint(path: str, model, optimizer, scheduler, process_index: int = 0,
                    scaler=None) -> tuple:
    """Restore weights, optimizer, scheduler, loss scaler and this process's RNG; returns
    (sampler_state, trainer_state)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    adapter = load_file(os.path.join(path, "adapter", "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model.backbone, adapter)
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"adapter in {path} does not match the model: {result.unexpected_keys[:3]}")
    if len(model.heads):
        saved = load_heads(os.path.join(path, HEAD_FILE))
        for name, head in model.heads.items():
            if name not in saved or saved[name].labels != head.labels:
                raise ValueError(f"head '{name}' in {path} does not match this run's labels")
            head.load_state_dict(saved[name].state_dict())
    optimizer.load_state_dict(torch.load(os.path.join(path, "optimizer.pt"), weights_only=True))
    scheduler.load_state_dict(torch.load(os.path.join(path, "scheduler.pt"), weights_only=True))
    load_scaler(scaler, path)
    rng_file = os.path.join(path, f"rng_rank{process_index}.json")
    if os.path.isfile(rng_file):
        with open(rng_file, encoding="utf-8") as f:
            restore_rng(json.load(f))
    with open(os.path.join(path, "sampler.json"), encoding="utf-8") as f:
        sampler_state = json.load(f)
    with open(os.path.join(path, "trainer_state.json"), encoding="utf-8") as f:
        trainer_state = json.load(f)
    return sampler_state, trainer_state
