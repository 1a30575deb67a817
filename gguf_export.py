"""An f16 GGUF of a merged model, for llama.cpp and Ollama (llama and qwen2 architectures).

Written with the `gguf` package (the llama.cpp project's own writer): its tensor-name map turns
Hugging Face names into GGUF ones, and the metadata keys are its constants. Two conversions
follow llama.cpp's `convert_hf_to_gguf.py`: the llama architecture stores q and k with the
rotary halves interleaved (the `permute` below, undone by every GGUF reader), and 1-D tensors
(norms, biases) stay f32. A tied LM head is not written: readers tie it to `token_embd`.
An Ollama `Modelfile` beside it carries the chat template and the stop token.

    python main.py export --run artifacts/runs/cpu_smoke --out /tmp/friend --merge --gguf
"""
from __future__ import annotations

import json
import os

import gguf
import numpy as np

from config import UserError

ARCHES = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}
PRE_TOKENIZERS = {"llama": "smollm", "qwen2": "qwen2"}  # llama.cpp's pre-tokenizer names


def check_gguf_arch(model) -> None:
    arch = model.config.model_type
    if arch not in ARCHES:
        raise UserError(f"--gguf: the '{arch}' architecture is not supported (llama, qwen2)")


def gguf_name(run_name: str) -> str:
    return f"{run_name}-f16.gguf"


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF's rotary half-split layout -> GGUF's interleaved one (llama only)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2)\
        .reshape(w.shape)


def _tensors(model, arch: str):
    """(gguf name, array) for every weight, in the dtype llama.cpp stores it."""
    c = model.config
    names = gguf.get_tensor_name_map(ARCHES[arch], c.num_hidden_layers)
    for name, t in model.state_dict().items():
        if name == "lm_head.weight" and c.tie_word_embeddings:
            continue
        w = t.detach().float().cpu().numpy()
        if arch == "llama" and name.endswith("q_proj.weight"):
            w = permute(w, c.num_attention_heads)
        elif arch == "llama" and name.endswith("k_proj.weight"):
            w = permute(w, c.num_key_value_heads)
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise UserError(f"--gguf: no GGUF name for the tensor '{name}'")
        yield new, w.astype(np.float16 if w.ndim > 1 else np.float32)


def _vocab(tokenizer, vocab_size: int) -> tuple[list, list, list]:
    """Tokens by id (padded to the model's vocabulary), their types, the BPE merges."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    ids = {**spec["model"]["vocab"], **{a["content"]: a["id"] for a in spec["added_tokens"]}}
    special = {a["id"] for a in spec["added_tokens"] if a["special"]}
    by_id = {i: tok for tok, i in ids.items()}
    tokens, types = [], []
    for i in range(vocab_size):
        tokens.append(by_id.get(i, f"[PAD{i}]"))
        types.append(gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL
                     if i in by_id else gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    return tokens, types, merges


def _metadata(w: gguf.GGUFWriter, model, tokenizer, name: str) -> None:
    c, arch = model.config, model.config.model_type
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    w.add_name(name)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float((getattr(c, "rope_parameters", None) or {}).get(
        "rope_theta", getattr(c, "rope_theta", 10000.0))))
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    tokens, types, merges = _vocab(tokenizer, c.vocab_size)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(PRE_TOKENIZERS[arch])
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for add, tid in ((w.add_bos_token_id, tokenizer.bos_token_id),
                     (w.add_eos_token_id, tokenizer.eos_token_id),
                     (w.add_pad_token_id, tokenizer.pad_token_id)):
        if tid is not None:
            add(tid)
    if tokenizer.chat_template:
        w.add_chat_template(tokenizer.chat_template)


def modelfile(gguf_file: str, tokenizer) -> str:
    """An Ollama Modelfile: the weights and, for a ChatML template (SmolLM2, Qwen2.5), the
    turns spelled out as a Go template (what Ollama renders) and the end-of-turn stop."""
    if "<|im_start|>" not in (tokenizer.chat_template or ""):  # Ollama reads the GGUF's own
        return f"FROM ./{gguf_file}\n"
    return (f"FROM ./{gguf_file}\n"
            'TEMPLATE """{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
            '{{ range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
            '<|im_start|>assistant\n"""\n'
            'PARAMETER stop "<|im_end|>"\n'
            "# the crisis screen and reply check are not in these weights: see README.md\n")


def write_gguf(folder: str, model, tokenizer, run_name: str) -> str:
    """<folder>/<run>-f16.gguf and <folder>/Modelfile; returns the GGUF path."""
    arch = model.config.model_type
    path = os.path.join(folder, gguf_name(run_name))
    w = gguf.GGUFWriter(path, arch)
    _metadata(w, model, tokenizer, run_name)
    for name, array in _tensors(model, arch):
        w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(os.path.join(folder, "Modelfile"), "w", encoding="utf-8") as f:
        f.write(modelfile(os.path.basename(path), tokenizer))
    return path
