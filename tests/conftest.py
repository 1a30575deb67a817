"""Shared, session-scoped test resources: both real tokenizers and the prepared fixtures."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

DEMO = os.path.join(ROOT, "data", "demo")  # the demo's own rows (product data)
MALFORMED = os.path.join(ROOT, "tests", "fixtures", "malformed")  # rows the loaders must skip


def _demo_with_malformed_rows() -> str:
    """The demo rows with the malformed fixture rows appended to each file (a CSV's header
    once), in a temporary folder: the loaders' skip counting is tested on these."""
    out = tempfile.mkdtemp(prefix="friend-fixtures-")
    atexit.register(shutil.rmtree, out, True)
    for source in sorted(os.listdir(MALFORMED)):
        os.makedirs(os.path.join(out, source))
        for name in sorted(os.listdir(os.path.join(MALFORMED, source))):
            with open(os.path.join(DEMO, source, name), encoding="utf-8", newline="") as f:
                good = f.read()
            with open(os.path.join(MALFORMED, source, name), encoding="utf-8", newline="") as f:
                bad = f.read()
            if name.endswith(".csv"):
                bad = bad.split("\n", 1)[1]
            with open(os.path.join(out, source, name), "w", encoding="utf-8", newline="") as f:
                f.write(good + bad)
    return out


FIXTURES = _demo_with_malformed_rows()
MODEL_CACHE = os.path.join(ROOT, "artifacts", "cache")  # converted SmolLM2 is reused across runs
SYSTEM = "You are a caring friend. Reply with warmth."
SOURCES = {s: {"path": os.path.join(FIXTURES, s), "name": None, "data_files": {}}
           for s in ("ed", "esconv", "goemotions")}


@pytest.fixture(scope="session")
def smol_tok():
    from model import load_tokenizer
    return load_tokenizer("embedded:smollm2", MODEL_CACHE)


@pytest.fixture(scope="session")
def qwen_tok():
    from model import load_tokenizer
    return load_tokenizer("embedded:qwen2.5", MODEL_CACHE)


@pytest.fixture(scope="session", params=["smollm2", "qwen2.5"])
def any_tok(request, smol_tok, qwen_tok):
    return {"smollm2": smol_tok, "qwen2.5": qwen_tok}[request.param]


@pytest.fixture(scope="session")
def crisis_built():
    """The crisis layer's scorer and judge, built in this process when the cache lacks them
    (`make setup` builds them first) so that a `main.py chat` subprocess finds them in the cache
    instead of building them inside its own timeout."""
    from crisis import load_guard
    return load_guard()


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("datasets_cache"))


@pytest.fixture(scope="session")
def prepared(smol_tok, data_cache):
    from dataset import prepare_data
    return prepare_data(SOURCES, smol_tok, SYSTEM, 256, data_cache, log=lambda *_: None)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smol_tok):
    """A 2-layer random Llama with SmolLM2's tokenizer: a real model folder, trains in ms."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(smol_tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, tie_word_embeddings=True,
                      pad_token_id=smol_tok.pad_token_id)
    path = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(cfg).save_pretrained(path)
    smol_tok.save_pretrained(path)
    return str(path)


def tiny_overrides(run_root, data_cache, model_dir, overrides=()) -> list:
    return [f"model.name_or_path={model_dir}", f"output.root={run_root}",
            f"data.cache_dir={data_cache}", "training.max_steps=20", "training.warmup_steps=2",
            "training.log_every=5", "training.save_every=10", "training.eval_batches=2",
            "training.lr=0.002", *overrides]


def tiny_config(run_root, data_cache, model_dir, overrides=()):
    """cpu_smoke with the tiny model, a private run root and the shared data cache."""
    from config_load import load_config
    return load_config(os.path.join(ROOT, "config", "cpu_smoke.json"),
                       tiny_overrides(run_root, data_cache, model_dir, overrides))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_cache, tiny_model_dir):
    """A trained tiny run folder (4 steps): what eval, eq-bench and chat load."""
    from training import run_training
    root = tmp_path_factory.mktemp("tiny_run")
    cfg = tiny_config(root, data_cache, tiny_model_dir, [
        "training.max_steps=4", "eval.max_new_tokens=6", "decoding.reflect_max_new_tokens=4",
        "eval.eq_bench_questions=" + os.path.join(ROOT, "data", "demo", "eq_bench_questions.json"),
        "eval.eq_bench_attempts=2", "eval.bootstrap_samples=200"])
    run_training(cfg)
    return cfg


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory, smol_tok):
    """A 2-layer random Qwen2 (the real family: GQA, tied embedding, QKV bias): what the
    4-bit CPU tests load through bitsandbytes. It uses SmolLM2's 49k vocabulary, not Qwen's
    152k: a bf16 LM head is ~6x slower than fp32 on this CPU and the vocabulary size changes
    nothing the tests check (the real tokenizer has its own tests in test_masks.py)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(smol_tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, tie_word_embeddings=True,
                      pad_token_id=smol_tok.pad_token_id)
    path = tmp_path_factory.mktemp("tiny_qwen2")
    Qwen2ForCausalLM(cfg).save_pretrained(path)
    smol_tok.save_pretrained(path)
    return str(path)


def qlora_overrides(mixed_precision: str = "no") -> list:
    """cpu_smoke switched onto the real 4-bit path: NF4, double quant, bf16 compute."""
    return ["quant.load_in_4bit=true", "quant.compute_dtype=bfloat16",
            f"training.mixed_precision={mixed_precision}", "data.max_seq_len=192"]


@pytest.fixture()
def friend(tiny_model_dir, prepared):
    """A TrainingModel on the tiny model: LoRA (no dropout) and both heads (no dropout)."""
    import torch

    from model import add_lora, load_base_model
    from training_model import TrainingModel, build_heads
    torch.manual_seed(1)
    base = load_base_model(tiny_model_dir, "artifacts/cache", load_in_4bit=False)
    backbone = add_lora(base, 8, 16, 0.0, ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                          "up_proj", "down_proj"])
    heads = build_heads(64, {"emotion": prepared.emotion_vocab,
                             "strategy": prepared.strategy_vocab},
                        {"emotion": 1.0, "strategy": 1.0}, dropout=0.0)
    return TrainingModel(backbone, heads)
