"""The crisis layer: the message screen and the crisis-reply check, their data, building and
evaluation (docs/CRISIS_POLICY.md is the policy both follow).

- the screen (screen.py): rules for explicit signals (rules.py, patterns.py), a fine-tuned
  sentence-encoder scorer for the rest (scorer.py), and the history;
- the reply check (reply_check.py): rules for doses, means, harmful instructions and help
  (reply_rules.py), and a fine-tuned judge of the (conversation, reply) pair (judge.py);
- data/*.jsonl (data.py), building and dev thresholds (build.py), figures (eval.py), the
  C-SSRS audit (audit.py).

The chat model's code calls one entry point, `load_guard()` (guard.py). Nothing here imports
the chat model's training code.

    python -m crisis.build && python -m crisis.eval
"""
from crisis.guard import CrisisGuard, load_guard

__all__ = ["CrisisGuard", "load_guard"]
