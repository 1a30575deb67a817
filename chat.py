"""`chat`: talk to the fine-tuned friend in the terminal, through the decoding policy.

Streams tokens (a private-note echo is filtered out of the stream), keeps multi-turn history
(the policy sends what fits `decoding.context_tokens`, oldest turns dropped first), marks
crisis mode visibly.
Commands: /style NAME[,NAME], /reset, /quit. Ctrl-C or end of input exits cleanly. Without
a trained adapter it talks to the base model and says so.

    python main.py chat --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

import sys

from config import UserError
from decoding_policy import STYLES, parse_styles, policy_from_config
from loading import load_for_inference
from streaming import GuardedStreamer

HELP = f"commands: /style NAME[,NAME] ({', '.join(STYLES)}), /reset, /quit"


def _command(text: str, history: list, styles: list, out) -> tuple[list, list]:
    """/reset and /style; anything else gets the help line. Returns (history, styles)."""
    if text == "/reset":
        out.write("(conversation cleared)\n")
        return [], styles
    if text.startswith("/style"):
        try:
            styles = parse_styles(text[len("/style"):].replace(",", " ").split())
            out.write(f"(style: {', '.join(styles) or 'none'})\n")
        except UserError as e:
            out.write(f"({e})\n")
        return history, styles
    out.write(HELP + "\n")
    return history, styles


def _read_turn(stdin, out) -> str | None:
    """The user's next line, stripped; "" to ask again; None at end of input or Ctrl-C."""
    out.write("you> ")
    out.flush()
    try:
        line = stdin.readline()
    except KeyboardInterrupt:
        return None
    except UnicodeDecodeError:
        out.write("(that line was not readable text; please type it again)\n")
        return ""
    return line.strip() if line else None


def _finish_reply(reply, streamers: list, out) -> None:
    """A crisis reply is shown whole (it was checked first); a streamed one gets its ending."""
    if reply.meta.get("crisis_mode"):
        out.write(f"[crisis mode] friend> {reply.text}\n")
        return
    for st in streamers:
        st.finish(cut=bool(reply.meta.get("hit_token_cap")))
    out.write("\n")


def run_chat(cfg, stdin=None, out=None) -> int:
    """Entry point of `python main.py chat`; returns the exit code."""
    stdin, out = stdin or sys.stdin, out or sys.stdout
    if hasattr(stdin, "reconfigure"):
        stdin.reconfigure(errors="replace")  # stray non-UTF-8 bytes must not end the chat
    friend = load_for_inference(cfg, require_adapter=False)
    policy = policy_from_config(cfg, friend, max_new_tokens=cfg.decoding.chat_max_new_tokens,
                                batch_size=1)
    styles, history = list(policy.styles), []
    if friend.has_adapter:
        out.write(f"(fine-tuned friend from {friend.checkpoint})\n")
    else:
        out.write(f"(no trained adapter in {cfg.run_dir}: talking to the base model)\n")
    out.write(HELP + "\n")

    streamers = []

    def streamer_factory(forbidden):
        out.write("friend> ")
        out.flush()
        streamers.append(GuardedStreamer(friend.tokenizer, forbidden, out))
        return streamers[-1]

    def on_crisis():
        out.write("[crisis mode] (writing a careful reply and checking it before it is "
                  "shown...)\n")
        out.flush()

    while True:
        text = _read_turn(stdin, out)
        if text is None or text in ("/quit", "/exit"):
            break
        if not text:
            continue
        if text.startswith("/"):
            history, styles = _command(text, history, styles, out)
            continue
        history.append({"role": "user", "content": text})  # the policy fits it to the budget
        streamers.clear()
        try:
            reply = policy.respond([history], friend.models[-1], styles=styles,
                                   streamer_factory=streamer_factory, on_crisis=on_crisis)[0]
        except KeyboardInterrupt:
            out.write("\n")
            history.pop()
            continue
        _finish_reply(reply, streamers, out)
        history.append({"role": "assistant", "content": reply.text})
    out.write("bye\n")
    return 0
