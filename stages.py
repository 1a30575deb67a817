"""`all`: train -> dpo (when dpo.enabled) -> eval -> eq-bench -> pipeline, skipping finished
stages, resuming training.

A stage with a `completed/<stage>` marker is skipped unless --force, provided the config
sections it depends on are unchanged (the marker carries their fingerprint, whichever command
finished the stage). A changed evaluation setting reruns eval and what follows; a changed
training setting is an error (pick another output.run_name). An interrupted training run
resumes from its last checkpoint; `training.steps_per_job` ends this job after that many steps,
and the next `all` continues.

    python main.py all --config config/cpu_smoke.json
"""
from __future__ import annotations

import os
import time

from checkpoint import latest_checkpoint
from config import UserError
from runlog import STAGES, clear_completed, is_completed, read_marker, stage_fingerprint

TRAINING_STAGES = ("train", "dpo")  # never silently redone over their checkpoints


def _check_force(run_dir: str) -> None:
    """--force redoes evaluation stages; it never silently retrains over checkpoints."""
    if latest_checkpoint(run_dir) and not is_completed(run_dir, "train"):
        return  # an unfinished run: --force resumes it like a plain `all`
    if latest_checkpoint(run_dir):
        print(f"[all] --force: keeping the finished training in {run_dir}; eval, eq-bench and "
              "pipeline run again (remove the folder or choose another output.run_name to "
              "retrain)")


def _is_current(run_dir: str, stage: str, fp: str) -> bool:
    """True when the stage finished under these settings; a changed training is an error."""
    marker = read_marker(run_dir, stage)
    if marker is None:
        return False
    if marker.get("fingerprint") == fp:
        return True
    if stage in TRAINING_STAGES:
        raise UserError(f"{run_dir}: stage '{stage}' was completed with a different config; "
                        "choose another output.run_name to train with these settings")
    print(f"[all] {stage}: config changed since it ran, running again")
    return False


def run_all(cfg, force: bool = False) -> str | None:
    """Entry point of `python main.py all`; returns the report path (None if training stopped
    early on `training.steps_per_job`)."""
    from dpo import dpo_dir, run_dpo
    from eq_bench import run_eq_bench
    from evaluation import run_eval
    from report import build_report
    from training import run_training

    run_dir = cfg.run_dir
    loaded = {}

    def friend():  # eval and eq-bench share one model load
        if "friend" not in loaded:
            from loading import load_for_inference
            loaded["friend"] = load_for_inference(cfg, require_adapter=True)
        return loaded["friend"]
    actions = {"train": lambda: run_training(cfg, resume=latest_checkpoint(run_dir) is not None),
               "dpo": lambda: run_dpo(cfg, resume=latest_checkpoint(dpo_dir(cfg)) is not None),
               "eval": lambda: run_eval(cfg, friend()),
               "eq-bench": lambda: run_eq_bench(cfg, friend=friend()),
               "pipeline": lambda: build_report(run_dir, cfg)}
    if force:
        _check_force(run_dir)
    upstream_ran = False
    for stage in STAGES:
        if stage == "dpo" and not cfg.dpo.enabled:
            continue
        fp = stage_fingerprint(cfg, stage)
        redo = force and stage not in TRAINING_STAGES
        if not upstream_ran and not redo and _is_current(run_dir, stage, fp):
            print(f"[all] {stage}: already completed, skipped")
            continue
        if redo:
            clear_completed(run_dir, stage)
        t0 = time.perf_counter()
        print(f"[all] {stage}: running")
        actions[stage]()
        if not is_completed(run_dir, stage):  # only training stages stop short (steps_per_job)
            print(f"[all] {stage}: stopped before the end (training.steps_per_job); run `all` "
                  "again to continue")
            return None
        upstream_ran = True
        print(f"[all] {stage}: done in {time.perf_counter() - t0:.1f} s")
    report = os.path.join(run_dir, "report.md")
    print(f"[all] report: {os.path.abspath(report)}")
    return report
