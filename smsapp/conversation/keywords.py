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
SERVICE = frozenset({"JOIN", "LEAVE", "SKIP", "WITHDRAW"})
RESERVED = OPT_OUT | OPT_IN | HELP | {"YES"} | SERVICE

_WORD = re.compile(r"[a-z]+")


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
