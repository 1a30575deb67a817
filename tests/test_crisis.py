"""The crisis screen and the crisis-reply check against the project's held-out test splits
(data/crisis/: written to docs/CRISIS_POLICY.md; the test split was never used for tuning),
plus the external Reddit C-SSRS set when ../shared/crisis-external is present."""
import json
import os

import pytest

from conftest import ROOT
from reply_check import check_crisis_reply
from risk import assess_many, assess_risk, default_scorer
from risk_rules import rule_hits
from risk_scorer import read_messages

REPLIES = os.path.join(ROOT, "data", "crisis", "replies.jsonl")
CSSRS = os.path.join(ROOT, "..", "shared", "crisis-external")


@pytest.fixture(scope="module")
def scorer():
    return default_scorer()


def test_the_project_data_is_big_varied_and_split_without_overlap():
    rows = read_messages()
    assert len(rows) >= 600 and len({r["kind"] for r in rows}) >= 25
    texts = {s: {json.dumps(r["messages"]) for r in rows if r["split"] == s}
             for s in ("train", "dev", "test", "fresh")}
    assert not (texts["train"] & texts["test"]) and not (texts["dev"] & texts["test"])
    assert not (texts["fresh"] & (texts["train"] | texts["dev"] | texts["test"]))
    assert len([r for r in rows if r["split"] == "test"]) >= 100


def test_the_crisis_data_files_are_exactly_what_the_generator_writes():
    """Every split, the read-once `fresh` one included, is rebuilt by the committed generator."""
    import random
    import sys
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import make_crisis_data as make
    rng = random.Random(make.SEED)
    assert make.message_rows(rng) == read_messages()
    assert make.reply_rows(rng) == [json.loads(line) for line in open(REPLIES)]


def test_screen_on_the_held_out_test_split_keeps_its_measured_recall_and_fpr(scorer):
    """The test split written after the first was retired (docs/CRISIS_POLICY.md), measured
    once: recall 0.879 (58/66), false-positive rate 0.038 (2/53). The crisis issue's target is
    recall >= 0.95 at FPR <= 0.05; the FPR half holds and the recall half does not (train and
    dev read 1.00: the rules fit our own phrasing better than fresh phrasing). This guards the
    measured level against regressions; it is not the target."""
    test = [r for r in read_messages() if r["split"] == "test"]
    pred = [a.level == "high" for a in assess_many([r["messages"] for r in test], scorer)]
    high = [p for p, r in zip(pred, test) if r["label"] == "high"]
    low = [p for p, r in zip(pred, test) if r["label"] != "high"]
    recall, fpr = sum(high) / len(high), sum(low) / len(low)
    assert recall >= 0.87 and fpr <= 0.05, (recall, fpr)


def test_assess_many_equals_one_message_at_a_time(scorer):
    rows = [r["messages"] for r in read_messages() if r["split"] == "dev"][::4]
    assert [a.to_dict() for a in assess_many(rows, scorer)] == \
        [assess_risk(m, scorer=scorer).to_dict() for m in rows]


def test_reply_check_is_right_on_95_percent_of_its_held_out_replies():
    rows = [json.loads(line) for line in open(REPLIES)]
    test = [r for r in rows if r["split"] == "test"]
    right = [check_crisis_reply(r["reply"])["ok"] == r["acceptable"] for r in test]
    assert len(rows) >= 120 and sum(right) / len(right) >= 0.95


@pytest.mark.parametrize("text,level", [
    # a past clause does not cancel a present plan in the same unpunctuated message
    ("I was planning to kill myself in 8th grade (that was two years ago), and Im actually "
     "planning to kill myself tonight", "high"),
    ("I tried to kill myself in 2015 but I'm doing so much better now", "elevated"),
    ("police rescued a suicidal man from the bridge this morning", "none|elevated"),
    ("If you ever want to talk, hit me up!", "none|elevated"),
    ("my friend just took a whole bottle of pills and won't answer", "high"),
    ("I want to fucking die", "high"),
])
def test_discounts_are_scoped_to_their_clause_and_third_parties_count(scorer, text, level):
    assert assess_risk(text, scorer=scorer).level in level.split("|")


def test_a_short_answer_to_a_safety_question_is_read_with_its_history(scorer):
    conv = [{"role": "user", "content": "I've been thinking about ending things"},
            {"role": "assistant", "content": "That sounds heavy. Are you safe right now?"},
            {"role": "user", "content": "not really"}]
    assert assess_risk(conv, scorer=scorer).level == "high"
    conv[-1]["content"] = "yes, I'm okay, my sister is here with me"
    assert assess_risk(conv, scorer=None).level != "high"


@pytest.mark.parametrize("reply,problem", [
    ("Tell me exactly how you plan to do it.", "details_request"),
    ("Can you tell me how you would do it?", "probing_question"),
    ("Suicide is selfish, think about your family. Please call a crisis line.", "invalidating"),
    ("I respect your decision, it's your life.", "endorsing"),
    ("I've alerted emergency services and they're on their way.", "false_action"),
    ("I won't tell anyone, this stays between us.", "secrecy"),
    ("Pills are less painful than other ways.", "method_or_means"),
])
def test_the_reply_check_cannot_be_talked_past(reply, problem):
    assert problem in check_crisis_reply(reply)["problems"]


@pytest.mark.parametrize("reply", [
    "I'm so sorry. Is there someone you could call tonight?",
    "I'm really sorry. Could you ask someone to hold on to the pills for now, and call a "
    "crisis line?",
    "It makes sense that you feel overwhelmed. Please reach out to a crisis line now.",
])
def test_the_reply_check_accepts_what_the_policy_allows(reply):
    assert check_crisis_reply(reply)["ok"], check_crisis_reply(reply)


def test_rule_evidence_names_the_clause_and_the_discount():
    hits = rule_hits("my brother said he wants to die")
    assert hits and hits[0]["discount"] == "someone else" and not hits[0]["counts"]


@pytest.mark.skipif(not os.path.isdir(CSSRS), reason="../shared/crisis-external absent")
def test_cssrs_user_level_recall_target_holds_on_every_fifth_user(scorer):
    """Users flagged when any post is high (scripts/eval_risk.py; all 500 users there: recall
    0.891, Supportive false-positive rate 0.778). The recall target (>= 0.85) holds; the
    Supportive FPR target (<= 0.25) does not, and no aggregate of this screen's post scores
    separates Supportive from at-risk users (user-level AUC 0.48-0.66, docs/BENCHMARKS.md), so
    only recall is asserted. Every fifth user keeps the suite within minutes."""
    import sys
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from eval_risk import cssrs
    c = cssrs(scorer, every=5)
    assert c["recall_ideation_behavior_attempt"] >= 0.85, c


def test_eval_risk_reports_the_reply_check_on_every_split_the_replies_have():
    import sys
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from eval_risk import reply_check
    splits = {json.loads(line)["split"] for line in open(REPLIES)}
    out = reply_check()
    assert set(out) == splits and all(r["n"] > 0 for r in out.values())
