"""The GPU benchmark runs every code path on CPU (--dry_run) with real NF4 layers, through
the training loop's own step function, so it is ready when a GPU is lent; its figures there
mean nothing and are not asserted."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PROJECT = ("project (heads, bf16 autocast)", "project, heads off", "project + safety KL",
           "project (heads, no autocast)")
DTYPE = ("before: fp32 norms, bf16 autocast", "after: bf16 norms, bf16 autocast")


@pytest.mark.slow
def test_bench_gpu_dry_run_covers_every_variant_in_4bit(tmp_path):
    res = subprocess.run([sys.executable, "-m", "scripts.bench_gpu", "--dry_run", "--steps", "1",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(Path(os.path.join(tmp_path, "bench_gpu.json")).read_text())
    assert out["errors"] == [], out["errors"]
    assert out["quantization"]["linear4bit_layers"] == 14  # 7 projections x 2 layers, NF4
    assert out["plain_quantization"]["linear4bit_layers"] == 14
    assert out["quantization"]["residual_dtype"] == "torch.bfloat16"
    rows = {(r["variant"], r["batch"]): r for r in out["rows"]}
    assert {v for v, _ in rows} == {"plain PEFT", *PROJECT, *DTYPE}
    for variant in PROJECT:
        assert (variant, "1x32") in rows and (variant, "4x32") in rows
    for variant in DTYPE:
        assert (variant, "1x32, alternating") in rows and (variant, "4x32, alternating") in rows
    assert sum(b.startswith("mixture") for v, b in rows if v == "plain PEFT") == 2
    assert sum(b.startswith("mixture") for v, b in rows if v.startswith("project")) == 3
    for (variant, batch), r in rows.items():
        assert r["s_per_step"] > 0 and r["tokens_per_s"] > 0
        assert r["losses"] and all(math.isfinite(x) for x in r["losses"]), (variant, batch)
    assert out["budget"]["micro_batches_per_step"] >= 1
    assert [g["batch"] for g in out["generation"]] == [1, 4]
    assert all(g["new_tokens"] > 0 for g in out["generation"])
