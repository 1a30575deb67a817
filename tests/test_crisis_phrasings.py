"""Phrasings of the crisis screen's rules and history added on 2026-12-07 (docs/BENCHMARKS.md,
"Crisis layer v10"): chat spelling ("thinkin bout"), a wish not to live said formally, a place
as the target of a threat, and which answers calm a conversation. Our own sentences, in other
words than the rows whose misses showed the gap. Fast: the rules alone, or a stub scorer.

    python -m pytest -q tests/test_crisis_phrasings.py
"""
import pytest

from crisis import CrisisGuard
from crisis.scorer import RiskScorer
from crisis.screen import assess_risk

RULES_ONLY = CrisisGuard()


@pytest.mark.parametrize("text,high", [
    ("cant stop thinkin bout ending it tbh", True),
    ("ngl suicide soundin like the only answer left", True),
    ("After forty years of marriage and now alone, I would like to die and be done.", True),
    ("I am ninety and I no longer wish to be alive.", True),
    ("i no longer wish to live with my parents, renting is so expensive", False),
    ("I don't want to live alone after the divorce, any tips for finding a flatmate?", False),
    ("i'm going to burn down my workplace on friday, they will pay", True),
    ("my workplace is burning me out, I'm going to ask for a raise", False),
])
def test_rules_read_chat_spelling_formal_wishes_and_places(text, high):
    assert (RULES_ONLY.screen([text])[0].level == "high") is high, text


class Fixed(RiskScorer):
    """A scorer reading every conversation at `p`; thresholds 0.5 / 0.25, no veto."""

    def __init__(self, p):
        self.meta, self.high, self.elevated, self.veto, self.p = {}, 0.5, 0.25, 0.0, p

    def probabilities(self, convs):
        return [self.p for _ in convs]


def test_a_farewell_that_starts_with_i_wont_does_not_calm_the_conversation():
    """ "I won't be around ..." after a high turn is not a promise to stay safe: the scorer may
    raise it; "I won't do anything tonight" still calms it (the scorer may not)."""
    said = [{"role": "user", "content": "I want to kill myself"},
            {"role": "assistant", "content": "I'm so glad you told me. What's on your mind?"}]

    def read(latest):
        return assess_risk(said + [{"role": "user", "content": latest}], Fixed(0.9)).level
    assert read("nothing much, i won't be around to see the new year anyway") == "high"
    assert read("ok. i won't do anything tonight, i promise, my sister is coming over") == \
        "elevated"
