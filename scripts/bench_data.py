"""Data-layer benchmark: tokenized-data cache speed-up and batch token efficiency.

Runs prepare_data twice on a fresh cache (cold, then warm) and prints both times and the
ratio; then the token efficiency (real tokens / (batch x longest)) of length-grouped vs
random batching on the same mixture. `--scale N` replicates the fixture rows N times (with
distinct ids) so the cold run does real work.

    python -m scripts.bench_data --config config/cpu_smoke.json --scale 20
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time

from config_load import load_config
from dataset import DEFAULT_FILES, column, prepare_data, sources_from_config
from mixture import measure_efficiency
from model import load_tokenizer


def scaled_copy(sources: dict, scale: int, root: str) -> dict:
    """Each local source folder copied with every line after the header repeated `scale` times."""
    out = {}
    for name, spec in sources.items():
        dst = os.path.join(root, name)
        os.makedirs(dst, exist_ok=True)
        for fname in DEFAULT_FILES[name].values():
            with open(os.path.join(spec["path"], fname), encoding="utf-8") as f:
                lines = f.read().splitlines(keepends=True)
            header = lines[:1] if fname.endswith(".csv") else []
            body = lines[len(header):]
            with open(os.path.join(dst, fname), "w", encoding="utf-8") as f:
                f.writelines(header + body * scale)
        out[name] = {**spec, "path": dst}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/cpu_smoke.json")
    ap.add_argument("--scale", type=int, default=20)
    ap.add_argument("--batches", type=int, default=500)
    args = ap.parse_args()
    cfg = load_config(args.config)
    tok = load_tokenizer(cfg.model.tokenizer or cfg.model.name_or_path, cfg.model.cache_dir)
    work = tempfile.mkdtemp(prefix="bench_data_")
    try:
        sources = scaled_copy(sources_from_config(cfg.data), args.scale, os.path.join(work, "src"))
        cache = os.path.join(work, "cache")
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            prepared = prepare_data(sources, tok, cfg.data.system_prompt, cfg.data.max_seq_len,
                                    cache, log=lambda *_: None)
            times.append(time.perf_counter() - t0)
        n = sum(len(sp["train"]) + len(sp["validation"]) + len(sp["test"])
                for sp in prepared.tokenized.values())
        lengths = {s: column(sp["train"], "length") for s, sp in prepared.tokenized.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    eff = measure_efficiency(lengths, cfg.mixture.alpha, cfg.mixture.seed, 8, args.batches,
                             cfg.mixture.megabatch_factor)
    result = {"machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
              "examples": n, "cold_s": round(times[0], 2), "warm_s": round(times[1], 2),
              "speedup": round(times[0] / times[1], 1), "efficiency_b8_grouped":
              round(eff["grouped"], 3), "efficiency_b8_random": round(eff["random"], 3)}
    print(f"prepare_data on {n} examples (demo data x{args.scale}): cold {times[0]:.2f} s, "
          f"warm {times[1]:.2f} s -> {times[0] / times[1]:.1f}x faster from cache")
    print(f"token efficiency at batch 8 ({args.batches} batches, alpha {cfg.mixture.alpha}): "
          f"length-grouped {eff['grouped']:.3f} vs random {eff['random']:.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
