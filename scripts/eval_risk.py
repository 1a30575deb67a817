"""Measure the crisis screen and the crisis-reply check.

Prints, per split of data/crisis/messages.jsonl (train / dev / test / fresh), recall of high and the
false-positive rate, overall and per kind, for the rules alone, the learned scorer alone and
the layered screen; then the Reddit C-SSRS set (../shared/crisis-external, skipped when absent)
at user level: a user is flagged when any of their posts is read as high; recall per class
(Ideation, Behavior, Attempt) and the false-positive rate on Supportive users, Indicator shown
both ways; then the reply check's accuracy per split of data/crisis/replies.jsonl; and the
screen's latency per message. `--json` writes every figure.

    python scripts/eval_risk.py [--json OUT.json] [--skip_cssrs]
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import re
import statistics
import sys
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from reply_check import check_crisis_reply  # noqa: E402
from risk import assess_many, assess_risk, default_scorer  # noqa: E402
from risk_scorer import read_messages  # noqa: E402

CSSRS = os.path.join(ROOT, "..", "shared", "crisis-external", "500_Reddit_users_posts_labels.csv")
REPLIES = os.path.join(ROOT, "data", "crisis", "replies.jsonl")
csv.field_size_limit(10**8)


def rates(pred: list[bool], gold: list[bool]) -> dict:
    pos = [p for p, g in zip(pred, gold) if g]
    neg = [p for p, g in zip(pred, gold) if not g]
    return {"recall": sum(pos) / len(pos) if pos else None,
            "fpr": sum(neg) / len(neg) if neg else None, "n_high": len(pos), "n_not": len(neg)}


def screens(scorer) -> dict:
    return {"rules only": lambda msgs: assess_risk(msgs, scorer=None).level == "high",
            "scorer only": lambda msgs: scorer.probabilities([msgs])[0] >= scorer.high,
            "layered": lambda msgs: assess_risk(msgs, scorer=scorer).level == "high"}


def project_splits(scorer) -> dict:
    rows, out = read_messages(), {}
    for split in ("train", "dev", "test", "fresh"):
        part = [r for r in rows if r["split"] == split]
        gold = [r["label"] == "high" for r in part]
        out[split] = {}
        for name, fn in screens(scorer).items():
            pred = [fn(r["messages"]) for r in part]
            kinds = defaultdict(lambda: ([], []))
            for p, g, r in zip(pred, gold, part):
                kinds[r["kind"]][0].append(p)
                kinds[r["kind"]][1].append(g)
            out[split][name] = {"all": rates(pred, gold),
                                "kinds": {k: rates(*v) for k, v in sorted(kinds.items())}}
    return out


def cssrs_posts(cell: str) -> list[str]:
    try:
        posts = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        posts = re.split(r"""['"]\s*,\s*['"]""", cell.strip("[]"))  # the README's lenient split
    return [p for p in (str(x).strip(" '\"") for x in posts) if p]


def post_reading(a) -> str:
    """How a post was read: "high by rules", "high by scorer" (the scorer alone raised it), or
    its level."""
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
    for u in users:
        reads = assess_many(cssrs_posts(u["Post"]), scorer)
        flagged[u["Label"]].append(any(a.level == "high" for a in reads))
        per_user.append({"user": u["User"], "label": u["Label"],  # no text: see cssrs_audit.py
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


def reply_check() -> dict:
    with open(REPLIES, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    out = {}
    for split in dict.fromkeys(r["split"] for r in rows):  # the splits the replies have
        part = [r for r in rows if r["split"] == split]
        right = [check_crisis_reply(r["reply"])["ok"] == r["acceptable"] for r in part]
        wrong = [{"id": r["id"], "reply": r["reply"], "problems": check_crisis_reply(r["reply"])[
            "problems"]} for r, ok in zip(part, right) if not ok]
        out[split] = {"accuracy": sum(right) / len(right), "n": len(part), "wrong": wrong}
    return out


def latency(scorer, n: int = 60) -> dict:
    rows = read_messages()[:n]
    times = []
    for r in rows:
        t0 = time.perf_counter()
        assess_risk(r["messages"], scorer=scorer)
        times.append(time.perf_counter() - t0)
    return {"median_ms": 1000 * statistics.median(times), "p90_ms": 1000 * sorted(times)[
        int(0.9 * len(times))]}


def show(result: dict) -> None:
    fmt = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    for split, by_screen in result["project"].items():
        for name, r in by_screen.items():
            a = r["all"]
            print(f"[{split:5}] {name:<12} recall {fmt(a['recall'])} (n={a['n_high']})  "
                  f"false-positive rate {fmt(a['fpr'])} (n={a['n_not']})")
    print("\nper kind, layered screen, test split (high kinds: recall; others: false positives)")
    for kind, r in result["project"]["test"]["layered"]["kinds"].items():
        value = f"recall {fmt(r['recall'])}" if r["n_high"] else f"FPR {fmt(r['fpr'])}"
        print(f"  {kind:<22} {value} (n={r['n_high'] or r['n_not']})")
    c = result["cssrs"]
    if c:
        print(f"\nC-SSRS (users {c['users']}): flagged share per class "
              f"{ {k: round(v, 3) for k, v in c['flagged_share'].items()} }")
        print(f"  recall (Ideation/Behavior/Attempt) {c['recall_ideation_behavior_attempt']:.3f}"
              f" | false-positive rate (Supportive) {c['fpr_supportive']:.3f} | with Indicator "
              f"as high: recall {c['recall_with_indicator_as_high']:.3f}; as not high: FPR "
              f"{c['fpr_with_indicator_as_not_high']:.3f}")
    else:
        print("\nC-SSRS: skipped (--skip_cssrs, or ../shared/crisis-external absent)")
    for split, r in result["reply_check"].items():
        print(f"reply check [{split}]: accuracy {r['accuracy']:.3f} (n={r['n']})")
    print(f"latency per message: median {result['latency']['median_ms']:.1f} ms, "
          f"p90 {result['latency']['p90_ms']:.1f} ms (rules + scorer, CPU)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--skip_cssrs", action="store_true")
    args = ap.parse_args()
    scorer = default_scorer()
    result = {"scorer": scorer.meta, "project": project_splits(scorer),
              "cssrs": None if args.skip_cssrs else cssrs(scorer), "reply_check": reply_check(),
              "latency": latency(scorer)}
    show(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
