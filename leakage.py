"""Label-leakage checker: does a model input contain its own labels or forbidden metadata?

The model may only see the dialogue turns and the fixed system prompt. This scans the
rendered input (exactly what the tokenizer produced) for the example's own emotion and
strategy names, the raw row's forbidden metadata values (ED situation/behavior/emotion,
ESConv situation/problem_type/emotion_type) and tag-like patterns ("emotion: ...").
Runs over every fixture row in tests; a planted leak proves it fires.

    python -m pytest tests/test_leakage.py
"""
from __future__ import annotations

import json
import re

from canonical import FORBIDDEN_FIELDS

TAG = re.compile(r"\b(emotion|strategy|situation|problem[_ ]type|emotion[_ ]type|behavio(u)?r)"
                 r"\s*[:=]", re.IGNORECASE)


def raw_metadata(source: str, row: dict) -> dict:
    """The forbidden metadata values of one raw row (ESConv's live inside the JSON text)."""
    if source == "esconv":
        try:
            row = json.loads(row.get("text") or "")
        except (json.JSONDecodeError, TypeError):
            return {}
        if not isinstance(row, dict):
            return {}
    return {f: str(row[f]) for f in FORBIDDEN_FIELDS[source] if row.get(f) not in (None, "")}


def find_leaks(model_input: str, metadata: dict, label_names: list[str],
               system_prompt: str = "") -> list[str]:
    """Human-readable findings; empty when the input is clean.

    The fixed system prompt is the same for every example, so it carries no label
    information even when it happens to contain a label word ("caring"): it is not scanned.
    """
    if system_prompt:
        model_input = model_input.replace(system_prompt, " ")
    findings = []
    needles = [(f"metadata {k}", v) for k, v in metadata.items()]
    needles += [("label", n) for n in label_names if n]
    for what, value in needles:
        if re.search(r"(?<!\w)" + re.escape(value.strip()) + r"(?!\w)", model_input, re.IGNORECASE):
            findings.append(f"{what} {value!r} found in input")
    findings += [f"tag {m.group(0)!r} found in input" for m in TAG.finditer(model_input)]
    return findings
