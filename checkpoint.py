"""Atomic, pickle-free-to-load checkpoints that resume a run exactly.

A checkpoint folder `checkpoints/step_NNNNNN/` holds the LoRA adapter (peft, safetensors),
the heads (safetensors + label names), optimizer and scheduler state (loaded with
`torch.load(weights_only=True)`), per-process RNG state, the mixture sampler state and the
trainer state. It is written into a temporary folder and renamed, so a crash mid-write
leaves the previous checkpoint as the latest loadable one.

    python main.py train --config config/cpu_smoke.json --resume
"""
from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil

import numpy as np
import torch
from peft import set_peft_model_state_dict
from safetensors.torch import load_file

from config import UserError
from config_load import config_from_dict
from heads import HEAD_FILE, load_heads, save_heads
from markers import JOB_CONTROL, changed_settings

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


def _write_files(tmp, model, optimizer, scheduler, sampler_state, trainer_state, scaler) -> None:
    model.backbone.save_pretrained(os.path.join(tmp, "adapter"))
    if len(model.heads):
        save_heads(dict(model.heads.items()), os.path.join(tmp, HEAD_FILE))
    torch.save(optimizer.state_dict(), os.path.join(tmp, "optimizer.pt"))
    torch.save(scheduler.state_dict(), os.path.join(tmp, "scheduler.pt"))
    save_scaler(scaler, tmp)
    _write_json(os.path.join(tmp, "sampler.json"), sampler_state)
    # trainer_state.json last: its presence marks a complete folder
    _write_json(os.path.join(tmp, "trainer_state.json"), trainer_state)


def _out_of_space(error: Exception, folder: str) -> bool:
    """ENOSPC, or torch's opaque writer error ("enforce fail at inline_container") on a
    device that is (nearly) full."""
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    try:
        return shutil.disk_usage(folder).free < 64 * 2**20
    except OSError:
        return False


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
    try:
        _write_json(os.path.join(tmp, f"rng_rank{accelerator.process_index}.json"), capture_rng())
        if accelerator.is_main_process:
            _write_files(tmp, model, optimizer, scheduler, sampler_state,
                         {**trainer_state, "step": step}, getattr(accelerator, "scaler", None))
    except (OSError, RuntimeError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if _out_of_space(e, root):
            raise UserError(f"no space left on the device of {root} while writing checkpoint "
                            f"step {step}; the partial folder was removed (free space, then "
                            "resume with --resume)") from None
        raise
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


class CheckpointError(ValueError):
    """A checkpoint folder cannot be read; the message names the file and why."""


def _torch_file(path: str):
    """torch.load(weights_only=True) with a plain reason on failure (and none of torch's
    advice to load untrusted pickles)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} is missing")
    try:
        return torch.load(path, weights_only=True)
    except Exception as e:  # torch raises RuntimeError/UnpicklingError/EOFError/... here
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is unreadable ({first.split('. ')[0]})") from None


def read_scaler(path: str, want_scaler: bool):
    """The fp16 loss scaler's saved state (None without one); a checkpoint and a run must
    agree on having one."""
    scaler_file = os.path.join(path, SCALER_FILE)
    if want_scaler != os.path.isfile(scaler_file):
        raise CheckpointError(f"{path} was saved {'without' if want_scaler else 'with'} an fp16 "
                              "GradScaler (training.mixed_precision differs from this run's)")
    return _torch_file(scaler_file) if want_scaler else None


def _json_file(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return value


def read_checkpoint(path: str, process_index: int = 0, want_scaler: bool = False) -> dict:
    """Every file of a checkpoint, read and checked before anything is applied, so a broken
    checkpoint changes nothing."""
    out = {}
    try:
        out["adapter"] = load_file(os.path.join(path, "adapter", "adapter_model.safetensors"))
        heads_file = os.path.join(path, HEAD_FILE)
        out["heads"] = load_heads(heads_file) if os.path.isfile(heads_file) else {}
    except Exception as e:  # safetensors raises its own error types on a torn file
        raise CheckpointError(f"{path}: adapter or heads unreadable ({e})") from None
    out["optimizer"] = _torch_file(os.path.join(path, "optimizer.pt"))
    out["scheduler"] = _torch_file(os.path.join(path, "scheduler.pt"))
    out["scaler"] = read_scaler(path, want_scaler)
    rng_file = os.path.join(path, f"rng_rank{process_index}.json")
    out["rng"] = _json_file(rng_file) if os.path.isfile(rng_file) else None
    out["sampler"] = _json_file(os.path.join(path, "sampler.json"))
    out["trainer"] = _json_file(os.path.join(path, "trainer_state.json"))
    if not isinstance(out["trainer"].get("step"), int):
        raise CheckpointError(f"{path}/trainer_state.json has no integer step")
    return out


def load_checkpoint(path: str, model, optimizer, scheduler, process_index: int = 0,
                    scaler=None) -> tuple:
    """Restore weights, optimizer, scheduler, loss scaler and this process's RNG from a
    checkpoint read in full first; returns (sampler_state, trainer_state). A checkpoint that
    does not fit this model (other adapter keys or head labels) is a ValueError."""
    ck = read_checkpoint(path, process_index, want_scaler=scaler is not None)
    for name, head in model.heads.items():
        if name not in ck["heads"] or ck["heads"][name].labels != head.labels:
            raise ValueError(f"head '{name}' in {path} does not match this run's labels")
    result = set_peft_model_state_dict(model.backbone, ck["adapter"])
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"adapter in {path} does not match the model: {result.unexpected_keys[:3]}")
    for name, head in model.heads.items():
        head.load_state_dict(ck["heads"][name].state_dict())
    optimizer.load_state_dict(ck["optimizer"])
    scheduler.load_state_dict(ck["scheduler"])
    if scaler is not None:
        scaler.load_state_dict(ck["scaler"])
    if ck["rng"] is not None:
        restore_rng(ck["rng"])
    return ck["sampler"], ck["trainer"]


def check_run_folder(cfg, resume: bool, stage: str = "train") -> None:
    """Never mix two runs in one folder: a folder holding checkpoints is continued only with
    --resume, and only under the settings it was started with (job-control settings such as
    training.steps_per_job may change; markers.JOB_CONTROL lists them)."""
    ckpt = latest_checkpoint(cfg.run_dir)
    if ckpt and not resume:
        raise UserError(f"{cfg.run_dir} already holds a run (latest checkpoint "
                        f"{os.path.basename(ckpt)}): continue it with --resume (or `all`), or "
                        "choose a fresh output.run_name")
    saved_path = os.path.join(cfg.run_dir, "config.json")
    if not (resume and ckpt and os.path.isfile(saved_path)):
        return
    try:
        with open(saved_path, encoding="utf-8") as f:
            saved = config_from_dict(json.load(f))
    except (ValueError, UserError) as e:
        raise UserError(f"{saved_path}: unreadable run config ({e})") from None
    changed = changed_settings(saved, cfg, stage)
    if changed:
        free = ", ".join(f"{s}.{k}" for s, keys in JOB_CONTROL.items() for k in keys)
        raise UserError(f"cannot resume {cfg.run_dir} with other training settings: "
                        f"{', '.join(changed)} differ from its config.json (settings that may "
                        f"change between jobs: {free}); choose a fresh output.run_name instead")
