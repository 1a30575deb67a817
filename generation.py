"""Inference passes over a loaded friend: batched left-padded generation, and the heads'
input (the last prompt token's final hidden state, pooled exactly as in training).

Prompts always go through the tokenizer's chat template; generation stops at the
end-of-turn token.

    python main.py eval --config config/cpu_smoke.json
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm
from transformers import StoppingCriteria, StoppingCriteriaList

from heads import pooled_prompt_states
from heartbeat import Heartbeat
from model import final_hidden
from prompting import render_ids, trim_history


def render_prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    return render_ids(tokenizer, messages)


def last_prompt_states(friend, prompts: list[list[int]], batch_size: int = 16) -> torch.Tensor:
    """Final hidden state at the last token of each prompt (token ids), pooled over
    model.final_hidden exactly as in training (heads.pooled_prompt_states)."""
    return pooled_prompt_states(lambda ids, mask: final_hidden(friend.model, ids, mask), prompts,
                                friend.tokenizer.pad_token_id, batch_size, friend.device,
                                progress=True)


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
def fit_to_context(tokenizer, conversation: list[dict], budget: int) -> list[dict]:
    """A conversation (system message first, if any) cut by prompting.trim_history so the
    prompt actually sent fits `budget` tokens."""
    if conversation and conversation[0]["role"] == "system":
        system, history = conversation[0]["content"], conversation[1:]
        return conversation[:1] + trim_history(history, tokenizer, system, budget)
    return conversation


class RowsCancelled(StoppingCriteria):
    """Ends the rows of a batch whose request was withdrawn (a client that went away); the
    other rows go on."""

    def __init__(self, rows: list[int], cancelled):
        self.rows, self.cancelled = rows, cancelled

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        return torch.tensor([self.cancelled(i) for i in self.rows], dtype=torch.bool,
                            device=input_ids.device)


class StepProgress(StoppingCriteria):
    """Advances a progress bar by one decode step (never stops anything): a generation batch
    of 32 rows x 48 tokens is about 20 s on 2 cores, too long to sit silent."""

    def __init__(self, bar):
        self.bar = bar

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        self.bar.update(1)
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def generate_batch(friend, conversations: list[list[dict]], max_new_tokens: int,
                   temperature: float = 0.0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                   batch_size: int = 16, seed: int | None = None, streamer=None,
                   context_tokens: int = 0, sampling: dict | None = None,
                   stats: list | None = None, desc: str = "generate",
                   cancelled=None) -> list[str]:
    """Replies for many conversations, `batch_size` at a time, left padded, order kept.

    Conversations are sorted by prompt length so each batch pads little; results come back
    in the input order. With `context_tokens`, each conversation is first cut so its prompt
    plus `max_new_tokens` fits (oldest turns first). `sampling` replaces the sampling
    arguments entirely (what it leaves out comes from the model's generation_config).
    `stats`, a list, receives per conversation {"new_tokens", "hit_token_cap"} in input order.
    `cancelled(i)`, when given, is asked at every step whether conversation i was withdrawn.
    A bar counts decode steps (`desc`), except where tokens are streamed or requests can be
    withdrawn (chat, serve: the client shows progress).
    """
    tok = friend.tokenizer
    if context_tokens:
        conversations = [fit_to_context(tok, c, context_tokens - max_new_tokens)
                         for c in conversations]
    prompts = [render_prompt_ids(tok, c) for c in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out, info = [""] * len(prompts), [None] * len(prompts)
    stops = set(friend.stop_ids())
    kwargs = sampling if sampling is not None else sampling_kwargs(temperature, top_p,
                                                                  repetition_penalty)
    starts = range(0, len(order), batch_size)
    bar = tqdm(total=len(starts) * max_new_tokens, desc=desc, unit="step", leave=False,
               disable=streamer is not None or cancelled is not None)
    for start in starts:
        idx = order[start:start + batch_size]
        ids, mask = left_pad([prompts[i] for i in idx], tok.pad_token_id, friend.device)
        if seed is not None:
            torch.manual_seed(seed + start)
        # use_cache explicitly: a model prepared for training has config.use_cache = False
        # (gradient checkpointing), and generate would then re-run the whole prefix per token
        criteria = [StepProgress(bar)] + ([] if cancelled is None else
                                          [RowsCancelled(idx, cancelled)])
        with Heartbeat(bar):
            gen = friend.model.generate(input_ids=ids, attention_mask=mask, use_cache=True,
                                        max_new_tokens=max_new_tokens,
                                        eos_token_id=friend.stop_ids(),
                                        pad_token_id=tok.pad_token_id, streamer=streamer,
                                        **kwargs, stopping_criteria=StoppingCriteriaList(criteria))
        bar.update((start // batch_size + 1) * max_new_tokens - bar.n)  # rows that ended early
        new = gen[:, ids.shape[1]:].tolist()  # one device->host copy for the whole batch
        for row, i in enumerate(idx):
            out[i] = tok.decode(new[row], skip_special_tokens=True).strip()
            # a withdrawn row is padded from where it stopped
            ends = stops | ({tok.pad_token_id} if cancelled is not None and cancelled(i) else set())
            ended = next((k for k, t in enumerate(new[row]) if t in ends), None)
            info[i] = {"new_tokens": len(new[row]) if ended is None else ended,
                       "hit_token_cap": ended is None and len(new[row]) >= max_new_tokens}
    bar.close()
    if stats is not None:
        stats.extend(info)
    return out

