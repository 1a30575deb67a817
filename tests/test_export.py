"""`export`: the adapter folder loads with plain transformers + peft in a fresh process and gives
the adapter-on model's logits; the merged model gives them too (float32 run: within 1e-4; a
run trained on the 4-bit CPU path, merged into its dequantized bf16 base: within the bf16
rounding of the merge); the GGUF reads back through transformers' GGUF loader (the one the
embedded SmolLM2 goes through); the card carries the hub's front matter; bad input exits 2
and leaves nothing behind."""
import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, qlora_overrides, tiny_config
from huggingface_hub import ModelCard
from safetensors import safe_open

import model_export
from checkpoint import latest_checkpoint
from config import UserError
from dpo import run_dpo
from loading import load_for_inference
from model_export import run_export
from training import run_training

PROMPT = [{"role": "user", "content": "I finally finished the marathon I trained a year for."}]

# a fresh interpreter that knows nothing of this project: plain transformers + peft
FRESH = """
import json, sys
import numpy as np, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
out, base, gguf, npy = sys.argv[1:5]
tok = AutoTokenizer.from_pretrained(out, **({"gguf_file": gguf} if gguf else {}))
if gguf:
    model = AutoModelForCausalLM.from_pretrained(out, gguf_file=gguf, dtype=torch.float32)
elif base:
    from peft import PeftModel
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), out)
else:  # float32: a bf16 merge is read exactly, and compared without bf16 arithmetic
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
ids = tok.apply_chat_template(json.loads(sys.argv[5]), add_generation_prompt=True,
                              return_tensors="pt", return_dict=True)["input_ids"]
with torch.no_grad():
    np.save(npy, model.eval()(input_ids=ids).logits.float().numpy())
print(json.dumps(ids[0].tolist()))
"""


def fresh_logits(tmp_path, out: str, base: str = "", gguf: str = "") -> tuple:
    npy = str(tmp_path / "fresh.npy")
    run = subprocess.run([sys.executable, "-c", FRESH, out, base, gguf, npy, json.dumps(PROMPT)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    return np.load(npy), json.loads(run.stdout.strip().splitlines()[-1])


def adapter_on_logits(cfg, ids: list) -> np.ndarray:
    friend = load_for_inference(cfg)
    with torch.no_grad(), friend.use("finetuned"):
        out = friend.model(input_ids=torch.tensor([ids], device=friend.device)).logits
    return out.float().cpu().numpy()


def test_the_adapter_folder_loads_with_plain_peft_in_a_fresh_process(tiny_run, tmp_path):
    out = run_export(tiny_run, str(tmp_path / "adapter"))
    for name in ("adapter_config.json", "adapter_model.safetensors", "heads.safetensors",
                 "README.md", "LICENSE-NOTES.md", "friend_config.json", "tokenizer.json"):
        assert os.path.isfile(os.path.join(out, name)), name
    got, ids = fresh_logits(tmp_path, out, base=tiny_run.model.name_or_path)
    want = adapter_on_logits(tiny_run, ids)
    assert np.abs(got - want).max() < 1e-5
    with safe_open(os.path.join(out, "heads.safetensors"), "pt") as f:
        labels = {k: json.loads(v)["labels"] for k, v in f.metadata().items()}
    assert set(labels) == {"emotion", "strategy"} and len(labels["emotion"]) > 10


def private_copy(cfg, tmp_path, drop=()):
    """The run folder copied (other tests evaluate the shared tiny run), less `drop`."""
    root = tmp_path / "runs"
    shutil.copytree(cfg.run_dir, root / cfg.output.run_name)
    for name in drop:
        shutil.rmtree(root / cfg.output.run_name / name, ignore_errors=True)
    return tiny_config(str(root), cfg.data.cache_dir, cfg.model.name_or_path,
                       ["training.max_steps=4"])


def test_the_card_has_the_hub_front_matter_the_figures_and_the_caveat(tiny_run, tmp_path):
    cfg = private_copy(tiny_run, tmp_path, drop=("eq_bench", "eval"))
    out = run_export(cfg, str(tmp_path / "card"))
    card = ModelCard.load(os.path.join(out, "README.md"))
    assert card.data.base_model == cfg.model.name_or_path
    assert card.data.library_name == "peft" and "emotional-support" in card.data.tags
    assert not card.data.datasets and card.data.license == "other"  # demo rows: no source used
    assert "no crisis screen and no reply check" in card.text
    assert "Smoke run" in card.text  # cpu_smoke's output.smoke, as the report says it
    assert "EQ-Bench: not run" in card.text and "not run (`python main.py eval`)" in card.text
    notes = Path(os.path.join(out, "LICENSE-NOTES.md")).read_text()
    assert "ESConv: not used" in notes and "non-commercial" not in notes
    assert "see its model card" in notes  # the base is a local folder, not a known hub id


def test_the_merged_float32_model_equals_the_adapter_on_model(tiny_run, tmp_path):
    out = run_export(tiny_run, str(tmp_path / "merged"), merge=True)
    assert not os.path.exists(os.path.join(out, "adapter_config.json"))
    got, ids = fresh_logits(tmp_path, out)
    want = adapter_on_logits(tiny_run, ids)
    assert np.abs(got - want).max() < 1e-4  # float32 merge: summation order only


@pytest.mark.slow
def test_a_run_trained_on_the_4bit_cpu_path_merges_into_its_dequantized_base(
        tmp_path, data_cache, tiny_qwen_dir):
    cfg = tiny_config(tmp_path, data_cache, tiny_qwen_dir, qlora_overrides() + [
        "training.max_steps=4", "training.save_every=4", "training.lr=0.01"])
    run_training(cfg)
    out = run_export(cfg, str(tmp_path / "merged4"), merge=True, gguf=True)
    assert json.loads(Path(out, "config.json").read_text()).get("quantization_config") is None
    got, ids = fresh_logits(tmp_path, out)
    want = adapter_on_logits(cfg, ids)
    scale = np.abs(want).max()
    # the adapter-on model adds the LoRA update in float32 beside the NF4 matmul; the merged
    # one carries W + BA rounded to bf16 (8 bits of mantissa): differences of that order
    assert np.abs(got - want).max() < 0.01 * scale, (np.abs(got - want).max(), scale)
    assert (got.argmax(-1) == want.argmax(-1)).mean() > 0.9
    alone = tmp_path / "gguf_alone"  # the qwen2 architecture's GGUF (no q/k permutation)
    alone.mkdir()
    name = f"{cfg.output.run_name}-f16.gguf"
    shutil.copy(os.path.join(out, name), alone / name)
    from_gguf, gguf_ids = fresh_logits(tmp_path, str(alone), gguf=name)
    assert gguf_ids == ids and np.abs(from_gguf - got).max() < 1e-3 * max(1.0, scale)
    print("max |merged - adapter-on|", np.abs(got - want).max(), "logit scale", scale,
          "max |gguf - merged|", np.abs(from_gguf - got).max())


def test_the_gguf_reads_back_through_the_gguf_loader(tiny_run, tmp_path):
    out = run_export(tiny_run, str(tmp_path / "gguf"), merge=True, gguf=True)
    name = f"{tiny_run.output.run_name}-f16.gguf"
    alone = tmp_path / "gguf_alone"  # the file by itself, as llama.cpp and Ollama get it
    alone.mkdir()
    shutil.copy(os.path.join(out, name), alone / name)
    got, ids = fresh_logits(tmp_path, str(alone), gguf=name)
    want, ids_merged = fresh_logits(tmp_path, out)
    assert ids == ids_merged  # the GGUF's tokenizer and chat template give the same tokens
    assert np.abs(got - want).max() < 2e-3 * max(1.0, np.abs(want).max())  # f16 weights
    assert "<|im_end|>" in Path(os.path.join(out, "Modelfile")).read_text()


def export_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", "export", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_bad_requests_exit_2_naming_the_problem(tiny_run, tmp_path):
    empty = tmp_path / "untrained"
    empty.mkdir()
    with open(os.path.join(tiny_run.run_dir, "config.json")) as f:
        (empty / "config.json").write_text(f.read())
    run = export_cli("--run", str(empty), "--out", str(tmp_path / "x"))
    assert run.returncode == 2 and "no finished train stage" in run.stderr
    run = export_cli("--run", tiny_run.run_dir, "--out", str(tmp_path / "x"), "--model", "dpo")
    assert run.returncode == 2 and "no finished dpo stage" in run.stderr
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    run = export_cli("--run", tiny_run.run_dir, "--out", str(full))
    assert run.returncode == 2 and "--force" in run.stderr
    assert os.listdir(full) == ["keep.txt"]
    run = export_cli("--run", tiny_run.run_dir, "--out", str(tmp_path / "g"), "--gguf")
    assert run.returncode == 2 and "--merge" in run.stderr
    assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path / "g")


def test_too_little_disk_space_stops_before_anything_is_written(tiny_run, tmp_path,
                                                                monkeypatch):
    monkeypatch.setattr(model_export.shutil, "disk_usage",
                        lambda path: type("Usage", (), {"free": 10 * 2**20})())
    with pytest.raises(UserError, match="not enough disk space"):
        run_export(tiny_run, str(tmp_path / "out"))
    assert os.listdir(tmp_path) == []


def test_force_replaces_an_earlier_export_whole(tiny_run, tmp_path):
    out = tmp_path / "again"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    run_export(tiny_run, str(out), force=True)
    assert not (out / "stale.txt").exists() and (out / "adapter_config.json").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")] == []


def test_model_dpo_exports_the_finished_preference_adapter(tiny_run, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(tiny_run.run_dir, root / tiny_run.output.run_name)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(
        {"prompt": f"I feel low today ({i}).", "chosen": "I'm sorry, I'm here with you.",
         "rejected": "Get over it."}) + "\n" for i in range(8)))
    cfg = tiny_config(str(root), tiny_run.data.cache_dir, tiny_run.model.name_or_path, [
        "training.max_steps=4", "dpo.enabled=true", f"dpo.pairs={pairs}", "dpo.spin_prompts=0",
        "dpo.safety_prompts=0", "dpo.max_steps=2", "dpo.save_every=2", "dpo.batch_size=4",
        "dpo.grad_accum=1", "dpo.eval_every=0"])
    run_dpo(cfg)
    out = run_export(cfg, str(tmp_path / "dpo_adapter"), model="dpo")
    ckpt = latest_checkpoint(os.path.join(cfg.run_dir, "dpo"))
    assert filecmp.cmp(os.path.join(out, "adapter_model.safetensors"),
                       os.path.join(ckpt, "adapter", "adapter_model.safetensors"), shallow=False)
    assert json.loads(Path(out, "friend_export.json").read_text())["model"] == "dpo"
    assert "then DPO" in ModelCard.load(os.path.join(out, "README.md")).text
