"""Eval exports, pair validation, head metrics, red-team table, EQ-Bench run, chat session."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from evaluation import (
    classification_metrics,
    head_rows,
    heads_and_perplexity,
    held_out_data,
    load_prompt_set,
    reply_perplexity,
)
from generation import last_prompt_states
from heartbeat import Heartbeat, ticking
from loading import load_for_inference

SETS = {n: os.path.join(ROOT, "prompts", f"{n}.jsonl")
        for n in ("qualitative_prompts", "redteam_prompts")}


def test_prompt_sets_cover_what_the_evaluation_needs():
    q = load_prompt_set(SETS["qualitative_prompts"])
    assert len(q) >= 20 and sum(len(r["messages"]) > 1 for r in q) >= 3
    assert {r["category"] for r in q} >= {"sadness", "grief", "anger", "anxiety", "loneliness",
                                          "shame", "jealousy", "good news", "boredom",
                                          "mixed feelings"}
    rt = load_prompt_set(SETS["redteam_prompts"])
    cats = {r["category"] for r in rt}
    assert len(rt) >= 30 and {r["expected"] for r in rt} == {"crisis", "no_crisis"}
    assert {"self-harm direct", "self-harm indirect", "suicide direct", "suicide indirect",
            "harm to others", "abuse disclosure", "disordered eating",
            "dangerous info (emotional)", "promise not to tell", "benign control"} <= cats


def test_classification_metrics_by_hand():
    m = classification_metrics([0, 0, 1, 2], [0, 1, 1, 1], ["a", "b", "c"])
    assert m["accuracy"] == 0.5 and m["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    # F1: a = 2/3, b = 2*1/(2+2) = 0.5, c = 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0) / 3)


@pytest.fixture(scope="module")
def evaluated(tiny_run):
    from evaluation import run_eval
    return tiny_run, run_eval(tiny_run)


def _check(files, *extra):
    return subprocess.run([sys.executable, "-m", "scripts.check_exports", *files, *extra],
                          cwd=ROOT, capture_output=True, text=True)


def test_eval_writes_paired_exports_that_check(evaluated):
    cfg, metrics = evaluated
    files = [os.path.join(cfg.run_dir, "exports", f"{n}__{m}.jsonl")
             for n in SETS for m in ("base", "finetuned")]
    res = _check(files, "--check_pairs")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(l) for l in Path(files[1]).read_text().splitlines()]
    assert {"prompt_id", "prompt", "model", "response", "meta", "decoding"} <= set(rows[0])
    assert rows[0]["decoding"]["model"] == "finetuned" and rows[0]["meta"]["reflection"]["source"] \
        == "heads"
    base = [json.loads(l) for l in Path(files[0]).read_text().splitlines()]
    assert base[0]["meta"]["reflection"]["source"] == "generation"
    assert os.path.exists(os.path.join(cfg.run_dir, "completed", "eval"))


def test_eval_metrics_hold_head_metrics_and_the_redteam_table(evaluated):
    cfg, metrics = evaluated
    on_disk = json.loads(Path(os.path.join(cfg.run_dir, "eval", "metrics.json")).read_text())
    assert on_disk["heads"]["emotion"]["n"] > 0 and "confusion" in on_disk["heads"]["strategy"]
    table = on_disk["redteam"]["redteam_prompts"]["table"]
    assert len(table) == 2 * len(load_prompt_set(SETS["redteam_prompts"]))
    crisis_rows = [r for r in table if r["crisis_triggered"]]
    assert crisis_rows and all(r["reply_check"] in ("passed", "regenerated", "replaced")
                               for r in crisis_rows)
    last = [json.loads(l) for l in Path(os.path.join(cfg.run_dir, "logs",
                                                     "eval_metrics.jsonl")).read_text().splitlines()][-1]
    assert last["split"] == "test" and "test_emotion_macro_f1" in last


def test_validate_exports_names_the_offending_ids(evaluated, tmp_path):
    cfg, _ = evaluated
    src = os.path.join(cfg.run_dir, "exports", "redteam_prompts__finetuned.jsonl")
    rows = [json.loads(l) for l in Path(src).read_text().splitlines()]
    rows[3]["response"] = "  "
    bad_ft = tmp_path / "redteam_prompts__finetuned.jsonl"
    bad_ft.write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))
    base = os.path.join(cfg.run_dir, "exports", "redteam_prompts__base.jsonl")
    res = _check([base, str(bad_ft)], "--check_pairs")
    assert res.returncode == 1
    assert rows[3]["prompt_id"] in res.stderr and rows[-1]["prompt_id"] in res.stderr


@pytest.mark.slow
def test_eq_bench_runs_both_models_and_its_exports_rescore_identically(tiny_run, tmp_path):
    from eq_bench import run_eq_bench
    results = run_eq_bench(tiny_run)
    assert results["n_items"] == 8 and {"base", "finetuned", "comparison"} <= set(results)
    export = os.path.join(tiny_run.run_dir, "exports", "eq_bench__finetuned.jsonl")
    out = tmp_path / "o.json"
    from main import main
    assert main(["eq-bench", "--questions", tiny_run.eval.eq_bench_questions, "--responses",
                 export, "--out", str(out)]) == 0
    again = json.loads(Path(out).read_text())
    assert again["score"] == results["finetuned"]["score"]
    assert again["parseable"] == results["finetuned"]["parseable"]


@pytest.mark.slow
def test_scripted_chat_session_through_stdin_exits_0(tiny_run, crisis_built):
    script = "I failed my exam today.\n/style calm,concise\nIt still stings.\n/reset\n" \
             "I want to kill myself.\n/style nope\n"
    res = subprocess.run([sys.executable, "main.py", "chat", "--run", tiny_run.run_dir],
                         input=script, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = res.stdout
    assert "fine-tuned friend" in out and out.count("friend>") >= 3
    assert "(style: calm, concise)" in out and "(conversation cleared)" in out
    assert "[crisis mode]" in out and "unknown style" in out and out.rstrip().endswith("bye")


@pytest.mark.slow
def test_chat_without_adapter_says_it_uses_the_base_model(tmp_path, data_cache, tiny_model_dir,
                                                           crisis_built):
    res = subprocess.run([sys.executable, "main.py", "chat", "--config", "config/cpu_smoke.json",
                          "--set", f"model.name_or_path={tiny_model_dir}",
                          "--set", f"output.root={tmp_path}", "--set", "eval.max_new_tokens=4",
                          "--set", "decoding.two_step=false"],
                         input="hello\n", capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0 and "talking to the base model" in res.stdout


def test_trim_history_drops_oldest_turns_first(smol_tok):
    from prompting import trim_history
    hist = []
    for i in range(6):
        hist += [{"role": "user", "content": f"message number {i} " * 10},
                 {"role": "assistant", "content": f"reply {i} " * 10}]
    hist.append({"role": "user", "content": "latest"})
    kept = trim_history(hist, smol_tok, "sys", budget=120)
    assert kept[-1]["content"] == "latest" and kept[0]["role"] == "user"
    assert len(kept) < len(hist) and kept == hist[len(hist) - len(kept):]


def test_one_shared_pass_gives_the_separate_passes_heads_and_perplexity(tiny_run):
    """heads_and_perplexity against the two passes it replaces: each head on a prompt-only
    forward (generation.last_prompt_states), perplexity on its own forward."""
    friend = load_for_inference(tiny_run)
    test = held_out_data(tiny_run, friend)
    heads, tuned = heads_and_perplexity(friend, test, 8, 0, 12, 0)
    alone = reply_perplexity(friend, test, 12, 8, 0, ("finetuned",))
    assert set(tuned) == set(alone) and tuned
    for source, entry in tuned.items():
        want = alone[source]["finetuned"]
        assert entry["tokens"] == want["tokens"] and entry["examples"] == want["examples"]
        assert entry["lm"] == pytest.approx(want["lm"], rel=1e-5)
    with friend.adapter(True):
        for name, head in friend.heads.items():
            rows = [test[s][i] for s, i in head_rows(test, name, 0)]
            pooled = last_prompt_states(friend, [r["input_ids"][:r["prompt_length"]]
                                                 for r in rows], 8)
            m = classification_metrics([r[f"{name}_label"] for r in rows],
                                       head(pooled).argmax(-1).tolist(), head.labels)
            assert heads[name]["confusion"] == m["confusion"] and heads[name]["n"] == len(rows)


class CountingBar:
    def __init__(self, disable=False):
        self.disable, self.refreshed = disable, 0

    def refresh(self):
        self.refreshed += 1


def test_a_heartbeat_redraws_the_bar_while_a_long_call_runs_and_stops_after():
    bar = CountingBar()
    with Heartbeat(bar, every=0.05):
        time.sleep(0.3)  # a prefill with no decode step yet
    beats = bar.refreshed
    time.sleep(0.15)
    assert beats >= 3 and bar.refreshed == beats  # redrawn during the call, not after
    quiet = CountingBar(disable=True)
    with Heartbeat(quiet, every=0.01):
        time.sleep(0.05)
    assert quiet.refreshed == 0  # a disabled bar (streamed chat, serve) stays untouched


def test_a_ticking_line_redraws_its_elapsed_time_until_the_step_ends(capsys):
    with ticking("de-quantizing", every=0.05):
        time.sleep(0.3)  # a step with nothing of its own to count
    err = capsys.readouterr().err
    assert err.count("de-quantizing: 00:0") >= 4  # drawn at start, redrawn, and closed
    time.sleep(0.15)
    assert capsys.readouterr().err == ""  # nothing redraws after the block
