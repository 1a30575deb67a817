"""Training contract: losses, heads, KL to the base model, accumulation, resume, checkpoints."""
import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, tiny_config, tiny_overrides
from safetensors.torch import load_file

from batching import IGNORE, collate
from losses import LOSS_NAMES, denominators

ALL = (1.0, 1.0, 1.0, 1.0, 0.0)  # lm, emotion, strategy, kl; dpo needs pairs


def _batch(prepared, tok, per_source=3):
    exs = [prepared.tokenized[s]["train"][i] for s in ("ed", "esconv", "goemotions")
           for i in range(per_source)]
    return collate(exs, tok.pad_token_id)


def _terms(model, batch, weights=ALL):
    return model(batch, weights, denominators([batch]))


def test_supervised_position_lm_loss_equals_full_logits_loss(friend, prepared, smol_tok):
    batch = _batch(prepared, smol_tok)
    _, terms = _terms(friend, batch, (1.0, 0.0, 0.0, 0.0, 0.0))
    full = friend.backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           labels=batch["labels"]).loss
    assert abs(float(terms["lm"]) - float(full)) < 1e-5


def test_kl_is_zero_before_any_update_and_positive_after(friend, prepared, smol_tok):
    batch = _batch(prepared, smol_tok)
    _, terms = _terms(friend, batch, (1.0, 0.0, 0.0, 1.0, 0.0))
    assert abs(float(terms["kl"])) < 1e-6
    opt = torch.optim.AdamW([p for p in friend.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        total, _ = _terms(friend, batch, (1.0, 0.0, 0.0, 0.0, 0.0))
        total.backward()
        opt.step()
        opt.zero_grad()
    _, terms = _terms(friend, batch, (1.0, 0.0, 0.0, 1.0, 0.0))
    assert float(terms["kl"]) > 1e-4


@pytest.mark.slow
def test_loss_goes_down_on_a_fixed_batch_over_30_steps(friend, prepared, smol_tok):
    batch = _batch(prepared, smol_tok)
    opt = torch.optim.AdamW([p for p in friend.parameters() if p.requires_grad], lr=5e-3)
    losses = []
    for _ in range(30):
        total, _ = _terms(friend, batch)
        losses.append(float(total))
        total.backward()
        opt.step()
        opt.zero_grad()
    assert losses[-1] < 0.7 * losses[0]


def test_zero_weight_terms_are_not_computed(friend, prepared, smol_tok):
    _, terms = _terms(friend, _batch(prepared, smol_tok), (1.0, 0.0, 1.0, 0.0, 0.0))
    assert set(terms) == {"lm", "strategy"}


def test_lm_only_examples_contribute_no_head_loss_or_gradient(friend, prepared, smol_tok):
    ed = collate([prepared.tokenized["ed"]["train"][i] for i in range(4)], smol_tok.pad_token_id)
    assert (ed["emotion_labels"] == IGNORE).all() and (ed["strategy_labels"] == IGNORE).all()
    total, terms = _terms(friend, ed, (0.0, 1.0, 1.0, 0.0, 0.0))
    assert float(terms["emotion"]) == 0.0 and float(terms["strategy"]) == 0.0
    total.backward()
    for head in friend.heads.values():
        assert head.proj.weight.grad is None or float(head.proj.weight.grad.abs().sum()) == 0.0


def test_heads_read_only_the_last_prompt_token(friend, prepared, smol_tok):
    friend.eval()
    batch = collate([prepared.tokenized["esconv"]["train"][0]], smol_tok.pad_token_id)
    n = int(batch["prompt_lengths"][0])
    changed = {k: v.clone() for k, v in batch.items()}
    changed["input_ids"][0, n:] = (changed["input_ids"][0, n:] + 7) % len(smol_tok)
    with torch.no_grad():
        for name in friend.heads:
            a = friend.head_logits(name, friend.hidden_states(batch["input_ids"],
                                                              batch["attention_mask"]),
                                   batch["prompt_lengths"])
            b = friend.head_logits(name, friend.hidden_states(changed["input_ids"],
                                                              changed["attention_mask"]),
                                   changed["prompt_lengths"])
            assert torch.equal(a, b)
        h = friend.hidden_states(batch["input_ids"], batch["attention_mask"])
        h2 = friend.hidden_states(changed["input_ids"], changed["attention_mask"])
        assert not torch.equal(h[0, n:], h2[0, n:])  # the change did reach later positions


# ------------------------------------------------------------------ whole runs
def _run(cfg, resume=False):
    from training import run_training
    return run_training(cfg, resume=resume)


def _weights(run_dir):
    ck = sorted(glob.glob(os.path.join(run_dir, "checkpoints", "step_*")))[-1]
    out = load_file(os.path.join(ck, "adapter", "adapter_model.safetensors"))
    heads = os.path.join(ck, "heads.safetensors")
    if os.path.isfile(heads):
        out.update({f"head.{k}": v for k, v in load_file(heads).items()})
    return out


def _losses(run_dir):
    rows = [json.loads(l) for l in Path(os.path.join(run_dir, "logs", "train_metrics.jsonl")).read_text().splitlines()]
    return [{k: r[k] for k in ("step", "loss", *LOSS_NAMES) if k in r} for r in rows]


def test_heads_get_their_own_learning_rate_and_every_trainable_weight_one_group(friend):
    from types import SimpleNamespace

    from training import param_groups
    trainable = sorted(id(p) for p in friend.parameters() if p.requires_grad)
    same = param_groups(friend, SimpleNamespace(lr=2e-4, head_lr=0.0))
    assert [g["lr"] for g in same] == [2e-4]  # one group: older checkpoints still resume
    assert sorted(id(p) for p in same[0]["params"]) == trainable
    groups = param_groups(friend, SimpleNamespace(lr=2e-4, head_lr=3e-3))
    head_ids = {id(p) for p in friend.heads.parameters()}
    assert [g["lr"] for g in groups] == [2e-4, 3e-3]
    assert {id(p) for p in groups[1]["params"]} == head_ids
    assert not head_ids & {id(p) for p in groups[0]["params"]}
    assert sorted(id(p) for g in groups for p in g["params"]) == trainable


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path, data_cache, tiny_model_dir):
    straight = tiny_config(tmp_path / "a", data_cache, tiny_model_dir, ["lora.dropout=0.1"])
    _run(straight)
    split = tiny_config(tmp_path / "b", data_cache, tiny_model_dir,
                        ["lora.dropout=0.1", "training.steps_per_job=10"])
    _run(split)
    assert not os.path.exists(os.path.join(split.run_dir, "completed", "train"))
    resumed = tiny_config(tmp_path / "b", data_cache, tiny_model_dir, ["lora.dropout=0.1"])
    _run(resumed, resume=True)
    wa, wb = _weights(straight.run_dir), _weights(resumed.run_dir)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert _losses(straight.run_dir) == _losses(resumed.run_dir)
    assert len(_losses(resumed.run_dir)) == 20
    assert os.path.exists(os.path.join(resumed.run_dir, "completed", "train"))


@pytest.mark.slow
def test_accumulation_matches_one_big_batch(tmp_path, data_cache, tiny_model_dir):
    common = ["lora.dropout=0.0", "training.head_dropout=0.0", "training.max_steps=6",
              "training.save_every=0"]
    a = tiny_config(tmp_path / "a", data_cache, tiny_model_dir,
                    common + ["training.batch_size=4", "training.grad_accum=2"])
    b = tiny_config(tmp_path / "b", data_cache, tiny_model_dir,
                    common + ["training.batch_size=8", "training.grad_accum=1"])
    _run(a)
    _run(b)
    wa, wb = _weights(a.run_dir), _weights(b.run_dir)
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=1e-4), k


def test_zero_weight_head_does_not_exist_or_get_saved(tmp_path, data_cache, tiny_model_dir):
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir,
                      ["losses.emotion=0", "training.max_steps=2"])
    metrics = _run(cfg)
    saved = load_file(os.path.join(cfg.run_dir, "checkpoints", "step_000002", "heads.safetensors"))
    assert saved and all(k.startswith("strategy.") for k in saved)
    assert "emotion" not in metrics and "strategy_accuracy" in metrics


def test_train_writes_logs_manifest_and_config(tmp_path, data_cache, tiny_model_dir, capsys):
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir, ["training.max_steps=4",
                                                             "losses.kl=0.1"])
    _run(cfg)
    # each validation pass counts its batches on a bar (it sat silent ~14 s in `make demo`)
    assert len(re.findall(r"validation:\s+0%", capsys.readouterr().err)) == 2  # steps 0 and 4
    man = json.loads(Path(os.path.join(cfg.run_dir, "manifest.json")).read_text())
    st = man["stages"]["train"]
    assert st["loss_weights"]["kl"] == 0.1 and abs(sum(st["mixture_probabilities"].values()) - 1) < 1e-9
    assert "torch" in man["packages"] and "commit" in man["git"] and "cuda" in man["device"]
    rows = [json.loads(l) for l in Path(os.path.join(cfg.run_dir, "logs", "eval_metrics.jsonl")).read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 4] and all("kl" in r and "lm" in r for r in rows)
    assert json.loads(Path(os.path.join(cfg.run_dir, "config.json")).read_text())["training"]["max_steps"] == 4


def test_three_nonfinite_steps_stop_the_run(tmp_path, data_cache, tiny_model_dir, monkeypatch):
    import losses
    from training import TrainingError
    monkeypatch.setitem(losses.LOSS_FNS, "lm", lambda ctx: ctx.hidden.sum() * float("nan"))
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir, ["training.max_steps=10"])
    with pytest.raises(TrainingError, match="3 non-finite"):
        _run(cfg)
    rows = [json.loads(l) for l in Path(os.path.join(cfg.run_dir, "logs", "train_metrics.jsonl")).read_text().splitlines()]
    assert [r["skipped"] for r in rows] == [True, True, True]


@pytest.mark.slow
def test_crash_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, data_cache,
                                                                 tiny_model_dir, monkeypatch):
    import checkpoint
    from checkpoint import latest_checkpoint
    cfg = tiny_config(tmp_path, data_cache, tiny_model_dir, ["training.max_steps=20"])

    real = checkpoint.save_heads
    calls = {"n": 0}

    def dying_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the step-20 checkpoint dies half-written
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)
    monkeypatch.setattr(checkpoint, "save_heads", dying_save)
    with pytest.raises(KeyboardInterrupt):
        _run(cfg)
    assert latest_checkpoint(cfg.run_dir).endswith("step_000010")
    assert glob.glob(os.path.join(cfg.run_dir, "checkpoints", ".tmp-step_000020"))
    monkeypatch.setattr(checkpoint, "save_heads", real)
    _run(tiny_config(tmp_path, data_cache, tiny_model_dir, ["training.max_steps=20"]), resume=True)
    assert latest_checkpoint(cfg.run_dir).endswith("step_000020")


def test_missing_model_folder_exits_2_naming_the_path(tmp_path, capsys):
    from main import main
    missing = str(tmp_path / "no_such_model")
    rc = main(["train", "--config", os.path.join(ROOT, "config", "cpu_smoke.json"),
               "--set", f"model.name_or_path={missing}", "--set", f"output.root={tmp_path}"])
    assert rc == 2 and missing in capsys.readouterr().err


def test_4bit_without_cuda_runs_nf4_on_cpu_or_full_precision_when_asked(tiny_model_dir, caplog):
    import bitsandbytes as bnb

    from model import load_base_model
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    m = load_base_model(tiny_model_dir, "artifacts/cache", load_in_4bit=True)
    assert any(isinstance(x, bnb.nn.Linear4bit) for x in m.modules())
    assert "slow" in caplog.text and "allow_cpu_fallback" in caplog.text
    full = load_base_model(tiny_model_dir, "artifacts/cache", load_in_4bit=True,
                           allow_cpu_fallback=True)
    assert not any(isinstance(x, bnb.nn.Linear4bit) for x in full.modules())
    assert full.get_input_embeddings().weight.dtype == torch.float32


@pytest.mark.parametrize("four_bit", [False, True])
def test_models_load_onto_the_gpu_when_one_exists(tiny_model_dir, monkeypatch, four_bit):
    """load_base_model (training, eval, eq-bench and chat all load through it) asks
    from_pretrained for the GPU, 4-bit or not. CUDA is mocked only around the call, and the
    recorded placement is what a GPU machine gets; the model itself is a CPU one."""
    import transformers

    import model as model_mod
    cpu_model = model_mod.load_base_model(tiny_model_dir, "artifacts/cache", load_in_4bit=False)
    seen = []

    def recording(src, **kwargs):
        seen.append(kwargs)
        return cpu_model
    monkeypatch.setattr(model_mod.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", recording)
    model_mod.load_base_model(tiny_model_dir, "artifacts/cache", load_in_4bit=four_bit,
                              device_index=0)
    assert seen[0]["device_map"] == {"": 0}
    assert ("quantization_config" in seen[0]) == four_bit


def test_fp16_loss_scaler_state_round_trips_through_a_checkpoint_folder(tmp_path):
    from checkpoint import read_scaler, save_scaler
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=3)
    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([p], lr=0.1)
    for value in (float("inf"), 1.0, 1.0):  # one overflow (scale halves), then growth steps
        scaler.scale((p * value).sum()).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
    save_scaler(scaler, str(tmp_path))
    fresh = torch.amp.GradScaler("cpu", init_scale=65536.0, growth_interval=3)
    fresh.load_state_dict(read_scaler(str(tmp_path), want_scaler=True))  # as load_checkpoint
    assert fresh.state_dict() == scaler.state_dict() and fresh.get_scale() == 512.0
    with pytest.raises(ValueError, match="mixed_precision"):
        read_scaler(str(tmp_path), want_scaler=False)


def test_resume_under_another_mixture_seed_is_refused_naming_it(tmp_path, data_cache,
                                                                tiny_model_dir):
    from config import UserError
    _run(tiny_config(tmp_path, data_cache, tiny_model_dir, ["training.steps_per_job=2"]))
    with pytest.raises(UserError, match="mixture.seed"):
        _run(tiny_config(tmp_path, data_cache, tiny_model_dir, ["mixture.seed=99"]), resume=True)


def test_heads_round_trip_through_safetensors(tmp_path):
    from heads import EmotionHead, load_heads, save_heads
    head = EmotionHead(16, ["joy", "fear", "anger"])
    save_heads({"emotion": head}, str(tmp_path / "h.safetensors"))
    back = load_heads(str(tmp_path / "h.safetensors"))["emotion"]
    assert back.labels == ["joy", "fear", "anger"] and isinstance(back, EmotionHead)
    assert torch.equal(back.proj.weight, head.proj.weight)


def test_every_torch_load_is_weights_only():
    calls = []
    for path in glob.glob(os.path.join(ROOT, "*.py")) + glob.glob(os.path.join(ROOT, "scripts", "*.py")):
        for line in Path(path).read_text().splitlines():
            if re.search(r"torch\.load\(", line):
                calls.append(line)
    assert calls and all("weights_only=True" in c for c in calls)


@pytest.mark.slow
@pytest.mark.parametrize("budget,single", [
    ([], ["training.batch_size=8"]),
    (["training.max_tokens_per_batch=300"], ["training.max_tokens_per_batch=300",
                                             "training.grad_accum=2", "training.batch_size=4"])],
    ids=["examples", "token budget"])
def test_ddp_over_gloo_with_two_processes_matches_one_process(tmp_path, data_cache,
                                                              tiny_model_dir, budget, single):
    """accelerate launch (torchrun) with 2 CPU processes forms a gloo group; 2 x batch 4
    gives the same update as one process with batch 8 and writes one final checkpoint. With a
    token budget each process regroups its 4 examples, and both run as many micro-batches."""
    common = ["training.max_steps=4", "training.save_every=0", "lora.dropout=0.0",
              "training.head_dropout=0.0", "training.grad_accum=1"]
    accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "main.py", "train",
           "--config", "config/cpu_smoke.json"]
    for item in tiny_overrides(tmp_path / "ddp", data_cache, tiny_model_dir,
                               common + budget + ["training.batch_size=4"]):
        cmd += ["--set", item]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    run = os.path.join(tmp_path, "ddp", "cpu_smoke")
    ckpts = glob.glob(os.path.join(run, "checkpoints", "step_*"))
    assert [os.path.basename(p) for p in ckpts] == ["step_000004"]
    assert {"rng_rank0.json", "rng_rank1.json"} <= set(os.listdir(ckpts[0]))
    assert json.loads(Path(os.path.join(run, "manifest.json")).read_text())["stages"]["train"]["world_size"] == 2
    single = tiny_config(tmp_path / "one", data_cache, tiny_model_dir, common + single)
    _run(single)
    wa, wb = _weights(run), _weights(single.run_dir)
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5, rtol=1e-4), k
