"""Loading a trained friend for inference: base weights, the run's adapter and heads, once.

One load serves both models: the fine-tuned answers run with the adapter on, the base
answers with `disable_adapter()` on the same weights (`LoadedFriend.adapter`).

    python main.py eval --config config/cpu_smoke.json
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from checkpoint import latest_checkpoint
from config import UserError


@dataclass
class LoadedFriend:
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


def load_for_inference(cfg, require_adapter: bool = True,
                       checkpoint: str | None = None) -> LoadedFriend:
    """Base model + the run's latest adapter and heads (or the base alone, if allowed)."""
    import os

    from heads import heads_in
    from model import load_adapter, load_base_from_config, load_tokenizer, set_pad_in_config
    from prompting import end_of_turn_id

    m = cfg.model
    tok = load_tokenizer(m.tokenizer or m.name_or_path, m.cache_dir, m.revision,
                         m.trust_remote_code)
    ckpt = checkpoint or latest_checkpoint(cfg.run_dir)
    if ckpt is None and require_adapter:
        raise UserError(f"no checkpoint in {cfg.run_dir}: run `python main.py train` first")
    base = load_base_from_config(cfg)
    set_pad_in_config(base, tok)
    model, heads = base, {}
    if ckpt is not None:
        model = load_adapter(base, os.path.join(ckpt, "adapter"))
        heads = {k: h.to(base.device).eval() for k, h in heads_in(ckpt).items()}
    model.eval()
    return LoadedFriend(model, tok, heads, end_of_turn_id(tok), ckpt is not None, ckpt)
