"""Run configuration: a dataclass tree, JSON files with "extends", dotted --set overrides.

Every field carries its unit or reason. JSON files in config/ list only what differs from
their parent; unknown keys and wrong types are refused with the key's dotted name and file.

    python main.py data --config config/cpu_smoke.json --set data.max_seq_len=256
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field
from typing import Optional


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
    max_consecutive_nonfinite: int = 3  # non-finite steps in a row that abort the run
    steps_per_job: int = 0  # steps this job runs, then it checkpoints and stops (the next job continues); 0 = to max_steps


@dataclass
class EvalConfig:
    prompt_sets: list[str] = field(default_factory=lambda: [
        "prompts/qualitative_prompts.jsonl", "prompts/redteam_prompts.jsonl"])
    batch_size: int = 16  # prompts per generate() call (left padded)
    max_new_tokens: int = 160  # reply budget per prompt
    head_metrics_max_examples: int = 0  # 0 = whole test split
    eq_bench_questions: str = "pbevan11/EQ-Bench"  # hub mirror (split validation) or local JSON
    eq_bench_attempts: int = 5  # official retries on a parse failure (+0.15 temperature each)
    eq_bench_batch_size: int = 16  # EQ-Bench prompts per generate() call
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
    context_tokens: int = 2048  # chat history budget; oldest turns dropped first


@dataclass
class OutputConfig:
    root: str = "artifacts/runs"  # run folders live here
    run_name: str = "friend"  # run folder: <root>/<run_name>/


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
    output: OutputConfig = field(default_factory=OutputConfig)

    @property
    def run_dir(self) -> str:
        return os.path.join(self.output.root, self.output.run_name)


def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _check_value(key: str, tp, value, where: str):
    """Validate a JSON value against a (non-dataclass) field type; returns the value."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        if value is None:
            return None
        return _check_value(key, [a for a in typing.get_args(tp) if a is not type(None)][0],
                            value, where)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}{where}")
        return [_check_value(f"{key}[{i}]", item, v, where) for i, v in enumerate(value)]
    if origin is dict:
        _, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected an object, got {type(value).__name__}{where}")
        return {str(k): _check_value(f"{key}.{k}", vt, v, where) for k, v in value.items()}
    expected = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }
    if tp not in ok:
        raise ConfigError(f"{key}: unsupported field type {tp}{where}")
    if not ok[tp](value):
        raise ConfigError(f"{key}: expected {expected[tp]}, got {value!r}{where}")
    return float(value) if tp is float else value


def _build(base, data: dict, prefix: str, where: str):
    """Copy dataclass instance `base` with the keys of `data` applied (recursively)."""
    obj = copy.deepcopy(base)
    hints = _hints(type(obj))
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in hints:
            raise ConfigError(f"unknown config key '{dotted}'{where}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{dotted}: expected an object, got {value!r}{where}")
            value = _build(current, value, dotted, where)
        else:
            value = _check_value(dotted, hints[key], value, where)
        setattr(obj, key, value)
    return obj


def _deep_update(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def _read_json(path: str, seen: tuple = ()) -> dict:
    """Read a config file and resolve its "extends" chain (paths relative to the file)."""
    if path in seen:
        raise ConfigError(f"config 'extends' cycle through {path}")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be an object")
    parent = data.pop("extends", None)
    if parent is None:
        return {"__file__": path, **data}
    base = _read_json(os.path.join(os.path.dirname(path), parent), seen + (path,))
    base.pop("__file__", None)
    return {"__file__": path, **_deep_update(base, data)}


def _coerce_override(key: str, tp, text: str):
    """Turn a --set string into a JSON value of the field's type."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        if text.lower() in ("none", "null"):
            return None
        tp = [a for a in typing.get_args(tp) if a is not type(None)][0]
        origin = typing.get_origin(tp)
    try:
        if tp is bool:
            low = text.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return low in ("true", "1", "yes")
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
        if origin is list:
            if text.startswith("["):
                return json.loads(text)
            return [t.strip() for t in text.split(",") if t.strip()]
        if origin is dict:
            return json.loads(text)
    except (ValueError, json.JSONDecodeError):
        raise ConfigError(f"--set {key}={text}: cannot read {text!r} as {getattr(tp, '__name__', tp)}") \
            from None
    raise ConfigError(f"--set {key}: field cannot be set from the command line")


def _field_type(key: str):
    cls, tp = Config, Config
    for part in key.split("."):
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(f"unknown config key '{key}' (in --set)")
        hints = _hints(cls)
        if part not in hints:
            raise ConfigError(f"unknown config key '{key}' (in --set)")
        tp = hints[part]
        cls = tp
    return tp


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply "a.b=value" strings onto a raw config dict, coercing to the field's type."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        value = _coerce_override(key, _field_type(key), text)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return data


def load_config(path: Optional[str] = None, overrides: Optional[list[str]] = None) -> Config:
    """Load a JSON config (with extends) plus --set overrides into a validated Config."""
    data = _read_json(path) if path else {}
    source = data.pop("__file__", None)
    apply_overrides(data, overrides or [])
    where = f" (in {source})" if source else ""
    cfg = _build(Config(), data, "", where)
    validate(cfg, where)
    return cfg


DTYPE_NAMES = ("float32", "bfloat16", "float16")
# accelerate's autocast dtype for each mixed-precision setting
AUTOCAST_DTYPE = {"bf16": "bfloat16", "fp16": "float16"}


def _precision_ok(cfg: Config) -> bool:
    """A 4-bit model computes in quant.compute_dtype; autocast to another dtype would mix
    the two inside every layer (fp16 autocast over bf16 weights overflows, for one)."""
    mp = cfg.training.mixed_precision
    return not cfg.quant.load_in_4bit or mp not in AUTOCAST_DTYPE or \
        AUTOCAST_DTYPE[mp] == cfg.quant.compute_dtype


def validate(cfg: Config, where: str = "") -> None:
    """Value checks that types alone cannot express."""
    checks = [
        (cfg.model.dtype in ("auto", *DTYPE_NAMES), "model.dtype",
         f"must be one of auto, {', '.join(DTYPE_NAMES)} (got {cfg.model.dtype!r})"),
        (cfg.quant.compute_dtype in DTYPE_NAMES, "quant.compute_dtype",
         f"must be one of {', '.join(DTYPE_NAMES)} (got {cfg.quant.compute_dtype!r})"),
        (cfg.quant.quant_type in ("nf4", "fp4"), "quant.quant_type",
         f"must be nf4 or fp4 (got {cfg.quant.quant_type!r})"),
        (_precision_ok(cfg), "training.mixed_precision",
         f"'{cfg.training.mixed_precision}' cannot run a 4-bit model computing in "
         f"quant.compute_dtype={cfg.quant.compute_dtype!r}: use 'no' or the matching setting "
         f"({', '.join(f'{k} for {v}' for k, v in AUTOCAST_DTYPE.items())})"),
        (0 < cfg.mixture.alpha <= 1, "mixture.alpha", "must be in (0, 1]"),
        (cfg.data.max_seq_len >= 16, "data.max_seq_len", "must be >= 16"),
        (cfg.training.batch_size >= 1, "training.batch_size", "must be >= 1"),
        (cfg.training.grad_accum >= 1, "training.grad_accum", "must be >= 1"),
        (cfg.training.max_tokens_per_batch == 0 or
         cfg.training.max_tokens_per_batch >= cfg.data.max_seq_len, "training.max_tokens_per_batch",
         f"must be 0 or at least data.max_seq_len ({cfg.data.max_seq_len}), so every example fits"),
        (cfg.training.max_steps >= 1, "training.max_steps", "must be >= 1"),
        (cfg.training.warmup_steps >= 0, "training.warmup_steps", "must be >= 0"),
        (cfg.data.emotion_mapping in ("none", "ed_to_goemotions"), "data.emotion_mapping",
         "must be 'none' or 'ed_to_goemotions'"),
        (cfg.training.mixed_precision in ("no", "bf16", "fp16"), "training.mixed_precision",
         "must be no | bf16 | fp16"),
        (all(w >= 0 for w in dataclasses.asdict(cfg.losses).values()), "losses",
         "weights must be >= 0"),
        (cfg.output.run_name and "/" not in cfg.output.run_name, "output.run_name",
         "must be a non-empty folder name"),
    ]
    for ok, key, why in checks:
        if not ok:
            raise ConfigError(f"{key}: {why}{where}")


def to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def save_config(cfg: Config, path: str) -> None:
    from files import write_json_atomic
    write_json_atomic(path, to_dict(cfg))


def config_from_dict(data: dict) -> Config:
    """Rebuild a Config from a saved resolved config (a run folder's config.json)."""
    return _build(Config(), data, "", "")
