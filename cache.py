"""Build-once on-disk caches: a folder is built in a temporary sibling and renamed into place.

A crash mid-build leaves no half folder; two processes racing both build, one rename wins.
Used for the de-quantized SmolLM2 and the rebuilt Qwen2.5 tokenizer under artifacts/cache/.

    python main.py data --config config/cpu_smoke.json
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable


def build_once(target: str, marker: str, build: Callable[[str], None]) -> str:
    """Return `target`, first calling build(tmp_dir) if `target/marker` does not exist yet."""
    if os.path.isfile(os.path.join(target, marker)):
        return target
    parent = os.path.dirname(target) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}-", dir=parent)
    try:
        build(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a cache folder is not
        os.replace(tmp, target)
    except OSError:
        if not os.path.isfile(os.path.join(target, marker)):  # lost a race: the winner's is fine
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
