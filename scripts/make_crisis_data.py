"""Write the crisis-screen and crisis-reply sets (our own writing, to docs/CRISIS_POLICY.md).

data/crisis/messages.jsonl: {"id", "kind", "label" (high | not_high), "messages"
(the conversation, ending with the user turn to assess), "split"}. data/crisis/
replies.jsonl: {"id", "reply", "acceptable", "problem", "split"}. Each kind is split 60/20/20
into train / dev / test with a fixed seed; that first test split was later retired into dev
(see `message_rows`) and crisis_items_fresh.py is the message test split; crisis_items_fourth.py
is a fourth split, `fresh`, read once and development data since; crisis_items_train2.py to
crisis_items_train5.py add train rows only. Test splits are never used for tuning (the learned
scorer trains on train, its threshold is chosen on dev).

    python scripts/make_crisis_data.py
"""
from __future__ import annotations

import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crisis_items_fourth import FOURTH_HIGH, FOURTH_NOT_HIGH  # noqa: E402
from crisis_items_fresh import FRESH_HIGH, FRESH_NOT_HIGH  # noqa: E402
from crisis_items_high import HIGH  # noqa: E402
from crisis_items_low import NOT_HIGH  # noqa: E402
from crisis_items_train2 import TRAIN2_HIGH, TRAIN2_NOT_HIGH  # noqa: E402
from crisis_items_train3 import TRAIN3_HIGH, TRAIN3_NOT_HIGH  # noqa: E402
from crisis_items_train4 import TRAIN4_HIGH, TRAIN4_NOT_HIGH  # noqa: E402
from crisis_items_train5 import TRAIN5_HIGH, TRAIN5_NOT_HIGH  # noqa: E402
from crisis_replies import ACCEPTABLE, UNACCEPTABLE  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "crisis")
SEED = 20261126


def conversation(item) -> list[dict]:
    if isinstance(item, str):
        return [{"role": "user", "content": item}]
    roles = ["user" if (len(item) - 1 - i) % 2 == 0 else "assistant" for i in range(len(item))]
    return [{"role": r, "content": t} for r, t in zip(roles, item)]


def splits(n: int, rng: random.Random) -> list[str]:
    """60/20/20 over a shuffled order, at least one item in dev and test."""
    n_test = n_dev = max(1, round(0.2 * n))
    out = ["test"] * n_test + ["dev"] * n_dev + ["train"] * (n - n_test - n_dev)
    rng.shuffle(out)
    return out


def message_rows(rng: random.Random) -> list[dict]:
    """The first test split was read while the screen missed its target, so it is development
    data now ("dev"); crisis_items_fresh.py, written afterwards, is the test split."""
    rows = []
    for label, table in (("high", HIGH), ("not_high", NOT_HIGH)):
        for kind, items in table.items():
            for k, (item, split) in enumerate(zip(items, splits(len(items), rng))):
                rows.append({"id": f"{kind}-{k:02d}", "kind": kind, "label": label,
                             "messages": conversation(item),
                             "split": "dev" if split == "test" else split})
    for label, table in (("high", FRESH_HIGH), ("not_high", FRESH_NOT_HIGH)):
        for kind, items in table.items():
            rows += [{"id": f"fresh-{kind}-{k:02d}", "kind": kind, "label": label,
                      "messages": conversation(item), "split": "test"}
                     for k, item in enumerate(items)]
    for label, items in (("high", FOURTH_HIGH), ("not_high", FOURTH_NOT_HIGH)):
        rows += [{"id": f"fresh-{label}-{k}", "kind": kind, "label": label,
                  "messages": conversation(text), "split": "fresh"}
                 for k, (kind, text) in enumerate(items)]
    for tag, label, table in (("train2", "high", TRAIN2_HIGH), ("train2", "not_high",
                                                               TRAIN2_NOT_HIGH),
                              ("train3", "high", TRAIN3_HIGH), ("train3", "not_high",
                                                               TRAIN3_NOT_HIGH),
                              ("train4", "high", TRAIN4_HIGH), ("train4", "not_high",
                                                               TRAIN4_NOT_HIGH),
                              ("train5", "high", TRAIN5_HIGH), ("train5", "not_high",
                                                               TRAIN5_NOT_HIGH)):
        rows += [{"id": f"{tag}-{kind}-{k:02d}", "kind": kind, "label": label,
                  "messages": conversation(item), "split": "train"}
                 for kind, items in table.items() for k, item in enumerate(items)]
    return rows


def reply_rows(rng: random.Random) -> list[dict]:
    groups = [("acceptable", ACCEPTABLE)] + list(UNACCEPTABLE.items())
    rows = []
    for problem, replies in groups:
        for k, (reply, split) in enumerate(zip(replies, splits(len(replies), rng))):
            rows.append({"id": f"{problem}-{k:02d}", "reply": reply,
                         "acceptable": problem == "acceptable",
                         "problem": "" if problem == "acceptable" else problem, "split": split})
    return rows


def main() -> None:
    rng = random.Random(SEED)
    os.makedirs(OUT, exist_ok=True)
    for name, rows in (("messages.jsonl", message_rows(rng)), ("replies.jsonl", reply_rows(rng))):
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"{len(rows)} rows -> {os.path.join(OUT, name)}")


if __name__ == "__main__":
    main()
