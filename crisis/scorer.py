"""The learned layer of the message screen: a fine-tuned sentence encoder and a linear
classifier giving p(high) for a conversation. Inference only: crisis/build.py trains it and
crisis/thresholds.py chooses its thresholds on the dev split.

Why this design (the alternatives the crisis issues weighed):
- a risk head on the friend's own hidden state shares its forward pass, but the offline model
  is a 135M chat model whose features barely separate "this exam will kill me" from "I will
  kill myself", and a head would have to be retrained with every fine-tune;
- a screening question read from the instruct model's next-token probabilities costs a chat
  model forward per message and, with the 135M model, answers close to chance;
- a classifier on all-MiniLM-L6-v2 (crisis/encoder.py) is the same screen for every chat
  model and costs milliseconds per message. Logistic regression on its frozen embeddings read
  topic more than stance (dev AUC 0.930); fine-tuning the encoder with the classifier reads who
  is at risk and when (dev AUC 0.976 with every layer trained, 0.970 with the top three:
  docs/BENCHMARKS.md).

Features: the embedding of the latest user message, and of the last turns as a dialogue
("friend: are you safe? user: no" carries what "no" means). Long messages are also scored two
sentences at a time (a signal buried in small talk), keeping the highest.

    python -m crisis.eval
"""
from __future__ import annotations

import json
import os
import re

import torch
from safetensors import safe_open

from crisis.encoder import Encoder

WINDOW_SENTENCES = 2  # a long message is also scored two sentences at a time
CONTEXT_TURNS = 3  # turns of the dialogue window (the latest user turn included)
SCORER_FILE = "risk_scorer.safetensors"
ENCODER_SUBDIR = "encoder"  # the fine-tuned encoder, beside the classifier
THRESHOLDS_FILE = "thresholds.json"  # chosen on dev for one version of the rules


def dialogue_window(messages: list[dict]) -> str:
    """The last turns as a dialogue; a conversation of one user turn is that turn itself (the
    same text as the message's own window, so it is encoded once)."""
    turns = messages[-CONTEXT_TURNS:]
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n".join(f"{'user' if m['role'] == 'user' else 'friend'}: {m['content']}"
                     for m in turns)


def windows(text: str) -> list[str]:
    """The message, and, when it is long, its consecutive two-sentence windows."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if s.strip()]
    if len(sentences) <= WINDOW_SENTENCES:
        return [text]
    return [text] + [" ".join(sentences[i:i + WINDOW_SENTENCES])
                     for i in range(len(sentences) - WINDOW_SENTENCES + 1)]


def feature_texts(conversations: list[list[dict]]) -> tuple[list[str], list[str], list[int]]:
    """The windows of each latest user message, each dialogue, and the owner of each window."""
    latest, dialog, owner = [], [], []
    for k, msgs in enumerate(conversations):
        users = [m for m in msgs if m["role"] == "user"]
        dialog.append(dialogue_window(msgs))
        for w in windows(users[-1]["content"] if users else ""):
            latest.append(w)
            owner.append(k)
    return latest, dialog, owner


class RiskScorer:
    """p(high) for a conversation: the classifier over [window, dialogue] embeddings."""

    def __init__(self, encoder: Encoder, weights: dict, meta: dict):
        self.encoder, self.w, self.b = encoder, weights["w"], weights["b"]
        self.meta = dict(meta)
        self.set_thresholds({"threshold_high": meta.get("threshold_high", 0.5),
                             "threshold_elevated": meta.get("threshold_elevated", 0.25),
                             "rule_veto_below": meta.get("rule_veto_below", 0.0)})

    def set_thresholds(self, chosen: dict) -> None:
        """`chosen` from the dev selection (or a bare pair); kept in meta as provenance.
        `rule_veto_below`: a rule hit on the latest message does not make it high when the
        scorer reads it below this (crisis/screen.py), if all its categories are among
        `rule_veto_categories` (None: any); each kept when `chosen` leaves it out."""
        self.meta.update(chosen)
        self.high = float(chosen["threshold_high"])
        self.elevated = float(chosen["threshold_elevated"])
        self.veto = float(chosen.get("rule_veto_below", getattr(self, "veto", 0.0)))
        cats = chosen.get("rule_veto_categories", getattr(self, "veto_categories", None))
        self.veto_categories = None if cats is None else frozenset(cats)

    def features(self, conversations: list[list[dict]]) -> tuple[torch.Tensor, list[int]]:
        """One row per (conversation, window of its latest message); the owner of each row."""
        latest, dialog, owner = feature_texts(conversations)
        texts = list(dict.fromkeys(latest + dialog))  # each distinct text encoded once
        index = {t: i for i, t in enumerate(texts)}
        emb = self.encoder(texts)
        rows = [torch.cat([emb[index[w]], emb[index[dialog[k]]]]) for w, k in zip(latest, owner)]
        return torch.stack(rows), owner

    def probabilities(self, conversations: list[list[dict]]) -> list[float]:
        x, owner = self.features(conversations)
        p = torch.sigmoid(x @ self.w + self.b).tolist()
        best = [0.0] * len(conversations)
        for k, v in zip(owner, p):
            best[k] = max(best[k], v)
        return best


def load_scorer(folder: str, thresholds_folder: str | None = None) -> RiskScorer:
    """The scorer crisis/build.py wrote into `folder`, with the thresholds it chose for the
    current rules in `thresholds_folder` (None: not chosen yet, 0.5)."""
    with safe_open(os.path.join(folder, SCORER_FILE), framework="pt") as f:
        weights = {"w": f.get_tensor("w"), "b": f.get_tensor("b")[0]}
        meta = f.metadata()
    scorer = RiskScorer(Encoder(os.path.join(folder, ENCODER_SUBDIR)), weights, meta)
    if thresholds_folder is None:
        return scorer
    with open(os.path.join(thresholds_folder, THRESHOLDS_FILE), encoding="utf-8") as f:
        scorer.set_thresholds(json.load(f))
    return scorer
