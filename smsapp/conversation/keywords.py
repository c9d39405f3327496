"""Reserved words (carrier opt-out/in, help, the service's own) and whole-message command detection.

Twilio acts on an opt-out word only when it is the whole message, so "please stop texting me" is
NOT a command here either: command_word() returns None for it and the text reaches the poll.
"""

from __future__ import annotations

import re

from smsapp.conversation.normalise import clean, fold

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
SERVICE = frozenset({"JOIN", "LEAVE", "SKIP", "WITHDRAW", "ASK", "SEND"})
RESERVED = OPT_OUT | OPT_IN | HELP | {"YES"} | SERVICE

_WORD = re.compile(r"[a-z]+")
# ASK and a question; the words that may separate them: "ASK: …", "ask - …", "Ask, …".
_ASK = re.compile(r"^\s*ask(?:\s*[:,.\-]\s*|\s+)(?P<question>\S.*)$", re.IGNORECASE | re.DOTALL)
SEND_RESULTS = "SEND RESULTS"
ASK_LIMIT = 300  # characters of a proposed question kept; longer ones are cut


def command_word(text: str) -> str | None:
    """The canonical upper-case reserved word when the whole message is one, else None.

    Surrounding spaces and punctuation are allowed ("stop.", " Stop!"), and so is a hyphen or
    space inside a compound word ("opt-out", "stop all"): treating those as opt-outs errs on the
    side of not texting someone who asked us to stop. "YES" is returned too; inside a
    conversation the caller treats it as an answer instead.
    """
    folded = fold(clean(text))
    if not folded:
        return None
    words = folded.split()
    if len(words) == 1 and _WORD.fullmatch(words[0]):
        word = words[0].upper()
        return word if word in RESERVED else None
    if len(words) == 2:
        joined = "".join(words).upper()
        if joined in OPT_OUT or joined in OPT_IN:
            return joined
    return None


def agenda_command(text: str) -> tuple[str, str] | None:
    """A young person's agenda command: ("ASK", question), ("ASK", "") for ASK alone,
    ("SEND", "") or (SEND_RESULTS, ""), else None.

    ASK takes everything after it as the question, so "ask the council" inside a text answer is
    a proposal too: ASK is a reserved word. SEND is a command only alone or as "SEND RESULTS"
    (also "send result", "send the results"), so a sentence starting with "send" still reaches
    the poll.
    """
    cleaned = clean(text)
    match = _ASK.match(cleaned)
    if match:
        return "ASK", " ".join(match.group("question").split())[:ASK_LIMIT]
    words = fold(cleaned).split()
    word = command_word(text)
    if word in ("ASK", "SEND"):
        return word, ""
    if (
        words
        and words[0] == "send"
        and [w for w in words[1:] if w != "the"]
        in (
            ["results"],
            ["result"],
        )
    ):
        return SEND_RESULTS, ""
    return None
