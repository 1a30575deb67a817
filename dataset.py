"""Raw rows -> canonical examples -> tokenized examples for ED-v2, ESConv and GoEmotions.

Loading always goes through `datasets.load_dataset`: the hub id by default, or a local folder
of files in the upstream format (same code path, same Arrow cache). Canonicalization keeps
labels and metadata out of the model input; tokenization renders the tokenizer's own chat
template with an explicit system prompt and supervises only the reply plus its end-of-turn
token. Both steps are cached by explicit fingerprints, so a second run is a cache read.

    python main.py data --config config/cpu_smoke.json
"""
from __future__ import annotations

import csv
import functools
import json
import os
from collections import Counter
from dataclasses import dataclass, field

import datasets
import pyarrow as pa
from tqdm.auto import tqdm

from batching import IGNORE
from canonical import ESCONV_STRATEGIES, GOEMOTIONS_LABELS, canonicalize_batch
from config import UserError
from files import fingerprint, hub_unreachable, is_hub_id
from prompting import PromptEncoder, end_of_turn_id, fit_history

SOURCES = ("ed", "esconv", "goemotions")
SPLITS = ("train", "validation", "test")

# Upstream file names inside a local folder, per split (ED ships dev.csv for validation).
DEFAULT_FILES = {
    "ed": {"train": "train.csv", "validation": "dev.csv", "test": "test.csv"},
    "esconv": {"train": "train.json", "validation": "validation.json", "test": "test.json"},
    "goemotions": {"train": "train.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"},
}
BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json"}  # local formats read row by row
ROW = "__row__"  # a local row's column: its JSON text, parsed by canonical.canonicalize_batch


class DataError(UserError):
    """A source cannot be used; the message names the source and the path."""


# ------------------------------------------------------------------ loading
@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the code that shapes cached examples: a change invalidates the cache."""
    here = os.path.dirname(os.path.abspath(__file__))
    return fingerprint(files=[os.path.join(here, n) for n in ("canonical.py", "dataset.py",
                                                                "prompting.py")])


def _check_columns(source: str, split: str, path: str, columns: list, header) -> None:
    """A CSV split's columns must be train's (`header`; None while reading train)."""
    if header is not None and columns != header:
        raise DataError(f"source '{source}': the {split} file's columns "
                        f"{columns} differ from train's {header}: {path}")


def _read_local_rows(source: str, split: str, path: str, header=None) -> tuple[list, int, list]:
    """(rows as JSON text, unreadable rows, CSV header) of one local file, read row by row
    so that one bad line costs one row, not the source: a line that is not UTF-8, not JSON
    or not an object is counted and skipped."""
    if os.path.getsize(path) == 0:
        raise DataError(f"source '{source}': the {split} file is empty (0 bytes): {path}")
    rows, bad = [], 0
    if path.endswith(".csv"):
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames:
                raise DataError(f"source '{source}': the {split} file has no header row: {path}")
            _check_columns(source, split, path, reader.fieldnames, header)
            for row in reader:
                if any("\ufffd" in (v or "") for v in row.values()) or None in row:
                    bad += 1  # undecodable bytes, or more fields than the header
                else:
                    rows.append(json.dumps(row))
            return rows, bad, reader.fieldnames
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
                ok = isinstance(json.loads(text), dict)
            except (UnicodeDecodeError, ValueError):
                ok = False
            rows, bad = (rows + [text], bad) if ok else (rows, bad + 1)
    return rows, bad, None


def _rows_table(source: str, split: str, path: str, header, cache_dir: str):
    """(Arrow table of row texts, unreadable rows, CSV header, content hash) of one local
    file. The parsed rows are kept in `cache_dir` under the file's content hash, so a warm
    run memory-maps them instead of re-reading every line."""
    digest = fingerprint(files=[path], length=32)
    cached = os.path.join(cache_dir, f"rows-{fingerprint('rows', digest, _code_version())}.arrow")
    if os.path.isfile(cached):
        table = pa.ipc.open_file(pa.memory_map(cached)).read_all()
        meta = {k.decode(): json.loads(v) for k, v in (table.schema.metadata or {}).items()}
        if meta["header"] is not None:
            _check_columns(source, split, path, meta["header"], header)
        return table, meta["unreadable"], meta["header"], digest
    rows, bad, cols = _read_local_rows(source, split, path, header)
    table = pa.Table.from_pydict({ROW: pa.array(rows, pa.string())}).replace_schema_metadata(
        {"unreadable": json.dumps(bad), "header": json.dumps(cols)})
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{cached}.tmp-{os.getpid()}"
    with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(tmp, cached)
    return table, bad, cols, digest


def _local_splits(source: str, path: str, data_files: dict, cache_dir: str) -> dict:
    """{split: (in-memory Dataset of row texts, unreadable rows)} of a local folder; the
    Dataset's fingerprint is the file's content hash, so caching stays exact."""
    files = {**DEFAULT_FILES[source], **(data_files or {})}
    out, header = {}, None
    for split in SPLITS:
        f = os.path.join(path, files[split])
        if not os.path.isfile(f):
            raise DataError(f"source '{source}': file for split '{split}' not found: {f}")
        if os.path.splitext(f)[1].lower() not in BUILDERS:
            raise DataError(f"source '{source}': unsupported file type of {f}")
        table, bad, cols, fp = _rows_table(source, split, f, header, cache_dir)
        header = header or cols
        out[split] = (datasets.Dataset(table.replace_schema_metadata(None), fingerprint=fp), bad)
    return out


def load_raw_splits(source: str, path: str, name, data_files: dict, cache_dir: str) -> dict:
    """{split: (Dataset of raw rows, unreadable rows)} from the hub id or a local folder in
    the upstream format."""
    if os.path.isdir(path):
        return _local_splits(source, path, data_files, cache_dir)
    if not is_hub_id(path):
        raise DataError(f"source '{source}': local folder not found: {path}")
    why = hub_unreachable()
    if why:
        raise DataError(f"source '{source}': no local folder '{path}' exists, and {why} to "
                        f"fetch it as a hub dataset (point data.{source}.path at a local folder)")
    try:
        raw = datasets.load_dataset(path, name or None, cache_dir=cache_dir)
    except Exception as e:  # unknown id, network error: say which source and id
        raise DataError(f"source '{source}': cannot load '{path}' from the hub ({e})") from None
    missing = [s for s in SPLITS if s not in raw]
    if missing:
        raise DataError(f"source '{source}': '{path}' has no split(s) {missing}")
    return {split: (raw[split], 0) for split in SPLITS}


CANON_COLUMNS = ["source", "messages", "emotion_name", "strategy_name", "skip_reason"]
TOKEN_COLUMNS = ["input_ids", "labels", "prompt_length", "truncated_turns", "drop_reason",
                 "emotion_label", "strategy_label", "length", "n_supervised"]


def column(ds, name: str) -> list:
    """One column as a list, in one Arrow read (iterating `ds[name]` reads row by row, and
    the python formatter is ~3x slower than the Arrow one on a filtered split)."""
    return ds.with_format("arrow")[name].to_pylist() if len(ds) else []


def _empty(columns: list[str]):
    return datasets.Dataset.from_dict({c: [] for c in columns})


def canonical_split(raw, source: str, split: str, emotion_mapping: str, max_rows: int,
                    cache_dir: str):
    """Canonicalize one raw split (cached in `cache_dir`); returns (examples incl. skip
    records, rows read)."""
    if max_rows and len(raw) > max_rows:
        raw = raw.select(range(max_rows))
    if len(raw) == 0:  # datasets drops the columns of an empty map: build them here
        return _empty(CANON_COLUMNS), 0
    fp = fingerprint("canonical", raw._fingerprint, source, emotion_mapping, max_rows,
                      _code_version())
    canon = raw.map(canonicalize_batch, batched=True, batch_size=256,
                    fn_kwargs={"source": source, "emotion_mapping": emotion_mapping},
                    remove_columns=raw.column_names, new_fingerprint=fp,
                    cache_file_name=os.path.join(cache_dir, f"canonical-{fp}.arrow"),
                    desc=f"canonicalize {source}/{split}")
    return canon, len(raw)


# ------------------------------------------------------------------ tokenization
def tokenize_example(messages: list[dict], tokenizer, system_prompt: str, max_seq_len: int,
                     eot_id: int, encoder: PromptEncoder | None = None) -> dict:
    """Chat-template tokens with labels: prompt -100, reply + end-of-turn supervised.

    Over-long examples lose their oldest turns (prompting.fit_history: a cut history
    restarts at a user turn; an uncut one keeps its opening, supporter turns included); when
    even the last user turn plus the reply cannot fit, `drop_reason` is set.
    """
    if messages and messages[-1]["role"] == "assistant":
        history, target = messages[:-1], messages[-1]["content"]
        target_ids = tokenizer(target, add_special_tokens=False).input_ids + [eot_id]
    else:
        history, target_ids = messages, []
    budget = max_seq_len - len(target_ids)
    fit = encoder.fit(history, budget) if encoder is not None else fit_history(
        history, tokenizer, system_prompt, budget)
    if fit is None:
        return {"input_ids": [], "labels": [], "prompt_length": 0, "truncated_turns": 0,
                "drop_reason": "too_long"}
    start, prompt_ids = fit
    return {"input_ids": prompt_ids + target_ids,
            "labels": [IGNORE] * len(prompt_ids) + target_ids,
            "prompt_length": len(prompt_ids), "truncated_turns": start, "drop_reason": ""}


def _tokenize_batch(batch, tokenizer, system_prompt, max_seq_len, eot_id, emo_vocab, strat_vocab,
                    encoder=None):
    out = {k: [] for k in ("input_ids", "labels", "prompt_length", "truncated_turns",
                           "drop_reason", "emotion_label", "strategy_label", "length",
                           "n_supervised")}
    for msgs, emo, strat in zip(batch["messages"], batch["emotion_name"], batch["strategy_name"]):
        tok = tokenize_example(msgs, tokenizer, system_prompt, max_seq_len, eot_id, encoder)
        for k, v in tok.items():
            out[k].append(v)
        out["emotion_label"].append(emo_vocab.get(emo, IGNORE) if emo else IGNORE)
        out["strategy_label"].append(strat_vocab.get(strat, IGNORE) if strat else IGNORE)
        out["length"].append(len(tok["input_ids"]))
        out["n_supervised"].append(sum(1 for x in tok["labels"] if x != IGNORE))
    return out


def tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return fingerprint(body, tokenizer.chat_template, tokenizer.all_special_tokens)


# ------------------------------------------------------------------ vocabularies and prepare
def build_vocab(names, order: list[str]) -> list[str]:
    """Labels seen in train, in the canonical order (unknown extras appended sorted)."""
    seen = {n for n in names if n}
    return [n for n in order if n in seen] + sorted(seen - set(order))


@dataclass
class PreparedData:
    tokenized: dict = field(default_factory=dict)  # source -> split -> Dataset (kept examples)
    stats: dict = field(default_factory=dict)  # source -> split -> counters
    emotion_vocab: list = field(default_factory=list)
    strategy_vocab: list = field(default_factory=list)


def _split_stats(canon, rows_read: int, unreadable: int = 0) -> dict:
    reasons = Counter(r for r in column(canon, "skip_reason") if r)
    examples = len(canon) - sum(reasons.values())
    if unreadable:
        reasons["unreadable_row"] = unreadable
    return {"rows_read": rows_read, "skipped": dict(sorted(reasons.items())),
            "examples": examples}


def _canonical_sources(sources: dict, cache_dir: str, emotion_mapping: str, max_rows: int,
                       splits=SPLITS) -> tuple[dict, dict]:
    """Canonical splits (skip records included) and their counters, per source."""
    canon, stats = {}, {}
    for source, spec in sources.items():
        raw = load_raw_splits(source, spec["path"], spec.get("name"), spec.get("data_files"),
                              cache_dir)
        canon[source], stats[source] = {}, {}
        for split in splits:
            rows, unreadable = raw[split]
            c, n = canonical_split(rows, source, split, emotion_mapping, max_rows, cache_dir)
            canon[source][split], stats[source][split] = c, _split_stats(c, n + unreadable,
                                                                          unreadable)
        if "train" in splits and stats[source]["train"]["examples"] == 0:
            raise DataError(f"source '{source}' yielded no usable training rows from "
                            f"{spec['path']} (skipped: {stats[source]['train']['skipped']})")
    return canon, stats


def _tokenize_split(canon, tokenizer, system_prompt: str, max_seq_len: int, emotion_vocab: list,
                    strategy_vocab: list, source: str, split: str, stats: dict):
    """Kept canonical examples -> tokenized examples that fit (cached); fills `stats`."""
    c = canon.filter(lambda r: not r, input_columns="skip_reason",
                     new_fingerprint=fingerprint("kept", canon._fingerprint))
    if len(c) == 0:
        stats["dropped"], stats["unseen_label"] = {}, 0
        return _empty(CANON_COLUMNS + TOKEN_COLUMNS)
    fp = fingerprint("tok", c._fingerprint, tokenizer_fingerprint(tokenizer), system_prompt,
                      max_seq_len, emotion_vocab, strategy_vocab, _code_version())
    t = c.map(_tokenize_batch, batched=True, batch_size=64, new_fingerprint=fp,
              fn_kwargs=dict(tokenizer=tokenizer, system_prompt=system_prompt,
                             max_seq_len=max_seq_len, eot_id=end_of_turn_id(tokenizer),
                             emo_vocab={n: i for i, n in enumerate(emotion_vocab)},
                             strat_vocab={n: i for i, n in enumerate(strategy_vocab)},
                             encoder=PromptEncoder(tokenizer, system_prompt)),
              desc=f"tokenize {source}/{split}")
    stats["dropped"] = dict(Counter(r for r in column(t, "drop_reason") if r))
    stats["unseen_label"] = sum(
        1 for e, l in zip(column(t, "emotion_name"), column(t, "emotion_label"))
        if e and l == IGNORE) + sum(
        1 for s, l in zip(column(t, "strategy_name"), column(t, "strategy_label"))
        if s and l == IGNORE)
    return t.filter(lambda r: not r, input_columns="drop_reason",
                    new_fingerprint=fingerprint("fit", fp))


def prepare_data(sources: dict, tokenizer, system_prompt: str, max_seq_len: int,
                 cache_dir: str, emotion_mapping: str = "none", max_rows_per_split: int = 0,
                 log=print, splits=SPLITS, vocabs: dict | None = None) -> PreparedData:
    """Load, canonicalize and tokenize every enabled source and split (all cached).

    `sources` maps a source name to {"path", "name", "data_files"}. Label vocabularies come
    from the train split, or from `vocabs` ({"emotion": [...], "strategy": [...]}, e.g. a
    trained run's heads) when only other splits are asked for.
    """
    datasets.disable_progress_bars()  # one bar per source below, not ~36 per run
    os.makedirs(cache_dir, exist_ok=True)
    out = PreparedData()
    canon, out.stats = _canonical_sources(sources, cache_dir, emotion_mapping,
                                          max_rows_per_split, splits)
    if vocabs is None:
        out.emotion_vocab = build_vocab([n for s in canon.values()
                                         for n in column(s["train"], "emotion_name")],
                                        GOEMOTIONS_LABELS)
        out.strategy_vocab = build_vocab([n for s in canon.values()
                                          for n in column(s["train"], "strategy_name")],
                                         ESCONV_STRATEGIES)
    else:
        out.emotion_vocab, out.strategy_vocab = vocabs.get("emotion", []), vocabs.get("strategy", [])
    for source in canon:
        out.tokenized[source] = {split: _tokenize_split(
            canon[source][split], tokenizer, system_prompt, max_seq_len, out.emotion_vocab,
            out.strategy_vocab, source, split, out.stats[source][split])
            for split in tqdm(splits, desc=f"tokenize {source}", leave=False)}
    for source, by_split in out.stats.items():
        for split, st in by_split.items():
            log(f"[data] {source}/{split}: read {st['rows_read']} rows -> {st['examples']} examples"
                f"; skipped {st['skipped'] or '{}'}; dropped {st.get('dropped') or '{}'}")
    return out


# ------------------------------------------------------------------ from a run config
def sources_from_config(data_cfg) -> dict:
    """Enabled sources as plain {"path", "name", "data_files"} dicts."""
    out = {}
    for name in SOURCES:
        src = getattr(data_cfg, name)
        if src.enabled:
            out[name] = {"path": src.path, "name": src.name, "data_files": dict(src.data_files)}
    return out


def prepare_from_config(cfg, tokenizer, log=print, splits=SPLITS, vocabs=None) -> PreparedData:
    """The config -> data adapter every stage uses (train, data, eval's test split)."""
    d = cfg.data
    return prepare_data(sources_from_config(d), tokenizer, d.system_prompt, d.max_seq_len,
                        d.cache_dir, d.emotion_mapping, d.max_rows_per_split, log=log,
                        splits=splits, vocabs=vocabs)
