"""The HTTP side of `serve`: OpenAI's chat-completions protocol on Starlette.

Routes: `GET /v1/models`, `POST /v1/chat/completions` (JSON, or server-sent events ending in
`data: [DONE]` with `stream: true`), `GET /health`, and the web chat page at `/`. Every
refusal is an OpenAI-style error body naming the field (400, 401, 404, 413, 429 with
Retry-After), never a traceback. Stateless: the client sends the whole conversation. The reply
carries the friend's own fields under `friend`: the risk level, crisis mode and what the reply
check found.

    python main.py serve --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
import uuid

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from decoding_policy import STYLES
from serve_engine import ChatRequest, QueueFull

ROLES = ("system", "user", "assistant")  # the friend's own system prompt replaces a client's
LOG = logging.getLogger("serve")
PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web", "index.html")


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None,
                 kind: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.kind = status, message, param, kind
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"message": self.message, "type": self.kind,
                                       "param": self.param, "code": None}},
                            status_code=self.status, headers=self.headers)


def _number(body: dict, key: str, default, low: float, high: float, kind=float):
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not float(value).is_integer()):
        raise ApiError(400, f"{key} must be a{'n integer' if kind is int else ' number'}", key)
    if not low <= value <= high:
        raise ApiError(400, f"{key} must be between {low} and {high}", key)
    return kind(value)


def _messages(body: dict, limits, keep_system: bool = False) -> list[dict]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise ApiError(400, "messages must be a non-empty list", "messages")
    if len(msgs) > limits.max_messages:
        raise ApiError(400, f"at most {limits.max_messages} messages", "messages")
    out = []
    for k, m in enumerate(msgs):
        where = f"messages[{k}]"
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ApiError(400, f"{where}.role must be one of {', '.join(ROLES)}", f"{where}.role")
        content = m.get("content")
        if isinstance(content, list):  # OpenAI's content parts: the text ones are read
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict)
                              and p.get("type") == "text")
        if not isinstance(content, str):
            raise ApiError(400, f"{where}.content must be a string", f"{where}.content")
        if len(content) > limits.max_message_chars:
            raise ApiError(400, f"{where}.content is over {limits.max_message_chars} characters",
                           f"{where}.content")
        if m["role"] != "system" or keep_system:
            out.append({"role": m["role"], "content": content})
    if not out or out[-1]["role"] != "user":
        raise ApiError(400, "the conversation must end with a user message", "messages")
    return out


def parse_request(body, limits, models: tuple, defaults, keep_system: bool = False
                  ) -> ChatRequest:
    """A ChatRequest from a JSON body, or the ApiError that names what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model is required (see GET /v1/models)", "model")
    if model not in models:
        raise ApiError(404, f"model '{model}' does not exist here (have {', '.join(models)})",
                       "model", "not_found_error")
    styles = body.get("style")
    if isinstance(styles, str):
        styles = [s for s in styles.replace(",", " ").split() if s]
    if styles is not None and (not isinstance(styles, list) or any(s not in STYLES
                                                                   for s in styles)):
        raise ApiError(400, f"style must be one or more of {', '.join(STYLES)}", "style")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise ApiError(400, "stop must be a string or a list of at most 4 strings", "stop")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "stream must be true or false", "stream")
    return ChatRequest(
        model=model, messages=_messages(body, limits, keep_system), styles=styles, stop=stop,
        stream=stream,
        temperature=_number(body, "temperature", defaults.temperature, 0.0, 2.0),
        top_p=_number(body, "top_p", defaults.top_p, 0.0, 1.0),
        max_tokens=_number(body, "max_tokens", min(defaults.max_new_tokens, limits.max_tokens), 1,
                           limits.max_tokens, int))


def friend_fields(req: ChatRequest) -> dict:
    """The extension the friend adds to OpenAI's shape."""
    meta = req.reply.meta if req.reply else {}
    crisis = meta.get("crisis") or {}
    return {"risk_level": (meta.get("risk") or {}).get("level"),
            "crisis_mode": bool(meta.get("crisis_mode")), "styles": meta.get("styles"),
            "reply_check": crisis.get("outcome"), "failure_kinds": crisis.get("failure_kinds", [])}


class Api:
    """The routes over one engine. `count_tokens(messages, text)` gives usage (prompt,
    completion) tokens."""

    def __init__(self, engine, models: tuple, serve_cfg, defaults, count_tokens,
                 api_key: str | None = None, raw: bool = False):
        self.engine, self.models, self.cfg = engine, models, serve_cfg
        self.defaults, self.count_tokens, self.api_key = defaults, count_tokens, api_key
        self.raw = raw  # a bare backend: the client's system message is the prompt's

    def app(self) -> Starlette:
        middleware = [Middleware(CORSMiddleware, allow_origins=self.cfg.cors_origins,
                                 allow_methods=["GET", "POST"], allow_headers=["*"])] \
            if self.cfg.cors_origins else []
        return Starlette(routes=[Route("/", self.page), Route("/health", self.health),
                                 Route("/v1/models", self.list_models),
                                 Route("/v1/chat/completions", self.chat, methods=["POST"])],
                         middleware=middleware,
                         exception_handlers={Exception: self._internal, 404: self._not_found,
                                             405: self._not_allowed})

    # ---------------------------------------------------------------- plumbing
    async def _internal(self, request, exc):
        LOG.error("%s %s failed", request.method, request.url.path,
                  exc_info=(type(exc), exc, exc.__traceback__))  # the server's log, not the client's
        return ApiError(500, f"internal error ({type(exc).__name__})", kind="server_error") \
            .response()

    async def _not_found(self, request, exc):
        return ApiError(404, f"no route {request.url.path}", kind="not_found_error").response()

    async def _not_allowed(self, request, exc):
        return ApiError(405, f"{request.method} is not allowed on {request.url.path}").response()

    def _authorize(self, request: Request) -> None:
        if not self.api_key:
            return
        given = request.headers.get("authorization", "")
        if not (given.startswith("Bearer ") and secrets.compare_digest(given[7:], self.api_key)):
            raise ApiError(401, "a valid API key is required: Authorization: Bearer <key>",
                           kind="authentication_error")

    async def _body(self, request: Request):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.cfg.max_body_bytes:
            raise ApiError(413, f"the body is over {self.cfg.max_body_bytes} bytes")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > self.cfg.max_body_bytes:
                raise ApiError(413, f"the body is over {self.cfg.max_body_bytes} bytes")
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ApiError(400, f"the body is not valid JSON ({e})") from None

    # ---------------------------------------------------------------- routes
    async def page(self, request: Request):
        with open(PAGE, encoding="utf-8") as f:
            return HTMLResponse(f.read())

    async def health(self, request: Request):
        return JSONResponse({"status": "ok", "models": list(self.models), **self.engine.health()})

    async def list_models(self, request: Request):
        try:
            self._authorize(request)
        except ApiError as e:
            return e.response()
        return JSONResponse({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "friend-tune"}
            for m in self.models]})

    async def chat(self, request: Request):
        try:
            self._authorize(request)
            req = parse_request(await self._body(request), self.cfg, self.models, self.defaults,
                                keep_system=self.raw)
            try:
                self.engine.submit(req)
            except QueueFull:
                raise ApiError(429, "the server is busy: too many requests waiting, retry "
                               "shortly", kind="rate_limit_error",
                               headers={"Retry-After": str(self.cfg.retry_after_s)}) from None
        except ApiError as e:
            return e.response()
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if req.stream:
            return StreamingResponse(self._events(req, ident, created),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        while not req.done.is_set():
            if await request.is_disconnected():
                req.cancel.set()
                return JSONResponse({}, status_code=499)
            await asyncio.sleep(0.02)
        if req.error is not None:
            return ApiError(500, f"the reply failed ({type(req.error).__name__})",
                            kind="server_error").response()
        prompt, completion = self.count_tokens(req.messages, req.text)
        return JSONResponse({
            "id": ident, "object": "chat.completion", "created": created, "model": req.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": req.text},
                         "finish_reason": req.finish_reason}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
            "friend": friend_fields(req)})

    async def _events(self, req: ChatRequest, ident: str, created: int):
        """Server-sent events in OpenAI's chunk format; the client going away (the generator
        closed) withdraws the request, which stops its generation."""
        def chunk(delta: dict, finish=None, extra: dict | None = None) -> str:
            body = {"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": req.model, "choices": [{"index": 0, "delta": delta,
                                                     "finish_reason": finish}], **(extra or {})}
            return f"data: {json.dumps(body)}\n\n"
        try:
            yield chunk({"role": "assistant", "content": ""})
            while True:
                try:
                    event = req.events.get_nowait()
                except Exception:  # noqa: BLE001 (queue.Empty: nothing yet)
                    await asyncio.sleep(0.01)
                    continue
                if event[0] == "text":
                    yield chunk({"content": event[1]})
                elif event[0] == "crisis":
                    yield chunk({}, extra={"friend": {"crisis_mode": True, "checking": True}})
                else:
                    break
            if req.error is not None:
                yield f"data: {json.dumps({'error': {'message': 'the reply failed', 'type': 'server_error'}})}\n\n"
            else:
                prompt, completion = self.count_tokens(req.messages, req.text)
                yield chunk({}, req.finish_reason, {"friend": friend_fields(req), "usage": {
                    "prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion}})
            yield "data: [DONE]\n\n"
        finally:
            if not req.done.is_set():
                req.cancel.set()
