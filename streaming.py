"""Streaming a reply as it is generated, without ever showing the private note: the guarded
streamer `chat` prints through and `serve` sends as server-sent events.

    python main.py chat --run artifacts/runs/cpu_smoke
"""
from __future__ import annotations

from transformers import TextStreamer

from decoding_policy import NOTE_HEADER, SENTENCE_END


class GuardedStreamer(TextStreamer):
    """Prints the reply as it comes, sentence by sentence, holding back any text that could
    start a forbidden string (the private note, its sentences, its header) and dropping
    complete occurrences. The unfinished last sentence waits for `finish`: a reply cut by the
    token budget ends at its last full sentence."""

    def __init__(self, tokenizer, forbidden: list[str], out):
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.forbidden = [f.lower() for f in forbidden + [NOTE_HEADER, "private note"] if f]
        self.buf, self.out, self.printed, self.tail = "", out, "", ""

    def on_finalized_text(self, text: str, stream_end: bool = False):
        self.buf += text
        changed = True
        while changed:
            changed = False
            for f in self.forbidden:
                i = self.buf.lower().find(f)
                if i >= 0:
                    self.buf, changed = self.buf[:i] + self.buf[i + len(f):], True
        low, hold = self.buf.lower(), 0
        if not stream_end:
            for f in self.forbidden:
                for k in range(min(len(f), len(low)), 0, -1):
                    if low.endswith(f[:k]):
                        hold = max(hold, k)
                        break
        emit, self.buf = self.buf[:len(self.buf) - hold], self.buf[len(self.buf) - hold:]
        self.tail += emit
        ends = [m.end() for m in SENTENCE_END.finditer(self.tail)]
        if ends:
            self._write(self.tail[:ends[-1]])
            self.tail = self.tail[ends[-1]:]

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()
        self.printed += text

    def finish(self, cut: bool) -> None:
        """Print the last, unfinished sentence unless the reply ran out of tokens."""
        if not cut:
            self._write(self.tail)
        self.tail = ""
