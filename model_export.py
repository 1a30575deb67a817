"""`export`: the trained friend as a folder other engines load.

- **Adapter (default)**: a standard PEFT folder (`adapter_config.json`,
  `adapter_model.safetensors`) that `PeftModel.from_pretrained` and vLLM's `--lora-modules`
  load, with the tokenizer and its chat template, the heads (`heads.safetensors`, label names
  in its metadata) and a model card (model_card.py).
- **`--merge`**: the adapter folded into the base weights, saved as safetensors. The base is
  loaded in the dtype the run computed in; a 4-bit base is loaded as the run trained on it and
  dequantized to the compute dtype first, because merging into 4-bit weights re-quantizes the
  sum and loses the update (peft #2321, transformers #31293). The adapter was trained against
  the dequantized NF4 weights, so this merge reproduces the adapter-on model, not one built on
  the original full-precision weights.
- **`--gguf`** (with `--merge`): an f16 GGUF for llama.cpp and Ollama, plus a Modelfile
  (gguf_export.py).

Bad input exits 2 before anything is written: no finished stage, `--model dpo` without a dpo
stage, a non-empty `--out` without `--force`, too little disk space. Everything is written
into a temporary folder beside `--out` and renamed at the end, so an interrupted export leaves
nothing half-written.

    python main.py export --run artifacts/runs/cpu_smoke --out /tmp/friend --merge
"""
from __future__ import annotations

import errno
import logging
import os
import shutil
import time

import torch

from checkpoint import latest_checkpoint, step_of
from config import UserError
from files import read_json, write_json_atomic
from gguf_export import check_gguf_arch, write_gguf
from heads import HEAD_FILE
from markers import is_completed
from model import DTYPES, load_adapter, load_base_model, load_tokenizer, set_pad_in_config
from model_card import base_model_id, write_card

log = logging.getLogger(__name__)
EXPORT_MODELS = ("finetuned", "dpo")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
SPACE_MARGIN = 64 * 2**20  # bytes kept free beyond the estimate (tokenizer, card, filesystem)


def checkpoint_to_export(cfg, model: str) -> str:
    """The checkpoint folder of a finished stage: train for `finetuned`, dpo for `dpo`."""
    run = cfg.run_dir
    if model == "finetuned":
        if not is_completed(run, "train") or latest_checkpoint(run) is None:
            raise UserError(f"{run} has no finished train stage: nothing to export (run "
                            "`python main.py train`, or finish it with `--resume`)")
        return latest_checkpoint(run)
    if model == "dpo":
        ckpt = latest_checkpoint(os.path.join(run, "dpo"))
        if not is_completed(run, "dpo") or ckpt is None:
            raise UserError(f"--model dpo: {run} has no finished dpo stage (run `python main.py "
                            "dpo --set dpo.enabled=true`), or export --model finetuned")
        return ckpt
    raise UserError(f"--model must be one of {', '.join(EXPORT_MODELS)}, not '{model}'")


def check_out(out: str, force: bool) -> None:
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} is a file, not a folder")
    if os.path.isdir(out) and os.listdir(out) and not force:
        raise UserError(f"--out {out} exists and is not empty: choose a new folder, or pass "
                        "--force to replace it")


def check_space(folder: str, need: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < need + SPACE_MARGIN:
        raise UserError(f"not enough disk space in {folder} for the export: it needs about "
                        f"{(need + SPACE_MARGIN) / 2**20:.0f} MiB and {free / 2**20:.0f} MiB "
                        "are free")


def merge_dtype(cfg) -> str:
    """The dtype the run computed in (a DTYPES key): the 4-bit compute dtype, else the
    model's load dtype ("auto": bfloat16 on a GPU, float32 on the CPU, as model.py loads)."""
    if cfg.quant.load_in_4bit:
        return cfg.quant.compute_dtype
    if cfg.model.dtype != "auto":
        return cfg.model.dtype
    return "bfloat16" if torch.cuda.is_available() else "float32"


def merged_model(cfg, ckpt: str):
    """Base in the compute dtype (a 4-bit base dequantized), the adapter merged in."""
    m, q = cfg.model, cfg.quant
    dtype = merge_dtype(cfg)
    log.info("export: loading the base in %s%s and merging the adapter", dtype,
             " (NF4, dequantized first)" if q.load_in_4bit else "")
    base = load_base_model(m.name_or_path, m.cache_dir, q.load_in_4bit, q.quant_type,
                           q.double_quant, q.compute_dtype, allow_cpu_fallback=False,
                           dtype=dtype, revision=m.revision,
                           trust_remote_code=m.trust_remote_code)
    if q.load_in_4bit:
        base = base.dequantize(dtype=DTYPES[dtype])
        base.config.__dict__.pop("quantization_config", None)
    merged = load_adapter(base, os.path.join(ckpt, "adapter")).merge_and_unload(safe_merge=True)
    merged.config.dtype = DTYPES[dtype]
    return merged


def model_bytes(model) -> int:
    seen = {}
    for p in model.parameters():  # tied weights once
        seen[p.data_ptr()] = p.numel() * p.element_size()
    return sum(seen.values())


def write_adapter(folder: str, ckpt: str, cfg) -> None:
    """The checkpoint's PEFT files, with the base named as the hub knows it."""
    for name in ADAPTER_FILES:
        shutil.copy2(os.path.join(ckpt, "adapter", name), os.path.join(folder, name))
    path = os.path.join(folder, "adapter_config.json")
    write_json_atomic(path, {**read_json(path), "base_model_name_or_path": base_model_id(cfg)})


def heads_file(cfg, ckpt: str) -> str | None:
    """The heads of the exported checkpoint (a dpo checkpoint carries the SFT heads)."""
    for folder in (ckpt, latest_checkpoint(cfg.run_dir)):
        if folder and os.path.isfile(os.path.join(folder, HEAD_FILE)):
            return os.path.join(folder, HEAD_FILE)
    return None


def write_common(folder: str, cfg, ckpt: str):
    """Tokenizer + chat template and heads, in every kind of export; returns the tokenizer."""
    m = cfg.model
    tok = load_tokenizer(m.tokenizer or m.name_or_path, m.cache_dir, m.revision,
                         m.trust_remote_code)
    tok.save_pretrained(folder)
    heads = heads_file(cfg, ckpt)
    if heads:
        shutil.copy2(heads, os.path.join(folder, HEAD_FILE))
    return tok


def _adapter_bytes(ckpt: str) -> int:
    return sum(os.path.getsize(os.path.join(ckpt, "adapter", n)) for n in ADAPTER_FILES)


def _write(tmp: str, cfg, ckpt: str, model: str, merged, gguf: bool) -> None:
    os.makedirs(tmp)
    tok = write_common(tmp, cfg, ckpt)
    if merged is None:
        write_adapter(tmp, ckpt, cfg)
    else:
        set_pad_in_config(merged, tok)
        merged.save_pretrained(tmp)
    if gguf:
        write_gguf(tmp, merged, tok, cfg.output.run_name)
    write_card(tmp, cfg, cfg.run_dir, model, merged is not None, step_of(ckpt))
    write_json_atomic(os.path.join(tmp, "friend_export.json"), {
        "run": os.path.abspath(cfg.run_dir), "checkpoint": os.path.abspath(ckpt),
        "model": model, "merged": merged is not None, "gguf": gguf,
        "base_model": base_model_id(cfg), "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S")})


def _replace(tmp: str, out: str) -> None:
    """tmp becomes out; an old out (--force) is moved aside first and removed after."""
    old = None
    if os.path.exists(out):
        old = f"{tmp}-old"
        os.replace(out, old)
    os.replace(tmp, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def run_export(cfg, out: str, model: str = "finetuned", merge: bool = False,
               gguf: bool = False, force: bool = False) -> str:
    """Write the export folder; returns its path. Checks everything before writing."""
    ckpt = checkpoint_to_export(cfg, model)
    out = os.path.abspath(out)
    check_out(out, force)
    if gguf and not merge:
        raise UserError("--gguf writes the merged weights: add --merge")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    merged = merged_model(cfg, ckpt) if merge else None
    if gguf:
        check_gguf_arch(merged)
    need = _adapter_bytes(ckpt) if merged is None else model_bytes(merged) * (2 if gguf else 1)
    check_space(parent, need)
    tmp = os.path.join(parent, f".tmp-{os.path.basename(out)}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write(tmp, cfg, ckpt, model, merged, gguf)
        _replace(tmp, out)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise UserError(f"no space left in {parent} while exporting; the partial folder "
                            "was removed") from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"export: {model} of {cfg.run_dir} -> {out}" + (" (merged)" if merge else ""))
    return out
