"""Emotion and support-strategy heads on the last prompt token, masked CE, safetensors I/O.

The heads read the backbone's final hidden state at `prompt_length - 1` (the last token the
model sees before it starts the reply), never a target token, so under causal attention a
head's prediction cannot depend on the reply it is trained alongside.

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

import contextlib
import json
import os

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from batching import IGNORE

HEAD_FILE = "heads.safetensors"


class ClassificationHead(nn.Module):
    """Fixed standardization, dropout, then one linear layer, in fp32 whatever the backbone's
    dtype.

    `center` and `scale` are buffers, not weights: identity until head_fit.py sets them to the
    feature means and deviations. A final hidden state has outlier dimensions (|x| in the
    hundreds beside dimensions near 1), and Adam moves every weight by about the learning rate
    whatever its input's scale; on standardized inputs a step means the same in each dimension.
    """

    def __init__(self, hidden_size: int, labels: list[str], dropout: float = 0.1):
        super().__init__()
        if not labels:
            raise ValueError("a head needs at least one label")
        self.labels = list(labels)
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(hidden_size, len(labels))
        self.register_buffer("center", torch.zeros(hidden_size))
        self.register_buffer("scale", torch.ones(hidden_size))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = (pooled.to(self.proj.weight.dtype) - self.center) / self.scale
        return self.proj(self.dropout(x))


class EmotionHead(ClassificationHead):
    """GoEmotions classes (train vocabulary) for the user's feeling."""


class StrategyHead(ClassificationHead):
    """ESConv support strategy of the reply that follows the prompt."""


HEAD_CLASSES = {"emotion": EmotionHead, "strategy": StrategyHead}


def pool_last_prompt_token(hidden: torch.Tensor, prompt_lengths: torch.Tensor) -> torch.Tensor:
    """hidden[b, prompt_length[b] - 1] for every row of a right-padded batch."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, prompt_lengths.to(hidden.device) - 1]


@torch.no_grad()
def pooled_prompt_states(hidden_fn, prompts: list, pad_id: int, batch_size: int, device,
                         autocast=contextlib.nullcontext, progress: bool = False) -> torch.Tensor:
    """The last-prompt-token state of each prompt (token ids), fp32 on `device`, in input
    order: right-padded batches sorted by length (little padding), `hidden_fn(ids, mask)` the
    final hidden states, pooled by pool_last_prompt_token. One implementation for the head fit
    (training), head metrics and the reflection step (inference)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = None
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="heads", leave=False, disable=not progress or len(starts) < 2):
        idx = order[start:start + batch_size]
        chunk = [prompts[i] for i in idx]
        ids = torch.full((len(chunk), max(map(len, chunk))), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, p in enumerate(chunk):
            ids[r, :len(p)], mask[r, :len(p)] = torch.tensor(p), 1
        with autocast():
            hidden = hidden_fn(ids.to(device), mask.to(device))
        pooled = pool_last_prompt_token(hidden, torch.tensor([len(p) for p in chunk])).float()
        out = pooled.new_empty(len(prompts), pooled.shape[1]) if out is None else out
        out[torch.tensor(idx, device=out.device)] = pooled
    return out


def masked_ce_sum(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of CE over rows whose label is not -100 (a tensor: no host sync)."""
    return F.cross_entropy(logits.float(), labels.to(logits.device), ignore_index=IGNORE,
                           reduction="sum")


def save_heads(heads: dict, path: str) -> None:
    """All heads in one safetensors file; label names and sizes in its metadata."""
    tensors, meta = {}, {}
    for name, head in heads.items():
        for key, t in head.state_dict().items():
            tensors[f"{name}.{key}"] = t.detach().cpu().contiguous()
        meta[name] = json.dumps({"labels": head.labels, "hidden_size": head.proj.in_features})
    save_file(tensors, path, metadata=meta)


def load_heads(path: str, dropout: float = 0.0) -> dict:
    """Rebuild the heads saved by save_heads (no pickle involved)."""
    heads = {}
    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        for name, info in meta.items():
            spec = json.loads(info)
            head = HEAD_CLASSES.get(name, ClassificationHead)(spec["hidden_size"], spec["labels"],
                                                              dropout)
            state = {k.split(".", 1)[1]: f.get_tensor(k) for k in f.keys()
                     if k.startswith(name + ".")}
            # files written before the standardization buffers existed: identity
            state.setdefault("center", head.center)
            state.setdefault("scale", head.scale)
            head.load_state_dict(state)
            heads[name] = head
    return heads


def heads_in(folder: str) -> dict:
    path = os.path.join(folder, HEAD_FILE)
    return load_heads(path) if os.path.isfile(path) else {}
