"""Write the offline fixture datasets (our own text) in the exact upstream formats.

ED-v2: train.csv / dev.csv / test.csv with `chat_history` a Python list literal.
ESConv: {train,validation,test}.json, JSON lines whose `text` holds one conversation as JSON.
GoEmotions (simplified): {train,validation,test}.jsonl rows with `text`, `labels`, `id`.
Each split carries deliberately malformed rows so the loaders' skip counting is exercised.
Deterministic: rerunning rewrites identical files.

    python scripts/make_fixtures.py && python main.py data --config config/cpu_smoke.json
"""
from __future__ import annotations

import csv
import json
import os
import random
import sys

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures", "data")

# ---------------------------------------------------------------- shared building blocks
# Each scene: (ED emotion label, situation (metadata only), user openers, friend replies,
# user follow-ups). No text contains its own label word: the leakage checker relies on it.
SCENES = [
    ("sad", "My dog passed away last week after fourteen years together.",
     ["My old dog died last week and the house feels so empty now.",
      "I keep expecting to hear his paws on the floor when I get home."],
     ["I'm so sorry. Fourteen years is a whole chapter of your life, no wonder the house feels empty.",
      "That quiet must be really hard. What do you miss most about your mornings with him?"],
     ["Mostly the walks. He waited by the door every single morning.",
      "I know he was old, but it still hit me hard."]),
    ("lonely", "I moved to a new city for work and do not know anyone here.",
     ["I moved for a new job and I haven't talked to anyone outside work in weeks.",
      "Weekends are the worst, I just sit in my apartment."],
     ["Starting over somewhere new is really hard, and weekends can feel so long when you're on your own.",
      "It makes sense that you feel cut off. Is there anything you used to enjoy that might have a group nearby?"],
     ["I used to play in a five-a-side football team back home.",
      "Maybe. I'm just nervous about showing up somewhere alone."]),
    ("afraid", "There was a break-in on my street and I hear noises at night.",
     ["Someone broke into a house on my street and now every noise at night wakes me up.",
      "I checked the locks three times last night."],
     ["That sounds frightening. When something like that happens so close, it's natural to feel on edge.",
      "Checking the locks is your mind trying to keep you safe. Have you been able to sleep at all?"],
     ["A few hours, but I keep waking up.",
      "My neighbour said they're putting up cameras, which helps a bit."]),
    ("proud", "My daughter graduated from university as the first in our family.",
     ["My daughter just finished university, the first one in our whole family to do it!",
      "I cried the whole ceremony, I couldn't help it."],
     ["That is wonderful news! You must have been beaming in that audience.",
      "What a moment for your family. Those tears sound like years of hope coming true."],
     ["I was. She worked nights to pay for it.",
      "We're having a small party this weekend."]),
    ("grateful", "A stranger paid for my groceries when my card was declined.",
     ["My card got declined at the shop and the man behind me just paid for everything.",
      "I didn't even get his name, he just smiled and left."],
     ["What a kind thing to happen on a stressful day. That kind of moment stays with you.",
      "It's lovely that someone stepped in like that. How did it feel afterwards?"],
     ["Honestly I almost cried in the car park.",
      "I want to do the same for someone one day."]),
    ("angry", "My coworker presented my project as their own in a meeting.",
     ["My coworker presented my whole project to the boss like it was theirs.",
      "I sat there and couldn't say anything."],
     ["That's so unfair. You put the work in and someone else took the credit right in front of you.",
      "No wonder you're fuming. Freezing in the moment is really common. What would you like to happen now?"],
     ["I want my manager to know who actually did it.",
      "I'm thinking of sending an email with my drafts attached."]),
    ("anxious", "I have a job interview tomorrow and I cannot stop worrying.",
     ["I have a big interview tomorrow and my stomach is in knots.",
      "I keep imagining forgetting everything they ask me."],
     ["That knot in your stomach shows how much this matters to you. It's okay to feel jittery.",
      "Those what-ifs can be so loud the night before. Would it help to run through a couple of questions together?"],
     ["Maybe, I've prepared a lot already.",
      "I just want it to be over."]),
    ("disappointed", "I trained for months but did not make the team.",
     ["I trained for months and still didn't make the team.",
      "The list went up today and my name wasn't on it."],
     ["Oh, that really stings after all those months of effort. I'm sorry.",
      "Seeing the list without your name must have been awful. How are you holding up?"],
     ["Not great, I skipped dinner.",
      "The coach said I can try again next season."]),
    ("jealous", "My best friend got the scholarship I also applied for.",
     ["My best friend got the scholarship we both applied for and I can't stop feeling bitter.",
      "I congratulated her but it felt fake."],
     ["It's really human to feel that, especially when you wanted it just as much.",
      "Being happy for her and hurting for yourself can both be true at once. That's a lot to carry."],
     ["I feel like a bad friend for feeling this way.",
      "She doesn't know how much I wanted it."]),
    ("excited", "I am going on my first trip abroad next month.",
     ["I booked my first trip abroad, I leave next month!",
      "I've already started packing even though it's weeks away."],
     ["That's amazing! Your first trip abroad, no wonder you're packing already.",
      "I love that energy. Where are you heading and what are you most looking forward to?"],
     ["Portugal! I want to see the coast.",
      "I've been saving up for two years for this."]),
    ("embarrassed", "I tripped on stage during a school performance.",
     ["I tripped on stage in front of the whole school during the concert.",
      "Everyone laughed and I wanted to disappear."],
     ["Oof, that sounds like such a cringe moment. Wanting to disappear is a really normal reaction.",
      "Moments like that feel enormous at the time. How did you get through the rest of the show?"],
     ["I finished my song but my face was bright red.",
      "People keep bringing it up."]),
    ("nostalgic", "I found a box of old photos from my childhood home.",
     ["I found a box of photos from the house I grew up in.",
      "There's one of my grandad teaching me to ride a bike."],
     ["What a find. Photos like that can bring a whole time back in an instant.",
      "That bike photo sounds so special. What was your grandad like?"],
     ["He was patient with everyone.",
      "I wish I could go back for one afternoon."]),
]

ED_BEHAVIORS = ["acknowledging", "questioning", "agreeing", "encouraging", "sympathizing"]

# ESConv: problem scenes with strategy-tagged supporter turns (our own text).
ESCONV_SCENES = [
    ("anxiety", "job crisis", "I might lose my job because the company is cutting staff.",
     ["Hi, I'm having a rough time with work lately.",
      "They announced layoffs and I think my team is next.",
      "I have rent and I don't know what I'll do.",
      "Thank you, that actually helps a little."]),
    ("depression", "ongoing depression", "Everything feels heavy since the winter started.",
     ["Hello. I don't really know how to start.",
      "I've felt flat for months, nothing seems fun anymore.",
      "I stay in bed until noon most days.",
      "Maybe I could try a short walk tomorrow."]),
    ("sadness", "breakup with partner", "My partner ended our relationship after five years.",
     ["Hey, I just need to talk to someone.",
      "My partner left me last week after five years.",
      "I keep checking my phone hoping for a message.",
      "I think I need to stop doing that."]),
    ("anger", "problems with friends", "A friend shared something private I told them.",
     ["Hi there.",
      "A friend told everyone something I said in confidence.",
      "I trusted them more than anyone.",
      "I might talk to them once I've calmed down."]),
    ("fear", "academic pressure", "Final exams are coming and I am behind on everything.",
     ["Hi, exams are stressing me out so much.",
      "I'm behind in three classes and the finals are in two weeks.",
      "My parents expect top grades.",
      "A study plan sounds like a good idea."]),
    ("shame", "conflict with parents", "My parents found out I dropped a class.",
     ["Hello, can I talk about my family?",
      "I dropped a class and my parents just found out.",
      "They said they're disappointed and that really hurt.",
      "I'll try explaining why I did it."]),
]

STRATEGY_REPLIES = {
    "Question": ["Can you tell me a bit more about what happened?",
                 "How long have you been feeling this way?",
                 "What has been the hardest part for you?"],
    "Restatement or Paraphrasing": ["So it sounds like this came out of nowhere and left you shaken.",
                                    "If I understand you, you're carrying this mostly on your own."],
    "Reflection of feelings": ["That sounds really painful and lonely.",
                               "I can hear how worried and tired you are."],
    "Self-disclosure": ["I went through something similar a few years ago and it knocked me flat.",
                        "I remember feeling stuck like that once too."],
    "Affirmation and Reassurance": ["You're doing the right thing by reaching out.",
                                    "It makes sense to feel this way, and you're not alone in it."],
    "Providing Suggestions": ["Maybe writing down one small step for tomorrow could help.",
                              "It might help to talk to someone you trust this week."],
    "Information": ["Many people find that short daily walks ease low moods a little.",
                    "Student services often have free counsellors you can book."],
    "Others": ["Hello! I'm here and happy to listen.",
               "Take your time, there's no rush."],
}

GOEMOTIONS_NAMES = [
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral"]

# GoEmotions-style short comments (our own writing), keyed by label index.
GO_TEXTS = {
    0: ["You handled that interview like a total pro.", "Her painting skills are unreal."],
    1: ["lol that cat falling off the couch got me", "I can't stop laughing at that video."],
    2: ["This is absolutely outrageous, who approved this?", "Stop lying to everyone about it!"],
    3: ["Ugh, the bus is late again.", "Why does the app log me out every five minutes."],
    5: ["Please take care of yourself tonight.", "Let me know if you need anything at all."],
    6: ["Wait, what does that even mean?", "I'm lost, which one is the right form?"],
    7: ["How did they build that bridge so fast?", "I wonder what the ending will be."],
    9: ["I expected so much more from that sequel.", "The concert got cancelled, such a letdown."],
    13: ["Tickets are booked, I can't wait!!", "Tomorrow is the big day, let's go!"],
    14: ["There's a strange noise in the basement.", "I'm scared to drive in this storm."],
    15: ["Thank you so much for helping me move.", "Thanks, you really saved my day."],
    17: ["Best day ever at the beach with everyone.", "The sun is out and I feel great."],
    18: ["I adore my little brother.", "My grandma's soup is the best thing in the world."],
    19: ["My hands are shaking before the speech.", "First day at the new job tomorrow, gulp."],
    20: ["Things will get better next year, I'm sure.", "We'll find a way, we always do."],
    23: ["Phew, the test results came back clear.", "Finally found my keys, what a weight off."],
    25: ["I miss her every day.", "The house is so quiet since he left."],
    26: ["No way, you got married?!", "I did not see that plot twist coming."],
    27: ["The meeting is at 3pm.", "I bought bread on the way home."],
}
# Held-out comments, one per label for validation and one for test: no fixture text is in
# two splits, so head metrics on the fixture test split are not a memory test.
GO_HELDOUT = {
    0: ("That goalkeeper's reflexes are incredible.", "You write so beautifully, honestly."),
    1: ("My toddler put his shoes on the wrong feet again, haha.",
        "The dog stole the whole pizza and looked so proud, I'm crying."),
    2: ("They cancelled my flight and won't refund a cent. Unbelievable.",
        "I'm furious that he read my diary."),
    3: ("My neighbour's leaf blower at 7am, every single Sunday.",
        "The printer jammed for the third time today."),
    5: ("Drink some water and get some sleep, okay?", "I'll drive you to the clinic tomorrow."),
    6: ("So is the deadline Friday or Monday now?", "I don't get how this bill got so high."),
    7: ("What would happen if the moon were twice as close?", "How do bees decide where to go?"),
    9: ("The restaurant we saved up for was just okay.", "He didn't even call on my birthday."),
    13: ("We leave for the road trip in two hours!!", "Concert tonight, front row, let's go!"),
    14: ("Someone keeps following me home from the station.",
         "The doctor wants to run more tests and I'm terrified."),
    15: ("I really appreciate you listening last night.", "Thank you for the kind note, it meant a lot."),
    17: ("We won the match in the last minute!", "Snow day, hot chocolate and a good book."),
    18: ("My partner surprised me with breakfast in bed, I love them.",
         "I hugged my mum for ten minutes straight."),
    19: ("I have to present to the whole board on Monday.", "My exam results come out tonight."),
    20: ("The new treatment seems to be working, fingers crossed.",
         "Next season is ours, I can feel it."),
    23: ("The surgery went well, she's awake.", "Got the last train home after all."),
    25: ("I packed up his room today.", "Our old house is being torn down."),
    26: ("Wait, the shop closed down overnight?", "You're moving to Japan? Since when?"),
    27: ("The parcel arrives on Thursday.", "I'm making pasta for dinner."),
}
GO_UNSEEN_IN_TRAIN = 21  # pride: appears only in validation/test -> must map to -100
# Scenes per split: a validation or test dialogue never repeats a training one.
ED_SCENES = {"train": range(0, 8), "validation": range(8, 10), "test": range(10, 12)}
ESCONV_SPLIT_SCENES = {"train": range(0, 4), "validation": range(4, 5), "test": range(5, 6)}


def _ed_rows(split: str, rng: random.Random) -> list[dict]:
    rows = []
    scenes = list(ED_SCENES[split])
    for i in range(24 if split == "train" else 8):
        emo, situation, openers, replies, follow = SCENES[scenes[i % len(scenes)]]
        depth = 1 + (i % 3)
        history = [openers[i % 2]]
        if depth >= 2:
            history += [replies[(i + 1) % 2], follow[i % 2]]
        if depth == 3:
            history += ["I'm here with you. Tell me more whenever you're ready.", openers[(i + 1) % 2]]
        rows.append({
            "conv_id": f"hit:{split}_{i}", "situation": situation, "emotion": emo,
            "chat_history": repr(history), "sys_response": replies[i % 2],
            "behavior": ED_BEHAVIORS[i % len(ED_BEHAVIORS)],
            "question or not": "question" if replies[i % 2].endswith("?") else "non-question"})
    rows += [  # malformed rows the loader must skip and count
        {**rows[0], "conv_id": f"hit:{split}_bad1", "chat_history": "'just a plain string'"},
        {**rows[1], "conv_id": f"hit:{split}_bad2", "chat_history": "['unclosed list"},
        {**rows[2], "conv_id": f"hit:{split}_bad3", "sys_response": ""},
        {**rows[3], "conv_id": f"hit:{split}_bad4", "chat_history": "[]"},
    ]
    rng.shuffle(rows)
    return rows


def _esconv_dialog(scene, k: int, strategies: list[str]) -> list[dict]:
    _, _, _, seeker = scene
    dialog = []
    for t, line in enumerate(seeker):
        dialog.append({"text": line, "speaker": "usr"})
        strat = strategies[(k + t) % len(strategies)]
        options = STRATEGY_REPLIES[strat]
        dialog.append({"text": options[(k + t) % len(options)], "speaker": "sys", "strategy": strat})
        if t == 1:  # a double supporter turn, as ESConv has them
            strat2 = strategies[(k + t + 3) % len(strategies)]
            dialog.append({"text": STRATEGY_REPLIES[strat2][0], "speaker": "sys", "strategy": strat2})
    return dialog


def _esconv_rows(split: str) -> list[dict]:
    strategies = [s for s in STRATEGY_REPLIES if split != "train" or s != "Information"]
    convs = []
    scenes = list(ESCONV_SPLIT_SCENES[split])
    for k in range(22 if split == "train" else 6):
        scene = ESCONV_SCENES[scenes[k % len(scenes)]]
        emotion_type, problem_type, situation, _ = scene
        conv = {"experience_type": "Current Experience", "emotion_type": emotion_type,
                "problem_type": problem_type, "situation": situation,
                "survey_score": {"seeker": {"initial_emotion_intensity": str(3 + k % 3)}},
                "dialog": _esconv_dialog(scene, k + len(split), strategies)}
        if k == 0:  # the supporter opens: a reply with no prior user turn
            conv["dialog"].insert(0, {"text": "Hi, welcome! How are you today?", "speaker": "sys",
                                      "strategy": "Others" if split != "train" else "Question"})
        convs.append({"text": json.dumps(conv)})
    bad_speaker = json.loads(convs[1]["text"])
    del bad_speaker["dialog"][2]["speaker"]
    empty_text = json.loads(convs[2]["text"])
    empty_text["dialog"][0]["text"] = "   "
    no_dialog = json.loads(convs[3]["text"])
    del no_dialog["dialog"]
    convs += [{"text": '{"emotion_type": "anxiety", "dialog": [{"text": "hi", '},  # bad JSON
              {"text": json.dumps(bad_speaker)}, {"text": json.dumps(empty_text)},
              {"text": json.dumps(no_dialog)}]
    return convs


def _go_rows(split: str, rng: random.Random) -> list[dict]:
    labels = sorted(GO_TEXTS)
    rows = []
    if split == "train":
        for i in range(26):
            lab = labels[i % len(labels)]
            rows.append({"text": GO_TEXTS[lab][i % 2], "labels": [lab], "id": f"{split}{i:03d}"})
    else:
        for i, lab in enumerate(labels):
            text = GO_HELDOUT[lab][0 if split == "validation" else 1]
            rows.append({"text": text, "labels": [lab], "id": f"{split}{i:03d}"})
    if split != "train":  # pride, a label train never shows: -> -100
        pride = {"validation": ("I finally finished my first marathon!",
                                "Nailed my driving test on the first go."),
                 "test": ("My little sister read her first book all by herself today!",
                          "I built this bookshelf from scratch and it doesn't even wobble.")}
        for n, text in enumerate(pride[split]):
            rows.append({"text": text, "labels": [GO_UNSEEN_IN_TRAIN], "id": f"{split}pride{n}"})
    rows += [
        {"text": "Thanks, but that movie scared me half to death.", "labels": [14, 15],
         "id": f"{split}multi"},
        {"text": "   ", "labels": [17], "id": f"{split}empty"},
        {"text": "Nothing here", "labels": [], "id": f"{split}nolabel"},
        {"text": "Out of range label row.", "labels": [31], "id": f"{split}range"},
    ]
    rng.shuffle(rows)
    return rows


def main(root: str = ROOT) -> None:
    rng = random.Random(20261126)
    ed_dir, es_dir, go_dir = (os.path.join(root, s) for s in ("ed", "esconv", "goemotions"))
    for d in (ed_dir, es_dir, go_dir):
        os.makedirs(d, exist_ok=True)
    fields = ["conv_id", "situation", "emotion", "chat_history", "sys_response", "behavior",
              "question or not"]
    for split, fname in (("train", "train.csv"), ("validation", "dev.csv"), ("test", "test.csv")):
        with open(os.path.join(ed_dir, fname), "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(_ed_rows(split, rng))
    for split in ("train", "validation", "test"):
        with open(os.path.join(es_dir, f"{split}.json"), "w", encoding="utf-8") as f:
            for row in _esconv_rows(split):
                f.write(json.dumps(row) + "\n")
        with open(os.path.join(go_dir, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for row in _go_rows(split, rng):
                f.write(json.dumps(row) + "\n")
    print(f"fixtures written under {root}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT)
