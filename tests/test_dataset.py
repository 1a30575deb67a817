"""Canonicalization, skip counting, train-only vocabularies and the tokenized-data cache."""
import json
import os

import pytest
from conftest import SOURCES, SYSTEM

from batching import IGNORE
from canonical import (
    GOEMOTIONS_LABELS,
    SkipRow,
    canonicalize_ed,
    canonicalize_esconv,
    canonicalize_goemotions,
)
from dataset import DataError, prepare_data


def test_malformed_rows_are_skipped_and_counted_by_reason(prepared):
    st = prepared.stats
    assert st["ed"]["train"]["skipped"] == {"bad_chat_history": 1, "chat_history_not_list": 1,
                                            "empty_chat_history": 1, "empty_response": 1}
    assert st["esconv"]["train"]["skipped"] == {"bad_json": 1, "empty_text": 1,
                                                "missing_dialog": 1, "turn_missing_speaker": 1,
                                                "opening_supporter_turn": 1}
    assert st["goemotions"]["test"]["skipped"] == {"empty_text": 1, "label_out_of_range": 1,
                                                   "multi_label": 1, "no_label": 1}
    assert st["ed"]["train"]["rows_read"] == 28 and st["ed"]["train"]["examples"] == 24


def test_labels_seen_only_outside_train_map_to_minus_100(prepared):
    assert "pride" not in prepared.emotion_vocab
    test = prepared.tokenized["goemotions"]["test"]
    assert prepared.stats["goemotions"]["test"]["unseen_label"] == 2
    assert sum(1 for l in test["emotion_label"] if l == IGNORE) == 2
    assert "Information" not in prepared.strategy_vocab
    assert prepared.stats["esconv"]["test"]["unseen_label"] > 0
    valid = {i for i in range(len(prepared.strategy_vocab))} | {IGNORE}
    assert set(prepared.tokenized["esconv"]["test"]["strategy_label"]) <= valid


def test_vocabularies_keep_the_canonical_order(prepared):
    idx = [GOEMOTIONS_LABELS.index(n) for n in prepared.emotion_vocab]
    assert idx == sorted(idx)


def test_ed_roles_alternate_and_end_with_the_user():
    row = {"chat_history": "['a', 'b', 'c']", "sys_response": "d", "emotion": "sad",
           "situation": "s"}
    (ex,) = canonicalize_ed(row)
    assert [m["role"] for m in ex["messages"]] == ["user", "assistant", "user", "assistant"]
    assert ex["messages"][-1]["content"] == "d" and ex["emotion_name"] == ""


def test_ed_chat_history_is_never_evaluated_as_code():
    with pytest.raises(SkipRow) as e:
        canonicalize_ed({"chat_history": "__import__('os').system('echo hi')", "sys_response": "x"})
    assert e.value.reason == "bad_chat_history"


def test_esconv_strategy_labels_the_reply_that_follows_the_prompt():
    conv = {"situation": "x", "dialog": [
        {"text": "hi there", "speaker": "usr"},
        {"text": "how can I help?", "speaker": "sys", "strategy": "Question"},
        {"text": "I feel stuck", "speaker": "usr"},
        {"text": "that sounds hard", "speaker": "sys", "strategy": "Reflection of feelings"}]}
    exs = canonicalize_esconv({"text": json.dumps(conv)})
    assert [e["strategy_name"] for e in exs] == ["Question", "Reflection of feelings"]
    assert exs[1]["messages"][-1]["content"] == "that sounds hard"
    assert [m["content"] for m in exs[1]["messages"][:-1]] == ["hi there", "how can I help?",
                                                              "I feel stuck"]


OPENING = {"dialog": [
    {"text": "Hello, I'm here to listen.", "speaker": "sys", "strategy": "Others"},
    {"text": "Anything on your mind today?", "speaker": "sys", "strategy": "Question"},
    {"text": "my sister stopped talking to me", "speaker": "usr"},
    {"text": "that must hurt", "speaker": "sys", "strategy": "Reflection of feelings"}]}


def test_esconv_opening_supporter_turns_stay_in_later_histories_and_are_counted():
    records = canonicalize_esconv({"text": json.dumps(OPENING)})
    assert [r.get("skip_reason", "") for r in records] == ["opening_supporter_turn"] * 2 + [""]
    ex = records[-1]
    assert [(m["role"], m["content"]) for m in ex["messages"][:-1]] == [
        ("assistant", "Hello, I'm here to listen."), ("assistant", "Anything on your mind today?"),
        ("user", "my sister stopped talking to me")]


def test_esconv_opening_supporter_turns_survive_tokenization_untruncated(any_tok):
    from dataset import tokenize_example
    from prompting import end_of_turn_id
    ex = canonicalize_esconv({"text": json.dumps(OPENING)})[-1]
    tok = tokenize_example(ex["messages"], any_tok, SYSTEM, 256, end_of_turn_id(any_tok))
    prompt = any_tok.decode(tok["input_ids"][:tok["prompt_length"]])
    assert tok["truncated_turns"] == 0 and "Anything on your mind today?" in prompt
    assert "Hello, I'm here to listen." in prompt


def test_goemotions_keeps_only_single_label_rows():
    assert canonicalize_goemotions({"text": "yay", "labels": [17]})[0]["emotion_name"] == "joy"
    with pytest.raises(SkipRow, match="multi_label"):
        canonicalize_goemotions({"text": "yay", "labels": [17, 13]})


def test_source_without_usable_rows_is_an_error_naming_source_and_path(tmp_path, smol_tok):
    bad = tmp_path / "goemo"
    bad.mkdir()
    for split in ("train", "validation", "test"):
        (bad / f"{split}.jsonl").write_text(json.dumps({"text": "x", "labels": [1, 2]}) + "\n")
    sources = {"goemotions": {"path": str(bad), "name": None, "data_files": {}}}
    with pytest.raises(DataError) as e:
        prepare_data(sources, smol_tok, SYSTEM, 256, str(tmp_path / "cache"), log=lambda *_: None)
    assert "goemotions" in str(e.value) and str(bad) in str(e.value)


def test_missing_local_folder_is_an_error_naming_it(tmp_path, smol_tok):
    sources = {"ed": {"path": str(tmp_path / "nope" / "ed"), "name": None, "data_files": {}}}
    with pytest.raises(DataError, match="nope"):
        prepare_data(sources, smol_tok, SYSTEM, 256, str(tmp_path / "cache"), log=lambda *_: None)


def test_second_prepare_reads_the_cache_instead_of_recomputing(tmp_path, smol_tok):
    cache = str(tmp_path / "cache")
    first = prepare_data(SOURCES, smol_tok, SYSTEM, 256, cache, log=lambda *_: None)
    files_after_first = sorted(os.listdir(cache))
    n_arrow = sum(len(files) for _, _, files in os.walk(cache))
    second = prepare_data(SOURCES, smol_tok, SYSTEM, 256, cache, log=lambda *_: None)
    assert sum(len(files) for _, _, files in os.walk(cache)) == n_arrow  # nothing new written
    assert sorted(os.listdir(cache)) == files_after_first
    for s in SOURCES:
        a, b = first.tokenized[s]["train"], second.tokenized[s]["train"]
        assert a._fingerprint == b._fingerprint
        assert [f["filename"] for f in a.cache_files] == [f["filename"] for f in b.cache_files]
        assert a["input_ids"] == b["input_ids"]
    other = prepare_data(SOURCES, smol_tok, SYSTEM, 200, cache, log=lambda *_: None)
    assert other.tokenized["ed"]["train"]._fingerprint != first.tokenized["ed"]["train"]._fingerprint


def test_warm_prepare_parses_no_file_and_an_edited_file_is_read_again(tmp_path, smol_tok,
                                                                      monkeypatch):
    import shutil

    from conftest import FIXTURES

    import dataset
    data, cache = tmp_path / "data", str(tmp_path / "cache")
    shutil.copytree(FIXTURES, data)
    sources = {s: {"path": str(data / s), "name": None, "data_files": {}} for s in SOURCES}
    first = prepare_data(sources, smol_tok, SYSTEM, 256, cache, log=lambda *_: None)

    def no_parsing(*args):
        raise AssertionError(f"parsed {args[2]} although its rows are cached")
    monkeypatch.setattr(dataset, "_read_local_rows", no_parsing)
    second = prepare_data(sources, smol_tok, SYSTEM, 256, cache, log=lambda *_: None)
    assert second.stats == first.stats
    for s in SOURCES:
        for split in ("train", "validation", "test"):
            assert second.tokenized[s][split]["input_ids"] == first.tokenized[s][split]["input_ids"]
    monkeypatch.undo()
    path = data / "goemotions" / "train.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[1:]))  # one row fewer: the content hash changes
    third = prepare_data(sources, smol_tok, SYSTEM, 256, cache, log=lambda *_: None)
    assert third.stats["goemotions"]["train"]["rows_read"] == \
        first.stats["goemotions"]["train"]["rows_read"] - 1


@pytest.mark.parametrize("source", ["ed", "esconv", "goemotions"])
def test_fixture_splits_share_no_user_text(source):
    """No user turn of a validation or test fixture appears in another split: held-out
    metrics on fixtures are not a memory test."""
    import csv

    from conftest import FIXTURES

    from canonical import CANONICALIZERS
    from dataset import DEFAULT_FILES
    users = {}
    for split, fname in DEFAULT_FILES[source].items():
        path = os.path.join(FIXTURES, source, fname)
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f)) if fname.endswith(".csv") else \
                [json.loads(line) for line in f if line.strip()]
        texts = set()
        for row in rows:
            try:
                examples = CANONICALIZERS[source](row)
            except SkipRow:
                continue
            texts |= {m["content"] for e in examples for m in e["messages"] if m["role"] == "user"}
        users[split] = texts
    assert all(users.values())
    assert not users["train"] & users["validation"] and not users["train"] & users["test"]
    assert not users["validation"] & users["test"]
