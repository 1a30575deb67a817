"""Export files: one JSONL per (prompt set, model) under a run's exports/ folder.

Rows are {"prompt_id","prompt","model","response","meta","decoding"}. This module alone
builds and parses the `<set>__<model>.jsonl` names, writes and reads the files, and checks
rows (schema, non-empty replies) and prompt-id parity across models; eval, eq-bench,
report and scripts/check_exports.py all go through it.

    python -m scripts.check_exports artifacts/runs/cpu_smoke/exports/*.jsonl --check_pairs
"""
from __future__ import annotations

import glob
import os

from files import read_jsonl, write_jsonl_atomic

EXPORT_KEYS = ("prompt_id", "prompt", "model", "response", "meta", "decoding")
MODELS = ("base", "finetuned", "dpo")  # dpo (SFT+DPO) only when the dpo stage ran
REQUIRED_MODELS = ("base", "finetuned")
SEPARATOR = "__"


def set_name(path: str) -> str:
    """A prompt set's name: its file name without the extension."""
    return os.path.splitext(os.path.basename(path))[0]


def export_path(run_dir: str, name: str, model: str) -> str:
    return os.path.join(run_dir, "exports", f"{name}{SEPARATOR}{model}.jsonl")


def parse_export_name(path: str) -> tuple[str, str]:
    """(prompt set, model) of an export file's path."""
    name, _, model = set_name(path).rpartition(SEPARATOR)
    return name, model


def drop_exports(run_dir: str, name: str, keep: tuple) -> None:
    """Remove a set's export files of models not in `keep` (e.g. SFT+DPO replies left from
    an earlier run with dpo.enabled), so the report never pairs stale replies."""
    for model in MODELS:
        path = export_path(run_dir, name, model)
        if model not in keep and os.path.isfile(path):
            os.remove(path)


def write_export(run_dir: str, name: str, model: str, rows: list[dict]) -> str:
    path = export_path(run_dir, name, model)
    write_jsonl_atomic(path, rows)
    return path


def run_exports(run_dir: str) -> dict:
    """{prompt set: {model: (path, rows)}} for every export file of a run."""
    out = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "exports", f"*{SEPARATOR}*.jsonl"))):
        name, model = parse_export_name(path)
        out.setdefault(name, {})[model] = (path, read_jsonl(path))
    return out


def row_problems(rows: list[dict]) -> list[str]:
    """Problems with export rows: schema and empty responses (each names the prompt id)."""
    problems = []
    for n, r in enumerate(rows, 1):
        pid = r.get("prompt_id", f"<row {n}>")
        missing = [k for k in EXPORT_KEYS if k not in r]
        if missing:
            problems.append(f"{pid}: missing {missing}")
            continue
        if not isinstance(r["response"], str) or not r["response"].strip():
            problems.append(f"{pid}: empty response")
        if not isinstance(r["meta"], dict) or not isinstance(r["decoding"], dict):
            problems.append(f"{pid}: meta and decoding must be objects")
        if r["model"] not in MODELS:
            problems.append(f"{pid}: model must be one of {MODELS}")
    return problems


def check_pairs(files: list[str]) -> list[str]:
    """Base and fine-tuned (and SFT+DPO, when present) exports of each prompt set must hold
    the same prompt ids."""
    groups: dict = {}
    for path in files:
        name, model = parse_export_name(path)
        groups.setdefault(name, {})[model] = [r["prompt_id"] for r in read_jsonl(path)]
    problems = []
    for name, by_model in sorted(groups.items()):
        if not set(REQUIRED_MODELS) <= set(by_model) or not set(by_model) <= set(MODELS):
            problems.append(f"{name}: needs base and finetuned exports (dpo optional), got "
                            f"{sorted(by_model)}")
            continue
        ids = list(by_model.values())
        only = sorted(set().union(*map(set, ids)) - set.intersection(*map(set, ids)))
        dups = sorted({x for a in ids for x in a if a.count(x) > 1})
        if only:
            problems.append(f"{name}: ids not in both exports: {only}")
        if dups:
            problems.append(f"{name}: duplicate ids: {dups}")
    return problems
