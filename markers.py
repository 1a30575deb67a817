"""Which stages of a run have finished, and under which settings: the stage order and the
config sections each depends on, one marker per finished stage under `<run>/completed/`
carrying the fingerprint of those settings, and the comparison `--resume` and `all` make.
stages.py runs the stages in this order; each stage marks itself finished here, whichever
command ran it.

    python main.py all --config config/cpu_smoke.json
"""
from __future__ import annotations

import datetime as _dt
import json
import os

from config import to_dict
from files import fingerprint, write_json_atomic

# the stages of a run, in order (stages.py holds what each one runs)
STAGES = ("train", "dpo", "eval", "eq-bench", "pipeline")
# config sections whose change invalidates a stage's outputs (and those of the stages after it)
DEPENDS = {"train": ("model", "quant", "lora", "data", "mixture", "losses", "training"),
           "dpo": ("dpo",), "eval": ("eval", "decoding", "safety"), "eq-bench": ("eval",),
           "pipeline": ()}
# settings that steer a job, not its result: they may differ between the jobs of one run
JOB_CONTROL = {"training": ("steps_per_job", "log_every", "save_every", "keep_checkpoints",
                            "eval_every", "report_to"),
               "model": ("cache_dir",), "data": ("cache_dir",)}


def result_settings(cfg) -> dict:
    """The resolved config without its job-control settings (JOB_CONTROL)."""
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
    return fingerprint({s: d[s] for s in sections})


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
