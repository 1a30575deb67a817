"""The patterns of the crisis screen's rule layer: chat spelling and slang, and the explicit
signals per category (docs/CRISIS_POLICY.md), each with whose risk it names. risk_rules.py
cuts a message into clauses, tries these on it and discounts what is not the speaker's own
current risk.

    python scripts/eval_risk.py
"""
from __future__ import annotations

import re

SLANG = [  # (pattern, replacement), applied in order after lowercasing
    (r"\bkms\b", "kill myself"), (r"\bkys\b", "kill yourself"),
    (r"\bunaliving (my ?self|me)\b", "killing myself"),
    (r"\bunalive (my ?self|me)\b", "kill myself"), (r"\bunalive\b", "kill myself"),
    (r"\bunaliving\b", "killing myself"), (r"\byeet(ing)? my ?self\b", "jump"),
    (r"\bsewer ?slide\b", "suicide"),
    (r"\bs[u*]ic[i*]de\b", "suicide"), (r"\bctb\b|\bcatch(ing)? the bus\b", "kill myself"),
    (r"\bo\.?d\b|\bod'?(ing|ed|'d)?\b", "overdose"), (r"\b(tn|2nite|tonite)\b", "tonight"),
    (r"\brn\b", "right now"), (r"\bwanna\b", "want to"), (r"\bgonna\b", "going to"),
    (r"\btryna\b", "trying to"), (r"\bgotta\b", "have to"), (r"\bim\b", "i'm"),
    (r"\bive\b", "i've"), (r"\bill\b(?= (be|do|end|kill|never))", "i'll"),
    (r"\bdont\b", "don't"), (r"\bcant\b", "can't"), (r"\bwont\b", "won't"),
    (r"\bdidnt\b", "didn't"), (r"\b(does|is|was|have|has|would|could|should|are|were)nt\b",
                             r"\1n't"), (r"\byou(ve|ll|d)\b", r"you'\1"), (r"\btheyre\b", "they're"),
    (r"\bu\b", "you"), (r"\bur\b", "your"), (r"\babt\b", "about"),
    (r"\bmyslef\b|\bmyelf\b", "myself"), (r"\bsh'?d\b", "self harmed"),
    (r"\b(lol|lmao|lmfao|rofl|ha(ha)+h?|he(he)+|jk)\b|\U0001F602|\U0001F923", " haha "),
    (r"\b(fr|fr fr|no cap|lowkey|highkey|srsly|tbh|ngl|idk)\b", " "),
]
FILLER = r"(?:\s+(?:fucking|fuckin|freaking|bloody|really|just|actually|honestly|so|even|seriously|literally|fully|truly|totally|kinda|kind of|sort of|gonna|going to|finally)\b)*"
F = FILLER  # a gap that tolerates filler words between the words of a pattern
I = r"\b(i|i'm|i've|i'll|i'd|me|myself|my)\b"

# (category, pattern, whose): whose = "self" (the speaker's own risk: discounted when the
# clause is about someone else), "other" (names its target: abuse, danger to a third party).
_RULES = [
    # --- suicide: intent, ideation, wishes
    ("suicide", r"\bkill(ing)?" + F + r" my ?self\b", "self"),
    ("suicide", r"\b(end|ending|take|taking|finish|finishing)" + F + r" my (own )?life\b|"
                r"\b(want|need) (my life|it|everything) to be over\b|\bbeing alive (feels like|"
                r"is) a mistake\b", "self"),
    ("suicide", r"\b(i'm|i am|i feel|feeling|i've been|been|i get|getting|so|very|really|"
                r"actively|always)" + F + r" suicidal\b|\b(thinking|thoughts|think)\b.{0,12}\b"
                r"(about|of) (suicide|killing myself|ending (it|my life))\b|\bsuicide (is|feels"
                r" like|seems like|would be) the (only|best (way|option|answer|choice))\b|"
                r"\bsuicidal again\b|\b(my|i have|i've had|i get|i'm having|i keep having|been "
                r"having|struggling with) suicidal thoughts\b|\bsuicidal thoughts (again|are "
                r"back|keep|won't|are getting)\b", "self"),
    # a bare "suicidal thoughts lie to you" is a supporter's generality, not an owner's risk
    ("suicide", r"\b(want|going|plan\w*|ready|decided|need|trying) (to )?(commit )?suicide\b|"
                r"\babout to (commit )?suicide\b", "self"),
    ("suicide", r"\b(want|wants|wanted|wish|going|plan\w*|ready|need|deserve|decided|about)"
                r"( to)?" + F + r" (to )?die\b", "self"),
    ("suicide", r"\b(rather|better off|wish i (was|were)|want to be|wish i was|better i am|"
                r"better if i (was|were|am))( be)?" + F + r" dead\b", "self"),
    ("suicide", r"\b(hope|hoping|wish|wishing|pray|praying)\b.{0,35}\b(hits? me|kills? me|"
                r"crash(es)?|(plane|flight) (goes|go|going) down|i die|i'm dead|i was dead|"
                r"not wake|don't wake|won't wake|never wake|"
                r"wasn't alive|weren't alive|was never born|hadn't been born)\b|\bif i (died|"
                r"was dead|were dead) (tomorrow|today|tonight)\b.{0,25}\bmind\b|\b(wouldn't|would "
                r"not|won't|don't) (even )?(care|mind)\b.{0,12}\bif\b.{0,30}\b(crash\w*|i died|i "
                r"die|i was dead|hit me|killed me|didn't wake|never woke|sank)\b|\b(imagin\w*|"
                r"picturing|dream\w* (about|of)|plann?\w*) my (own )?funeral\b", "self-neg"),
    ("suicide", r"\b(can't|cannot|don't|do not) see (the point|a future|any future|a way)\b"
                r"(?! (of|in|to|with) (?!(living|life|being|going on|anything|it all|trying|"
                r"existing|myself|me)\b))|\bfuture "
                r"where i'm (still )?(here|alive)\b", "self-neg"),
    ("suicide", r"\bif i (just )?(wasn't|weren't|was not|were not|am not|disappeared|"
                r"wasn't in it)\b.{0,25}\b(here|alive|around|existing|in it|for good|forever)?"
                r".{0,30}\b(better|easier|simpler|happier)\b|\b(better|easier|simpler|"
                r"happier)\b.{0,40}\bif i (just )?(wasn't|weren't|was not|were not|am not|"
                r"disappeared|didn't exist)\b|\bnot existing\b", "self-neg"),
    ("suicide", r"\b(don't|do not|dont|no longer|not|am not) (really )?(want|wanting) (to )?"
                r"(be alive|live|exist|be here|wake up|live more)\b|\bnot want to live\b|"
                r"\bnot want live\b|\bwish(ing)? i (wasn't|weren't|was not) alive\b", "self-neg"),
    # "in the end, it ..." and a question put to someone else ("why end it?") are not intent
    ("suicide", r"(?<!\bthe )(?<!\bwhy )\bend (it|it all|everything|things)\b(?! with)|"
                r"\bending (it|it all|everything)\b", "self"),
    ("suicide", r"\b(sleep|go to sleep|close my eyes)\b.{0,25}\b(never|not|and not) wake( up)?\b|"
                r"\b(hope|pray|wish)\w*( that)? i (just )?(don't|won't|do not|never) wake up\b|"
                r"\bsleep forever\b|\bnot wake\b", "self-neg"),
    ("suicide", r"\bno (reason|point|meaning)\b.{0,25}\b(live|living|go on|going on|keep going|"
                r"being here|be here|here anymore)\b|\b(see|is) the point of (living|being "
                r"alive|being here)\b|\bwhat's (even )?the point of living\b|\blife is no "
                r"meaning\b", "self-neg"),
    ("suicide", r"\bbetter off without me\b|\b(happier|better|easier)\b.{0,30}\bwithout me\b|"
                r"\bnotice if i (was|were) gone\b|\b(be|been) better (for everyone|for "
                r"everybody)? if i\b", "self"),
    ("suicide", r"\b(i'm|i am|such) a burden\b|\bburden (to|on) (everyone|everybody|my family|"
                r"them|you)\b", "self"),
    ("suicide", r"\b(disappear|be gone)\b.{0,12}\b(forever|for good|from this world)\b|"
                r"\bstop existing\b|\b(tired|sick) of (existing|living|being alive|life)\b|"
                r"\bwaiting to die\b|\bwaiting for (my life|it all|everything) to (be over|end)\b|"
                r"\b(don't|do not|doesn't) want to exist\b|\bdisappeared for "
                r"good\b|\bwant disappear\b", "self-neg"),
    ("suicide", r"\b(won't|will not|not going to) be (here|around|alive)\b.{0,20}"
                r"(tomorrow|much longer|anymore|next week|for long)|\bwhen i'm gone\b|"
                r"\bafter i'm gone\b|\bi'm not coming back\b|\bmy last (night|message)\b|"
                r"\bmy last day (on earth|alive|of my life)\b|\b(last|final) (time|night)\b"
                r".{0,40}\b(goodbye|alive|hug)|\bit's the last time\b", "self"),
    ("suicide", r"\b(checking|check) out (early|for good|a bit early)\b|\blogging off for good\b|"
                r"\b(6|six) feet under\b|\bready to rope\b|\bdon't hear from me again\b|"
                r"\btell (my \w+|them|everyone|her|him) (that )?i loved\b", "self"),
    ("suicide", r"\b(goodbye|good bye)\b(?! (cards?|party|gifts?|presents?|drinks|lunch)\b)"
                r".{0,40}\b(forever|for good|i mean it|last|don't look|"
                r"this time|i'm sorry|loved)\b|\bthis is goodbye\b|\bsaid (all )?my goodbyes\b|"
                r"\bsay(ing)? goodbye (to everyone|forever)\b|\bdon't (look|come looking) for me\b|"
                r"\b(want|wanted|need|needed) to say "
                r"goodbye\b(?!.{0,40}\b(before|trip|flight|move|moving|leave|leaving|holiday|"
                r"vacation|party|class|team)\b)", "self"),
    ("suicide", r"\b(wrote|write|writing|written|left)\b.{0,30}\b(note|notes|letters?)\b.{0,40}"
                r"\b(for|to) (my|whoever|everyone|the people|after)|\b(goodbye|suicide) "
                r"(note|letter)s?\b|\bletters? (for|to) my (mum|mom|kids|family|sister|brother)"
                r"\b.{0,25}\b(just in case|after|for when)", "self"),
    ("suicide", r"\b(giv\w*|gave) (away )?(all |most )?(of )?my (things|stuff|belongings|"
                r"possessions|books|cat|dog|guitar)\b|\bwon't need (them|it|my)\b|\bsold most of "
                r"my stuff\b|\bmade (my )?peace\b|\bupdated my will\b|\bfor after i'm gone\b|"
                r"\bwhere i'm going\b", "self"),
    ("suicide", r"\b(take|took|swallow\w*) them all\b|\btake (them|the pills|all (of )?(the|my) "
                r"pills) all\b|\b(pain|it|everything) to stop forever\b|\bstop forever\b|"
                r"\b(i'll|i will) be gone\b|\bsoon it won't matter\b|\bwon't be a burden\b.{0,30}"
                r"\b(longer|anymore|soon)\b|\bwon't be (around|here) (for )?(much )?(longer|"
                r"anymore)\b|\blast goodbye\b|\bedge of the (roof|bridge|cliff|building)\b|"
                r"\b(didn't|did not|don't|do not|never) wake up (tomorrow|again)\b|\bletting "
                r"go\b.{0,20}\b(for good|forever|of life)\b", "self-neg"),
    ("disordered eating", r"\b(haven't|have not|hasn't|not) eaten in (\w+ )?(days|weeks|a week)\b|"
                          r"\bmake my ?self (throw up|vomit|sick|purge)\b|\bpurg(e|ing)\b|"
                          r"\blaxatives\b|\bstarv\w* my ?self\b|\bthrow up after (every|each)\b",
     "self"),
    ("self-harm", r"\b(cutting|cut|hurting|hurt|harming|burning|killing|kill)\w* (himself|herself|"
                  r"themselves)\b|\b(he|she|they) (wants?|said|says|is going) to die\b", "third"),
    # --- means and plans
    ("suicide", r"\b(saving|saved|stockpil\w*|hoard\w*|collect\w*|counted|lined up|enough)\b"
                r".{0,25}\b(pills|tablets|meds|medication|medicine|paracetamol|tylenol|insulin|"
                r"antidepressants)\b|\b(pills|tablets|meds)\b.{0,20}\b(counted|lined up|ready|"
                r"next to me|enough)\b", "self"),
    ("suicide", r"\bhow (many|much)\b.{0,40}\b(take|would it take|enough|to not wake|to die|"
                r"to kill|to end|lethal|kill someone)\b|\b(lethal|fatal|deadly) dose of my\b|"
                r"\bmost lethal\b|\bbleed out\b|\bhow (high|tall|far)\b.{0,70}\b(survive|die|"
                r"kill|fatal|lethal)\b|\b(don't|not|wouldn't|won't|never) survive (the|a) fall\b|"
                r"\b(painless|quickest|easiest|best) way to (go|"
                r"die|end it)\b", "self"),
    ("suicide", r"\b(rope|noose)\b.{0,30}\b(bought|tied|ready|hang|beam|wardrobe|neck|where to "
                r"tie)\b|\b(bought|got|tied|have|has)\b.{0,10}\b(a |the )?(rope|noose)\b|\bhow high (it|the "
                r"(roof|bridge|building))\b", "self"),
    ("suicide", r"\b(going to|want to|trying to|plan\w* to|about to|will|ready to)\b.{0,10}"
                r"\b(overdose|take an overdose|jump)\b", "self"),
    ("suicide", r"\b(gun|rifle|pistol)\b.{0,25}\b(in my (room|hand|car)|right now|ready|loaded)"
                r"\b|\b(my dad's|my father's|my uncle's) gun\b|\bgetting a gun\b|\bbuying a gun\b|"
                r"\btrouble (getting|buying) a gun\b", "self"),
    ("suicide", r"\b(which|the) bridge i'm going to\b|\b(stood|standing|sat|sitting|waiting)\b.{0,30}"
                r"\b(edge|ledge|tracks|platform|bridge|roof|cliff)\b|\b(jump|jumping)\b.{0,25}"
                r"\b(bridge|roof|balcony|building|cliff|train|ledge|off)\b|\b(drive|driving) "
                r"(it )?(into|off)\b|\bengine running\b|\b(express|train) to come\b|\bin front of "
                r"a train\b|\b(take|taking) a long walk off a short (bridge|pier|cliff)\b", "self"),
    ("suicide", r"\b(razor|razors|blade|blades|knife)\b.{0,25}\b(next to me|in my hand|bought|"
                r"not for shaving|ready)\b|\b(bought|got)\b.{0,15}\b(razor|razors|blades?)\b", "self"),
    ("suicide", r"\bmy plan is\b|\ba plan (to|for) (kill|end|die|suicide)|\bworked out (how|"
                r"exactly how)\b|\b(the date|a date)\b.{0,15}\bthat's when\b|"
                r"\bi've decided (i'm|to) (going to )?(end|die|kill|do it|go through|stop "
                r"living|not (be here|live|wake))\b|\btonight's the night\b|\bi'm ready to go\b|"
                r"\bi'm planning to go\b|\bi (will|am going to) finish my life\b|\bi will end "
                r"today\b|\bmany (pills|medicine|medicines)\b.{0,20}\b(for die|for finish|enough)\b|"
                r"\bwhen i die\b.{0,40}\b(want to|going to) do it\b|\bif (this|it|that|the pills) "
                r"(doesn't|does not|won't|don't) work\b.{0,25}\b(rope|gun|bridge|train|jump|pills|"
                r"overdose)\b|\b(suffice|enough|make sure|ensure)\b.{0,20}\bnot (wake|waking) up\b|"
                r"\bdeath is the only (thing|way|option|answer|escape|solution|way out)\b", "self"),
    # --- an attempt under way
    ("suicide", r"\b(took|taken|swallowed|drank|injected|overdosed|took an overdose)\b(.{0,35}"
                r"\b(pills|tablets|bottle|prescription|handful|antidepressants|paracetamol|"
                r"sleeping pills|bleach|poison|way more than usual|overdose)|.{0,12}\b(everything|"
                r"all of them|all|them|a lot))\b", "self"),
    ("suicide", r"\bpills are (starting|kicking)|\bstarting to kick in\b|\bit's too late\b|"
                r"\b(rope|noose) is around my neck\b|\bi'm (on|at) the (bridge|roof|ledge|edge|"
                r"train station|tracks)\b|\bon the edge of the (roof|bridge|building)\b|\bi "
                r"jumped\b|\bcut my wrists\b|\bslit my wrists\b", "self"),
    # --- self-harm
    ("self-harm", r"\b(cut|cutting|burn|burning|burned|burnt|hurt|hurting|harm|harming|hit|"
                  r"hitting|punish|punishing|scratch|scratching|starve|starving|carve|carved)"
                  + F + r" my ?self\b", "self"),
    ("self-harm", r"\b(i|i've|i'm|been|keep|started|relapsed on|again)\b.{0,12}\bself[- ]?"
                  r"harm\w*\b|\bself[- ]?harm\w* (again|tonight|today)\b", "self"),
    ("self-harm", r"\buntil (it bleeds|i bleed|it bled)\b|\bcovered in cuts\b|\bhiding (them|"
                  r"the cuts|my arms) under\b|\bcut my (hand|arm|leg) again\b|\bwant cut\b",
     "self"),
    ("self-harm", r"\b(make|makes|making|made) my ?self bleed\b", "self"),
    ("self-harm", r"\b(i'm|i am|i've been|been|started|keep|still|again)\b.{0,15}\bcutting\b"
                  r"(?! (out|down|back|up|off|sugar|carbs|meat|alcohol|caffeine|coffee|class|"
                  r"classes|school|ties|corners|costs|hair|my (hair|fringe|bangs|nails)|the|a|an|"
                  r"some|onions|vegetables)\b)|"
                  r"\b(urge|want|need|trying not)\b.{0,15}\b(to )?(cut|hurt myself|burn myself)\b|"
                  r"\bcut (deeper|deep|again|my (arm|arms|leg|legs|thighs|wrist|wrists))\b|"
                  r"\bcuts?\b.{0,20}\b(arms|thighs|legs)\b|\b(hurt|cut|burn\w*|hit|injur\w*|"
                  r"scratch\w*|bruis\w*)\b.{0,20}\bon purpose\b", "self"),
    ("self-harm", r"\bcarved\b.{0,30}\binto my\b|\bdrank bleach\b|\bburn(ing|ed|t|s)? (my|myself)\b"
                  r".{0,25}\b(lighter|iron|cigarettes?|hot water|matches|a match|candle)\b|"
                  r"\b(lighter|hot water)\b.{0,30}"
                  r"\b(arm|hand|skin)\b", "self"),
    # --- harm to others
    ("harm to others", r"\b(going to|will|i'll|want|wants|plan\w* to|about to|swear i'll|"
                       r"thinking about|keep planning|thought about|sometimes i want to)\b( to)?"
                       r".{0,20}\b(kill|murder|stab|shoot|strangle|poison|beat|hurt|attack|"
                       r"push(?!\w* (that|this|it|things|stuff|my|your|those|these)\b)|run(?= (\w+ )?(over|"
                       r"down|off))|burn|set fire to|blow up|shake)\w*\b.{0,12}\b(him|her|them|"
                       r"you|my (\w+ )?(husband|wife|boyfriend|girlfriend|partner|ex|boss|"
                       r"teacher|neighbour|neighbor|roommate|flatmate|kids?|son|daughter|baby|"
                       r"newborn|dad|mum|mom|father|mother|brother|sister|stepdad|friend|"
                       r"coworker|colleague|family|classmates?)|his|everyone|people|someone|the "
                       r"(kids|school|office|building|class|guy|man|woman|new)|kids|children|"
                       r"baby|newborn|school|office|work|house|building|boss|stepdad|roommate's|"
                       r"wife|husband|ex|mum|mom|dad|brother|sister)\b", "other-intent"),
    ("harm to others", r"\bshoot(ing)? up (my|the) (school|work|office)\b|\b(bring|bringing)\b"
                       r".{0,15}\b(knife|gun|rifle|weapon)\b.{0,15}\b(to|work|school)\b|\bmake "
                       r"(them|him|her|everyone) (all )?pay\b|\bi'd kill him\b|\bi'll kill\b|"
                       r"\bknife ready\b", "other-intent"),
    # --- abuse of the user, or of a child in their care
    ("abuse", r"(\b(he|she|they|my (\w+ )?(husband|wife|boyfriend|girlfriend|partner|fiance|ex|"
              r"dad|father|mum|mom|mother|stepdad|step dad|stepmom|step mum|uncle|brother|cousin|"
              r"grandpa|grandad|coach|babysitter|foster dad|parents?)|(mum|mom)'s boyfriend)|"
              r"(^|[,;:] )(dad|mum|mom|father|mother|stepdad|stepmom))\b"
              r".{0,25}\b(hits?|hitting|beats?|beat|beating|chokes?|choked|strangled?|kicks?|"
              r"kicked|slaps?|slapped|punch(es|ed)?|pushed|burns?|burned|touch(es|ed)?|"
              r"rapes?|raped|molest\w*|threaten\w*|locks?|locked|hurts?|hurting|shakes?|"
              r"broke|throws?|tracks?|screams? and throws)\b( \w+)?( (me|my|us|her|him|them|the "
              r"baby|things)\b|\b(when|if|every|until))|\b(he|she|they|my \w+)\b.{0,25}\bforc(e|es|"
              r"ed|ing) (me|us|her|him)\b (to (have sex|do (sexual|things|stuff)|touch|watch|sleep "
              r"with)|into (sex|bed))", "other"),
    ("abuse", r"\b(scared|afraid|terrified) (to go|of going) home\b|\bcomes into my room at "
              r"night\b|\bdoes (stuff|things) to me\b|\bmakes? me do things\b|\bwon't let me "
              r"leave\b|\b(it's|its|it is|this is|that's|keep it|keeps it) (our|a) (little )?"
              r"secret\b|\bour (little )?secret\b|\bno one will believe me\b|\bwithout food\b|"
              r"\bdoesn't feed me\b|\bhiding\b.{0,30}\b(angry|from him|from her)\b|\bkill me if\b|"
              r"\bhurts? me when\b|\btouch me bad\b|\b(he|she)('ll| will| said| says)\b.{0,25}"
              r"\b(use the knife|use a knife|kill me|hurt me|hurt the kids|make me pay)\b|"
              r"\bthreaten\w* to hurt\b", "other"),
    # --- a third party in imminent danger
    ("third party in danger", r"\b(my|a|her|his) (\w+ )?(friend|brother|sister|mum|mom|mother|"
                              r"dad|father|son|daughter|partner|boyfriend|girlfriend|husband|"
                              r"wife|roommate|flatmate|cousin|classmate|neighbour|neighbor)\b"
                              r"(?:(?!\b(?:i|i'm|i'll|i've)\b).){0,45}\b((took|taken|swallowed|"
                              r"drank)\b.{0,30}\b(pills|tablets|meds|medication|medicine|bottle|"
                              r"handful|overdose|poison|bleach|antifreeze|paracetamol|tylenol|"
                              r"insulin|own life)|overdosed|slit|cut (his|"
                              r"her|their) wrists|on the (roof|bridge|ledge)|going to (jump|"
                              r"kill|shoot|attack)|has (a |the )?(gun|knife|rope)|goodbye "
                              r"(text|message|note|letter|post|video|email)|(sent|texted|posted|"
                              r"wrote|left)\b.{0,25}\bgoodbye|said goodbye (to everyone|forever|"
                              r"for good)|suicide note|locked (himself|herself)|barely breathing|"
                              r"not breathing|can't wake (him|her|them)|threatening to (shoot|kill)|sitting on the "
                              r"ledge|brought a gun|holding .{0,15}pills|rope ready|hitting my "
                              r"(mum|mom|mother)|drinks? poison|drink poison|drinking poison)\b|"
                              r"\b(she|he|they)( just)? (took|swallowed|drank) (all |a lot of |a "
                              r"handful of )?(her|his|their) (pills|tablets|meds)\b|"
                              r"\b(she|he)('ll| will| is going to| says she'll| says he'll) kill "
                              r"(her|his|the) (kids|children|baby)\b|\b(cutting|hurting|burning|"
                              r"harming|killing|stabbing) (himself|herself|themselves)\b.{0,40}\b("
                              r"right now|as we speak|on (facetime|the phone|a call|video|camera)|"
                              r"so much blood|won't stop bleeding)\b|\b(himself|herself|"
                              r"themselves)\b.{0,40}\b(won't "
                              r"stop|so much blood|going pale|bleeding (badly|a lot|everywhere))"
                              r"\b|\b(so much blood|going pale)\b.{0,40}\b(himself|herself|"
                              r"themselves)\b", "other"),
]
RULES = [(cat, re.compile(p), whose) for cat, p, whose in _RULES]
