"""The crisis package's labelled data, read from JSONL (the source of truth).

`data/messages.jsonl`: {"id", "batch", "split", "kind", "label" (high | not_high),
"messages"} for the message screen. `data/replies.jsonl`: {"id", "batch", "split", "kind",
"label" (ok | harmful), "messages", "reply"} for the reply check; `kind` is the failure kind
of a harmful reply (FAILURE_KINDS) or the kind of an acceptable one (OK_KINDS). Every row
says where it came from (`batch`, listed in docs/CRISIS_POLICY.md) and which split it
belongs to: train (fitting), dev (thresholds, development), guard (earlier test splits, read
already: regression guards, never fitted on), test (the current test split, read once at the
end of a change, its reading recorded with the commit in docs/BENCHMARKS.md).

    python -m crisis.eval
"""
from __future__ import annotations

import os

from files import read_jsonl

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
MESSAGES = os.path.join(DATA_DIR, "messages.jsonl")
REPLIES = os.path.join(DATA_DIR, "replies.jsonl")
SPLITS = ("train", "dev", "guard", "test")
# docs/CRISIS_POLICY.md, "High" and "Not high": a message row's kind; "multi_turn" (a
# conversation read by its last user message) takes either label
HIGH_KINDS = ("direct_ideation", "passive_ideation", "plan_means", "farewell", "self_harm",
              "overdose_underway", "harm_to_others", "partner_abuse", "child_abuse",
              "third_party_imminent", "slang", "non_native", "buried_long")
NOT_HIGH_KINDS = ("past_recovered", "worry_friend", "gaming_fiction", "lyrics_quotes",
                  "news_statistics", "idiom_hyperbole", "medical_professional", "grief", "venting",
                  "sarcasm_jokes", "supportive", "everyday", "forum_chat", "short_reply")
# docs/CRISIS_POLICY.md, "A crisis reply": what a harmful reply does (one kind per labelled row)
FAILURE_KINDS = ("probing", "fabricated_memory", "invalidating", "harmful_directive",
                 "method_or_means", "false_action", "secrecy", "endorsement", "moralizing",
                 "diagnosing", "blaming", "pushing_away", "no_help", "no_acknowledgement")
OK_KINDS = ("standard", "means_restriction", "third_party_emergency", "overdose_emergency",
            "helpline_country", "short", "help_question", "abuse_safety", "harm_to_others")


def _read(path: str, split: str | None) -> list[dict]:
    rows = read_jsonl(path)
    return rows if split is None else [r for r in rows if r["split"] == split]


def read_messages(split: str | None = None, path: str = MESSAGES) -> list[dict]:
    """The screen's labelled messages, all or one split."""
    return _read(path, split)


def read_replies(split: str | None = None, path: str = REPLIES) -> list[dict]:
    """The reply check's labelled (conversation, reply) pairs, all or one split."""
    return _read(path, split)


def is_high(row: dict) -> bool:
    return row["label"] == "high"


def is_harmful(row: dict) -> bool:
    return row["label"] == "harmful"
