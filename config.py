"""Run configuration: the dataclass tree, every field with its unit or reason.

Loading JSON files ("extends"), --set overrides and validation live in config_load.py.

    python main.py data --config config/cpu_smoke.json --set data.max_seq_len=256
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Optional

from files import write_json_atomic

PROJECT_ROOT = os.path.dirname(os.path.abspath(__file__))


class UserError(Exception):
    """Bad input from the user (config, files, paths): the CLI prints it and exits 2."""


class ConfigError(UserError, ValueError):
    """Bad configuration: the message names the key (and the file when there is one)."""


@dataclass
class ModelConfig:
    name_or_path: str = "Qwen/Qwen2.5-3B-Instruct"  # hub id, local folder, or "embedded:smollm2"
    tokenizer: str = ""  # "" = the model's own; or a hub id, folder, "embedded:qwen2.5"
    revision: Optional[str] = None  # hub revision pin; None = default branch
    trust_remote_code: bool = False  # off: never execute code shipped with a checkpoint
    dtype: str = "auto"  # weights dtype off the 4-bit path: auto | float32 | bfloat16 | float16
    cache_dir: str = "artifacts/cache"  # converted embedded model and hub downloads
    gradient_checkpointing: bool = True  # trade compute for activation memory (non-reentrant)


@dataclass
class QuantConfig:
    load_in_4bit: bool = True  # QLoRA: NF4 base weights (on the CPU too, slowly, with a warning)
    quant_type: str = "nf4"  # bitsandbytes 4-bit type: nf4 | fp4
    double_quant: bool = True  # quantize the quantization constants too (~0.4 bit/param saved)
    compute_dtype: str = "bfloat16"  # de-quantized matmuls and the residual stream: bfloat16 | float16 | float32
    allow_cpu_fallback: bool = False  # without CUDA: full precision instead of slow CPU NF4


@dataclass
class LoraConfig:
    r: int = 16  # adapter rank
    alpha: int = 32  # scaling numerator: update scale = alpha / r
    dropout: float = 0.05  # dropout on the adapter input
    target_modules: list[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


@dataclass
class SourceConfig:
    path: str = ""  # hub dataset id, or a local folder holding files in the upstream format
    name: Optional[str] = None  # hub config name (GoEmotions: "simplified")
    data_files: dict[str, str] = field(default_factory=dict)  # split -> file inside a local folder
    enabled: bool = True  # an ablation can drop a whole source


@dataclass
class DataConfig:
    max_seq_len: int = 1024  # tokens per example; history is truncated oldest-turn first
    system_prompt: str = (
        "You are a warm, caring best friend. Listen closely, reflect the feelings you hear, "
        "and reply with empathy and honesty. Keep replies short and human.")
    cache_dir: str = "artifacts/cache/datasets"  # datasets' Arrow cache (tokenized splits live here)
    max_rows_per_split: int = 0  # 0 = all rows; >0 caps each raw split (quick experiments)
    emotion_mapping: str = "none"  # "none" | "ed_to_goemotions": let ED emotions supervise the head
    ed: SourceConfig = field(default_factory=lambda: SourceConfig(
        path="Adapting/empathetic_dialogues_v2"))
    esconv: SourceConfig = field(default_factory=lambda: SourceConfig(path="thu-coai/esconv"))
    goemotions: SourceConfig = field(default_factory=lambda: SourceConfig(
        path="google-research-datasets/go_emotions", name="simplified"))


@dataclass
class MixtureConfig:
    alpha: float = 0.5  # temperature exponent: p_i ∝ n_i^alpha; 1 = proportional, ->0 = uniform
    seed: int = 1234  # sampler seed (resumable)
    group_by_length: bool = True  # sort megabatches by length so batches carry little padding
    megabatch_factor: int = 32  # batches per sorted megabatch; larger = less padding, less mixing


@dataclass
class LossesConfig:
    lm: float = 1.0  # weight of the supervised-token LM loss
    emotion: float = 0.2  # emotion head CE; 0 = the head does not exist in the run
    strategy: float = 0.2  # strategy head CE; 0 = the head does not exist in the run
    kl: float = 0.0  # KL(student || base model with the adapter off) at reply tokens; 0 = no teacher pass
    dpo: float = 0.0  # DPO preference loss per pair; the dpo stage sets it (keep 0 for SFT: see DpoConfig)


# The loss terms, in the order of their weights everywhere (losses, logs, manifest, report,
# plots): the fields of LossesConfig.
LOSS_NAMES = tuple(f.name for f in dataclasses.fields(LossesConfig))


def loss_weights(losses: LossesConfig) -> tuple:
    """The weights in LOSS_NAMES order (what losses.weighted_losses zips, strictly)."""
    return tuple(getattr(losses, n) for n in LOSS_NAMES)


@dataclass
class TrainingConfig:
    max_steps: int = 2000  # optimizer steps (the budget is in steps, not epochs)
    batch_size: int = 4  # examples per micro-batch per process (without a token budget)
    grad_accum: int = 4  # micro-batches per step: a step takes batch_size x grad_accum x processes examples
    # >0: token budget. A step takes as many length-sorted examples as fit grad_accum x
    # processes micro-batches of this many padded tokens (rows x longest row), so short
    # examples fill the GPU; each micro-batch stays within it (the activation-memory knob:
    # ~7.7 GiB peak at 8192 on Qwen2.5-3B NF4 with checkpointing, docs/BENCHMARKS.md).
    # batch_size x grad_accum x processes x mixture.megabatch_factor examples are drawn per
    # refill either way. 0 = fixed batch_size examples per micro-batch.
    max_tokens_per_batch: int = 0
    lr: float = 2e-4  # peak learning rate (AdamW)
    # peak learning rate of the emotion/strategy heads; 0 = lr. They start from random
    # weights while LoRA starts at a zero update, and on a short run at lr they learn little
    # more than the class prior (docs/BENCHMARKS.md, the real-data run).
    head_lr: float = 0.0
    # >0: before step 0, fit each head by logistic regression on frozen last-prompt-token
    # features of up to this many labelled train rows (L2 chosen on a fifth as many validation
    # rows), then fine-tune from there (head_fit.py); 0 = the heads start random
    head_fit_examples: int = 0
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    warmup_steps: int = 50  # linear warmup steps, then cosine decay to 0 at max_steps
    max_grad_norm: float = 1.0  # gradient clipping
    head_dropout: float = 0.1  # dropout before each classification head
    eval_every: int = 200  # steps between validation passes (0 = only at start and end)
    eval_batches: int = 50  # validation batches per source per pass (0 = the whole split)
    eval_batch_size: int = 8  # examples per validation batch
    log_every: int = 10  # steps between console/JSONL log lines
    save_every: int = 500  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 2  # newest checkpoints kept on disk
    seed: int = 42  # torch/python/numpy seed
    mixed_precision: str = "no"  # accelerate mixed precision: no | bf16 | fp16
    report_to: list[str] = field(default_factory=list)  # accelerate trackers: tensorboard, trackio, wandb, mlflow, ... (trackers.py)
    max_consecutive_nonfinite: int = 3  # non-finite steps in a row that abort the run
    steps_per_job: int = 0  # steps this job runs, then it checkpoints and stops (the next job continues); 0 = to max_steps


@dataclass
class EvalConfig:
    prompt_sets: list[str] = field(default_factory=lambda: [
        "prompts/qualitative_prompts.jsonl", "prompts/redteam_prompts.jsonl"])
    batch_size: int = 16  # prompts per generate() call (left padded)
    max_new_tokens: int = 160  # reply budget per prompt
    head_metrics_max_examples: int = 0  # 0 = whole test split
    perplexity_max_examples: int = 500  # seeded test examples per source for reply perplexity; 0 = all
    eq_bench_questions: str = "pbevan11/EQ-Bench"  # hub mirror (split validation) or local JSON
    eq_bench_attempts: int = 3  # attempts per item, the official CLI's 3 (+0.15 temperature per retry)
    eq_bench_batch_size: int = 16  # prompts per generate() call of the first (temperature 0.01) attempt
    eq_bench_retry_batch_size: int = 0  # prompts per generate() call of the retries; 0 = eq_bench_batch_size, 1 = one at a time (the harness's transformers route)
    eq_bench_max_items: int = 0  # 0 = all items
    bootstrap_samples: int = 2000  # resamples for the paired 95% interval
    seed: int = 7  # sampling and bootstrap seed


@dataclass
class SafetyConfig:
    crisis_mode: bool = True  # high-risk messages switch the reply into crisis mode
    max_regenerations: int = 1  # stricter retries before the minimal safe message
    elevated_context_turns: int = 4  # recent user turns read alongside the latest one


@dataclass
class DecodingConfig:
    style: list[str] = field(default_factory=lambda: ["warm"])  # style tokens (decoding_policy.STYLES)
    two_step: bool = True  # reflect (emotion/strategy) then reply, with a private note
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.9  # nucleus sampling mass
    repetition_penalty: float = 1.1  # >1 discourages loops in small models
    reflect_max_new_tokens: int = 24  # hidden reflection budget when no heads are trained
    context_tokens: int = 2048  # prompt + reply budget of every reply; oldest turns dropped first
    chat_max_new_tokens: int = 200  # reply budget in `chat` (eval uses eval.max_new_tokens); a reply that runs out ends at its last full sentence


@dataclass
class DpoConfig:
    """The preference stage after SFT (dpo.py): the SFT adapter trained further with DPO
    against itself, frozen, as the reference. Its loop settings replace training.* there."""
    enabled: bool = False  # `all` runs `dpo` after `train`; eval/eq-bench then add a third model
    beta: float = 0.1  # DPO temperature: strength of the implicit KL pull to the SFT reference
    sft_weight: float = 0.0  # >0: + this x NLL per chosen-reply token (the RPO / NLL-regularized variant)
    lr: float = 5e-6  # peak learning rate (AdamW); DPO wants far less than SFT
    max_steps: int = 200  # optimizer steps
    warmup_steps: int = 10  # linear warmup, then cosine decay to 0
    batch_size: int = 4  # pairs per micro-batch (each pair is two rows)
    grad_accum: int = 4  # micro-batches per step
    max_tokens_per_batch: int = 0  # >0: token budget per micro-batch (2 rows per pair), as training.*
    eval_every: int = 50  # steps between held-out pair evaluations (0 = start and end only)
    save_every: int = 100  # steps between checkpoints (0 = only at the end)
    seed: int = 11  # pair sampling, held-out split and loop seed
    heldout_fraction: float = 0.1  # share of prompts whose pairs are kept out of training (reward accuracy)
    spin_prompts: int = 256  # ED/ESConv train prompts -> human-over-model pairs (SPIN); 0 = none
    safety_prompts: int = 64  # red-team and crisis-set prompts -> safety pairs; 0 = none
    safety_samples: int = 4  # sampled replies per safety prompt (one must pass the check, one fail)
    pairs: str = ""  # your own pairs: local .jsonl/.json or hub dataset with prompt/chosen/rejected
    pairs_split: str = "train"  # split of a hub dataset in `pairs`
    temperature: float = 0.9  # sampling temperature of the model's own replies
    top_p: float = 0.95  # nucleus mass of the model's own replies
    max_new_tokens: int = 96  # reply budget when sampling the model's own replies
    gen_batch_size: int = 16  # prompts per generate() call while building pairs


@dataclass
class OutputConfig:
    root: str = "artifacts/runs"  # run folders live here
    run_name: str = "friend"  # run folder: <root>/<run_name>/
    smoke: bool = False  # a smoke run on the demo data: the report says it proves the pipeline only


@dataclass
class ServeConfig:
    """`main.py serve` (serve.py): the OpenAI-compatible server and its limits."""
    host: str = "127.0.0.1"  # loopback; another address without an API key prints a warning
    port: int = 8000
    max_messages: int = 64  # messages per request
    max_message_chars: int = 8000  # characters per message
    max_tokens: int = 512  # the largest max_tokens a request may ask (new tokens)
    max_body_bytes: int = 262144  # request body (bytes); more is refused with 413
    queue_size: int = 32  # requests waiting for the model; a full queue answers 429
    max_batch: int = 8  # requests generated together when their settings agree
    batch_wait_ms: int = 20  # how long a request waits for others to batch with (ms)
    retry_after_s: int = 2  # the Retry-After of a 429 (seconds)
    cors_origins: list[str] = field(default_factory=list)  # CORS allowed origins; empty: off


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    data: DataConfig = field(default_factory=DataConfig)
    mixture: MixtureConfig = field(default_factory=MixtureConfig)
    losses: LossesConfig = field(default_factory=LossesConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    dpo: DpoConfig = field(default_factory=DpoConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.output.root, self.output.run_name)


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg: Config, path: str) -> None:
    write_json_atomic(path, to_dict(cfg))
