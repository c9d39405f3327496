"""Poll YAML validation: a full poll parses; a bad one reports every problem with its field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from smsapp.conversation.definition import DEFAULT_BUDGET, Option, PollDefinitionError, Reminders
from smsapp.conversation.durations import format_duration, parse_duration
from smsapp.conversation.poll_yaml import parse_poll_yaml
from smsapp.conversation.serialise import poll_to_dict, poll_to_yaml
from smsapp.conversation.validation import parse_poll, with_options

FULL_POLL = """
slug: name-our-group
title: Name our group
group: oakfield
keyword: name
closes: 7d
intro: "Hi {nickname}! Help us name our group."
outro: "Thanks, results on Friday!"
reminders: {after: 24h, every: 12h, max: 2}
tie_seed: 4f0c
questions:
  - key: name
    kind: rank
    prompt: "Rank up to 3, best first, e.g. C A B"
    options: ["Young Researchers", "Health Voices", "Team Spark"]
    max: 3
    tally: {method: irv}
  - key: why
    kind: text
    prompt: "Why? Reply SKIP to skip"
    optional: true
    when: {name: [A, B]}
  - key: colour
    kind: choice
    prompt: Favourite colour?
    options: [{code: r, label: Red}, {code: G, label: Green}]
  - key: snacks
    kind: multi
    prompt: Which snacks?
    options: [Crisps, Fruit, Cake]
    max: 2
  - key: fun
    kind: scale
    prompt: How fun was it?
    max: 5
    labels: {low: not at all, high: loads}
  - key: again
    kind: yesno
    prompt: Come again?
    when: {colour: [R]}
  - key: friends
    kind: number
    prompt: How many friends came?
    min: 0
    max: 30
  - key: ideas
    kind: nominate
    prompt: Ideas for next time?
    max: 3
  - key: trips
    kind: approve
    prompt: Which trips are OK?
    options: [Zoo, Beach, Museum]
  - key: spend
    kind: points
    prompt: Share 10 points
    options: [Sports, Art, Music]
    budget: 10
  - key: later
    kind: yesno
    prompt: Follow up?
    when: {again: [yes], fun: [4, 5]}
"""


def test_full_poll_with_every_kind_parses() -> None:
    poll = parse_poll_yaml(FULL_POLL)
    assert {q.kind for q in poll.questions} == {
        "choice",
        "multi",
        "scale",
        "yesno",
        "number",
        "text",
        "nominate",
        "rank",
        "approve",
        "points",
    }
    assert poll.keyword == "NAME"
    assert poll.closes == timedelta(days=7)
    assert poll.reminders == Reminders(timedelta(hours=24), timedelta(hours=12), 2)
    name = poll.question("name")
    assert name.codes == ("A", "B", "C") and name.options[1].label == "Health Voices"
    assert name.tally_method == "irv"
    assert poll.question("colour").codes == ("R", "G")
    assert poll.question("colour").tally_method == "plurality"
    assert poll.question("trips").tally_method == "approval"
    assert poll.question("spend").budget == 10
    assert poll.question("snacks").tally_method is None
    assert poll.question("why").when == (("name", ("A", "B")),)
    assert poll.question("later").when == (("again", ("Y",)), ("fun", ("4", "5")))
    assert poll.question("fun").labels == ("not at all", "loads")


def test_defaults_for_tally_budget_and_scale_min() -> None:
    poll = parse_poll(
        {
            "slug": "p",
            "title": "P",
            "questions": [
                {"key": "r", "kind": "rank", "prompt": "?", "options": ["X", "Y"]},
                {"key": "p", "kind": "points", "prompt": "?", "options": ["X", "Y"]},
                {"key": "s", "kind": "scale", "prompt": "?", "max": 10},
            ],
        }
    )
    assert poll.question("r").tally_method == "points"
    assert poll.question("p").tally_method == "points"
    assert poll.question("p").points_budget == DEFAULT_BUDGET
    assert poll.question("s").low == 1


BAD_POLL = """
slug: Bad Slug
title: ""
keyword: stop
closes: next week
colour: blue
reminders: {after: 1 day, every: 24h}
questions:
  - key: name
    kind: rank
    promt: "typo"
    options: [{code: A, label: One}, {code: a, label: Two}, {code: STOP, label: Three}]
    max: 9
    tally: {method: approval}
  - key: name
    kind: choice
    prompt: dup key
  - key: Bad Key
    kind: poll
    prompt: unknown kind
  - key: why
    kind: text
    prompt: x
    when: {later: [A], name: [Z]}
  - key: later
    kind: scale
    prompt: "long"
  - key: big
    kind: text
    prompt: "PROMPT"
"""


def test_bad_poll_reports_every_problem_with_its_field() -> None:
    with pytest.raises(PollDefinitionError) as caught:
        parse_poll_yaml(BAD_POLL.replace("PROMPT", "x" * 1601))
    fields = {p.field for p in caught.value.problems}
    assert fields == {
        "slug",
        "title",
        "keyword",
        "closes",
        "colour",
        "reminders.after",
        "reminders.max",
        "questions[0].promt",
        "questions[0].prompt",
        "questions[0].options[1].code",
        "questions[0].options[2].code",
        "questions[0].max",
        "questions[0].tally.method",
        "questions[1].options",
        "questions[1].key",
        "questions[2].key",
        "questions[2].kind",
        "questions[3].when.later",
        "questions[3].when.name",
        "questions[4].max",
        "questions[5].prompt",
    }
    message = str(caught.value)
    assert len(message.splitlines()) == len(caught.value.problems)
    assert "did you mean prompt?" in message
    assert "STOP is a reserved word" in message


@pytest.mark.parametrize("word", ["stop", "Yes", "SKIP", "help", "Join", "withdraw", "end"])
def test_reserved_words_are_never_codes_or_keywords(word: str) -> None:
    data = {
        "slug": "p",
        "title": "P",
        "keyword": word,
        "questions": [
            {"key": "q", "kind": "choice", "prompt": "?", "options": [{"code": word, "label": "x"}]}
        ],
    }
    with pytest.raises(PollDefinitionError) as caught:
        parse_poll(data)
    assert {p.field for p in caught.value.problems} == {"keyword", "questions[0].options[0].code"}


def test_yaml_syntax_error_names_line_and_column() -> None:
    with pytest.raises(PollDefinitionError) as caught:
        parse_poll_yaml("slug: a\ntitle: [unclosed\nquestions: []\n")
    (problem,) = caught.value.problems
    assert problem.field == "yaml"
    assert "line 3" in problem.message


def test_yes_and_no_stay_words_in_yaml() -> None:
    poll = parse_poll_yaml(
        "slug: p\ntitle: P\nquestions:\n"
        "  - {key: q, kind: choice, prompt: '?', options: [Yes, No, On]}\n"
    )
    assert [o.label for o in poll.questions[0].options] == ["Yes", "No", "On"]


def test_options_from_allows_missing_options_and_with_options_fills_them() -> None:
    poll = parse_poll(
        {
            "slug": "vote",
            "title": "Vote",
            "questions": [
                {
                    "key": "pick",
                    "kind": "rank",
                    "prompt": "Rank them",
                    "options_from": "ideas.idea",
                    "max": 3,
                },
                {"key": "why", "kind": "text", "prompt": "Why?", "when": {"pick": ["N1"]}},
            ],
        }
    )
    assert poll.question("pick").options == ()
    filled = with_options(poll, "pick", [Option("n1", "Youth club"), Option("N2", "Park")])
    assert filled.question("pick").codes == ("N1", "N2")
    assert filled.question("pick").max == 2  # lowered to the shortlist's size
    assert poll.question("pick").options == ()  # the original is unchanged
    with pytest.raises(PollDefinitionError):
        with_options(poll, "pick", [Option("STOP", "x")])


def test_closes_accepts_iso_time_with_offset_only() -> None:
    base = {"slug": "p", "title": "P", "questions": [{"key": "q", "kind": "text", "prompt": "?"}]}
    poll = parse_poll({**base, "closes": "2026-03-01T17:00:00+00:00"})
    assert poll.closes == datetime(2026, 3, 1, 17, tzinfo=UTC)
    with pytest.raises(PollDefinitionError) as caught:
        parse_poll({**base, "closes": "2026-03-01T17:00:00"})
    assert caught.value.problems[0].field == "closes"


def test_round_trip_through_dict_json_and_yaml() -> None:
    poll = parse_poll_yaml(FULL_POLL)
    as_json = json.loads(json.dumps(poll_to_dict(poll)))
    assert parse_poll(as_json) == poll
    assert parse_poll_yaml(poll_to_yaml(poll)) == poll


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("90m", 5400), ("24h", 86400), ("7d", 604800), ("2 H", 7200)]
)
def test_durations(text: str, seconds: int) -> None:
    value = parse_duration(text)
    assert value.total_seconds() == seconds
    assert parse_duration(format_duration(value)) == value


def _problems(text: str) -> list[str]:
    with pytest.raises(PollDefinitionError) as info:
        parse_poll_yaml(text)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    "text",
    [
        "title: " + "[" * 5000 + "]" * 5000,  # flow style
        "title: " + "{a: " * 5000 + "1" + "}" * 5000,
        "title:\n" + "".join("  " * i + "- \n" for i in range(1, 3000)),  # block style
    ],
)
def test_deep_nesting_is_a_problem_with_a_line_not_a_recursion_error(text: str) -> None:
    [problem] = _problems(text)
    assert problem.startswith("yaml: line ")
    assert "nested too deeply" in problem


def test_deep_nesting_through_aliases_is_a_problem_too() -> None:
    # Each anchor holds the one before: a short file, a structure thousands of levels deep.
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 3000)]
    [problem] = _problems("\n".join(lines) + "\n")
    assert "nested too deeply" in problem and "line " in problem


def test_many_aliases_of_one_anchor_are_checked_once() -> None:
    # The "billion laughs" shape: each level names the last one ten times (10**14 paths).
    lines = ['l0: &l0 ["x"]'] + [
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 15)
    ]
    problems = _problems("\n".join(lines) + "\n")
    assert any("is not a known field" in p for p in problems)


def test_a_duplicate_key_is_a_problem_naming_the_key_and_its_lines() -> None:
    text = FULL_POLL.replace("title: Name our group\n", "title: Name our group\ntitle: Other\n")
    text = text.replace(
        '    prompt: "Why? Reply SKIP to skip"\n',
        '    prompt: "Why? Reply SKIP to skip"\n    prompt: "Again"\n',
    )
    text = text.replace("keyword: name\n", "keyword: STOP\n")  # and an ordinary problem
    problems = _problems(text)
    assert "title: is given twice (lines 3 and 4); keep one" in problems
    assert "questions[1].prompt: is given twice (lines 21 and 22); keep one" in problems
    assert "keyword: STOP is a reserved word and cannot start a poll" in problems


def test_duplicate_keys_in_nested_mappings_are_named_by_their_place() -> None:
    text = FULL_POLL.replace(
        "reminders: {after: 24h, every: 12h, max: 2}", "reminders: {after: 24h, after: 1h, max: 2}"
    )
    problems = _problems(text)
    assert "reminders.after: is given twice (lines 9 and 9); keep one" in problems


def test_a_nul_character_in_a_value_is_a_problem() -> None:
    # "\0" is a valid YAML escape; PostgreSQL cannot store the character it makes.
    text = FULL_POLL.replace("title: Name our group", 'title: "Name our\\0group"')
    problems = _problems(text)
    assert problems == ["title: holds a NUL character (\\0), which cannot be stored; remove it"]


def test_a_raw_control_character_names_its_line() -> None:
    [problem] = _problems(FULL_POLL.replace("Name our group", "Name our\x00group"))
    assert problem.startswith("yaml: line 3, column 16: ")
    assert "#x0000" in problem
