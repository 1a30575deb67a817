"""The crisis layer as the chat model's code sees it: one object that screens conversations
and checks crisis replies, with the learned scorer and judge loaded once.

`load_guard()` builds what the cache lacks (announcing it and how long it takes: eval and chat
never train silently), then loads. `CrisisGuard()` with no models is the rules alone.

    python main.py chat --config config/cpu_smoke.json
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from crisis.build import CACHE, ensure_built
from crisis.judge import ReplyJudge, load_judge
from crisis.reply_check import SAFE_MESSAGE, check_replies
from crisis.scorer import RiskScorer, load_scorer
from crisis.screen import RiskAssessment, assess_many


@dataclass
class CrisisGuard:
    scorer: RiskScorer | None = None  # None: the screen's rules alone
    judge: ReplyJudge | None = None  # None: the reply check's rules alone
    safe_message: str = SAFE_MESSAGE  # what replaces a crisis reply that fails twice

    def screen(self, conversations: list, context_turns: int = 4) -> list[RiskAssessment]:
        """The risk of each conversation's latest user turn, read with its history."""
        return assess_many(conversations, self.scorer, context_turns)

    def check(self, conversations: list[list[dict]], replies: list[str]) -> list[dict]:
        """{"ok", "kinds", "p_harmful", "rules"} for each crisis reply to its conversation."""
        return check_replies(conversations, replies, self.judge)


@functools.lru_cache(maxsize=2)
def load_guard(cache_dir: str = CACHE) -> CrisisGuard:
    folders = ensure_built(cache_dir)
    return CrisisGuard(load_scorer(folders["scorer"], folders["scorer_thresholds"]),
                       load_judge(folders["judge"], folders["judge_threshold"]))
