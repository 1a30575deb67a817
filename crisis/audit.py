"""Print a seeded sample of C-SSRS posts as the crisis screen read them, for a person to judge
against docs/CRISIS_POLICY.md: is the post that flagged a Supportive user, or caught an at-risk
one, high by the policy? Does a missed at-risk user have any post that is? The C-SSRS labels
are per user, so the screen's user-level figures mix what the screen gets wrong with what
the policy does not call high; this separates the two. Reads the `--json` written by
`python -m crisis.eval` (no post text in it) and the posts from ../shared/crisis-external;
prints to the terminal only (the posts must not be copied into the repository).

    python -m crisis.eval --json artifacts/crisis_eval.json
    python -m crisis.audit artifacts/crisis_eval.json --group missed --n 15 --seed 11
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys

from crisis.eval import CSSRS, cssrs_posts

AT_RISK = ("Ideation", "Behavior", "Attempt")


def is_high(reading: str) -> bool:
    return reading.startswith("high")


def in_group(user: dict, group: str) -> bool:
    highs = {r for r in user["reads"] if is_high(r)}  # the ways its posts were read high
    if group == "supportive-flagged":
        return user["label"] == "Supportive" and bool(highs)
    return user["label"] in AT_RISK and {"caught-by-scorer-only": highs == {"high by scorer"},
                                         "caught-by-rules": "high by rules" in highs,
                                         "missed": not highs}[group]


def shown_posts(user: dict, group: str, top: int) -> list[int]:
    """The posts that flagged the user; for a missed user, its `top` highest-scored posts."""
    idx = range(len(user["reads"]))
    if group == "caught-by-rules":
        idx = [k for k in idx if user["reads"][k] == "high by rules"]
    elif group != "missed":
        idx = [k for k in idx if is_high(user["reads"][k])]
    return sorted(idx, key=lambda k: -(user["scores"][k] or 0))[:top]


def refuse(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("eval_json", help="written by python -m crisis.eval --json")
    ap.add_argument("--group", required=True,
                    choices=("supportive-flagged", "caught-by-rules", "caught-by-scorer-only",
                             "missed"))
    ap.add_argument("--n", type=int, default=20, help="users drawn")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top", type=int, default=3, help="posts shown per user")
    ap.add_argument("--chars", type=int, default=400, help="characters shown per post")
    args = ap.parse_args()
    try:
        with open(args.eval_json, encoding="utf-8") as f:
            users = json.load(f)["cssrs"]["per_user"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as e:
        refuse(f"{args.eval_json}: no C-SSRS per-user readings ({e!r}); "
               "run python -m crisis.eval --json without --skip-cssrs")
    if not os.path.isfile(CSSRS):
        refuse(f"{CSSRS}: absent (../shared/crisis-external)")
    with open(CSSRS, encoding="utf-8") as f:
        posts = {u["User"]: cssrs_posts(u["Post"]) for u in csv.DictReader(f)}
    group = [u for u in users if in_group(u, args.group)]
    drawn = random.Random(args.seed).sample(group, min(args.n, len(group)))
    print(f"{args.group}: {len(group)} users, {len(drawn)} drawn (seed {args.seed})")
    for u in drawn:
        print(f"\n## {u['user']} ({u['label']}, {len(u['reads'])} posts)")
        for k in shown_posts(u, args.group, args.top):
            text = posts[u["user"]][k].replace("\n", " ")[:args.chars]
            print(f"  [{k}] {u['reads'][k]}, score {u['scores'][k]}: {text}")


if __name__ == "__main__":
    main()
