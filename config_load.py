"""Loading a run config: JSON files with "extends", dotted --set overrides, validation.

JSON files in config/ list only what differs from their parent; unknown keys, wrong types
and values a run cannot use are refused with the key's dotted name and where it came from
(the file, or --set). Relative paths are resolved here (see `resolve_paths`).

    python main.py data --config config/cpu_smoke.json --set data.max_seq_len=256
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import typing
from typing import Optional

from config import PROJECT_ROOT, Config, ConfigError


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
    if os.path.realpath(path) in seen:  # realpath: "../config/x.json" is x.json too
        raise ConfigError(f"config 'extends' cycle through {path}")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be an object")
    parent = data.pop("extends", None)
    if parent is None:
        return {"__file__": path, **data}
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{path}: \"extends\" must be a file path (a string), got {parent!r}")
    base = _read_json(os.path.join(os.path.dirname(path), parent),
                      seen + (os.path.realpath(path),))
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
    """Load a JSON config (with extends) plus --set overrides into a checked Config.

    A bad value names its key and where it came from: the file, or --set."""
    data = _read_json(path) if path else {}
    source = data.pop("__file__", None)
    where = f" (in {source})" if source else ""
    cfg = _build(Config(), data, "", where)
    set_data = apply_overrides({}, overrides or [])
    cfg = _build(cfg, set_data, "", " (from --set)")
    check_config(cfg, where, set_keys=_leaf_keys(set_data))
    return resolve_paths(cfg)


def _leaf_keys(data: dict, prefix: str = "") -> set:
    out = set()
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else k
        out |= _leaf_keys(v, key) if isinstance(v, dict) else {key}
    return out


def project_path(path: str, created: bool = False) -> str:
    """A relative path as the toolkit reads it: against the current folder when it exists
    there, else against the project root (where the configs' own relative paths point).
    Folders the toolkit creates (caches, the runs root) always go under the project root, so
    a command started elsewhere never scatters artifacts/ folders."""
    if not path or os.path.isabs(path) or path.startswith(("embedded:", "~")):
        return path
    if created:
        return os.path.join(PROJECT_ROOT, path)
    if os.path.exists(path):
        return os.path.abspath(path)
    here = os.path.join(PROJECT_ROOT, path)
    return here if os.path.exists(here) else path  # else a hub id, or a path that is missing


def resolve_paths(cfg: Config) -> Config:
    m, d, e = cfg.model, cfg.data, cfg.eval
    m.name_or_path, m.tokenizer = project_path(m.name_or_path), project_path(m.tokenizer)
    m.cache_dir = project_path(m.cache_dir, created=True)
    d.cache_dir = project_path(d.cache_dir, created=True)
    for name in ("ed", "esconv", "goemotions"):
        src = getattr(d, name)
        src.path = project_path(src.path)
    e.prompt_sets = [project_path(p) for p in e.prompt_sets]
    e.eq_bench_questions = project_path(e.eq_bench_questions)
    cfg.output.root = project_path(cfg.output.root, created=True)
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


def _value_checks(cfg: Config) -> list[tuple]:
    """(holds, key, why) for every value rule that types alone cannot express."""
    # model and data first: a bad dtype or sequence length is named before the training
    # settings that depend on it (the first failing check is the one reported)
    return [*_serve_checks(cfg), *_model_data_checks(cfg), *_training_checks(cfg),
            *_dpo_checks(cfg)]


def _serve_checks(cfg: Config) -> list[tuple]:
    """serve.*: the port and the request limits."""
    s = cfg.serve
    return [
        (0 < s.port < 65536, "serve.port", "must be in 1..65535"),
        (min(s.max_messages, s.max_message_chars, s.max_tokens, s.max_body_bytes, s.queue_size,
             s.max_batch) >= 1, "serve",
         "max_messages, max_message_chars, max_tokens, max_body_bytes, queue_size and max_batch "
         "must be >= 1"),
    ]


def _training_checks(cfg: Config) -> list[tuple]:
    """training.* and eval.*: rates, steps, batches and logging."""
    t = cfg.training
    return [
        (t.lr > 0, "training.lr", "must be > 0"),
        (t.head_lr >= 0, "training.head_lr", "must be >= 0 (0 = training.lr)"),
        (t.head_fit_examples >= 0, "training.head_fit_examples", "must be >= 0 (0 = no fit)"),
        (t.log_every >= 1, "training.log_every", "must be >= 1"),
        (t.eval_every >= 0 and t.save_every >= 0 and t.steps_per_job >= 0, "training",
         "eval_every, save_every and steps_per_job must be >= 0"),
        (t.keep_checkpoints >= 1, "training.keep_checkpoints", "must be >= 1"),
        (t.max_grad_norm > 0, "training.max_grad_norm", "must be > 0"),
        (t.eval_batch_size >= 1 and cfg.eval.batch_size >= 1, "eval_batch_size / eval.batch_size",
         "must be >= 1"),
        (cfg.eval.eq_bench_attempts >= 1, "eval.eq_bench_attempts", "must be >= 1"),
        (t.batch_size >= 1, "training.batch_size", "must be >= 1"),
        (t.grad_accum >= 1, "training.grad_accum", "must be >= 1"),
        (t.max_tokens_per_batch == 0 or t.max_tokens_per_batch >= cfg.data.max_seq_len,
         "training.max_tokens_per_batch",
         f"must be 0 or at least data.max_seq_len ({cfg.data.max_seq_len}), so every example fits"),
        (t.max_steps >= 1, "training.max_steps", "must be >= 1"),
        (t.warmup_steps >= 0, "training.warmup_steps", "must be >= 0"),
        (t.mixed_precision in ("no", "bf16", "fp16"), "training.mixed_precision",
         "must be no | bf16 | fp16"),
    ]


def _model_data_checks(cfg: Config) -> list[tuple]:
    """What the model is and reads: lora, dtypes and quantization (with the precision they
    allow), the output folder, the mixture, the data and the loss weights."""
    run_name = cfg.output.run_name
    return [
        (cfg.lora.r >= 1, "lora.r", "must be >= 1"),
        (cfg.lora.alpha > 0, "lora.alpha", "must be > 0"),
        (0 <= cfg.lora.dropout < 1, "lora.dropout", "must be in [0, 1)"),
        (run_name not in ("", ".", "..") and "/" not in run_name and os.sep not in run_name,
         "output.run_name", f"must be a plain folder name, not {run_name!r} (a run folder stays "
                            "inside output.root)"),
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
        (cfg.data.emotion_mapping in ("none", "ed_to_goemotions"), "data.emotion_mapping",
         "must be 'none' or 'ed_to_goemotions'"),
        (all(w >= 0 for w in dataclasses.asdict(cfg.losses).values()), "losses",
         "weights must be >= 0"),
    ]


def _dpo_checks(cfg: Config) -> list[tuple]:
    """dpo.*: the preference stage's own settings."""
    return [
        (cfg.losses.dpo == 0, "losses.dpo",
         "is set by the dpo stage; configure it with dpo.* (dpo.enabled, dpo.beta, ...)"),
        (cfg.dpo.beta > 0 and cfg.dpo.lr > 0 and cfg.dpo.max_steps >= 1, "dpo",
         "beta and lr must be > 0 and max_steps >= 1"),
        (cfg.dpo.sft_weight >= 0 and 0 <= cfg.dpo.heldout_fraction < 1, "dpo",
         "sft_weight must be >= 0 and heldout_fraction in [0, 1)"),
        (cfg.dpo.batch_size >= 1 and cfg.dpo.grad_accum >= 1 and cfg.dpo.safety_samples >= 2,
         "dpo", "batch_size and grad_accum must be >= 1, safety_samples >= 2"),
        (cfg.dpo.max_tokens_per_batch == 0 or
         cfg.dpo.max_tokens_per_batch >= 2 * cfg.data.max_seq_len, "dpo.max_tokens_per_batch",
         f"must be 0 or at least 2 x data.max_seq_len ({2 * cfg.data.max_seq_len}): a pair is two rows"),
    ]


def check_config(cfg: Config, where: str = "", set_keys: set = frozenset()) -> None:
    """Value checks that types alone cannot express; each names its key and its origin."""
    for ok, key, why in _value_checks(cfg):
        if not ok:
            origin = " (from --set)" if key in set_keys else where
            raise ConfigError(f"{key}: {why}{origin}")


def config_from_dict(data: dict) -> Config:
    """Rebuild a Config from a saved resolved config (a run folder's config.json)."""
    return _build(Config(), data, "", "")
