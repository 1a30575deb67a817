"""The real QLoRA path on CPU: bitsandbytes NF4 `Linear4bit` layers in a tiny Qwen2 model.

The same code users run on a GPU (load_base_model -> prepare_for_training -> LoRA -> heads ->
the training loop -> eval / eq-bench), with 4-bit weights, with and without bf16 autocast.
"""
import json
import os
from pathlib import Path

import pytest
import torch
from conftest import ROOT, qlora_overrides, tiny_config
from safetensors.torch import load_file

pytestmark = pytest.mark.slow  # every test here trains or runs real NF4 layers

bnb = pytest.importorskip("bitsandbytes")
EQ_FIXTURE = os.path.join(ROOT, "data", "demo", "eq_bench_questions.json")


def _cfg(root, data_cache, model_dir, mp="no", extra=()):
    return tiny_config(root, data_cache, model_dir, qlora_overrides(mp) + [
        "training.max_steps=12", "training.save_every=6", "training.lr=0.005",
        "eval.max_new_tokens=6", "decoding.reflect_max_new_tokens=3",
        "eval.eq_bench_attempts=1", "eval.bootstrap_samples=50", "eval.eq_bench_max_items=2",
        f"eval.eq_bench_questions={EQ_FIXTURE}", *extra])


def _rows(cfg):
    with open(os.path.join(cfg.run_dir, "logs", "train_metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _n4bit(model) -> int:
    return sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())


@pytest.fixture(scope="module", params=["no", "bf16"])
def qlora_run(request, tmp_path_factory, data_cache, tiny_qwen_dir):
    from training import run_training
    cfg = _cfg(tmp_path_factory.mktemp(f"qlora_{request.param}"), data_cache, tiny_qwen_dir,
               request.param)
    run_training(cfg)
    return cfg


def test_4bit_training_steps_run_and_the_loss_falls(qlora_run):
    rows = _rows(qlora_run)
    assert len(rows) == 12 and not any(r["skipped"] for r in rows)
    assert all(torch.isfinite(torch.tensor([r["loss"] for r in rows])))
    with open(os.path.join(qlora_run.run_dir, "logs", "eval_metrics.jsonl")) as f:
        val = [json.loads(line) for line in f]  # the same validation subset at steps 0 and 12
    assert [v["step"] for v in val] == [0, 12] and val[1]["lm"] < val[0]["lm"] - 0.05
    quant = json.loads(Path(os.path.join(qlora_run.run_dir, "manifest.json")).read_text())["stages"]["train"][
        "quantization"]
    assert quant["linear4bit_layers"] == 14  # 7 projections x 2 layers, all NF4
    assert quant["residual_dtype"] == "torch.bfloat16"


def test_4bit_adapter_and_heads_reload_equal_to_what_was_saved(qlora_run):
    from loading import load_for_inference
    friend = load_for_inference(qlora_run)
    assert _n4bit(friend.model) == 14
    saved = load_file(os.path.join(friend.checkpoint, "adapter", "adapter_model.safetensors"))
    live = {k: v for k, v in friend.model.state_dict().items() if "lora_" in k}
    assert len(saved) == len(live) > 0
    for key, value in saved.items():
        match = [v for k, v in live.items() if k.replace(".default", "") == key]
        assert len(match) == 1 and torch.equal(match[0].cpu(), value), key
    heads = load_file(os.path.join(friend.checkpoint, "heads.safetensors"))
    for name, head in friend.heads.items():
        assert torch.equal(head.proj.weight, heads[f"{name}.proj.weight"])


def test_residual_stream_stays_in_the_compute_dtype_without_autocast(tiny_qwen_dir, smol_tok,
                                                                    tmp_path, data_cache):
    from batching import collate
    from canonical import ESCONV_STRATEGIES, GOEMOTIONS_LABELS
    from losses import denominators
    from training import build_model
    cfg = _cfg(tmp_path, data_cache, tiny_qwen_dir)
    model = build_model(cfg, smol_tok, {"emotion": GOEMOTIONS_LABELS,
                                        "strategy": ESCONV_STRATEGIES})
    assert _n4bit(model) == 14
    ids = smol_tok.apply_chat_template([{"role": "user", "content": "I feel alone today."}],
                                       tokenize=True, add_generation_prompt=True,
                                       return_dict=False)
    reply = smol_tok("I'm here with you.", add_special_tokens=False).input_ids
    ex = {"input_ids": ids + reply, "labels": [-100] * len(ids) + reply,
          "prompt_length": len(ids), "emotion_label": 3, "strategy_label": 1}
    batch = collate([ex, dict(ex, input_ids=ex["input_ids"][:-1], labels=ex["labels"][:-1])],
                    smol_tok.pad_token_id)
    hidden = model.hidden_states(batch["input_ids"], batch["attention_mask"])
    assert hidden.dtype == torch.bfloat16
    total, terms = model(batch, (1.0, 0.2, 0.2, 0.1, 0.0), denominators([batch]))
    assert total.dtype == torch.float32 and all(torch.isfinite(v) for v in terms.values())
    total.backward()
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    assert all(p.dtype == torch.float32 for p in lora) and any(p.grad is not None for p in lora)


def test_4bit_resume_is_exact(tmp_path, data_cache, tiny_qwen_dir):
    from training import run_training
    common = ["training.max_steps=6", "training.save_every=3"]
    straight = _cfg(tmp_path / "a", data_cache, tiny_qwen_dir, extra=common)
    run_training(straight)
    split = _cfg(tmp_path / "b", data_cache, tiny_qwen_dir,
                 extra=common + ["training.steps_per_job=3"])
    run_training(split)
    run_training(split, resume=True)
    last = "checkpoints/step_000006/adapter/adapter_model.safetensors"
    wa = load_file(os.path.join(straight.run_dir, last))
    wb = load_file(os.path.join(split.run_dir, last))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    keys = ("step", "loss", "lm", "emotion", "strategy")
    logged = [[{k: r[k] for k in keys if k in r} for r in _rows(c)] for c in (straight, split)]
    assert len(logged[0]) == 6 and logged[0] == logged[1]


def test_generation_from_the_4bit_model_with_adapter_on_and_off(qlora_run):
    from generation import generate_batch
    from loading import load_for_inference
    friend = load_for_inference(qlora_run)
    conv = [[{"role": "user", "content": "My dog died this morning."}]]
    ids = torch.tensor([friend.tokenizer.apply_chat_template(conv[0], tokenize=True,
                                                             add_generation_prompt=True,
                                                             return_dict=False)])
    with torch.no_grad():
        on = friend.model(input_ids=ids).logits[0, -1]
        with friend.adapter(False):
            off = friend.model(input_ids=ids).logits[0, -1]
            base_reply = generate_batch(friend, conv, 5)
        fine_reply = generate_batch(friend, conv, 5)
    assert on.dtype == torch.bfloat16 and not torch.equal(on, off)
    assert isinstance(base_reply[0], str) and isinstance(fine_reply[0], str)


def test_generation_from_the_training_built_4bit_model_outside_autocast(tmp_path, data_cache,
                                                                       tiny_qwen_dir, smol_tok):
    from generation import generate_batch
    from loading import LoadedFriend
    from prompting import end_of_turn_id
    from training import build_model
    model = build_model(_cfg(tmp_path, data_cache, tiny_qwen_dir), smol_tok, {})
    model.eval()
    friend = LoadedFriend(model.backbone, smol_tok, {}, end_of_turn_id(smol_tok), True)
    replies = generate_batch(friend, [[{"role": "user", "content": "Hi there"}]] * 2, 4)
    assert len(replies) == 2


def test_eval_and_eq_bench_on_a_4bit_run_folder(qlora_run):
    from eq_bench import run_eq_bench
    from evaluation import run_eval
    from loading import load_for_inference
    friend = load_for_inference(qlora_run)
    metrics = run_eval(qlora_run, friend)
    assert {"emotion", "strategy"} <= set(metrics["heads"])
    results = run_eq_bench(qlora_run, friend=friend)
    assert results["n_items"] == 2 and {"base", "finetuned"} <= set(results)
    for stage in ("eval", "eq-bench"):
        assert os.path.isfile(os.path.join(qlora_run.run_dir, "completed", stage))
