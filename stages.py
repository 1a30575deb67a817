"""`all`: the stage graph of a run, run in order, skipping what is finished and current.

STAGES is the one table: each stage, the stages whose outputs it reads, and whether it trains;
run_all calls each stage's function by name in that order. Each stage's config sections, the
markers and their fingerprints are markers.py's, beside it. A stage with a `completed/<stage>` marker is skipped unless
--force, provided the config sections it depends on are unchanged (the marker carries their
fingerprint, whichever command finished the stage). A changed evaluation setting reruns eval
and what follows; a changed training setting is an error (pick another output.run_name). An
interrupted training run resumes from its last checkpoint; `training.steps_per_job` ends this
job after that many steps, and the next `all` continues.

    python main.py all --config config/cpu_smoke.json
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

from checkpoint import latest_checkpoint
from config import UserError
from dpo import dpo_dir, run_dpo
from eq_bench import run_eq_bench
from evaluation import run_eval
from loading import load_for_inference
from markers import STAGES as ORDER
from markers import clear_completed, is_completed, read_marker, stage_fingerprint
from report import build_report
from training import run_training


@dataclass(frozen=True)
class Stage:
    name: str
    needs: tuple = ()  # stages whose outputs it reads: when one of them runs, it runs again
    trains: bool = False  # never silently redone over its checkpoints


# the one table: every stage, in the order run_all calls its function (markers.STAGES)
STAGES = {s.name: s for s in (
    Stage("train", trains=True),
    Stage("dpo", needs=("train",), trains=True),
    Stage("eval", needs=("train", "dpo")),
    Stage("eq-bench", needs=("train", "dpo")),
    Stage("pipeline", needs=("train", "dpo", "eval", "eq-bench")))}
assert tuple(STAGES) == ORDER


# ------------------------------------------------------------------ the stage functions
def train_stage(cfg) -> None:
    run_training(cfg, resume=latest_checkpoint(cfg.run_dir) is not None)


def dpo_stage(cfg) -> None:
    run_dpo(cfg, resume=latest_checkpoint(dpo_dir(cfg)) is not None)


def eval_stage(cfg, friend) -> None:
    run_eval(cfg, friend)


def eq_bench_stage(cfg, friend) -> None:
    run_eq_bench(cfg, friend=friend)


def pipeline_stage(cfg) -> None:
    build_report(cfg.run_dir, cfg)


# ------------------------------------------------------------------ skipping and rerunning
def due(cfg, name: str, ran: set, force: bool) -> float | None:
    """When `name` runs now, the time it starts (None: finished and current, skipped); it
    says which either way. `ran`: the stages that ran in this `all`."""
    stage, run_dir = STAGES[name], cfg.run_dir
    redo = force and not stage.trains
    if not ran & set(stage.needs) and not redo and _is_current(
            run_dir, stage, stage_fingerprint(cfg, name)):
        print(f"[all] {name}: already completed, skipped")
        return None
    if redo:
        clear_completed(run_dir, name)
    print(f"[all] {name}: running")
    return time.perf_counter()


def finished(cfg, name: str, ran: set, t0: float) -> bool:
    """After a stage ran: whether it finished (only training stops short, on
    training.steps_per_job); a finished stage joins `ran`."""
    if not is_completed(cfg.run_dir, name):
        print(f"[all] {name}: stopped before the end (training.steps_per_job); run `all` again "
              "to continue")
        return False
    ran.add(name)
    print(f"[all] {name}: done in {time.perf_counter() - t0:.1f} s")
    return True


def _check_force(run_dir: str) -> None:
    """--force redoes evaluation stages; it never silently retrains over checkpoints."""
    if latest_checkpoint(run_dir) and not is_completed(run_dir, "train"):
        return  # an unfinished run: --force resumes it like a plain `all`
    if latest_checkpoint(run_dir):
        print(f"[all] --force: keeping the finished training in {run_dir}; eval, eq-bench and "
              "pipeline run again (remove the folder or choose another output.run_name to "
              "retrain)")


def _is_current(run_dir: str, stage: Stage, fp: str) -> bool:
    """True when the stage finished under these settings; a changed training is an error."""
    marker = read_marker(run_dir, stage.name)
    if marker is None:
        return False
    if marker.get("fingerprint") == fp:
        return True
    if stage.trains:
        raise UserError(f"{run_dir}: stage '{stage.name}' was completed with a different config; "
                        "choose another output.run_name to train with these settings")
    print(f"[all] {stage.name}: config changed since it ran, running again")
    return False


def run_all(cfg, force: bool = False) -> str | None:
    """Entry point of `python main.py all`: each stage function in the table's order, skipped
    when finished and current; returns the report path (None if training stopped early on
    `training.steps_per_job`). Eval and eq-bench share one model load."""
    if force:
        _check_force(cfg.run_dir)
    ran: set = set()
    friend = None
    if (t0 := due(cfg, "train", ran, force)) is not None:
        train_stage(cfg)
        if not finished(cfg, "train", ran, t0):
            return None
    if cfg.dpo.enabled and (t0 := due(cfg, "dpo", ran, force)) is not None:
        dpo_stage(cfg)
        if not finished(cfg, "dpo", ran, t0):
            return None
    if (t0 := due(cfg, "eval", ran, force)) is not None:
        friend = load_for_inference(cfg, require_adapter=True)
        eval_stage(cfg, friend)
        finished(cfg, "eval", ran, t0)
    if (t0 := due(cfg, "eq-bench", ran, force)) is not None:
        friend = friend or load_for_inference(cfg, require_adapter=True)
        eq_bench_stage(cfg, friend)
        finished(cfg, "eq-bench", ran, t0)
    if (t0 := due(cfg, "pipeline", ran, force)) is not None:
        pipeline_stage(cfg)
        finished(cfg, "pipeline", ran, t0)
    report = os.path.join(cfg.run_dir, "report.md")
    print(f"[all] report: {os.path.abspath(report)}")
    return report
