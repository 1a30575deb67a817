"""No label or metadata reaches the model input, over every fixture row; a planted leak fires."""
import csv
import json
import os

import pytest

from conftest import FIXTURES, SYSTEM
from canonical import CANONICALIZERS, SkipRow
from dataset import DEFAULT_FILES, tokenize_example
from prompting import end_of_turn_id
from leakage import find_leaks, raw_metadata


def _raw_rows(source):
    for split, fname in DEFAULT_FILES[source].items():
        path = os.path.join(FIXTURES, source, fname)
        with open(path, encoding="utf-8") as f:
            if fname.endswith(".csv"):
                yield from csv.DictReader(f)
            else:
                yield from (json.loads(line) for line in f if line.strip())


def _inputs(source, row, tok, mapping="none"):
    try:
        examples = CANONICALIZERS[source](row, mapping)
    except SkipRow:
        return
    for ex in examples:
        t = tokenize_example(ex["messages"], tok, SYSTEM, 1024, end_of_turn_id(tok))
        yield ex, tok.decode(t["input_ids"][:t["prompt_length"]])


@pytest.mark.parametrize("source", ["ed", "esconv", "goemotions"])
def test_no_fixture_input_contains_its_labels_or_metadata(source, smol_tok):
    checked = 0
    for row in _raw_rows(source):
        meta = raw_metadata(source, row)
        for ex, text in _inputs(source, row, smol_tok, "ed_to_goemotions"):
            labels = [ex["emotion_name"], ex["strategy_name"]]
            assert find_leaks(text, meta, labels, system_prompt=SYSTEM) == []
            checked += 1
    assert checked >= 60


def test_checker_fires_on_planted_leaks(smol_tok):
    row = next(r for r in _raw_rows("ed") if r["chat_history"].startswith("['"))
    meta = raw_metadata("ed", row)
    ex, text = next(_inputs("ed", row, smol_tok))
    assert find_leaks(text, meta, [row["emotion"]]) == []
    leaky = text.replace(SYSTEM, SYSTEM + " Context: " + row["situation"])
    assert any("situation" in f for f in find_leaks(leaky, meta, [], system_prompt=SYSTEM))
    tagged = text.replace(SYSTEM, SYSTEM + f" [{row['emotion']}]")
    assert any("label" in f for f in find_leaks(tagged, meta, [row["emotion"]], SYSTEM))
    assert any("tag" in f for f in find_leaks(text + " Strategy: Question", {}, []))


def test_esconv_metadata_is_read_from_the_json_text():
    row = next(_raw_rows("esconv"))
    meta = raw_metadata("esconv", row)
    assert set(meta) == {"situation", "problem_type", "emotion_type"}
