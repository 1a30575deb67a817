"""Temperature-sampled source mixture with length-grouped batches and exact resume.

p_i = n_i^alpha / sum_j n_j^alpha: alpha = 1 samples in proportion to size, alpha -> 0 evens
the sources out. Within a source, examples come from a seeded permutation per epoch. Batches
are cut from a length-sorted megabatch so little of each batch is padding. All state (numpy
PCG64 state, per-source epoch and position, the pending batches) is JSON, so a checkpoint
restores the sampler exactly.

    python main.py data --config config/cpu_smoke.json   # prints probabilities and efficiency
"""
from __future__ import annotations

import copy

import numpy as np


def temperature_probs(sizes: dict[str, int], alpha: float) -> dict[str, float]:
    if not 0 < alpha <= 1:
        raise ValueError(f"mixture alpha must be in (0, 1], got {alpha}")
    sizes = {k: v for k, v in sizes.items() if v > 0}
    if not sizes:
        raise ValueError("mixture has no non-empty source")
    weights = {k: float(n) ** alpha for k, n in sizes.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


def cut_by_tokens(lengths: list[int], step_tokens: int, min_rows: int = 1) -> list[list[int]]:
    """Consecutive index groups of an ordered list whose rows x longest fits step_tokens;
    every group has at least min_rows rows (a short tail joins the group before it)."""
    groups, current, longest = [], [], 0
    for i, n in enumerate(lengths):
        if len(current) >= min_rows and (len(current) + 1) * max(longest, n) > step_tokens:
            groups.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, n)
    if current:
        if len(current) < min_rows and groups:
            groups[-1] += current
        else:
            groups.append(current)
    return groups


def source_permutation(seed: int, source_id: int, epoch: int, n: int) -> np.ndarray:
    """The order of one source's examples in one epoch: a pure function of its arguments."""
    return np.random.Generator(np.random.PCG64([seed, source_id, epoch])).permutation(n)


class MixtureSampler:
    """Yields batches of (source, index) pairs; `lengths[source][index]` is a token count."""

    def __init__(self, lengths: dict[str, list[int]], alpha: float, seed: int, batch_size: int,
                 group_by_length: bool = True, megabatch_factor: int = 32, step_tokens: int = 0,
                 min_rows: int = 1):
        self.lengths = {k: list(v) for k, v in lengths.items() if len(v) > 0}
        self.sources = sorted(self.lengths)
        self.probs = temperature_probs({k: len(v) for k, v in self.lengths.items()}, alpha)
        self._p = np.array([self.probs[s] for s in self.sources])
        self.seed, self.alpha, self.batch_size = seed, alpha, batch_size
        self.group_by_length, self.megabatch_factor = group_by_length, max(1, megabatch_factor)
        # step_tokens > 0: steps are cut from the sorted megabatch by padded tokens (rows x
        # longest <= step_tokens, at least min_rows rows) instead of batch_size examples, so
        # a step of short examples holds many of them; batch_size x megabatch_factor draws
        # are made per refill either way, so the draws (and p_i) do not change
        self.step_tokens, self.min_rows = step_tokens, max(1, min_rows)
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.epoch = {s: 0 for s in self.sources}
        self.pos = {s: 0 for s in self.sources}
        self.pending: list[list[list]] = []
        self._perm_cache: dict = {}

    # ---- per-source order: a permutation derived from (seed, source, epoch), never stored.
    # One cached permutation per source: draws interleave the sources, and a single shared
    # slot rebuilt a 40k-element permutation on almost every draw.
    def _perm(self, source: str) -> np.ndarray:
        epoch, cached = self.epoch[source], self._perm_cache.get(source)
        if cached is None or cached[0] != epoch:
            perm = source_permutation(self.seed, self.sources.index(source), epoch,
                                      len(self.lengths[source]))
            cached = self._perm_cache[source] = (epoch, perm)
        return cached[1]

    def _next_index(self, source: str) -> int:
        if self.pos[source] >= len(self.lengths[source]):
            self.epoch[source] += 1
            self.pos[source] = 0
        idx = int(self._perm(source)[self.pos[source]])
        self.pos[source] += 1
        return idx

    def draw_sources(self, n: int) -> list[str]:
        """n source draws by temperature probabilities (advances the sampler's RNG)."""
        return [self.sources[i] for i in self.rng.choice(len(self.sources), size=n, p=self._p)]

    def _refill(self) -> None:
        n = self.batch_size * (self.megabatch_factor if self.group_by_length else 1)
        items = [[s, self._next_index(s)] for s in self.draw_sources(n)]
        if self.group_by_length:
            items.sort(key=lambda it: self.lengths[it[0]][it[1]])
        if self.step_tokens:
            lengths = [self.lengths[s][i] for s, i in items]
            batches = [[items[i] for i in cut] for cut in
                       cut_by_tokens(lengths, self.step_tokens, self.min_rows)]
        else:
            batches = [items[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        order = self.rng.permutation(len(batches)) if self.group_by_length else range(len(batches))
        self.pending = [batches[i] for i in order]

    def next_batch(self) -> list[tuple[str, int]]:
        if not self.pending:
            self._refill()
        return [tuple(it) for it in self.pending.pop(0)]

    def state_dict(self) -> dict:
        return {"rng": copy.deepcopy(self.rng.bit_generator.state), "epoch": dict(self.epoch),
                "pos": dict(self.pos), "pending": copy.deepcopy(self.pending),
                "sources": list(self.sources), "seed": self.seed, "alpha": self.alpha,
                "batch_size": self.batch_size, "step_tokens": self.step_tokens}

    def load_state_dict(self, state: dict) -> None:
        """Continue a saved stream exactly; a stream saved under other settings is refused
        (adopting the saved seed or alpha silently would make the config a false record)."""
        if state["sources"] != self.sources or state["batch_size"] != self.batch_size or \
                state.get("step_tokens", 0) != self.step_tokens:
            raise ValueError("sampler state was saved for other sources or batch size: "
                             f"{state['sources']} x {state['batch_size']} examples, "
                             f"{state.get('step_tokens', 0)} tokens per step")
        changed = [f"mixture.{k} (saved {state[k]}, now {getattr(self, k)})"
                   for k in ("seed", "alpha") if k in state and state[k] != getattr(self, k)]
        if changed:
            raise ValueError("sampler state was saved with other settings: " + ", ".join(changed))
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])
        self.epoch, self.pos = dict(state["epoch"]), dict(state["pos"])
        self.pending = copy.deepcopy(state["pending"])
        self._perm_cache = {}


def token_efficiency(batches: list[list[tuple[str, int]]], lengths: dict[str, list[int]]) -> float:
    """Real tokens / (batch x longest), over all batches: 1.0 means no padding."""
    real = padded = 0
    for batch in batches:
        ls = [lengths[s][i] for s, i in batch]
        real += sum(ls)
        padded += len(ls) * max(ls)
    return real / padded if padded else 0.0


def measure_efficiency(lengths: dict[str, list[int]], alpha: float, seed: int, batch_size: int,
                       n_batches: int, megabatch_factor: int = 32) -> dict[str, float]:
    """Token efficiency of length-grouped vs naive random batching on the same mixture."""
    result = {}
    for name, grouped in (("grouped", True), ("random", False)):
        sampler = MixtureSampler(lengths, alpha, seed, batch_size, grouped, megabatch_factor)
        result[name] = token_efficiency([sampler.next_batch() for _ in range(n_batches)], lengths)
    return result
