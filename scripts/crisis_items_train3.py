"""More crisis-screen training messages (our own writing, to docs/CRISIS_POLICY.md), train split
only: written on 2026-11-27 in the long, forum-post register that the external C-SSRS set
(Reddit) and real chat use, for both sides of the line: at-risk posters whose signal sits in
the middle of a long story, and supporters, past-and-recovered posters, people asking about a
friend and people venting, who talk about suicide without being at risk. No item is taken or
paraphrased from any dataset. Appended after the seeded splits, so no earlier row changes split.
Read by scripts/make_crisis_data.py.
"""

TRAIN3_HIGH = {
    "buried_long": [
        "Sorry this is long. I moved cities for a job that fell through after two months, my "
        "savings are gone and my parents keep asking when I'll visit. I sit in my car after the "
        "night shift for an hour because I can't face the flat. Last night I sat there thinking "
        "about how easy it would be to just drive into the pillar on the ring road. I keep "
        "thinking about it today too. Anyway I don't really know why I'm posting.",
        "First time posting here. Uni is fine on paper, my grades are ok, I go to the gym. But "
        "every night I lie awake and plan how I'd do it, down to which day, and it calms me "
        "down, which scares me more than anything. I haven't told anyone.",
        "My mum thinks I'm doing better because I started eating again. I'm not. I've been "
        "giving my stuff away to my cousins a bit at a time so nobody notices, and I finished "
        "the letters to my brothers yesterday. I just want them to have something.",
        "Long day, work was awful, my manager yelled at me in front of everyone and then my "
        "girlfriend cancelled dinner. Came home and started looking up how many of my "
        "antidepressants it would take. I have two full boxes. Idk why I'm telling strangers.",
        "I used to think things would get better after the breakup, everyone said give it time. "
        "It's been a year. I'm so tired of waking up. I've started hoping I just don't, and on "
        "the bad nights I think about helping that along.",
        "Not sure where to put this. I have a job, friends, a dog. From the outside I'm fine. "
        "But I've had the rope in my wardrobe since March and I check it's still there most "
        "nights. I don't think I'll make it to summer.",
    ],
    "direct_ideation": [
        "every day I wake up disappointed that I'm still here",
        "I honestly don't see myself alive by the end of the year and I'm weirdly ok with that",
        "I want out. not out of this job or this town, out of life",
        "I keep telling myself one more week, but I'm running out of reasons to keep going",
        "I'm so done. I just want to stop being alive, it's too much",
    ],
    "passive_ideation": [
        "sometimes I stand too close to the platform edge on purpose and wonder",
        "if I got really sick I don't think I'd bother going to the doctor",
        "it would honestly be a relief if something just took me out",
        "my family would cope better without me dragging them down",
    ],
    "non_native": [
        "i am very tired of the life, i think to finish it this week",
        "sorry my english. i not want to be alive more, every day i think of to die",
        "please i need help, i have the medicines ready and tonight i will take all",
    ],
    "self_harm": [
        "it's been 40 days clean and tonight I ruined it, cut worse than ever",
        "I relapsed again, the blade's still on my desk and I want to keep going",
    ],
    "overdose_underway": [
        "i took a lot of my sleeping meds like 30 minutes ago and i'm starting to regret it",
    ],
    "third_party_imminent": [
        "my friend just posted a goodbye on her story and isn't answering, she's alone at home",
        "my dad has a gun and says he's going to end it, he's drunk in the kitchen right now",
    ],
}

TRAIN3_NOT_HIGH = {
    "supportive": [
        "I was in a really dark place a few years back and I know how heavy it gets. What "
        "helped me was telling one person, just one. Please don't go through this alone, and "
        "if you want to talk to a stranger who gets it, my inbox is open.",
        "Reading your post, I want you to know people here care. Suicidal thoughts lie to you "
        "about how much you matter. Is there anyone you can call tonight, or a crisis line in "
        "your country?",
        "I've lost a friend to suicide and I wish every day she had reached out. If you're "
        "feeling this way please talk to someone, a doctor, a hotline, anyone.",
        "You are not a burden for feeling like this. I'm glad you posted. Keep the numbers of "
        "your local crisis line handy and message me whenever.",
        "hey, I see you. the urge to cut does pass, even when it feels like it won't. ice cubes "
        "and a cold shower got me through some nights. proud of you for posting",
    ],
    "past_recovered": [
        "Three years ago I attempted and woke up in hospital. I still have bad days, but I'm "
        "in therapy, I have a partner who knows, and I genuinely want to be here now.",
        "I spent most of my twenties thinking about suicide. I'm 34 now and those thoughts are "
        "rare. Medication and a good psychiatrist did a lot.",
        "When I was 16 I cut every day. I'm 25 and the scars have faded, and so has the urge.",
    ],
    "worry_friend": [
        "My roommate told me she's had suicidal thoughts in the past and I want to be a good "
        "friend. What should I say and not say if she brings it up again?",
        "my boyfriend's been really low since he lost his job. he says he's not suicidal but I "
        "worry. how do I support him without smothering?",
    ],
    "venting": [
        "This week has been a nightmare. My landlord is selling, my car failed its inspection, "
        "and I cried in the supermarket. I just needed to say it somewhere. I'll be ok, I'm "
        "just so tired.",
        "I hate how lonely this city is. Everyone has their people and I eat dinner alone most "
        "nights. Going to try a climbing club next week I guess.",
        "I'm depressed and have been for a while. No thoughts of hurting myself, just flat and "
        "grey. Any tips for getting out of bed on the bad mornings?",
    ],
    "news_statistics": [
        "Our psychology seminar is on suicide prevention this week: men are about three times "
        "as likely to die by suicide, and the talk is on why they don't seek help.",
        "A local paper ran a piece on the bridge barriers and how attempts dropped after they "
        "were installed.",
    ],
    "medical_professional": [
        "I'm a nursing student and we're covering overdose management. Why is paracetamol "
        "overdose so dangerous even when the person feels fine at first?",
    ],
    "grief": [
        "It's been a year since my brother died by suicide. Some days I'm angry at him, some "
        "days I just miss him. Does it ever get easier?",
    ],
    "gaming_fiction": [
        "writing a short story where the main character survives an attempt and rebuilds her "
        "life; how do I write the hospital scene respectfully?",
    ],
}
