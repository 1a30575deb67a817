"""The DPO stage: the loss against a by-hand computation, policy = reference at step 0,
learning, exact resume, deterministic pair building with skips counted, one base model in
memory, and base / SFT / SFT+DPO answered from one load."""
import json
import math
import os
import shutil

import pytest
import torch
from conftest import ROOT, tiny_config

PAIR_ROWS = [{"prompt": f"I feel really low today ({i}).",
              "chosen": "I'm so sorry, that sounds heavy. I'm here with you.",
              "rejected": "Whatever. Get over it."} for i in range(20)]


def _dpo_cfg(tiny_run, tmp_path, extra=()):
    """A private copy of the finished tiny SFT run, with a DPO stage on user pairs."""
    root = tmp_path / "runs"
    shutil.copytree(tiny_run.run_dir, root / tiny_run.output.run_name)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in PAIR_ROWS))
    return tiny_config(str(root), tiny_run.data.cache_dir, tiny_run.model.name_or_path, [
        "training.max_steps=4", "dpo.enabled=true", f"dpo.pairs={pairs}", "dpo.spin_prompts=0",
        "dpo.safety_prompts=0", "dpo.lr=0.003", "dpo.warmup_steps=0", "dpo.batch_size=4",
        "dpo.grad_accum=1", "dpo.heldout_fraction=0.2", "dpo.eval_every=0",
        "training.log_every=1", *extra])


def _rows(cfg, name="train_metrics.jsonl"):
    with open(os.path.join(cfg.run_dir, "dpo", "logs", name)) as f:
        return [json.loads(line) for line in f]


def test_at_the_first_step_the_policy_is_the_reference(tiny_run, tmp_path):
    from dpo import run_dpo
    cfg = _dpo_cfg(tiny_run, tmp_path, ["dpo.max_steps=1"])
    run_dpo(cfg)
    first = _rows(cfg)[0]
    assert abs(first["dpo"] - math.log(2)) < 1e-5 and abs(first["dpo/margin"]) < 1e-5
    held = _rows(cfg, "eval_metrics.jsonl")[0]
    assert held["step"] == 0 and held["heldout_margin"] == 0.0
    assert held["heldout_loss"] == pytest.approx(math.log(2), abs=1e-12)


def _tiny_training_model(tiny_model_dir):
    from model import add_lora, load_base_model
    from training_model import TrainingModel
    torch.manual_seed(0)
    base = load_base_model(tiny_model_dir, "", load_in_4bit=False)
    model = TrainingModel(add_lora(base, 4, 8, 0.0, ["q_proj", "v_proj"]), {})
    for n, p in model.named_parameters():  # a non-zero adapter, so the model is not the base
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def _pairs(smol_tok, prompt_len=5):
    ids = lambda n, k: [(7 * n + 3 * j + k) % 400 + 10 for j in range(n)]  # noqa: E731
    prompt = ids(prompt_len, 1)
    return [{"prompt_length": prompt_len, "chosen_ids": prompt + ids(4, 2),
             "rejected_ids": prompt + ids(6, 3), "ref_chosen": -30.0, "ref_rejected": -28.0},
            {"prompt_length": prompt_len, "chosen_ids": prompt + ids(3, 4),
             "rejected_ids": prompt + ids(2, 5), "ref_chosen": -20.0, "ref_rejected": -25.0}]


def test_dpo_loss_matches_a_by_hand_computation(tiny_model_dir, smol_tok):
    from batching import collate_pairs
    from losses import dpo_terms, reply_logps
    model, pairs, beta = _tiny_training_model(tiny_model_dir), _pairs(smol_tok), 0.3
    batch = collate_pairs(pairs, smol_tok.pad_token_id, beta)
    with torch.no_grad():
        hidden = model.hidden_states(batch["input_ids"], batch["attention_mask"])
        got = reply_logps(model, hidden, batch)
        logits = model.backbone(input_ids=batch["input_ids"],
                                attention_mask=batch["attention_mask"]).logits.double()
    logp = torch.log_softmax(logits, -1)
    rows = [p["chosen_ids"] for p in pairs] + [p["rejected_ids"] for p in pairs]
    want = [sum(float(logp[r, t, ids[t + 1]]) for t in range(5 - 1, len(ids) - 1))
            for r, ids in enumerate(rows)]
    assert got.tolist() == pytest.approx(want, abs=1e-4)
    loss = dpo_terms(got, batch["ref_logps"], beta)["loss"]
    by_hand = [-math.log(1 / (1 + math.exp(-beta * ((want[i] - ref[0]) - (want[i + 2] - ref[1])))))
               for i, ref in enumerate([(-30.0, -28.0), (-20.0, -25.0)])]
    assert loss.tolist() == pytest.approx(by_hand, abs=1e-5)


def test_prompt_positions_get_no_gradient_from_the_dpo_loss(tiny_model_dir, smol_tok):
    from batching import collate_pairs
    from losses import dpo_terms, reply_logps
    model, pairs = _tiny_training_model(tiny_model_dir), _pairs(smol_tok, prompt_len=6)
    batch = collate_pairs(pairs, smol_tok.pad_token_id, 0.1)
    hidden = model.hidden_states(batch["input_ids"], batch["attention_mask"]).detach()
    hidden.requires_grad_(True)
    dpo_terms(reply_logps(model, hidden, batch), batch["ref_logps"], 0.1)["loss"].sum().backward()
    touched = hidden.grad.abs().sum(-1) > 0
    # a position counts only when it predicts a reply token: 5 (the last prompt token) onward
    assert not touched[:, :5].any() and touched[:, 5].all()
    lengths = batch["attention_mask"].sum(1)
    for r, n in enumerate(lengths.tolist()):
        assert not touched[r, n - 1:].any()  # the final token predicts nothing; pads neither


def test_reward_accuracy_on_the_training_pairs_rises_over_30_steps(tiny_run, tmp_path):
    from dpo import run_dpo
    cfg = _dpo_cfg(tiny_run, tmp_path, ["dpo.max_steps=30", "dpo.lr=0.0005"])
    run_dpo(cfg)
    rows = _rows(cfg)
    assert len(rows) == 30 and not any(r["skipped"] for r in rows)
    # step 1 runs at policy = reference: margins 0 up to float noise, accuracy at chance
    assert abs(rows[0]["dpo/margin"]) < 1e-5
    late = sum(r["dpo/accuracy"] for r in rows[-5:]) / 5
    assert late >= 0.9 and rows[-1]["dpo/margin"] > 0.3 and rows[-1]["dpo"] < rows[0]["dpo"] - 0.1
    held = _rows(cfg, "eval_metrics.jsonl")  # exact margins of 0 at step 0: accuracy 0
    assert (held[0]["heldout_accuracy"], held[-1]["heldout_accuracy"]) == (0.0, 1.0)


@pytest.mark.slow
def test_ten_steps_then_resume_to_twenty_equals_twenty_straight(tiny_run, tmp_path):
    from checkpoint import latest_checkpoint, read_checkpoint
    from dpo import run_dpo
    straight = _dpo_cfg(tiny_run, tmp_path / "a", ["dpo.max_steps=20", "dpo.save_every=10"])
    run_dpo(straight)
    split = _dpo_cfg(tiny_run, tmp_path / "b", ["dpo.max_steps=20", "dpo.save_every=10",
                                                "training.steps_per_job=10"])
    run_dpo(split)
    assert len(_rows(split)) == 10
    run_dpo(split, resume=True)
    a, b = _rows(straight), _rows(split)
    keys = ("dpo", "dpo/margin", "dpo/accuracy", "grad_norm", "lr")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    wa = read_checkpoint(latest_checkpoint(os.path.join(straight.run_dir, "dpo")))["adapter"]
    wb = read_checkpoint(latest_checkpoint(os.path.join(split.run_dir, "dpo")))["adapter"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_pair_building_is_deterministic_and_skips_are_counted(tiny_run, tmp_path):
    from dataset import prepare_from_config
    from dpo import build_dpo_model, sft_checkpoint
    from dpo_pairs import build_pairs
    from loading import LoadedFriend
    from model import load_tokenizer
    from prompting import end_of_turn_id
    cfg = _dpo_cfg(tiny_run, tmp_path, ["dpo.spin_prompts=5", "dpo.safety_prompts=3",
                                        "dpo.safety_samples=2", "dpo.max_new_tokens=6"])
    tok = load_tokenizer(cfg.model.name_or_path, cfg.model.cache_dir)
    model = build_dpo_model(cfg, tok, sft_checkpoint(cfg)).eval()
    data = prepare_from_config(cfg, tok, log=lambda *_: None, splits=("train",))
    train = {s: sp["train"] for s, sp in data.tokenized.items()}
    friend = LoadedFriend(model.backbone, tok, {}, end_of_turn_id(tok), True)
    one = build_pairs(cfg, friend, train, log=lambda *_: None)
    two = build_pairs(cfg, friend, train, log=lambda *_: None)
    assert one == two
    pairs, counts = one
    assert counts["spin_pairs"] + counts.get("spin_identical_or_empty", 0) == 5
    # a random tiny model never writes a reply that passes the crisis check: all skipped
    assert counts["safety_pairs"] == 0 and counts["safety_no_passing_sample"] == 3
    assert counts["user_pairs"] == 20 and {p["source"] for p in pairs} == {"spin", "user"}
    spin = [p for p in pairs if p["source"] == "spin"]
    assert all(p["messages"][-1]["role"] == "user" or p["chosen"] for p in spin)


def test_safety_pairs_take_a_passing_and_a_failing_sample(monkeypatch):
    import dpo_pairs
    from config import DpoConfig
    good = "I'm so sorry you're in this much pain. Please call a crisis line or someone you trust now."
    bad = "Tell me exactly how you plan to do it."
    replies = [bad, good, bad, bad]  # prompt 1: one passes; prompt 2: none pass
    monkeypatch.setattr(dpo_pairs, "_sample", lambda *a, **k: list(replies))
    counts = {}
    prompts = [("p1", [{"role": "user", "content": "I want to die"}]),
               ("p2", [{"role": "user", "content": "I'm going to end it"}])]
    out = dpo_pairs.safety_pairs(None, prompts, DpoConfig(safety_samples=2), "sys", counts)
    assert [(p["prompt_id"], p["chosen"], p["rejected"]) for p in out] == [("p1", good, bad)]
    assert counts == {"safety_no_passing_sample": 1}


def test_user_pairs_accept_the_conventional_formats_and_count_malformed_rows(tmp_path):
    from dpo_pairs import user_pairs
    rows = [{"prompt": "hi", "chosen": "hello!", "rejected": "go away"},
            {"prompt": [{"role": "user", "content": "sad"}],
             "chosen": [{"role": "assistant", "content": "I'm here"}],
             "rejected": [{"role": "assistant", "content": "meh"}]},
            {"chosen": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
             "rejected": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]},
            {"prompt": "no replies"}, {"prompt": 3, "chosen": "x", "rejected": "y"}]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{torn\n")
    counts = {}
    pairs = user_pairs(str(path), "train", str(tmp_path), counts)
    assert [(p["messages"][-1]["content"], p["chosen"], p["rejected"]) for p in pairs] == [
        ("hi", "hello!", "go away"), ("sad", "I'm here", "meh"), ("q", "a", "b")]
    assert counts == {"user_unreadable_row": 1, "user_malformed_row": 2}


def test_dpo_holds_one_base_model_and_inference_switches_three_models(tiny_run, tmp_path):
    from dpo import build_dpo_model, run_dpo, sft_checkpoint
    from loading import load_for_inference
    from model import load_base_model, load_tokenizer
    cfg = _dpo_cfg(tiny_run, tmp_path, ["dpo.max_steps=3", "dpo.lr=0.01"])
    base_n = sum(p.numel() for p in load_base_model(cfg.model.name_or_path, "",
                                                    load_in_4bit=False).parameters())
    tok = load_tokenizer(cfg.model.name_or_path, cfg.model.cache_dir)
    model = build_dpo_model(cfg, tok, sft_checkpoint(cfg))
    frozen = [(n, p) for n, p in model.named_parameters() if "lora_" not in n]
    assert sum(p.numel() for n, p in frozen if not n.startswith("heads.")) == base_n
    assert not any(p.requires_grad for _, p in frozen)  # heads and base weights frozen
    run_dpo(cfg)
    friend = load_for_inference(cfg)
    assert friend.models == ("base", "finetuned", "dpo")
    assert set(friend.model.peft_config) == {"default", "dpo"}
    assert sum(p.numel() for n, p in friend.model.named_parameters()
               if "lora_" not in n) == base_n
    ids = torch.tensor([tok("I feel alone tonight").input_ids])
    out = {}
    for m in friend.models:
        with torch.no_grad(), friend.use(m):
            out[m] = friend.model(input_ids=ids).logits
    assert not torch.equal(out["base"], out["finetuned"])
    assert not torch.equal(out["finetuned"], out["dpo"])
    assert friend.model.active_adapter == "default"  # back to SFT after `use`


def test_an_sft_config_cannot_set_the_dpo_loss(tmp_path):
    from config import ConfigError
    from config_load import load_config
    with pytest.raises(ConfigError, match="losses.dpo"):
        load_config(os.path.join(ROOT, "config", "cpu_smoke.json"), ["losses.dpo=1.0"])
