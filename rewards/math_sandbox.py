"""math-verify on untrusted text, bounded in size and in time.

math-verify parses with SymPy, and a short completion can make SymPy compute for minutes
(``\\boxed{9^{9^{9^9}}}``, ``(10^{10})!``): its own timeout is a ``SIGALRM`` in whole seconds, works only
in the main thread, and cannot interrupt a C-level big-number operation. So the parsing runs in a child
process (``rewards/_math_worker.py``) that is killed when a reply is late and restarted on the next call,
and texts longer than :data:`MAX_MATH_CHARS` never reach it. One child serves the whole process (started
lazily; a forked process starts its own). POSIX only (replies are awaited with ``select``).

    sandbox = shared_sandbox()
    sandbox.equivalent("\\\\frac{1}{2}", "0.5")   # -> "1"
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

MAX_MATH_CHARS = 1024
"""Texts longer than this are not parsed (math answers are short; parsing cost grows with the text)."""

_WORKER = Path(__file__).with_name("_math_worker.py")


class MathSandbox:
    """A math-verify child process with a hard deadline per request.

    Args:
        start_timeout_s: Longest wait for the child to import math-verify (SymPy takes a second or two).
    """

    def __init__(self, start_timeout_s: float = 120.0) -> None:
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = os.getpid()
        self._buffer = b""
        self._lock = threading.Lock()
        self.timeouts = 0
        """Requests that ran past their deadline (each killed the child)."""

    # ---------------------------------------------------------------- process
    def _start(self) -> None:
        self._proc = subprocess.Popen(  # noqa: S603 - our own script, run by the running interpreter
            [sys.executable, str(_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            start_new_session=True,  # a Ctrl-C meant for the trainer does not reach it first
        )
        self._buffer = b""
        deadline = time.monotonic() + self.start_timeout_s
        ready = self._read_line(deadline) == "ready"
        if ready:
            # The first LaTeX parse builds math-verify's parser (a few hundred ms); do it under the start deadline
            # so that no request's own deadline pays for it.
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(["\\frac{1}{2}", "$0.5$", True]).encode() + b"\n")
            ready = self._read_line(deadline) == "1"
        if not ready:
            self.close()
            raise RuntimeError(f"the math-verify worker did not start within {self.start_timeout_s:g} s "
                               "(is the math-verify package installed?)")

    def close(self) -> None:
        """Stop the child (the next request starts a new one)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()

    def _read_line(self, deadline: float) -> str | None:
        """One reply line, or None if the deadline passes or the child dies first."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return None  # the child exited
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    # ---------------------------------------------------------------- request
    def equivalent(self, gold: str, answer: str, gold_first: bool = True, timeout_s: float = 1.0) -> str | None:
        """math-verify's verdict on ``answer`` against ``gold``.

        Args:
            gold: The ground truth text.
            answer: The untrusted answer text.
            gold_first: Call ``verify(gold, answer)`` (math-verify's order); False calls
                ``verify(answer, gold)`` (the order of the paper's open-r1 reward).
            timeout_s: Deadline for this request; a late reply kills the child.

        Returns:
            ``"1"``, ``"0"``, ``"g"`` (no expression in ``gold``), ``"n"`` (none in ``answer``), ``"e"``
            (math-verify raised), or None when either text is longer than :data:`MAX_MATH_CHARS` or the
            deadline passed.
        """
        if len(gold) > MAX_MATH_CHARS or len(answer) > MAX_MATH_CHARS:
            return None
        with self._lock:
            if self._pid != os.getpid():  # forked: the pipes belong to the parent's child
                self._proc, self._pid = None, os.getpid()
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps([gold, answer, gold_first]).encode() + b"\n")
            except BrokenPipeError:
                self.close()
                return None
            reply = self._read_line(time.monotonic() + timeout_s)
            if reply is None:
                self.timeouts += 1
                self.close()
            return reply


_SHARED: MathSandbox | None = None


def shared_sandbox() -> MathSandbox:
    """The process-wide sandbox (its child starts on the first request)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = MathSandbox()
        atexit.register(_SHARED.close)
    return _SHARED
