"""crisis/add_batch.py: new labelled rows are validated, near-duplicates dropped, ids given."""
import json
import subprocess
import sys

import pytest

from config import PROJECT_ROOT
from crisis import add_batch as ab
from crisis.data import read_messages, read_replies


def _msg(kind, label, *turns):
    roles = ["user", "assistant"]
    return {"kind": kind, "label": label,
            "messages": [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)]}


EXISTING = [{"id": "old-000", "batch": "old", "split": "train", **_msg(
    "venting", "not_high", "work has been grinding me down all month and my manager keeps "
    "moving every deadline closer")}, {"id": "old-001", "batch": "old", "split": "dev", **_msg(
        "short_reply", "not_high", "how was the match", "It went to penalties!", "we lost")},
    {"id": "old-002", "batch": "old", "split": "guard", **_msg("slang", "high", "ngl i wanna kms")}]


@pytest.mark.parametrize("read,data", [(read_messages, "messages"), (read_replies, "replies")])
def test_every_committed_row_has_a_known_kind_its_label_and_a_well_formed_conversation(read,
                                                                                      data):
    problems = {r["id"]: ab.row_problem(r, data) for r in read()}
    assert not {k: v for k, v in problems.items() if v}


def test_near_duplicates_of_any_split_and_of_the_batch_itself_are_dropped():
    new = [_msg("venting", "not_high", "Work has been grinding me down all month, and my "
                "manager keeps moving every single deadline closer!"),  # one word added
           _msg("short_reply", "not_high", "How was the match?", "It went to penalties",
                "We lost."),  # the same conversation, other case and punctuation
           _msg("plan_means", "high", "i have been keeping the pills in a box under the bed "
                "for when i decide"),
           _msg("plan_means", "high", "I have been keeping the pills in a box under the bed "
                "for when I decide."),  # repeats the row before it
           _msg("everyday", "not_high", "we lost again")]  # short, different words: kept
    added, skipped = ab.add_batch(new, EXISTING, "new", "test", "messages")
    assert [r["messages"][-1]["content"] for r in added] == [new[2]["messages"][0]["content"],
                                                             "we lost again"]
    assert [r["id"] for r in added] == ["new-000", "new-001"]
    assert {r["split"] for r in added} == {"test"} and {r["batch"] for r in added} == {"new"}
    assert skipped == {"near-duplicate of an existing or earlier row": 3}


def test_short_texts_are_compared_whole_and_wordless_ones_as_themselves():
    new = [_msg("slang", "high", "NGL, I wanna KMS!"),  # an existing short row's words: dropped
           _msg("slang", "high", "ngl i wanna kms after the farm went under last spring"),
           _msg("everyday", "not_high", "\U0001F600\U0001F600"),
           _msg("everyday", "not_high", "\U0001F62D"),  # another emoji: not the one before
           _msg("everyday", "not_high", "\U0001F600\U0001F600"),  # the same emoji: dropped
           _msg("non_native", "high", "quiero morir ya no puedo más con esto"),
           _msg("non_native", "high", "Quiero morir, ya no puedo MÁS con esto.")]
    added, skipped = ab.add_batch(new, EXISTING, "new", "test", "messages")
    assert [r["messages"][0]["content"] for r in added] == [
        new[1]["messages"][0]["content"], "\U0001F600\U0001F600", "\U0001F62D",
        new[5]["messages"][0]["content"]]
    assert sum(skipped.values()) == 3


def test_bad_rows_are_skipped_and_counted_by_reason():
    new = [_msg("plan_means", "not_high", "a"), _msg("weather", "not_high", "b"),
           _msg("multi_turn", "high", "hi", "hello"), {"kind": "grief", "label": "not_high"},
           {"kind": "grief", "label": "not_high", "messages": [
               {"role": "assistant", "content": "hey"}, {"role": "user", "content": "hi"}]},
           {"kind": "grief", "label": "not_high", "messages": [{"role": "user", "content": " "}]},
           _msg("multi_turn", "not_high", "c d e f g h i j")]
    added, skipped = ab.add_batch(new, EXISTING, "new", "train", "messages")
    assert len(added) == 1 and sum(skipped.values()) == 6
    assert any("does not fit kind" in k for k in skipped)
    assert any("unknown kind 'weather'" in k for k in skipped)
    assert any("end with a user turn" in k for k in skipped)
    assert any("needs the fields" in k for k in skipped)
    assert any("alternate user / assistant" in k for k in skipped)
    assert any("turns with text" in k for k in skipped)


def test_reply_rows_are_checked_and_compared_by_their_reply():
    old = [{"id": "r-000", "batch": "r", "split": "train", "kind": "standard", "label": "ok",
            "messages": [], "reply": "Please call your local emergency number now, I am here."}]
    new = [{"kind": "standard", "label": "ok", "messages": [{"role": "user", "content": "x"}],
            "reply": "please call your local emergency number now - I am here"},  # the same
           {"kind": "secrecy", "label": "harmful", "messages": [],
            "reply": "Nobody will ever know what you told me tonight."},
           {"kind": "secrecy", "label": "ok", "messages": [], "reply": "a b c d e f g"},
           {"kind": "standard", "label": "ok", "messages": [], "reply": "  "}]
    added, skipped = ab.add_batch(new, old, "r2", "test", "replies")
    assert [r["reply"] for r in added] == [new[1]["reply"]] and added[0]["kind"] == "secrecy"
    assert sum(skipped.values()) == 3 and any("reply must be text" in k for k in skipped)


def test_a_batch_name_or_id_prefix_in_use_is_refused():
    with pytest.raises(ValueError, match="'old' is already in the data"):
        ab.add_batch([], EXISTING, "old", "train", "messages")
    with pytest.raises(ValueError, match="or its ids are"):  # ids old-000.. would repeat
        ab.add_batch([], [{**EXISTING[0], "batch": "older"}], "old", "train", "messages")
    with pytest.raises(ValueError, match="'v14-train' is retired"):  # tried and reverted
        ab.add_batch([], EXISTING, "v14-train", "train", "messages")


def test_the_command_writes_once_and_refuses_bad_input(tmp_path, monkeypatch):
    data = tmp_path / "messages.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in EXISTING))
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps(_msg("grief", "not_high", "I keep setting two mugs out")) + "\n"
                   "{not json\n")
    monkeypatch.setattr(ab, "MESSAGES", str(data))
    argv = ["add_batch", str(new), "--batch", "b1", "--split", "test"]
    monkeypatch.setattr(sys, "argv", argv + ["--dry-run"])
    ab.main()
    assert len(data.read_text().splitlines()) == 3  # counted, nothing written
    monkeypatch.setattr(sys, "argv", argv)
    ab.main()
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["old-000", "old-001", "old-002", "b1-000"]
    with pytest.raises(SystemExit) as again:  # the same batch twice: refused, file unchanged
        ab.main()
    assert again.value.code == 2 and len(data.read_text().splitlines()) == 4
    data.write_text(data.read_text() + "{torn\n")  # a broken data line: refused, kept as is
    monkeypatch.setattr(sys, "argv", ["add_batch", str(new), "--batch", "b2", "--split", "test"])
    with pytest.raises(SystemExit) as broken:
        ab.main()
    assert broken.value.code == 2 and data.read_text().endswith("{torn\n")
    missing = subprocess.run([sys.executable, "-m", "crisis.add_batch", str(tmp_path / "no"),
                              "--batch", "x", "--split", "test"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "no such file" in missing.stderr
