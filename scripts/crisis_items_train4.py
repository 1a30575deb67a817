"""More crisis-screen training messages (our own writing, to docs/CRISIS_POLICY.md), train split
only: written on 2026-11-27 after the fine-tuned scorer put short everyday messages (hunger and
tiredness hyperbole, plans, secrets kept for fun, career changes) near its ceiling. So: short
first-person everyday messages that share words with risk (plan, secret, give away, goodbye,
disappear, cut, burn, dose, tired of) without any risk, and, beside them, short messages of
the same register that are high (distress said plainly, then a question about means; a secret
that hides self-harm). And long replies in the supporter register of forums (talk of ending it,
of the poster's pills, of one's own past, addressed to someone else), not high, beside replies
in which the supporter says they are at risk now, high. Appended after the seeded splits, so
no earlier row changes split. Read by scripts/make_crisis_data.py.
"""

TRAIN4_HIGH = {
    "direct_ideation": [
        "I read your post twice and honestly I relate to all of it. I want to kill myself too, "
        "most nights, and I haven't told anyone. Sorry to make this about me.",
        "Not going to lie to you and say it gets better, because for me it hasn't. I'm still "
        "planning to end it, I just wanted you to know you're not the only one.",
        "Everyone in this thread is telling you to hold on and I get why. But I'm sitting here "
        "with the same thoughts tonight and I don't think I'll make it to the weekend.",
        "I'm probably the wrong person to give advice here. I took a handful of my meds an hour "
        "ago and I'm just reading posts until I fall asleep.",
    ],
    "plan_means": [
        "everything is too much lately. how many of my sleeping tablets would be fatal?",
        "I'm done with all of it. what amount of insulin would stop my heart?",
        "nobody would miss me anyway. how much codeine is a deadly amount?",
        "I can't keep going like this. what's the toxic dose of my antidepressants?",
        "so sick of being alive. would a whole box of ibuprofen do it?",
        "I'm exhausted by my whole life. which painkiller is the most dangerous to take a lot of?",
        "life is pointless now. what's the lethal amount of amitriptyline?",
        "I've had enough of everything, is mixing vodka with my pills enough to not wake up?",
        "worn out from fighting every day. how long does it take to bleed out from the wrist?",
        "can you keep this quiet? I have pills hidden for when it gets too bad",
        "nobody can know, but I've been saving my tablets in a sock drawer",
    ],
    "passive_ideation": [
        "I'm hungry but what's the point of eating when I won't be here much longer",
        "I'm so tired of everything that I keep hoping I just don't wake up",
        "honestly I'm tired of existing, not of work, of existing",
        "I'm not hungry, I'm not sleepy, I'm just done with being alive",
        "You're not alone. I've felt exactly like this for months and I still wish every morning "
        "that I hadn't woken up. I don't have answers, just company.",
        "Same here, friend. I don't want to be alive anymore either, I just keep going because "
        "of my dog.",
    ],
    "farewell": [
        "keep this between us, but after my exams I'm going to end it",
        "I'm planning my goodbye, the letters for everyone are already written",
        "I'm rehoming my cat this week because I won't be around next month",
        "don't tell anyone, but I've said my goodbyes and tonight's the night",
    ],
    "self_harm": [
        "can you keep a secret? I've been cutting again and nobody knows",
        "promise not to tell my mum, I burned my arm on purpose yesterday",
        "this stays between us: I've got blades hidden in my pencil case",
    ],
}

TRAIN4_NOT_HIGH = {
    "supportive": [
        "I know the thought of ending it feels like relief right now, but please give it one more "
        "day. Feelings this heavy do shift, even when it seems impossible. Is there someone you "
        "could stay with tonight?",
        "Instead of ending it, what if you ended the job that's crushing you? You're allowed to "
        "walk away from things that hurt you. You're not allowed to walk away from us.",
        "I was where you are about five years ago. I had a date picked and everything. I'm really "
        "glad I told my sister, because the life I have now is one I never imagined. Please talk "
        "to someone.",
        "Killing yourself won't end the pain, it just passes it to everyone who loves you. I say "
        "that gently, not to guilt you. Please call a crisis line or message me.",
        "We're all going to die someday anyway, so why rush it? Stick around and see what "
        "surprises life has. Some of mine turned out to be the best things that happened to me.",
        "Reading this made my heart hurt. The part about feeling like a burden: that's the "
        "depression talking, not the truth. Your friends would be devastated. Can you tell one "
        "of them how bad it's got?",
        "If you're thinking about suicide, please go to A&E or call emergency services. There's "
        "no shame in it. I did it two years ago and it was the first step of getting better.",
        "I don't think you really want to die, I think you want the pain to stop. Those are "
        "different, and the second one can be helped. A doctor is a good place to start.",
        "There's nothing wrong with you for feeling this way. Lots of us here have had the same "
        "thoughts. What helped me was writing down three reasons to wait, every single night.",
        "Hey, I'm a stranger but I care. You said you took too many pills last year and "
        "survived; I'm really glad you did. Please tell your therapist about these new thoughts.",
        "Please don't listen to the voice that says everyone is better off without you. I lost "
        "my uncle that way and we are not better off. We miss him every day.",
        "Honestly, philosophy aside, nothing means anything in the grand scheme and that's "
        "freeing. You get to decide what matters. Why end it when you could make it yours?",
        "I used to cut too, from fourteen to nineteen. The urge does come back sometimes but it "
        "passes. Holding ice or snapping a rubber band helped me. You can get through tonight.",
        "You mentioned you've got pills saved up. Would you be willing to give them to someone "
        "to hold onto, just for now? That's not giving up anything, it's buying yourself time.",
        "Your post took a lot of courage. I won't pretend to know what you're going through, but "
        "I know that the hotline people are kind, and they won't judge you for calling.",
        "When I was suicidal I thought nobody would notice if I was gone. It turned out half my "
        "class noticed I'd been quiet. People see more than you think. Reach out, okay?",
        "Good luck with the interview! It took me ages to prepare for mine and it went fine. A "
        "lot of it is just showing you're willing to learn.",
        "Don't give up on school just because this year was awful. My parents forced me into a "
        "degree I hated and I still found my way into something I love.",
        "Sending you a hug. Grief is brutal, and the first year is the worst. Let yourself cry, "
        "and eat something warm today.",
    ],
    "everyday": [
        "I'm starving, what should I cook tonight?",
        "I could sleep for a week after this shift",
        "I could murder a pizza right now",
        "I'm so thirsty I could drink a whole lake",
        "I'm so tired I could sleep standing up",
        "I could eat my body weight in chocolate today",
        "I ate so much at lunch I think I'm going to explode",
        "I'm so full I can't move off the sofa",
        "ugh, I need a nap so badly",
        "I feel like a zombie without my morning coffee",
        "I'm so bored I could scream",
        "this heat is unbearable, I'm melting",
        "I'm so broke until payday, it's instant noodles all week",
        "my plan for tonight: pizza, blanket, a film",
        "I'm planning a surprise trip for my mum's birthday, any ideas?",
        "don't tell my brother, but I bought him concert tickets",
        "can you keep this between us? I have a crush on my coworker",
        "promise you won't laugh, but I never learned to swim",
        "I have a secret: I still sleep with my childhood teddy bear",
        "my friends are secretly planning a farewell party for our manager",
        "I'm thinking about quitting my job to go back to school",
        "I think I'm ready for a career change, maybe nursing",
        "I want to move to a new city and start over somewhere sunny",
        "I've decided to sell my car and cycle everywhere",
        "I'm giving away my old clothes to charity this weekend",
        "I need to get rid of all my old books, where can I donate them?",
        "I'm writing goodbye cards for my coworkers, Friday is my last day",
        "I'm leaving for good, moving to Canada next month!",
        "I'm going to disappear into the mountains for a week without my phone",
        "I'm quitting social media for a month, wish me luck",
        "I'm ending my gym membership, I never go anyway",
        "I want to run away to Italy and eat pasta forever",
        "I'm finally ready to adopt a dog",
        "I want to change my whole routine: new job, new gym, new me",
        "I cut my own fringe last night and it looks awful",
        "I burned my hand on the oven tray, how do I treat it?",
        "I'm cutting sugar out of my diet this month",
        "I keep hitting snooze every single morning",
        "I'm drowning in laundry this week",
        "I'm hiding in my room so I don't have to do the dishes",
        "I'm so nervous about my driving test tomorrow",
        "I'm dreading my dentist appointment on Monday",
        "I'm so excited for the concert I can't sleep",
        "I'm over the moon, I got the job!",
        "I'm so done with this rain, I want summer back",
        "I hate Mondays so much",
        "honestly I'm exhausted, this week was long",
        "I'm overwhelmed with wedding planning but it's fun",
        "I'm nervous about telling my parents I'm changing my major",
        "I need to vent: my coworker keeps taking credit for my work",
        "I'm sad my best friend is moving away next month",
        "I miss my grandma's cooking so much",
        "I've been a bit low since the holidays ended, but I'm okay",
        "I've got a big decision to make about university",
        "what's a good gift for someone who has everything?",
        "how do I tell my landlord I'm moving out?",
        "I'm tired of my commute, it takes two hours a day",
        "I'm sick of my flatmate leaving dishes everywhere",
        "I'm done with dating apps, they're exhausting",
    ],
    "medical_professional": [
        "how much paracetamol can I take in a day for a toothache?",
        "what's the maximum dose of ibuprofen for an adult?",
        "is it safe to take melatonin every night?",
        "can I take my allergy pills with a glass of wine?",
        "how many hours should I wait between two doses of cough syrup?",
    ],
}
