"""The generation side of `serve`: a bounded queue of chat requests and one worker thread
that answers them through the decoding policy (styles, reflection, the crisis screen over the
whole conversation, the reply check, regeneration and replacement), exactly as `chat` and
`eval` do.

Requests whose settings agree (model, styles, temperature, top_p, max_tokens) are answered
together, up to `serve.max_batch`, through the batched `generate_batch`; a streamed request
is answered alone (a token streamer follows one conversation). Each request gets its own
reply by position, so replies are never mixed. A request whose client went away is skipped
if it has not started, and its rows stop generating if it has.

    python main.py serve --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from decoding_policy import PolicyReply, ReplyPolicy
from streaming import GuardedStreamer


class QueueFull(Exception):
    """The queue holds serve.queue_size requests already: answer 429."""


@dataclass
class ChatRequest:
    model: str
    messages: list  # the conversation sent, user and assistant turns, ending with a user one
    styles: list | None = None  # None: the run's decoding.style
    temperature: float = 0.7
    top_p: float = 0.9
    max_tokens: int = 200
    stop: list = field(default_factory=list)
    stream: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)  # the client went away
    done: threading.Event = field(default_factory=threading.Event)
    events: queue.Queue = field(default_factory=queue.Queue)  # streamed: ("text", s), ("crisis",)
    reply: PolicyReply | None = None
    text: str = ""  # the reply as sent: cut at a stop string
    finish_reason: str = "stop"
    error: BaseException | None = None

    def batch_key(self) -> tuple:
        return (self.model, tuple(self.styles or ()), self.temperature, self.top_p,
                self.max_tokens, self.stream)


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """The text before the first stop string, and whether one was found."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[:min(hits)], True) if hits else (text, False)


class EventWriter:
    """What a GuardedStreamer writes to: the request's event queue, holding back text that
    could be the start of a stop string, and ending generation when one appears."""

    def __init__(self, req: ChatRequest):
        self.req, self.held, self.stopped = req, "", False
        self.longest = max((len(s) for s in req.stop), default=0)

    def write(self, text: str) -> None:
        if self.stopped:
            return
        self.held += text
        before, hit = cut_at_stop(self.held, self.req.stop)
        if hit:
            self.stopped = True
            self.req.cancel.set()  # nothing after a stop string is wanted
            self._send(before)
            self.held = ""
            return
        keep = max(0, self.longest - 1)
        self._send(self.held[:len(self.held) - keep] if keep else self.held)
        self.held = self.held[len(self.held) - keep:] if keep else ""

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.stopped:
            self._send(self.held)
        self.held = ""

    def _send(self, text: str) -> None:
        if text:
            self.req.events.put(("text", text))


class Engine:
    """The queue and its worker. `policy_for(request)` gives the ReplyPolicy for a request's
    settings (serve.py builds it from the run's config); `tokenizer` is the streamers'
    (None upstream, where the engine streams the upstream's text)."""

    def __init__(self, policy_for, serve_cfg, tokenizer=None):
        self.policy_for, self.cfg, self.tokenizer = policy_for, serve_cfg, tokenizer
        self.pending: queue.Queue = queue.Queue(maxsize=serve_cfg.queue_size)
        self.busy = False
        self.answered = 0
        self._worker = threading.Thread(target=self._loop, name="serve-engine", daemon=True)
        self._worker.start()

    def submit(self, req: ChatRequest) -> None:
        try:
            self.pending.put_nowait(req)
        except queue.Full:
            raise QueueFull from None

    def health(self) -> dict:
        return {"queued": self.pending.qsize(), "busy": self.busy, "answered": self.answered,
                "worker_alive": self._worker.is_alive()}

    # ---------------------------------------------------------------- the worker
    def _loop(self) -> None:
        while True:
            first = self.pending.get()
            batch = [first] if first.stream else self._gather(first)
            batch = [r for r in batch if not r.cancel.is_set() or self._drop(r)]
            if not batch:
                continue
            self.busy = True
            try:
                if batch[0].stream:
                    self._answer_stream(batch[0])
                else:
                    self._answer_batch(batch)
            except BaseException as e:  # noqa: BLE001 (the error goes back to each client)
                logging.getLogger("serve").exception("answering %d request(s) failed", len(batch))
                for r in batch:
                    r.error = e
            finally:
                self.busy = False
                for r in batch:
                    self.answered += 1
                    r.done.set()
                    r.events.put(("end",))

    @staticmethod
    def _drop(req: ChatRequest) -> bool:
        """A request withdrawn before it started: never generated, released."""
        req.error = ConnectionAbortedError("the client went away")
        req.done.set()
        req.events.put(("end",))
        return False

    def _gather(self, first: ChatRequest) -> list[ChatRequest]:
        """`first` and the requests that agree with it, waiting up to serve.batch_wait_ms
        for more; a request that does not agree goes back to the queue's end."""
        batch, others = [first], []
        deadline = time.monotonic() + self.cfg.batch_wait_ms / 1000
        while len(batch) < self.cfg.max_batch:
            try:
                nxt = self.pending.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            (batch if not nxt.stream and nxt.batch_key() == first.batch_key() else
             others).append(nxt)
        for r in others:
            self.pending.put(r)  # room is certain: they came out of this queue
        return batch

    def _answer_batch(self, batch: list[ChatRequest]) -> None:
        policy = self.policy_for(batch[0])
        replies = policy.respond([r.messages for r in batch], batch[0].model, batch[0].styles,
                                 cancelled=lambda i: batch[i].cancel.is_set())
        for r, reply in zip(batch, replies):
            r.reply = reply
            r.text, stopped = cut_at_stop(reply.text, r.stop)
            r.finish_reason = "stop" if stopped or not reply.meta.get("hit_token_cap") \
                else "length"

    def _answer_stream(self, req: ChatRequest) -> None:
        """One conversation, its tokens sent as they come (a crisis reply only once it has
        passed the check: the policy never streams it)."""
        policy, writer = self.policy_for(req), EventWriter(req)
        streamers = []

        def streamer_factory(forbidden):
            streamers.append(self.streamer(forbidden, writer))
            return streamers[-1]
        reply = policy.respond([req.messages], req.model, req.styles,
                               streamer_factory=streamer_factory,
                               on_crisis=lambda: req.events.put(("crisis",)),
                               cancelled=lambda i: req.cancel.is_set())[0]
        req.reply = reply
        req.text, stopped = cut_at_stop(reply.text, req.stop)
        cut = bool(reply.meta.get("hit_token_cap"))
        if reply.meta.get("crisis_mode") or not streamers:
            req.events.put(("text", req.text))  # checked first, then sent whole
        else:
            for st in streamers:
                st.finish(cut=cut)
            writer.close()
        req.finish_reason = "stop" if stopped or writer.stopped or not cut else "length"

    def streamer(self, forbidden: list[str], writer: EventWriter):
        """A local model streams through a GuardedStreamer; proxy mode's upstream engine
        takes the same writer (serve_upstream.py)."""
        return GuardedStreamer(self.tokenizer, forbidden, writer)


def request_settings(base, req: ChatRequest):
    """The policy's ReplySettings with the request's sampling and budget."""
    return dataclasses.replace(base, temperature=req.temperature, top_p=req.top_p,
                               max_new_tokens=req.max_tokens)


def build_policy(friend, cfg, guard, settings, generate=None) -> ReplyPolicy:
    policy = ReplyPolicy(friend, cfg.data.system_prompt, cfg.decoding.style,
                         cfg.decoding.two_step, settings, guard)
    if generate is not None:
        policy.generate = generate
    return policy
