"""Loading a trained friend for inference: base weights, the run's adapter and heads, once.

One load serves every model: the base answers run with `disable_adapter()`, the fine-tuned
(SFT) ones with the run's adapter, and, when the dpo stage has finished, the SFT+DPO ones with
a second adapter on the same base weights (`LoadedFriend.use`).

    python main.py eval --config config/cpu_smoke.json
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from checkpoint import latest_checkpoint
from config import UserError
from heads import heads_in
from markers import is_completed
from model import load_adapter, load_base_from_config, load_tokenizer, set_pad_in_config
from prompting import end_of_turn_id

ADAPTERS = {"finetuned": "default", "dpo": "dpo"}  # model -> peft adapter name


@contextlib.contextmanager
def _active_adapter(model, name: str):
    model.set_adapter(name)
    try:
        yield
    finally:
        model.set_adapter("default")


@dataclass
class LoadedFriend:
    """Everything inference needs: model (peft or plain), tokenizer, heads, stop tokens."""
    model: object
    tokenizer: object
    heads: dict = field(default_factory=dict)
    eot_id: int = 0
    has_adapter: bool = False
    checkpoint: str | None = None
    dpo_checkpoint: str | None = None  # the SFT+DPO adapter, loaded as adapter "dpo"

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def models(self) -> tuple:
        """The models this load answers as: base, finetuned (SFT), dpo (SFT+DPO)."""
        return ("base",) + (("finetuned",) if self.has_adapter else ()) + (
            ("dpo",) if self.dpo_checkpoint else ())

    def use(self, model: str):
        """Context: answer as `model` (one of self.models), then back to the SFT adapter."""
        if model not in self.models:
            raise UserError(f"no '{model}' model in this load (have {', '.join(self.models)}): "
                            "run `python main.py train` (and `dpo`) first")
        if model == "base":
            return self.model.disable_adapter() if self.has_adapter else contextlib.nullcontext()
        return _active_adapter(self.model, ADAPTERS[model])

    def adapter(self, enabled: bool):
        """Context: the SFT adapter on (fine-tuned) or off (base)."""
        return self.use("finetuned" if enabled else "base")

    def stop_ids(self) -> list[int]:
        ids = [self.eot_id]
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id != self.eot_id:
            ids.append(self.tokenizer.eos_token_id)
        return ids


def dpo_checkpoint_of(cfg) -> str | None:
    """The finished dpo stage's adapter, when dpo.enabled."""
    if not cfg.dpo.enabled or not is_completed(cfg.run_dir, "dpo"):
        return None
    return latest_checkpoint(os.path.join(cfg.run_dir, "dpo"))


def load_for_inference(cfg, require_adapter: bool = True,
                       checkpoint: str | None = None) -> LoadedFriend:
    """Base model + the run's latest adapter and heads (or the base alone, if allowed), + the
    SFT+DPO adapter when the dpo stage has finished."""
    m = cfg.model
    tok = load_tokenizer(m.tokenizer or m.name_or_path, m.cache_dir, m.revision,
                         m.trust_remote_code)
    ckpt = checkpoint or latest_checkpoint(cfg.run_dir)
    if ckpt is None and require_adapter:
        raise UserError(f"no checkpoint in {cfg.run_dir}: run `python main.py train` first")
    base = load_base_from_config(cfg)
    set_pad_in_config(base, tok)
    model, heads = base, {}
    dpo = dpo_checkpoint_of(cfg) if ckpt is not None and checkpoint is None else None
    if ckpt is not None:
        model = load_adapter(base, os.path.join(ckpt, "adapter"))
        heads = {k: h.to(base.device).eval() for k, h in heads_in(ckpt).items()}
    if dpo is not None:
        model.load_adapter(os.path.join(dpo, "adapter"), adapter_name="dpo", is_trainable=False)
        model.set_adapter("default")
    model.eval()
    return LoadedFriend(model, tok, heads, end_of_turn_id(tok), ckpt is not None, ckpt, dpo)
