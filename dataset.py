"""Raw rows -> canonical examples -> tokenized examples for ED-v2, ESConv and GoEmotions.

Loading always goes through `datasets.load_dataset`: the hub id by default, or a local folder
of files in the upstream format (same code path, same Arrow cache). Canonicalization keeps
labels and metadata out of the model input; tokenization renders the tokenizer's own chat
template with an explicit system prompt and supervises only the reply plus its end-of-turn
token. Both steps are cached by explicit fingerprints, so a second run is a cache read.

    python main.py data --config config/cpu_smoke.json
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field

from config import UserError

SOURCES = ("ed", "esconv", "goemotions")
SPLITS = ("train", "validation", "test")

GOEMOTIONS_LABELS = [
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral"]

# The eight ESConv support strategies, in the order of the ESConv paper.
ESCONV_STRATEGIES = [
    "Question", "Restatement or Paraphrasing", "Reflection of feelings", "Self-disclosure",
    "Affirmation and Reassurance", "Providing Suggestions", "Information", "Others"]

# Opt-in (data.emotion_mapping = "ed_to_goemotions"): ED's 32 situation emotions onto the
# nearest GoEmotions class, so ED replies also supervise the emotion head. Off by default
# because the two taxonomies differ (ED labels the situation, GoEmotions the comment).
ED_TO_GOEMOTIONS = {
    "afraid": "fear", "angry": "anger", "annoyed": "annoyance", "anticipating": "excitement",
    "anxious": "nervousness", "apprehensive": "nervousness", "ashamed": "remorse",
    "caring": "caring", "confident": "optimism", "content": "joy", "devastated": "grief",
    "disappointed": "disappointment", "disgusted": "disgust", "embarrassed": "embarrassment",
    "excited": "excitement", "faithful": "love", "furious": "anger", "grateful": "gratitude",
    "guilty": "remorse", "hopeful": "optimism", "impressed": "admiration", "jealous": "desire",
    "joyful": "joy", "lonely": "sadness", "nostalgic": "desire", "prepared": "optimism",
    "proud": "pride", "sad": "sadness", "sentimental": "love", "surprised": "surprise",
    "terrified": "fear", "trusting": "approval"}

# Upstream file names inside a local folder, per split (ED ships dev.csv for validation).
DEFAULT_FILES = {
    "ed": {"train": "train.csv", "validation": "dev.csv", "test": "test.csv"},
    "esconv": {"train": "train.json", "validation": "validation.json", "test": "test.json"},
    "goemotions": {"train": "train.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"},
}
# Raw fields that must never reach the model input (checked by tests/test_leakage.py).
FORBIDDEN_FIELDS = {
    "ed": ("situation", "behavior", "emotion", "question or not"),
    "esconv": ("situation", "problem_type", "emotion_type"),
    "goemotions": (),
}
BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
IGNORE = -100


class DataError(UserError):
    """A source cannot be used; the message names the source and the path."""


class SkipRow(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ------------------------------------------------------------------ canonicalizers
def _clean(text) -> str:
    return text.strip() if isinstance(text, str) else ""


def _example(source, messages, emotion="", strategy="") -> dict:
    return {"source": source, "messages": messages, "emotion_name": emotion,
            "strategy_name": strategy}


def canonicalize_ed(row: dict, emotion_mapping: str = "none") -> list[dict]:
    """One ED-v2 row -> one example: alternating history ending with the user, target reply."""
    raw = row.get("chat_history")
    if not isinstance(raw, str) or not raw.strip():
        raise SkipRow("missing_chat_history")
    try:
        turns = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise SkipRow("bad_chat_history") from None
    if not isinstance(turns, list):
        raise SkipRow("chat_history_not_list")
    turns = [_clean(t) for t in turns]
    if not turns:
        raise SkipRow("empty_chat_history")
    if any(not t for t in turns):
        raise SkipRow("empty_text")
    target = _clean(row.get("sys_response"))
    if not target:
        raise SkipRow("empty_response")
    n = len(turns)  # roles counted back from the end: the last turn is the user's
    messages = [{"role": "user" if (n - 1 - i) % 2 == 0 else "assistant", "content": t}
                for i, t in enumerate(turns)]
    messages.append({"role": "assistant", "content": target})
    emotion = ""
    if emotion_mapping == "ed_to_goemotions":
        emotion = ED_TO_GOEMOTIONS.get(_clean(row.get("emotion")).lower(), "")
    return [_example("ed", messages, emotion=emotion)]


def canonicalize_esconv(row: dict, emotion_mapping: str = "none") -> list[dict]:
    """One ESConv conversation -> one example per supporter turn that has a strategy.

    The prompt of a supporter turn is everything before it, supporter turns included: about
    half of ESConv's conversations open with the supporter. A supporter turn before any seeker
    turn answers nothing, so it is no example; it is returned as a skip record
    ("opening_supporter_turn") so that kept + skipped adds up to the annotated turns.
    """
    try:
        conv = json.loads(row.get("text") or "")
    except (json.JSONDecodeError, TypeError):
        raise SkipRow("bad_json") from None
    if not isinstance(conv, dict) or not isinstance(conv.get("dialog"), list) or not conv["dialog"]:
        raise SkipRow("missing_dialog")
    messages = []
    for turn in conv["dialog"]:
        if not isinstance(turn, dict) or "speaker" not in turn:
            raise SkipRow("turn_missing_speaker")
        if turn["speaker"] not in ("usr", "sys"):
            raise SkipRow("bad_speaker")
        text = _clean(turn.get("text"))
        if not text:
            raise SkipRow("empty_text")
        messages.append((("user" if turn["speaker"] == "usr" else "assistant"), text,
                         _clean(turn.get("strategy"))))
    examples = []
    for i, (role, text, strategy) in enumerate(messages):
        if role != "assistant" or not strategy:
            continue
        history = [{"role": r, "content": t} for r, t, _ in messages[:i]]
        if not any(m["role"] == "user" for m in history):
            examples.append(dict(_example("esconv", []), skip_reason="opening_supporter_turn"))
            continue
        examples.append(_example("esconv", history + [{"role": "assistant", "content": text}],
                                 strategy=strategy))
    if not examples:
        raise SkipRow("no_supporter_turn_with_strategy")
    return examples


def canonicalize_goemotions(row: dict, emotion_mapping: str = "none") -> list[dict]:
    """One GoEmotions row with exactly one label -> a classification-only example."""
    text = _clean(row.get("text"))
    if not text:
        raise SkipRow("empty_text")
    labels = row.get("labels")
    if not isinstance(labels, list) or not labels:
        raise SkipRow("no_label")
    if len(labels) != 1:
        raise SkipRow("multi_label")
    label = labels[0]
    if not isinstance(label, int) or not 0 <= label < len(GOEMOTIONS_LABELS):
        raise SkipRow("label_out_of_range")
    return [_example("goemotions", [{"role": "user", "content": text}],
                     emotion=GOEMOTIONS_LABELS[label])]


CANONICALIZERS = {"ed": canonicalize_ed, "esconv": canonicalize_esconv,
                  "goemotions": canonicalize_goemotions}


def canonicalize_batch(batch: dict, source: str, emotion_mapping: str) -> dict:
    """datasets.map(batched=True) body: rows -> examples, plus one record per skipped row."""
    out = {"source": [], "messages": [], "emotion_name": [], "strategy_name": [],
           "skip_reason": []}
    n = len(next(iter(batch.values())))
    for i in range(n):
        row = {k: v[i] for k, v in batch.items()}
        try:
            examples = CANONICALIZERS[source](row, emotion_mapping)
        except SkipRow as skip:
            examples = [dict(_example(source, []), skip_reason=skip.reason)]
        for ex in examples:
            for key in out:
                out[key].append(ex.get(key, ""))
    return out


# ------------------------------------------------------------------ loading
@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _fingerprint(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def load_raw_splits(source: str, path: str, name, data_files: dict, cache_dir: str):
    """DatasetDict of raw rows from the hub id or a local folder in the upstream format."""
    import datasets

    if os.path.isdir(path):
        files = {**DEFAULT_FILES[source], **(data_files or {})}
        resolved = {}
        for split in SPLITS:
            f = os.path.join(path, files[split])
            if not os.path.isfile(f):
                raise DataError(f"source '{source}': file for split '{split}' not found: {f}")
            resolved[split] = f
        ext = os.path.splitext(resolved["train"])[1].lower()
        if ext not in BUILDERS:
            raise DataError(f"source '{source}': unsupported file type '{ext}' in {path}")
        return datasets.load_dataset(BUILDERS[ext], data_files=resolved, cache_dir=cache_dir)
    if path.startswith((".", "/", "~")) or path.count("/") != 1:
        raise DataError(f"source '{source}': local folder not found: {path}")
    try:
        return datasets.load_dataset(path, name or None, cache_dir=cache_dir)
    except Exception as e:  # offline or unknown id: say which source and id
        raise DataError(f"source '{source}': cannot load '{path}' from the hub ({e})") from None


def canonical_split(raw, source: str, split: str, emotion_mapping: str, max_rows: int):
    """Canonicalize one raw split (cached); returns (examples incl. skip records, rows read)."""
    if max_rows and len(raw) > max_rows:
        raw = raw.select(range(max_rows))
    fp = _fingerprint("canonical", raw._fingerprint, source, emotion_mapping, _code_version())
    canon = raw.map(canonicalize_batch, batched=True, batch_size=256,
                    fn_kwargs={"source": source, "emotion_mapping": emotion_mapping},
                    remove_columns=raw.column_names, new_fingerprint=fp,
                    desc=f"canonicalize {source}/{split}")
    return canon, len(raw)


# ------------------------------------------------------------------ tokenization
def end_of_turn_id(tokenizer) -> int:
    """The special token that closes an assistant turn in this tokenizer's chat template."""
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    prompt = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(probe + [{"role": "assistant", "content": "REPLY"}],
                                         tokenize=False)
    if not full.startswith(prompt) or "REPLY" not in full[len(prompt):]:
        raise ValueError("chat template does not render the reply after the generation prompt")
    tail = full[len(prompt):].split("REPLY", 1)[1]
    ids = tokenizer(tail, add_special_tokens=False).input_ids
    if not ids or ids[0] not in tokenizer.all_special_ids:
        raise ValueError(f"no special end-of-turn token after the reply in {tail!r}")
    return ids[0]


def tokenize_example(messages: list[dict], tokenizer, system_prompt: str, max_seq_len: int,
                     eot_id: int) -> dict:
    """Chat-template tokens with labels: prompt -100, reply + end-of-turn supervised.

    Over-long examples lose their oldest turns (a cut history restarts at a user turn; an
    uncut one keeps its opening, supporter turns included); when even the last user turn plus
    the reply cannot fit, `drop_reason` is set.
    """
    if messages and messages[-1]["role"] == "assistant":
        history, target = messages[:-1], messages[-1]["content"]
        target_ids = tokenizer(target, add_special_tokens=False).input_ids + [eot_id]
    else:
        history, target_ids = messages, []
    system = [{"role": "system", "content": system_prompt}]
    starts = [0] + [i for i, m in enumerate(history) if i > 0 and m["role"] == "user"]
    prompt_ids, truncated = None, 0
    for start in starts:
        ids = tokenizer.apply_chat_template(system + history[start:], tokenize=True,
                                            add_generation_prompt=True, return_dict=False)
        if len(ids) + len(target_ids) <= max_seq_len:
            prompt_ids, truncated = list(ids), start
            break
    if prompt_ids is None:
        return {"input_ids": [], "labels": [], "prompt_length": 0, "truncated_turns": 0,
                "drop_reason": "too_long"}
    return {"input_ids": prompt_ids + target_ids,
            "labels": [IGNORE] * len(prompt_ids) + target_ids,
            "prompt_length": len(prompt_ids), "truncated_turns": truncated, "drop_reason": ""}


def _tokenize_batch(batch, tokenizer, system_prompt, max_seq_len, eot_id, emo_vocab, strat_vocab):
    out = {k: [] for k in ("input_ids", "labels", "prompt_length", "truncated_turns",
                           "drop_reason", "emotion_label", "strategy_label", "length",
                           "n_supervised")}
    for msgs, emo, strat in zip(batch["messages"], batch["emotion_name"], batch["strategy_name"]):
        tok = tokenize_example(msgs, tokenizer, system_prompt, max_seq_len, eot_id)
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
    return _fingerprint(body, tokenizer.chat_template, tokenizer.all_special_tokens)


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


def _split_stats(canon, rows_read: int) -> dict:
    reasons = Counter(r for r in canon["skip_reason"] if r)
    return {"rows_read": rows_read, "skipped": dict(sorted(reasons.items())),
            "examples": len(canon) - sum(reasons.values())}


def prepare_data(sources: dict, tokenizer, system_prompt: str, max_seq_len: int,
                 cache_dir: str, emotion_mapping: str = "none", max_rows_per_split: int = 0,
                 log=print) -> PreparedData:
    """Load, canonicalize and tokenize every enabled source and split (all cached).

    `sources` maps a source name to {"path", "name", "data_files"}.
    """
    os.makedirs(cache_dir, exist_ok=True)
    canon, out = {}, PreparedData()
    for source, spec in sources.items():
        raw = load_raw_splits(source, spec["path"], spec.get("name"), spec.get("data_files"),
                              cache_dir)
        canon[source], out.stats[source] = {}, {}
        for split in SPLITS:
            c, n = canonical_split(raw[split], source, split, emotion_mapping, max_rows_per_split)
            canon[source][split], out.stats[source][split] = c, _split_stats(c, n)
        if out.stats[source]["train"]["examples"] == 0:
            raise DataError(f"source '{source}' yielded no usable training rows from "
                            f"{spec['path']} (skipped: {out.stats[source]['train']['skipped']})")
    emo_names = [n for s in canon.values() for n in s["train"]["emotion_name"]]
    strat_names = [n for s in canon.values() for n in s["train"]["strategy_name"]]
    out.emotion_vocab = build_vocab(emo_names, GOEMOTIONS_LABELS)
    out.strategy_vocab = build_vocab(strat_names, ESCONV_STRATEGIES)
    emo_ids = {n: i for i, n in enumerate(out.emotion_vocab)}
    strat_ids = {n: i for i, n in enumerate(out.strategy_vocab)}
    eot = end_of_turn_id(tokenizer)
    tok_fp = tokenizer_fingerprint(tokenizer)
    for source in canon:
        out.tokenized[source] = {}
        for split in SPLITS:
            c = canon[source][split].filter(lambda r: not r, input_columns="skip_reason",
                                            new_fingerprint=_fingerprint(
                                                "kept", canon[source][split]._fingerprint))
            fp = _fingerprint("tok", c._fingerprint, tok_fp, system_prompt, max_seq_len,
                              out.emotion_vocab, out.strategy_vocab, _code_version())
            t = c.map(_tokenize_batch, batched=True, batch_size=64, new_fingerprint=fp,
                      fn_kwargs=dict(tokenizer=tokenizer, system_prompt=system_prompt,
                                     max_seq_len=max_seq_len, eot_id=eot, emo_vocab=emo_ids,
                                     strat_vocab=strat_ids),
                      desc=f"tokenize {source}/{split}")
            st = out.stats[source][split]
            st["dropped"] = dict(Counter(r for r in t["drop_reason"] if r))
            st["unseen_label"] = sum(
                1 for e, l in zip(t["emotion_name"], t["emotion_label"]) if e and l == IGNORE
            ) + sum(1 for s, l in zip(t["strategy_name"], t["strategy_label"]) if s and l == IGNORE)
            t = t.filter(lambda r: not r, input_columns="drop_reason",
                         new_fingerprint=_fingerprint("fit", fp))
            out.tokenized[source][split] = t
    for source, splits in out.stats.items():
        for split, st in splits.items():
            log(f"[data] {source}/{split}: read {st['rows_read']} rows -> {st['examples']} examples"
                f"; skipped {st['skipped'] or '{}'}; dropped {st.get('dropped') or '{}'}")
    return out
