"""Loading a trained friend for inference, and batched left-padded generation.

One load serves both models: the fine-tuned answers run with the adapter on, the base
answers with `disable_adapter()` on the same weights. Prompts always go through the
tokenizer's chat template; generation stops at the end-of-turn token.

    python main.py eval --config config/cpu_smoke.json
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from checkpoint import latest_checkpoint
from config import UserError

log = logging.getLogger(__name__)


@dataclass
class Friend:
    """Everything inference needs: model (peft or plain), tokenizer, heads, stop tokens."""
    model: object
    tokenizer: object
    heads: dict = field(default_factory=dict)
    eot_id: int = 0
    has_adapter: bool = False
    checkpoint: str | None = None

    @property
    def device(self):
        return next(self.model.parameters()).device

    def adapter(self, enabled: bool):
        """Context: adapter on (fine-tuned) or off (base). Without an adapter: base only."""
        if enabled and not self.has_adapter:
            raise UserError("no trained adapter: run `python main.py train` first")
        if not enabled and self.has_adapter:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def stop_ids(self) -> list[int]:
        ids = [self.eot_id]
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id != self.eot_id:
            ids.append(self.tokenizer.eos_token_id)
        return ids


def load_friend(cfg, require_adapter: bool = True, checkpoint: str | None = None) -> Friend:
    """Base model + the run's latest adapter and heads (or the base alone, if allowed)."""
    from dataset import end_of_turn_id
    from heads import heads_in
    from model import load_adapter, load_base_model, load_tokenizer, set_pad_in_config

    m, q = cfg.model, cfg.quant
    tok = load_tokenizer(m.tokenizer or m.name_or_path, m.cache_dir, m.revision,
                         m.trust_remote_code)
    ckpt = checkpoint or latest_checkpoint(cfg.run_dir)
    if ckpt is None and require_adapter:
        raise UserError(f"no checkpoint in {cfg.run_dir}: run `python main.py train` first")
    base = load_base_model(m.name_or_path, m.cache_dir, q.load_in_4bit, q.quant_type,
                           q.double_quant, q.compute_dtype, q.allow_cpu_fallback, m.dtype,
                           m.revision, m.trust_remote_code)
    set_pad_in_config(base, tok)
    model, heads = base, {}
    if ckpt is not None:
        model = load_adapter(base, os.path.join(ckpt, "adapter"))
        heads = {k: h.to(base.device).eval() for k, h in heads_in(ckpt).items()}
    model.eval()
    return Friend(model, tok, heads, end_of_turn_id(tok), ckpt is not None, ckpt)


@torch.no_grad()
def last_prompt_hidden(friend: Friend, batch: dict) -> torch.Tensor:
    """Final hidden state at each row's last prompt token (what the heads read)."""
    from heads import pool_last_prompt_token

    decoder = friend.model.get_base_model().get_decoder()
    hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     use_cache=False).last_hidden_state
    return pool_last_prompt_token(hidden, batch["prompt_lengths"])


def render_prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True,
                                              return_dict=False))


def left_pad(seqs: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, width - len(s):] = 1
    return ids.to(device), mask.to(device)


def sampling_kwargs(temperature: float, top_p: float = 1.0, repetition_penalty: float = 1.0) -> dict:
    if temperature <= 0:
        return {"do_sample": False, "repetition_penalty": repetition_penalty}
    return {"do_sample": True, "temperature": temperature, "top_p": top_p,
            "repetition_penalty": repetition_penalty}


@torch.no_grad()
def generate_batch(friend: Friend, conversations: list[list[dict]], max_new_tokens: int,
                   temperature: float = 0.0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                   batch_size: int = 16, seed: int | None = None, streamer=None) -> list[str]:
    """Replies for many conversations, `batch_size` at a time, left padded, order kept.

    Conversations are sorted by prompt length so each batch pads little; results come back
    in the input order.
    """
    tok = friend.tokenizer
    prompts = [render_prompt_ids(tok, c) for c in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = [""] * len(prompts)
    kwargs = sampling_kwargs(temperature, top_p, repetition_penalty)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc="generate", leave=False, disable=len(starts) < 3):
        idx = order[start:start + batch_size]
        ids, mask = left_pad([prompts[i] for i in idx], tok.pad_token_id, friend.device)
        if seed is not None:
            torch.manual_seed(seed + start)
        # use_cache explicitly: a model prepared for training has config.use_cache = False
        # (gradient checkpointing), and generate would then re-run the whole prefix per token
        gen = friend.model.generate(input_ids=ids, attention_mask=mask, use_cache=True,
                                    max_new_tokens=max_new_tokens, eos_token_id=friend.stop_ids(),
                                    pad_token_id=tok.pad_token_id, streamer=streamer, **kwargs)
        new = gen[:, ids.shape[1]:].tolist()  # one device->host copy for the whole batch
        for row, i in enumerate(idx):
            out[i] = tok.decode(new[row], skip_special_tokens=True).strip()
    return out


def generate_one_by_one(friend: Friend, conversations: list[list[dict]], max_new_tokens: int,
                        **kwargs) -> list[str]:
    """The unbatched baseline (used by the throughput benchmark)."""
    return [generate_batch(friend, [c], max_new_tokens, batch_size=1, **kwargs)[0]
            for c in conversations]
