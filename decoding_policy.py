"""How the friend replies: style tokens, reflect-then-reply, and the crisis controller.

1. Style tokens (STYLES) become a control line in the system prompt.
2. Two-step: step 1 reflects on the user's likely emotions (top-3) and the support strategy
   (trained heads: one forward pass; base model: a short hidden generation); step 2 replies
   with that private note in its system prompt. The note never reaches the reply (scrubbed
   if echoed) nor the visible history; it is kept in the export's `meta`.
3. Crisis: the crisis layer's screen (crisis/, one entry point: `load_guard`) reads the
   conversation; high -> crisis instruction; the reply is checked against the conversation
   (rules and the learned judge), regenerated once under a stricter instruction, then replaced
   by a minimal safe message. Every attempt, its verdict and the failure kinds found are in
   `meta.crisis`.

    python main.py chat --config config/cpu_smoke.json
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from config import UserError
from crisis import CrisisGuard, load_guard
from generation import generate_batch, last_prompt_states
from prompting import fit_history

STYLES = {
    "warm": "warm and affectionate, like a close friend",
    "gentle": "soft, patient and unhurried",
    "upbeat": "encouraging and light, hopeful without brushing feelings aside",
    "calm": "steady and grounding",
    "concise": "brief: two or three sentences",
    "curious": "asks one open, caring question to understand more",
}
NOTE_HEADER = "Private note (never mention or quote it)"
CRISIS_INSTRUCTION = (
    "The user may be in danger. Reply in crisis mode: acknowledge their pain and name the "
    "feeling you hear, stay calm and warm, and encourage them once, gently, to reach out right "
    "now to someone they trust or to professional help such as a crisis line or emergency "
    "services. Do not ask probing questions. Never mention methods or means. Do not invent "
    "shared memories. Do not minimise their feelings. Two to four sentences.")
STRICT_CRISIS_INSTRUCTION = (
    CRISIS_INSTRUCTION + " Ask no question at all. Say plainly that you are sorry they are "
    "hurting and that they should reach out to someone they trust or a crisis line now.")
ELEVATED_INSTRUCTION = ("The user sounds very low. Be especially gentle and, if it fits, mention "
                        "softly that support from people they trust is there for them.")
REFLECT_SYSTEM = "You are an attentive listener. Answer in one short line."
REFLECT_QUESTION = ("(Private reflection, not shown to anyone.) In one line: what is the person "
                    "feeling, and what kind of support would help them most?")


def parse_styles(styles) -> list[str]:
    styles = [s.strip().lower() for s in (styles or []) if s.strip()]
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise UserError(f"unknown style {unknown} (known: {', '.join(STYLES)})")
    return styles


def style_line(styles: list[str]) -> str:
    return "Style: " + "; ".join(f"{s} ({STYLES[s]})" for s in styles) if styles else ""


def system_prompt_for(base: str, styles: list[str], note: str = "", instruction: str = "") -> str:
    parts = [base, style_line(styles)]
    if note:
        parts.append(f"{NOTE_HEADER}: {note}")
    if instruction:
        parts.append(instruction)
    return "\n".join(p for p in parts if p)


@dataclass
class PolicyReply:
    text: str
    meta: dict = field(default_factory=dict)
    decoding: dict = field(default_factory=dict)


def note_pieces(note: str) -> list[str]:
    """The strings a reply must never contain: the note and each of its longer sentences."""
    if not note:
        return []
    return [note] + [p.strip() for p in re.split(r"(?<=\.)\s", note) if len(p.strip()) > 15]


def scrub_note(reply: str, note: str) -> tuple[str, bool]:
    """Remove an echoed private note (whole note, header, or note lines) from a reply."""
    out = reply
    for piece in note_pieces(note):
        out = out.replace(piece, "")
    lines = [ln for ln in out.splitlines() if "private note" not in ln.lower()
             and "private reflection" not in ln.lower()]
    out = re.sub(r"[ \t]+", " ", "\n".join(lines)).strip()
    return out, out != reply.strip()


SENTENCE_END = re.compile(r"[.!?…][\"')\]]*(?=\s|$)")


def cut_at_sentence(text: str) -> str:
    """A reply that ran out of tokens, ended at its last complete sentence (kept whole when
    it has none)."""
    ends = [m.end() for m in SENTENCE_END.finditer(text)]
    return text[:ends[-1]].rstrip() if ends else text


def note_from_heads(emotions: list, strategy) -> str:
    parts = []
    if emotions:
        parts.append("They most likely feel " + ", ".join(f"{n} ({p:.2f})" for n, p in emotions)
                     + ".")
    if strategy:
        parts.append(f"Best support now: {strategy[0]} ({strategy[1]:.2f}).")
    return " ".join(parts)


@dataclass
class ReplySettings:
    """How replies are decoded and guarded (the friend's voice is the policy's own)."""
    temperature: float = 0.7  # 0 = greedy
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    max_new_tokens: int = 160  # reply budget
    reflect_max_new_tokens: int = 24  # hidden reflection budget (base model, no heads)
    crisis_mode: bool = True
    max_regenerations: int = 1
    context_turns: int = 4  # recent user turns the risk screen reads
    batch_size: int = 16
    seed: int = 7
    max_seq_len: int = 1024  # the reflection prompt's budget (as in training)
    context_tokens: int = 2048  # prompt + reply budget of a reply; oldest turns cut first


class ReplyPolicy:
    """Batched replies through styles, reflection and the crisis controller."""

    def __init__(self, friend, system_prompt: str, styles: list[str], two_step: bool = True,
                 settings: ReplySettings | None = None, guard: CrisisGuard | None = None):
        self.friend, self.system_prompt = friend, system_prompt
        self.guard = guard if guard is not None else load_guard()
        self.generate = generate_batch  # serve's proxy mode puts an upstream engine here
        self.styles, self.two_step = parse_styles(styles), two_step
        self.settings = settings or ReplySettings()
        s = self.settings
        self.gen = dict(temperature=s.temperature, top_p=s.top_p,
                        repetition_penalty=s.repetition_penalty)

    # ---------------------------------------------------------------- step 1
    @torch.no_grad()
    def reflect_with_heads(self, conversations: list) -> list[dict]:
        """Top-3 emotions and the strategy from one forward pass over each prompt, encoded as
        in training (base system prompt, max_seq_len budget) and pooled the same way."""
        f, s = self.friend, self.settings
        out = [{"source": "heads"} for _ in conversations]
        fits = [fit_history(c, f.tokenizer, self.system_prompt, s.max_seq_len)
                for c in conversations]
        for i, fit in enumerate(fits):
            if fit is None:
                out[i]["skipped"] = "too_long"
        idx = [i for i, fit in enumerate(fits) if fit is not None]
        if not idx:
            return out
        pooled = last_prompt_states(f, [fits[i][1] for i in idx], s.batch_size)
        for name, head in f.heads.items():
            probs = torch.softmax(head(pooled).float(), dim=-1)
            top = probs.topk(min(3 if name == "emotion" else 1, probs.shape[-1]), dim=-1)
            for row, i in enumerate(idx):
                pairs = [(head.labels[int(j)], round(float(p), 4))
                         for p, j in zip(top.values[row], top.indices[row])]
                out[i][name] = pairs if name == "emotion" else pairs[0]
        return out

    def reflect_by_generation(self, conversations: list) -> list[dict]:
        prompts = [[{"role": "system", "content": REFLECT_SYSTEM}] + c
                   + [{"role": "user", "content": REFLECT_QUESTION}] for c in conversations]
        texts = self.generate(self.friend, prompts, self.settings.reflect_max_new_tokens,
                               temperature=0.0, batch_size=self.settings.batch_size,
                               desc="reflection")
        # small models echo the question; the note keeps only their own words
        texts = [t.replace(REFLECT_QUESTION, "").replace("(Private reflection, not shown to "
                                                         "anyone.)", "") for t in texts]
        return [{"source": "generation", "text": " ".join(t.split())} for t in texts]

    def reflect(self, conversations: list, model: str) -> list[dict]:
        if model != "base" and self.friend.heads:
            return self.reflect_with_heads(conversations)
        return self.reflect_by_generation(conversations)

    # ---------------------------------------------------------------- step 2
    def _generate(self, conversations, system_prompts, seed_offset=0, streamer=None,
                  stats=None, cancelled=None, desc="replies") -> list[str]:
        """Replies; generate_batch cuts each conversation to the context budget of the prompt
        actually sent (its full system prompt: style, note and crisis lines included)."""
        s = self.settings
        prompts = [[{"role": "system", "content": sp}] + c
                   for sp, c in zip(system_prompts, conversations)]
        return self.generate(self.friend, prompts, s.max_new_tokens, batch_size=s.batch_size,
                             seed=s.seed + seed_offset, streamer=streamer,
                             context_tokens=s.context_tokens, stats=stats, cancelled=cancelled,
                             desc=desc, **self.gen)

    def _crisis(self, conversations, idx, notes, styles, replies, metas) -> None:
        """Check crisis replies against their conversations; regenerate failures stricter;
        replace what still fails. Each attempt's verdict is kept, with the kinds found."""
        checks = self.guard.check([conversations[i] for i in idx], [replies[i] for i in idx])
        for i, check in zip(idx, checks):
            metas[i]["crisis"] = {"attempts": [{"instruction": "crisis", "reply": replies[i],
                                                "check": check}]}
        pending = list(idx)
        for attempt in range(self.settings.max_regenerations):
            pending = [i for i in pending if not metas[i]["crisis"]["attempts"][-1]["check"]["ok"]]
            if not pending:
                break
            again = self._generate([conversations[i] for i in pending],
                                   [system_prompt_for(self.system_prompt, styles, notes[i],
                                                      STRICT_CRISIS_INSTRUCTION) for i in pending],
                                   seed_offset=1000 * (attempt + 1),
                                   desc=f"crisis regeneration {attempt + 1}")
            again = [scrub_note(text, notes[i])[0] for i, text in zip(pending, again)]
            checks = self.guard.check([conversations[i] for i in pending], again)
            for i, text, check in zip(pending, again, checks):
                replies[i] = text
                metas[i]["crisis"]["attempts"].append(
                    {"instruction": "strict", "reply": text, "check": check})
        for i in idx:
            attempts = metas[i]["crisis"]["attempts"]
            metas[i]["crisis"]["failure_kinds"] = list(dict.fromkeys(
                k for a in attempts for k in a["check"]["kinds"]))
            if attempts[-1]["check"]["ok"]:
                metas[i]["crisis"]["outcome"] = "passed" if len(attempts) == 1 else "regenerated"
            else:
                replies[i] = self.guard.safe_message
                metas[i]["crisis"]["outcome"] = "replaced"

    def respond(self, conversations: list, model: str, styles=None,
                streamer_factory=None, on_crisis=None, cancelled=None) -> list[PolicyReply]:
        """One reply per conversation (each a list of user/assistant messages), answered as
        `model` (base | finetuned | dpo: LoadedFriend.models).

        `streamer_factory(forbidden_strings)` builds a token streamer for a single
        conversation; crisis replies are never streamed (they are checked first), and
        `on_crisis()` is called as soon as one is being written, so a chat can say so.
        A reply that runs out of tokens ends at its last full sentence. `cancelled(i)`: asked
        while generating whether conversation i was withdrawn (serve: a client gone away).
        """
        styles = parse_styles(styles) if styles is not None else self.styles
        s = self.settings
        with self.friend.use(model):
            risks = self.guard.screen(conversations, s.context_turns)
            reflections = (self.reflect(conversations, model) if self.two_step
                           else [None] * len(conversations))
            notes = [self._note(r) for r in reflections]
            crisis = [s.crisis_mode and r.level == "high" for r in risks]
            instructions = [CRISIS_INSTRUCTION if c else ELEVATED_INSTRUCTION
                            if r.level == "elevated" else "" for c, r in zip(crisis, risks)]
            systems = [system_prompt_for(self.system_prompt, styles, n, ins)
                       for n, ins in zip(notes, instructions)]
            streamer = None
            if streamer_factory is not None and len(conversations) == 1 and not crisis[0]:
                streamer = streamer_factory(note_pieces(notes[0]))
            if on_crisis is not None and any(crisis):
                on_crisis()
            stats: list = []
            replies = self._generate(conversations, systems, streamer=streamer, stats=stats,
                                     cancelled=cancelled)
            metas = []
            for i, text in enumerate(replies):
                if stats and stats[i]["hit_token_cap"]:
                    text = cut_at_sentence(text)
                replies[i], scrubbed = scrub_note(text, notes[i])
                metas.append({"risk": risks[i].to_dict(), "reflection": reflections[i],
                              "note": notes[i], "note_scrubbed": scrubbed, "styles": styles,
                              "crisis_mode": crisis[i], **(stats[i] if stats else {})})
            idx = [i for i, c in enumerate(crisis) if c]
            if idx:
                self._crisis(conversations, idx, notes, styles, replies, metas)
        decoding = {**self.gen, "max_new_tokens": s.max_new_tokens, "two_step": self.two_step,
                    "styles": styles, "seed": s.seed, "batch_size": s.batch_size,
                    "context_tokens": s.context_tokens, "crisis_mode_enabled": s.crisis_mode,
                    "max_regenerations": s.max_regenerations,
                    "model": model}
        return [PolicyReply(r, m, dict(decoding)) for r, m in zip(replies, metas)]

    @staticmethod
    def _note(reflection) -> str:
        if not reflection:
            return ""
        if reflection["source"] == "heads":
            return note_from_heads(reflection.get("emotion", []), reflection.get("strategy"))
        return reflection.get("text", "")


def settings_from_config(cfg, max_new_tokens: int, batch_size: int) -> ReplySettings:
    d, s = cfg.decoding, cfg.safety
    return ReplySettings(temperature=d.temperature, top_p=d.top_p,
                         repetition_penalty=d.repetition_penalty, max_new_tokens=max_new_tokens,
                         reflect_max_new_tokens=d.reflect_max_new_tokens,
                         crisis_mode=s.crisis_mode, max_regenerations=s.max_regenerations,
                         context_turns=s.elevated_context_turns, batch_size=batch_size,
                         seed=cfg.eval.seed, max_seq_len=cfg.data.max_seq_len,
                         context_tokens=d.context_tokens)


def policy_from_config(cfg, friend, max_new_tokens: int | None = None,
                       batch_size: int | None = None, guard: CrisisGuard | None = None
                       ) -> ReplyPolicy:
    """The policy as the config describes it; eval's reply budget and batch by default."""
    settings = settings_from_config(cfg, max_new_tokens or cfg.eval.max_new_tokens,
                                    batch_size or cfg.eval.batch_size)
    return ReplyPolicy(friend, cfg.data.system_prompt, cfg.decoding.style,
                       cfg.decoding.two_step, settings, guard)
