"""Measure the crisis layer: the message screen and the reply check per split and kind, the
Reddit C-SSRS set, build time and latency.

- Message screen, per split of data/messages.jsonl: recall of high and the false-positive rate
  for the rules alone, the scorer alone and the layered screen, overall and per kind.
- Reply check, per split of data/replies.jsonl: the share of harmful replies passed and of
  good replies rejected, for the rules alone, the judge alone and the layered check, per kind
  (a failure kind: passed; an acceptable kind: rejected), and how often the kind named is right.
- C-SSRS (../shared/crisis-external, skipped when absent): a user is flagged when any of their
  posts is read high; recall over Ideation/Behavior/Attempt, false-positive rate on Supportive,
  Indicator both ways. An outside reading: nothing in the project was tuned on it.
- The build time of each learned part, and the latency per message and per reply.

The guard splits (earlier test splits, read already) are read every time; the test splits
only with --test: each reading goes in docs/BENCHMARKS.md with its commit. `--json` writes
every figure (C-SSRS: readings and scores per post, never its text).

    python -m crisis.eval [--test] [--json OUT.json] [--skip-cssrs]
"""
from __future__ import annotations

import argparse
import ast
import csv
import os
import re
import statistics
import time
from collections import defaultdict

from tqdm.auto import tqdm

from config import PROJECT_ROOT
from crisis.data import is_harmful, is_high, read_messages, read_replies
from crisis.guard import load_guard
from crisis.reply_check import check_replies
from crisis.screen import assess_many, assess_risk
from files import write_json_atomic

CSSRS = os.path.join(PROJECT_ROOT, "..", "shared", "crisis-external",
                     "500_Reddit_users_posts_labels.csv")
csv.field_size_limit(10**8)


def rates(pred: list[bool], gold: list[bool]) -> dict:
    """Recall (predicted True among gold True) and false-positive rate (among gold False)."""
    pos = [p for p, g in zip(pred, gold) if g]
    neg = [p for p, g in zip(pred, gold) if not g]
    return {"recall": sum(pos) / len(pos) if pos else None,
            "fpr": sum(neg) / len(neg) if neg else None, "n_pos": len(pos), "n_neg": len(neg)}


def by_kind(rows: list[dict], pred: list[bool], gold: list[bool]) -> dict:
    groups = defaultdict(lambda: ([], []))
    for p, g, r in zip(pred, gold, rows):
        groups[r["kind"]][0].append(p)
        groups[r["kind"]][1].append(g)
    return {k: rates(*v) for k, v in sorted(groups.items())}


def screen_split(rows: list[dict], scorer) -> dict:
    convs, gold = [r["messages"] for r in rows], [is_high(r) for r in rows]
    p = scorer.probabilities(convs)
    preds = {"rules only": [assess_risk(c).level == "high" for c in convs],
             "scorer only": [q >= scorer.high for q in p],
             "layered": [assess_risk(c, scorer, score=q).level == "high" for c, q in zip(convs, p)]}
    return {name: {"all": rates(pred, gold), "kinds": by_kind(rows, pred, gold)}
            for name, pred in preds.items()}


def check_split(rows: list[dict], judge) -> dict:
    """Failing a reply is the positive call: recall = harmful caught, fpr = good rejected."""
    convs, replies = [r["messages"] for r in rows], [r["reply"] for r in rows]
    gold = [is_harmful(r) for r in rows]
    layered = check_replies(convs, replies, judge)
    preds = {"rules only": [not v["ok"] for v in check_replies(convs, replies)],
             "judge only": [v["p_harmful"] >= judge.threshold for v in layered],
             "layered": [not v["ok"] for v in layered]}
    out = {name: {"all": rates(pred, gold), "kinds": by_kind(rows, pred, gold)}
           for name, pred in preds.items()}
    caught = [(r, v) for r, v in zip(rows, layered) if is_harmful(r) and not v["ok"]]
    out["kind_named_right"] = sum(r["kind"] in v["kinds"] for r, v in caught) / max(1, len(caught))
    return out


def cssrs_posts(cell: str) -> list[str]:
    try:
        posts = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        posts = re.split(r"""['"]\s*,\s*['"]""", cell.strip("[]"))  # the README's lenient split
    return [p for p in (str(x).strip(" '\"") for x in posts) if p]


def post_reading(a) -> str:
    """"high by rules", "high by scorer" (the scorer alone raised it), or its level."""
    if a.level != "high":
        return a.level
    return "high by scorer" if a.categories == ["learned"] else "high by rules"


def cssrs(scorer, every: int = 1) -> dict | None:
    """User-level figures over every `every`-th user (1: all 500; the test reads a subset)."""
    if not os.path.isfile(CSSRS):
        return None
    with open(CSSRS, encoding="utf-8") as f:
        users = list(csv.DictReader(f))[::every]
    flagged, per_user = defaultdict(list), []
    # about 15 min for the 500 users on 2 cores: a bar, never a silent wait
    for u in tqdm(users, desc="C-SSRS users", unit="user"):
        reads = assess_many(cssrs_posts(u["Post"]), scorer)
        flagged[u["Label"]].append(any(a.level == "high" for a in reads))
        per_user.append({"user": u["User"], "label": u["Label"],  # no text: see crisis.audit
                         "reads": [post_reading(a) for a in reads],
                         "scores": [a.score for a in reads]})
    share = {k: sum(v) / len(v) for k, v in flagged.items()}
    high = [x for k in ("Ideation", "Behavior", "Attempt") for x in flagged[k]]
    return {"flagged_share": share, "users": {k: len(v) for k, v in flagged.items()},
            "per_user": per_user,
            "recall_ideation_behavior_attempt": sum(high) / len(high),
            "fpr_supportive": share["Supportive"],
            "recall_with_indicator_as_high": (sum(high) + sum(flagged["Indicator"]))
            / (len(high) + len(flagged["Indicator"])),
            "fpr_with_indicator_as_not_high": (sum(flagged["Supportive"]) + sum(
                flagged["Indicator"])) / (len(flagged["Supportive"]) + len(flagged["Indicator"]))}


def latency(guard, n: int = 60) -> dict:
    def timed(fn, items) -> dict:
        times = []
        for item in items:
            t0 = time.perf_counter()
            fn(item)
            times.append(1000 * (time.perf_counter() - t0))
        return {"median_ms": statistics.median(times), "p90_ms": sorted(times)[
            int(0.9 * len(times))]}
    msgs, reps = read_messages("train")[:n], read_replies("train")[:n // 2]
    return {"screen": timed(lambda r: guard.screen([r["messages"]]), msgs),
            "check": timed(lambda r: guard.check([r["messages"]], [r["reply"]]), reps)}


def fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def show_screen(split: str, result: dict) -> None:
    for name, r in result.items():
        a = r["all"]
        print(f"[messages {split:5}] {name:<12} recall {fmt(a['recall'])} (n={a['n_pos']})  "
              f"false-positive rate {fmt(a['fpr'])} (n={a['n_neg']})")
    print(f"  per kind, layered ({split}): " + "; ".join(
        f"{k} " + " ".join(x for x in (f"recall {fmt(v['recall'])}" if v["n_pos"] else "",
                                       f"FPR {fmt(v['fpr'])}" if v["n_neg"] else "") if x)
        for k, v in result["layered"]["kinds"].items()))


def show_check(split: str, result: dict) -> None:
    for name in ("rules only", "judge only", "layered"):
        a = result[name]["all"]
        passed = None if a["recall"] is None else 1 - a["recall"]
        print(f"[replies  {split:5}] {name:<12} harmful passed {fmt(passed)} (n={a['n_pos']})  "
              f"good rejected {fmt(a['fpr'])} (n={a['n_neg']})")
    kinds = result["layered"]["kinds"]
    print(f"  harmful passed per failure kind ({split}): " + "; ".join(
        f"{k} {fmt(1 - v['recall'])}" for k, v in kinds.items() if v["n_pos"]))
    print(f"  good rejected per kind ({split}): " + "; ".join(
        f"{k} {fmt(v['fpr'])}" for k, v in kinds.items() if v["n_neg"]))
    print(f"  failure kind named right among harmful caught: {result['kind_named_right']:.3f}")


def show_cssrs(c: dict | None) -> None:
    if not c:
        print("C-SSRS: skipped (--skip-cssrs, or ../shared/crisis-external absent)")
        return
    print(f"C-SSRS (users {c['users']}): flagged share per class "
          f"{ {k: round(v, 3) for k, v in c['flagged_share'].items()} }")
    print(f"  recall (Ideation/Behavior/Attempt) {c['recall_ideation_behavior_attempt']:.3f} | "
          f"false-positive rate (Supportive) {c['fpr_supportive']:.3f} | with Indicator as "
          f"high: recall {c['recall_with_indicator_as_high']:.3f}; as not high: FPR "
          f"{c['fpr_with_indicator_as_not_high']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--test", action="store_true",
                    help="also read the test splits (once per finished change; record it)")
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--skip-cssrs", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    guard = load_guard()
    wanted = ("train", "dev", "guard", "test") if args.test else ("train", "dev", "guard")
    # a split without rows is left out (every message test split may have been read)
    messages = {s: rows for s in wanted if (rows := read_messages(s))}
    replies = {s: rows for s in wanted if (rows := read_replies(s))}
    message_splits, reply_splits = list(messages), list(replies)
    result = {"scorer": guard.scorer.meta, "judge": guard.judge.meta,
              "load_or_build_seconds": round(time.perf_counter() - t0, 1),
              "messages": {s: screen_split(rows, guard.scorer) for s, rows in messages.items()},
              "replies": {s: check_split(rows, guard.judge) for s, rows in replies.items()},
              "cssrs": None if args.skip_cssrs else cssrs(guard.scorer),
              "latency": latency(guard)}
    for s in message_splits:
        show_screen(s, result["messages"][s])
    if args.test and "test" not in message_splits:
        print("[messages test ] none: every message test split has been read (see guard)")
    for s in reply_splits:
        show_check(s, result["replies"][s])
    show_cssrs(result["cssrs"])
    lat = result["latency"]
    print(f"build: scorer {guard.scorer.meta.get('build_seconds')} s, judge "
          f"{guard.judge.meta.get('build_seconds')} s (2 CPU cores here; cached after)")
    print(f"latency: screen median {lat['screen']['median_ms']:.1f} ms (p90 "
          f"{lat['screen']['p90_ms']:.1f}), reply check median {lat['check']['median_ms']:.1f} "
          f"ms (p90 {lat['check']['p90_ms']:.1f})")
    if args.json:
        write_json_atomic(args.json, result)


if __name__ == "__main__":
    main()
