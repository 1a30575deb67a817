"""The fixed console line of a training job: per-item means of every loss term and metric
since the last line, with the learning rate, gradient norm, throughput and skipped steps.

    python main.py train --config config/cpu_smoke.json
"""
from __future__ import annotations

from config import LOSS_NAMES


class LogWindow:
    """Running sums for the console line since the last one: each term weighted by its item
    count, so the line shows per-item means over the window."""

    def __init__(self, weights: tuple):
        self.weights, self.sums = weights, {}

    def add(self, row: dict, denoms: dict) -> None:
        s = self.sums
        for key in ("step_time", "tokens"):
            s[key] = s.get(key, 0.0) + row[key]
        s["steps"] = s.get("steps", 0) + 1
        for name in [*LOSS_NAMES, *(k for k in row if "/" in k)]:  # terms, then `term/metric`s
            if name in row:
                n = denoms[name.split("/")[0]]
                s[f"sum_{name}"] = s.get(f"sum_{name}", 0.0) + row[name] * n
                s[f"n_{name}"] = s.get(f"n_{name}", 0) + n

    def means(self, row: dict) -> dict:
        s = self.sums
        means = {k[2:]: s[f"sum_{k[2:]}"] / v for k, v in s.items() if k.startswith("n_") and v}
        means["loss"] = sum(w * means.get(n, 0.0)
                            for n, w in zip(LOSS_NAMES, self.weights, strict=True))
        means.update(lr=row["lr"], grad_norm=row["grad_norm"],
                     nonfinite_total=row["nonfinite_total"],
                     tokens_per_s=s["tokens"] / s["step_time"], step_time=s["step_time"] / s["steps"])
        return means

    def line(self, step: int, max_steps: int, row: dict) -> str:
        active = tuple(n for n, w in zip(LOSS_NAMES, self.weights) if w > 0)
        return format_train_line(step, max_steps, self.means(row), active)


def format_train_line(step: int, max_steps: int, m: dict, terms: tuple) -> str:
    """The fixed-format console line printed once per logging step."""
    parts = [f"step {step:>6}/{max_steps}", f"loss {m['loss']:.4f}"]
    parts += [f"{t} {m[t]:.4f}" if t in m else f"{t} -" for t in terms]
    parts += [f"{k.split('/')[1]} {v:.3f}" for k, v in m.items() if "/" in k]
    parts += [f"lr {m['lr']:.2e}", f"gnorm {m['grad_norm']:.3f}", f"{m['tokens_per_s']:.0f} tok/s",
              f"{m['step_time']:.2f} s/step", f"skipped {m['nonfinite_total']}"]
    return " | ".join(parts)
