"""Benchmark: how many conversation steps per second the pure engine manages (no I/O).

Runs a 10-question poll (every kind, one re-prompt per conversation) through step() repeatedly.
Usage: .venv/bin/python bench/engine.py [conversations]
"""

from __future__ import annotations

import sys
import time

from smsapp.conversation.engine import start, step
from smsapp.conversation.validation import parse_poll

NAMES = ["Young Researchers", "Health Voices", "Team Spark", "Green Future", "Music Makers"]
POLL = parse_poll(
    {
        "slug": "bench",
        "title": "Bench",
        "intro": "Hi {nickname}!",
        "questions": [
            {"key": "name", "kind": "rank", "prompt": "Rank", "options": NAMES, "max": 3},
            {"key": "why", "kind": "text", "prompt": "Why?", "optional": True},
            {"key": "colour", "kind": "choice", "prompt": "Colour?", "options": NAMES},
            {"key": "clubs", "kind": "multi", "prompt": "Clubs?", "options": NAMES, "max": 3},
            {"key": "fun", "kind": "scale", "prompt": "Fun?", "max": 5},
            {"key": "again", "kind": "yesno", "prompt": "Again?"},
            {"key": "friends", "kind": "number", "prompt": "Friends?", "max": 50},
            {"key": "ideas", "kind": "nominate", "prompt": "Ideas?"},
            {"key": "trips", "kind": "approve", "prompt": "Trips?", "options": NAMES},
            {"key": "spend", "kind": "points", "prompt": "Points", "options": NAMES},
        ],
    }
)
# One unreadable reply, then a realistic answer to each question (labels with a typo included).
REPLIES = [
    "dunno",
    "c, a, b",
    "it was fun 🎉",
    "Helth Voices",
    "a and c",
    "4/5",
    "yeah",
    "about 5",
    "Youth club",
    "abd",
    "A3 C2",
]


def main(conversations: int = 2000) -> None:
    steps = 0
    began = time.perf_counter()
    for _ in range(conversations):
        state = start(POLL, nickname="Sam").state
        for text in REPLIES:
            result = step(POLL, state, text, nickname="Sam")
            state = result.state
            steps += 1
        assert result.finished, "the benchmark poll should finish"
    elapsed = time.perf_counter() - began
    print(
        f"{steps} steps in {elapsed:.2f}s: {steps / elapsed:,.0f} steps/second "
        f"({conversations} conversations of {len(REPLIES)} texts)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
