"""Child process of :mod:`rewards.math_sandbox`: math-verify's parse / verify behind a pipe.

Run by path (``python rewards/_math_worker.py``), so it imports math-verify and nothing of the project.
Each request is one JSON line ``[gold, answer, gold_first]``; each reply one line: ``1`` (equivalent),
``0`` (not), ``g`` (math-verify finds no expression in the ground truth), ``n`` (none in the answer) or
``e`` (math-verify raised). The parent enforces the deadline: it kills this process when a reply is late,
since a C-level big-number operation (``9^{9^{9^9}}``) cannot be interrupted from inside.
"""

from __future__ import annotations

import json
import logging
import sys

MAX_CACHED_GOLDS = 4096


def main() -> None:
    """Serve requests from stdin until it closes."""
    logging.disable(logging.CRITICAL)  # math-verify warns on every call made without its own (signal) timeout
    from math_verify import parse, verify

    golds: dict[str, list] = {}
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        try:
            gold_text, answer_text, gold_first = json.loads(line)
            gold = golds.get(gold_text)
            if gold is None:
                if len(golds) >= MAX_CACHED_GOLDS:
                    golds.clear()
                gold = golds[gold_text] = parse(gold_text, parsing_timeout=None)
            if not gold:
                reply = "g"
            else:
                answer = parse(answer_text, parsing_timeout=None)
                if not answer:
                    reply = "n"
                else:
                    pair = (gold, answer) if gold_first else (answer, gold)
                    reply = "1" if verify(*pair, timeout_seconds=None) else "0"
        except Exception:  # noqa: BLE001 - any failure is one answer the parent scores 0
            reply = "e"
        out.write(reply + "\n")
        out.flush()


if __name__ == "__main__":
    main()
