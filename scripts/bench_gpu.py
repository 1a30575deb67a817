"""GPU check: QLoRA on a Qwen2.5-3B-shaped model (random weights), the project's training step
vs plain PEFT, side by side in one run.

The project rows time `training.train_step`, the very function the training loop calls, on
a model built by `training.build_model` from config/example_config.json and prepared by the
same accelerator (its `training.mixed_precision`, bf16 autocast, unless a row says otherwise).
Plain PEFT is what a user writes by hand: prepare_model_for_kbit_training, model(labels=...),
backward, AdamW, on the same 4-bit weights.

Rows: synthetic 1x1024 and 4x1024 (70 % of each row prompt); an 8x1024 micro-batch (the
default token budget, full); realistic mixture examples (real ED/ESConv/GoEmotions rows
tokenized with the real Qwen2.5 tokenizer, `--write_examples`), plain PEFT at batch 4 vs the
project's token-budget steps over the same examples; heads off; safety KL on (ratio);
the old dtype policy (fp32 norms) and no autocast; generation through
`generation.generate_batch` vs raw `model.generate` on the same left-padded batches at 1, 16,
64 (warmed up, interleaved, medians). Reports step time, tokens/s, peak memory and each
timed step's loss.

    python -m scripts.bench_gpu --write_examples artifacts/bench_examples.jsonl   # here, once
    python -m scripts.bench_gpu --examples artifacts/bench_examples.jsonl --out $OUT  # GPU
    python -m scripts.bench_gpu --dry_run      # CPU: tiny Qwen2, real NF4 layers, every path
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # read when datasets loads

import torch  # noqa: E402 (after the environment variable above)

QWEN25_3B = dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16,
                 num_key_value_heads=2, intermediate_size=11008, vocab_size=151936,
                 tie_word_embeddings=True, max_position_embeddings=32768, rope_theta=1e6,
                 rms_norm_eps=1e-6)
# the dry run's model: Qwen2 family, 2 small layers, SmolLM2's 49k vocabulary (a bf16 LM head
# over Qwen's 152k is the slowest thing on a CPU, and the vocabulary size proves nothing here)
TINY = dict(QWEN25_3B, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=128, vocab_size=49152)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
HEADS = (1.0, 0.2, 0.2, 0.0, 0.0)  # example_config's loss weights
NO_HEADS = (1.0, 0.0, 0.0, 0.0, 0.0)
WITH_KL = (1.0, 0.2, 0.2, 0.1, 0.0)


# ------------------------------------------------------------------ inputs
def build_random_model(path: str, shape: dict, device: str, tokenizer: str) -> None:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from model import load_tokenizer
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(Qwen2Config(**shape)).to(torch.bfloat16)
    model.save_pretrained(path)
    load_tokenizer(tokenizer, os.path.join(ROOT, "artifacts", "cache")).save_pretrained(path)
    del model


def synthetic_examples(rows: int, seq: int, vocab: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    p = int(0.7 * seq)
    out = []
    for _ in range(rows):
        ids = torch.randint(0, vocab - 300, (seq,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [-100] * p + ids[p:], "prompt_length": p,
                    "emotion_label": int(torch.randint(0, 28, (1,), generator=g)),
                    "strategy_label": int(torch.randint(0, 8, (1,), generator=g))})
    return out


def full_train_sizes(sources: dict, cache: str) -> dict:
    """Examples per source in the whole train split (canonicalized, not tokenized)."""
    from dataset import canonical_split, column, load_raw_splits
    sizes = {}
    for s, spec in sources.items():
        raw, _ = load_raw_splits(s, spec["path"], None, {}, cache)["train"]
        canon, _ = canonical_split(raw, s, "train", "none", 0, cache)
        sizes[s] = sum(1 for r in column(canon, "skip_reason") if not r)
    return sizes


def write_examples(path: str, data_root: str, n: int, max_rows: int) -> None:
    """Mixture draws (alpha 0.5, probabilities of the full train splits) of real rows
    tokenized with the real Qwen2.5 tokenizer (the first `max_rows` rows of each split)."""
    import numpy as np

    from dataset import column, prepare_data
    from mixture import MixtureSampler, temperature_probs
    from model import load_tokenizer
    tok = load_tokenizer("embedded:qwen2.5", os.path.join(ROOT, "artifacts", "cache"))
    sources = {s: {"path": os.path.join(data_root, s), "name": None, "data_files": {}}
               for s in ("ed", "esconv", "goemotions")}
    cache = tempfile.mkdtemp(prefix="bench_gpu_data_")
    data = prepare_data(sources, tok, "You are a warm, caring best friend.", 1024, cache,
                        max_rows_per_split=max_rows, log=lambda *_: None)
    train = {s: sp["train"] for s, sp in data.tokenized.items()}
    sampler = MixtureSampler({s: column(d, "length") for s, d in train.items()}, 0.5, 0, n, False)
    sampler.probs = temperature_probs(full_train_sizes(sources, cache), 0.5)
    sampler._p = np.array([sampler.probs[s] for s in sampler.sources])
    print(f"mixture probabilities (full train splits, alpha 0.5): {sampler.probs}")
    keys = ("input_ids", "labels", "prompt_length", "emotion_label", "strategy_label")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for s, i in sampler.next_batch():
            f.write(json.dumps({"source": s, **{k: train[s][i][k] for k in keys}}) + "\n")
    print(f"wrote {n} mixture examples from {data_root} to {path}")


def read_examples(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def length_grouped(examples: list[dict], size: int = 0, step_tokens: int = 0) -> list[list[dict]]:
    """Groups cut from the length-sorted pool (`size` examples each, or by padded tokens as
    mixture.cut_by_tokens cuts a sampler megabatch), in a seeded order."""
    from mixture import cut_by_tokens
    srt = sorted(examples, key=lambda e: len(e["input_ids"]))
    if step_tokens:
        groups = [[srt[i] for i in g] for g in cut_by_tokens([len(e["input_ids"]) for e in srt],
                                                             step_tokens)]
    else:
        groups = [srt[i:i + size] for i in range(0, len(srt), size)]
    order = torch.randperm(len(groups), generator=torch.Generator().manual_seed(0)).tolist()
    return [groups[i] for i in order]


# ------------------------------------------------------------------ timing
def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(step, items: list, tokens_of, warmup: int = 2) -> dict:
    """Median step time, tokens/s, peak memory and each timed step's loss."""
    warmup = min(warmup, len(items) - 1)
    for item in items[:warmup]:
        step(item)
    sync()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for item in items[warmup:]:
        t0 = time.perf_counter()
        losses.append(step(item))
        sync()
        times.append(time.perf_counter() - t0)
    tokens = sum(tokens_of(item) for item in items[warmup:])
    return {"s_per_step": statistics.median(times), "tokens_per_s": tokens / sum(times),
            "tokens_per_step": tokens / len(times), "losses": [float(x) for x in losses],
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available()
            else None}


def timed_alternating(variants: dict, items: list, tokens_of, warmup: int = 2) -> dict:
    """Like `timed`, for several variants run step by step in turn on the same items (each
    variant: (switch-to function, step function)), so drift hits all alike."""
    cuda = torch.cuda.is_available()
    for item in items[:warmup]:
        for enter, step in variants.values():
            enter()
            step(item)
    out = {name: {"times": [], "losses": [], "peak": 0.0} for name in variants}
    for item in items[warmup:]:
        for name, (enter, step) in variants.items():
            enter()
            sync()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            out[name]["losses"].append(step(item))
            sync()
            out[name]["times"].append(time.perf_counter() - t0)
            if cuda:
                out[name]["peak"] = max(out[name]["peak"], torch.cuda.max_memory_allocated() / 2**30)
    tokens = sum(tokens_of(item) for item in items[warmup:])
    return {name: {"s_per_step": statistics.median(r["times"]),
                   "tokens_per_s": tokens / sum(r["times"]),
                   "tokens_per_step": tokens / len(r["times"]),
                   "losses": [float(x) for x in r["losses"]],
                   "peak_gib": r["peak"] if cuda else None} for name, r in out.items()}


# ------------------------------------------------------------------ the two steps
def plain_peft(path: str, device):
    """The hand-written baseline: peft's own k-bit preparation and the model's own loss."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from batching import collate
    from model import device_map_for
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16,
                                                 device_map=device_map_for(
                                                     torch.cuda.is_available()),
                                                 quantization_config=BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16))
    model = prepare_model_for_kbit_training(model)  # what a user writes: its defaults
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05,
                                             target_modules=TARGETS, task_type="CAUSAL_LM"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    dev = next(model.parameters()).device

    def step(examples):
        b = collate(examples, 0)
        loss = model(input_ids=b["input_ids"].to(dev), attention_mask=b["attention_mask"].to(dev),
                     labels=b["labels"].to(dev)).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()  # read after the timing: no extra host sync per step
    return model, step


class Project:
    """The project's model, built and prepared exactly as `main.py train` builds it."""

    def __init__(self, path: str, tok, four_bit: bool):
        from canonical import ESCONV_STRATEGIES, GOEMOTIONS_LABELS
        from config_load import load_config
        from training import build_model
        self.cfg = load_config(os.path.join(ROOT, "config", "example_config.json"), [
            f"model.name_or_path={path}", f"quant.load_in_4bit={str(four_bit).lower()}"])
        self.tok = tok
        self.model = build_model(self.cfg, tok, {"emotion": GOEMOTIONS_LABELS,
                                                 "strategy": ESCONV_STRATEGIES})

    def step_fn(self, weights: tuple, mixed_precision: str | None = None):
        """A step function over lists of CPU micro-batches, through training.train_step under
        a freshly prepared wrapper (shared weights) and accelerator for `mixed_precision`."""
        from config import LOSS_NAMES
        from distributed import make_accelerator
        from training import train_step
        from training_model import TrainingModel
        acc = make_accelerator(mixed_precision or self.cfg.training.mixed_precision)
        wrapper = TrainingModel(self.model.backbone, dict(self.model.heads.items()))
        params = [p for p in wrapper.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-5)
        wrapper, opt = acc.prepare(wrapper, opt)
        wrapper.train()

        def step(micro):
            terms, finite, _, denoms = train_step(wrapper, micro, weights, params, opt, acc, 1.0)
            return sum(w * terms.get(n, 0.0) for n, w in zip(LOSS_NAMES, weights, strict=True))
        return step

    def micro(self, examples: list[dict], budget: int) -> list[dict]:
        from batching import collate, micro_batches
        t = self.cfg.training
        return [collate(g, self.tok.pad_token_id)
                for g in micro_batches(examples, t.batch_size, t.grad_accum, budget)]


def set_norm_dtype(model, dtype) -> None:
    """The old policy (peft-style fp32 norms) or the current one (compute dtype)."""
    for name, p in model.named_parameters():
        if p.ndim == 1 and "norm" in name:
            p.data = p.data.to(dtype)


def micro_tokens(micro: list[dict]) -> int:
    return sum(int(b["attention_mask"].sum()) for b in micro)


def example_tokens(examples: list[dict]) -> int:
    return sum(len(e["input_ids"]) for e in examples)


# ------------------------------------------------------------------ generation
def generation_rows(project: Project, bss=(1, 16, 64), new_tokens: int = 32, reps: int = 3):
    """generate_batch vs raw generate on the same left-padded greedy batches, warmed up and
    interleaved; medians of `reps`."""
    from generation import generate_batch, left_pad, render_prompt_ids
    from loading import LoadedFriend
    from prompting import end_of_turn_id
    model, tok = project.model, project.tok
    model.eval()
    friend = LoadedFriend(model.backbone, tok, {}, end_of_turn_id(tok), True)
    convs = [[{"role": "user", "content": f"Tell me about your day, friend number {i}."}]
             for i in range(max(bss))]
    out = []
    for bs in bss:
        batch = convs[:bs]
        ids, mask = left_pad([render_prompt_ids(tok, c) for c in batch], tok.pad_token_id,
                             friend.device)

        def ours(batch=batch, bs=bs):
            generate_batch(friend, batch, new_tokens, batch_size=bs)

        def raw(ids=ids, mask=mask):
            with torch.no_grad():
                return model.backbone.generate(input_ids=ids, attention_mask=mask,
                                               max_new_tokens=new_tokens, do_sample=False,
                                               use_cache=True, pad_token_id=tok.pad_token_id,
                                               eos_token_id=friend.stop_ids())
        ours(), raw()  # warm-up: new shapes, kernels, allocator
        times = {"ours": [], "raw": []}
        for _ in range(reps):
            for name, fn in (("ours", ours), ("raw", raw)):
                sync()
                t0 = time.perf_counter()
                res = fn()
                sync()
                times[name].append(time.perf_counter() - t0)
                if name == "raw":
                    n_new = int((res[:, ids.shape[1]:] != tok.pad_token_id).sum())
        med = {k: statistics.median(v) for k, v in times.items()}
        if med["raw"] / med["ours"] < 0.9:  # say where the extra time goes
            profile_calls({"generate_batch": ours, "raw generate": raw})
        out.append({"batch": bs, "ours_s": med["ours"], "raw_s": med["raw"], "new_tokens": n_new,
                    "ours_tok_s": n_new / med["ours"], "raw_tok_s": n_new / med["raw"],
                    "ratio": med["raw"] / med["ours"]})
    model.train()
    return out


def profile_calls(calls: dict) -> None:
    import cProfile
    import io
    import pstats
    for name, fn in calls.items():
        prof = cProfile.Profile()
        prof.runcall(fn)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
        print(f"--- profile of one {name} call (top by own time)\n{buf.getvalue()[-2500:]}")


# ------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry_run", action="store_true", help="tiny Qwen2 on CPU, real NF4 layers")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per row")
    ap.add_argument("--examples", help="pre-tokenized mixture examples (JSONL)")
    ap.add_argument("--write_examples", help="write mixture examples here, then exit")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "real-data"))
    ap.add_argument("--budget", type=int, default=8192, help="training.max_tokens_per_batch")
    ap.add_argument("--out", default=os.environ.get("OUT", ""))
    args = ap.parse_args()
    if args.write_examples:
        root = args.data if os.path.isdir(args.data) else os.path.join(ROOT, "data", "demo")
        return write_examples(args.write_examples, root, 1536, 300)
    bench = Bench(args)
    bench.run()


class Bench:
    def __init__(self, args):
        self.args, self.rows, self.t0 = args, [], time.perf_counter()
        self.cuda = torch.cuda.is_available() and not args.dry_run
        self.shape = TINY if args.dry_run else QWEN25_3B
        self.seq = 1024 if self.cuda else 32
        self.result = {"device": torch.cuda.get_device_name(0) if self.cuda else "CPU (dry run)",
                       "torch": torch.__version__, "rows": self.rows, "errors": []}

    def save(self) -> None:
        if self.args.out:
            os.makedirs(self.args.out, exist_ok=True)
            with open(os.path.join(self.args.out, "bench_gpu.json"), "w") as f:
                json.dump(self.result, f, indent=2)

    def row(self, variant: str, batch: str, fn) -> None:
        try:
            r = fn()
        except Exception:  # one broken row must not cost the whole GPU lease
            err = traceback.format_exc()
            print(f"!! {variant} / {batch} failed:\n{err}", flush=True)
            self.result["errors"].append({"variant": variant, "batch": batch, "error": err})
            self.save()
            return
        self.rows.append({"variant": variant, "batch": batch, **r})
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "-"
        loss = r["losses"][-1] if r["losses"] else float("nan")
        print(f"{variant:<40} {batch:<30} {r['s_per_step']:>7.3f} s {r['tokens_per_s']:>8.0f} tok/s "
              f"{r['tokens_per_step']:>7.0f} tok/step {peak:>6} GiB loss {loss:.3f} "
              f"[{time.perf_counter() - self.t0:.0f} s]", flush=True)
        self.save()

    def run(self) -> None:
        from model import load_tokenizer, quantization_summary
        a, n = self.args, self.args.steps + 2
        path = tempfile.mkdtemp(prefix="qwen25_shape_")
        build_random_model(path, self.shape, "cuda" if self.cuda else "cpu",
                           "embedded:smollm2" if a.dry_run else "embedded:qwen2.5")
        tok = load_tokenizer(path, os.path.join(ROOT, "artifacts", "cache"))
        pool = read_examples(a.examples) if a.examples else self._fixture_examples(tok)
        syn = {r: [synthetic_examples(r, self.seq, self.shape["vocab_size"], 100 * r + k)
                   for k in range(n)] for r in (1, 4, 8)}
        # plain PEFT trains the LM only: a batch without targets gives it a NaN loss, so it
        # gets the pool's examples that have a reply (the project also gets the rest)
        lm_pool = [e for e in pool if any(x != -100 for x in e["labels"])]
        plain_batches = [lm_pool[i:i + 4] for i in range(0, 4 * n, 4)]
        grouped4 = length_grouped(lm_pool, 4)[:n]
        print(f"device {self.result['device']}; torch {torch.__version__}; setup "
              f"{time.perf_counter() - self.t0:.0f} s; pool {len(pool)} examples, mean "
              f"{example_tokens(pool) / len(pool):.0f} tokens", flush=True)
        model, step = plain_peft(path, self.cuda)
        self.result["plain_quantization"] = quantization_summary(model)
        for r in (1, 4):
            self.row("plain PEFT", f"{r}x{self.seq}",
                     lambda r=r: timed(step, syn[r], example_tokens))
        self.row("plain PEFT", "mixture, random batches of 4",
                 lambda: timed(step, plain_batches, example_tokens))
        self.row("plain PEFT", "mixture, length-grouped batches of 4",
                 lambda: timed(step, grouped4, example_tokens))
        model = step = None  # free the plain model before the project one loads
        if self.cuda:
            torch.cuda.empty_cache()
        self._project_rows(path, tok, pool, lm_pool, syn, n)
        self.save()
        print(f"done in {time.perf_counter() - self.t0:.0f} s; errors: {len(self.result['errors'])}")

    def _project_rows(self, path, tok, pool, lm_pool, syn, n) -> None:
        from batching import collate
        from model import quantization_summary
        p = Project(path, tok, four_bit=True)
        self.result["quantization"] = quantization_summary(p.model.backbone)
        t = p.cfg.training
        step_tokens = self.args.budget * t.grad_accum
        per_step = f"{step_tokens} tokens/step"
        steps = [p.micro(g, self.args.budget) for g in length_grouped(pool, 0, step_tokens)[:n]]
        lm_steps = [p.micro(g, self.args.budget)
                    for g in length_grouped(lm_pool, 0, step_tokens)[:n]]
        synth = {r: [[collate(ex, tok.pad_token_id)] for ex in syn[r]] for r in (1, 4, 8)}
        self.result["budget"] = {
            "max_tokens_per_batch": self.args.budget, "step_tokens": step_tokens,
            "examples_per_step": statistics.mean(sum(len(b["input_ids"]) for b in s) for s in steps),
            "micro_batches_per_step": statistics.mean(len(s) for s in steps)}
        for label, weights in (("project (heads, bf16 autocast)", HEADS),
                               ("project, heads off", NO_HEADS), ("project + safety KL", WITH_KL)):
            step = p.step_fn(weights)
            for r in (1, 4):
                self.row(label, f"{r}x{self.seq}",
                         lambda r=r, step=step: timed(step, synth[r], micro_tokens))
            self.row(label, f"mixture, {per_step}",
                     lambda step=step: timed(step, steps, micro_tokens))
        step = p.step_fn(HEADS)
        self.row("project (heads, bf16 autocast)", f"8x{self.seq} (the full budget)",
                 lambda: timed(step, synth[8], micro_tokens))
        self.row("project (heads, bf16 autocast)", f"LM examples only, {per_step}",
                 lambda: timed(step, lm_steps, micro_tokens))
        for r in (1, 4):  # old vs new dtype policy, alternating step by step on one model
            for name, res in timed_alternating({
                    "before: fp32 norms, bf16 autocast": (
                        lambda: set_norm_dtype(p.model.backbone, torch.float32), step),
                    "after: bf16 norms, bf16 autocast": (
                        lambda: set_norm_dtype(p.model.backbone, torch.bfloat16), step)},
                    synth[r], micro_tokens).items():
                self.row(name, f"{r}x{self.seq}, alternating", lambda res=res: res)
        set_norm_dtype(p.model.backbone, torch.bfloat16)
        self.result["generation"] = []
        try:
            self.result["generation"] = generation_rows(p, *(
                ((1, 16, 64), 32, 3) if self.cuda else ((1, 4), 4, 1)))
            for g in self.result["generation"]:
                print(f"generation batch {g['batch']:>3}: generate_batch {g['ours_s']:.2f} s "
                      f"({g['ours_tok_s']:.0f} tok/s) vs raw {g['raw_s']:.2f} s "
                      f"({g['raw_tok_s']:.0f} tok/s): {g['ratio']:.2f}x", flush=True)
        except Exception:
            err = traceback.format_exc()
            print(f"!! generation failed:\n{err}", flush=True)
            self.result["errors"].append({"variant": "generation", "error": err})
        self.save()
        step = p.step_fn(HEADS, "no")
        for r in (1, 4):
            self.row("project (heads, no autocast)", f"{r}x{self.seq}",
                     lambda r=r: timed(step, synth[r], micro_tokens))

    def _fixture_examples(self, tok) -> list[dict]:
        """Dry run: the demo data tokenized with the real tokenizer stands in for real data."""
        from dataset import prepare_data
        root = os.path.join(ROOT, "data", "demo")
        sources = {s: {"path": os.path.join(root, s), "name": None, "data_files": {}}
                   for s in ("ed", "esconv", "goemotions")}
        data = prepare_data(sources, tok, "You are a caring friend.", 96,
                            tempfile.mkdtemp(prefix="bench_gpu_data_"), log=lambda *_: None)
        pool = [ex for sp in data.tokenized.values() for ex in sp["train"]]
        return [pool[i] for i in torch.randperm(len(pool), generator=torch.Generator().manual_seed(
            0)).tolist()][:96]


if __name__ == "__main__":
    main()
