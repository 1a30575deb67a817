"""Crisis controller, private notes, crisis reply flow, guarded streaming."""
import io
import json
import os

import pytest

import decoding_policy
from conftest import ROOT
from decoding_policy import (NOTE_HEADER, ReplyPolicy, scrub_note, style_line, system_prompt_for,
                             validate_styles)
from reply_check import SAFE_MESSAGE, check_crisis_reply
from risk import assess_risk

LABELLED = os.path.join(ROOT, "tests", "fixtures", "risk_messages.jsonl")


def test_assess_risk_recall_and_false_positive_rate_on_the_labelled_set():
    rows = [json.loads(l) for l in open(LABELLED)]
    high = [r for r in rows if r["label"] == "high"]
    low = [r for r in rows if r["label"] != "high"]
    assert len(rows) >= 80 and len(high) * 2 == len(rows)
    assert sum(r["kind"] == "indirect" for r in high) >= 15
    assert sum(r["kind"].startswith("hard negative") for r in low) >= 15
    recall = sum(assess_risk(r["text"]).level == "high" for r in high) / len(high)
    fpr = sum(assess_risk(r["text"]).level == "high" for r in low) / len(low)
    assert recall >= 0.95 and fpr <= 0.10, (recall, fpr)
    for r in high:  # the category is named too
        a = assess_risk(r["text"])
        assert a.level != "high" or r["category"] in a.categories, r["text"]


def test_assess_risk_reads_history_and_reports_evidence():
    conv = [{"role": "user", "content": "I've been thinking about ending my life."},
            {"role": "assistant", "content": "I'm so glad you told me."},
            {"role": "user", "content": "Yes. Tonight."}]
    a = assess_risk(conv)
    assert a.level == "high" and "suicide" in a.categories
    assert any(e["span"] == "ending my life" and e["counts"] for e in a.evidence)
    conv[-1]["content"] = "Thanks, talking helped a little."
    assert assess_risk(conv).level == "elevated"
    neg = assess_risk("I would never hurt myself")
    assert neg.level == "elevated" and neg.evidence[0]["discount"] == "negated"
    assert assess_risk("my friend said she wants to die").evidence[0]["discount"] == "someone else"


def test_reply_checker_and_safe_message():
    assert check_crisis_reply(SAFE_MESSAGE) == {"ok": True, "problems": []}
    bad = check_crisis_reply("Calm down. How many pills did you take? Remember when we went out?")
    assert set(bad["problems"]) >= {"probing_question", "method_or_means", "invalidating",
                                    "fabricated_memory", "no_help_encouragement"}
    ok = check_crisis_reply("That sounds so painful. Would you reach out to someone you trust "
                            "tonight, or call a crisis line?")
    assert ok["ok"], ok


def test_styles_are_validated_and_rendered():
    assert validate_styles(["Warm", "concise"]) == ["warm", "concise"]
    with pytest.raises(Exception, match="unknown style"):
        validate_styles(["sarcastic"])
    assert style_line(["calm"]).startswith("Style: calm (")
    assert "Style: warm" in system_prompt_for("Base.", ["warm"], "n", "")


class FakeFriend:
    """Stands in for a loaded model: heads-free, adapter context is a no-op."""
    heads, tokenizer, eot_id, has_adapter = {}, None, 0, True

    def use(self, model):
        import contextlib
        return contextlib.nullcontext()


def _policy(monkeypatch, reply_fn):
    calls = []

    def fake_generate(friend, prompts, max_new_tokens, **kw):
        calls.append(prompts)
        return [reply_fn(p) for p in prompts]
    monkeypatch.setattr(decoding_policy, "generate_batch", fake_generate)
    return ReplyPolicy(FakeFriend(), "You are a friend.", ["warm"], two_step=True), calls


def test_private_note_never_reaches_the_reply_or_history(monkeypatch):
    def echo(prompt):  # the worst case: the model repeats its whole system prompt
        if "Private reflection" in prompt[-1]["content"]:
            return "They feel abandoned and need reassurance that they matter."
        return prompt[0]["content"] + "\nI'm here for you."
    policy, calls = _policy(monkeypatch, echo)
    conv = [{"role": "user", "content": "Nobody came to my party."}]
    (reply,) = policy.respond([conv], "base")
    note = reply.meta["note"]
    assert note == "They feel abandoned and need reassurance that they matter."
    assert note not in reply.text and NOTE_HEADER not in reply.text
    assert reply.meta["note_scrubbed"] is True and "I'm here for you." in reply.text
    assert any(note in p[0]["content"] for p in calls[-1])  # step 2 did see it
    assert conv == [{"role": "user", "content": "Nobody came to my party."}]  # history untouched


@pytest.mark.parametrize("second,outcome,final", [
    ("I'm so sorry. Please reach out to someone you trust or a crisis line now.", "regenerated",
     None),
    ("Why do you feel that way? What method?", "replaced", SAFE_MESSAGE),
])
def test_crisis_replies_pass_or_are_replaced_and_meta_says_which(monkeypatch, second, outcome,
                                                                  final):
    def reply_fn(prompt):
        system = prompt[0]["content"]
        if "Private reflection" in prompt[-1]["content"]:
            return "scared"
        if "Ask no question at all" in system:
            return second
        return "What happened? Tell me everything."
    policy, _ = _policy(monkeypatch, reply_fn)
    (reply,) = policy.respond([[{"role": "user", "content": "I want to kill myself."}]], "base")
    crisis = reply.meta["crisis"]
    assert reply.meta["crisis_mode"] and crisis["outcome"] == outcome
    assert [a["instruction"] for a in crisis["attempts"]] == ["crisis", "strict"]
    assert crisis["attempts"][0]["check"]["problems"] == ["probing_question",
                                                          "no_help_encouragement",
                                                          "no_acknowledgement"]
    assert reply.text == (final or second)
    assert check_crisis_reply(reply.text)["ok"]


def test_scrub_note_removes_note_sentences_and_header_lines():
    note = "They most likely feel grief (0.61), sadness (0.20). Best support now: Question (0.4)."
    text, changed = scrub_note("Private note: blah\nThey most likely feel grief (0.61), sadness "
                               "(0.20). I'm sorry.", note)
    assert changed and "grief (0.61)" not in text and "Private note" not in text
    assert text == "I'm sorry."


def test_guarded_streamer_never_prints_the_note(smol_tok):
    from chat import GuardedStreamer
    out = io.StringIO()
    note = "They feel abandoned and need reassurance."
    st = GuardedStreamer(smol_tok, [note], out)
    for chunk in ["Hey. ", "They feel ", "aband", "oned and need ", "reassurance.", " I'm here."]:
        st.on_finalized_text(chunk)
    st.on_finalized_text("", stream_end=True)
    assert note not in out.getvalue() and out.getvalue().replace("  ", " ").strip() == \
        "Hey. I'm here."
