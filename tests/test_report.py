"""Pipeline report on hand-made run folders, the ablation comparison, and `all` skipping."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, tiny_config

from config import save_config
from config_load import load_config

SECTIONS = ["## Configuration", "## Data and mixture", "## Training", "## EQ-Bench v2",
            "## Heads (test splits)", "## Exports", "## Red team",
            "## Conversations: base vs fine-tuned"]


def _jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def _json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


def make_run(root, name, emotion_weight=0.2, eq_delta=3.0):
    run = os.path.join(root, name)
    cfg = load_config(os.path.join(ROOT, "config", "cpu_smoke.json"),
                      [f"output.root={root}", f"output.run_name={name}",
                       f"losses.emotion={emotion_weight}"])
    save_config(cfg, os.path.join(run, "config.json"))
    stats = {"rows_read": 10, "examples": 8, "skipped": {"bad_json": 2}, "dropped": {}}
    _json(os.path.join(run, "manifest.json"), {"git": {"commit": "abc", "dirty": False},
                                               "device": {"cpu_count": 2}, "stages": {"train": {
        "data_stats": {"ed": {"train": stats, "validation": stats, "test": stats}},
        "mixture_probabilities": {"ed": 1.0}}}})
    _jsonl(os.path.join(run, "logs", "train_metrics.jsonl"),
           [{"step": s, "lm": 3 - s / 20, "strategy": 2 - s / 40, "loss": 3.4 - s / 20,
             "nonfinite_total": 0} for s in range(1, 21)])
    _jsonl(os.path.join(run, "logs", "eval_metrics.jsonl"),
           [{"step": 0, "lm": 3.1, "perplexity": 22.2, "strategy_accuracy": 0.2},
            {"step": 20, "lm": 2.1, "perplexity": 8.2, "strategy_accuracy": 0.3},
            {"step": 20, "split": "test", "test_strategy_accuracy": 0.3}])
    convs = [{"id": f"q{i}", "messages": [{"role": "user", "content": f"hello {i}"}]}
             for i in range(4)]
    for model in ("base", "finetuned"):
        _jsonl(os.path.join(run, "exports", f"qualitative_prompts__{model}.jsonl"),
               [{"prompt_id": c["id"], "prompt": c["messages"], "model": model,
                 "response": f"{model} reply to {c['id']} " * (2 if model == "base" else 3),
                 "meta": {"category": "sadness", "crisis_mode": False},
                 "decoding": {"model": model}} for c in convs])
    table = [{"prompt_id": "rt1", "category": "suicide direct", "model": m, "expected": "crisis",
              "risk_level": "high", "crisis_triggered": True, "as_expected": True,
              "reply_check": "replaced"} for m in ("base", "finetuned")]
    cm = {"n": 4, "accuracy": 0.5, "macro_f1": 0.4, "labels": ["a", "b"],
          "confusion": [[1, 1], [1, 1]]}
    _json(os.path.join(run, "eval", "metrics.json"), {
        "heads": {"strategy": cm, "emotion": cm},
        "redteam": {"redteam_prompts": {"summary": {m: {
            "crisis_recall": 1.0, "benign_false_triggers": 0, "n_benign": 0,
            "reply_outcomes": {"passed": 0, "regenerated": 0, "replaced": 1}}
            for m in ("base", "finetuned")}, "table": table}}})
    items = {str(i): {"score": 5.0 + i} for i in range(1, 6)}
    tuned = {str(i): {"score": 5.0 + i + eq_delta / 10} for i in range(1, 6)}
    _json(os.path.join(run, "eq_bench", "results.json"), {
        "questions": "q.json", "n_items": 5,
        "base": {"score": 70.0, "parseable": 5, "n_items": 5, "parse_rate": 1.0, "valid": True,
                 "items": items},
        "finetuned": {"score": 70.0 + eq_delta, "parseable": 5, "n_items": 5, "parse_rate": 1.0,
                      "valid": True, "items": tuned},
        "comparison": {"delta_total": eq_delta, "paired_items": 5, "paired_delta": eq_delta,
                       "ci95": [eq_delta, eq_delta]}})
    return run


def test_report_has_every_section_and_nonempty_figures(tmp_path):
    from report import build_report
    run = make_run(str(tmp_path), "handmade")
    text = Path(build_report(run)).read_text()
    for s in SECTIONS:
        assert s in text, s
    assert "Missing" not in text and "all exports valid" in text
    assert "0.46" in text and "0.29-0.35" in text  # published baselines next to ours
    assert "| 73.00 |" in text and "+3.00" in text
    for name in ("loss", "eq_bench_items", "lengths", "confusion_emotion", "confusion_strategy"):
        path = os.path.join(run, "figures", f"{name}.png")
        assert os.path.getsize(path) > 1000
        assert f"figures/{name}.png" in text
    assert "hello 0" in text and "finetuned reply to q0" in text


def test_report_names_a_missing_stage_and_is_still_written(tmp_path):
    from report import build_report
    run = make_run(str(tmp_path), "no_eq")
    os.remove(os.path.join(run, "eq_bench", "results.json"))
    text = Path(build_report(run)).read_text()
    assert "**Missing: the EQ-Bench stage has no outputs in this run.**" in text
    for s in SECTIONS:
        assert s in text
    assert not os.path.exists(os.path.join(run, "figures", "eq_bench_items.png"))


def test_report_flags_broken_pairs(tmp_path):
    from report import build_report
    run = make_run(str(tmp_path), "broken")
    path = os.path.join(run, "exports", "qualitative_prompts__finetuned.jsonl")
    rows = [json.loads(l) for l in Path(path).read_text().splitlines()][:-1]
    _jsonl(path, rows)
    assert "ids not in both exports: ['q3']" in Path(build_report(run)).read_text()


@pytest.mark.slow
def test_compare_puts_both_runs_in_one_table(tmp_path):
    a = make_run(str(tmp_path), "full", 0.2, 3.0)
    b = make_run(str(tmp_path), "no_emotion", 0.0, -1.5)
    res = subprocess.run([sys.executable, "main.py", "pipeline", "--compare", a, b, "--out",
                          str(tmp_path / "cmp.md")], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    table = Path(tmp_path / "cmp.md").read_text()
    rows = [l for l in table.splitlines() if l.startswith("| full") or l.startswith("| no_emotion")]
    assert len(rows) == 2
    assert "1.0 / 0.2 / 0.2 / 0.0" in rows[0] and "1.0 / 0.0 / 0.2 / 0.0" in rows[1]
    assert "+3.00" in rows[0] and "-1.50" in rows[1] and "73.00" in rows[0]


@pytest.mark.slow
def test_all_runs_every_stage_then_skips_them(tmp_path, data_cache, tiny_model_dir, capsys):
    from stages import run_all
    overrides = ["training.max_steps=2", "eval.max_new_tokens=4",
                 "decoding.reflect_max_new_tokens=2", "eval.eq_bench_attempts=1",
                 "eval.bootstrap_samples=50",
                 "eval.eq_bench_questions=" + os.path.join(ROOT, "data", "demo", "eq_bench_questions.json")]
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir, overrides)
    report = run_all(cfg)
    assert os.path.isfile(report)
    first = capsys.readouterr().out
    assert first.count(": running") == 4
    run_all(tiny_config(tmp_path, data_cache, tiny_model_dir, overrides))
    second = capsys.readouterr().out
    assert second.count("already completed, skipped") == 4 and ": running" not in second
    changed = tiny_config(tmp_path, data_cache, tiny_model_dir, overrides + ["training.lr=0.01"])
    from config import UserError
    with pytest.raises(UserError, match="different config"):
        run_all(changed)
    # an eval-only change reruns eval and what follows, not training
    run_all(tiny_config(tmp_path, data_cache, tiny_model_dir,
                        overrides + ["decoding.temperature=0.5"]))
    third = capsys.readouterr().out
    assert "train: already completed" in third and "[all] eval: running" in third


def test_an_invalid_eq_bench_run_reads_as_invalid_everywhere(tmp_path):
    from report import build_report
    from report_compare import compare_runs
    run = make_run(str(tmp_path), "invalid")
    path = os.path.join(run, "eq_bench", "results.json")
    eq = json.loads(Path(path).read_text())
    eq["base"].update(valid=False, parseable=3, parse_rate=0.6)
    Path(path).write_text(json.dumps(eq))
    text = Path(build_report(run)).read_text()
    assert "70.00 (not a valid score: 3/5 parseable, below 83.33%)" in text
    assert "**Not a valid comparison: the base run is not valid.**" in text
    line = next(l for l in text.splitlines() if "Paired delta" in l)
    assert "bootstrap 95% interval [+3.00, +3.00]" in line.split("Difference of the two")[0]
    table = Path(compare_runs([run], str(tmp_path / "cmp.md"))).read_text()
    assert "not a valid score" in table and "not valid (a run is below 83.33%)" in table


def test_a_run_trained_on_fixtures_carries_the_smoke_caveat(tmp_path):
    from report import build_report
    run = make_run(str(tmp_path), "smoke")  # cpu_smoke.json: output.smoke
    text = Path(build_report(run)).read_text()
    assert "**Smoke run.**" in text.split("## Configuration")[0]
    assert "is the same for every model" in text and "replaced by the fixed safe message 1" in text


def test_a_run_with_the_dpo_stage_gets_its_section_column_curves_and_both_deltas(tmp_path):
    from report import build_report
    run = make_run(str(tmp_path), "dpo")
    _jsonl(os.path.join(run, "dpo", "logs", "train_metrics.jsonl"),
           [{"step": s, "loss": 0.69 - s / 100, "dpo": 0.69 - s / 100, "dpo/margin": s / 50,
             "dpo/accuracy": 0.5 + s / 40, "dpo/chosen_logp": -20.0 + s / 10,
             "dpo/rejected_logp": -20.0 - s / 10, "nonfinite_total": 0} for s in range(1, 11)])
    _jsonl(os.path.join(run, "dpo", "logs", "eval_metrics.jsonl"),
           [{"step": s, "heldout_loss": 0.6931 - s / 100, "heldout_accuracy": s / 10,
             "heldout_margin": s / 50, "heldout_chosen_logp": -20.0, "heldout_rejected_logp": -21.0,
             "heldout_pairs_n": 6} for s in (0, 5, 10)])
    _json(os.path.join(run, "dpo", "pairs_info.json"),
          {"counts": {"spin_pairs": 24, "safety_pairs": 1, "safety_no_passing_sample": 7}})
    _json(os.path.join(run, "completed", "dpo"), {"fingerprint": "x"})
    eq_path = os.path.join(run, "eq_bench", "results.json")
    eq = json.loads(Path(eq_path).read_text())
    eq["dpo"] = dict(eq["finetuned"], score=75.0)
    eq["comparison_dpo_vs_base"] = {"delta_total": 5.0, "paired_items": 5, "paired_delta": 5.0,
                                    "ci95": [4.0, 6.0]}
    eq["comparison_dpo_vs_sft"] = {"delta_total": 2.0, "paired_items": 5, "paired_delta": 2.0,
                                   "ci95": [1.0, 3.0]}
    Path(eq_path).write_text(json.dumps(eq))
    text = Path(build_report(run)).read_text()
    assert "spin_pairs 24, safety_pairs 1, safety_no_passing_sample 7" in text
    assert "| 10 | 0.593 | 1.000 |" in text  # held-out loss and reward accuracy at step 10
    eq_lines = [line for line in text.splitlines() if "SFT+DPO" in line]
    assert any("75.00" in line for line in eq_lines), eq_lines
    assert any("(SFT+DPO - base) over the 5 items parseable in both runs: 5.00, bootstrap 95% "
               "interval [+4.00, +6.00]" in line for line in eq_lines), eq_lines
    assert any("(SFT+DPO - fine-tuned) over the 5 items parseable in both runs: 2.00, bootstrap "
               "95% interval [+1.00, +3.00]" in line for line in eq_lines), eq_lines
    assert os.path.getsize(os.path.join(run, "figures", "dpo.png")) > 0


def test_the_heads_section_says_how_the_heads_started(tmp_path):
    from report import build_report
    run = make_run(str(tmp_path), "fitted")
    assert "started from random weights" in Path(build_report(run)).read_text()
    _json(os.path.join(run, "logs", "head_fit.json"), {"emotion": {
        "train_rows": 1500, "val_rows": 300, "l2": 0.1, "val_accuracy": 0.48,
        "val_majority": 0.3333, "seconds": 243.7}})
    text = " ".join(Path(build_report(run)).read_text().split())
    assert ("emotion on 1500 train rows (L2 0.1 chosen on 300 validation rows: accuracy 0.480 "
            "vs majority 0.333)") in text and "random weights" not in text


def test_an_eq_bench_file_with_one_model_reports_it_without_a_per_item_plot(tmp_path):
    from report import build_report
    run = make_run(str(tmp_path), "one_model")
    path = os.path.join(run, "eq_bench", "results.json")
    eq = json.loads(Path(path).read_text())
    for key in ("base", "comparison"):
        del eq[key]
    Path(path).write_text(json.dumps(eq))
    text = Path(build_report(run)).read_text()
    section = text.split("## EQ-Bench v2")[1].split("\n## ")[0]
    assert "73.00" in section and "5/5" in section and "Paired delta" not in section
    assert "eq_bench_items.png" not in section
    assert not os.path.exists(os.path.join(run, "figures", "eq_bench_items.png"))
