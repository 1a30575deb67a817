"""Canonicalization: one raw source row -> canonical examples, labels kept out of the input.

A canonical example is {"source", "messages": [{"role", "content"}...], "emotion_name",
"strategy_name"}; the last message is the assistant target when there is one. Only turn texts
become messages: situations, emotions, strategies and other metadata never do. A malformed
row raises SkipRow with a reason, and is counted, not fatal.

    python main.py data --config config/cpu_smoke.json
"""
from __future__ import annotations

import ast
import json

GOEMOTIONS_LABELS = [
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral"]

# The eight ESConv support strategies, in the order of the ESConv paper.
ESCONV_STRATEGIES = [
    "Question", "Restatement or Paraphrasing", "Reflection of feelings", "Self-disclosure",
    "Affirmation and Reassurance", "Providing Suggestions", "Information", "Others"]

# Opt-in (data.emotion_mapping = "ed_to_goemotions"): ED's 32 situation emotions onto the
# nearest GoEmotions class, so ED replies also supervise the emotion head. Off by default
# because the two taxonomies differ (ED labels the situation, GoEmotions the comment).
ED_TO_GOEMOTIONS = {
    "afraid": "fear", "angry": "anger", "annoyed": "annoyance", "anticipating": "excitement",
    "anxious": "nervousness", "apprehensive": "nervousness", "ashamed": "remorse",
    "caring": "caring", "confident": "optimism", "content": "joy", "devastated": "grief",
    "disappointed": "disappointment", "disgusted": "disgust", "embarrassed": "embarrassment",
    "excited": "excitement", "faithful": "love", "furious": "anger", "grateful": "gratitude",
    "guilty": "remorse", "hopeful": "optimism", "impressed": "admiration", "jealous": "desire",
    "joyful": "joy", "lonely": "sadness", "nostalgic": "desire", "prepared": "optimism",
    "proud": "pride", "sad": "sadness", "sentimental": "love", "surprised": "surprise",
    "terrified": "fear", "trusting": "approval"}

class SkipRow(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------ canonicalizers
def _clean(text) -> str:
    return text.strip() if isinstance(text, str) else ""


def _example(source, messages, emotion="", strategy="") -> dict:
    return {"source": source, "messages": messages, "emotion_name": emotion,
            "strategy_name": strategy}


def canonicalize_ed(row: dict, emotion_mapping: str = "none") -> list[dict]:
    """One ED-v2 row -> one example: alternating history ending with the user, target reply."""
    raw = row.get("chat_history")
    if not isinstance(raw, str) or not raw.strip():
        raise SkipRow("missing_chat_history")
    try:
        turns = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise SkipRow("bad_chat_history") from None
    if not isinstance(turns, list):
        raise SkipRow("chat_history_not_list")
    turns = [_clean(t) for t in turns]
    if not turns:
        raise SkipRow("empty_chat_history")
    if any(not t for t in turns):
        raise SkipRow("empty_text")
    target = _clean(row.get("sys_response"))
    if not target:
        raise SkipRow("empty_response")
    n = len(turns)  # roles counted back from the end: the last turn is the user's
    messages = [{"role": "user" if (n - 1 - i) % 2 == 0 else "assistant", "content": t}
                for i, t in enumerate(turns)]
    messages.append({"role": "assistant", "content": target})
    emotion = ""
    if emotion_mapping == "ed_to_goemotions":
        emotion = ED_TO_GOEMOTIONS.get(_clean(row.get("emotion")).lower(), "")
    return [_example("ed", messages, emotion=emotion)]


def canonicalize_esconv(row: dict, emotion_mapping: str = "none") -> list[dict]:
    """One ESConv conversation -> one example per supporter turn that has a strategy.

    The prompt of a supporter turn is everything before it, supporter turns included: about
    half of ESConv's conversations open with the supporter. A supporter turn before any seeker
    turn answers nothing, so it is no example; it is returned as a skip record
    ("opening_supporter_turn") so that kept + skipped adds up to the annotated turns.
    """
    try:
        conv = json.loads(row.get("text") or "")
    except (json.JSONDecodeError, TypeError):
        raise SkipRow("bad_json") from None
    if not isinstance(conv, dict) or not isinstance(conv.get("dialog"), list) or not conv["dialog"]:
        raise SkipRow("missing_dialog")
    messages = []
    for turn in conv["dialog"]:
        if not isinstance(turn, dict) or "speaker" not in turn:
            raise SkipRow("turn_missing_speaker")
        if turn["speaker"] not in ("usr", "sys"):
            raise SkipRow("bad_speaker")
        text = _clean(turn.get("text"))
        if not text:
            raise SkipRow("empty_text")
        messages.append((("user" if turn["speaker"] == "usr" else "assistant"), text,
                         _clean(turn.get("strategy"))))
    examples = []
    for i, (role, text, strategy) in enumerate(messages):
        if role != "assistant" or not strategy:
            continue
        history = [{"role": r, "content": t} for r, t, _ in messages[:i]]
        if not any(m["role"] == "user" for m in history):
            examples.append(dict(_example("esconv", []), skip_reason="opening_supporter_turn"))
            continue
        examples.append(_example("esconv", history + [{"role": "assistant", "content": text}],
                                 strategy=strategy))
    if not examples:
        raise SkipRow("no_supporter_turn_with_strategy")
    return examples


def canonicalize_goemotions(row: dict, emotion_mapping: str = "none") -> list[dict]:
    """One GoEmotions row with exactly one label -> a classification-only example."""
    text = _clean(row.get("text"))
    if not text:
        raise SkipRow("empty_text")
    labels = row.get("labels")
    if not isinstance(labels, list) or not labels:
        raise SkipRow("no_label")
    if len(labels) != 1:
        raise SkipRow("multi_label")
    label = labels[0]
    if not isinstance(label, int) or not 0 <= label < len(GOEMOTIONS_LABELS):
        raise SkipRow("label_out_of_range")
    return [_example("goemotions", [{"role": "user", "content": text}],
                     emotion=GOEMOTIONS_LABELS[label])]


CANONICALIZERS = {"ed": canonicalize_ed, "esconv": canonicalize_esconv,
                  "goemotions": canonicalize_goemotions}


def canonicalize_batch(batch: dict, source: str, emotion_mapping: str) -> dict:
    """datasets.map(batched=True) body: rows -> examples, plus one record per skipped row."""
    out = {"source": [], "messages": [], "emotion_name": [], "strategy_name": [],
           "skip_reason": []}
    n = len(next(iter(batch.values())))
    for i in range(n):
        row = {k: v[i] for k, v in batch.items()}
        if "__row__" in row:  # a local file's row, kept as its JSON text (dataset._local_splits)
            row = json.loads(row["__row__"])
        try:
            examples = CANONICALIZERS[source](row, emotion_mapping)
        except SkipRow as skip:
            examples = [dict(_example(source, []), skip_reason=skip.reason)]
        for ex in examples:
            for key in out:
                out[key].append(ex.get(key, ""))
    return out
