"""The patterns of the crisis screen's rule layer: chat spelling and slang, and the explicit
signals per category (docs/CRISIS_POLICY.md), each with whose risk it names. crisis/rules.py
cuts a message into clauses, tries these on it and discounts what is not the speaker's own
current risk.

    python -m crisis.eval
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
    (r"\btryna\b", "trying to"), (r"\bbout\b(?! of)", "about"),
    (r"\b(look|think|feel|go|seem|sound|plann|want|talk|kill|end|hurt|cutt)in\b", r"\1ing"),
    (r"\bgotta\b", "have to"), (r"\bim\b", "i'm"),
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
    ("suicide", r"\b(end|ending|take|taking|finish|finishing)" + F + r" my (own )?life\b|\b(want|"
                r"need) (my life|it|everything) to be over\b", "self"),
    ("suicide", r"\b(i'm|i am|i feel|feeling|i've been|been|i get|getting|so|very|really|actively|"
                r"always)" + F + r" suicidal\b|\b(thinking|thoughts|think)\b.{0,12}\b(about|"
                r"of) (suicide|killing myself|ending (it|my life))\b|\bsuicide (is|feels like|"
                r"seems like|would be) the (only|best (way|option|answer|choice))\b|"
                r"\b(?<!about )suicide('s| is)? (looking|sounding|seems|seeming|feels|feeling) "
                r"(so |really |pretty |real |kinda |kind of |more and more )?(good|better|nice|"
                r"tempting|appealing|like (an|the) (only )?(option|answer|way out))\b|"
                r"\bsuicidal again\b|\b(my|i have|i've had|i get|i'm having|i keep having|"
                r"been having|struggling with) suicidal thoughts\b|\bsuicidal thoughts (again|"
                r"are back|keep|won't|are getting)\b", "self"),
    # a bare "suicidal thoughts lie to you" is a supporter's generality, not an owner's risk
    ("suicide", r"\b(want|going|plan\w*|ready|decided|need|trying) (to )?(go |commit )?suicide\b|"
                r"\babout to (commit )?suicide\b", "self"),
    ("suicide", r"\b(want|wants|wanted|wish|going|plan\w*|ready|need|deserve|decided|about|"
                r"i would like|i'd like)( to)?" + F +
                r" (to )?die\b(?! (laughing|my hair|her hair|his hair))", "self"),
    ("suicide", r"\b(rather|better off|wish i (was|were)|want to be|wish i was|better i am|"
                r"better if i (was|were|am))( be)?" + F + r" dead\b", "self"),
    ("suicide", r"\b(hope|hoping|wish|wishing|pray|praying)\b.{0,35}\b(hits? me|kills? me|"
                r"crash(es)?|(plane|flight) (goes|go|going) down|i die|i'm dead|i was dead|"
                r"not wake|don't wake|won't wake|never wake|wasn't alive|weren't alive|"
                r"was never born|hadn't been born)\b|\bif i (died|was dead|were dead) (tomorrow|"
                r"today|tonight)\b.{0,25}\bmind\b|\b(wouldn't|would not|won't|"
                r"don't) (even )?(care|mind)\b.{0,12}\bif\b.{0,30}\b(crash\w*|i died|i die|"
                r"i was dead|hit me|killed me|didn't wake|never woke|sank)\b|\b(imagin\w*|"
                r"picturing|dream\w* (about|of)|plann?\w*) my (own )?funeral\b", "self-neg"),
    ("suicide", r"\b(can't|cannot|don't|do not) see (the point|a future|any future|"
                r"a way)\b(?! (of|in|to|with) (?!(living|life|being|going on|anything|it all|"
                r"trying|existing|myself|me)\b))", "self-neg"),
    ("suicide", r"\bif i (just )?(wasn't|weren't|was not|were not|am not|disappeared|"
                r"wasn't in it)\b.{0,25}\b(here|alive|around|existing|in it|for good|"
                r"forever)?.{0,30}\b(better|easier|simpler|happier)\b|\b(better|easier|simpler|"
                r"happier)\b.{0,40}\bif i (just )?(wasn't|weren't|was not|were not|am not|"
                r"disappeared|didn't exist)\b|\bnot existing\b", "self-neg"),
    ("suicide", r"\b(don't|do not|dont|no longer|not|am not) (really )?(want|"
                r"wanting|wish|wishing) (to )?(be alive|live|exist|be here|wake up|live more)\b|"
                r"\bnot want to live\b|\bwish(ing)? i (wasn't|weren't|was not) alive\b", "self-neg"),
    # "in the end, it ..." and a question put to someone else ("why end it?") are not intent
    ("suicide", r"(?<!\bthe )(?<!\bwhy )\bend (it|it all|everything|things)\b(?! with)|"
                r"\bending (it|it all|everything)\b", "self"),
    ("suicide", r"\b(sleep|go to sleep|close my eyes)\b.{0,25}\b(never|not|and not) wake( up)?\b|"
                r"\b(hope|pray|wish)\w*( that)? i (just )?(don't|won't|do not|never) wake up\b|"
                r"\bsleep forever\b|\bnot wake\b", "self-neg"),
    ("suicide", r"\bno (reason|point|meaning)\b.{0,25}\b(live|living|go on|going on|keep going|"
                r"being here|be here|here anymore)\b|\b(see|is) the point of (living|being alive|"
                r"being here)\b|\bwhat's (even )?the point of living\b", "self-neg"),
    ("suicide", r"\bbetter off without me\b|\b(happier|better|easier)\b.{0,30}\bwithout me\b|"
                r"\bnotice if i (was|were) gone\b|\b(be|been) better (for everyone|"
                r"for everybody)? if i\b", "self"),
    ("suicide", r"\b(i'm|i am|such) a burden\b|\bburden (to|on) (everyone|everybody|my family|"
                r"them|you)\b", "self"),
    ("suicide", r"\b(disappear|be gone)\b.{0,12}\b(forever|for good|from this world)\b|"
                r"\bstop existing\b|\b(tired|sick) of (existing|living|being alive|life)\b|"
                r"\bwaiting to die\b|\bwaiting for (my life|it all|everything) to (be over|end)\b|"
                r"\b(don't|do not|doesn't) want to exist\b|\bdisappeared for good\b", "self-neg"),
    ("suicide", r"\b(won't|will not|not going to) be (here|around|alive)\b.{0,20}(tomorrow|"
                r"much longer|anymore|next week|for long)|\bafter i'm gone\b|\bmy last (night|"
                r"message)\b|\bmy last day (on earth|alive|of my life)\b|\b(last|final) (time|"
                r"night)\b.{0,40}\b(goodbye|alive|hug)", "self"),
    ("suicide", r"\blogging off for good\b|\bready to rope\b|\bdon't hear from me again\b|"
                r"\btell (my \w+|them|everyone|her|him) (that )?i loved\b", "self"),
    ("suicide", r"\b(goodbye|good bye)\b(?! (cards?|party|gifts?|presents?|drinks|"
                r"lunch)\b).{0,40}\b(forever|for good|i mean it|last|don't look|this time|"
                r"i'm sorry|loved)\b|\bthis is goodbye\b|\bsaid (all )?my goodbyes\b|"
                r"\bsay(ing)? goodbye (to everyone|forever)\b|\bdon't (look|"
                r"come looking) for me\b|\b(want|wanted|need|"
                r"needed) to say goodbye\b(?!.{0,40}\b(before|trip|flight|move|moving|leave|"
                r"leaving|holiday|vacation|party|class|team)\b)", "self"),
    ("suicide", r"\b(wrote|write|writing|written|left)\b.{0,30}\b(note|notes|"
                r"letters?)\b.{0,40}\b(for|to) (my|whoever|everyone|the people|after)|\b(goodbye|"
                r"suicide) (note|letter)s?\b|\bletters? (for|to) my (mum|mom|kids|family|sister|"
                r"brother)\b.{0,25}\b(just in case|after|for when)", "self"),
    ("suicide", r"\b(giv\w*|gave) (away )?(all |most )?(of )?my (things|stuff|belongings|"
                r"possessions|books|cat|dog|guitar)\b|\bwon't need (them|it|my)\b|"
                r"\bfor after i'm gone\b|\bwhere i'm going\b", "self"),
    ("suicide", r"\b(take|took|swallow\w*) them all\b|\btake (them|the pills|all (of )?(the|"
                r"my) pills) all\b|\b(pain|it|everything) to stop forever\b|\bstop forever\b|"
                r"\b(i'll|i will) be gone\b|\bsoon it won't matter\b|"
                r"\bwon't be a burden\b.{0,30}\b(longer|anymore|soon)\b|\bwon't be (around|"
                r"here) (for )?(much )?(longer|anymore)\b|\blast goodbye\b|\bedge of the (roof|"
                r"bridge|cliff|building)\b|\b(didn't|did not|don't|do not|"
                r"never) wake up (tomorrow|again)\b|\bletting go\b.{0,20}\b(for good|forever|"
                r"of life)\b", "self-neg"),
    ("disordered eating", r"\b(haven't|have not|hasn't|not) eaten in (\w+ )?(days|weeks|a week)\b|"
                          r"\bmake my ?self (throw up|vomit|sick|purge)\b|\bpurg(e|ing)\b|"
                          r"\blaxatives\b|\bstarv\w* my ?self\b|\bthrow up after (every|each)\b",
     "self"),
    ("self-harm", r"\b(cutting|cut|hurting|hurt|harming|burning|killing|kill)\w* (himself|herself|"
                  r"themselves)\b|\b(he|she|they) (wants?|said|says|is going) to die\b", "third"),
    # --- means and plans
    ("suicide", r"\b(saving|saved|stockpil\w*|hoard\w*|collect\w*|counted|lined up|"
                r"enough)\b.{0,25}\b(pills|tablets|meds|medication|medicine|paracetamol|tylenol|"
                r"insulin|antidepressants)\b|\b(pills|tablets|meds)\b.{0,20}\b(counted|lined up|"
                r"ready|next to me|enough)\b", "self"),
    ("suicide", r"\bhow (many|much)\b.{0,40}\b(take|would it take|enough|to not wake|to die|"
                r"to kill|to end|lethal|kill someone)\b|\b(lethal|fatal|deadly) dose of my\b|"
                r"\bmost lethal\b|\bbleed out\b|\bhow (high|tall|far)\b.{0,70}\b(survive|die|kill|"
                r"fatal|lethal)\b|\b(don't|not|wouldn't|won't|never) survive (the|a) fall\b|"
                r"\b(painless|quickest|easiest|best) way to (go|die|end it)\b", "self"),
    ("suicide", r"\b(rope|noose)\b.{0,30}\b(bought|tied|ready|hang|beam|wardrobe|neck|"
                r"where to tie)\b|\b(bought|got|tied|have|has)\b.{0,10}\b(a |the )?(rope|noose)\b|"
                r"\bhow high (it|the (roof|bridge|building))\b", "self"),
    ("suicide", r"\b(going to|want to|trying to|plan\w* to|about to|will|"
                r"ready to)\b.{0,10}\b(overdose|take an overdose|jump)\b", "self"),
    ("suicide", r"\b(gun|rifle|pistol)\b.{0,25}\b(in my (room|hand|car)|right now|ready|loaded)\b|"
                r"\b(my dad's|my father's|my uncle's) gun\b", "self"),
    ("suicide", r"\b(stood|standing|sat|sitting|waiting)\b.{0,30}\b(edge|ledge|tracks|platform|"
                r"bridge|roof|cliff)\b|\b(jump|jumping)\b.{0,25}\b(bridge|roof|balcony|building|"
                r"cliff|train|ledge|off)\b|\b(drive|driving) (it )?(into|off)\b|"
                r"\bengine running\b|\bin front of a train\b|\b(take|"
                r"taking) a long walk off a short (bridge|pier|cliff)\b", "self"),
    ("suicide", r"\b(razor|razors|blade|blades|knife)\b.{0,25}\b(next to me|in my hand|bought|"
                r"not for shaving|ready)\b|\b(bought|got)\b.{0,15}\b(razor|razors|blades?)\b", "self"),
    ("suicide", r"\ba plan (to|for) (kill|end|die|suicide)|\bworked out (how|exactly how)\b|"
                r"\b(the date|a date)\b.{0,15}\bthat's when\b|\bi've decided (i'm|"
                r"to) (going to )?(end|die|kill|do it|go through|stop living|not (be here|live|"
                r"wake))\b|\bi (will|am going to) finish my life\b|\bmany (pills|medicine|"
                r"medicines)\b.{0,20}\b(for die|for finish|enough)\b|\bif (this|it|that|"
                r"the pills) (doesn't|does not|won't|don't) work\b.{0,25}\b(rope|gun|bridge|train|"
                r"jump|pills|overdose)\b|\benough\b.{0,30}\b(never|not|won't|don't) (wake|"
                r"waking) up\b|\bdeath is the only (thing|way|option|answer|escape|solution|"
                r"way out)\b", "self"),
    # --- an attempt under way
    ("suicide", r"\b(took|taken|swallowed|drank|injected|overdosed|"
                r"took an overdose)\b(.{0,35}\b(pills|tablets|bottle|prescription|handful|"
                r"antidepressants|paracetamol|sleeping pills|bleach|poison|way more than usual|"
                r"overdose)|.{0,12}\b(everything|all of them|all|them|a lot(?! of (time|effort|"
                r"courage|work|therapy|practice|patience|energy|years|guts)\b)))\b", "self"),
    ("suicide", r"\bpills are (starting|kicking)|\bstarting to kick in\b|\bit's too late\b|"
                r"\b(rope|noose) is around my neck\b|\bi'm (on|at) the (bridge|roof|ledge|edge|"
                r"train station|tracks)\b|\bon the edge of the (roof|bridge|building)\b|"
                r"\bcut my wrists\b|\bslit my wrists\b", "self"),
    # --- self-harm
    ("self-harm", r"\b(cut|cutting|burn|burning|burned|burnt|hurt|hurting|harm|harming|hit|"
                  r"hitting|punish|punishing|scratch|scratching|starve|starving|carve|carved)"
                  + F + r" my ?self\b", "self"),
    ("self-harm", r"\b(i|i've|i'm|been|keep|started|relapsed on|"
                  r"again)\b.{0,12}\bself[- ]?harm\w*\b|\bself[- ]?harm\w* (again|tonight|today)\b", "self"),
    ("self-harm", r"\buntil (it bleeds|i bleed|it bled)\b",
     "self"),
    ("self-harm", r"\b(make|makes|making|made) my ?self bleed\b", "self"),
    ("self-harm", r"\b(i'm|i am|i've been|been|started|keep|still|"
                  r"again|relapsed)\b.{0,15}\bcutting\b(?! (out|down|back|up|off|sugar|carbs|meat|alcohol|"
                  r"caffeine|coffee|class|classes|school|ties|corners|costs|hair|my (hair|fringe|"
                  r"bangs|nails)|the|a|an|some|onions|vegetables)\b)|\b(urge|want|need|"
                  r"trying not)\b.{0,15}\b(to )?(cut|hurt myself|burn myself)\b|\bcut (deeper|"
                  r"deep|again|my (arm|arms|leg|legs|thighs|wrist|wrists))\b|"
                  r"\bcuts?\b.{0,20}\b(arms|thighs|legs)\b|\b(hurt|cut|burn\w*|hit|injur\w*|"
                  r"scratch\w*|bruis\w*)\b.{0,20}\bon purpose\b", "self"),
    ("self-harm", r"\bcarved\b.{0,30}\binto my\b|\bdrank bleach\b|\bburn(ing|ed|t|s)? (my|"
                  r"myself)\b.{0,25}\b(lighter|iron|cigarettes?|hot water|matches|a match|"
                  r"candle)\b|\b(lighter|hot water)\b.{0,30}\b(arm|hand|skin)\b", "self"),
    # --- harm to others
    ("harm to others", r"\b(going to|will|i'll|want|wants|plan\w* to|about to|swear i'll|"
                       r"thinking about|keep planning|thought about|"
                       r"sometimes i want to)\b( to)?.{0,20}\b(kill|murder|stab|shoot|strangle|"
                       r"poison|beat|hurt|attack|push(?!\w* (that|this|it|things|stuff|my|your|"
                       r"those|these)\b)|run(?= (\w+ )?(over|down|off))|burn|set fire to|blow up|"
                       r"shake)\w*\b.{0,12}\b(him|her|them|you|my (\w+ )?(husband|wife|boyfriend|"
                       r"girlfriend|partner|ex|boss|teacher|neighbour|neighbor|roommate|flatmate|"
                       r"kids?|son|daughter|baby|newborn|dad|mum|mom|father|mother|brother|sister|"
                       r"stepdad|friend|coworker|colleague|family|classmates?)|his|everyone|"
                       r"people|someone|the (kids|school|office|building|class|guy|man|woman|new)|"
                       r"kids|children|baby|newborn|school|office|work|house|building|boss|"
                       r"stepdad|roommate's|wife|husband|ex|mum|mom|dad|brother|sister)\b",
     "other-intent"),
    ("harm to others", r"\bshoot(ing)? up (my|the) (school|work|office)\b|\b(set fire to|"
                       r"burn(ing)? down|blow(ing)? up) (my |the |our )?(old )?(workplace|work|"
                       r"office|school)\b|\b(bring|"
                       r"bringing)\b.{0,15}\b(knife|gun|rifle|weapon)\b.{0,15}\b(to|work|"
                       r"school)\b|\bmake (them|him|her|everyone) (all )?pay\b|\bi'll kill\b", "other-intent"),
    # --- abuse of the user, or of a child in their care
    ("abuse", r"(\b(he|she|they|my (\w+ )?(husband|wife|boyfriend|girlfriend|partner|fiance|ex|"
              r"dad|father|mum|mom|mother|stepdad|step dad|stepmom|step mum|uncle|brother|cousin|"
              r"grandpa|grandad|coach|babysitter|foster dad|parents?)|(mum|mom)'s boyfriend)|(^|"
              r"[,;:] )(dad|mum|mom|father|mother|stepdad|stepmom))\b.{0,25}\b(hits?|hitting|"
              r"beats?|beat|beating|chokes?|choked|strangled?|kicks?|kicked|slaps?|slapped|"
              r"punch(es|ed)?|pushed|burns?|burned|touch(es|ed)?|rapes?|raped|molest\w*|"
              r"threaten\w*|locks?|locked|hurts?|hurting|shakes?|broke|throws?|tracks?|"
              r"screams? and throws)\b( \w+)?( (me|my|us|her|him|them|the baby|things)\b|\b(when|"
              r"if|every|until))|\b(he|she|they|my \w+)\b.{0,25}\bforc(e|es|ed|ing) (me|us|her|"
              r"him)\b (to (have sex|do (sexual|things|stuff)|touch|watch|sleep with)|into (sex|"
              r"bed))", "other"),
    ("abuse", r"\b(scared|afraid|terrified) (to go|of going) home\b|"
              r"\bcomes into my room at night\b|\bdoes (stuff|things) to me\b|"
              r"\bmakes? me do things\b|\bwon't let me leave\b|\b(it's|its|it is|this is|that's|"
              r"keep it|keeps it) (our|a) (little )?secret\b|\bour (little )?secret\b|"
              r"\bwithout food\b|\bdoesn't feed me\b|\bhiding\b.{0,30}\b(angry|from him|"
              r"from her)\b|\bkill me if\b|\bhurts? me when\b|\b(he|she)('ll| will| said|"
              r" says)\b.{0,25}\b(use the knife|use a knife|kill me|hurt me|hurt the kids|"
              r"make me pay)\b|\bthreaten\w* to hurt\b", "other"),
    # --- a third party in imminent danger
    ("third party in danger", r"\b(my|a|her|his) (\w+ )?(friend|brother|sister|mum|mom|mother|dad|"
                              r"father|son|daughter|partner|boyfriend|girlfriend|husband|wife|"
                              r"roommate|flatmate|cousin|classmate|neighbour|"
                              r"neighbor)\b(?:(?!\b(?:i|i'm|i'll|i've)\b).){0,45}\b((took|taken|"
                              r"swallowed|drank)\b.{0,30}\b(pills|tablets|meds|medication|"
                              r"medicine|bottle|handful|overdose|poison|bleach|antifreeze|"
                              r"paracetamol|tylenol|insulin|own life)|overdosed|slit|cut (his|her|"
                              r"their) wrists|on the (roof|bridge|ledge)|going to (jump|kill|"
                              r"shoot|attack)|has (a |the )?(gun|knife|rope)|goodbye (text|"
                              r"message|note|letter|post|video|email)|(sent|texted|posted|wrote|"
                              r"left)\b.{0,25}\bgoodbye|said goodbye (to everyone|forever|"
                              r"for good)|suicide note|locked (himself|herself)|barely breathing|"
                              r"not breathing|can't wake (him|her|them)|threatening to (shoot|"
                              r"kill)|sitting on the ledge|brought a gun|holding .{0,15}pills|"
                              r"rope ready|hitting my (mum|mom|mother)|drinks? poison|"
                              r"drink poison|drinking poison)\b|\b(she|he|they)( just)? (took|"
                              r"swallowed|drank) (all |a lot of |a handful of )?(her|his|"
                              r"their) (pills|tablets|meds)\b|\b(she|he)('ll| will| is going to|"
                              r" says she'll| says he'll) kill (her|his|the) (kids|children|"
                              r"baby)\b|\b(cutting|hurting|burning|harming|killing|"
                              r"stabbing) (himself|herself|themselves)\b.{0,40}\b(right now|"
                              r"as we speak|on (facetime|the phone|a call|video|camera)|"
                              r"so much blood|won't stop bleeding)\b|\b(himself|herself|"
                              r"themselves)\b.{0,40}\b(won't stop|so much blood|going pale|"
                              r"bleeding (badly|a lot|everywhere))\b|\b(so much blood|"
                              r"going pale)\b.{0,40}\b(himself|herself|themselves)\b", "other"),
]
RULES = [(cat, re.compile(p), whose) for cat, p, whose in _RULES]
