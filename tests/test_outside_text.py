"""No outside text in the repository: no tracked file shares a run of 10 consecutive words with
the posts under ../shared/crisis-external, the turn texts under ../shared/real-data, or the
EQ-Bench items under ../shared/reference-data (whose fixed instruction template is exempt: the
scorer must match it). Case and punctuation are normalized. Skipped when ../shared is absent.
A second test plants a copied sentence and shows the check finds it."""
import csv
import json
import os
import re
import subprocess

import pytest
from conftest import ROOT

SHARED = os.path.join(ROOT, "..", "shared")
RUN = 10  # consecutive words
TEXT_FILES = (".py", ".md", ".json", ".jsonl", ".txt", ".csv", ".toml", ".cfg", ".yaml", ".yml",
              ".html", ".js", ".css")
needs_shared = pytest.mark.skipif(not os.path.isdir(SHARED), reason="../shared is absent")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("\u2019", "'"))


def runs(text: str, n: int = RUN) -> set[str]:
    w = words(text)
    return {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)}


def strings(x):
    """Every string inside a JSON value; a string holding a JSON document (ESConv's `text`) is
    walked too."""
    if isinstance(x, str):
        if x.lstrip().startswith(("{", "[")):
            try:
                yield from strings(json.loads(x))
                return
            except ValueError:
                pass
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from strings(v)


def file_texts(path: str):
    if path.endswith(".csv"):
        csv.field_size_limit(10**9)
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.reader(f):
                yield " ".join(row)
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        docs = [json.loads(text)]
    except ValueError:  # JSON lines
        docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    for d in docs:
        yield from strings(d)


def eq_bench_runs(path: str) -> set[str]:
    """Runs of the EQ-Bench items, less the harness's template: a run found in at least half
    of the items is the fixed instruction text, not an item's own dialogue."""
    with open(path, encoding="utf-8") as f:
        items = json.load(f)
    per_item = [set().union(*(runs(s) for s in strings(item))) for item in items.values()]
    counts: dict = {}
    for item_runs in per_item:
        for r in item_runs:
            counts[r] = counts.get(r, 0) + 1
    return {r for r, c in counts.items() if c < len(per_item) / 2}


def outside_runs(shared: str) -> set[str]:
    out: set = set()
    for sub, exts in (("crisis-external", (".csv",)), ("real-data/ed", (".csv",)),
                      ("real-data/esconv", (".json",)), ("real-data/goemotions", (".jsonl",))):
        folder = os.path.join(shared, sub)
        for name in sorted(os.listdir(folder)):
            if name.endswith(exts):
                for text in file_texts(os.path.join(folder, name)):
                    out |= runs(text)
    ref = os.path.join(shared, "reference-data")
    for name in sorted(os.listdir(ref)):
        if name.startswith("eq_bench") and name.endswith(".json"):
            out |= eq_bench_runs(os.path.join(ref, name))
    return out


def files_sharing(root: str, outside: set[str], paths: list[str]) -> dict:
    """{path: shared runs} for the text files among `paths` (relative to `root`)."""
    found = {}
    for p in paths:
        if not p.endswith(TEXT_FILES) or not os.path.isfile(os.path.join(root, p)):
            continue  # not text, or deleted in the work tree
        with open(os.path.join(root, p), encoding="utf-8", errors="replace") as f:
            shared = runs(f.read()) & outside
        if shared:
            found[p] = sorted(shared)[:3]
    return found


@pytest.fixture(scope="module")
def outside():
    return outside_runs(SHARED)


@needs_shared
def test_no_tracked_file_shares_ten_words_with_outside_text(outside):
    tracked = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert len(outside) > 100_000  # the sources were read
    assert files_sharing(ROOT, outside, tracked) == {}


@needs_shared
def test_a_planted_copy_of_an_outside_sentence_is_found(outside, tmp_path):
    """One C-SSRS post's words, planted in a file of a scratch folder (never the repository),
    are found; ten words of our own are not."""
    source = os.path.join(SHARED, "crisis-external")
    post = next(t for name in sorted(os.listdir(source)) if name.endswith(".csv")
                for t in file_texts(os.path.join(source, name)) if len(words(t)) > 40)
    planted = " ".join(words(post)[20:32])
    (tmp_path / "copied.py").write_text(f'MESSAGE = "{planted.upper()}!"\n')
    (tmp_path / "own.md").write_text("the quick brown fox wrote ten plain words of its own today\n")
    found = files_sharing(str(tmp_path), outside, ["copied.py", "own.md"])
    assert list(found) == ["copied.py"]
