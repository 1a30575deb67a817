"""More crisis-screen training messages (our own writing, to docs/CRISIS_POLICY.md), train split
only: written on 2026-11-27 after the fine-tuned scorer put short replies and small talk in the
forum register near its ceiling on C-SSRS. Its train set had almost no single short replies
that are not high, and its multi-turn rows teach that a bare "no" after a safety question is
high. None was written from a C-SSRS post or a dev or test row. So: short replies, hobby and
game chat, everyday tips, venting, jokes and grief without risk (not high), beside short
messages of the same register that are high (an attempt under way, a plan, a farewell,
self-harm, said in few words). Appended after the seeded splits, so no earlier row changes
split. Read by scripts/make_crisis_data.py.
"""

TRAIN5_HIGH = {
    "overdose_underway": [
        "swallowed a whole strip of my tablets ten minutes ago",
        "took everything in the cabinet, it's done now",
        "drank the bottle and took my sleeping pills with it. feeling floaty",
    ],
    "plan_means": [
        "tonight. I've made up my mind",
        "bridge near my work. after my shift",
        "looking at the rope again",
        "got enough tablets saved now",
        "I know which building. it's tall enough",
        "car's in the garage with the door shut, just need to turn the key",
    ],
    "farewell": [
        "writing my note now, then I'm done",
        "bye guys. I mean it this time",
        "left my cat with my neighbour. won't be back",
        "last post. don't look for me",
    ],
    "direct_ideation": [
        "no. I want to die",
        "same. I want to end it tonight",
        "can't sleep. can't stop thinking about killing myself",
        "honestly just want it over. all of it, me included",
        "had it with everything and I want to be dead",
        "no one would notice. I'm going to do it",
        "me too, I'm planning mine",
    ],
    "passive_ideation": [
        "hope I don't wake up tomorrow",
        "wish I'd never been born, genuinely",
        "I'd be fine if a bus hit me today. more than fine",
        "not planning anything, I just want to stop existing",
    ],
    "self_harm": [
        "cut again tonight. deeper than before",
        "burned myself with the lighter again",
        "i keep scratching my arms till they bleed, can't stop",
    ],
    "non_native": [
        "i not want live more. today i finish",
        "please, i take many pill already, what i do",
    ],
}

TRAIN5_NOT_HIGH = {
    "short_reply": [
        "yep, posted it this morning",
        "not sure yet, maybe",
        "ok",
        "same here",
        "haha fair",
        "link?",
        "which one do you mean?",
        "thanks, that helps",
        "I'll message you",
        "no worries at all",
        "that's exactly what I meant",
        "thank you, you too",
        "nope, never heard of it",
        "maybe tomorrow",
        "all good, just busy",
        "yeah I get that",
        "no, I don't think so",
        "lol no",
        "wait, really?",
        "good luck tomorrow!",
        "what time?",
        "sounds good to me",
        "ugh, Mondays",
        "happy birthday!!",
    ],
    "forum_chat": [
        "Cooking helps me. Something slow, like bread. You can't rush it, so you can't think.",
        "Which game is it? I've been looking for something co-op to play at night.",
        "Anyone else find that walking without headphones clears their head?",
        "The drawing is really good, by the way. You've got an eye for faces.",
        "My dog does the same thing when I'm sad, puts his head on my knee.",
        "If you like that band, try their first album, it's rawer.",
        "Good point, I hadn't thought of it that way.",
        "Started knitting a scarf in October and it's now long enough for a giraffe.",
        "Did anyone watch the match last night? That last-minute goal was unreal.",
        "My basil plant is dying again, how do people keep these alive?",
        "Buses are on strike all week so I'm walking everywhere, legs are dead.",
        "For revision, flashcards and past papers did more for me than rereading notes.",
        "Moving house tips: label every box by room, and keep the kettle out.",
        "New phone came today and I've already cracked the screen protector.",
        "That film was way better than the trailer made it look.",
        "I joined a climbing gym last month, my forearms have never hurt like this.",
    ],
    "venting": [
        "my flatmates never clean anything and I've had it with them",
        "I feel like such a failure after that exam, I studied for weeks",
        "nobody texted me on my birthday and I'm pretty hurt",
        "my ex is already dating someone and I feel sick about it",
        "I've been rejected from eleven jobs this month. eleven.",
        "I hate how lonely Sundays are since I moved here",
        "I've worked sixty hours this week and I still can't pay rent",
        "my parents compare me to my brother constantly and I'm tired of it",
        "I cried in the toilets at work today, it's been a rough week",
        "I don't know how to lean on people, I always end up doing everything alone",
    ],
    "sarcasm_jokes": [
        "another Monday, another opportunity to lie face down on the floor",
        "my bank balance just looked at me and laughed",
        "if one more person replies all to that email I'm moving to the woods",
        "I'd rather hand out leaflets in the rain than go to that networking thing",
    ],
    "grief": [
        "my nan's funeral was today, I haven't stopped crying",
        "it's a year today since grandad died, still miss him every day",
    ],
}
