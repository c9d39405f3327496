"""ASK and SEND: reserved words like JOIN and LEAVE, read only as the whole command."""

from __future__ import annotations

import pytest

from smsapp.conversation.definition import PollDefinitionError
from smsapp.conversation.keywords import RESERVED, SEND_RESULTS, agenda_command, command_word
from smsapp.conversation.validation import parse_poll


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ASK should we do a trip?", ("ASK", "should we do a trip?")),
        ("ask: more pizza at meetings", ("ASK", "more pizza at meetings")),
        ("  Ask -  can we   meet on Fridays? ", ("ASK", "can we meet on Fridays?")),
        ("ASK", ("ASK", "")),
        ("ask!", ("ASK", "")),
        ("SEND", ("SEND", "")),
        ("send.", ("SEND", "")),
        ("SEND RESULTS", (SEND_RESULTS, "")),
        ("send the results", (SEND_RESULTS, "")),
        ("Send result", (SEND_RESULTS, "")),
    ],
)
def test_agenda_commands_are_read(text, expected) -> None:
    assert agenda_command(text) == expected


@pytest.mark.parametrize(
    "text",
    ["asked my mum", "task", "send me the link", "sending love", "please send", "STOP", "B", ""],
)
def test_other_texts_are_not_agenda_commands(text) -> None:
    assert agenda_command(text) is None


def test_ask_and_send_are_reserved_but_stop_is_still_stop() -> None:
    assert {"ASK", "SEND"} <= RESERVED
    assert command_word("stop") == "STOP" and agenda_command("stop") is None
    assert command_word("ask") == "ASK" and command_word("send") == "SEND"


def _poll(**changes) -> dict:
    data = {
        "slug": "p",
        "title": "P",
        "questions": [{"key": "q", "kind": "choice", "prompt": "Pick", "options": ["x", "y"]}],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("word", ["ASK", "SEND", "ask"])
def test_import_rejects_ask_and_send_as_keywords_and_option_codes(word) -> None:
    with pytest.raises(PollDefinitionError) as keyword:
        parse_poll(_poll(keyword=word))
    assert any(p.field == "keyword" for p in keyword.value.problems)
    options = [{"code": word, "label": "One"}, {"code": "B", "label": "Two"}]
    question = {"key": "q", "kind": "choice", "prompt": "Pick", "options": options}
    with pytest.raises(PollDefinitionError) as code:
        parse_poll(_poll(questions=[question]))
    # SEND is longer than any option code may be; ASK fits, and is refused as reserved
    assert "reserved" in str(code.value) or len(word) > 3
