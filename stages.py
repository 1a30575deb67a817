"""`all`: train -> eval -> eq-bench -> pipeline, skipping finished stages, resuming training.

A stage with a `completed/<stage>` marker is skipped unless --force, provided the config
sections it depends on are unchanged. A changed evaluation setting reruns eval and what
follows; a changed training setting is an error (pick another output.run_name, or --force
on an emptied run folder). An interrupted training run resumes from its last checkpoint.

    python main.py all --config config/cpu_smoke.json
"""
from __future__ import annotations

import hashlib
import json
import os
import time

from checkpoint import latest_checkpoint
from config import UserError, to_dict
from runlog import clear_completed, is_completed, marker_path

STAGES = ("train", "eval", "eq-bench", "pipeline")
# config sections whose change invalidates a stage's outputs
DEPENDS = {"train": ("model", "quant", "lora", "data", "mixture", "losses", "training"),
           "eval": ("eval", "decoding", "safety"), "eq-bench": ("eval",), "pipeline": ()}


def stage_fingerprint(cfg, stage: str) -> str:
    d = to_dict(cfg)
    sections = [s for st in STAGES[:STAGES.index(stage) + 1] for s in DEPENDS[st]]
    blob = json.dumps({s: d[s] for s in sections}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _stored_fingerprint(run_dir: str, stage: str):
    with open(marker_path(run_dir, stage), encoding="utf-8") as f:
        return json.load(f).get("fingerprint")


def _stamp(run_dir: str, stage: str, fp: str) -> None:
    path = marker_path(run_dir, stage)
    with open(path, encoding="utf-8") as f:
        info = json.load(f)
    info["fingerprint"] = fp
    with open(path, "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)


def run_all(cfg, force: bool = False) -> str:
    """Entry point of `python main.py all`; returns the report path."""
    from eq_bench import run_eq_bench
    from evaluation import run_eval
    from report import build_report
    from training import run_training

    run_dir = cfg.run_dir
    loaded = {}

    def friend():  # eval and eq-bench share one model load
        if "friend" not in loaded:
            from generation import load_friend
            loaded["friend"] = load_friend(cfg, require_adapter=True)
        return loaded["friend"]
    actions = {"train": lambda: run_training(cfg, resume=latest_checkpoint(run_dir) is not None),
               "eval": lambda: run_eval(cfg, friend()),
               "eq-bench": lambda: run_eq_bench(cfg, friend=friend()),
               "pipeline": lambda: build_report(run_dir)}
    if force:
        for stage in STAGES:
            clear_completed(run_dir, stage)
    upstream_ran = False
    for stage in STAGES:
        fp = stage_fingerprint(cfg, stage)
        if is_completed(run_dir, stage) and not upstream_ran:
            stored = _stored_fingerprint(run_dir, stage)
            if stored == fp:
                print(f"[all] {stage}: already completed, skipped")
                continue
            if stage == "train":
                raise UserError(f"{run_dir}: stage 'train' was completed with a different config;"
                                f" rerun with --force or choose another output.run_name")
            print(f"[all] {stage}: config changed since it ran, running again")
        if stage == "train" and force and latest_checkpoint(run_dir):
            raise UserError(f"--force: {run_dir} already holds checkpoints; remove the folder or "
                            f"choose another output.run_name to train from scratch")
        t0 = time.perf_counter()
        print(f"[all] {stage}: running")
        actions[stage]()
        _stamp(run_dir, stage, fp)
        upstream_ran = True
        print(f"[all] {stage}: done in {time.perf_counter() - t0:.1f} s")
    report = os.path.join(run_dir, "report.md")
    print(f"[all] report: {os.path.abspath(report)}")
    return report
