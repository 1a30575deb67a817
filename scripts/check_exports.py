"""Validate export JSONL files: schema, non-empty responses, and (--check_pairs) that base
and fine-tuned exports of each prompt set hold the same prompt ids. Exit 1 naming the
offending ids.

    python -m scripts.check_exports artifacts/runs/cpu_smoke/exports/*.jsonl --check_pairs
"""
from __future__ import annotations

import argparse
import json
import sys

from exports import check_pairs, row_problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--check_pairs", action="store_true")
    args = ap.parse_args(argv)
    problems = []
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                rows = [json.loads(line) for line in f if line.strip()]
        except (OSError, json.JSONDecodeError) as e:
            problems.append(f"{path}: cannot read ({e})")
            continue
        problems += [f"{path}: {p}" for p in row_problems(rows)]
        if not rows:
            problems.append(f"{path}: no rows")
    if args.check_pairs:
        problems += check_pairs(args.files)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{len(args.files)} files: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
