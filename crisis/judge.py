"""The learned layer of the crisis-reply check: a judge of the (conversation, reply) pair.

Probing, a fabricated memory, downplaying a danger or blaming only show against what the user
said, and in words no list of phrases anticipates, so the judge reads both at once: a
cross-encoder (all-MiniLM-L6-v2 fine-tuned, crisis/encoder.py) over "[CLS] the user's turns
[SEP] the reply [SEP]", pooled over the reply's tokens (mean, max, and [CLS]) into one linear
layer over "ok" and the failure kinds of docs/CRISIS_POLICY.md. p(harmful) = 1 - p(ok); the
kind named is the likeliest failure kind. Frozen embeddings read the whole reply as one topic
and missed single harmful sentences (dev AUC 0.88 against 0.96 fine-tuned: docs/BENCHMARKS.md).
Inference only: crisis/build.py trains it; crisis/thresholds.py chooses its threshold on dev.

    python -m crisis.eval
"""
from __future__ import annotations

import json
import os

import torch
from safetensors import safe_open

from crisis.data import FAILURE_KINDS
from crisis.encoder import MAX_TOKENS, WIDTH, Encoder

LABELS = ("ok",) + FAILURE_KINDS  # the classifier's outputs, in order
CONTEXT_TOKENS = 96  # the end of the user's turns kept before the reply
JUDGE_FILE = "reply_judge.safetensors"
ENCODER_SUBDIR = "encoder"
THRESHOLD_FILE = "threshold.json"
FEATURES = 3 * WIDTH  # mean and max over the reply's tokens, and [CLS]


def context_text(conversation: list[dict]) -> str:
    """What the user said, oldest first: what a reply must not invent, probe or play down."""
    return " ".join(m["content"] for m in conversation if m.get("role") == "user")


def encode_pair(tokenizer, conversation: list[dict], reply: str) -> dict:
    """Token ids, token types and the reply mask of one (conversation, reply) pair."""
    ctx = tokenizer(context_text(conversation), add_special_tokens=False)["input_ids"]
    ctx = ctx[-CONTEXT_TOKENS:] if ctx else []
    rep = tokenizer(reply, add_special_tokens=False)["input_ids"][:MAX_TOKENS - 3 - len(ctx)]
    ids = [tokenizer.cls_token_id, *ctx, tokenizer.sep_token_id, *rep, tokenizer.sep_token_id]
    head = len(ctx) + 2
    return {"ids": ids, "types": [0] * head + [1] * (len(rep) + 1),
            "reply": [0] * head + [1] * len(rep) + [0]}


def pad(pairs: list[dict], pad_id: int) -> dict:
    """A batch of encoded pairs, right-padded."""
    width = max(len(p["ids"]) for p in pairs)

    def rows(key, fill):
        return torch.tensor([p[key] + [fill] * (width - len(p[key])) for p in pairs])
    return {"input_ids": rows("ids", pad_id), "token_type_ids": rows("types", 0),
            "attention_mask": torch.tensor([[1] * len(p["ids"]) + [0] * (width - len(p["ids"]))
                                            for p in pairs]),
            "reply_mask": rows("reply", 0)}


def pool(hidden: torch.Tensor, reply_mask: torch.Tensor) -> torch.Tensor:
    """[mean over the reply's tokens, max over them, the [CLS] state]."""
    m = reply_mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
    top = (hidden + (m - 1) * 1e4).max(1).values
    return torch.cat([mean, top, hidden[:, 0]], dim=1)


class ReplyJudge:
    """Per pair: p(harmful) and the probability of each failure kind."""

    def __init__(self, encoder: Encoder, head: torch.nn.Linear, meta: dict):
        self.encoder, self.head, self.meta = encoder, head, dict(meta)
        self.threshold = float(meta.get("threshold", 0.5))

    @torch.no_grad()
    def judge(self, conversations: list[list[dict]], replies: list[str],
              batch_size: int = 32) -> list[dict]:
        """{"p_harmful", "kinds": {kind: p}} for each pair, in input order."""
        tok = self.encoder.tokenizer
        pairs = [encode_pair(tok, c, r) for c, r in zip(conversations, replies)]
        order = sorted(range(len(pairs)), key=lambda k: len(pairs[k]["ids"]))
        out: list = [None] * len(pairs)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            b = pad([pairs[k] for k in idx], tok.pad_token_id)
            mask = b.pop("reply_mask")
            hidden = self.encoder.model(**b).last_hidden_state
            probs = torch.softmax(self.head(pool(hidden, mask)), dim=-1).tolist()
            for k, p in zip(idx, probs):
                out[k] = {"p_harmful": 1.0 - p[0],
                          "kinds": {n: q for n, q in zip(LABELS[1:], p[1:])}}
        return out


def load_judge(folder: str, threshold_folder: str | None = None) -> ReplyJudge:
    """The judge crisis/build.py wrote into `folder`, with the threshold it chose for the
    current reply rules in `threshold_folder` (None: not chosen yet, 0.5)."""
    head = torch.nn.Linear(FEATURES, len(LABELS))
    with safe_open(os.path.join(folder, JUDGE_FILE), framework="pt") as f:
        head.load_state_dict({"weight": f.get_tensor("weight"), "bias": f.get_tensor("bias")})
        meta = f.metadata()
    judge = ReplyJudge(Encoder(os.path.join(folder, ENCODER_SUBDIR)), head.eval(), meta)
    if threshold_folder is None:
        return judge
    with open(os.path.join(threshold_folder, THRESHOLD_FILE), encoding="utf-8") as f:
        chosen = json.load(f)
    judge.meta.update(chosen)
    judge.threshold = float(chosen["threshold"])
    return judge
