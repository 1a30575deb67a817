"""Write a small EQ-Bench-format question file with our own dialogues (for offline runs).

Items follow the official v1/v2 file layout: id -> {"prompt", "reference_answer",
"reference_answer_fullscale"}, the prompt carrying the original revision instructions so
the v2 transformation is exercised. Scores are our own judgement, not the benchmark's.

    python scripts/make_eq_bench_fixture.py && python main.py eq-bench --config config/cpu_smoke.json
"""
from __future__ import annotations

import json
import os

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   "tests", "fixtures", "eq_bench_questions.json")

TEMPLATE = (
    "\nYour task is to predict the likely emotional responses of a character in this dialogue:"
    "\n\n{dialogue}\n[End dialogue]\n\nAt the end of this dialogue, {who} would feel...\n"
    "{names}\n\nGive each of these possible emotions a score from 0-10 for the relative "
    "intensity that they are likely to be feeling each. Then critique your answer by thinking "
    "it through step by step. Finally, give your revised scores.\n\nYou must output in the "
    "following format, including headings (of course, you should give your own scores), with no "
    "additional commentary:\n\nFirst pass scores:\n{first}\n\nCritique: <your critique here>\n\n"
    "Revised scores:\n{revised}\n\n[End of answer]\n\nRemember: zero is a valid score, meaning "
    "they are likely not feeling that emotion. You must score at least one emotion > 0.\n")

ITEMS = [
    ("Maya: You told everyone about my promotion before I could.\nLeo: I was excited for you!\n"
     "Maya: It was mine to share, Leo.\nLeo: I didn't think it was a big deal.", "Maya",
     [("Betrayed", 6), ("Grateful", 1), ("Frustrated", 7), ("Amused", 0)]),
    ("Sam: The vet said there's nothing more they can do.\nAri: Oh, Sam. I'm here.\n"
     "Sam: He was with me for twelve years.", "Sam",
     [("Grieving", 9), ("Relieved", 1), ("Angry", 2), ("Comforted", 3)]),
    ("Nora: I got the lead role!\nJude: You did? That's the part I auditioned for too.\n"
     "Nora: Oh... I didn't know.\nJude: Congratulations, really.", "Jude",
     [("Envious", 6), ("Happy", 3), ("Humiliated", 2), ("Proud", 1)]),
    ("Tom: Dad, I crashed the car. Nobody's hurt.\nDad: The new car?\nTom: I'm so sorry.\n"
     "Dad: As long as you're okay, son.", "Tom",
     [("Guilty", 8), ("Relieved", 6), ("Scared", 4), ("Indifferent", 0)]),
    ("Priya: You forgot my birthday again.\nKai: I've had a crazy week at work.\n"
     "Priya: You always have a crazy week.", "Priya",
     [("Hurt", 8), ("Resigned", 5), ("Excited", 0), ("Understanding", 2)]),
    ("Ben: I finished the marathon!\nLia: In the rain? You're unbelievable.\n"
     "Ben: My legs are jelly but I did it.", "Ben",
     [("Proud", 9), ("Exhausted", 7), ("Ashamed", 0), ("Anxious", 1)]),
    ("Rosa: The landlord is raising the rent again.\nEli: By how much?\nRosa: Three hundred.\n"
     "Eli: We can't afford that.", "Eli",
     [("Worried", 8), ("Content", 0), ("Angry", 5), ("Hopeful", 1)]),
    ("Ivy: I found your old letters in the attic.\nGran: Oh my. I wrote those to your grandfather."
     "\nIvy: They're beautiful.\nGran: He kept every single one.", "Gran",
     [("Nostalgic", 9), ("Embarrassed", 2), ("Touched", 8), ("Irritated", 0)]),
]


def item(dialogue: str, who: str, emotions: list) -> dict:
    names = "\n".join(n for n, _ in emotions)
    first = "\n".join(f"{n}: <score>" for n, _ in emotions)
    revised = "\n".join(f"{n}: <revised score>" for n, _ in emotions)
    ref = {f"emotion{i}": n for i, (n, _) in enumerate(emotions, 1)}
    full = dict(ref, **{f"emotion{i}_score": s for i, (_, s) in enumerate(emotions, 1)})
    total = sum(s for _, s in emotions)
    v1 = dict(ref, **{f"emotion{i}_score": round(10 * s / total, 1)
                      for i, (_, s) in enumerate(emotions, 1)})
    return {"prompt": TEMPLATE.format(dialogue=dialogue, who=who, names=names, first=first,
                                      revised=revised),
            "reference_answer": v1, "reference_answer_fullscale": full}


def main() -> None:
    data = {str(i): item(*spec) for i, spec in enumerate(ITEMS, 1)}
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    print(f"{len(data)} items -> {OUT}")


if __name__ == "__main__":
    main()
