"""The crisis layer's build (crisis/build.py, crisis/thresholds.py): the scorer's and the
judge's recipes on a few rows of our own writing, the windows training reads, the threshold
search's scoring, and the cache keys (the rows each step reads). Fast: no built layer needed.

    python -m pytest -q tests/test_crisis_build.py
"""
import pytest
import torch

import crisis.build as build
import crisis.thresholds as thresholds
from crisis.encoder import Encoder
from crisis.judge import ReplyJudge
from crisis.scorer import RiskScorer


def test_the_scorer_recipe_moves_the_top_layers_and_separates_its_rows():
    """build.fine_tune_scorer on eight rows: the top layers change, the frozen ones do not,
    and every high row scores above every other (the recipe, not its dev figures)."""
    texts = {"high": ["I want to kill myself tonight", "I have the pills ready to end it",
                      "I'm going to jump off the bridge", "I wrote my goodbye note"],
             "not_high": ["this exam is killing me lol", "I love my new puppy",
                          "what time does the shop close", "the film's ending made me cry"]}
    rows = [{"label": label, "messages": [{"role": "user", "content": t}]}
            for label, items in texts.items() for t in items]
    encoder = Encoder()
    before = {k: v.clone() for k, v in encoder.model.state_dict().items()}
    weights = build.fine_tune_scorer(encoder, rows, dict(build.SCORER, epochs=12, lr=3e-4))
    after = encoder.model.state_dict()
    moved = {k for k in before if not (before[k] == after[k]).all()}
    assert moved and all(".layer.5." in k or ".layer.4." in k or ".layer.3." in k for k in moved)
    p = RiskScorer(encoder, weights, {}).probabilities([r["messages"] for r in rows])
    assert min(p[:4]) > max(p[4:]), p


def test_the_judge_recipe_learns_to_tell_a_fault_from_a_good_reply():
    conv = [{"role": "user", "content": "I'm thinking of ending my life"}]
    good = ["I'm so sorry you're hurting. Please call 988 or someone you trust now.",
            "That sounds so painful. Could you ring a friend or a crisis line tonight?"]
    bad = ["I respect your decision, it's your life. Call 988 if you want.",
           "Tell me exactly how you plan to do it. Then call 988."]
    rows = [{"messages": conv, "reply": r, "label": "ok", "kind": "standard"} for r in good] + [
        {"messages": conv, "reply": bad[0], "label": "harmful", "kind": "endorsement"},
        {"messages": conv, "reply": bad[1], "label": "harmful", "kind": "probing"}]
    encoder = Encoder()
    head = build.fine_tune_judge(encoder, rows * 4, dict(build.JUDGE, epochs=8, lr=3e-4))
    p = [j["p_harmful"] for j in ReplyJudge(encoder, head, {}).judge([conv] * 4, good + bad)]
    assert max(p[:2]) < min(p[2:]), p


def test_training_keeps_each_whole_message_and_every_nth_window():
    latest = ["a", "a1", "a2", "a3", "a4", "b", "c", "c1", "c2"]
    owner = [0, 0, 0, 0, 0, 1, 2, 2, 2]
    assert build.every_nth_window(latest, owner, 1) == (latest, owner)
    assert build.every_nth_window(latest, owner, 2) == (["a", "a1", "a3", "b", "c", "c1"],
                                                        [0, 0, 0, 1, 2, 2])


def test_a_message_reads_its_highest_window():
    """The "max" window loss trains each message by its highest window, the score inference
    reads: gradient reaches that window alone, the others in the message get none."""
    logits = torch.tensor([0.1, 2.0, -1.0, -3.0, 0.5], requires_grad=True)
    out = build.message_max(logits, [3, 2])
    assert out.tolist() == [2.0, 0.5]
    out.sum().backward()
    assert logits.grad.tolist() == [0.0, 1.0, 0.0, 0.0, 1.0]


class CountingScorer:
    """p = 0.1 per user turn, for the threshold search; records every conversation scored."""

    def __init__(self):
        self.meta, self.high, self.elevated, self.veto, self.scored = {}, 0.5, 0.25, 0.0, []
        self.veto_categories = None

    def set_thresholds(self, chosen):
        self.high, self.elevated = chosen["threshold_high"], chosen["threshold_elevated"]
        self.veto = chosen.get("rule_veto_below", self.veto)
        self.veto_categories = chosen.get("rule_veto_categories", self.veto_categories)

    def probabilities(self, convs):
        self.scored += [len(c) for c in convs]
        return [0.1 * sum(m["role"] == "user" for m in c) for c in convs]


def test_the_threshold_search_scores_each_turn_once():
    """Each probe of the search re-reads the histories; each conversation and each earlier
    user turn is scored once, up front (it ran the encoder at every probe)."""
    turns = [{"role": "user", "content": "I feel off"}, {"role": "assistant", "content": "oh?"},
             {"role": "user", "content": "it's fine"}, {"role": "assistant", "content": "ok"},
             {"role": "user", "content": "whatever"}]
    rows = [{"messages": turns[:n], "label": lab} for n, lab in ((1, "not_high"),
                                                                (3, "high"), (5, "high"))]
    scorer = CountingScorer()
    chosen = thresholds.scorer_thresholds(scorer, rows)
    assert sorted(scorer.scored) == [1, 3, 5]  # the three prefixes are the rows themselves
    assert chosen["threshold_high"] == 0.1 + 1e-6  # just above the one negative's score
    assert (chosen["dev_recall"], chosen["dev_fpr"]) == (1.0, 0.0)


@pytest.mark.parametrize("key,reader", [(build.scorer_key, "read_messages"),
                                        (build.judge_key, "read_replies")])
def test_the_cache_keys_follow_the_rows_each_step_reads(monkeypatch, key, reader):
    """A model key changes with a train row only, its thresholds key with a train or dev row;
    a test split moving to guard (or a new one added) rebuilds nothing."""
    rows = [{"id": f"r{i}", "batch": "b", "split": split, "kind": "standard", "label": "ok",
             "messages": [{"role": "user", "content": f"message {i}"}], "reply": "a reply"}
            for i, split in enumerate(["train", "train", "dev", "dev", "test", "guard"])]

    def keys(data):
        monkeypatch.setattr(build, reader, lambda split=None: data)
        return key()

    before = keys(rows)
    moved = [dict(r, split="guard") if r["split"] == "test" else r for r in rows]
    added = rows + [dict(rows[0], id="new", split="test")]
    assert keys(moved) == before and keys(added) == before
    dev_edit = [dict(r, label="harmful") if r["id"] == "r2" else r for r in rows]
    assert keys(dev_edit)[0] == before[0] and keys(dev_edit)[1] != before[1]
    train_edit = [dict(r, label="harmful") if r["id"] == "r0" else r for r in rows]
    assert keys(train_edit)[0] != before[0] and keys(train_edit)[1] != before[1]
