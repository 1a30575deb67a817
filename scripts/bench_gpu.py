"""GPU check: QLoRA on a Qwen2.5-3B-shaped model (random weights), project step vs plain PEFT.

Builds a model with Qwen2.5-3B-Instruct's architecture (hidden 2048, 36 layers, 16 heads, 2 KV
heads, intermediate 11008, vocab 151936, tied embeddings), saves it with the rebuilt Qwen2.5
tokenizer, loads it 4-bit (NF4, double quant, bf16 compute) with LoRA r16/a32 on every
projection, and times side by side on the same batches and label masks:
  (a) the plain PEFT step (prepare_model_for_kbit_training, model(input_ids, labels=...),
      backward, AdamW) and (b) the project's step (heads on, example_config loss weights),
  at 1 x 1024 and 4 x 1024 tokens (70 % of each sequence masked as prompt) and on mixture
  batches of realistic lengths (fixtures tokenized with the real Qwen2.5 tokenizer; plain PEFT
  gets random batches, the project its length-grouped ones);
  safety KL on vs off, heads on vs off; generation through generation.generate_batch at
  batch 1, 16, 64 vs raw model.generate on the same left-padded batches.
Reports step time, tokens/s (all and supervised) and torch.cuda.max_memory_allocated.
Models run in train mode (gradient checkpointing is inactive in eval mode).
`--dry_run` exercises every path on CPU with a tiny model of the same family (no 4-bit, no
memory figures): it proves the script, not the numbers.

    python scripts/bench_gpu.py --out $OUT            # on the GPU machine
    python scripts/bench_gpu.py --dry_run              # anywhere
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")

import torch  # noqa: E402

QWEN25_3B = dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16,
                 num_key_value_heads=2, intermediate_size=11008, vocab_size=151936,
                 tie_word_embeddings=True, max_position_embeddings=32768, rope_theta=1e6,
                 rms_norm_eps=1e-6)
TINY = dict(QWEN25_3B, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=128)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
WEIGHTS = {"project (heads, example weights)": (1.0, 0.2, 0.2, 0.0),
           "project, heads off": (1.0, 0.0, 0.0, 0.0),
           "project + safety KL": (1.0, 0.2, 0.2, 0.1)}


def build_random_model(path: str, shape: dict, device: str) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from offline_tokenizer import load_qwen25_tokenizer
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(Qwen2Config(**shape)).to(torch.bfloat16)
    model.save_pretrained(path)
    load_qwen25_tokenizer().save_pretrained(path)
    del model


def synthetic_batches(batch: int, seq: int, n: int, vocab: int, device) -> list[dict]:
    g = torch.Generator().manual_seed(batch * 1000 + seq)
    out = []
    for _ in range(n):
        ids = torch.randint(0, vocab - 300, (batch, seq), generator=g)
        labels = ids.clone()
        labels[:, :int(0.7 * seq)] = -100
        out.append({"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device),
                    "labels": labels.to(device), "prompt_lengths": torch.full((batch,), int(0.7 * seq)),
                    "emotion_labels": torch.randint(0, 28, (batch,), generator=g),
                    "strategy_labels": torch.randint(0, 8, (batch,), generator=g)})
    for b in out:
        for k in ("prompt_lengths", "emotion_labels", "strategy_labels"):
            b[k] = b[k].to(device)
    return out


def mixture_batches(tok, batch: int, n: int, grouped: bool, device) -> list[dict]:
    """Fixture examples (real Qwen2.5 tokens), batched as the project or a plain loader would."""
    from dataset import prepare_data
    from friend_model import collate
    from mixture import MixtureSampler
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests",
                        "fixtures", "data")
    sources = {s: {"path": os.path.join(root, s), "name": None, "data_files": {}}
               for s in ("ed", "esconv")}
    data = prepare_data(sources, tok, "You are a caring friend.", 1024,
                        tempfile.mkdtemp(prefix="bench_gpu_data_"), log=lambda *_: None)
    train = {s: sp["train"] for s, sp in data.tokenized.items()}
    sampler = MixtureSampler({s: d["length"] for s, d in train.items()}, 0.5, 0, batch, grouped)
    return [collate([dict(train[s][i], emotion_label=-100, strategy_label=0)
                     for s, i in sampler.next_batch()], tok.pad_token_id, device)
            for _ in range(n)]


def timed(step, batches: list, warmup: int = 2) -> dict:
    cuda = torch.cuda.is_available()
    for b in batches[:warmup]:
        step(b)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for b in batches[warmup:]:
        t0 = time.perf_counter()
        step(b)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    tokens = sum(int(b["attention_mask"].sum()) for b in batches[warmup:])
    sup = sum(int((b["labels"][:, 1:] != -100).sum()) for b in batches[warmup:])
    return {"s_per_step": statistics.median(times), "tokens_per_s": tokens / sum(times),
            "supervised_tokens_per_s": sup / sum(times),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}


def plain_peft(path: str, four_bit: bool, device):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig
    kw = {"dtype": torch.bfloat16}
    if four_bit:
        kw.update(quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16), device_map={"": 0})
    model = AutoModelForCausalLM.from_pretrained(path, **kw)
    if not four_bit:  # a 4-bit model is placed by device_map and refuses .to()
        model.to(device)
    model = prepare_model_for_kbit_training(model)  # what a user writes: its defaults
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                             target_modules=TARGETS, task_type="CAUSAL_LM"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step(b):
        model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
              labels=b["labels"]).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return model, step


def project(path: str, four_bit: bool, tok, device):
    from config import load_config
    from dataset import ESCONV_STRATEGIES, GOEMOTIONS_LABELS
    from losses import denominators
    from training import build_model
    cfg = load_config("config/example_config.json", [f"model.name_or_path={path}",
                                                      f"quant.load_in_4bit={four_bit}",
                                                      "model.gradient_checkpointing=true"])
    model = build_model(cfg, tok, {"emotion": GOEMOTIONS_LABELS, "strategy": ESCONV_STRATEGIES})
    if not four_bit:
        model.to(device)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def make_step(weights):
        def step(b):
            total, _ = model(b, weights, denominators([b]))
            total.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step
    return model, make_step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry_run", action="store_true", help="tiny model on CPU, no 4-bit")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    ap.add_argument("--out", default=os.environ.get("OUT", ""))
    args = ap.parse_args()
    from model import load_tokenizer
    cuda = torch.cuda.is_available() and not args.dry_run
    device = "cuda" if cuda else "cpu"
    shape = TINY if args.dry_run else QWEN25_3B
    path = tempfile.mkdtemp(prefix="qwen25_shape_")
    t0 = time.perf_counter()
    build_random_model(path, shape, device)
    tok = load_tokenizer(path, "artifacts/cache")
    n = args.steps + 2
    shapes = {"1x1024": synthetic_batches(1, 1024 if cuda else 64, n, shape["vocab_size"], device),
              "4x1024": synthetic_batches(4, 1024 if cuda else 64, n, shape["vocab_size"], device)}
    rows = []
    model, step = plain_peft(path, cuda, device)
    for name, batches in shapes.items():
        rows.append(("plain PEFT", name, timed(step, batches)))
    rows.append(("plain PEFT", "mixture (random batches)",
                 timed(step, mixture_batches(tok, 4, n, False, device))))
    del model, step
    if cuda:
        torch.cuda.empty_cache()
    model, make_step = project(path, cuda, tok, device)
    grouped = mixture_batches(tok, 4, n, True, device)
    for label, weights in WEIGHTS.items():
        for name, batches in shapes.items():
            rows.append((label, name, timed(make_step(weights), batches)))
    rows.append((list(WEIGHTS)[0], "mixture (length-grouped)",
                 timed(make_step(WEIGHTS[list(WEIGHTS)[0]]), grouped)))
    gen = generation_rows(model, tok, device, cuda)
    print(f"device: {torch.cuda.get_device_name(0) if cuda else 'CPU (dry run)'}; torch "
          f"{torch.__version__}; setup {time.perf_counter() - t0:.0f} s")
    print(f"{'variant':<36} {'batch':<26} {'s/step':>7} {'tok/s':>8} {'sup tok/s':>9} {'peak GiB':>8}")
    for label, name, r in rows:
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-"
        print(f"{label:<36} {name:<26} {r['s_per_step']:>7.3f} {r['tokens_per_s']:>8.0f} "
              f"{r['supervised_tokens_per_s']:>9.0f} {peak:>8}")
    for g in gen:
        print(f"generation batch {g['batch']:>3}: generate_batch {g['ours_s']:.2f} s "
              f"({g['ours_tok_s']:.0f} tok/s) vs raw generate {g['raw_s']:.2f} s "
              f"({g['raw_tok_s']:.0f} tok/s)")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "bench_gpu.json"), "w") as f:
            json.dump({"rows": [{"variant": a, "batch": b, **r} for a, b, r in rows],
                       "generation": gen}, f, indent=2)


def generation_rows(model, tok, device, cuda: bool) -> list[dict]:
    """Tokens/s of generation.generate_batch vs raw generate on the same batch."""
    from generation import Friend, generate_batch, left_pad, render_prompt_ids
    from dataset import end_of_turn_id
    model.eval()
    friend = Friend(model.backbone, tok, {}, end_of_turn_id(tok), True)
    convs = [[{"role": "user", "content": f"Tell me about your day, friend number {i}."}]
             for i in range(64)]
    out = []
    for bs in (1, 16, 64):
        batch = convs[:bs]
        t0 = time.perf_counter()
        replies = generate_batch(friend, batch, 32, batch_size=bs)
        ours = time.perf_counter() - t0
        ids, mask = left_pad([render_prompt_ids(tok, c) for c in batch], tok.pad_token_id, device)
        t0 = time.perf_counter()
        with torch.no_grad():
            raw = model.backbone.generate(input_ids=ids, attention_mask=mask, max_new_tokens=32,
                                          do_sample=False, pad_token_id=tok.pad_token_id,
                                          eos_token_id=friend.stop_ids())
        raw_t = time.perf_counter() - t0
        # greedy on the same inputs: both produce these tokens (text can hide specials)
        n_new = int((raw[:, ids.shape[1]:] != tok.pad_token_id).sum())
        out.append({"batch": bs, "ours_s": ours, "raw_s": raw_t, "new_tokens": n_new,
                    "ours_tok_s": n_new / ours, "raw_tok_s": n_new / raw_t,
                    "replies": len(replies)})
    model.train()
    return out


if __name__ == "__main__":
    main()
