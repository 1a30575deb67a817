"""Shared, session-scoped test resources: both real tokenizers and the prepared fixtures."""
from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "data")
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
def data_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("datasets_cache"))


@pytest.fixture(scope="session")
def prepared(smol_tok, data_cache):
    from dataset import prepare_data
    return prepare_data(SOURCES, smol_tok, SYSTEM, 256, data_cache, log=lambda *_: None)
