"""Files and paths: atomic writes, JSONL reading, and the one rule for "local path or hub id".

Every file the toolkit writes goes through `write_text_atomic` (a temporary sibling renamed
into place), so a crash never leaves half a config, log, marker, export or report.

    python main.py pipeline --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def write_text_atomic(path: str, text: str) -> None:
    """Write `text` to `path` through `<path>.tmp-<pid>` and a rename."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json_atomic(path: str, obj, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, default=str))


def write_jsonl_atomic(path: str, rows: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False, default=float) + "\n"
                                    for r in rows))


def read_jsonl(path: str, bad: list | None = None) -> list[dict]:
    """Rows of a JSONL file ([] when it does not exist). A line that is not a JSON object
    (a torn last line after a kill, stray bytes) is skipped; its number goes into `bad`."""
    if not os.path.isfile(path):
        return []
    rows = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                row = None
            if isinstance(row, dict):
                rows.append(row)
            elif bad is not None:
                bad.append(n)
    return rows


def read_json(path: str, default=None):
    """A JSON file's value (`default` when the file does not exist); the file is closed."""
    if not os.path.isfile(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def fingerprint(*parts, files: tuple = (), length: int = 16) -> str:
    """The one hash the toolkit keys caches, markers and provenance by: JSON values (keys
    sorted; one value is hashed as itself, several as a list) and the bytes of `files`."""
    value = parts[0] if len(parts) == 1 else parts
    h = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode())
    for path in files:
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:length]


def is_hub_id(name: str) -> bool:
    """True for "owner/name" that is not an existing local path: the one rule the data
    sources, the models and the EQ-Bench questions all use. Anything that starts like a path
    (/, ., ~), has more than one slash, or exists on disk is local."""
    if name.startswith(("/", ".", "~")) or os.path.exists(os.path.expanduser(name)):
        return False
    if os.path.splitext(name)[1].lower() in (".json", ".jsonl", ".csv", ".parquet", ".txt"):
        return False  # a file name, not a repository
    return bool(HUB_ID.match(name))


def hub_unreachable() -> str:
    """Why the hub cannot be reached right now ('' when it can): offline mode, or no answer
    from huggingface.co within 3 s, so a missing local path fails at once."""
    if any(os.environ.get(v, "").lower() in ("1", "true", "yes")
           for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return "offline mode is set"
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return ""
    except OSError:
        return "the hub (huggingface.co) cannot be reached"
