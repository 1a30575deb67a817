"""Run a command and report the longest time it printed nothing: no step should sit silent.

Every write to stdout or stderr counts, a progress bar's redraw (`\\r`) included. Prints the
command's output through, then the longest gaps with the line printed before each, the total
time and the exit code (which it exits with).

    python -m scripts.longest_silence -- make demo
"""
from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time


def last_line(text: str) -> str:
    lines = [x for x in text.replace("\r", "\n").splitlines() if x.strip()]
    return lines[-1][-120:] if lines else ""


def watch(cmd: list[str]) -> tuple[int, float, list[tuple[float, float, str]]]:
    """(exit code, seconds, gaps as (gap, at, last output before it)), output echoed. A pty,
    so the command's progress bars draw as they would in a terminal."""
    master, slave = pty.openpty()
    # a terminal's size: on a 0 x 0 pty (the default) tqdm draws nothing at all, and every
    # progress bar would read as silence
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(cmd, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    t0 = last = time.monotonic()
    recent, gaps = "", []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the command closed its end
            break
        if not chunk:
            break
        now = time.monotonic()
        gaps.append((now - last, last - t0, last_line(recent)))
        last = now
        text = chunk.decode("utf-8", "replace")
        sys.stdout.write(text)
        sys.stdout.flush()
        recent = (recent + text)[-2000:]
    code = proc.wait()
    end = time.monotonic()
    gaps.append((end - last, last - t0, last_line(recent)))
    return code, end - t0, sorted(gaps, reverse=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--top", type=int, default=5, help="longest gaps shown")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("give a command after --")
    code, total, gaps = watch(cmd)
    print(f"\n[longest_silence] {' '.join(cmd)}: exit {code}, {total:.0f} s in all; longest "
          "silences:")
    for gap, at, before in gaps[:args.top]:
        print(f"  {gap:6.1f} s at {at:6.0f} s, after: {before}")
    sys.exit(code)


if __name__ == "__main__":
    main()
