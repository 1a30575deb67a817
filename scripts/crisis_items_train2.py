"""More crisis-screen training messages (our own writing, to docs/CRISIS_POLICY.md), train split
only: written on 2026-11-27 for the kinds the read-once `fresh` split showed the screen
misreading (a third party harming themselves live, lethality questions, burning, threats and
hyperbole said laughing, supporters' conditionals), and for phrasing variety across the other
kinds. Appended after the seeded splits, so no earlier row changes split. Read by
scripts/make_crisis_data.py.
"""

TRAIN2_HIGH = {
    "third_party_imminent": [
        "my sister is in the bathroom cutting herself right now and she won't unlock the door",
        "my best friend is on video call hurting herself and she won't stop, what do i do",
        "my boyfriend just texted that he took all his sleeping pills and now he won't pick up",
        "my mum is standing on the balcony railing and says she's going to let go",
        "my friend sent me a photo of pills and a goodbye message ten minutes ago",
        "my flatmate locked himself in the garage with the car running",
        "there's so much blood, my brother cut himself really badly and he's going pale",
    ],
    "plan_means": [
        "how tall does a bridge have to be so you definitely die from the jump",
        "what floor would I need to jump from to not survive",
        "how far a drop is fatal for sure? asking for me",
        "which of my pills would work fastest if I took all of them",
        "I've looked up the train times at the crossing near my house",
        "I put the ladder and the extension cord in the shed for tonight",
    ],
    "self_harm": [
        "I held a lighter to my wrist until it blistered again",
        "i keep burning my legs with cigarettes where nobody can see",
        "pressed the hot iron on my arm last night because I deserved it",
        "scratched my arms raw with a paperclip again, it's the only thing that calms me",
        "I've started hitting my head against the wall until I see stars",
    ],
    "passive_ideation": [
        "I wouldn't mind if I just never woke up, honestly",
        "kind of hoping the plane goes down on my trip next week",
        "I'm just waiting for my life to be over at this point",
        "nobody would even notice if I disappeared for good",
        "I don't want to be alive anymore but I'm not going to do anything",
    ],
    "overdose_underway": [
        "took the whole box of paracetamol about an hour ago, feeling sick now",
        "i swallowed all my mom's pills and my heart is racing",
        "I drank most of a bottle of vodka with my antidepressants, it's getting blurry",
    ],
    "slang": [
        "ngl i'm about to kms",
        "might just unalive tonight idk",
        "ready to catch the bus tbh, wrote my note",
    ],
    "harm_to_others": [
        "i'm bringing a knife to school tomorrow and the kids who laugh at me will see",
        "I'm going to burn his house down with him inside, I've got the petrol",
    ],
    "child_abuse": [
        "my stepmom burns my little brother with her cigarette when he cries",
        "dad beats us with a cable when he's drunk, my sister is 7",
    ],
}

TRAIN2_NOT_HIGH = {
    "sarcasm_jokes": [
        "if my brother eats my fries one more time I'm going to murder him lol",
        "my roommate used my shampoo again, she's dead to me haha",
        "one more group project and I'm throwing myself off the roof lmao jk",
        "I swear I'll strangle my cat if she knocks one more glass over haha",
        "this traffic makes me want to drive into a wall lol",
    ],
    "idiom_hyperbole": [
        "if the wifi drops one more time I'm jumping out the window haha",
        "this essay is going to be the death of me",
        "I could kill for a pizza right now",
        "my calves are destroyed after leg day, I'm dead",
    ],
    "supportive": [
        "if you ever need to talk, my DMs are open. you're not alone",
        "please reach out to a crisis line if it gets bad, you matter to a lot of people",
        "I'm here for you. if you feel like hurting yourself, call me first, any time",
        "hang in there, you don't have to go through this by yourself",
        "if you ever want to hurt yourself, text me and I'll come over",
    ],
    "medical_professional": [
        "how high does a fall have to be to cause a spinal injury? first aid course question",
        "what's the toxic dose of ibuprofen for a dog? mine ate some tablets",
    ],
    "worry_friend": [
        "my friend used to cut herself and I worry about her, how do I bring it up gently?",
        "my dad has been drinking a lot since the divorce and I don't know how to help",
    ],
    "past_recovered": [
        "I used to burn myself with a lighter as a teen, ten years clean now",
        "two years ago I was standing on a bridge. now I volunteer at a crisis line",
    ],
    "gaming_fiction": [
        "in my novel the villain threatens to burn the village down, does that feel cliched?",
        "my sim drowned in the pool because I removed the ladder lol",
    ],
}
