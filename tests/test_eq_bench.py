"""EQ-Bench v2 scoring and prompt handling, checked against hand-made answers."""
import json
import math
import os
from pathlib import Path

import pytest
from conftest import ROOT

from eq_bench import (
    paired_comparison,
    parse_answer,
    score_item,
    score_responses,
    transform_prompt_v2,
)
from main import main

FIXTURE = os.path.join(ROOT, "data", "demo", "eq_bench_questions.json")
REF = {"emotion1": "Hurt", "emotion2": "Resigned", "emotion3": "Excited",
       "emotion4": "Understanding", "emotion1_score": 8, "emotion2_score": "5",
       "emotion3_score": 0, "emotion4_score": "2"}
EXACT = "Hurt: 8\nResigned: 5\nExcited: 0\nUnderstanding: 2"


def s(d):
    return 0 if d == 0 else 6.5 / (1 + math.e ** (-1.2 * (d - 4))) if d <= 5 else d


def test_exact_match_scores_10():
    assert score_item(REF, parse_answer(EXACT)) == 10


@pytest.mark.parametrize("d", range(1, 11))
def test_single_emotion_off_by_d(d):
    answer = f"Hurt: 8\nResigned: 5\nExcited: {d}\nUnderstanding: 2"
    assert score_item(REF, parse_answer(answer)) == pytest.approx(10 - 0.7477 * s(d), abs=1e-12)


@pytest.mark.parametrize("answer", [
    EXACT + "\nAngry: 3",                                       # an extra Word: N pair
    "Hurt: 8\nResigned: 5\nExcited: 0",                          # three pairs
    "Hurt: 8\nResigned: 5\nExcited: 0\nHappy: 2",                # misnamed emotion
    "Hurt: 0\nResigned: 0\nExcited: 0\nUnderstanding: 0",        # no emotion > 0
    "I think Hurt is high and Resigned is medium.",              # no pairs at all
])
def test_unparseable_answers(answer):
    assert score_item(REF, parse_answer(answer)) is None


def test_decimal_parses_as_its_integer_part():
    assert parse_answer("Hurt: 7.5")["Hurt"] == "7"
    d = 1  # 7 vs reference 8
    assert score_item(REF, parse_answer("Hurt: 7.5\nResigned: 5\nExcited: 0\nUnderstanding: 2")) \
        == pytest.approx(10 - 0.7477 * s(d))


def test_markdown_bold_and_headings_parse():
    md = "## Scores\n**Hurt:** 8\n**Resigned**: 5\n* Excited: 0\n#Understanding: 2"
    assert score_item(REF, parse_answer(md)) == 10


def test_names_match_case_insensitively():
    assert score_item(REF, parse_answer(EXACT.lower())) == 10
    assert score_item(REF, parse_answer(EXACT.upper())) == 10


def test_run_with_nothing_parseable_is_invalid_not_a_crash():
    questions = json.loads(Path(FIXTURE).read_text())
    result = score_responses({k: v for k, v in questions.items()},
                             {k: "no idea" for k in questions})
    assert result["valid"] is False and result["parseable"] == 0 and result["score"] == 0.0


def test_total_is_ten_times_the_mean_over_parseable_items_and_validity_threshold():
    questions = json.loads(Path(FIXTURE).read_text())
    ids = sorted(questions, key=int)
    answers = {}
    for k in ids:
        ref = questions[k]["reference_answer_fullscale"]
        answers[k] = "\n".join(f"{ref[f'emotion{i}']}: {ref[f'emotion{i}_score']}" for i in range(1, 5))
    answers[ids[0]] = "garbage"
    result = score_responses(questions, answers)
    assert result["parseable"] == 7 and result["score"] == pytest.approx(100.0)
    assert result["valid"] is True  # 7/8 = 87.5 % >= 83.33 %
    answers[ids[1]] = "garbage"
    assert score_responses(questions, answers)["valid"] is False  # 6/8 = 75 %


def test_v2_prompt_transformation_and_idempotence():
    item = json.loads(Path(FIXTURE).read_text())["5"]
    expected = (
        "\nYour task is to predict the likely emotional responses of a character in this "
        "dialogue:\n\nPriya: You forgot my birthday again.\nKai: I've had a crazy week at work."
        "\nPriya: You always have a crazy week.\n[End dialogue]\n\nAt the end of this dialogue, "
        "Priya would feel...\nHurt\nResigned\nExcited\nUnderstanding\n\nGive each of these "
        "possible emotions a score from 0-10 for the relative intensity that they are likely to "
        "be feeling each.\n\nYou must output in the following format, including headings (of "
        "course, you should give your own scores), with no additional commentary:\n\n"
        "Hurt: <score>\nResigned: <score>\nExcited: <score>\nUnderstanding: <score>\n\n"
        "\n[End of answer]\n\nRemember: zero is a valid score, meaning they are likely not "
        "feeling that emotion. You must score at least one emotion > 0.\n\nYour answer:\n")
    out = transform_prompt_v2(item["prompt"])
    assert out == expected
    assert transform_prompt_v2(out) == out


REFERENCE = os.path.join(ROOT, "..", "shared", "reference-data", "eq_bench_v2_questions_171.json")


@pytest.mark.skipif(not os.path.isfile(REFERENCE), reason="shared reference data absent")
def test_transformation_on_the_real_171_items():
    items = json.loads(Path(REFERENCE).read_text())
    assert len(items) == 171
    for item in items.values():
        out = transform_prompt_v2(item["prompt"])
        assert out.endswith("\nYour answer:\n") and "Critique:" not in out
        assert transform_prompt_v2(out) == out


def test_paired_comparison_of_identical_runs_is_zero():
    questions = json.loads(Path(FIXTURE).read_text())
    answers = {k: EXACT for k in questions}
    run = score_responses(questions, answers)
    c = paired_comparison(run, run, samples=200, seed=0)
    assert c["paired_delta"] == 0 and c["ci95"] == [0.0, 0.0] and c["delta_total"] == 0


def test_rescoring_without_a_model(tmp_path, capsys):
    questions = json.loads(Path(FIXTURE).read_text())
    rows = [{"prompt_id": k, "response": EXACT if k == "5" else "no"} for k in questions]
    resp = tmp_path / "r.jsonl"
    resp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o.json"
    assert main(["eq-bench", "--questions", FIXTURE, "--responses", str(resp), "--out", str(out)]) == 0
    result = json.loads(Path(out).read_text())
    assert set(result) >= {"score", "parseable", "n_items", "valid", "items"}
    assert result["score"] == 100.0 and result["parseable"] == 1 and result["n_items"] == 8
    assert result["items"]["5"]["score"] == 10 and result["items"]["1"]["score"] is None
    assert "100.00" in capsys.readouterr().out


def test_rescoring_errors_name_unknown_ids_and_broken_items(tmp_path, capsys):
    resp = tmp_path / "r.jsonl"
    resp.write_text(json.dumps({"prompt_id": "999", "response": EXACT}) + "\n")
    rc = main(["eq-bench", "--questions", FIXTURE, "--responses", str(resp),
               "--out", str(tmp_path / "o.json")])
    assert rc == 2 and "999" in capsys.readouterr().err
    broken = json.loads(Path(FIXTURE).read_text())
    del broken["3"]["reference_answer_fullscale"]["emotion2_score"]
    q = tmp_path / "q.json"
    q.write_text(json.dumps(broken))
    rc = main(["eq-bench", "--questions", str(q), "--responses", str(resp),
               "--out", str(tmp_path / "o.json")])
    assert rc == 2 and "item 3" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_validity_is_over_the_questions_asked_not_the_rows_received():
    questions = json.loads(Path(FIXTURE).read_text())
    perfect = {}
    for k in sorted(questions, key=int)[:6]:  # 6 perfect rows of 8 questions
        ref = questions[k]["reference_answer_fullscale"]
        perfect[k] = "\n".join(f"{ref[f'emotion{i}']}: {ref[f'emotion{i}_score']}"
                               for i in range(1, 5))
    result = score_responses(questions, perfect)
    assert result["answered"] == 6 and result["n_items"] == 8 and result["parseable"] == 6
    assert result["parse_rate"] == 6 / 8 and result["valid"] is False


def test_total_is_rounded_to_two_decimals_as_the_harness_does():
    questions = json.loads(Path(FIXTURE).read_text())
    answers = {k: EXACT for k in questions}
    answers["5"] = "Hurt: 7\nResigned: 5\nExcited: 0\nUnderstanding: 2"  # 10 - 0.7477 s(1)
    result = score_responses(questions, answers)
    assert result["score"] == round(result["score"], 2)
    assert result["score"] == round(10 * (10 - 0.7477 * s(1)), 2)


def test_retry_follows_the_v1_check_with_names_in_their_original_case():
    from eq_bench import v1_accepts
    item = json.loads(Path(FIXTURE).read_text())["5"]
    assert v1_accepts(item, parse_answer(EXACT))
    assert not v1_accepts(item, parse_answer(EXACT.lower()))  # the harness would retry
    assert not v1_accepts(item, parse_answer("Hurt: 0\nResigned: 0\nExcited: 0\nUnderstanding: 0"))
    assert score_item(REF, parse_answer(EXACT.lower())) == 10  # but the final score is fullscale


def test_a_rejected_attempt_counts_as_unparseable_in_a_run():
    questions = json.loads(Path(FIXTURE).read_text())
    answers = {k: EXACT for k in questions}
    kept = score_responses(questions, answers, {k: True for k in questions})
    rejected = score_responses(questions, answers, {k: k != "5" for k in questions})
    assert kept["items"]["5"]["score"] == 10 and rejected["items"]["5"]["score"] is None


@pytest.mark.slow
def test_batched_first_attempt_gives_the_one_at_a_time_replies_on_the_embedded_model():
    """Temperature 0.01 with min_p 0.1 is in effect greedy: batching the first attempt
    (left padded) reproduces the harness's one-prompt-at-a-time replies."""
    from conftest import MODEL_CACHE

    from eq_bench import COMPLETION_TOKENS, FIRST_TEMPERATURE, official_sampling
    from generation import generate_batch
    from loading import LoadedFriend
    from model import load_base_model, load_tokenizer
    from prompting import end_of_turn_id
    tok = load_tokenizer("embedded:smollm2", MODEL_CACHE)
    model = load_base_model("embedded:smollm2", MODEL_CACHE, load_in_4bit=False).eval()
    friend = LoadedFriend(model, tok, {}, end_of_turn_id(tok), False)
    questions = json.loads(Path(FIXTURE).read_text())
    convs = [[{"role": "user", "content": transform_prompt_v2(questions[k]["prompt"])}]
             for k in sorted(questions, key=int)[:4]]
    kw = dict(sampling=official_sampling(FIRST_TEMPERATURE), seed=7)
    batched = generate_batch(friend, convs, COMPLETION_TOKENS, batch_size=4, **kw)
    single = [generate_batch(friend, [c], COMPLETION_TOKENS, batch_size=1, **kw)[0]
              for c in convs]
    assert batched == single and all(batched)
