"""Structural leak check: a model input is built from the row's turn texts and nothing else.

String matching of label words cannot work on real dialogue (people name their feelings, and
a quarter of real ED inputs contain a word of their own label or situation). The check is
structural instead:
  1. every message of a canonical example is, verbatim, one turn text of its source row, in
     the row's order (ED: the chat history and the reply; ESConv: the dialog turns;
     GoEmotions: the comment), so no metadata field (situation, emotion, strategy, problem
     type, ...) can have entered a message;
  2. the tokenized input is exactly the chat template over the configured system prompt and
     those messages (after the recorded truncation), plus the reply and its end-of-turn
     token: nothing was inserted between the canonical example and the model.

    python -m pytest tests/test_leakage.py
"""
from __future__ import annotations

import ast
import json

from prompting import render_ids, with_system


def _clean(text) -> str:
    return text.strip() if isinstance(text, str) else ""


def turn_texts(source: str, row: dict) -> list[str]:
    """The row's turn texts in order: the only strings a model input may contain."""
    if source == "ed":
        try:
            history = ast.literal_eval(row.get("chat_history") or "[]")
        except (ValueError, SyntaxError):
            history = []
        history = history if isinstance(history, list) else []
        return [_clean(t) for t in history] + [_clean(row.get("sys_response"))]
    if source == "esconv":
        try:
            conv = json.loads(row.get("text") or "")
        except (json.JSONDecodeError, TypeError):
            return []
        dialog = conv.get("dialog") if isinstance(conv, dict) else None
        return [_clean(t.get("text")) for t in dialog or [] if isinstance(t, dict)]
    return [_clean(row.get("text"))]


def message_leaks(source: str, row: dict, example: dict) -> list[str]:
    """Messages that are not, in order, turn texts of the row (empty when clean)."""
    texts, pos, findings = turn_texts(source, row), 0, []
    for n, message in enumerate(example["messages"]):
        try:
            pos = texts.index(message["content"], pos) + 1
        except ValueError:
            findings.append(f"message {n} ({message['role']}) is not a turn text of the row, "
                            f"in order: {message['content'][:60]!r}")
    return findings


def input_leaks(example: dict, tokenized: dict, tokenizer, system_prompt: str,
                eot_id: int) -> list[str]:
    """Differences between the tokenized input and the template over system prompt + turns."""
    messages = example["messages"]
    target = messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else None
    history = messages[:-1] if target is not None else messages
    prompt = render_ids(tokenizer, with_system(system_prompt, history[tokenized["truncated_turns"]:]))
    expected = prompt + (tokenizer(target, add_special_tokens=False).input_ids + [eot_id]
                         if target is not None else [])
    if list(tokenized["input_ids"]) != expected:
        return [f"the model input differs from the chat template over the system prompt and "
                f"the turn texts ({len(tokenized['input_ids'])} vs {len(expected)} tokens)"]
    if tokenized["prompt_length"] != len(prompt):
        return ["the prompt length does not end where the reply begins"]
    return []
