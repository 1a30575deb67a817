"""Proxy mode of `serve`: the friend's policy here, the generation on any OpenAI-compatible
engine (vLLM serving the exported adapter, or another `serve --raw`).

The policy calls `upstream_generate` where it would call generation.generate_batch: each
conversation (the policy's system prompt with its style, note and crisis lines, then the
turns) goes to the upstream as one chat completion, concurrently; a streamed one is read as
server-sent events into the same guarded streamer a local model feeds. The upstream has no
heads here, so the reflection step writes its note by generation. Plain urllib: no extra
client library to pin.

    python main.py serve --config config/cpu_smoke.json --upstream http://127.0.0.1:8001
"""
from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from config import UserError


class RemoteFriend:
    """What the policy needs of a friend when an upstream generates: the models offered, the
    upstream model id each maps to, and which one answers now (`use`)."""
    heads: dict = {}
    tokenizer = None

    def __init__(self, url: str, model_ids: dict, api_key: str | None = None,
                 timeout_s: float = 300.0):
        self.url, self.model_ids = url.rstrip("/"), model_ids
        self.api_key, self.timeout_s, self.current = api_key, timeout_s, None

    @property
    def models(self) -> tuple:
        return tuple(self.model_ids)

    @contextlib.contextmanager
    def use(self, model: str):
        self.current = model
        try:
            yield
        finally:
            self.current = None

    def post(self, body: dict):
        req = urllib.request.Request(f"{self.url}/v1/chat/completions", method="POST",
                                     data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json", **(
                                         {"Authorization": f"Bearer {self.api_key}"}
                                         if self.api_key else {})})
        try:
            return urllib.request.urlopen(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"upstream {self.url} answered {e.code}: "
                               f"{e.read()[:300].decode('utf-8', 'replace')}") from None
        except urllib.error.URLError as e:
            raise RuntimeError(f"upstream {self.url} cannot be reached ({e.reason})") from None


def check_upstream(url: str, api_key: str | None) -> list[str]:
    """The upstream's model ids, or a UserError naming the URL."""
    req = urllib.request.Request(f"{url.rstrip('/')}/v1/models", headers={
        "Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return [m["id"] for m in json.loads(resp.read())["data"]]
    except (urllib.error.URLError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"--upstream {url}: no OpenAI-compatible /v1/models there ({e})") from None


def _one(friend: RemoteFriend, conversation: list, max_new_tokens: int, temperature: float,
         top_p: float, repetition_penalty: float, seed, streamer) -> tuple[str, dict]:
    body = {"model": friend.model_ids[friend.current], "messages": conversation,
            "max_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
            "repetition_penalty": repetition_penalty, "stream": streamer is not None,
            **({"seed": seed} if seed is not None else {})}
    with friend.post(body) as resp:
        if streamer is None:
            out = json.loads(resp.read())
            choice = out["choices"][0]
            return choice["message"]["content"] or "", {
                "new_tokens": (out.get("usage") or {}).get("completion_tokens", 0),
                "hit_token_cap": choice.get("finish_reason") == "length"}
        text, finish = "", None
        for raw in resp:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            choice = json.loads(line[5:])["choices"][0]
            piece = choice.get("delta", {}).get("content") or ""
            finish = choice.get("finish_reason") or finish
            if piece:
                text += piece
                streamer.on_finalized_text(piece)
        streamer.on_finalized_text("", stream_end=True)
        return text, {"new_tokens": 0, "hit_token_cap": finish == "length"}


def upstream_generate(friend: RemoteFriend, conversations: list, max_new_tokens: int,
                      temperature: float = 0.0, top_p: float = 1.0,
                      repetition_penalty: float = 1.0, batch_size: int = 16, seed=None,
                      streamer=None, context_tokens: int = 0, sampling: dict | None = None,
                      stats: list | None = None, desc: str = "", cancelled=None) -> list[str]:
    """generation.generate_batch's contract, answered by the upstream: replies in input
    order, `stats` filled. (The upstream applies its own context limit.)"""
    with ThreadPoolExecutor(max_workers=max(1, min(batch_size, len(conversations)))) as pool:
        done = list(pool.map(lambda c: _one(friend, c, max_new_tokens, temperature, top_p,
                                            repetition_penalty, seed, streamer), conversations))
    if stats is not None:
        stats.extend(info for _, info in done)
    return [text.strip() for text, _ in done]
