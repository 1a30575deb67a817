"""Crisis risk assessment of user messages and the safety check of crisis-mode replies.

`assess_risk` reads the latest user turn in the light of recent history. Each pattern
names a category; a match is discounted when negated ("I would never hurt myself"), quoted
or about media, in the past or recovered ("years ago I tried..."), figurative ("I could
die of embarrassment") or about someone else ("my friend said she wants to die"). Indirect
phrasings ("everyone would be better off without me", "giving my things away") count.
`check_crisis_reply` verifies what DESIGN.md's safety contract asks of a crisis reply.

    python main.py chat --config config/cpu_smoke.json
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# (category, pattern, needs_subject, negation_inherent)
# needs_subject: the phrase names no person, so the clause's subject decides whose risk it is.
# negation_inherent: the negation is part of the risk phrase ("don't want to live").
_P = [
    ("suicide", r"\bkill(ing)? my ?self\b", False, False),
    ("suicide", r"\b(end|ending|take|taking) my (own )?life\b", False, False),
    ("suicide", r"\bsuicid(e|al)\b", True, False),
    ("suicide", r"\b(wants?|wanted|wish|going|plan\w*|ready|need) to die\b", True, False),
    ("suicide", r"\brather be dead\b|\bbetter off dead\b|\bfeel like dying\b", True, False),
    ("suicide", r"\b(do not|don't|dont) want to (be alive|live|exist|be here)\b", True, True),
    ("suicide", r"\bend(ing)? it( all)?\b(?! with)", True, False),
    ("suicide", r"\bjump\w* off (the|a|my) (bridge|roof|building|balcony|cliff)\b", True, False),
    ("suicide", r"\bedge of the (roof|bridge|cliff|building)\b", True, False),
    ("suicide", r"^(?=.*\b(want|wish|easier|better|hope|rather|it would)\b).*\b(never|not|didn't|"
                r"wouldn't|don't) (to )?wake up\b", True, True),
    ("suicide", r"\bno (reason|point) (for me )?(to|in) (live|living|go on|going on|keep going)\b|"
                r"\b(don't|do not|can't) see the point (in|of) (going on|living|life|"
                r"being here)\b", True, True),
    ("suicide", r"\b(painless|easiest|quickest|best) way to (go|die|end it)\b|\blethal dose\b",
     True, False),
    ("suicide", r"\bhow many (of my )?(sleeping )?(pills|tablets)\b", True, False),
    ("suicide", r"\b(saving|saved|stockpil\w*|hoard\w*) (up )?(my )?(pills|medication|meds)\b|"
                r"\b(take|took|swallow) (them|the pills|all (of )?(the|my) pills) all\b|"
                r"\btake them all\b", True, False),
    ("suicide", r"\bdisappear forever\b|\bpain to stop forever\b|\bstop forever\b", True, False),
    ("suicide", r"\bbetter off without me\b|\bhappier if i (wasn't|weren't|was not|were not) "
                r"(here|around|alive)\b|\bnotice if i (was|were) gone\b", False, True),
    ("suicide", r"\b(i'll|i will) be gone\b|\bwhen i'm gone\b|\bsoon it won't matter\b",
     False, True),
    ("suicide", r"\b(a|the) burden (to|on) (everyone|anyone|my family|them|you)\b|"
                r"\bwon't be a burden\b", False, True),
    ("suicide", r"\bwon't be (around|here) (for )?(much )?(longer|anymore)\b", False, True),
    ("suicide", r"\bgiv\w* (away )?(all )?my (things|stuff|belongings|possessions)\b|"
                r"\bgiv\w* away my\b", False, False),
    ("suicide", r"\b(wrote|writing|written) (a |my )?(goodbye )?(letters?|notes?)\b.*"
                r"\b(family|just in case|goodbye|kids|parents)\b", False, False),
    ("suicide", r"\blast goodbye\b|\bsay\w* goodbye (forever|for good|to everyone)\b|"
                r"\bmade (my )?peace\b", False, False),
    ("suicide", r"\btired of (existing|living|being alive|life)\b", True, False),
    ("self-harm", r"\b(cut|cutting|burn|burning|hurt|hurting|harm|harming|hit|hitting|punish"
                  r"|punishing) my ?self\b", False, False),
    ("self-harm", r"\bself[- ]?harm\w*\b", True, False),
    ("self-harm", r"\b(make|makes|making|made) my ?self bleed\b", False, False),
    ("disordered eating", r"\b(haven't|have not|hasn't) eaten in (\w+ )?(days|weeks|a week)\b|"
                          r"\bmake my ?self (throw up|vomit|sick|purge)\b|\bpurg(e|ing)\b|"
                          r"\blaxatives\b|\bstarv\w* my ?self\b", False, False),
    ("harm to others", r"\b(kill|hurt|stab|shoot|strangle|beat up) (him|her|them|everyone|"
                       r"my (dad|mom|boss|brother|sister|ex|teacher|husband|wife)|someone|"
                       r"people)\b", False, False),
    ("harm to others", r"\bmake (them|him|her|everyone) (all )?pay\b.*\b(gun|knife|weapon)\b|"
                       r"\b(bring|bringing|take|taking) (a|my|my dad's|my \w+'s) (gun|knife|"
                       r"weapon)\b|\bwant (him|her|them) dead\b", False, False),
    ("abuse", r"\b(hits|hit|beats|beat|chokes|choked|kicks|slaps|touches|touched|forced|forces"
              r"|rapes|raped|molest\w*) me\b", False, False),
    ("abuse", r"\b(scared|afraid|terrified) to go home\b|\bthreaten\w* to (kill|hurt) me\b|"
              r"\bcomes into my room at night\b", False, False),
]
PATTERNS = [(cat, re.compile(p), subj, neg) for cat, p, subj, neg in _P]

ELEVATED = re.compile(r"\b(hopeless|worthless|can't go on|no way out|trapped|empty inside|hate my ?self|"
                      r"hate my life|nothing matters|give up on everything|want to give up)\b")
THIRD_PERSON_SELF = re.compile(r"\b(kill\w*|cut\w*|hurt\w*|harm\w*) (himself|herself|themselves)"
                               r"\b|\b(he|she|they) (wants?|said|says|is going) to die\b")
NEGATION = re.compile(r"\b(never|not|no|without|n't|wouldn't|won't|don't|didn't|isn't|"
                      r"aren't|am not)\b")
NOT_NEGATION = re.compile(r"\b(can't|cannot|couldn't) (stop|help)\b")
MEDIA = re.compile(r"\b(a|the|this|that|my|our|tv|in|about) (song|lyrics|movie|film|book|novel|show|"
                   r"series|character|game|documentary|episode|poem|article|class)\b|"
                   r"\b(prevention|lyrics)\b")
MEDICAL = re.compile(r"\b(normal|safe|recommended|usual|right|correct) (dose|dosage|amount)\b|"
                     r"\bfor (a|my|the) (headache|cold|fever|flu|back pain|toothache|period)\b")
PAST = re.compile(r"\b(used to|years ago|months ago|a (long time|while) ago|last (year|month|summer|"
                  r"winter|spring|autumn|fall)|when i was (younger|little|a (kid|teen\w*|"
                  r"child))|in the past|as a (teen\w*|kid|child)|clean for|in recovery|"
                  r"(a )?better place now|doing (much )?better now)\b")
FIGURATIVE = re.compile(r"\bdie of (embarrassment|laughter|boredom|shame|cringe)\b|\bdying to\b|"
                        r"\bto die for\b|\bkill(ed|ing)? it\b|\bkill(ing)? for\b")
FIRST = re.compile(r"\b(i|i'm|i've|i'd|i'll|me|my ?self)\b")
THIRD = re.compile(r"\b(he|she|they|he's|she's|they're|my (friend|brother|sister|mom|mother|dad"
                   r"|father|son|daughter|cousin|partner|boyfriend|girlfriend|classmate|"
                   r"roommate)|someone|people)\b")
FOLLOW_UP = re.compile(r"\b(yes|yeah|tonight|tomorrow|soon|ready|plan\w*|pills|already|"
                       r"decided|goodbye)\b")


@dataclass
class RiskAssessment:
    level: str = "none"  # none | elevated | high
    categories: list = field(default_factory=list)
    evidence: list = field(default_factory=list)  # matched spans, with why they count or not

    def to_dict(self) -> dict:
        return {"level": self.level, "categories": self.categories, "evidence": self.evidence}


def normalize(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"\bwanna\b", "want to", text)
    text = re.sub(r"\bgonna\b", "going to", text)
    text = re.sub(r"\bim\b", "i'm", text)
    return re.sub(r"\s+", " ", text).strip()


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?;])\s+|\s+but\s+", text) if s.strip()]


def _in_quotes(sentence: str, start: int) -> bool:
    return sentence[:start].count('"') % 2 == 1


def _discount(sentence: str, m: re.Match, needs_subject: bool, neg_inherent: bool) -> str | None:
    """Why a match does not count as the speaker's own, current risk (None = it counts)."""
    before = sentence[:m.start()]
    window = " ".join(re.split(r"[,:]", before)[-1].split()[-3:])  # same clause, 3 words
    if not neg_inherent and NEGATION.search(window) and not NOT_NEGATION.search(before[-25:]):
        return "negated"
    if _in_quotes(sentence, m.start()) or MEDIA.search(sentence):
        return "quoted or media"
    if FIGURATIVE.search(sentence):
        return "figurative"
    if MEDICAL.search(sentence):
        return "ordinary medical question"
    if PAST.search(sentence):
        return "past or recovered"
    if needs_subject:
        firsts = [x.end() for x in FIRST.finditer(before)]
        thirds = [x.end() for x in THIRD.finditer(before)]
        if thirds and (not firsts or max(thirds) > max(firsts)):
            return "someone else"
    return None


def _assess_text(text: str) -> RiskAssessment:
    out = RiskAssessment()
    for sentence in _sentences(normalize(text)):
        for cat, pat, subj, neg in PATTERNS:
            for m in pat.finditer(sentence):
                why = _discount(sentence, m, subj, neg)
                out.evidence.append({"span": m.group(0), "category": cat,
                                     "counts": why is None, "discount": why})
                if why is None:
                    out.level = "high"
                    if cat not in out.categories:
                        out.categories.append(cat)
                elif out.level == "none":
                    out.level = "elevated"  # talk of risk that is not current: stay gentle
        for pat in (THIRD_PERSON_SELF, ELEVATED):
            for m in pat.finditer(sentence):
                out.evidence.append({"span": m.group(0), "category": "distress", "counts": False,
                                     "discount": "elevated only"})
                if out.level == "none":
                    out.level = "elevated"
    return out


def assess_risk(messages, context_turns: int = 4) -> RiskAssessment:
    """Risk of the latest user turn (a string or chat messages), read with recent history.

    A follow-up like "yes, tonight" after an earlier high-risk turn stays high; any earlier
    high-risk turn keeps the conversation at least elevated.
    """
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    users = [m["content"] for m in messages if m.get("role") == "user"]
    if not users:
        return RiskAssessment()
    latest = _assess_text(users[-1])
    if latest.level == "high":
        return latest
    for earlier in reversed(users[-1 - context_turns:-1]):
        past = _assess_text(earlier)
        if past.level == "high":
            level = "high" if FOLLOW_UP.search(normalize(users[-1])) else "elevated"
            return RiskAssessment(level, past.categories, past.evidence + latest.evidence + [
                {"span": users[-1][:80], "category": "context", "counts": level == "high",
                 "discount": None if level == "high" else "earlier turn"}])
    return latest


# ------------------------------------------------------------------ crisis reply check
QUESTION = re.compile(r"[^.!?\n]*\?")
HELP_QUESTION = re.compile(r"\b(would|could|will|can) you\b.*\b(reach out|call|text|contact|talk to"
                           r"|tell)\b")
METHOD = re.compile(r"\b(pills?|overdose|dose|dosage|mg|milligrams?|rope|hang\w*|noose|blade|"
                    r"razor|knife|gun|firearm|bullet|bridge|jump\w*|poison|bleach|carbon "
                    r"monoxide|wrists?|lethal|painless|method|how to)\b")
HELP = re.compile(r"\b(someone you trust|a trusted|people you trust|friend|family|counsell?or|"
                  r"therapist|doctor|professional|crisis (line|text line|hotline)|hotline|"
                  r"helpline|988|911|112|999|emergency (services|room|number)|samaritans|"
                  r"lifeline|reach out)\b")
INVALIDATING = re.compile(r"\b(calm down|not that bad|overreacting|over-reacting|dramatic|cheer up|"
                          r"others have it worse|get over it|snap out of it|you shouldn't feel|"
                          r"stop feeling|all in your head|could be worse)\b")
FABRICATED = re.compile(r"\b(i remember when you|last time you (told|said)|you told me (before|"
                        r"last time|yesterday)|we talked about this (before|yesterday)|"
                        r"remember when we)\b")
ACK = re.compile(r"\b(i'm (so |really |very |truly )?sorry|that sounds|it sounds|i hear you|i can "
                 r"hear|glad you (told|shared|reached)|thank you for (telling|sharing)|that must|"
                 r"so much pain|really hard|so hard|heavy|painful|hurting)\b")

SAFE_MESSAGE = ("I'm really sorry you're going through this. It sounds incredibly painful, and "
                "I'm glad you told me. You don't have to carry this alone: please reach out right "
                "now to someone you trust, or to a crisis line or emergency services where you are.")


def check_crisis_reply(reply: str) -> dict:
    """{"ok", "problems"}: no probing question, no method or means, help encouraged,
    pain acknowledged, nothing invalidating or invented."""
    text = normalize(reply)
    problems = []
    if not text:
        problems.append("empty")
    if any(not HELP_QUESTION.search(q) for q in QUESTION.findall(text)):
        problems.append("probing_question")
    checks = [(METHOD, True, "method_or_means"), (INVALIDATING, True, "invalidating"),
              (FABRICATED, True, "fabricated_memory"), (HELP, False, "no_help_encouragement"),
              (ACK, False, "no_acknowledgement")]
    for pattern, bad_if_found, name in checks:
        if bool(pattern.search(text)) == bad_if_found:
            problems.append(name)
    return {"ok": not problems, "problems": problems}
