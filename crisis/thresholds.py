"""Choosing the crisis layer's thresholds on the dev split, by measuring the whole layer.

- the message screen: the scorer's veto of a rule hit (`rule_veto`, under every dev high row
  the rules read right), then the lowest scorer threshold at which the whole screen (rules,
  their final discounts, the veto, history) keeps the dev false-positive rate within
  `MAX_FPR`;
- the reply check: the highest judge threshold at which the whole check (rules + judge) passes
  at most `MAX_PASSED` of the dev harmful replies: catching harm first.

crisis/build.py runs these after building the models (in seconds, again whenever only the
rules change: this module is part of the thresholds' cache key, not the models').

    python -m crisis.build
"""
from __future__ import annotations

import json

from tqdm.auto import tqdm

from crisis.data import is_harmful, is_high
from crisis.reply_check import check_replies
from crisis.screen import assess_risk

MAX_FPR = 0.05  # the screen's dev false-positive budget
MAX_PASSED = 0.05  # the reply check's dev budget of harmful replies passed
VETO_MARGIN = 0.9  # the scorer's veto of a rule hit sits this far under the dev rows it keeps


def scorer_thresholds(scorer, rows: list[dict], max_fpr: float = MAX_FPR) -> dict:
    """High: the lowest scorer threshold at which the whole screen (crisis.screen: rules,
    discounts the scorer may not overrule, history) keeps its dev false-positive rate within
    `max_fpr`: the most recall for that budget. A higher threshold adds no high reading of
    the latest turn, so the rate falls as it rises: a binary search over the dev scores (a
    history read with the scorer can step against that; the rates returned are measured at
    the chosen threshold). Tried on 2026-12-07 and dropped: the middle of the range of
    thresholds keeping that recall, a margin against false positives; on the guard splits it
    cost recall (0.916 -> 0.893) for false positives (0.094 -> 0.047), and the screen puts
    recall first. Elevated: half of it (gentle replies). Measuring rules OR scorer instead
    counted false positives a rule's discount blocks (2026-11-27)."""
    convs = [r["messages"] for r in rows]
    labels = [is_high(r) for r in rows]
    scorer = ScoreMemo(scorer, convs)
    p = scorer.probabilities(convs)
    veto, calibrated = rule_veto(convs, labels, p), veto_categories(convs, labels)
    scorer.set_thresholds({"threshold_high": scorer.high, "threshold_elevated": scorer.elevated,
                           "rule_veto_below": veto, "rule_veto_categories": calibrated})

    def fpr_recall(t: float) -> tuple[float, float]:
        scorer.set_thresholds({"threshold_high": t, "threshold_elevated": t / 2})
        pred = [assess_risk(c, scorer, score=q).level == "high" for c, q in zip(convs, p)]
        return rate(pred, labels, False), rate(pred, labels, True)
    ts = sorted(set(p) | {q + 1e-6 for q in p} | {0.5})  # at a score and just above
    low = first_index(len(ts), lambda i: fpr_recall(ts[i])[0] <= max_fpr)
    high = 1.0 if low is None else ts[low]  # 1.0: no threshold fits, the scorer never raises
    fpr, recall = fpr_recall(high)
    return {"threshold_high": high, "threshold_elevated": high / 2, "rule_veto_below": veto,
            "rule_veto_categories": calibrated, "dev_recall": recall, "dev_fpr": fpr,
            "n_dev": len(rows),
            "selection": f"lowest threshold keeping the whole screen's dev FPR <= {max_fpr}; "
                         f"rule veto {VETO_MARGIN} x the lowest score of a dev high row the "
                         "rules read high"}


def rule_veto(convs: list, labels: list[bool], p: list[float]) -> float:
    """The score below which a rule hit no longer makes a message high: `VETO_MARGIN` times
    the lowest score of a dev high conversation the rules and history read high without the
    scorer (a wider set than the veto acts on: a lower, safer veto), so that no such row is
    lost on dev. On 2026-12-07's data the rules' false alarms (a past attempt told
    as past, a game's "jump off", a recovery story) scored 0.04-0.07 and the high rows they
    read right 0.054 and up (docs/BENCHMARKS.md, "Crisis layer v9"). 0.0 (no veto) when the
    rules read no dev high row."""
    kept = [q for c, gold, q in zip(convs, labels, p) if gold and
            assess_risk(c).level == "high"]
    return VETO_MARGIN * min(kept) if kept else 0.0


def veto_categories(convs: list, labels: list[bool]) -> list[str]:
    """The rule categories the veto was calibrated on: those the rules read on the latest turn
    of a dev high conversation (what the veto acts on; a subset of `rule_veto`'s rows, so each
    sits above the veto). A hit of another category (on 2026-12-07 "disordered eating", no dev
    row) is never vetoed: the scorer's low reading of it is not evidence of no risk (a red-team
    prompt of three days without food read 0.0495 under a veto of 0.0504)."""
    latest = [[m for m in c if m.get("role") == "user"][-1:] for c, gold in zip(convs, labels)
              if gold]
    reads = [assess_risk(turn) for turn in latest if turn]
    return sorted({cat for a in reads if a.level == "high" for cat in a.categories})


class ScoreMemo:
    """`scorer` with the probability of every conversation and of each of its earlier user
    turns (what the screen's history reads) computed once, in batches under a progress bar.
    Each probe of the threshold search re-reads the histories; without this it ran the encoder
    on them again every time, 30 s without a word on the 2026-12-07 dev split."""

    def __init__(self, scorer, conversations: list[list[dict]], chunk: int = 128):
        self.scorer = scorer
        todo = list(dict.fromkeys(_key(c[:k + 1]) for c in conversations
                                  for k, m in enumerate(c) if m.get("role") == "user"))
        self.memo: dict[str, float] = {}
        for i in tqdm(range(0, len(todo), chunk), desc="crisis scorer: scoring dev turns",
                      unit="batch"):
            keys = todo[i:i + chunk]
            self.memo.update(zip(keys, scorer.probabilities([json.loads(k) for k in keys])))

    @property
    def high(self) -> float:
        return self.scorer.high

    @property
    def elevated(self) -> float:
        return self.scorer.elevated

    @property
    def veto(self) -> float:
        return self.scorer.veto

    @property
    def veto_categories(self) -> frozenset | None:
        return self.scorer.veto_categories

    def set_thresholds(self, chosen: dict) -> None:
        self.scorer.set_thresholds(chosen)

    def probabilities(self, conversations: list[list[dict]]) -> list[float]:
        out = [self.memo.get(_key(c)) for c in conversations]  # each key built once per probe
        return [self.scorer.probabilities([c])[0] if q is None else q
                for c, q in zip(conversations, out)]


def _key(conversation: list[dict]) -> str:
    return json.dumps(conversation, sort_keys=True, ensure_ascii=False)


def first_index(n: int, holds) -> int | None:
    """The first i < n for which `holds(i)` is true, for a `holds` false then true: a binary
    search (None: true nowhere)."""
    lo, hi, found = 0, n - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if holds(mid):
            found, hi = mid, mid - 1
        else:
            lo = mid + 1
    return found


def rate(pred: list[bool], gold: list[bool], of: bool) -> float:
    """The share of rows whose gold label is `of` that were predicted True."""
    part = [p for p, g in zip(pred, gold) if g is of]
    return sum(part) / max(1, len(part))


def judge_threshold(judge, rows: list[dict], max_passed: float = MAX_PASSED) -> dict:
    """The highest judge threshold at which the whole check (rules + judge) passes at most
    `max_passed` of the dev harmful replies (catching harm first), and what it then rejects
    of the good ones. None fits: the lowest candidate (the fewest harmful passed)."""
    convs, replies = [r["messages"] for r in rows], [r["reply"] for r in rows]
    harmful = [is_harmful(r) for r in rows]
    rules = check_replies(convs, replies)  # the rules alone
    p = [j["p_harmful"] for j in judge.judge(convs, replies)]

    def rates(t: float) -> tuple[float, float]:
        failed = [not v["ok"] or q >= t for v, q in zip(rules, p)]
        return 1 - rate(failed, harmful, True), rate(failed, harmful, False)
    ts = sorted({q for q in p} | {1.0})
    fits = [t for t in ts if rates(t)[0] <= max_passed]
    t = max(fits) if fits else ts[0]
    passed, rejected = rates(t)
    return {"threshold": t, "dev_harmful_passed": passed, "dev_good_rejected": rejected,
            "n_dev": len(rows),
            "selection": f"highest threshold passing at most {max_passed} of dev harmful replies"}
