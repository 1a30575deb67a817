"""Trackers through accelerate: the TensorBoard events, read back with tensorboard's own reader,
hold every scalar of logs/train_metrics.jsonl and logs/eval_metrics.jsonl at its step, once,
across a run split over two jobs; the config is stored as hyperparameters; a tracker whose
package is missing stops the run before step 0 with exit 2."""
import glob
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, tiny_config, tiny_overrides
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dpo import run_dpo
from files import read_jsonl
from trackers import hyperparameters, log_summary, scalars
from training import run_training


def events(logdir: str) -> dict:
    """{tag: [(step, value)]}, by step, from every event file under `logdir`. (Files are read
    in name order, and two jobs in one process can name theirs out of time order: `.10`
    sorts before `.9`; a duplicate step would still show twice.)"""
    acc = EventAccumulator(logdir, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: sorted((e.step, e.value) for e in acc.Scalars(tag))
            for tag in acc.Tags()["scalars"]}


@pytest.mark.slow
def test_tensorboard_holds_every_logged_scalar_once_across_a_resumed_run(tmp_path, data_cache,
                                                                          tiny_model_dir):
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir, [
        "training.max_steps=6", "training.steps_per_job=3", "training.eval_every=3",
        "training.save_every=3", 'training.report_to=["tensorboard"]'])
    run_training(cfg)
    run_training(cfg, resume=True)  # the second job: the same tracker run goes on
    logdir = os.path.join(cfg.run_dir, "trackers", cfg.output.run_name)
    got = events(logdir)
    want = {}
    for prefix, log in (("train", "train_metrics.jsonl"), ("validation", "eval_metrics.jsonl")):
        for row in read_jsonl(os.path.join(cfg.run_dir, "logs", log)):
            for tag, value in scalars(prefix, row).items():
                want.setdefault(tag, []).append((row["step"], value))
    assert want and set(want) == set(got)
    for tag, rows in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in rows], tag  # each step once
        for (_, a), (_, b) in zip(got[tag], rows):
            assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-6,
                                                                      abs_tol=1e-7), tag
    assert [s for s, _ in got["train/loss"]] == [1, 2, 3, 4, 5, 6]
    stored = glob.glob(os.path.join(logdir, "*", "hparams.yml"))
    assert stored and "training.lr:" in Path(stored[0]).read_text()


def test_the_hyperparameters_are_the_resolved_config_flattened(tmp_path, data_cache,
                                                               tiny_model_dir):
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir)
    h = hyperparameters(cfg)
    assert h["training.lr"] == cfg.training.lr and h["lora.r"] == cfg.lora.r
    assert all(isinstance(v, (bool, int, float, str)) or v is None for v in h.values())


def test_a_tracker_without_its_package_stops_the_run_before_step_0(tmp_path, data_cache,
                                                                  tiny_model_dir):
    args = [a for o in tiny_overrides(tmp_path, data_cache, tiny_model_dir,
                                      ['training.report_to=["wandb"]']) for a in ("--set", o)]
    run = subprocess.run([sys.executable, "main.py", "train", "--config",
                          "config/cpu_smoke.json", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 2 and "pip install wandb" in run.stderr, run.stderr[-500:]
    assert not os.path.exists(os.path.join(tmp_path, "cpu_smoke", "checkpoints"))


def test_the_eval_summary_joins_the_run_at_its_final_step(tmp_path, data_cache, tiny_model_dir):
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir, ['training.report_to=["tensorboard"]'])
    log_summary(cfg, "eval", {"emotion/accuracy": 0.5, "perplexity/ed/finetuned": 12.0}, 20)
    got = events(os.path.join(cfg.run_dir, "trackers", cfg.output.run_name))
    assert got["eval/emotion/accuracy"] == [(20, 0.5)] and got["eval/perplexity/ed/finetuned"] \
        == [(20, 12.0)]


@pytest.mark.slow
def test_the_dpo_stage_is_its_own_tracker_run_and_its_resume_leaves_the_sft_curve(
        tmp_path, data_cache, tiny_model_dir):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(
        {"prompt": f"I feel low today ({i}).", "chosen": "I'm sorry, I'm here with you.",
         "rejected": "Get over it."}) + "\n" for i in range(12)))
    overrides = [
        "training.max_steps=6", "training.save_every=6", 'training.report_to=["tensorboard"]',
        "dpo.enabled=true", f"dpo.pairs={pairs}", "dpo.spin_prompts=0", "dpo.safety_prompts=0",
        "dpo.max_steps=4", "dpo.save_every=2", "dpo.batch_size=4", "dpo.grad_accum=1",
        "dpo.eval_every=0", "training.log_every=1"]
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir, overrides)
    run_training(cfg)
    split = tiny_config(tmp_path, data_cache, tiny_model_dir,
                        overrides + ["training.steps_per_job=2"])
    run_dpo(split)
    run_dpo(split, resume=True)  # purges DPO steps 3-4 only, in the DPO tracker run
    sft = events(os.path.join(cfg.run_dir, "trackers", cfg.output.run_name))
    assert [s for s, _ in sft["train/loss"]] == [1, 2, 3, 4, 5, 6]
    got = events(os.path.join(cfg.run_dir, "trackers", cfg.output.run_name + "-dpo"))
    rows = read_jsonl(os.path.join(cfg.run_dir, "dpo", "logs", "train_metrics.jsonl"))
    assert [s for s, _ in got["dpo/loss"]] == [r["step"] for r in rows] == [1, 2, 3, 4]
    assert [v for _, v in got["dpo/margin"]] == pytest.approx([r["dpo/margin"] for r in rows])
