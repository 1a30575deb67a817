"""Mixture-sampler refill cost with several large sources: per-source permutation cache vs
the single shared slot it replaced, side by side on the same draws.

With sources of 40k, 14k and 36k examples, one refill (batch 16 x megabatch 32 = 512 draws)
interleaves the sources; a single cache slot rebuilt a whole permutation whenever the source
changed. Prints the median refill time of each and their ratio.

    python -m scripts.bench_sampler
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from mixture import MixtureSampler, source_permutation


class SingleSlotSampler(MixtureSampler):
    """The earlier cache (one slot for all sources), kept here only to measure against."""

    def _perm(self, source: str) -> np.ndarray:
        key = (source, self.epoch[source])
        if self._perm_cache.get("key") != key:
            self._perm_cache = {"key": key, "perm": source_permutation(
                self.seed, self.sources.index(source), self.epoch[source],
                len(self.lengths[source]))}
        return self._perm_cache["perm"]


def refill_times(cls, lengths: dict, refills: int) -> list[float]:
    sampler = cls(lengths, 0.5, 1, 16, True, 32)
    out = []
    for _ in range(refills):
        t0 = time.perf_counter()
        sampler._refill()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--refills", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    sizes = {"ed": 40000, "esconv": 14000, "goemotions": 36000}
    lengths = {k: rng.integers(20, 400, size=n).tolist() for k, n in sizes.items()}
    times = {"per-source cache": [], "single shared slot": []}
    for _ in range(2):  # alternate so drift hits both alike
        times["per-source cache"] += refill_times(MixtureSampler, lengths, args.refills)
        times["single shared slot"] += refill_times(SingleSlotSampler, lengths, args.refills)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; sources {sizes}; "
          f"512 draws per refill; {2 * args.refills} refills each")
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:<20} median refill {v:8.2f} ms")
    print(f"single slot / per-source = {med['single shared slot'] / med['per-source cache']:.1f}x")


if __name__ == "__main__":
    main()
