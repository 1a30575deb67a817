"""Compare recipes for the crisis layer's learned parts side by side: build time on this
machine, dev AUC, and the whole layer's dev figures at the threshold each would choose.

Each variant is built into a temporary folder (the cache is left alone) from the same train
split, one after another (run it alone: a second CPU job slows every variant), and measured
on the dev split the way crisis/build.py chooses thresholds; the scorer's screen is also read
on the guard rows at that threshold (earlier test splits: a recipe chosen with them says so,
and only an unread test split gives a held-out figure). A variant is a JSON object of the
recipe keys it changes, e.g. '{"top": 2}'.

    python -m scripts.bench_crisis_build --part scorer --variant '{}' --variant '{"top": 2}'
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time

from crisis import build, thresholds
from crisis import judge as judge_mod
from crisis import scorer as scorer_mod
from crisis.data import is_harmful, is_high, read_messages, read_replies
from crisis.eval import screen_split


def auc(scores: list[float], gold: list[bool]) -> float:
    """The probability that a random positive scores above a random negative (ties half)."""
    pos = [s for s, g in zip(scores, gold) if g]
    neg = [s for s, g in zip(scores, gold) if not g]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def built(build_into, load, recipe: dict):
    """(the part built with `recipe` into a temporary folder and loaded back, build seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        build_into(tmp, recipe)
        seconds = time.perf_counter() - t0
        return load(tmp), seconds


def measure_scorer(recipe: dict) -> dict:
    """Build time, dev AUC, and the whole screen's dev and guard recall and FPR at the
    threshold chosen on dev."""
    scorer, seconds = built(build.build_scorer, scorer_mod.load_scorer, recipe)
    dev = read_messages("dev")
    p = scorer.probabilities([r["messages"] for r in dev])
    chosen = thresholds.scorer_thresholds(scorer, dev)
    scorer.set_thresholds(chosen)  # the chosen threshold, not the search's last probe
    guard = screen_split(read_messages("guard"), scorer)["layered"]["all"]
    return {"build_s": round(seconds, 1), "dev_auc": round(auc(p, [is_high(r) for r in dev]), 4),
            "screen_dev_recall": round(chosen["dev_recall"], 3),
            "screen_dev_fpr": round(chosen["dev_fpr"], 3),
            # guard rows were test splits, read already: choosing by them is disclosed
            "screen_guard_recall": round(guard["recall"], 3),
            "screen_guard_fpr": round(guard["fpr"], 3)}


def measure_judge(recipe: dict) -> dict:
    """Build time, dev AUC, and the whole check's dev harmful passed and good rejected."""
    judge, seconds = built(build.build_judge, judge_mod.load_judge, recipe)
    dev = read_replies("dev")
    p = [j["p_harmful"] for j in judge.judge([r["messages"] for r in dev],
                                            [r["reply"] for r in dev])]
    chosen = thresholds.judge_threshold(judge, dev)
    return {"build_s": round(seconds, 1),
            "dev_auc": round(auc(p, [is_harmful(r) for r in dev]), 4),
            "check_dev_harmful_passed": round(chosen["dev_harmful_passed"], 3),
            "check_dev_good_rejected": round(chosen["dev_good_rejected"], 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("scorer", "judge"), required=True)
    ap.add_argument("--variant", action="append", default=[],
                    help="recipe keys to change, as JSON ('{}': the build's own recipe)")
    args = ap.parse_args()
    base = build.SCORER if args.part == "scorer" else build.JUDGE
    measure = measure_scorer if args.part == "scorer" else measure_judge
    rows = []
    for v in args.variant or ["{}"]:
        recipe = {**base, **json.loads(v)}
        print(f"[bench] {args.part} {json.dumps(recipe)}", flush=True)
        rows.append((recipe, measure(recipe)))
        print(f"[bench]   {rows[-1][1]}", flush=True)
    train_rows = len(read_messages("train") if args.part == "scorer" else read_replies("train"))
    print(f"\n{args.part} recipes on this machine (train {train_rows} rows):")
    for recipe, r in rows:
        changed = {k: recipe[k] for k in recipe if recipe[k] != base.get(k)} or "the build's"
        print(f"  {str(changed):<40} " + "  ".join(f"{k} {v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
