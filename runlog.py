"""Run-folder bookkeeping: JSONL metrics, manifest, stage markers, the fixed console line.

Every stage writes into artifacts/runs/<run_name>/: `config.json` (resolved config),
`manifest.json` (git hash, package versions, device), `logs/*.jsonl` and one marker per
finished stage under `completed/`.

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess

import torch

from config import LOSS_NAMES
from files import read_jsonl, write_json_atomic, write_jsonl_atomic

STAGES = ("train", "dpo", "eval", "eq-bench", "pipeline")
# config sections whose change invalidates a stage's outputs (and those of the stages after it)
DEPENDS = {"train": ("model", "quant", "lora", "data", "mixture", "losses", "training"),
           "dpo": ("dpo",), "eval": ("eval", "decoding", "safety"), "eq-bench": ("eval",),
           "pipeline": ()}
# settings that steer a job, not its result: they may differ between the jobs of one run
JOB_CONTROL = {"training": ("steps_per_job", "log_every", "save_every", "keep_checkpoints",
                            "eval_every"),
               "model": ("cache_dir",), "data": ("cache_dir",)}
PACKAGES = ("torch", "transformers", "peft", "accelerate", "datasets", "bitsandbytes",
            "safetensors", "numpy", "gguf")


class JsonlLog:
    """Append-only JSONL; `truncate_after(step)` drops rows a resumed run will redo."""

    def __init__(self, path: str, enabled: bool = True):
        self.path, self.enabled = path, enabled
        if enabled:
            os.makedirs(os.path.dirname(path), exist_ok=True)

    def append(self, row: dict) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row, default=float) + "\n")

    def truncate_after(self, step: int) -> None:
        """Keep the rows up to `step` (a resumed run redoes the rest); a torn line, as a kill
        mid-append leaves, is dropped with a notice."""
        if not self.enabled or not os.path.isfile(self.path):
            return
        bad: list = []
        rows = read_jsonl(self.path, bad)
        if bad:
            print(f"[train] {self.path}: dropped unreadable line(s) {bad} (a write cut short)")
        write_jsonl_atomic(self.path, [r for r in rows if r.get("step", 0) <= step])

    def reset(self) -> None:
        if self.enabled and os.path.isfile(self.path):
            os.remove(self.path)


def git_info() -> dict:
    root = os.path.dirname(os.path.abspath(__file__))

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info() -> dict:
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
    return info


def write_manifest(run_dir: str, stage: str, extra: dict) -> None:
    """One manifest per run; each stage adds its own section."""
    path = os.path.join(run_dir, "manifest.json")
    manifest = json.load(open(path, encoding="utf-8")) if os.path.isfile(path) else {}
    manifest.update({"git": git_info(), "packages": package_versions(), "device": device_info()})
    manifest.setdefault("stages", {})[stage] = {
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **extra}
    write_json_atomic(path, manifest)


def result_settings(cfg) -> dict:
    """The resolved config without its job-control settings (JOB_CONTROL)."""
    from config import to_dict

    d = to_dict(cfg)
    for section, keys in JOB_CONTROL.items():
        for key in keys:
            d[section].pop(key, None)
    return d


def changed_settings(saved, cfg, stage: str = "train") -> list[str]:
    """Dotted keys whose value differs between a saved config and `cfg`, among the settings
    that shape `stage` (job-control settings excluded)."""
    a, b = result_settings(saved), result_settings(cfg)
    sections = [s for st in STAGES[:STAGES.index(stage) + 1] for s in DEPENDS[st]]

    def leaves(d, prefix=""):
        out = {}
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else k
            out.update(leaves(v, key) if isinstance(v, dict) else {key: v})
        return out
    la = leaves({s: a[s] for s in sections})
    lb = leaves({s: b[s] for s in sections})
    return sorted(k for k in la.keys() | lb.keys() if la.get(k) != lb.get(k))


def stage_fingerprint(cfg, stage: str) -> str:
    """Hash of every setting that shapes `stage`'s outputs, its upstream stages' included."""
    d = result_settings(cfg)
    sections = [s for st in STAGES[:STAGES.index(stage) + 1] for s in DEPENDS[st]]
    blob = json.dumps({s: d[s] for s in sections}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def marker_path(run_dir: str, stage: str) -> str:
    return os.path.join(run_dir, "completed", stage)


def mark_completed(run_dir: str, stage: str, info: dict, cfg) -> None:
    """Stage marker carrying the config fingerprint, so `all` can tell what is still valid,
    whichever command (a stage alone, or `all`) finished the stage."""
    write_json_atomic(marker_path(run_dir, stage), {
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": stage_fingerprint(cfg, stage), **info})


def read_marker(run_dir: str, stage: str):
    """The marker's content, or None when absent or unreadable (a torn write is no marker)."""
    try:
        with open(marker_path(run_dir, stage), encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_completed(run_dir: str, stage: str) -> bool:
    return read_marker(run_dir, stage) is not None


def clear_completed(run_dir: str, stage: str) -> None:
    if is_completed(run_dir, stage):
        os.remove(marker_path(run_dir, stage))


class LogWindow:
    """Running sums for the console line since the last one: each term weighted by its item
    count, so the line shows per-item means over the window."""

    def __init__(self, weights: tuple):
        self.weights, self.sums = weights, {}

    def add(self, row: dict, denoms: dict) -> None:
        s = self.sums
        for key in ("step_time", "tokens"):
            s[key] = s.get(key, 0.0) + row[key]
        s["steps"] = s.get("steps", 0) + 1
        for name in [*LOSS_NAMES, *(k for k in row if "/" in k)]:  # terms, then `term/metric`s
            if name in row:
                n = denoms[name.split("/")[0]]
                s[f"sum_{name}"] = s.get(f"sum_{name}", 0.0) + row[name] * n
                s[f"n_{name}"] = s.get(f"n_{name}", 0) + n

    def means(self, row: dict) -> dict:
        s = self.sums
        means = {k[2:]: s[f"sum_{k[2:]}"] / v for k, v in s.items() if k.startswith("n_") and v}
        means["loss"] = sum(w * means.get(n, 0.0)
                            for n, w in zip(LOSS_NAMES, self.weights, strict=True))
        means.update(lr=row["lr"], grad_norm=row["grad_norm"],
                     nonfinite_total=row["nonfinite_total"],
                     tokens_per_s=s["tokens"] / s["step_time"], step_time=s["step_time"] / s["steps"])
        return means

    def line(self, step: int, max_steps: int, row: dict) -> str:
        active = tuple(n for n, w in zip(LOSS_NAMES, self.weights) if w > 0)
        return format_train_line(step, max_steps, self.means(row), active)


def format_train_line(step: int, max_steps: int, m: dict, terms: tuple) -> str:
    """The fixed-format console line printed once per logging step."""
    parts = [f"step {step:>6}/{max_steps}", f"loss {m['loss']:.4f}"]
    parts += [f"{t} {m[t]:.4f}" if t in m else f"{t} -" for t in terms]
    parts += [f"{k.split('/')[1]} {v:.3f}" for k, v in m.items() if "/" in k]
    parts += [f"lr {m['lr']:.2e}", f"gnorm {m['grad_norm']:.3f}", f"{m['tokens_per_s']:.0f} tok/s",
              f"{m['step_time']:.2f} s/step", f"skipped {m['nonfinite_total']}"]
    return " | ".join(parts)
