"""The GPU benchmark script runs every code path on CPU (--dry_run), so it is ready when a
GPU is lent; its figures there mean nothing and are not asserted."""
import json
import os
import subprocess
import sys

from conftest import ROOT


def test_bench_gpu_dry_run_covers_every_variant(tmp_path):
    res = subprocess.run([sys.executable, "scripts/bench_gpu.py", "--dry_run", "--steps", "1",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.load(open(os.path.join(tmp_path, "bench_gpu.json")))
    variants = {(r["variant"], r["batch"]) for r in out["rows"]}
    assert ("plain PEFT", "4x1024") in variants and ("project + safety KL", "1x1024") in variants
    assert ("project (heads, example weights)", "mixture (length-grouped)") in variants
    assert [g["batch"] for g in out["generation"]] == [1, 16, 64]
    assert all(r["s_per_step"] > 0 for r in out["rows"])
