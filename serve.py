"""`serve`: talk to the friend from anything, through an OpenAI-compatible HTTP server and a
web chat page, with the same decoding policy and crisis layer as `chat` and `eval`.

Why Starlette on uvicorn: the smallest well-kept ASGI pair that streams server-sent events
and serves a page (FastAPI adds request models we check by hand anyway, to name the field in
OpenAI's error shape). One worker thread owns the model (serve_engine.py); the event loop only
parses, waits and streams. Safe by default: loopback unless told otherwise, a bearer key when
given (`--api-key` or FRIEND_API_KEY), limits from config `serve.*`, CORS off.

Modes: the run's model (base, fine-tuned and SFT+DPO when trained); `--upstream URL`, the
policy in front of any OpenAI-compatible engine (serve_upstream.py); `--raw`, a bare
generation backend with no policy (the client's system message is used as sent), only for
standing in as another server's upstream, on loopback.

    python main.py serve --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

import ipaddress
import os
import sys

import uvicorn

from config import UserError
from crisis import load_guard
from decoding_policy import PolicyReply, settings_from_config
from generation import generate_batch
from loading import load_for_inference
from prompting import render_ids
from serve_api import Api
from serve_engine import Engine, build_policy, request_settings
from serve_upstream import RemoteFriend, check_upstream, upstream_generate


class RawPolicy:
    """`--raw`: the conversation generated as sent (its own system message), no policy."""

    def __init__(self, friend, settings):
        self.friend, self.settings = friend, settings

    def respond(self, conversations, model, styles=None, streamer_factory=None,
                on_crisis=None, cancelled=None) -> list[PolicyReply]:
        s, stats = self.settings, []
        streamer = streamer_factory([]) if streamer_factory and len(conversations) == 1 else None
        with self.friend.use(model):
            texts = generate_batch(self.friend, conversations, s.max_new_tokens,
                                   temperature=s.temperature, top_p=s.top_p,
                                   repetition_penalty=s.repetition_penalty,
                                   batch_size=s.batch_size, seed=s.seed, streamer=streamer,
                                   context_tokens=s.context_tokens, stats=stats,
                                   cancelled=cancelled)
        return [PolicyReply(t, dict(info)) for t, info in zip(texts, stats)]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def upstream_ids(spec: str | None, offered: list[str]) -> dict:
    """--upstream-models "base=Qwen/Qwen2.5-3B-Instruct,finetuned=friend": our model names
    -> the upstream's ids; by default the names the upstream offers that we know."""
    if spec:
        pairs = [p.split("=", 1) for p in spec.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise UserError(f"--upstream-models: '{spec}' is not NAME=ID,NAME=ID")
        ids = {k.strip(): v.strip() for k, v in pairs}
    else:
        ids = {m: m for m in ("base", "finetuned", "dpo") if m in offered}
    if not ids:
        raise UserError(f"the upstream offers {offered}: name the models with --upstream-models")
    return ids


def build_app(cfg, api_key: str | None = None, upstream: str | None = None,
              upstream_models: str | None = None, raw: bool = False):
    """The ASGI app and its engine for a run (or an upstream)."""
    defaults = settings_from_config(cfg, cfg.decoding.chat_max_new_tokens, cfg.serve.max_batch)
    if upstream:
        friend = RemoteFriend(upstream, upstream_ids(upstream_models, check_upstream(
            upstream, os.environ.get("FRIEND_UPSTREAM_KEY"))), os.environ.get(
            "FRIEND_UPSTREAM_KEY"))
        guard, generate, tokenizer = load_guard(), upstream_generate, None
    else:
        friend = load_for_inference(cfg, require_adapter=False)
        guard, generate, tokenizer = (None if raw else load_guard()), None, friend.tokenizer

    def policy_for(req):
        settings = request_settings(defaults, req)
        return RawPolicy(friend, settings) if raw else build_policy(friend, cfg, guard,
                                                                    settings, generate)

    def count_tokens(messages: list, text: str) -> tuple[int, int]:
        if tokenizer is None:  # upstream: the words, the nearest count without a tokenizer
            return sum(len(m["content"].split()) for m in messages), len(text.split())
        system = [{"role": "system", "content": cfg.data.system_prompt}]
        return len(render_ids(tokenizer, system + messages)), len(
            tokenizer(text, add_special_tokens=False)["input_ids"])
    engine = Engine(policy_for, cfg.serve, tokenizer)
    return Api(engine, friend.models, cfg.serve, defaults, count_tokens, api_key, raw).app(), \
        engine


def run_serve(cfg, host: str | None = None, port: int | None = None, api_key: str | None = None,
              upstream: str | None = None, upstream_models: str | None = None,
              raw: bool = False) -> int:
    """Entry point of `python main.py serve`; returns the exit code."""
    host, port = host or cfg.serve.host, port or cfg.serve.port
    api_key = api_key or os.environ.get("FRIEND_API_KEY") or None
    if raw and not is_loopback(host):
        raise UserError("--raw has no crisis layer: it binds to loopback only")
    if not is_loopback(host) and not api_key:
        print(f"!! WARNING: serving on {host}, reachable from other machines, WITHOUT an API "
              "key: anyone who can reach this port can use the model. Set --api-key or "
              "FRIEND_API_KEY.", file=sys.stderr)
    app, _ = build_app(cfg, api_key, upstream, upstream_models, raw)
    mode = f"proxy for {upstream}" if upstream else "raw backend, no policy" if raw else \
        cfg.run_dir
    print(f"[serve] http://{host}:{port}/ (web chat), http://{host}:{port}/v1 (OpenAI API); "
          f"{mode}; {'API key required' if api_key else 'no API key'}", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
