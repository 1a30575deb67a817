"""Fitting the fresh heads on frozen features before step 0 (head_fit.py)."""
import json
import os
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from test_training import _losses, _run, _weights

from head_fit import L2_GRID, fit_logistic, labelled_prompts, logits_of, pooled_features


def _blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centers = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    return centers[y] + 0.5 * torch.randn(n, 4, generator=g), y


def test_fit_predicts_held_out_blobs_and_ignores_feature_scale_and_offset():
    x, y = _blobs(300, 0)
    xt, yt = _blobs(200, 1)
    pred = logits_of(fit_logistic(x, y, 3, 1e-3), xt).argmax(-1)
    assert (pred == yt).float().mean() > 0.95
    # outlier dimensions (what an LM's final hidden state has) change nothing: the fit is on
    # standardized features, and the standardization travels with the fit
    scale, shift = torch.tensor([1000.0, 0.01, 50.0, 3.0]), torch.tensor([-40.0, 7.0, 0.0, 1e3])
    moved = logits_of(fit_logistic(x * scale + shift, y, 3, 1e-3), xt * scale + shift)
    assert torch.equal(moved.argmax(-1), pred)


def test_labelled_prompts_are_seeded_labelled_and_cut_at_the_prompt(prepared):
    splits = {s: sp["train"] for s, sp in prepared.tokenized.items()}
    prompts, labels = labelled_prompts(splits, "emotion_label", 10, seed=3)
    again = labelled_prompts(splits, "emotion_label", 10, seed=3)
    assert (prompts, labels) == again and len(labels) == 10 and -100 not in labels
    every = labelled_prompts(splits, "emotion_label", 10 ** 6, seed=3)[1]
    n_labelled = sum(1 for ds in splits.values() if "emotion_label" in ds.column_names
                     for y in ds["emotion_label"] if y != -100)
    assert len(every) == n_labelled  # asking for more than exist gives all of them, once
    lengths = {len(p) for p in prompts}
    assert all(ds[0]["prompt_length"] >= 1 for ds in splits.values()) and min(lengths) >= 1


def test_a_fitted_head_reproduces_the_fit_and_heads_saved_before_the_buffers_load(tmp_path):
    from safetensors.torch import load_file, save_file

    from heads import EmotionHead, load_heads, save_heads
    x, y = _blobs(100, 2)
    fitted = fit_logistic(x * 30 + 5, y, 3, 1e-2)
    head = EmotionHead(4, ["a", "b", "c"], dropout=0.0)
    for param, value in zip((head.proj.weight, head.proj.bias, head.center, head.scale), fitted):
        param.data.copy_(value)
    assert torch.allclose(head(x * 30 + 5), logits_of(fitted, x * 30 + 5), atol=1e-5)
    save_heads({"emotion": head}, str(tmp_path / "h.safetensors"))
    back = load_heads(str(tmp_path / "h.safetensors"))["emotion"]
    assert torch.equal(back(x), head(x))
    old = {k: v for k, v in load_file(str(tmp_path / "h.safetensors")).items()
           if k.endswith(("weight", "bias"))}  # what a file from before the buffers holds
    save_file(old, str(tmp_path / "old.safetensors"), metadata={
        "emotion": '{"labels": ["a", "b", "c"], "hidden_size": 4}'})
    older = load_heads(str(tmp_path / "old.safetensors"))["emotion"]
    assert torch.equal(older(x), x @ head.proj.weight.T + head.proj.bias)


def test_pooled_features_match_one_prompt_at_a_time(friend, prepared, capsys):
    import contextlib

    from heads import pool_last_prompt_token

    rows = [prepared.tokenized["esconv"]["train"][i] for i in range(5)]
    prompts = [r["input_ids"][:r["prompt_length"]] for r in rows]
    assert len({len(p) for p in prompts}) > 1  # padding and the length sort are exercised
    friend.eval()
    got = pooled_features(friend, prompts, 0, 2, "cpu", contextlib.nullcontext)
    assert "heads" not in capsys.readouterr().err  # quiet unless asked (head metrics, reflection)
    assert torch.equal(pooled_features(friend, prompts, 0, 2, "cpu", contextlib.nullcontext,
                                       progress=True), got)
    bar = capsys.readouterr().err  # the head fit's bar (minutes on the real data): 3 batches
    assert bar.startswith("\rheads:") and "| 0/3 [" in bar
    for p, feat in zip(prompts, got):
        ids = torch.tensor([p])
        alone = pool_last_prompt_token(friend.hidden_states(ids, torch.ones_like(ids)),
                                       torch.tensor([len(p)]))
        assert torch.allclose(feat, alone[0].float(), atol=1e-5)


@pytest.mark.slow
def test_fitted_heads_resume_exactly_and_are_not_refitted(tmp_path, data_cache, tiny_model_dir):
    fit = ["training.head_fit_examples=40", "training.max_steps=4", "training.save_every=2"]
    straight = tiny_config(tmp_path / "a", data_cache, tiny_model_dir, fit)
    _run(straight)
    report = json.loads(Path(os.path.join(straight.run_dir, "logs", "head_fit.json")).read_text())
    assert set(report) == {"emotion", "strategy"}
    assert report["strategy"]["train_rows"] == 40  # the fixtures hold 26 labelled emotion rows
    assert all(1 <= r["train_rows"] <= 40 and r["val_rows"] >= 1 and r["l2"] in L2_GRID
               for r in report.values())
    split = tiny_config(tmp_path / "b", data_cache, tiny_model_dir,
                        fit + ["training.steps_per_job=2"])
    _run(split)
    fitted_at = os.path.getmtime(os.path.join(split.run_dir, "logs", "head_fit.json"))
    _run(tiny_config(tmp_path / "b", data_cache, tiny_model_dir, fit), resume=True)
    assert os.path.getmtime(os.path.join(split.run_dir, "logs", "head_fit.json")) == fitted_at
    wa, wb = _weights(straight.run_dir), _weights(split.run_dir)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert _losses(straight.run_dir) == _losses(split.run_dir)


@pytest.mark.slow
def test_fitted_heads_differ_from_the_random_start(tmp_path, data_cache, tiny_model_dir):
    one_step = ["training.max_steps=1", "training.lr=1e-9"]  # a step that barely moves them
    plain = tiny_config(tmp_path / "a", data_cache, tiny_model_dir, one_step)
    fitted = tiny_config(tmp_path / "b", data_cache, tiny_model_dir,
                         one_step + ["training.head_fit_examples=40"])
    _run(plain)
    _run(fitted)
    wa, wb = _weights(plain.run_dir), _weights(fitted.run_dir)
    heads = [k for k in wa if k.startswith("head.") and k.endswith("proj.weight")]
    assert len(heads) == 2 and all((wa[k] - wb[k]).abs().max() > 1e-3 for k in heads)
    for name in ("emotion", "strategy"):  # the standardization is saved with the head
        assert torch.equal(wa[f"head.{name}.scale"], torch.ones_like(wa[f"head.{name}.scale"]))
        assert not torch.equal(wb[f"head.{name}.scale"], wa[f"head.{name}.scale"])
