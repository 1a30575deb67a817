"""Prompts through the tokenizer's own chat template, and the one history-truncation rule.

Training examples (dataset.tokenize_example), the reflection step, eval replies and chat all
render prompts here, and all cut over-long histories with `fit_history`: the oldest turns go
first, a cut history restarts at a user turn, and the budget is measured on the prompt
actually sent (its full system prompt included).

    python main.py chat --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations


def render_ids(tokenizer, messages: list[dict], add_generation_prompt: bool = True) -> list[int]:
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False,
                                              add_generation_prompt=add_generation_prompt))


def with_system(system_prompt: str, history: list[dict]) -> list[dict]:
    return [{"role": "system", "content": system_prompt}] + list(history)


def end_of_turn_id(tokenizer) -> int:
    """The special token that closes an assistant turn in this tokenizer's chat template."""
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    prompt = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(probe + [{"role": "assistant", "content": "REPLY"}],
                                         tokenize=False)
    if not full.startswith(prompt) or "REPLY" not in full[len(prompt):]:
        raise ValueError("chat template does not render the reply after the generation prompt")
    tail = full[len(prompt):].split("REPLY", 1)[1]
    ids = tokenizer(tail, add_special_tokens=False).input_ids
    if not ids or ids[0] not in tokenizer.all_special_ids:
        raise ValueError(f"no special end-of-turn token after the reply in {tail!r}")
    return ids[0]


def cut_points(history: list[dict]) -> list[int]:
    """Where a history may start: its beginning (supporter openings included), or any later
    user turn."""
    return [0] + [i for i, m in enumerate(history) if i > 0 and m["role"] == "user"]


def fit_history(history: list[dict], tokenizer, system_prompt: str, budget: int):
    """(start, prompt ids) for the longest suffix history[start:] whose rendered prompt fits
    `budget` tokens, or None when even the last cut does not fit.

    The whole history is tried first (one render, the common case); otherwise a binary search
    over the cut points, which finds the same start as trying them in order because a later
    start renders fewer tokens: O(log turns) renders instead of O(turns).
    """
    starts = cut_points(history)

    def ids_from(k):
        return render_ids(tokenizer, with_system(system_prompt, history[starts[k]:]))
    first = ids_from(0)
    if len(first) <= budget:
        return 0, first
    lo, hi, found = 1, len(starts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        ids = ids_from(mid)
        if len(ids) <= budget:
            found, hi = (starts[mid], ids), mid - 1
        else:
            lo = mid + 1
    return found


def trim_history(history: list[dict], tokenizer, system_prompt: str, budget: int) -> list[dict]:
    """The history cut by fit_history to `budget` prompt tokens; when nothing fits, the last
    user turn alone (a reply must answer something)."""
    fit = fit_history(history, tokenizer, system_prompt, budget)
    return history[fit[0]:] if fit else history[-1:]


class PromptEncoder:
    """Chat-template ids assembled from cached per-message blocks, for templates that render
    a conversation as the concatenation of its messages (ChatML: Qwen, SmolLM2).

    A dialogue of n turns yields n examples whose histories share their turns; rendering and
    tokenizing each history anew costs O(n^2) tokens per dialogue (ESConv: minutes). Here a
    message is tokenized once, a prompt is `head + blocks + generation prompt`, and a cut
    point's length is a sum. `exact` is False when the template is not compositional (checked
    on a probe dialogue); callers then fall back to fit_history, which renders each prompt.
    """

    def __init__(self, tokenizer, system_prompt: str):
        self.tokenizer, self.system = tokenizer, system_prompt
        self.head = render_ids(tokenizer, with_system(system_prompt, []), False)
        probe = [{"role": "user", "content": "a"}]
        self.gen = render_ids(tokenizer, with_system(system_prompt, probe))[
            len(render_ids(tokenizer, with_system(system_prompt, probe), False)):]
        self.blocks: dict = {}
        self.exact = self._compositional()

    def block(self, message: dict) -> list[int]:
        key = (message["role"], message["content"])
        if key not in self.blocks:
            ids = render_ids(self.tokenizer, with_system(self.system, [message]), False)
            self.blocks[key] = ids[len(self.head):] if ids[:len(self.head)] == self.head else None
        return self.blocks[key]

    def prompt_ids(self, history: list[dict]) -> list[int]:
        return self.head + [t for m in history for t in self.block(m)] + self.gen

    def _compositional(self) -> bool:
        probe = [{"role": "assistant", "content": "Hi, I'm here."},
                 {"role": "user", "content": "I feel low today.\nReally low."},
                 {"role": "assistant", "content": "That sounds hard."},
                 {"role": "user", "content": "Thanks"}]
        if any(self.block(m) is None for m in probe):
            return False
        return all(self.prompt_ids(probe[k:]) == render_ids(
            self.tokenizer, with_system(self.system, probe[k:])) for k in range(len(probe)))

    def fit(self, history: list[dict], budget: int):
        """fit_history's answer, from block lengths (the same cut: lengths are exact sums)."""
        if not self.exact or any(self.block(m) is None for m in history):
            return fit_history(history, self.tokenizer, self.system, budget)
        fixed = len(self.head) + len(self.gen)
        suffix = [0] * (len(history) + 1)
        for i in range(len(history) - 1, -1, -1):
            suffix[i] = suffix[i + 1] + len(self.block(history[i]))
        for start in cut_points(history):
            if fixed + suffix[start] <= budget:
                return start, self.prompt_ids(history[start:])
        return None
