"""`all` over runs started elsewhere: after `train`, across `steps_per_job` jobs, with --force."""
import os

import pytest
from conftest import ROOT, tiny_config

FAST = ["training.max_steps=4", "eval.max_new_tokens=4", "decoding.reflect_max_new_tokens=2",
        "eval.eq_bench_attempts=1", "eval.bootstrap_samples=50", "eval.eq_bench_max_items=2",
        "eval.prompt_sets=" + os.path.join(ROOT, "prompts", "qualitative_prompts.jsonl"),
        "eval.eq_bench_questions=" + os.path.join(ROOT, "data", "demo", "eq_bench_questions.json")]


@pytest.mark.slow
def test_train_then_all_then_all_again_skips_everything_it_can(tmp_path, data_cache,
                                                               tiny_model_dir, capsys):
    from stages import run_all
    from training import run_training
    run_training(tiny_config(tmp_path, data_cache, tiny_model_dir, FAST))
    capsys.readouterr()
    run_all(tiny_config(tmp_path, data_cache, tiny_model_dir, FAST))
    out = capsys.readouterr().out
    assert "train: already completed, skipped" in out and out.count(": running") == 3
    run_all(tiny_config(tmp_path, data_cache, tiny_model_dir, FAST))
    assert capsys.readouterr().out.count("already completed, skipped") == 4
    # --force redoes the evaluation stages and keeps the finished training
    run_all(tiny_config(tmp_path, data_cache, tiny_model_dir, FAST), force=True)
    out = capsys.readouterr().out
    assert "train: already completed, skipped" in out and out.count(": running") == 3


@pytest.mark.slow
def test_all_with_steps_per_job_twice_finishes_the_run(tmp_path, data_cache, tiny_model_dir,
                                                    capsys):
    from stages import run_all
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir, FAST + ["training.steps_per_job=2"])
    assert run_all(cfg) is None
    out = capsys.readouterr().out
    assert "stopped before the end" in out and "eval: running" not in out
    assert os.path.isdir(os.path.join(cfg.run_dir, "checkpoints", "step_000002"))
    report = run_all(tiny_config(tmp_path, data_cache, tiny_model_dir,
                                 FAST + ["training.steps_per_job=2"]))
    out = capsys.readouterr().out
    assert os.path.isfile(report) and "[train] resumed from" in out
    assert out.count(": running") == 4 and "stopped" not in out
    assert os.path.isdir(os.path.join(cfg.run_dir, "checkpoints", "step_000004"))
