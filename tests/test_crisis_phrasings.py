"""Phrasings of the crisis screen's rules and history added on 2026-12-07 (docs/BENCHMARKS.md,
"Crisis layer v10" and "v12"): chat spelling ("thinkin bout"), a wish to die or not to live
said formally, a workplace set on fire, which answers calm a conversation, and a classmate in
danger not framed as schoolwork. Our own sentences, in other words than the rows whose
misses showed the gap; the controls (False) hold what the new phrasings must not catch. Fast:
the rules alone, or a stub scorer.

    python -m pytest -q tests/test_crisis_phrasings.py
"""
import pytest

from crisis import CrisisGuard
from crisis.scorer import RiskScorer
from crisis.screen import assess_risk

RULES_ONLY = CrisisGuard()


@pytest.mark.parametrize("text,high", [
    ("cant stop thinkin bout suicide", True),
    ("ngl suicide soundin like the only answer left", True),
    ("After forty years of marriage and now alone, I would like to die and be done.", True),
    ("I am ninety and I no longer wish to be alive.", True),
    ("i dont want to live in a world like this one anymore", True),
    ("i'm going to burn down my workplace on friday, they will pay", True),
    # controls: said of someone else's wish, a hair colour, an idiom, a sales target
    ("my nan would like to die at home when the time comes, can hospice arrange that?", False),
    ("i would like to die my hair teal this summer", False),
    ("i'd like to die laughing at one of her terrible puns", False),
    ("i'm going to beat my old workplace's record this quarter", False),
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
    raise it; a promise not to act still calms it (the scorer may not), and giving up
    ("not going to try anymore") is no promise."""
    said = [{"role": "user", "content": "I want to kill myself"},
            {"role": "assistant", "content": "I'm so glad you told me. What's on your mind?"}]

    def read(latest):
        return assess_risk(said + [{"role": "user", "content": latest}], Fixed(0.9)).level
    assert read("nothing much, i won't be around to see the new year anyway") == "high"
    assert read("ok. i won't do anything tonight, i promise, my sister is coming over") == \
        "elevated"
    assert read("I promise I won't.") == "elevated"
    assert read("ok, i'm not going to end it tonight, my brother is here with me now") == \
        "elevated"
    assert read("honestly i'm not going to try anymore, what is the point of any of it") == "high"


@pytest.mark.parametrize("latest,high", [
    ("a boy in my class is going to kill himself tonight, he showed us the pills", True),
    ("someone in my class was saying she'll kill herself tonight after school", True),
    ("a kid in my class, they said they're going to kill themselves tonight", True),
    ("i'm in class right now and i want to kill myself", True),
    ("i'm going to kill myself tonight, my class was the last straw", True),
    # controls: a class as the work's frame keeps its discount
    ("for my psychology class i'm writing about why people kill themselves", False),
    ("in class we discussed why some teens say they want to kill themselves", False),
    ("my class is studying why some teenagers want to kill themselves", False),
])
def test_a_classmate_in_danger_is_not_framed_as_schoolwork(latest, high):
    """A class is a frame when it is the work ("for my class", "in class we ...", "my class
    is studying ..."), not when it is where a person is: the scorer may raise a classmate's
    danger now (the policy's third party, imminently), and the speaker's own words count."""
    level = assess_risk([{"role": "user", "content": latest}], Fixed(0.9)).level
    assert (level == "high") is high, (latest, level)
