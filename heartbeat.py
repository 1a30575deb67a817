"""Keep a long step visibly alive: a side thread redraws a progress bar every few seconds
while one long call runs (a batch's prefill, a checkpoint's de-quantization), so the elapsed
time keeps moving on screen and no step of `make demo` sits silent.

    python -m scripts.longest_silence -- make demo
"""
from __future__ import annotations

import contextlib
import threading

from tqdm.auto import tqdm


class Heartbeat:
    """Redraws a progress bar every `every` seconds from a side thread while a long call runs,
    so its elapsed time keeps moving on screen: a batch's prefill shows no step for a while
    (15.9 s before the first red-team step of `make demo` on 2 cores, 2026-12-07). The bar's
    counts are untouched; a disabled bar gets no thread."""

    def __init__(self, bar, every: float = 5.0):
        self.bar, self.every, self.stop = bar, every, threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.every):
            self.bar.refresh()

    def __enter__(self):
        if not self.bar.disable:
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


@contextlib.contextmanager
def ticking(desc: str, every: float = 5.0):
    """A one-line timer for a step with no steps of its own to count ("desc: 00:05"), redrawn
    every `every` seconds until the block ends."""
    bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}")
    try:
        with Heartbeat(bar, every):
            yield bar
    finally:
        bar.close()
