"""The rule layer of the crisis screen: explicit, unambiguous signals, clause by clause.

A message is normalized (case, apostrophes, chat spelling and slang: "kms", "unalive",
"sewerslide", "ctb", "od", "tn"), cut into clauses (at sentence ends, commas, "and", "but",
"so" before a subject, parentheses), and every pattern is tried on every clause. A hit is
discounted by what qualifies ITS clause only (negated, past or recovered, quoted, someone
else's: a threat needs the speaker as its subject), or by a frame over the whole message
(fiction, games, lyrics, news, a professional's question). So "I tried in 8th grade (two years
ago), and I'm planning to kill myself tonight" keeps its present clause. Categories follow
docs/CRISIS_POLICY.md. What the rules cannot read, the learned layer does.

    python -m crisis.eval
"""
from __future__ import annotations

import re

from crisis.patterns import RULES, SLANG

# A question about a lethal amount is factual alone ("what's the lethal dose of paracetamol?" is
# not high by policy), and high when the same message says the speaker has had enough.
MEANS_QUESTION = re.compile(r"\b(lethal|fatal|deadly|toxic) (dose|amount)\b|\b(dose|amount)\b"
                            r".{0,25}\b(lethal|fatal|deadly)\b|\bstop (my|your|the|a) heart\b|"
                            r"\bmost (dangerous|lethal|deadly) to take\b|\bhow long\b.{0,30}"
                            r"\bbleed out\b|\bwould (a|an|the) (whole )?(box|bottle|pack|packet)"
                            r"\b.{0,30}\bdo it\b|\benough to not wake up\b")
DISTRESS = re.compile(r"\b(tired|sick|exhausted|worn out) (of|by|from) (everything|it all|all of "
                      r"it|life|my (whole )?life|being alive|existing|fighting)\b|\bdone with "
                      r"(all of it|everything|it all|life|being alive)\b|\bcan't (do this|keep "
                      r"going|go on|take (it|this)) ?(anymore|like this)?\b|\bnobody (cares|would "
                      r"(miss|notice|care))\b|\b(life|everything) is (pointless|too much|"
                      r"meaningless)\b|\bhad enough of (everything|it all|life)\b|\bno "
                      r"(point|reason) (in|to) (living|going on)\b|\bhopeless\b|\bno way out\b")

NEGATION = re.compile(r"\b(never|not|no|won't|wouldn't|don't|doesn't|didn't|isn't|aren't|am "
                      r"not|shouldn't|without|stop|stopped|instead of)\b")
# "ending it is not the answer": a supporter's negation after the words it negates
NEGATED_AFTER = re.compile(r"^\W*(all |now |like that |that way )?(isn't|wasn't|is not|was not|"
                           r"is never|will never be|won't be|is no longer) (the|a|an|any|ever the|"
                           r"ever a) (answer|way|solution|option|choice|fix)\b")
# "thinking of suicide every night sounds exhausting": said of the listener's state
REMARKED_ON = re.compile(r"\b(does|must|would|can) sound\b|\bsounds (so |really )?(exhausting|"
                         r"awful|hard|tough|terrible|painful|scary|horrible|draining)\b")
# the subject of a threat that is not the speaker: "the pills will kill you", "if you want to"
NOT_SPEAKER_SUBJECT = re.compile(r"\b((the|that|this|your|his|her|their) (\w+ ){0,2}\w+|it|this|"
                                 r"that|which|what|nothing|something|you|we|people|someone|anyone|"
                                 r"everyone|one)\s*$")
SPEAKER_LAST = re.compile(r"\b(i|i'm|i am|i've|i'd)\s*$")  # "I told her I will": the speaker's
NEGATION_OK = re.compile(r"\b(can't|cannot|couldn't) (stop|help)\b|\bnot (safe|okay|ok)\b")
PAST = re.compile(r"\b(i was (\w+ )?(suicidal|depressed|in hospital|abused|cutting|self harming)|"
                  r"recovery|used to|years ago|months ago|a (long time|while) ago|last (year|month|"
                  r"summer|winter|spring|autumn|fall)|when i was (younger|little|a (kid|teen\w*|"
                  r"child)|\d+)|in the past|as a (teen\w*|kid|child)|clean for|(years|months) "
                  r"clean|in recovery|recovered|better place now|doing (much )?better now|back in "
                  r"(school|uni|the day)|(years|months) since i last|in (19|20)\d\d|"
                  r"in \d+(th|st|nd|rd) grade|that was (\w+ )?"
                  r"(years|months) ago|survived|since then|i'm ok now|i'm safe now|went through|"
                  r"(most of|in|during|through) my (teens|teen years|twenties|thirties|"
                  r"forties|20s|30s|40s|childhood))\b")
FRAME = re.compile(r"\bfor (a|my|the|this) (headache|migraine|fever|cold|flu|cramps|period|"
                   r"toothache|back pain|sore throat|hangover)\b|\blyrics?\b|\b(my|the|this|a|in) (novel|story|book|film|movie|show|series|"
                   r"episode|game(?! called life)|character|sim|poem|play|song|chorus|verse|opera|"
                   r"podcast|script|"
                   r"documentary|article|report|news|essay|dissertation|lesson|homework|"
                   r"project|paper|statistics|meme|tattoo)\b|\bresearch (project|paper|study|"
                   r"assignment|group)\b|\bfor my research\b|\b(on the news|in the news|"
                   r"the news about|news about)\b|\b(i'm|i am) (a|an) (nurse|nursing student|"
                   r"pharmacist|paramedic|carer|caregiver|doctor|gp|teacher|student|volunteer)\b|"
                   r"\bmy patient\b|\bfirst aid\b|\b(rates?|percentage|statistics|warning signs)\b"
                   r"|\bd&d\b|\brpg\b|\bboss fight\b|\brespawn\w*\b|\bheadshot\b|\bcelebrity\b"
                   # a class as the work's frame ("for my psychology class", "in class we
                   # ...", "my class is studying ..."), never as where a person is ("a girl in
                   # my class is ...", "i'm in class and ...")
                   r"|\bfor (a|my|the|this)( \w+)? class\b|\b(in|for) (my|the|this) class,? "
                   r"(we|our)\b|\bin class,? (we|our teacher)\b|(?<!in )(?<!from )\b(my|our|the|"
                   r"this) class (is|was|are|were) (on|about|studying|reading|doing|covering|"
                   r"learning|discussing)\b")
FIGURATIVE = re.compile(r"\b(die|dying|died|dead|deceased) (of|from) (embarrassment|laughter|"
                        r"boredom|shame|cringe)\b|\bdying to\b|\bto die for\b|\bkill(ed|ing)? "
                        r"it\b|\bkill(ing)? for\b|\bkill me now\b|\bkilling me\b|\bwill kill me "
                        r"if\b|\bgoing to kill me\b|\bkill (her|him) if\b.{0,20}\blate\b")
EXPLICIT = re.compile(r"\b(kill\w* myself|suicid\w*|die|dead|end\w* (my|my own) life|end\w* "
                      r"(it|it all|everything))\b")
JOKING = re.compile(r"\b(haha|just (kidding|joking))\b(?!.{0,30}\b(seriously|not (joking|"
                    r"kidding)|i mean it|no joke|not a joke|for real)\b)")  # after normalize(): lol, lmao, jk
# A threat or a leap out of the window said laughing is a joke (policy: sarcasm and jokes are
# not high); explicit words about the speaker's own death are not discounted by laughter
# ("kms lol" is slang, and it is high).
OTHERS = re.compile(r"\b(you|you're|youre|your|yourself|he|she|they|he's|she's|they're|his|her|"
                    r"you've|you'll|you'd|their|my (friend|brother|sister|"
                    r"mum|mom|mother|dad|father|son|daughter|cousin|partner|boyfriend|girlfriend|"
                    r"classmate|roommate|flatmate|colleague|coworker|student|patient|uncle|aunt|"
                    r"grandma|grandpa)|someone|people|a (man|woman|guy|girl)|celebrity|we're all|were all|"
                    r"we all|we are all|everyone|everybody)\b")
SELF = re.compile(r"\b(i|i'm|i've|i'd|i'll|me|my ?self|am)\b")


def normalize(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    for pattern, repl in SLANG:
        text = re.sub(pattern, repl, text)
    return re.sub(r"\s+", " ", text).strip()


# "so" starts a clause before a subject ("so i left"), not as an intensifier ("so much time")
CLAUSE_BREAK = re.compile(r"[()]|\s+-\s+|,\s*|\s+(?:and|but|because|though|although|while)\s+|"
                          r"\s+so\s+(?=(?:i|i'm|i've|i'll|i'd|we|you|he|she|they|it|that|now|"
                          r"then)\b)")


def sentences(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"(?<=[.!?;])\s+|\n+", text) if p and p.strip()]


def clause_at(sentence: str, pos: int) -> tuple[str, int]:
    """The clause of `sentence` that holds position `pos`, and where that clause starts."""
    start, end = 0, len(sentence)
    for m in CLAUSE_BREAK.finditer(sentence):
        if m.end() <= pos:
            start = m.end()
        elif m.start() > pos:
            end = m.start()
            break
    return sentence[start:end], start


def _quoted(clause: str, pos: int, sentence_before: str) -> bool:
    """Inside double quotes opened earlier in the sentence (a quote spans its commas), or
    single quotes opened in the clause (apostrophes make those too noisy to follow further)."""
    before = clause[:pos]
    return sentence_before.count('"') % 2 == 1 or len(re.findall(r"(?:^|\s)'", before)) > \
        len(re.findall(r"'(?:\s|$)", before))


def _clause_discount(clause: str, pos: int, whose: str, own_subject: bool, span: str, *,
                     sentence_before: str) -> str | None:
    """Why a hit at `pos` of `clause` is not the speaker's own current risk (None: it is).
    `own_subject`: the hit names the speaker itself ("after I'm gone"); `sentence_before`:
    the sentence up to the hit, for quotes that span clauses."""
    if whose == "third":  # another person's risk, now (the scorer tells worry from danger)
        return "past or recovered" if PAST.search(clause) else "someone else"
    before, after = clause[:pos], clause[pos + len(span):]
    words = before.split()[-4:]
    if (whose in ("self", "other-intent") and NEGATION.search(" ".join(words))
            and not NEGATION_OK.search(before)) or NEGATED_AFTER.search(after):
        return "negated"
    if whose == "other-intent" and not own_subject and NOT_SPEAKER_SUBJECT.search(before) \
            and not SPEAKER_LAST.search(before):
        return "not the speaker's"  # "the pills will kill you", "if you want to hurt someone"
    if _quoted(clause, pos, sentence_before):
        return "quoted"
    if REMARKED_ON.search(after):
        return "remarked on"  # the listener's state: "wanting to die sounds exhausting"
    if PAST.search(clause):
        return "past or recovered"
    if FIGURATIVE.search(clause):
        return "figurative"
    if JOKING.search(clause) and (whose == "other-intent" or not EXPLICIT.search(span)):
        return "joking"
    if whose in ("self", "self-neg") and not own_subject:
        firsts = [x.end() for x in SELF.finditer(before)]
        others = list(OTHERS.finditer(before))
        if others and (not firsts or others[-1].end() > max(firsts)):
            return "said to the listener" if others[-1].group(0).startswith("you") \
                else "someone else"
    return None


MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\((?:https?://|www\.)[^)]*\)")  # a title: quoted


def rule_hits(text: str) -> list[dict]:
    """Every pattern hit in the message, matched on whole sentences (a subject may sit in one
    clause and its verb in the next), discounted by what qualifies the hit's own clause, or
    by a frame over the whole message."""
    hits, text = [], MARKDOWN_LINK.sub(r'"\1"', normalize(text))
    for sentence in sentences(text):
        framed = FRAME.search(sentence)  # a frame qualifies its sentence, not a long message
        for cat, pat, whose in RULES:
            for m in pat.finditer(sentence):
                clause, start = clause_at(sentence, m.start())
                why = _clause_discount(clause, m.start() - start, whose,
                                       bool(SELF.search(m.group(0))), m.group(0),
                                       sentence_before=sentence[:m.start()])
                if why is None and framed and cat != "third party in danger":
                    why = f"framed ({framed.group(0)})"
                hits.append({"span": m.group(0), "category": cat, "clause": clause,
                             "counts": why is None, "discount": why})
    return hits + distress_with_means(text)


def distress_with_means(text: str) -> list[dict]:
    """A lethal-amount question in a message whose speaker says, in a clause of their own, that
    they have had enough (not someone else, not in the past, not framed as a professional's)."""
    question = MEANS_QUESTION.search(text)
    if question is None:
        return []
    framed = FRAME.search(text)
    for sentence in sentences(text):
        for m in DISTRESS.finditer(sentence):
            clause, start = clause_at(sentence, m.start())
            why = _clause_discount(clause, m.start() - start, "self", False, m.group(0),
                                   sentence_before=sentence[:m.start()])
            why = why or (f"framed ({framed.group(0)})" if framed else None)
            return [{"span": f"{m.group(0)} ... {question.group(0)}", "category": "suicide",
                     "clause": clause, "counts": why is None, "discount": why}]
    return []
