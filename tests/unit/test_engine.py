"""The conversation engine: asking, re-asking, skipping, branching and finishing a poll by SMS."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.conversation.definition import PollDefinition
from smsapp.conversation.engine import (
    DEFAULT_OUTRO,
    ConversationState,
    Step,
    is_expired,
    question_text,
    render,
    start,
    step,
)
from smsapp.conversation.validation import parse_poll


def poll(*questions: dict[str, Any], **top: Any) -> PollDefinition:
    return parse_poll({"slug": "p", "title": "P", **top, "questions": list(questions)})


NAMES = ["Young Researchers", "Health Voices", "Team Spark"]
RANK = {"key": "name", "kind": "rank", "prompt": "Rank up to 3", "options": NAMES, "max": 3}
WHY = {"key": "why", "kind": "text", "prompt": "Why?", "optional": True}


def run(defn: PollDefinition, *texts: str, nickname: str | None = "Sam") -> list[Step]:
    """Start, then send each text, passing the state through JSON like the shell stores it."""
    steps = [start(defn, nickname=nickname)]
    for text in texts:
        state = ConversationState.from_dict(json.loads(json.dumps(steps[-1].state.to_dict())))
        steps.append(step(defn, state, text, nickname=nickname))
    return steps


def test_start_sends_intro_and_first_question_with_options() -> None:
    first = start(poll(RANK, intro="Hi {nickname}!"), nickname="Sam")
    assert first.replies == (
        "Hi Sam!\n\nRank up to 3\nA) Young Researchers\nB) Health Voices\nC) Team Spark",
    )
    assert first.state.position == 0 and not first.finished and first.answers == ()


@pytest.mark.parametrize(
    ("question", "text", "value", "label"),
    [
        ({"kind": "choice", "options": NAMES}, "b!!", "B", "Health Voices"),
        ({"kind": "multi", "options": NAMES, "max": 2}, "a c", ["A", "C"], None),
        ({"kind": "scale", "max": 5}, "four", 4, None),
        ({"kind": "yesno"}, "yeah", True, None),
        ({"kind": "number", "max": 100}, "about 12", 12, None),
        ({"kind": "text"}, " Loved it ", "Loved it", None),
        ({"kind": "nominate"}, "Youth club", ["Youth club"], None),
        ({"kind": "rank", "options": NAMES}, "cab", ["C", "A", "B"], None),
        ({"kind": "approve", "options": NAMES}, "a,b", ["A", "B"], None),
        ({"kind": "points", "options": NAMES}, "A3 C2", {"A": 3, "C": 2}, None),
    ],
)
def test_each_kind_records_its_answer_and_finishes(
    question: dict[str, Any], text: str, value: object, label: str | None
) -> None:
    defn = poll({"key": "q", "prompt": "Q?", **question})
    last = run(defn, text)[-1]
    (answer,) = last.answers
    assert answer.value == value and answer.question_key == "q" and not answer.skipped
    assert answer.attempts == 1 and answer.raw_text == text
    assert last.finished and last.state.finished and last.state.position == 1
    assert last.replies[-1].endswith(DEFAULT_OUTRO)
    if label:
        assert answer.label == label


def test_ballots_are_read_back_before_the_next_question() -> None:
    last = run(poll(RANK, WHY), "c b")[-1]
    assert last.replies == ("Got it: 1 Team Spark, 2 Health Voices.\n\nWhy?",)


def test_dropped_places_are_explained() -> None:
    defn = poll({**RANK, "max": 2})
    assert "Only your top 2 count, so I dropped B." in run(defn, "c a b")[-1].replies[0]


def test_reprompt_says_what_was_expected_and_shows_the_options() -> None:
    second = run(poll(RANK), "xyz")[-1]
    assert second.answers == () and second.state.attempts == 1 and not second.finished
    (reply,) = second.replies
    assert reply.startswith("Sorry, I didn't recognise")
    assert "best first, e.g. C B A:" in reply
    assert reply.endswith("A) Young Researchers\nB) Health Voices\nC) Team Spark")


def test_choice_reprompt_wording() -> None:
    (reply,) = run(poll({"key": "q", "kind": "choice", "prompt": "?", "options": NAMES}), "Z")[
        -1
    ].replies
    assert reply == (
        "Sorry, I didn't recognise Z. Reply with one letter, e.g. B:\n"
        "A) Young Researchers\nB) Health Voices\nC) Team Spark"
    )


def test_three_failed_tries_skip_the_question_and_mark_it() -> None:
    steps = run(poll(RANK, {**WHY, "optional": False}), "no idea", "??", "pass")
    assert [s.state.attempts for s in steps[1:3]] == [1, 2]
    (answer,) = steps[-1].answers
    assert answer.skipped and answer.skip_reason == "too-many-tries" and answer.value is None
    assert answer.attempts == 3 and answer.raw_text == "pass"
    assert steps[-1].replies == ("Let's move on.\n\nWhy?",)
    assert steps[-1].state.position == 1 and steps[-1].state.attempts == 0


def test_max_attempts_is_configurable() -> None:
    last = step(poll(RANK, WHY), ConversationState(), "??", nickname=None, max_attempts=1)
    assert last.answers[0].skip_reason == "too-many-tries"


def test_skip_on_an_optional_question() -> None:
    last = run(poll(RANK, WHY, {"key": "end", "kind": "yesno", "prompt": "More?"}), "a", "Skip.")[
        -1
    ]
    (answer,) = last.answers
    assert answer.skipped and answer.skip_reason == "optional" and answer.question_key == "why"
    assert last.replies == ("More?",)


def test_skip_on_a_required_question_asks_again() -> None:
    last = run(poll(RANK), "SKIP")[-1]
    assert last.answers == () and not last.finished
    assert last.replies[0].startswith("Sorry, this one can't be skipped. Reply with up to 3")
    assert "C) Team Spark" in last.replies[0]


def test_when_branching_asks_only_when_the_answer_matches() -> None:
    defn = poll(
        RANK,
        {**WHY, "when": {"name": ["A", "B"]}},
        {"key": "ok", "kind": "yesno", "prompt": "OK?"},
        {"key": "sad", "kind": "text", "prompt": "What went wrong?", "when": {"ok": ["N"]}},
    )
    asked = run(defn, "b c")[-1]
    assert asked.replies[-1].endswith("Why?") and asked.state.position == 1
    skipped = run(defn, "c b", "yes")
    assert skipped[1].replies[-1].endswith("OK?") and skipped[1].state.position == 2
    assert skipped[-1].finished and [a.question_key for a in skipped[-1].answers] == ["ok"]
    branch = run(defn, "c b", "nope")[-1]
    assert branch.replies == ("What went wrong?",)


def test_when_on_a_skipped_question_does_not_hold() -> None:
    defn = poll(
        {"key": "ok", "kind": "yesno", "prompt": "OK?", "optional": True},
        {"key": "more", "kind": "text", "prompt": "Say more", "when": {"ok": ["Y", "N"]}},
    )
    assert run(defn, "skip")[-1].finished
    assert run(defn, "y")[-1].replies == ("Say more",)


def test_when_on_scale_and_multi_answers() -> None:
    defn = poll(
        {"key": "fun", "kind": "scale", "prompt": "Fun?", "max": 5},
        {"key": "clubs", "kind": "multi", "prompt": "Clubs?", "options": NAMES},
        {
            "key": "great",
            "kind": "text",
            "prompt": "Great!",
            "when": {"fun": [4, 5], "clubs": ["C"]},
        },
    )
    assert run(defn, "5", "a c")[-1].replies == ("Great!",)
    assert run(defn, "3", "a c")[-1].finished
    assert run(defn, "5", "a b")[-1].finished


def test_nickname_in_intro_prompts_and_outro() -> None:
    defn = poll(
        {"key": "q", "kind": "yesno", "prompt": "Ready, {nickname}?"},
        intro="Hi {nickname}!",
        outro="Bye {nickname} {not a field}",
    )
    steps = run(defn, "y", nickname="Ava")
    assert steps[0].replies == ("Hi Ava!\n\nReady, Ava?",)
    assert steps[-1].replies == ("Bye Ava {not a field}",)
    assert run(defn, nickname=None)[0].replies == ("Hi there!\n\nReady, there?",)


def test_render_is_safe_with_odd_braces() -> None:
    assert render("{ nickname }, {0} {} {{x}} {", nickname="Jo") == "Jo, {0} {} {{x}} {"
    assert render("Hi {nickname}", nickname="  ") == "Hi there"


def test_outro_default_and_custom() -> None:
    q = {"key": "q", "kind": "yesno", "prompt": "?"}
    assert run(poll(q), "n")[-1].replies == (DEFAULT_OUTRO,)
    assert run(poll(q, outro="Results Friday"), "n")[-1].replies == ("Results Friday",)


def test_texts_after_finishing_change_nothing() -> None:
    steps = run(poll({"key": "q", "kind": "yesno", "prompt": "?"}), "y", "hello?")
    assert steps[-1].answers == () and steps[-1].replies == () and steps[-1].finished


def test_step_does_not_change_the_given_state() -> None:
    state = ConversationState()
    step(poll(RANK), state, "cab", nickname=None)
    assert state == ConversationState()


def test_nominate_collects_up_to_max_then_moves_on() -> None:
    defn = poll({"key": "ideas", "kind": "nominate", "prompt": "Ideas?", "max": 2}, WHY)
    steps = run(defn, "Youth club", "Skate park")
    assert steps[1].answers == ()
    assert steps[1].replies == (
        "Got it: \u201cYouth club\u201d (1 of 2). Send another, or DONE if that's all.",
    )
    (answer,) = steps[2].answers
    assert answer.value == ["Youth club", "Skate park"] and answer.kind == "nominate"
    assert steps[2].replies == ("Why?",)


def test_nominate_done_ends_early_and_needs_one_entry_first() -> None:
    defn = poll({"key": "ideas", "kind": "nominate", "prompt": "Ideas?", "max": 5})
    early = run(defn, "done")[-1]
    assert early.answers == () and "at least one idea" in early.replies[0]
    last = run(defn, "Cinema trips", "Done!")[-1]
    assert last.answers[0].value == ["Cinema trips"] and last.finished


def test_optional_nominate_can_be_declined() -> None:
    defn = poll({"key": "ideas", "kind": "nominate", "prompt": "Ideas?", "optional": True})
    (answer,) = run(defn, "no thanks")[-1].answers
    assert answer.skipped and answer.skip_reason == "optional"


def test_a_flagged_nomination_is_kept_without_a_read_back() -> None:
    defn = poll({"key": "ideas", "kind": "nominate", "prompt": "Ideas?", "max": 2}, WHY)
    first = step(defn, ConversationState(), "i want to kill myself", nickname="Sam", flagged=True)
    # No "Got it: “…” (1 of 2)": the shell's supportive reply is all that goes back.
    assert first.replies == () and first.answers == () and not first.finished
    assert first.state.pending_entries == ["i want to kill myself"]
    done = step(defn, first.state, "Skate park", nickname="Sam")
    (answer,) = done.answers
    assert answer.value == ["i want to kill myself", "Skate park"]
    assert done.replies == ("Why?",)


def test_a_flagged_text_that_is_no_answer_costs_no_try_and_is_not_quoted() -> None:
    plain = step(poll(RANK), ConversationState(), "i want to kill myself", nickname=None)
    assert "KILL" in plain.replies[0] and plain.state.attempts == 1  # the reprompt quotes it
    state = ConversationState()
    for _ in range(5):
        flagged = step(poll(RANK), state, "i want to kill myself", nickname=None, flagged=True)
        assert flagged.replies == () and flagged.answers == ()
        state = flagged.state
    assert state == ConversationState()  # still on the question, with every try left


def test_replies_never_exceed_1600_characters() -> None:
    long_options = [f"Option {i} " + "x" * 140 for i in range(20)]
    defn = poll(
        {"key": "q", "kind": "choice", "prompt": "p" * 1500, "options": long_options},
        intro="i" * 1500,
    )
    for s in run(defn, "zz", "yy"):
        assert s.replies and all(len(r) <= 1600 for r in s.replies)


def test_question_text_lists_options_and_scale_labels() -> None:
    defn = poll(
        {
            "key": "s",
            "kind": "scale",
            "prompt": "Fun?",
            "max": 5,
            "labels": {"low": "meh", "high": "wow"},
        }
    )
    assert question_text(defn.questions[0]) == "Fun?\n1 = meh, 5 = wow"


def test_state_round_trips_through_json() -> None:
    state = ConversationState(
        position=2,
        attempts=1,
        answers={"a": ["C", "A"], "b": {"A": 3}, "c": True, "d": 2.5},
        pending_entries=["x"],
        pending_raw=["x "],
    )
    assert ConversationState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_expiry() -> None:
    last = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert not is_expired(last, last + timedelta(minutes=59), timedelta(hours=1))
    assert is_expired(last, last + timedelta(hours=1), timedelta(hours=1))
    assert is_expired(last.replace(tzinfo=None), last + timedelta(hours=2), timedelta(hours=1))


EVERY_KIND = poll(
    RANK,
    {**WHY, "when": {"name": ["A"]}},
    {"key": "colour", "kind": "choice", "prompt": "Colour?", "options": NAMES},
    {"key": "clubs", "kind": "multi", "prompt": "Clubs?", "options": NAMES, "max": 2},
    {"key": "fun", "kind": "scale", "prompt": "Fun?", "max": 5},
    {"key": "again", "kind": "yesno", "prompt": "Again?", "optional": True},
    {"key": "friends", "kind": "number", "prompt": "Friends?", "max": 50},
    {"key": "ideas", "kind": "nominate", "prompt": "Ideas?", "max": 2},
    {"key": "trips", "kind": "approve", "prompt": "Trips?", "options": NAMES},
    {"key": "spend", "kind": "points", "prompt": "Points", "options": NAMES},
    intro="Hi {nickname}",
)


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(
        st.text(max_size=200) | st.sampled_from(["skip", "done", "a", "cab", "4", "yes", "A3"]),
        max_size=40,
    )
)
def test_any_stream_of_texts_keeps_the_conversation_sound(texts: list[str]) -> None:
    steps = run(EVERY_KIND, *texts)
    keys = [a.question_key for s in steps for a in s.answers]
    assert len(keys) == len(set(keys))  # each question is recorded at most once
    order = [q.key for q in EVERY_KIND.questions]
    assert keys == sorted(keys, key=order.index)  # and in the poll's order
    for s in steps:
        assert all(0 < len(r) <= 1600 for r in s.replies)
        json.dumps(s.state.to_dict())
        json.dumps([a.value for a in s.answers])
        assert s.finished == (s.state.position == len(EVERY_KIND.questions))
        assert s.finished or s.replies  # an unfinished step always says something


# No prompt or option of EVERY_KIND uses these words: one in a reply is a read-back.
READ_BACK = re.compile(r"\b(kill|myself|hates|hits|unsafe)\b", re.IGNORECASE)


@pytest.mark.parametrize(
    "text",
    ["i want to kill myself", "everyone hates me", "A he hits me", "b, kill myself", "unsafe 3"],
)
@pytest.mark.parametrize("position", range(len(EVERY_KIND.questions)))
def test_a_flagged_text_is_never_read_back(position: int, text: str) -> None:
    state = ConversationState(position=position)
    result = step(EVERY_KIND, state, text, nickname="Sam", flagged=True)
    assert not any(READ_BACK.search(reply) for reply in result.replies), result.replies
