"""Temperature mixture: frequencies, determinism, exact resume, length grouping."""
import json

import numpy as np
import pytest

from mixture import MixtureSampler, measure_efficiency, temperature_probs

SIZES = {"ed": 4000, "esconv": 900, "goemotions": 100}


def _lengths(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: list(rng.integers(20, 400, size=n)) for k, n in sizes.items()}


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.1])
def test_source_frequencies_match_temperature_probabilities(alpha):
    s = MixtureSampler(_lengths(SIZES), alpha, seed=3, batch_size=8)
    draws = s.draw_sources(20000)
    total = sum(n ** alpha for n in SIZES.values())
    for src, n in SIZES.items():
        expected = n ** alpha / total
        assert abs(draws.count(src) / 20000 - expected) < 0.01
        assert abs(s.probs[src] - expected) < 1e-12


def test_alpha_outside_range_is_refused():
    with pytest.raises(ValueError):
        temperature_probs(SIZES, 0.0)


def test_same_seed_same_sequence_and_different_seed_differs():
    a = MixtureSampler(_lengths(SIZES), 0.5, seed=11, batch_size=8)
    b = MixtureSampler(_lengths(SIZES), 0.5, seed=11, batch_size=8)
    c = MixtureSampler(_lengths(SIZES), 0.5, seed=12, batch_size=8)
    seq_a = [a.next_batch() for _ in range(50)]
    assert seq_a == [b.next_batch() for _ in range(50)]
    assert seq_a != [c.next_batch() for _ in range(50)]


@pytest.mark.parametrize("k", [1, 7, 33, 300])
def test_restored_state_continues_exactly(k):
    lengths = _lengths(SIZES)
    straight = MixtureSampler(lengths, 0.5, seed=5, batch_size=8, megabatch_factor=4)
    expected = [straight.next_batch() for _ in range(k + 40)][k:]
    first = MixtureSampler(lengths, 0.5, seed=5, batch_size=8, megabatch_factor=4)
    for _ in range(k):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))  # must survive a JSON round trip
    resumed = MixtureSampler(lengths, 0.5, seed=5, batch_size=8, megabatch_factor=4)
    resumed.load_state_dict(state)
    assert [resumed.next_batch() for _ in range(40)] == expected


def test_every_example_is_seen_once_per_epoch():
    lengths = {"only": list(range(10, 90))}
    s = MixtureSampler(lengths, 1.0, seed=1, batch_size=8, megabatch_factor=10)
    seen = [i for _ in range(10) for _, i in s.next_batch()]
    assert sorted(seen) == list(range(80))


def test_length_grouping_beats_random_batching_on_padding():
    eff = measure_efficiency(_lengths(SIZES), 0.5, seed=2, batch_size=8, n_batches=300)
    assert eff["grouped"] >= 0.9 > eff["random"]


def test_refill_builds_one_permutation_per_source_not_per_draw(monkeypatch):
    sizes = {"ed": 40000, "esconv": 14000, "goemotions": 36000}
    s = MixtureSampler(_lengths(sizes), 0.5, seed=1, batch_size=16, megabatch_factor=32)
    import mixture
    built = []
    real = mixture.source_permutation
    monkeypatch.setattr(mixture, "source_permutation",
                        lambda seed, sid, epoch, n: built.append(n) or real(seed, sid, epoch, n))
    s.next_batch()  # one 512-draw refill over three interleaved sources
    assert sorted(built) == [14000, 36000, 40000]


@pytest.mark.parametrize("key,value", [("seed", 4), ("alpha", 0.3)])
def test_resuming_a_sampler_under_another_seed_or_alpha_is_refused(key, value):
    lengths = _lengths(SIZES)
    saved = MixtureSampler(lengths, 0.5, seed=3, batch_size=8)
    saved.next_batch()
    kwargs = {"alpha": 0.5, "seed": 3, key: value}
    other = MixtureSampler(lengths, kwargs["alpha"], kwargs["seed"], batch_size=8)
    with pytest.raises(ValueError, match=f"mixture.{key}"):
        other.load_state_dict(json.loads(json.dumps(saved.state_dict())))


def test_token_steps_fit_their_budget_and_keep_the_source_frequencies():
    lengths = _lengths(SIZES)
    s = MixtureSampler(lengths, 0.5, seed=5, batch_size=16, step_tokens=2000, min_rows=2)
    counts, n = {k: 0 for k in SIZES}, 0
    for _ in range(400):
        step = s.next_batch()
        longest = max(lengths[src][i] for src, i in step)
        assert len(step) >= 2 and (len(step) * longest <= 2000 or len(step) == 2)
        for src, _ in step:
            counts[src] += 1
            n += 1
    for src in SIZES:
        assert abs(counts[src] / n - s.probs[src]) < 0.02
    assert len({len(s.next_batch()) for _ in range(50)}) > 5  # short steps hold more rows
