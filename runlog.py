"""Run-folder logs: append-only JSONL metrics and the manifest (git hash, package versions,
device, and a section per stage). Stage markers are markers.py's; the console line is
console.py's.

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess

import torch

from files import read_json, read_jsonl, write_json_atomic, write_jsonl_atomic

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
    manifest = read_json(path, {})
    manifest.update({"git": git_info(), "packages": package_versions(), "device": device_info()})
    manifest.setdefault("stages", {})[stage] = {
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **extra}
    write_json_atomic(path, manifest)
