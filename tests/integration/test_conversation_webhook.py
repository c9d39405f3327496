"""A poll with one question of each kind, run by keyword through the signed webhook."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from smsapp.models import Answer, Conversation, OutboundMessage
from smsapp.services.polls.definitions import import_poll, open_poll
from tests.support.factories import make_participant

DATA = Path(__file__).parent.parent / "data"
SAM = "+447911123456"


def _open_poll(runtime, name: str = "every_kind.yaml") -> int:
    with runtime.db.transaction() as s:
        result = import_poll(s, (DATA / name).read_text())
        open_poll(s, result.poll)
        return result.poll.id


def _answers(runtime, poll_id: int) -> dict[str, Answer]:
    with runtime.db.transaction() as s:
        rows = s.scalars(
            sa.select(Answer).where(Answer.poll_id == poll_id, Answer.superseded.is_(False))
        ).all()
        return {a.question_key: a for a in rows}


def test_every_kind_by_keyword_start_to_outro(runtime, phone) -> None:
    make_participant(runtime, SAM, nickname="Sam")
    poll_id = _open_poll(runtime)
    sam = phone(SAM)
    [first] = sam.replies("all")
    assert first.startswith("Hi Sam! A quick poll") and "A) Red" in first and "C) Blue" in first

    [reply] = sam.replies("a")  # choice → red → the branch asks why
    assert "Why red?" in reply
    [reply] = sam.replies("skip")  # optional
    assert "Which snacks?" in reply
    [reply] = sam.replies("purple!!")  # not an option: re-prompt with the options again
    assert "A) Crisps" in reply
    [reply] = sam.replies("a and c")
    assert "How was today" in reply
    [reply] = sam.replies("4/5")
    assert "Come again" in reply
    [reply] = sam.replies("yeah")
    assert "brothers and sisters" in reply
    [reply] = sam.replies("two")
    assert "Suggest a name" in reply
    [reply] = sam.replies("Health Voices")
    assert "1 of 2" in reply
    [reply] = sam.replies("done")
    assert "Rank up to 3" in reply
    [reply] = sam.replies("c, a, b")
    assert "Got it: 1 Team Spark, 2 Young Researchers, 3 Health Voices" in reply
    assert "Which topics" in reply
    [reply] = sam.replies("AC")
    assert "Share 5 points" in reply
    [reply] = sam.replies("A3 C2")
    assert reply.endswith("Thanks Sam, that's everything!")

    answers = _answers(runtime, poll_id)
    assert answers["colour"].value == "A"
    assert answers["why_red"].skipped and answers["why_red"].skip_reason == "optional"
    assert answers["snacks"].value == ["A", "C"] and answers["snacks"].attempts == 2
    assert answers["mood"].value == 4
    assert answers["again"].value is True
    assert answers["siblings"].value == 2
    assert answers["ideas"].value == ["Health Voices"]
    assert answers["name"].value == ["C", "A", "B"]
    assert answers["topics"].value == ["A", "C"]
    assert answers["budget"].value == {"A": 3, "C": 2}
    with runtime.db.transaction() as s:
        conv = s.scalar(sa.select(Conversation))
        assert conv is not None and conv.status == "finished"
        # A keyword-started poll needs no outgoing REST call: every reply went back inline.
        backends = set(s.scalars(sa.select(OutboundMessage.backend)))
        assert backends == {"twiml"}

    [after] = sam.replies("hello again")
    assert "nothing to answer" in after


def test_branch_not_taken_and_three_failed_tries_skip(runtime, phone) -> None:
    make_participant(runtime, SAM)
    poll_id = _open_poll(runtime)
    sam = phone(SAM)
    sam.replies("ALL")
    [reply] = sam.replies("blue")  # label, not code → no "why red?" question
    assert "Which snacks?" in reply
    sam.replies("🍕")
    sam.replies("🍕🍕")
    [reply] = sam.replies("pizza")
    assert "How was today" in reply  # skipped after three tries, marked so
    answers = _answers(runtime, poll_id)
    assert answers["colour"].value == "C"
    assert "why_red" not in answers
    assert answers["snacks"].skipped and answers["snacks"].skip_reason == "too-many-tries"


def test_leave_and_keyword_while_busy(runtime, phone) -> None:
    make_participant(runtime, SAM)
    _open_poll(runtime)
    sam = phone(SAM)
    sam.replies("ALL")
    [busy] = sam.replies("ALL")  # the same keyword again is read as an answer, not a restart
    assert "A) Red" in busy
    [left] = sam.replies("leave")
    assert "left" in left and "Every kind" in left
    [none] = sam.replies("LEAVE")
    assert "not in a poll" in none
    [again] = sam.replies("ALL")
    assert "already done" in again


def test_no_consent_no_poll(runtime, phone) -> None:
    make_participant(runtime, SAM, consent=False)
    _open_poll(runtime)
    [reply] = phone(SAM).replies("ALL")
    assert "consent" in reply


def test_draft_poll_keyword_does_nothing(runtime, phone) -> None:
    make_participant(runtime, SAM)
    with runtime.db.transaction() as s:
        import_poll(s, (DATA / "every_kind.yaml").read_text())
    [reply] = phone(SAM).replies("ALL")
    assert "nothing to answer" in reply


def test_bad_poll_file_lists_every_problem_and_imports_nothing(runtime, runner) -> None:
    result = runner.invoke(["polls", "import", str(DATA / "bad_poll.yaml")])
    assert result.exit_code != 0
    out = result.output
    for field in ("slug", "title", "keyword", "questions[0].kind", "questions[1].key", "options"):
        assert field in out, (field, out)
    assert "nothing was imported" in out
    from smsapp.models import Poll

    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(Poll.id))) == 0


def test_import_then_results_in_the_terminal(runtime, runner, phone) -> None:
    make_participant(runtime, SAM)
    ok = runner.invoke(["polls", "import", str(DATA / "every_kind.yaml")])
    assert ok.exit_code == 0, ok.output
    assert "Created draft poll every-kind with 10 questions" in ok.output
    assert runner.invoke(["polls", "open", "every-kind"]).exit_code == 0
    sam = phone(SAM)
    sam.replies("ALL")
    sam.replies("b")
    out = runner.invoke(["polls", "results", "every-kind"]).output
    assert "[colour] choice" in out and "answered 1 of 1 (100%)" in out
    assert "Green" in out


def test_launched_poll_cannot_change(runtime, runner) -> None:
    from tests.support.factories import make_group

    make_group(runtime)
    runner.invoke(["polls", "import", str(DATA / "every_kind.yaml")])
    runner.invoke(["polls", "open", "every-kind"])
    again = runner.invoke(["polls", "import", str(DATA / "every_kind.yaml")])
    assert again.exit_code != 0 and "cannot change once launched" in again.output
