"""The crisis message screen: rules for explicit signals, a learned scorer for the rest, history.

`assess_risk(messages, scorer)` reads the latest user turn with its recent history and returns a
level (none | elevated | high), the categories and the evidence (every rule hit, counted or
discounted and why, and the scorer's probability). High in three ways:
- a rule hit on the latest turn counts (crisis/rules.py: explicit signals, discounts scoped to
  their clause), unless the scorer vetoes it: its probability under `rule_veto_below`, chosen
  on dev below every high row the rules read right (then elevated), for a hit whose every
  category those dev rows carry;
- the learned scorer's probability reaches its threshold and no discount blocks it
  (`scorer_may_raise`);
- a short answer follows a high-risk turn (earlier turns are read by the rules unvetoed, and
  by the scorer: the history stays on the safe side).
The scorer is passed in (None: the rules alone); crisis/guard.py
holds the loaded one. The labelling policy is docs/CRISIS_POLICY.md. A screen, not a clinical
instrument.

    python -m crisis.eval
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from crisis.rules import FIGURATIVE, FRAME, JOKING, normalize, rule_hits

ELEVATED = re.compile(r"\b(hopeless|worthless|can't go on|no way out|trapped|empty inside|"
                      r"hate my ?self|hate my life|nothing matters|give up on everything|want to "
                      r"give up|can't do this anymore|falling apart)\b")
SHORT_ANSWER = 8  # words: a reply this short is read with the turns before it
# a safety question a friend asks, and the short answers that mean yes: general phrasings only
SAFETY_QUESTION = re.compile(r"\bare you safe\b|\b(have|got) a plan\b|\b(thinking|thoughts)\b"
                             r".{0,12}\b(suicide|killing|ending|hurting|hurt) ?(yourself|your "
                             r"life|it)?\b|\b(want|wanting|plan\w*|going|thinking of|about) to "
                             r"(hurt|harm|kill|end)\b|\bis it happening now\b|\bdo you mean\b"
                             r".{0,20}\b(die|dying|suicide|kill|end|hurt)\w*\b")
NOT_SAFE = re.compile(r"^(no|nope|not really|not sure|i don't know|i'm not|not at all|no i'm "
                      r"not)\b")
DEESCALATING = re.compile(r"\b(thanks|thank you|better|helped|calmer|i'm (ok|okay|fine|safe)|"
                          r"(not going to|i won't) (do (it|anything)|hurt|try (it|again|anything)|"
                          r"act on|kill|end|go through)|i won't(?=[.!]*$)|won't do (it|anything)|"
                          r"just (kidding|joking)|feel(ing)? (a bit )?better|"
                          r"here with me)\b")
AFFIRM = re.compile(r"^(yes|yeah|yep|yup|ya|i do|maybe|kind of|sort of|probably|i think so|"
                    r"tonight|soon|always)\b")


@dataclass
class RiskAssessment:
    level: str = "none"  # none | elevated | high
    categories: list = field(default_factory=list)
    evidence: list = field(default_factory=list)  # rule hits with why they count or not
    score: float | None = None  # the learned scorer's probability of high, when it ran

    def to_dict(self) -> dict:
        return {"level": self.level, "categories": self.categories, "evidence": self.evidence,
                "score": self.score}


def _rules_level(text: str) -> RiskAssessment:
    hits = rule_hits(text)
    out = RiskAssessment(evidence=[{k: h[k] for k in ("span", "category", "counts", "discount")}
                                   for h in hits])
    for h in hits:
        if h["counts"]:
            out.level = "high"
            if h["category"] not in out.categories:
                out.categories.append(h["category"])
    if out.level == "none" and (hits or ELEVATED.search(normalize(text))):
        out.level = "elevated"  # talk of risk that is not current: stay gentle
    return out


def _history(messages: list[dict], context_turns: int, scorer) -> RiskAssessment | None:
    """Risk carried by the turns before the latest: an earlier user turn read as high (rules,
    or the scorer on the conversation up to it), or an answer to a safety question."""
    users = [k for k, m in enumerate(messages) if m.get("role") == "user"]
    for k in reversed(users[-1 - context_turns:-1]):
        past = _rules_level(messages[k]["content"])
        if past.level != "high" and scorer is not None and \
                scorer.probabilities([messages[:k + 1]])[0] >= scorer.high:
            past = RiskAssessment("high", ["learned"], past.evidence)
        if past.level == "high":
            return past
    prev = messages[users[-1] - 1] if users[-1] > 0 else {}
    answer = normalize(messages[users[-1]]["content"])
    if prev.get("role") == "assistant" and SAFETY_QUESTION.search(normalize(prev["content"])):
        safe_q = "are you safe" in normalize(prev["content"])
        if (NOT_SAFE if safe_q else AFFIRM).search(answer):
            return RiskAssessment("high", ["answer to a safety question"], [])
    return None


def scorer_may_raise(rules: RiskAssessment, latest: str) -> bool:
    """Whether the scorer may make `latest` high, given what the rules found in it. A rule
    hit's discount (negated, past, figurative, framed, laughing) is final: the scorer completes
    the rules where they are silent, not where they judged; so is the history's reading of a
    calming answer. "Someone else" (a third person's risk, told in the present) is not: the
    rules cannot tell worry about a friend from a friend in danger now, which is high (the
    policy's third party, imminently), and the scorer is trained on both; words said to the
    listener ("if you ever want to die, my DMs are open") stay final. Framing words with no
    rule hit ("lol", "in my novel" around a sentence no rule reads) and the context entry of
    an earlier turn read high do not block the scorer: both did until 2026-12-07, and on dev
    and on the guard splits the scorer then lost more crisis messages than the blocks saved
    false alarms (docs/BENCHMARKS.md, "Crisis layer v8"). Still blocking, as before: the
    earlier turn's own discounted rule hits, which the history carries in the evidence, and,
    in a third person's case, a framing word anywhere in the latest message. A 0.99 bar for
    overruling the others, kept while the scorer was logistic regression, is out of reach of
    the fine-tuned one, whose probabilities stay below ~0.96."""
    if any(e["discount"] == "de-escalated" for e in rules.evidence):
        return False  # the answer after a high turn calms it ("thanks, that helped"): final too
    hits = [e for e in rules.evidence if e["discount"] != "earlier turn"]
    text = normalize(latest)
    framed = FIGURATIVE.search(text) or FRAME.search(text) or JOKING.search(text)
    if any(e["discount"] == "someone else" for e in hits) and not framed:
        return True  # "I'd never hurt myself, but my sister ...": her danger is the question
    return not (hits and not any(e["counts"] for e in hits))


def assess_many(conversations: list, scorer=None, context_turns: int = 4) -> list[RiskAssessment]:
    """assess_risk for many conversations, the scorer's encoder run once over all of them."""
    convs = [[{"role": "user", "content": c}] if isinstance(c, str) else c for c in conversations]
    scores = scorer.probabilities(convs) if scorer is not None else [None] * len(convs)
    return [assess_risk(c, scorer, context_turns, score=p) for c, p in zip(convs, scores)]


def vetoable(categories: list[str], calibrated) -> bool:
    """The scorer may veto a rule hit only when every category of it was calibrated on dev
    (None: any): an uncalibrated hit alone stays high, and a second signal must not lower it."""
    return calibrated is None or set(categories) <= set(calibrated)


def assess_risk(messages, scorer=None, context_turns: int = 4,
                score: float | None = None) -> RiskAssessment:
    """Risk of the latest user turn (a string or chat messages), read with recent history.
    `scorer`: a RiskScorer, or None (the rules alone); `score`: its probability for these
    messages when already computed (assess_many)."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    users = [m["content"] for m in messages if m.get("role") == "user"]
    if not users:
        return RiskAssessment()
    out = _rules_level(users[-1])
    if scorer is not None:
        out.score = round(score if score is not None else scorer.probabilities([messages])[0], 4)
        if out.level == "high" and out.score < min(scorer.veto, scorer.high) and \
                vetoable(out.categories, getattr(scorer, "veto_categories", None)):
            out.level = "elevated"  # the scorer is sure it is no current risk: gentle, not crisis
            out.evidence.append({"span": users[-1][:80], "category": "learned", "counts": False,
                                 "discount": "scorer veto"})
    if out.level != "high" and len(users) > 1:
        earlier = _history(messages, context_turns, scorer)
        if earlier is not None:
            latest = normalize(users[-1])
            calmer = DEESCALATING.search(latest)
            short = len(latest.split()) <= SHORT_ANSWER and not calmer
            why = None if short else "de-escalated" if calmer else "earlier turn"
            out = RiskAssessment("high" if short else "elevated", earlier.categories,
                                 earlier.evidence + out.evidence + [
                                     {"span": users[-1][:80], "category": "context",
                                      "counts": short, "discount": why}], out.score)
    if scorer is not None:
        if out.score >= scorer.high and out.level != "high" and scorer_may_raise(out, users[-1]):
            out.level = "high"
            out.categories = out.categories or ["learned"]
        elif out.score >= scorer.elevated and out.level == "none":
            out.level = "elevated"
    return out
