"""Add a batch of newly written labelled rows to the crisis data (crisis/data/*.jsonl): every
row validated against the policy's kinds and labels (a bad row is skipped, counted and said
why), near-duplicates of any existing row dropped (whatever its split: a test row must not
echo a train row, nor the reverse), the rest given ids `{batch}-NNN` and the batch's split,
and appended in one atomic write. Nothing is written when the batch name is already used or
the file to add is unreadable.

Near-duplicate: two texts (a message row's whole conversation, a reply row's reply) of 7 or
more words each that share at least 60 % of the shorter one's word trigrams; a text under 7
words only when the other has the same words (a long message that contains a short one is not
its duplicate); a text with no words only when the other is the same text.

    python -m crisis.add_batch new_rows.jsonl --batch v14-test --split test
    python -m crisis.add_batch new_replies.jsonl --batch v5-train --split train --data replies
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import sys

from config import UserError
from crisis.data import (
    FAILURE_KINDS,
    HIGH_KINDS,
    MESSAGES,
    NOT_HIGH_KINDS,
    OK_KINDS,
    REPLIES,
    SPLITS,
)
from files import read_jsonl, write_jsonl_atomic

# batches tried and removed: their names mean only those rows (docs/CRISIS_POLICY.md)
RETIRED = {"v14-train": "329 rows tried at 2428572 and reverted at 41bc4e9"}
OVERLAP = 0.6  # shared word trigrams over the shorter text's: at or above, a near-duplicate
SHORT = 7  # words: shorter texts are compared whole
KINDS = {"messages": {k: ("high",) for k in HIGH_KINDS}
         | {k: ("not_high",) for k in NOT_HIGH_KINDS} | {"multi_turn": ("high", "not_high")},
         "replies": {k: ("harmful",) for k in FAILURE_KINDS} | {k: ("ok",) for k in OK_KINDS}}


def row_problem(row: dict, data: str) -> str | None:
    """Why a newly written row cannot be added (None when it can)."""
    fields = {"kind", "label", "messages"} | ({"reply"} if data == "replies" else set())
    if not isinstance(row, dict) or not fields <= set(row):
        return f"needs the fields {sorted(fields)}"
    if row["kind"] not in KINDS[data]:
        return f"unknown kind {row['kind']!r}"
    if row["label"] not in KINDS[data][row["kind"]]:
        return f"label {row['label']!r} does not fit kind {row['kind']!r}"
    turns = row["messages"]
    if not isinstance(turns, list) or not all(
            isinstance(t, dict) and isinstance(t.get("content"), str) and t["content"].strip()
            for t in turns):
        return "messages must be a list of {role, content} turns with text"
    if [t.get("role") for t in turns] != ["user", "assistant"] * (len(turns) // 2) + \
            ["user"] * (len(turns) % 2):
        return "messages must alternate user / assistant from a user turn"
    if len(turns) % 2 == 0 and (data == "messages" or turns):
        return "the conversation must end with a user turn"
    if data == "replies" and not (isinstance(row["reply"], str) and row["reply"].strip()):
        return "reply must be text"
    return None


def words(row: dict, data: str) -> tuple[str, ...]:
    """The compared text's words (any script), lower case, punctuation dropped; a text with
    no words is compared as itself (emoji, symbols)."""
    text = row["reply"] if data == "replies" else " ".join(t["content"] for t in row["messages"])
    return tuple(re.findall(r"[\w']+", text.lower())) or (text.strip(),)


def trigrams(w: tuple) -> set[tuple]:
    return {w[i:i + 3] for i in range(len(w) - 2)}


class DuplicateIndex:
    """Texts seen so far: the short ones whole, the rest by their word trigrams."""

    def __init__(self):
        self.grams: list[set] = []
        self.short: set[tuple] = set()
        self.by_gram = collections.defaultdict(list)

    def add(self, w: tuple) -> None:
        if len(w) < SHORT:
            self.short.add(w)
            return
        grams = trigrams(w)
        for g in grams:
            self.by_gram[g].append(len(self.grams))
        self.grams.append(grams)

    def has_near(self, w: tuple) -> bool:
        if len(w) < SHORT:
            return w in self.short
        grams = trigrams(w)
        shared = collections.Counter(k for g in grams for k in self.by_gram.get(g, ()))
        return any(n >= OVERLAP * min(len(grams), len(self.grams[k])) for k, n in shared.items())


def add_batch(new: list, existing: list[dict], batch: str, split: str, data: str):
    """(rows to append, {reason: count} of the rows skipped)."""
    if batch in RETIRED:
        raise ValueError(f"batch name {batch!r} is retired ({RETIRED[batch]}): choose a new name")
    if any(r.get("batch") == batch or str(r.get("id", "")).startswith(f"{batch}-")
           for r in existing):
        raise ValueError(f"batch {batch!r} is already in the data (or its ids are): "
                         "choose a new name")
    index, skipped, added = DuplicateIndex(), collections.Counter(), []
    for r in existing:
        index.add(words(r, data))
    for row in new:
        problem = row_problem(row, data)
        if problem:
            skipped[problem] += 1
            continue
        w = words(row, data)
        if index.has_near(w):
            skipped["near-duplicate of an existing or earlier row"] += 1
            continue
        index.add(w)
        added.append({"id": f"{batch}-{len(added):03d}", "batch": batch, "split": split,
                      "kind": row["kind"], "label": row["label"], "messages": row["messages"],
                      **({"reply": row["reply"]} if data == "replies" else {})})
    return added, skipped


def run(args) -> None:
    """The command: count, then append (bad input raises UserError, the file untouched)."""
    if not os.path.isfile(args.rows):
        raise UserError(f"{args.rows}: no such file")
    bad: list[int] = []
    new = read_jsonl(args.rows, bad)
    path = MESSAGES if args.data == "messages" else REPLIES
    broken: list[int] = []
    existing = read_jsonl(path, broken)
    if broken:  # rewriting the file would drop those lines for good
        raise UserError(f"{path}: lines {broken[:10]} are not JSON objects; mend them first")
    try:
        added, skipped = add_batch(new, existing, args.batch, args.split, args.data)
    except ValueError as e:
        raise UserError(f"{path}: {e}") from None
    if bad:
        skipped["not a JSON object (lines " + ", ".join(map(str, bad[:10])) + ")"] = len(bad)
    print(f"[add_batch] {args.rows}: {len(added)} rows to add as {args.batch!r} ({args.split}); "
          f"skipped {sum(skipped.values())}")
    for reason, n in skipped.most_common():
        print(f"  {n:4d}  {reason}")
    kinds = collections.Counter((r["label"], r["kind"]) for r in added)
    print("  " + ", ".join(f"{k} {lab} {n}" for (lab, k), n in sorted(kinds.items())))
    if not added:
        raise UserError(f"{args.rows}: no row to add")
    if not args.dry_run:
        write_jsonl_atomic(path, existing + added)
        print(f"[add_batch] wrote {path} ({len(existing) + len(added)} rows)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows", help="JSONL of new rows: kind, label, messages (and reply)")
    ap.add_argument("--batch", required=True, help="the batch name, e.g. v14-test")
    ap.add_argument("--split", required=True, choices=SPLITS)
    ap.add_argument("--data", choices=("messages", "replies"), default="messages")
    ap.add_argument("--dry-run", action="store_true", help="count, write nothing")
    try:
        run(ap.parse_args())
    except UserError as e:  # the project's bad-input convention: the message, exit 2
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
