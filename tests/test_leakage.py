"""No metadata reaches the model input: checked structurally over every fixture row and every
real row in ../shared/real-data (when present); planted leaks make the check fire."""
import csv
import json
import os

import pytest
from conftest import FIXTURES, ROOT, SYSTEM

from canonical import CANONICALIZERS, SkipRow
from dataset import DEFAULT_FILES, tokenize_example
from leakage import input_leaks, message_leaks, turn_texts
from prompting import end_of_turn_id

REAL = os.path.join(ROOT, "..", "shared", "real-data")


def _raw_rows(root, source):
    for fname in DEFAULT_FILES[source].values():
        with open(os.path.join(root, source, fname), encoding="utf-8") as f:
            if fname.endswith(".csv"):
                yield from csv.DictReader(f)
            else:
                yield from (json.loads(line) for line in f if line.strip())


def _examples(source, row, mapping="ed_to_goemotions"):
    try:
        return [e for e in CANONICALIZERS[source](row, mapping) if not e.get("skip_reason")]
    except SkipRow:
        return []


@pytest.mark.parametrize("source", ["ed", "esconv", "goemotions"])
def test_every_fixture_input_is_the_template_over_its_turn_texts(source, smol_tok):
    eot, checked = end_of_turn_id(smol_tok), 0
    for row in _raw_rows(FIXTURES, source):
        for ex in _examples(source, row):
            assert message_leaks(source, row, ex) == []
            t = tokenize_example(ex["messages"], smol_tok, SYSTEM, 256, eot)
            if not t["drop_reason"]:
                assert input_leaks(ex, t, smol_tok, SYSTEM, eot) == []
                checked += 1
    assert checked >= 24


def test_the_check_fires_on_planted_leaks(smol_tok):
    eot = end_of_turn_id(smol_tok)
    row = next(r for r in _raw_rows(FIXTURES, "ed") if _examples("ed", r))
    ex = _examples("ed", row)[0]
    # a canonicalizer that pastes the situation (or the label) into the first message
    for extra in (row["situation"], f"[{row['emotion']}]"):
        leaky = {**ex, "messages": [dict(ex["messages"][0],
                                         content=extra + " " + ex["messages"][0]["content"])]
                 + ex["messages"][1:]}
        assert message_leaks("ed", row, leaky) and "message 0" in message_leaks("ed", row, leaky)[0]
    # a whole metadata field as an extra message
    extra_msg = {**ex, "messages": [{"role": "user", "content": row["situation"]}] + ex["messages"]}
    assert message_leaks("ed", row, extra_msg)
    # a tokenizer step that inserts the emotion into the system prompt
    t = tokenize_example(ex["messages"], smol_tok, SYSTEM + " Emotion: " + row["emotion"], 256, eot)
    assert input_leaks(ex, t, smol_tok, SYSTEM, eot)
    # and the clean version passes
    clean = tokenize_example(ex["messages"], smol_tok, SYSTEM, 256, eot)
    assert input_leaks(ex, clean, smol_tok, SYSTEM, eot) == []


def test_turn_texts_of_esconv_come_from_the_dialog_not_the_metadata():
    row = next(_raw_rows(FIXTURES, "esconv"))
    conv = json.loads(row["text"])
    texts = turn_texts("esconv", row)
    assert texts == [t["text"].strip() for t in conv["dialog"]]
    assert conv["situation"] not in texts


@pytest.mark.skipif(not os.path.isdir(REAL), reason="../shared/real-data absent")
@pytest.mark.parametrize("source", ["ed", "esconv", "goemotions"])
def test_the_check_is_silent_on_all_real_data(source, qwen_tok):
    """Every canonical example of every real row passes the message check (the string-matching
    checker flagged 25 % of real ED inputs); the first 150 also pass the token check."""
    eot, n_examples, n_tokenized = end_of_turn_id(qwen_tok), 0, 0
    for row in _raw_rows(REAL, source):
        for ex in _examples(source, row, "none"):
            assert message_leaks(source, row, ex) == [], ex["messages"][:1]
            n_examples += 1
            if n_tokenized < 150:
                t = tokenize_example(ex["messages"], qwen_tok, SYSTEM, 512, eot)
                if not t["drop_reason"]:
                    assert input_leaks(ex, t, qwen_tok, SYSTEM, eot) == []
                    n_tokenized += 1
    assert n_examples > 1000 and n_tokenized == 150
