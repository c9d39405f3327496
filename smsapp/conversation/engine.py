"""The pure conversation engine: start a poll, then step it with each incoming text.

Steps take a state and return a new one plus the answers to record and the replies to send; the
shell stores the state (to_dict) and sends the replies. Nothing here touches a database.

Choices made here: a failed try (including SKIP on a required question) counts towards
max_attempts, so nobody is stuck on a question they cannot answer. A nominate question collects
up to `max` entries (default 1), one per text; after each one the reply asks for another or DONE,
and the whole list is recorded as one answer when it is full or DONE/SKIP arrives. The replies of
one step are joined into as few texts as fit in 1,600 characters, so they cannot arrive out of
order.

A text the safeguarding screen flagged (the shell screens it and says so: `flagged=True`) is
never read back: a nomination in it is collected without the "Got it: “…”" echo, and a text
that is not an answer gets no "Sorry, I didn't recognise …" (which quotes words) and costs no
try. The shell sends the supportive reply instead, so that is all the young person gets unless
the poll moves on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from smsapp.conversation.definition import MAX_TEXT, PollDefinition, Question, canonical_number
from smsapp.conversation.keywords import command_word
from smsapp.conversation.normalise import clean, fold, shorten
from smsapp.conversation.parsers import parse_answer

DEFAULT_OUTRO = "Thanks, that's everything!"
NICKNAME_FALLBACK = "there"  # "Hi {nickname}!" -> "Hi there!" when we have no nickname
MOVE_ON = "Let's move on."
# Ends a nomination collection early: "DONE", "that's all", "no more"…
DONE_WORDS = frozenset(
    {"done", "finished", "thats all", "thats it", "no more", "nothing else", "no", "nope", "nah"}
    | {"no thanks", "nothing", "none"}
)
_NICKNAME = re.compile(r"\{\s*nickname\s*\}", re.IGNORECASE)


@dataclass
class ConversationState:
    """Where one participant is in one poll. JSON-serialisable through to_dict()/from_dict()."""

    position: int = 0  # index of the current question; len(questions) when finished
    attempts: int = 0  # failed tries at the current question
    answers: dict[str, Any] = field(default_factory=dict)  # key -> value, for `when`
    finished: bool = False
    pending_entries: list[str] = field(default_factory=list)  # nominations collected so far
    pending_raw: list[str] = field(default_factory=list)  # their raw texts

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "attempts": self.attempts,
            "answers": dict(self.answers),
            "finished": self.finished,
            "pending_entries": list(self.pending_entries),
            "pending_raw": list(self.pending_raw),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationState:
        return cls(
            position=int(data.get("position", 0)),
            attempts=int(data.get("attempts", 0)),
            answers=dict(data.get("answers", {})),
            finished=bool(data.get("finished", False)),
            pending_entries=list(data.get("pending_entries", [])),
            pending_raw=list(data.get("pending_raw", [])),
        )


@dataclass(frozen=True)
class RecordedAnswer:
    question_key: str
    kind: str
    value: object | None
    label: str | None
    raw_text: str
    attempts: int
    skipped: bool
    skip_reason: str | None  # "optional" | "too-many-tries" | None


@dataclass(frozen=True)
class Step:
    answers: tuple[RecordedAnswer, ...]  # usually 0 or 1
    replies: tuple[str, ...]  # texts to send back, in order, each at most 1,600 characters
    state: ConversationState
    finished: bool


def render(template: str, *, nickname: str | None) -> str:
    """Put the nickname into "{nickname}"; other braces are left exactly as written."""
    name = clean(nickname or "").replace("\n", " ")
    name = shorten(name, 30) if name else NICKNAME_FALLBACK
    return _NICKNAME.sub(lambda _: name, template)


def question_text(question: Question) -> str:
    """The prompt followed by the options, one per line: "A) Team Spark"."""
    lines = [question.prompt]
    if question.options:
        lines.append(_options_block(question))
    if question.kind == "scale" and question.labels:
        low, high = question.labels
        lines.append(f"{question.low} = {low}, {question.max} = {high}")
    return "\n".join(lines)


def is_expired(last_activity: datetime, now: datetime, timeout: timedelta) -> bool:
    """True once `timeout` has passed since the last activity (naive times are taken as UTC)."""

    def aware(moment: datetime) -> datetime:
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    return aware(now) - aware(last_activity) >= timeout


def start(poll: PollDefinition, *, nickname: str | None, max_attempts: int = 3) -> Step:
    """The first replies: the intro (if any) and the first question that applies."""
    state = ConversationState()
    parts = [render(poll.intro, nickname=nickname)] if poll.intro else []
    _advance_to_askable(poll, state, 0)
    parts.extend(_ask_current(poll, state, nickname))
    return Step((), _pack(parts), state, state.finished)


def step(
    poll: PollDefinition,
    state: ConversationState,
    text: str,
    *,
    nickname: str | None,
    max_attempts: int = 3,
    flagged: bool = False,
) -> Step:
    """Read one incoming text as an answer to the current question and move on as needed.

    `flagged`: the safeguarding screen matched this text; no reply will quote it. The given
    state is not changed; the returned Step holds the new one.
    """
    state = ConversationState.from_dict(state.to_dict())
    if state.finished or state.position >= len(poll.questions):
        state.finished, state.position = True, len(poll.questions)
        return Step((), (), state, True)
    question = poll.questions[state.position]
    text = text if isinstance(text, str) else ""
    command = command_word(text)

    if question.kind == "nominate" and (_is_done(text, command) or command == "SKIP"):
        if state.pending_entries:  # DONE (or SKIP) ends the collection, keeping what was sent
            recorded = _finish_nominations(question, state)
            return _after_answer(poll, state, [recorded], [], nickname)
        if not question.optional:
            problem = "I need at least one idea first."
            return _failed(poll, state, question, text, problem, nickname, max_attempts, flagged)
        command = "SKIP"  # "no" / "done" before any idea skips an optional nomination
    if command == "SKIP":
        if question.optional:
            recorded = _skipped(question, text, state.attempts + 1, "optional")
            return _after_answer(poll, state, [recorded], [], nickname)
        problem = "This one can't be skipped."
        return _failed(poll, state, question, text, problem, nickname, max_attempts, flagged)

    parsed = parse_answer(question, text)
    if not parsed.ok:
        problem = parsed.problem or "I didn't get that."
        return _failed(poll, state, question, text, problem, nickname, max_attempts, flagged)

    if question.kind == "nominate":
        state.pending_entries.append(str(parsed.value))
        state.pending_raw.append(text)
        if len(state.pending_entries) < question.places:
            if flagged:  # kept (held for the safeguarding lead), never echoed
                return Step((), (), state, False)
            count = len(state.pending_entries)
            reply = (
                f"Got it: \u201c{parsed.value}\u201d ({count} of {question.places}). "
                "Send another, or DONE if that's all."
            )
            return Step((), _pack([reply]), state, False)
        recorded = _finish_nominations(question, state)
        return _after_answer(poll, state, [recorded], [], nickname)

    recorded = RecordedAnswer(
        question.key,
        question.kind,
        parsed.value,
        parsed.label,
        text,
        state.attempts + 1,
        False,
        None,
    )
    state.answers[question.key] = parsed.value
    said = [f"Got it: {parsed.label}."] if question.tally_method and parsed.label else []
    said.extend(parsed.notes)
    return _after_answer(poll, state, [recorded], [" ".join(said)] if said else [], nickname)


# ---------------------------------------------------------------------------------------------


def _is_done(text: str, command: str | None) -> bool:
    return command is None and fold(text) in DONE_WORDS


def _skipped(question: Question, text: str, attempts: int, reason: str) -> RecordedAnswer:
    return RecordedAnswer(question.key, question.kind, None, None, text, attempts, True, reason)


def _finish_nominations(question: Question, state: ConversationState) -> RecordedAnswer:
    entries = list(state.pending_entries)
    recorded = RecordedAnswer(
        question.key,
        question.kind,
        entries,
        "; ".join(entries),
        "\n".join(state.pending_raw),
        len(state.pending_raw) + state.attempts,
        False,
        None,
    )
    state.answers[question.key] = entries
    return recorded


def _failed(
    poll: PollDefinition,
    state: ConversationState,
    question: Question,
    text: str,
    problem: str,
    nickname: str | None,
    max_attempts: int,
    flagged: bool = False,
) -> Step:
    if flagged:
        # Not an answer, and the problem may quote it ("I didn't recognise KILL and MYSELF"):
        # say nothing and count no try; the supportive reply is the whole answer.
        return Step((), (), state, False)
    state.attempts += 1
    if state.attempts >= max(max_attempts, 1):
        if question.kind == "nominate" and state.pending_entries:
            recorded = _finish_nominations(question, state)  # keep what they already sent
        else:
            recorded = _skipped(question, text, state.attempts, "too-many-tries")
        return _after_answer(poll, state, [recorded], [MOVE_ON], nickname)
    reply = f"Sorry, {_lower_first(problem)} {_hint(question)}\n{_options_block(question)}"
    return Step((), _pack([reply.rstrip()]), state, False)


def _after_answer(
    poll: PollDefinition,
    state: ConversationState,
    recorded: list[RecordedAnswer],
    said: list[str],
    nickname: str | None,
) -> Step:
    _advance_to_askable(poll, state, state.position + 1)
    parts = said + _ask_current(poll, state, nickname)
    return Step(tuple(recorded), _pack(parts), state, state.finished)


def _advance_to_askable(poll: PollDefinition, state: ConversationState, position: int) -> None:
    """Move to the first question from `position` whose `when` holds; skipped ones record nothing."""
    state.attempts = 0
    state.pending_entries, state.pending_raw = [], []
    while position < len(poll.questions) and not applies(
        poll, poll.questions[position], state.answers
    ):
        position += 1
    state.position = position
    state.finished = position >= len(poll.questions)


def _ask_current(poll: PollDefinition, state: ConversationState, nickname: str | None) -> list[str]:
    if state.finished:
        return [render(poll.outro or DEFAULT_OUTRO, nickname=nickname)]
    return [render(question_text(poll.questions[state.position]), nickname=nickname)]


def applies(poll: PollDefinition, question: Question, answers: dict[str, Any]) -> bool:
    """Whether every `when` condition holds for the answers so far.

    An unanswered (skipped) target never matches. Lists match when any chosen code is allowed,
    except a ranking, which matches on its first place; points match any option given points.
    """
    for key, allowed in question.when:
        value = answers.get(key)
        if value is None:
            return False
        target = poll.question(key)
        if target.kind == "yesno":
            chosen = ["Y" if value else "N"]
        elif target.kind in ("scale", "number"):
            chosen = [canonical_number(float(value))]
        elif target.kind == "rank":
            chosen = list(value[:1])
        elif isinstance(value, dict):
            chosen = [code for code, points in value.items() if points]
        elif isinstance(value, list):
            chosen = list(value)
        else:
            chosen = [str(value)]
        if not any(c in allowed for c in chosen):
            return False
    return True


def _lower_first(text: str) -> str:
    if text.startswith("I ") or text.startswith("I'"):
        return text
    return text[:1].lower() + text[1:]


def _code_word(question: Question) -> str:
    alpha = all(len(c) == 1 and c.isalpha() for c in question.codes)
    return "letter" if alpha else "code"


def _hint(question: Question) -> str:
    """What a good answer looks like, ending in ':' when the options follow."""
    codes = question.codes
    word = _code_word(question)
    kind = question.kind
    if kind == "choice" and codes:
        return f"Reply with one {word}, e.g. {codes[min(1, len(codes) - 1)]}:"
    if kind in ("multi", "approve") and codes:
        example = " ".join(codes[: min(2, question.places)])
        many = f"up to {question.places} {word}s" if question.places > 1 else f"one {word}"
        return f"Reply with {many}, e.g. {example}:"
    if kind == "rank" and codes:
        example = " ".join(list(reversed(codes))[: min(3, question.places)])
        return f"Reply with up to {question.places} {word}s, best first, e.g. {example}:"
    if kind == "points" and codes:
        example = f"{codes[0]}{min(3, question.points_budget)}"
        if len(codes) > 1 and question.points_budget > 3:
            example += f" {codes[-1]}{min(2, question.points_budget - 3)}"
        return f"Share up to {question.points_budget} points, e.g. {example}:"
    if kind == "scale":
        return f"Reply with a number from {question.low} to {question.max}."
    if kind == "number":
        if question.min is not None and question.max is not None:
            return f"Reply with a number from {question.min} to {question.max}."
        return "Reply with a number."
    if kind == "yesno":
        return "Reply Y or N."
    if kind == "nominate":
        return "Reply with your idea in a few words."
    if kind == "text":
        return "Reply with a few words."
    return ""


def _options_block(question: Question) -> str:
    """The options one per line, as asked and as re-asked: "A) Team Spark"."""
    return "\n".join(f"{o.code}) {o.label}" for o in question.options)


def _pack(parts: list[str]) -> tuple[str, ...]:
    """Join parts into as few texts as fit in 1,600 characters, so they arrive in order."""
    texts: list[str] = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        part = shorten(part, MAX_TEXT)
        if texts and len(texts[-1]) + 2 + len(part) <= MAX_TEXT:
            texts[-1] = f"{texts[-1]}\n\n{part}"
        else:
            texts.append(part)
    return tuple(texts)
