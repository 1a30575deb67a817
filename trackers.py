"""Experiment trackers through accelerate (`training.report_to`): TensorBoard, trackio, W&B,
MLflow and the rest of accelerate's list, never hand-written.

Every row the run logs to its JSONL files goes to each tracker at the same step, under names
that read well in a dashboard: `train/*` and `validation/*` (SFT), `eval/*` and `eq_bench/*`
(the summary at the end, at the SFT run's last step), and `dpo/*` and `dpo_heldout/*` (the
preference stage, a second tracker run `<run name>-dpo`). The resolved
config is the run's hyperparameters. The tracker folders live in `<run>/trackers/`. A resumed
job continues the same tracker run where the tracker allows: TensorBoard writes to the same
folder and purges the steps being redone; W&B, trackio and MLflow get back the run id saved
in `<run>/trackers/ids.json`. A tracker whose package is missing stops the run before step 0.

    python main.py train --config config/cpu_smoke.json --set training.report_to='["tensorboard"]'
"""
from __future__ import annotations

import importlib.util
import os

from accelerate.tracking import LOGGER_TYPE_TO_CLASS

from config import UserError, to_dict
from distributed import make_accelerator
from files import read_json, write_json_atomic

# tracker -> (the module it imports, what to install); tensorboard is in requirements.txt
PACKAGES = {"tensorboard": ("tensorboard", "pip install tensorboard"),
            "trackio": ("trackio", "pip install trackio"), "wandb": ("wandb", "pip install wandb"),
            "mlflow": ("mlflow", "pip install mlflow"), "comet_ml": ("comet_ml",
                                                                     "pip install comet_ml"),
            "aim": ("aim", "pip install aim"), "clearml": ("clearml", "pip install clearml"),
            "dvclive": ("dvclive", "pip install dvclive"),
            "swanlab": ("swanlab", "pip install swanlab")}
RESUMABLE_BY_ID = ("wandb", "trackio", "mlflow")


def check_trackers(report_to: list) -> None:
    """Refuse, naming the package and the install line, a tracker that cannot start."""
    for name in report_to:
        if name not in LOGGER_TYPE_TO_CLASS:
            raise UserError(f"training.report_to: unknown tracker '{name}' (accelerate knows "
                            f"{', '.join(sorted(LOGGER_TYPE_TO_CLASS))})")
        module, install = PACKAGES.get(name, (name, f"pip install {name}"))
        if importlib.util.find_spec(module) is None:
            raise UserError(f"training.report_to: the '{name}' tracker needs the package "
                            f"'{module}', which is not installed: `{install}`")


def tracker_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "trackers")


def tracking_accelerator(t_cfg, run_dir: str):
    """The job's Accelerator with the config's trackers, once their packages are found."""
    check_trackers(t_cfg.report_to)
    return make_accelerator(t_cfg.mixed_precision, t_cfg.report_to, tracker_dir(run_dir))


def hyperparameters(cfg) -> dict:
    """The resolved config, flattened to the scalar values every tracker takes."""
    out = {}

    def walk(d: dict, prefix: str) -> None:
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                walk(v, key)
            else:
                out[key] = v if isinstance(v, (bool, int, float, str)) or v is None else str(v)
    walk(to_dict(cfg), "")
    return out


def tag(prefix: str, key: str) -> str:
    """`prefix/key`, one level deep: DPO's own `dpo` and `dpo/margin` become `dpo/loss` and
    `dpo/margin`, not `dpo/dpo/margin`."""
    if key == prefix:
        return f"{prefix}/loss"
    return key if key.startswith(prefix + "/") else f"{prefix}/{key}"


def scalars(prefix: str, row: dict) -> dict:
    """The numeric fields of a logged row, under their dashboard tags."""
    return {tag(prefix, k): float(v) for k, v in row.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class Trackers:
    """The trackers of one job, started on an Accelerator made with `log_with`. The SFT run
    (with the eval and EQ-Bench summaries) is one tracker run, `<run name>`; the preference
    stage counts its own steps, so it is a second one, `<run name>-dpo`: a resumed DPO job
    purging its steps would otherwise cut the SFT curve."""

    def __init__(self, accelerator, cfg, run_dir: str, resume_step: int = 0,
                 stage: str = "train"):
        self.accelerator, self.on = accelerator, list(cfg.training.report_to)
        if not self.on:
            return
        ids_path = os.path.join(tracker_dir(run_dir), "ids.json")
        every = read_json(ids_path, {})
        ids = every.get(stage, {})
        # a job resumed at step k redoes k+1 on: TensorBoard drops what an earlier job wrote there
        kwargs = {"tensorboard": {"purge_step": resume_step + 1} if resume_step else {},
                  "wandb": {"id": ids.get("wandb"), "resume": "allow",
                            "dir": tracker_dir(run_dir)},
                  "trackio": {"name": ids.get("trackio"), "resume": "allow"},
                  "mlflow": {"run_id": ids.get("mlflow"),
                             "logging_dir": os.path.join(tracker_dir(run_dir), "mlflow")}}
        name = cfg.output.run_name + ("" if stage == "train" else f"-{stage}")
        accelerator.init_trackers(name, hyperparameters(cfg), init_kwargs={
            k: {a: b for a, b in v.items() if b is not None} for k, v in kwargs.items()
            if k in self.on})
        if accelerator.is_main_process:
            write_json_atomic(ids_path, {**every, stage: {**ids, **self._run_ids()}})

    def _run_ids(self) -> dict:
        out = {}
        for name in RESUMABLE_BY_ID:
            if name in self.on:
                run = self.accelerator.get_tracker(name, unwrap=True)
                info = getattr(run, "info", None)  # mlflow's run; wandb's and trackio's have id
                out[name] = getattr(info, "run_id", None) or getattr(run, "id", None) or \
                    getattr(run, "name", None)
        return {k: v for k, v in out.items() if v}

    def log(self, prefix: str, row: dict, step: int) -> None:
        if self.on:
            self.accelerator.log(scalars(prefix, row), step=step)

    def end(self) -> None:
        if self.on:
            self.accelerator.end_training()


def log_summary(cfg, prefix: str, values: dict, step: int) -> None:
    """The eval or EQ-Bench summary at the end, to the run's trackers at its final step."""
    if not cfg.training.report_to:
        return
    trackers = Trackers(tracking_accelerator(cfg.training, cfg.run_dir), cfg, cfg.run_dir)
    trackers.log(prefix, values, step)
    trackers.end()
